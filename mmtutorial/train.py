"""One Trainer for every chapter: fit, evaluate, predict, checkpoint and resume exactly.

Chapter 05 builds the training loop by hand (forward, loss, backward, step) and then
swaps it for :class:`Trainer`, which adds what every later chapter needs around
those four lines: moving batches to the device, mixed precision on CUDA, gradient
clipping, a learning-rate schedule, metrics, a history to plot, a progress display,
and checkpoints that resume bit for bit.

The batch convention:

* a tuple or list ``(*inputs, target)``: ``out = model(*inputs)``;
* a dict: ``out = model(batch)`` and ``target = batch[target_key]``;
* anything else: pass ``step_fn(model, batch) -> (loss, out, target)``.

``loss_fn(out, target)`` must return the batch *mean*; epoch losses and metrics are
means over examples (each batch weighted by its size).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .device import as_device, amp_dtype, autocast, get_device, map_tensors, to_device
from .metrics import RunningMean

PROGRESS_MODES = ("bar", "print", "plot", "none", None)
CHECKPOINT_FORMAT = 1
_STEP_KEYS = ("step_loss", "grad_norm")  # per-step entries buffered as tensors


# --------------------------------------------------------------------------- RNG state
# Exact resume needs every random number generator that training touches: Python's
# `random`, NumPy's global generator, torch on the CPU and on each GPU, and any
# torch.Generator the train loader shuffles with. States are kept as plain lists and
# tensors so that `torch.load(..., weights_only=True)` can read them back.


def _loader_generators(loader: Any) -> list[torch.Generator]:
    """The distinct torch.Generators a DataLoader draws its order and seeds from."""
    candidates = (
        getattr(loader, "generator", None),
        getattr(getattr(loader, "sampler", None), "generator", None),
        getattr(getattr(getattr(loader, "batch_sampler", None), "sampler", None), "generator", None),
    )
    gens: list[torch.Generator] = []
    for g in candidates:
        if isinstance(g, torch.Generator) and all(g is not h for h in gens):
            gens.append(g)
    return gens


def _get_rng_state(generators: list[torch.Generator]) -> dict:
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    cuda = []
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state_all()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "loader": [g.get_state() for g in generators],
    }


def _set_rng_state(state: dict, generators: list[torch.Generator] | None = None) -> None:
    """Restore a state from :func:`_get_rng_state`; loader generators only if given."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            warnings.warn(
                "the checkpoint's CUDA RNG states are for a different number of GPUs; not restored",
                stacklevel=3,
            )
    if generators is not None:
        if len(state["loader"]) == len(generators):
            for g, s in zip(generators, state["loader"]):
                g.set_state(s)
        else:
            warnings.warn(
                f"the checkpoint holds {len(state['loader'])} train-loader generator state(s) but the "
                f"train_loader has {len(generators)}; its shuffling order may differ from the original run",
                stacklevel=3,
            )


@contextlib.contextmanager
def _preserved_rng() -> Iterator[None]:
    """Leave every global RNG as it was found, so evaluation never changes training."""
    state = _get_rng_state([])
    try:
        yield
    finally:
        _set_rng_state(state)


# ------------------------------------------------------------------------- small helpers


def _atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash at any moment leaves either the old file or the new one, never half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _first_batch_dim(obj: Any) -> int | None:
    if isinstance(obj, torch.Tensor):
        return obj.shape[0] if obj.ndim > 0 else None
    items = obj.values() if isinstance(obj, Mapping) else obj if isinstance(obj, (list, tuple)) else ()
    for item in items:
        n = _first_batch_dim(item)
        if n is not None:
            return n
    return None


def _batch_size(target: Any, batch: Any) -> int:
    """Examples in a batch: the leading size of the target (or of the first tensor)."""
    if isinstance(target, torch.Tensor) and target.ndim > 0:
        return target.shape[0]
    n = _first_batch_dim(target)
    if n is None and isinstance(target, (list, tuple)) and target:
        n = len(target)  # e.g. a list of captions
    if n is None:
        n = _first_batch_dim(batch)
    return n if n else 1


def _len_or_none(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _concat(outs: list) -> Any:
    """Concatenate per-batch outputs: tensors, or tuples / dicts of tensors."""
    first = outs[0]
    if isinstance(first, torch.Tensor):
        return torch.cat([o if o.ndim else o.reshape(1) for o in outs])
    if isinstance(first, Mapping):
        return {k: _concat([o[k] for o in outs]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_concat(list(parts)) for parts in zip(*outs))
    return outs


def _is_positive_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 1


# ------------------------------------------------------------------------------ Trainer


class Trainer:
    """Train, evaluate and checkpoint a model; the loop every chapter shares.

    Chapter 05 builds this loop by hand and then hands it over to ``Trainer``::

        trainer = Trainer(model, torch.optim.AdamW(model.parameters(), lr=1e-3),
                          nn.CrossEntropyLoss(), metrics={"acc": accuracy})
        history = trainer.fit(train_loader, val_loader, epochs=3)

    Arguments:
        model: the ``nn.Module`` to train; moved to ``device``. ``trainer.model`` is
            always the module being trained.
        optimizer: a ``torch.optim.Optimizer`` over the model's parameters.
        loss_fn: ``loss_fn(out, target)`` returning the batch mean (0-d tensor).
            Optional when ``step_fn`` is given.
        scheduler: a learning-rate scheduler, stepped once after every optimizer
            step (so schedules are written in steps, not epochs).
        device: where to train; default :func:`~mmtutorial.device.get_device`.
        amp: mixed precision on CUDA (bfloat16 where supported, else float16 with a
            ``GradScaler``). Ignored on CPU and MPS, which train in float32.
        grad_clip: clip the global gradient norm to this value (None: no clipping);
            the norm before clipping is recorded in ``history["grad_norm"]``.
        metrics: ``{"acc": fn}`` with ``fn(out, target)`` returning a batch mean
            (a float or a 0-d tensor); reported for training and validation.
        target_key: the key of the target in dict batches.
        step_fn: ``step_fn(model, batch) -> (loss, out, target)`` replaces the batch
            convention for models that need something else (the batch arrives
            already on the device).
        progress: ``"bar"`` (one progress bar per ``fit``), ``"print"`` (one line
            per epoch), ``"plot"`` (a live loss curve in Jupyter, redrawn once per
            epoch) or ``None`` / ``"none"`` (silent).
        channels_last: store the model and 4-D input tensors channels-last, which
            speeds up convolutions on recent GPUs.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
        *,
        scheduler: Any = None,
        device: torch.device | str | None = None,
        amp: bool = True,
        grad_clip: float | None = None,
        metrics: Mapping[str, Callable[[Any, Any], Any]] | None = None,
        target_key: str | int = "label",
        step_fn: Callable[[nn.Module, Any], tuple] | None = None,
        progress: str | None = "bar",
        channels_last: bool = False,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if loss_fn is not None and not callable(loss_fn):
            raise ValueError(f"loss_fn must be callable or None, got {type(loss_fn).__name__}")
        if step_fn is not None and not callable(step_fn):
            raise ValueError(f"step_fn must be callable or None, got {type(step_fn).__name__}")
        if loss_fn is None and step_fn is None:
            raise ValueError("loss_fn must be given unless step_fn computes the loss, got neither")
        if scheduler is not None and not all(
            hasattr(scheduler, a) for a in ("step", "state_dict", "load_state_dict")
        ):
            raise ValueError(
                f"scheduler must be a torch.optim.lr_scheduler object or None, got {scheduler!r}"
            )
        if not isinstance(amp, bool):
            raise ValueError(f"amp must be a bool, got {amp!r}")
        if grad_clip is not None and (
            isinstance(grad_clip, bool)
            or not isinstance(grad_clip, (int, float))
            or not math.isfinite(grad_clip)
            or grad_clip <= 0
        ):
            raise ValueError(f"grad_clip must be a positive number or None, got {grad_clip!r}")
        metrics = {} if metrics is None else metrics
        if not isinstance(metrics, Mapping):
            raise ValueError(f"metrics must be a dict of name -> fn(out, target) or None, got {metrics!r}")
        for name, fn in metrics.items():
            if not isinstance(name, str) or not name or name == "loss" or not callable(fn):
                raise ValueError(
                    f"metrics must map non-empty names other than 'loss' to callables, got {name!r}: {fn!r}"
                )
        if isinstance(target_key, bool) or not isinstance(target_key, (str, int)):
            raise ValueError(f"target_key must be a str or int, got {target_key!r}")
        if progress not in PROGRESS_MODES:
            raise ValueError(f"progress must be one of {PROGRESS_MODES}, got {progress!r}")
        if not isinstance(channels_last, bool):
            raise ValueError(f"channels_last must be a bool, got {channels_last!r}")

        self.device = get_device() if device is None else as_device(device)
        fmt = torch.channels_last if channels_last else torch.preserve_format
        self.model = model.to(self.device, memory_format=fmt)
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.scheduler = scheduler
        self.amp_dtype = amp_dtype(self.device) if amp else None  # None: full precision
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.grad_clip = grad_clip
        self.metrics = dict(metrics)
        self.target_key = target_key
        self.step_fn = step_fn
        self.progress = None if progress == "none" else progress
        self.channels_last = channels_last

        self.step = 0  # optimizer steps so far
        self.epoch = 0  # completed epochs
        self.batch_in_epoch = 0  # batches of the current epoch already trained on
        self.history: dict[str, list[float]] = {"epoch": [], "train_loss": []}
        self.history.update({f"train_{m}": [] for m in self.metrics})
        self.history.update({"step_loss": [], "lr": []})
        if grad_clip is not None:
            self.history["grad_norm"] = []

        self._meters = self._new_meters()  # running means of the current epoch
        self._step_buffers: dict[str, list[torch.Tensor]] = {k: [] for k in _STEP_KEYS}
        self._generators: list[torch.Generator] = []  # the train loader's generators
        self._epoch_start_rng: dict | None = None  # RNG state just before iter(train_loader)
        self._resume_rng: dict | None = None  # RNG state to continue from after a stop
        self._partial_keys: list[str] = []  # history entries logged for an unfinished epoch
        self._fit_epochs = 0
        self._last_postfix = 0.0

    # ------------------------------------------------------------------ one batch

    def _new_meters(self) -> dict[str, RunningMean]:
        return {name: RunningMean() for name in ("loss", *self.metrics)}

    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, enabled=self.amp_dtype is not None, dtype=self.amp_dtype)

    def _move(self, batch: Any) -> Any:
        batch = to_device(batch, self.device)
        if self.channels_last:
            batch = map_tensors(
                batch,
                lambda t: t.contiguous(memory_format=torch.channels_last)
                if t.ndim == 4 and t.is_floating_point()
                else t,
            )
        return batch

    def _inputs_and_target(self, batch: Any) -> tuple[tuple, Any]:
        if isinstance(batch, (list, tuple)) and len(batch) >= 2:
            return tuple(batch[:-1]), batch[-1]
        raise ValueError(
            "a batch must be a tuple/list (*inputs, target) or a dict holding "
            f"target_key={self.target_key!r}; got {type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, (list, tuple)) else "")
            + ". Pass step_fn=... for other layouts"
        )

    def _compute(self, batch: Any) -> tuple[torch.Tensor, Any, Any]:
        """Forward one (device-resident) batch: returns (loss, out, target)."""
        if self.step_fn is not None:
            result = self.step_fn(self.model, batch)
            if not (isinstance(result, tuple) and len(result) == 3):
                raise ValueError(
                    f"step_fn must return a tuple (loss, out, target), got {type(result).__name__}"
                )
            loss, out, target = result
        elif isinstance(batch, Mapping):
            if self.target_key not in batch:
                raise ValueError(f"dict batch has no target_key={self.target_key!r}; its keys: {list(batch)}")
            out, target = self.model(batch), batch[self.target_key]
            loss = self.loss_fn(out, target)
        else:
            inputs, target = self._inputs_and_target(batch)
            out = self.model(*inputs)
            loss = self.loss_fn(out, target)
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ValueError(f"the loss must be a 0-d tensor (the batch mean), got {got}")
        return loss, out, target

    def _train_step(self, batch: Any) -> torch.Tensor:
        batch = self._move(batch)
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss, out, target = self._compute(batch)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        if self.grad_clip is not None:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)  # clip the true gradients
            norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self._step_buffers["grad_norm"].append(norm.detach())
        self.history["lr"].append(float(self.optimizer.param_groups[0]["lr"]))  # lr of this step
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.scheduler is None:
            pass
        elif self.scaler is None:
            self.scheduler.step()  # once per optimizer step
        else:
            # The scaler skips a step whose float16 gradients overflowed (often the first);
            # the schedule still advances once per step, so torch's order warning is moot.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                self.scheduler.step()
        self.step += 1

        n = _batch_size(target, batch)
        self._meters["loss"].update(loss, n)
        self._step_buffers["step_loss"].append(loss.detach())
        if self.metrics:
            with torch.no_grad():
                for name, fn in self.metrics.items():
                    self._meters[name].update(fn(out, target), n)
        return loss

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        train_loader: Iterable,
        val_loader: Iterable | None = None,
        epochs: int = 1,
        *,
        max_steps: int | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
    ) -> dict[str, list[float]]:
        """Train until ``epochs`` epochs (or ``max_steps`` optimizer steps) are done.

        Both limits count from the very start of training, across calls and
        checkpoints: after ``fit(..., epochs=2)``, ``fit(..., epochs=5)`` trains three
        more epochs, and a run resumed from a checkpoint finishes the same schedule.
        A run stopped by ``max_steps`` in the middle of an epoch logs that partial
        epoch; the next ``fit`` continues the epoch exactly where it stopped (same
        batches, same random numbers) and replaces the partial entry.

        ``checkpoint_every`` (steps) writes ``checkpoint_path`` during training; a
        checkpoint is also written at the end when ``checkpoint_path`` is given.
        Returns :attr:`history`: per-epoch ``epoch``, ``train_loss``,
        ``train_<metric>``, ``val_loss``, ``val_<metric>``, and per-step
        ``step_loss``, ``lr`` (and ``grad_norm`` when clipping).
        Chapter 05 replaces its hand-written loop with this call.
        """
        if not isinstance(train_loader, Iterable):
            got = type(train_loader).__name__
            raise ValueError(f"train_loader must be an iterable of batches, got {got}")
        if val_loader is not None and not isinstance(val_loader, Iterable):
            got = type(val_loader).__name__
            raise ValueError(f"val_loader must be an iterable of batches or None, got {got}")
        if not _is_positive_int(epochs):
            raise ValueError(f"epochs must be a positive int, got {epochs!r}")
        if max_steps is not None and not _is_positive_int(max_steps):
            raise ValueError(f"max_steps must be a positive int or None, got {max_steps!r}")
        if checkpoint_path is not None and not isinstance(checkpoint_path, (str, os.PathLike)):
            raise ValueError(f"checkpoint_path must be a path or None, got {checkpoint_path!r}")
        if checkpoint_every is not None and not _is_positive_int(checkpoint_every):
            raise ValueError(
                f"checkpoint_every must be a positive int (steps) or None, got {checkpoint_every!r}"
            )
        if checkpoint_every is not None and checkpoint_path is None:
            raise ValueError("checkpoint_every needs checkpoint_path, got checkpoint_path=None")
        if self.epoch >= epochs or (max_steps is not None and self.step >= max_steps):
            warnings.warn(
                f"nothing to train: the trainer is already at epoch {self.epoch}, step {self.step} "
                f"(epochs={epochs}, max_steps={max_steps}); these limits count from the start of "
                "training, so pass larger ones to train more",
                stacklevel=2,
            )
            return self.history

        self._generators = _loader_generators(train_loader)
        self._fit_epochs = epochs
        for key in self._partial_keys:  # the unfinished epoch is about to be finished
            self.history[key].pop()
        self._partial_keys = []
        bar = self._open_bar(train_loader, epochs, max_steps)
        self.model.train()
        try:
            while self.epoch < epochs:
                batches = self._epoch_batches(train_loader)
                stopped = False
                for batch in batches:
                    loss = self._train_step(batch)
                    self.batch_in_epoch += 1
                    if bar is not None:
                        self._update_bar(bar, loss)
                    if checkpoint_every is not None and self.step % checkpoint_every == 0:
                        self.save_checkpoint(checkpoint_path)
                    if max_steps is not None and self.step >= max_steps:
                        stopped = True
                        break
                complete = not stopped or self.batch_in_epoch == _len_or_none(train_loader)
                self._end_epoch(val_loader, complete, _len_or_none(train_loader), bar)
                if stopped:
                    break
        finally:
            if self.batch_in_epoch > 0 and self._resume_rng is None:
                # Stopped mid-epoch (max_steps or an interrupt): remember where the
                # random streams were, so the next fit continues from here.
                self._resume_rng = _get_rng_state(self._generators)
            self._flush_step_buffers()
            if bar is not None:
                bar.close()
        if checkpoint_path is not None:
            self.save_checkpoint(checkpoint_path)
        return self.history

    def _epoch_batches(self, loader: Iterable) -> Iterator:
        """An iterator over this epoch's batches, continuing a stopped epoch exactly.

        RandomSampler and DataLoader draw the epoch's order and worker seeds from the
        global torch RNG (or the loader's generator) when iteration starts, so the
        RNG state just before ``iter(loader)`` determines the epoch. To continue
        an epoch, restore that state, replay the batches already used (loading
        them again), then restore the state at the moment training stopped.
        """
        if self.batch_in_epoch == 0:
            if self._resume_rng is not None:  # fresh epoch after load_checkpoint
                _set_rng_state(self._resume_rng, self._generators)
                self._resume_rng = None
            self._epoch_start_rng = _get_rng_state(self._generators)
            return iter(loader)
        if self._epoch_start_rng is None or self._resume_rng is None:
            raise RuntimeError("cannot continue the unfinished epoch: its random state was not recorded")
        _set_rng_state(self._epoch_start_rng, self._generators)
        batches = iter(loader)
        for i in range(self.batch_in_epoch):
            try:
                next(batches)
            except StopIteration:
                raise ValueError(
                    f"train_loader yields {i} batches per epoch, but {self.batch_in_epoch} of this "
                    "epoch were already trained on; resume with the same loader"
                ) from None
        _set_rng_state(self._resume_rng, self._generators)
        self._resume_rng = None
        return batches

    def _end_epoch(
        self, val_loader: Iterable | None, complete: bool, n_batches: int | None, bar: Any
    ) -> None:
        if self._meters["loss"].count == 0:
            raise ValueError("train_loader must yield at least one batch per epoch, got none")
        self._flush_step_buffers()
        if complete:
            progress = float(self.epoch + 1)
        elif n_batches:
            progress = self.epoch + self.batch_in_epoch / n_batches
        else:
            progress = self.epoch + 0.5  # unknown epoch length
        entries = {"epoch": progress}
        entries.update({f"train_{name}": m.value for name, m in self._meters.items()})
        if val_loader is not None:
            entries.update({f"val_{name}": v for name, v in self.evaluate(val_loader).items()})
        for key, value in entries.items():
            self.history.setdefault(key, []).append(value)
        if complete:
            self.epoch += 1
            self.batch_in_epoch = 0
            self._meters = self._new_meters()
            self._epoch_start_rng = None
        else:
            self._partial_keys = list(entries)
        self._report(entries, bar)

    def _flush_step_buffers(self) -> None:
        for key, buf in self._step_buffers.items():
            if buf:
                self.history.setdefault(key, []).extend(torch.stack(buf).float().tolist())
                buf.clear()

    # ------------------------------------------------------------------ progress

    def _open_bar(self, loader: Iterable, epochs: int, max_steps: int | None) -> Any:
        if self.progress != "bar":
            return None
        n = _len_or_none(loader)
        total = None if n is None else (epochs - self.epoch) * n - self.batch_in_epoch
        if max_steps is not None:
            total = max_steps - self.step if total is None else min(total, max_steps - self.step)
        self._last_postfix = time.monotonic()
        return tqdm(total=total, desc="fit", unit="step", dynamic_ncols=True)

    def _update_bar(self, bar: Any, loss: torch.Tensor) -> None:
        bar.update(1)
        now = time.monotonic()
        if now - self._last_postfix > 0.5:  # .item() waits for the GPU: do it rarely
            self._last_postfix = now
            bar.set_postfix(epoch=self.epoch + 1, loss=f"{loss.item():.4f}", refresh=False)

    def _report(self, entries: dict[str, float], bar: Any) -> None:
        summary = {k: f"{v:.4g}" for k, v in entries.items() if k != "epoch"}
        if self.progress == "bar" and bar is not None:
            bar.set_postfix(epoch=f"{entries['epoch']:g}", **summary)
        elif self.progress == "print":
            cells = "  ".join(f"{k} {v}" for k, v in summary.items())
            print(f"epoch {entries['epoch']:g}/{self._fit_epochs}  {cells}", flush=True)
        elif self.progress == "plot":
            import matplotlib.pyplot as plt
            from IPython.display import clear_output, display

            from .plot import plot_history

            fig = plot_history(self.history)
            clear_output(wait=True)
            display(fig)
            plt.close(fig)

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, loader: Iterable) -> dict[str, float]:
        """Mean loss and metrics over ``loader``, each batch weighted by its size.

        Runs under ``torch.no_grad()`` in eval mode (dropout off) and restores the
        model's mode and every random generator afterwards, so validating never
        changes what training does.
        """
        if not isinstance(loader, Iterable):
            raise ValueError(f"loader must be an iterable of batches, got {type(loader).__name__}")
        meters = self._new_meters()
        with self._inference():
            for batch in loader:
                batch = self._move(batch)
                with self._autocast():
                    loss, out, target = self._compute(batch)
                n = _batch_size(target, batch)
                meters["loss"].update(loss, n)
                for name, fn in self.metrics.items():
                    meters[name].update(fn(out, target), n)
        if meters["loss"].count == 0:
            raise ValueError("loader must yield at least one batch, got none")
        return {name: m.value for name, m in meters.items()}

    def predict(self, loader: Iterable) -> Any:
        """The model's outputs over ``loader``, concatenated along the batch axis, on the CPU.

        Batches follow the ``fit`` layout and the target is dropped; a bare tensor or
        a 1-tuple is taken as the only input. Floating outputs come back as float32.
        """
        if not isinstance(loader, Iterable):
            raise ValueError(f"loader must be an iterable of batches, got {type(loader).__name__}")
        outs = []
        with self._inference():
            for batch in loader:
                batch = self._move(batch)
                with self._autocast():
                    if self.step_fn is not None:
                        out = self._compute(batch)[1]
                    elif isinstance(batch, (Mapping, torch.Tensor)):
                        out = self.model(batch)
                    elif isinstance(batch, (list, tuple)) and len(batch) == 1:
                        out = self.model(*batch)
                    else:
                        out = self.model(*self._inputs_and_target(batch)[0])
                outs.append(map_tensors(out, lambda t: (t.float() if t.is_floating_point() else t).cpu()))
        if not outs:
            raise ValueError("loader must yield at least one batch, got none")
        return _concat(outs)

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode, no autograd and untouched random generators; restores the mode after."""
        was_training = self.model.training
        self.model.eval()
        try:
            with _preserved_rng(), torch.no_grad():
                yield
        finally:
            self.model.train(was_training)

    def state_dict(self) -> dict:
        """Everything needed to continue training exactly: see :meth:`save_checkpoint`."""
        self._flush_step_buffers()
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "history": {k: list(v) for k, v in self.history.items()},
            "partial_keys": list(self._partial_keys),
            "meters": {k: m.state_dict() for k, m in self._meters.items()},
            # The RNG state to continue from: where a stopped fit left off, else now.
            "rng": self._resume_rng if self._resume_rng is not None else _get_rng_state(self._generators),
            "epoch_start_rng": self._epoch_start_rng if self.batch_in_epoch > 0 else None,
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restore a :meth:`state_dict`, including the global random generators."""
        required = {"format", "model", "optimizer", "scheduler", "step", "epoch", "batch_in_epoch", "rng"}
        if not isinstance(state, Mapping) or not required <= set(state):
            missing = sorted(required - set(state)) if isinstance(state, Mapping) else sorted(required)
            raise ValueError(f"state must be a Trainer checkpoint; missing keys {missing}")
        if state["format"] != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint format must be {CHECKPOINT_FORMAT}, got {state['format']!r}")
        if (state["scheduler"] is None) != (self.scheduler is None):
            raise ValueError(
                "scheduler must match the checkpoint: it was saved "
                + ("without" if state["scheduler"] is None else "with")
                + " a scheduler, but this Trainer has "
                + ("one" if self.scheduler is not None else "none")
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.history = {k: list(v) for k, v in state.get("history", {}).items()}
        self._partial_keys = list(state.get("partial_keys", []))
        self._meters = self._new_meters()
        for name, meter_state in state.get("meters", {}).items():
            if name in self._meters:
                self._meters[name].load_state_dict(dict(meter_state))
        self._step_buffers = {k: [] for k in _STEP_KEYS}
        self._epoch_start_rng = state.get("epoch_start_rng")
        if self.batch_in_epoch > 0 and self._epoch_start_rng is None:
            raise ValueError("state is mid-epoch (batch_in_epoch > 0) but has no epoch_start_rng")
        self._resume_rng = state["rng"]
        _set_rng_state(self._resume_rng)  # loader generators are restored by the next fit

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write an atomic checkpoint to ``path`` (a temp file in the same folder, then a rename).

        It holds the model, optimizer, scheduler and scaler states, the step, epoch
        and position in the epoch, the history, and every random generator, so that
        :meth:`load_checkpoint` followed by the same ``fit`` call reproduces an
        uninterrupted run bit for bit on the same machine. Chapter 05 interrupts a run
        and resumes it.

        Limits of exact resume: the unfinished epoch is replayed by loading its first
        batches again; DataLoader workers are re-seeded from the same base seed, so
        random augmentation inside workers matches too, except with
        ``persistent_workers=True`` after the first epoch. An IterableDataset
        resumes exactly only if its stream depends on nothing but these seeds.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        _atomic_save(self.state_dict(), Path(path))

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Load a checkpoint written by :meth:`save_checkpoint` (``weights_only=True``).

        Tensors are read onto the CPU and copied into the model and optimizer on
        their device. The next :meth:`fit` continues where the saved run stopped.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        if not Path(path).is_file():
            raise FileNotFoundError(f"no checkpoint file at {str(path)!r}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.load_state_dict(state)

    def __repr__(self) -> str:
        return (
            f"Trainer(model={type(self.model).__name__}, device={self.device}, "
            f"amp={self.amp_dtype}, step={self.step}, epoch={self.epoch})"
        )
