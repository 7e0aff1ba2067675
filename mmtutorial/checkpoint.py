"""Checkpoints that resume a run bit for bit, beside the Trainer.

A run continues exactly only if everything the next step depends on is restored: weights,
optimizer, schedule, loss scaler, the position in the data, and the state of every random
number generator that training draws from (Python's ``random``, NumPy's global generator,
torch on the CPU and on each GPU, and the generator a loader shuffles with). The Trainer saves
its own counters and states; this module holds what is about randomness and files:

- :func:`rng_state` / :func:`set_rng_state` / :func:`preserved_rng`: capture and restore every
  global generator (and a loader's), as plain lists and tensors that ``weights_only`` loading reads.
- :class:`EpochReplay`: the order of an epoch is drawn when its iterator is made, so a stopped
  epoch is continued by restoring the random state from just before ``iter(loader)``,
  replaying (loading again) the batches already trained on, then restoring the state from
  the moment training stopped.
- :func:`atomic_save`: write to a temporary file in the same folder, ``fsync``, then rename
  over the target; a crash at any moment leaves the old file or the new one, never half a file.
- :func:`save` / :func:`load`: a checkpoint with a SHA-256 fingerprint of its contents;
  ``torch.load(..., weights_only=True)`` reads it, and a damaged file is an error that names
  the file, never a model trained on corrupted weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._checks import check_path
from ._files import atomic_write

__all__ = [
    "CheckpointError",
    "EpochReplay",
    "atomic_save",
    "fingerprint",
    "load",
    "loader_generators",
    "preserved_rng",
    "rng_state",
    "save",
    "set_rng_state",
]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: damaged, truncated, or not a checkpoint of this kind."""


# ----------------------------------------------------------------------------- random state


def loader_generators(loader: Any) -> list[torch.Generator]:
    """The distinct ``torch.Generator`` objects a loader draws its order from.

    A ``DataLoader`` may hold one itself, in its sampler, or in the sampler inside a batch sampler; a
    ``DeviceLoader`` holds it as ``.generator``. Without one, both draw from torch's global
    generator, which :func:`rng_state` captures anyway.
    """
    samplers = [getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)]
    samplers += [getattr(s, "sampler", None) for s in samplers]  # a BatchSampler wraps a sampler
    found: list[torch.Generator] = []
    for g in [getattr(obj, "generator", None) for obj in (loader, *samplers)]:
        if isinstance(g, torch.Generator) and all(g is not h for h in found):
            found.append(g)
    return found


def rng_state(generators: Iterable[torch.Generator] = ()) -> dict:
    """The state of every global random generator, and of ``generators``, as lists and tensors."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "loader": [g.get_state() for g in generators],
    }


def check_rng_state(state: Any) -> None:
    """ValueError unless ``state`` has the layout :func:`rng_state` returns (checked before anything is set)."""
    if not isinstance(state, Mapping) or set(state) != {"python", "numpy", "torch", "cuda", "loader"}:
        got = sorted(state) if isinstance(state, Mapping) else type(state).__name__
        raise ValueError(f"a random state must have the keys cuda, loader, numpy, python and torch, got {got}")
    python, numpy, cpu = state["python"], state["numpy"], state["torch"]
    if not (isinstance(python, (list, tuple)) and len(python) == 3 and isinstance(python[1], (list, tuple))
            and len(python[1]) == len(random.getstate()[1])):
        raise ValueError("the random state of Python's `random` is malformed")
    if not (isinstance(numpy, (list, tuple)) and len(numpy) == 5 and isinstance(numpy[1], (list, tuple))
            and len(numpy[1]) == 624):
        raise ValueError("the random state of NumPy is malformed")
    reference = torch.get_rng_state()
    if not (isinstance(cpu, torch.Tensor) and cpu.dtype == reference.dtype and cpu.shape == reference.shape):
        raise ValueError("the random state of torch is malformed")
    for key in ("cuda", "loader"):
        if not (isinstance(state[key], (list, tuple)) and all(isinstance(s, torch.Tensor) for s in state[key])):
            raise ValueError(f"the random state {key!r} must be a list of tensors")


def set_rng_state(state: Mapping, generators: Iterable[torch.Generator] | None = None) -> None:
    """Restore a state from :func:`rng_state`; the loader's generators only when they are given."""
    check_rng_state(state)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            warnings.warn("the saved CUDA random states are for a different number of GPUs; not restored",
                          stacklevel=2)
    if generators is None:
        return
    generators = list(generators)
    if len(state["loader"]) != len(generators):
        warnings.warn(f"the saved state holds {len(state['loader'])} loader generator state(s) but the loader "
                      f"has {len(generators)}; its shuffling order may differ from the original run", stacklevel=2)
        return
    for g, s in zip(generators, state["loader"]):
        g.set_state(s)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Leave every global generator as it was found, so that evaluating never changes training."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


class EpochReplay:
    """Continue a stopped epoch with the same batches and the same random numbers.

    ``batches(loader, done)`` starts an epoch (``done == 0``) or continues one after ``done``
    batches; ``stop()`` records the random state when training stops in the middle of an
    epoch; ``end_epoch()`` forgets the finished epoch. What it holds goes into checkpoints
    through ``state_dict``.

    Limits: the batches already used are loaded again (not trained on); DataLoader workers are
    seeded from the same base seed, so random augmentation inside workers matches too, except
    with ``persistent_workers=True`` after the first epoch; an IterableDataset resumes exactly
    only if its stream depends on nothing but these generators.
    """

    def __init__(self) -> None:
        self.generators: list[torch.Generator] = []
        self.epoch_start: dict | None = None  # random state just before iter(loader)
        self.stopped: dict | None = None  # random state when training stopped (or was loaded)

    def batches(self, loader: Iterable, done: int) -> Iterator:
        """The iterator over this epoch's batches, positioned after the ``done`` already used."""
        self.generators = loader_generators(loader)
        if done == 0:
            if self.stopped is not None:  # a fresh epoch after a stop or a load
                set_rng_state(self.stopped, self.generators)
                self.stopped = None
            self.epoch_start = rng_state(self.generators)
            return iter(loader)
        if self.epoch_start is None or self.stopped is None:
            raise RuntimeError("cannot continue the unfinished epoch: its random state was not recorded")
        set_rng_state(self.epoch_start, self.generators)
        batches = iter(loader)
        for i in range(done):
            if next(batches, None) is None:
                raise ValueError(f"the loader yields {i} batches per epoch, but {done} of this epoch were "
                                 "already trained on; resume with the same loader")
        set_rng_state(self.stopped, self.generators)
        self.stopped = None
        return batches

    def stop(self) -> None:
        """Training stopped in the middle of an epoch: remember where the random streams were."""
        if self.stopped is None:
            self.stopped = rng_state(self.generators)

    def end_epoch(self) -> None:
        self.epoch_start = None

    def state_dict(self, mid_epoch: bool) -> dict:
        """The state to continue from (where a stop left off, else now) and, mid-epoch, the epoch's start."""
        now = self.stopped if self.stopped is not None else rng_state(self.generators)
        return {"rng": now, "epoch_start_rng": self.epoch_start if mid_epoch else None}

    @staticmethod
    def check_state_dict(state: Mapping, mid_epoch: bool) -> None:
        """ValueError unless ``state`` can be loaded (checked before anything changes)."""
        check_rng_state(state["rng"])
        if mid_epoch and state["epoch_start_rng"] is None:
            raise ValueError("the state is in the middle of an epoch but has no epoch_start_rng")
        if state["epoch_start_rng"] is not None:
            check_rng_state(state["epoch_start_rng"])

    def load_state_dict(self, state: Mapping, mid_epoch: bool) -> None:
        """Restore :meth:`state_dict`; the global generators are set at once, the loader's at the next epoch."""
        self.check_state_dict(state, mid_epoch)
        self.stopped = state["rng"]
        self.epoch_start = state["epoch_start_rng"] if mid_epoch else None
        set_rng_state(self.stopped)


# ----------------------------------------------------------------------------------- files


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files that an interrupted save of ``path`` left behind."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, ``fsync``, then rename over ``path``.

    A crash at any moment leaves either the old file or the new one, never half a file. A
    temporary file left by a save that was killed is removed by the next save of the same path
    (one process saves a given path at a time).
    """
    path = Path(check_path("path", path))
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    atomic_write(path, lambda f: torch.save(obj, f))


def fingerprint(obj: Any) -> str:
    """SHA-256 of every tensor (dtype, shape, bytes), number, string and key in a nested state."""
    digest = hashlib.sha256()

    def feed(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(x, Mapping):
            digest.update(f"D{len(x)}".encode())
            for key, value in x.items():
                feed(key)
                feed(value)
        elif isinstance(x, (list, tuple)):
            digest.update(f"L{len(x)}".encode())
            for value in x:
                feed(value)
        else:  # numbers, strings, None, torch.Size: their repr is exact
            digest.update(f"V{type(x).__name__}:{x!r}".encode())

    feed(obj)
    return digest.hexdigest()


def save(state: Mapping, path: str | os.PathLike) -> None:
    """Write ``state`` (a dict) atomically, with its :func:`fingerprint` under the key ``"sha256"``."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    atomic_save({**state, "sha256": fingerprint(dict(state))}, path)


def load(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save` with ``weights_only=True`` and verify its fingerprint.

    Tensors are read onto the CPU. A missing file raises FileNotFoundError; a damaged,
    truncated or foreign file raises :class:`CheckpointError` naming it.
    """
    path = Path(check_path("path", path))
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {str(path)!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # the unpickler fails in many ways on a damaged file
        raise CheckpointError(f"cannot read the checkpoint {str(path)!r}: the file is damaged or was not "
                              f"written by torch.save ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or not isinstance(state.get("sha256"), str):
        raise CheckpointError(f"{str(path)!r} is not a checkpoint written by mmtutorial (no fingerprint)")
    expected = state.pop("sha256")
    if fingerprint(state) != expected:
        raise CheckpointError(f"the checkpoint {str(path)!r} is damaged: its contents do not match the "
                              "fingerprint saved with it")
    return state
