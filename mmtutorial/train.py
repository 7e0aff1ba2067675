"""The training loop of every chapter, as the chapter *Optimization and the training loop* writes it.

That chapter builds the loop by hand, one job per line::

    for epoch in range(epochs):
        model.train()
        for *inputs, target in loader:
            inputs, target = to_device((inputs, target), device)   # move
            optimizer.zero_grad(set_to_none=True)
            with autocast(device):                                  # mixed precision on CUDA
                out = model(*inputs)                                # forward
                loss = loss_fn(out, target)                         # loss (the batch mean)
            loss.backward()                                         # backward
            clip_grad_norm_(model.parameters(), grad_clip)          # clip
            optimizer.step()                                        # step
            scheduler.step()                                        # schedule
            losses.append(loss.detach())                            # log, without waiting for the GPU

:meth:`Trainer.train_step` is the body of the inner loop, in that order, and :meth:`Trainer.fit`
the two loops around it, with validation after each epoch, a history to plot, and
checkpoints that resume bit for bit (the random-state machinery lives beside it, in
:mod:`mmtutorial.checkpoint`).

The batch convention:

* a tuple or list ``(*inputs, target)``: ``out = model(*inputs)``;
* a dict: ``out = model(batch)`` and the target is ``batch["label"]``;
* anything else: pass ``step_fn(model, batch) -> (loss, out, target)``.

``loss_fn(out, target)`` returns the batch *mean*; epoch losses and metrics are means over
examples, each batch weighted by its size. Nothing in a step waits for the GPU: losses,
gradient norms and metrics stay tensors on the device and are read once per epoch.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from . import checkpoint
from ._checks import check_bool, check_int, check_number, check_path, check_type
from .device import amp_dtype, as_device, autocast, get_device, map_tensors, to_device
from .metrics import RunningMean, all_reduce_means

__all__ = ["Trainer", "prefer_fused"]

CHECKPOINT_FORMAT = 2
TARGET_KEY = "label"  # where a dict batch holds its target


def prefer_fused(optimizer: torch.optim.Optimizer, device: torch.device) -> bool:
    """On CUDA, switch Adam, AdamW and SGD to their fused kernels (one launch for all parameters).

    Only where the caller left the choice open (``fused`` and ``foreach`` unset) and the
    optimizer has not stepped yet; returns whether it switched.
    """
    takes_fused = "fused" in inspect.signature(type(optimizer).__init__).parameters
    if device.type != "cuda" or not takes_fused or optimizer.state:
        return False
    groups = optimizer.param_groups
    if any(g.get("fused") is not None or g.get("foreach") is not None or g.get("differentiable") for g in groups):
        return False
    for g in groups:
        g["fused"] = True
    return True


def _leading_size(obj: Any) -> int | None:
    """The leading size of the first tensor (with at least one axis) in a nested batch."""
    if isinstance(obj, torch.Tensor):
        return obj.shape[0] if obj.ndim else None
    items = obj.values() if isinstance(obj, Mapping) else obj if isinstance(obj, (list, tuple)) else ()
    for item in items:
        n = _leading_size(item)
        if n is not None:
            return n
    return None


def _batch_size(target: Any, batch: Any) -> int:
    """Examples in a batch: the leading size of the target, else of the batch's first tensor."""
    n = _leading_size(target)
    if n is None and isinstance(target, (list, tuple)) and target:
        n = len(target)  # e.g. a list of captions
    return n or _leading_size(batch) or 1


def _num_batches(loader: Iterable) -> int | None:
    """Batches per epoch, or None for a loader without a length."""
    return len(loader) if hasattr(loader, "__len__") else None


def _concat(outs: list) -> Any:
    """Concatenate per-batch outputs: tensors, or tuples / dicts of tensors."""
    first = outs[0]
    if isinstance(first, torch.Tensor):
        return torch.cat([o.reshape(1) if o.ndim == 0 else o for o in outs])
    if isinstance(first, Mapping):
        return {k: _concat([o[k] for o in outs]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_concat(list(parts)) for parts in zip(*outs))
    return outs


class Trainer:
    """Train, evaluate and checkpoint a model: the loop every chapter shares.

    ::

        trainer = Trainer(model, torch.optim.AdamW(model.parameters(), lr=1e-3),
                          nn.CrossEntropyLoss(), metrics={"acc": accuracy})
        history = trainer.fit(train_loader, val_loader, epochs=3)

    Arguments:
        model: the ``nn.Module`` to train, moved to ``device``; ``trainer.model`` is always
            that module (not its compiled wrapper).
        optimizer: over the model's parameters. On CUDA, Adam, AdamW and SGD are switched to
            their fused implementation unless ``fused`` or ``foreach`` was chosen.
        loss_fn: ``loss_fn(out, target)``, the batch mean; optional when ``step_fn`` is given.
        scheduler: stepped once after every optimizer step (schedules count steps, not epochs).
        device: where to train; default :func:`~mmtutorial.device.get_device`.
        amp: mixed precision on CUDA (bfloat16 where the GPU has it, else float16 with a
            ``GradScaler``), or the 16-bit dtype to use; the CPU and MPS train in float32.
        grad_clip: clip the global gradient norm to this value; the norm before clipping
            goes to ``history["grad_norm"]``.
        metrics: ``{"acc": fn}``, ``fn(out, target)`` a batch mean (a 0-d tensor or a number),
            reported for training and validation.
        step_fn: ``step_fn(model, batch) -> (loss, out, target)`` for batches of another
            layout; the batch arrives on the device.
        progress: print one line per epoch (losses, metrics, seconds).
        channels_last: store the model and 4-D inputs channels-last (faster convolutions
            under mixed precision on recent GPUs).
        compile: wrap the model's forward in ``torch.compile``: True, or a dict of its
            arguments (``{"backend": "eager"}`` needs no compiler).

    Data parallelism (the chapter *When one device is not enough*): a model wrapped in
    ``DistributedDataParallel`` trains through the wrapper, which averages the gradients of
    every process, while ``trainer.model`` is the module inside, so that a checkpoint loads in
    a single process. Epoch losses and metrics are then means over the examples of all
    processes, and only the process of rank 0 writes checkpoints. Every process must run
    ``fit`` and ``evaluate`` (they communicate).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
        *,
        scheduler: Any = None,
        device: torch.device | str | None = None,
        amp: bool | torch.dtype = True,
        grad_clip: float | None = None,
        metrics: Mapping[str, Callable[[Any, Any], Any]] | None = None,
        step_fn: Callable[[nn.Module, Any], tuple] | None = None,
        progress: bool = False,
        channels_last: bool = False,
        compile: bool | Mapping[str, Any] = False,
    ) -> None:
        check_type("model", model, nn.Module, "a torch.nn.Module")
        check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer")
        if loss_fn is None and step_fn is None:
            raise ValueError("loss_fn must be given unless step_fn computes the loss; got neither")
        metrics = dict(check_type("metrics", metrics or {}, Mapping, "a dict of name -> fn(out, target)"))
        for name, fn in metrics.items():
            if not callable(fn) or name == "loss":
                raise ValueError(f"metrics must map names other than 'loss' to functions, got {name!r}: {fn!r}")
        if not isinstance(compile, (bool, Mapping)):
            raise TypeError(f"compile must be True, False or a dict of torch.compile arguments, got {compile!r}")

        self.device = get_device() if device is None else as_device(device)
        memory_format = torch.channels_last if check_bool("channels_last", channels_last) else torch.preserve_format
        self._ddp = model if isinstance(model, nn.parallel.DistributedDataParallel) else None
        if self._ddp is not None:  # forward through the wrapper (it averages gradients), keep the module inside
            model = self._ddp.module
        self.model = model.to(self.device, memory_format=memory_format)
        wrapper = self.model if self._ddp is None else self._ddp
        self._forward = torch.compile(wrapper, **({} if compile is True else compile)) if compile else wrapper
        self.optimizer = optimizer
        prefer_fused(optimizer, self.device)
        self.loss_fn, self.step_fn, self.scheduler = loss_fn, step_fn, scheduler
        self.amp_dtype = self._amp_dtype(amp)  # None: float32
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.grad_clip = None if grad_clip is None else check_number("grad_clip", grad_clip, above=0)
        self.metrics = metrics
        self.progress = check_bool("progress", progress)
        self.channels_last = channels_last

        self.step = 0  # optimizer steps so far
        self.epoch = 0  # completed epochs
        self.batch_in_epoch = 0  # batches of the current epoch already trained on
        self.history: dict[str, list[float]] = {"epoch": [], "train_loss": []}
        self._meters = self._new_meters()  # running means of the current epoch, on the device
        self._step_log: dict[str, list[torch.Tensor]] = {"step_loss": [], "grad_norm": []}
        self._replay = checkpoint.EpochReplay()
        self._partial: list[str] = []  # history entries of an unfinished epoch

    def _amp_dtype(self, amp: bool | torch.dtype) -> torch.dtype | None:
        if isinstance(amp, torch.dtype):
            if amp not in (torch.float16, torch.bfloat16):
                raise ValueError(f"amp must be True, False, torch.float16 or torch.bfloat16, got {amp}")
            return amp if self.device.type == "cuda" else None
        return amp_dtype(self.device) if check_bool("amp", amp) else None

    # ------------------------------------------------------------------ one step

    def train_step(self, batch: Any) -> torch.Tensor:
        """One optimizer step on one batch, in the order of the hand-written loop; returns the loss."""
        batch = self._move(batch)                                        # move
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss, out, target = self._forward_and_loss(batch)            # forward, loss
        if self.scaler is not None:
            self.scaler.scale(loss).backward()                          # backward (float16: scaled)
        else:
            loss.backward()                                             # backward
        if self.grad_clip is not None:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)                    # clip the true gradients
            norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)  # clip
            self._step_log["grad_norm"].append(norm.detach())
        self.history.setdefault("lr", []).append(float(self.optimizer.param_groups[0]["lr"]))
        if self.scaler is not None:
            self.scaler.step(self.optimizer)                            # step (skipped on overflow)
            self.scaler.update()
        else:
            self.optimizer.step()                                       # step
        if self.scheduler is not None and self.scaler is None:
            self.scheduler.step()                                       # schedule
        elif self.scheduler is not None:
            with warnings.catch_warnings():  # a float16 step skipped by the scaler still advances the schedule
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                self.scheduler.step()
        self.step += 1
        self._step_log["step_loss"].append(loss.detach())              # log
        self._update(self._meters, loss, out, target, batch)
        return loss

    def _move(self, batch: Any) -> Any:
        batch = to_device(batch, self.device)
        if self.channels_last:
            batch = map_tensors(batch, lambda t: t.contiguous(memory_format=torch.channels_last)
                                if t.ndim == 4 and t.is_floating_point() else t)
        return batch

    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, enabled=self.amp_dtype is not None, dtype=self.amp_dtype)

    def _forward_and_loss(self, batch: Any) -> tuple[torch.Tensor, Any, Any]:
        """(loss, out, target) of a batch already on the device, by the batch convention."""
        if self.step_fn is not None:
            result = self.step_fn(self._forward, batch)
            if not (isinstance(result, tuple) and len(result) == 3):
                raise ValueError(f"step_fn must return a tuple (loss, out, target), got {type(result).__name__}")
            loss, out, target = result
        elif isinstance(batch, Mapping):
            if TARGET_KEY not in batch:
                raise ValueError(f"a dict batch must hold its target under {TARGET_KEY!r}; its keys: "
                                 f"{list(batch)}. Pass step_fn=... for other layouts")
            out, target = self._forward(batch), batch[TARGET_KEY]
            loss = self.loss_fn(out, target)
        elif isinstance(batch, (list, tuple)) and len(batch) >= 2:
            out, target = self._forward(*batch[:-1]), batch[-1]
            loss = self.loss_fn(out, target)
        else:
            raise ValueError(f"a batch must be a tuple (*inputs, target) or a dict with {TARGET_KEY!r}, got "
                             f"{type(batch).__name__}. Pass step_fn=... for other layouts")
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ValueError(f"the loss must be a 0-d tensor (the batch mean), got {got}")
        return loss, out, target

    def _update(self, meters: dict[str, RunningMean], loss: torch.Tensor, out: Any, target: Any, batch: Any) -> None:
        """Add a batch to running means of the loss and metrics (tensors on the device: no GPU sync)."""
        n = _batch_size(target, batch)
        meters["loss"].update(loss.detach(), n)
        with torch.no_grad():
            for name, fn in self.metrics.items():
                meters[name].update(fn(out, target), n)

    def _new_meters(self) -> dict[str, RunningMean]:
        return {name: RunningMean() for name in ("loss", *self.metrics)}

    # ------------------------------------------------------------------ the loops

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
        """Train until ``epochs`` epochs (or ``max_steps`` optimizer steps) are done; returns the history.

        Both limits count from the start of training, across calls and checkpoints: after
        ``fit(..., epochs=2)``, ``fit(..., epochs=5)`` trains three more epochs, and a run
        loaded from a checkpoint finishes the same schedule. A run stopped in the middle of
        an epoch (by ``max_steps`` or an interrupt) logs the partial epoch; the next ``fit``
        continues it exactly (same batches, same random numbers) and replaces that entry.

        ``checkpoint_path`` is written at the end, and every ``checkpoint_every`` steps.
        The history holds per epoch ``epoch``, ``train_loss``, ``train_<metric>``, ``val_loss``,
        ``val_<metric>``, and per step ``step_loss``, ``lr`` and, when clipping, ``grad_norm``.
        """
        epochs = check_int("epochs", epochs, min=1)
        max_steps = None if max_steps is None else check_int("max_steps", max_steps, min=1)
        if checkpoint_every is not None:
            checkpoint_every = check_int("checkpoint_every", checkpoint_every, min=1)
            if checkpoint_path is None:
                raise ValueError("checkpoint_every needs checkpoint_path, got checkpoint_path=None")
        if checkpoint_path is not None:
            self._check_writable(check_path("checkpoint_path", checkpoint_path))
        if self.epoch >= epochs or (max_steps is not None and self.step >= max_steps):
            warnings.warn(f"nothing to train: the trainer is already at epoch {self.epoch}, step {self.step} "
                          f"(epochs={epochs}, max_steps={max_steps}); these limits count from the start of "
                          "training, so pass larger ones to train more", stacklevel=2)
            return self.history

        for key in self._partial:  # the unfinished epoch is about to be finished
            self.history[key].pop()
        self._partial = []
        try:
            while self.epoch < epochs:
                start = time.perf_counter()
                self.model.train()
                stopped = False
                batches = self._replay.batches(train_loader, self.batch_in_epoch)
                for batch in batches:
                    self.train_step(batch)
                    self.batch_in_epoch += 1
                    if checkpoint_every is not None and self.step % checkpoint_every == 0:
                        self.save_checkpoint(checkpoint_path)
                    if max_steps is not None and self.step >= max_steps:
                        stopped = True
                        break
                if stopped and self.batch_in_epoch == _num_batches(train_loader):
                    next(batches, None)  # let the loader end its epoch, as it does in an uninterrupted run
                self._end_epoch(train_loader, val_loader, stopped, time.perf_counter() - start, epochs)
                if stopped:
                    break
        finally:
            if self.batch_in_epoch > 0:  # stopped mid-epoch: the next fit continues from here
                self._replay.stop()
            self._flush_step_log()
        if checkpoint_path is not None:
            self.save_checkpoint(checkpoint_path)
        return self.history

    def _end_epoch(self, loader: Iterable, val_loader: Iterable | None, stopped: bool, seconds: float,
                   epochs: int) -> None:
        if self._meters["loss"].count == 0:
            raise ValueError("train_loader must yield at least one batch per epoch, got none")
        self._flush_step_log()
        n_batches = _num_batches(loader)
        complete = not stopped or self.batch_in_epoch == n_batches
        fraction = 1.0 if complete else self.batch_in_epoch / n_batches if n_batches else 0.5
        entries = {"epoch": self.epoch + fraction}
        entries.update({f"train_{name}": value for name, value in self._values(self._meters).items()})  # one read
        if val_loader is not None:
            entries.update({f"val_{name}": value for name, value in self.evaluate(val_loader).items()})
        for key, value in entries.items():
            self.history.setdefault(key, []).append(value)
        if complete:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            self._meters = self._new_meters()
            self._replay.end_epoch()
        else:
            self._partial = list(entries)
        if self.progress:
            cells = "  ".join(f"{k} {v:.4g}" for k, v in entries.items() if k != "epoch")
            done = entries["epoch"]
            shown = f"{done:g}" if done == int(done) else f"{done:.2f}"  # a stop inside an epoch: a fraction
            print(f"epoch {shown}/{epochs}  {cells}  ({seconds:.3g} s)", flush=True)

    def _values(self, meters: dict[str, RunningMean]) -> dict[str, float]:
        """The meters' means; under DistributedDataParallel, over the examples of every process."""
        if self._ddp is None:
            return {name: m.value for name, m in meters.items()}
        means = all_reduce_means([(m.total, m.count) for m in meters.values()], self.device,
                                 group=self._ddp.process_group)
        return dict(zip(meters, means))

    def _flush_step_log(self) -> None:
        for key, values in self._step_log.items():
            if values:
                self.history.setdefault(key, []).extend(torch.stack(values).float().tolist())
                values.clear()

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, loader: Iterable) -> dict[str, float]:
        """Mean loss and metrics over ``loader`` (each batch weighted by its size).

        In eval mode, without autograd, and with every random generator left as it was, so
        that validating never changes what training does.
        """
        meters = self._new_meters()
        with self._inference():
            for batch in loader:
                batch = self._move(batch)
                with self._autocast():
                    loss, out, target = self._forward_and_loss(batch)
                self._update(meters, loss, out, target, batch)
        if meters["loss"].count == 0:
            raise ValueError("loader must yield at least one batch, got none")
        return self._values(meters)

    def predict(self, loader: Iterable) -> Any:
        """The model's outputs over ``loader``, concatenated along the batch axis, on the CPU.

        Batches follow the layout of ``fit`` (the target is not needed: a bare tensor is the
        only input); floating outputs come back as float32.
        """
        outs = []
        with self._inference():
            for batch in loader:
                batch = self._move(batch)
                with self._autocast():
                    if self.step_fn is not None:
                        out = self._forward_and_loss(batch)[1]
                    elif isinstance(batch, (torch.Tensor, Mapping)):
                        out = self._forward(batch)
                    else:
                        out = self._forward(*(batch[:-1] if len(batch) >= 2 else batch))
                outs.append(map_tensors(out, lambda t: (t.float() if t.is_floating_point() else t).cpu()))
        if not outs:
            raise ValueError("loader must yield at least one batch, got none")
        return _concat(outs)

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        was_training = self.model.training
        self.model.eval()
        try:
            with checkpoint.preserved_rng(), torch.no_grad():
                yield
        finally:
            self.model.train(was_training)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """Everything needed to continue training exactly (see :meth:`save_checkpoint`)."""
        self._flush_step_log()
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
            "partial_keys": list(self._partial),
            "meters": {k: m.state_dict() for k, m in self._meters.items()},
            **self._replay.state_dict(mid_epoch=self.batch_in_epoch > 0),
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restore a :meth:`state_dict`, random generators included.

        The whole state is checked first: a state that does not fit this Trainer raises
        ValueError and changes nothing.
        """
        self._check_state(state)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.history = {k: list(v) for k, v in state["history"].items()}
        self._partial = list(state["partial_keys"])
        self._meters = self._new_meters()
        for name, meter in state["meters"].items():
            self._meters[name].load_state_dict(meter)
        self._step_log = {key: [] for key in self._step_log}
        self._replay.load_state_dict(state, mid_epoch=self.batch_in_epoch > 0)

    def _check_state(self, state: Any) -> None:
        """ValueError (TypeError for a non-dict) unless ``state`` is a checkpoint this Trainer can load."""
        check_type("state", state, Mapping, "a Trainer state_dict")
        keys = {"format", "model", "optimizer", "scheduler", "scaler", "step", "epoch", "batch_in_epoch",
                "history", "partial_keys", "meters", "rng", "epoch_start_rng"}
        if not keys <= set(state):
            raise ValueError(f"state must be a Trainer checkpoint; missing keys {sorted(keys - set(state))}")
        if state["format"] != CHECKPOINT_FORMAT:
            raise ValueError(f"state has checkpoint format {state['format']!r}; this Trainer reads format "
                             f"{CHECKPOINT_FORMAT}")
        for key in ("step", "epoch", "batch_in_epoch"):
            check_int(f"state[{key!r}]", state[key], min=0)
        mine, theirs = self.model.state_dict(), state["model"]
        if not isinstance(theirs, Mapping) or set(mine) != set(theirs):
            raise ValueError("state['model'] does not fit the model: its parameter names differ")
        wrong = [k for k in mine if getattr(theirs[k], "shape", None) != mine[k].shape]
        if wrong:
            raise ValueError(f"state['model'] does not fit the model: shapes differ for {wrong[:3]}")
        groups = state["optimizer"].get("param_groups") if isinstance(state["optimizer"], Mapping) else None
        if not groups or [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.optimizer.param_groups]:
            raise ValueError("state['optimizer'] does not fit the optimizer: its parameter groups differ")
        if (state["scheduler"] is None) != (self.scheduler is None):
            saved = "without" if state["scheduler"] is None else "with"
            mine_has = "has one" if self.scheduler is not None else "has none"
            raise ValueError(f"scheduler must match the checkpoint: it was saved {saved} a scheduler, this Trainer {mine_has}")
        if not isinstance(state["history"], Mapping) or not all(isinstance(v, list) for v in state["history"].values()):
            raise ValueError("state['history'] must be a dict of lists")
        meters = state["meters"]
        if not isinstance(meters, Mapping) or not set(meters) <= set(self._new_meters()):
            raise ValueError(f"state['meters'] must hold running means of {sorted(self._new_meters())}")
        if not all(isinstance(m, Mapping) and set(m) == {"total", "count"} for m in meters.values()):
            raise ValueError("state['meters'] must hold dicts with the keys 'total' and 'count'")
        self._replay.check_state_dict(state, mid_epoch=state["batch_in_epoch"] > 0)

    @staticmethod
    def _check_writable(path: str | os.PathLike) -> None:
        """Fail before training, not after it, when a checkpoint could not be written."""
        path = Path(path)
        try:
            if path.is_dir():
                raise IsADirectoryError(f"{str(path)!r} is a folder")
            path.parent.mkdir(parents=True, exist_ok=True)  # as saving would
            with tempfile.TemporaryFile(dir=path.parent):
                pass
        except OSError as err:
            raise ValueError(f"checkpoint_path {str(path)!r} cannot be written: {err}") from err

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write an atomic, fingerprinted checkpoint (:func:`mmtutorial.checkpoint.save`).

        It holds the model, optimizer, scheduler and scaler, the step, epoch and position in
        the epoch, the history and every random generator, so that :meth:`load_checkpoint`
        followed by the same ``fit`` reproduces an uninterrupted run bit for bit on the same
        machine (see :class:`~mmtutorial.checkpoint.EpochReplay` for the limits). Under
        DistributedDataParallel only the process of rank 0 writes.
        """
        if self._ddp is not None and torch.distributed.get_rank(self._ddp.process_group) != 0:
            return
        checkpoint.save(self.state_dict(), path)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Load a checkpoint of :meth:`save_checkpoint` (``weights_only=True``); the next ``fit`` continues it.

        A damaged file, or one that does not fit this Trainer, raises
        :class:`~mmtutorial.checkpoint.CheckpointError` naming the file, and changes nothing.
        """
        state = checkpoint.load(path)
        try:
            self._check_state(state)
        except (TypeError, ValueError) as err:
            raise checkpoint.CheckpointError(f"{str(path)!r}: {err}") from err
        self.load_state_dict(state)

    def __repr__(self) -> str:
        return (f"Trainer(model={type(self.model).__name__}, device={self.device}, amp={self.amp_dtype}, "
                f"step={self.step}, epoch={self.epoch})")
