"""Devices, seeds and mixed precision: the setup lines at the top of every chapter.

Pick the best device, make a run repeatable, move a batch, and turn on mixed precision
where it helps (CUDA) and nowhere else. The chapter *Optimization and the training loop*
explains mixed precision and measures it.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Callable

import numpy as np
import torch

from ._checks import check_bool, check_int

_DEVICE_NAMES = ("cpu", "cuda", "mps")
AMP_DTYPE_ENV = "MMTUTORIAL_AMP_DTYPE"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then the CPU.

    ``prefer`` ("cpu", "cuda" or "mps") forces one device and fails loudly if it is
    not available. Every chapter starts with ``device = get_device()``.
    """
    if prefer is not None and not isinstance(prefer, str):
        raise TypeError(f"prefer must be a str or None, got {type(prefer).__name__}")
    if prefer is not None and prefer not in _DEVICE_NAMES:
        raise ValueError(f"prefer must be one of {_DEVICE_NAMES} or None, got {prefer!r}")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise ValueError("prefer='cuda' but CUDA is not available on this machine")
    if prefer == "mps" and not _mps_available():
        raise ValueError("prefer='mps' but Apple MPS is not available on this machine")
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU).

    ``deterministic=True`` also asks torch for deterministic kernels (warning, not
    failing, where none exists) and turns off cuDNN autotuning; ``False`` leaves
    those switches as they are: on a GPU a seed alone does not make every kernel
    deterministic.
    """
    seed = check_int("seed", seed, min=0, max=2**32 - 1)
    check_bool("deterministic", deterministic)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device (lazily)
    if deterministic:
        # cuBLAS needs this workspace setting for reproducible matmuls on CUDA.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic kernels inside the block, as they were after it.

    On a GPU a few kernels (atomic additions in scatter and index backward passes, cuDNN's
    autotuned convolutions, split reductions) may add in a different order from run to run;
    torch's deterministic mode replaces them, or fails loudly where none exists. cuBLAS also
    needs ``CUBLAS_WORKSPACE_CONFIG`` (set here if unset). On the CPU the kernels used in this
    book are deterministic anyway.
    """
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[1], before[2]


def as_device(device: torch.device | str, name: str = "device") -> torch.device:
    """``device`` as a ``torch.device``: TypeError unless a device or a str, ValueError for an unknown name."""
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"{name} must be a torch.device or a device string like 'cpu', got {type(device).__name__}")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"{name} must name a device such as 'cpu' or 'cuda:0', got {device!r}") from None


def amp_dtype(device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype mixed precision uses on ``device``, or None where it is off.

    CUDA: bfloat16 when the GPU supports it natively (no loss scaling needed), else
    float16; a GPU that only emulates bfloat16 (e.g. a T4) gets float16, which is fast there.
    CPU and MPS: None (full float32). The environment variable ``MMTUTORIAL_AMP_DTYPE``
    (``float16`` or ``bfloat16``) overrides the choice on CUDA.
    """
    device = as_device(device)
    if device.type != "cuda":
        return None
    forced = os.environ.get(AMP_DTYPE_ENV, "").strip().lower()
    if forced:  # e.g. float16 on a GPU that has bfloat16, to run what a T4 runs
        if forced not in ("float16", "bfloat16"):
            raise ValueError(f"the environment variable {AMP_DTYPE_ENV} must be float16 or bfloat16, got {forced!r}")
        return getattr(torch, forced)
    try:
        native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch releases without the argument report native support only
        native_bf16 = torch.cuda.is_bf16_supported()
    return torch.bfloat16 if native_bf16 else torch.float16


def autocast(
    device: torch.device | str, enabled: bool = True, dtype: torch.dtype | None = None
) -> AbstractContextManager:
    """Mixed precision where it pays: ``torch.autocast`` on CUDA, a no-op elsewhere.

    Use it as ``with autocast(device): loss = model(x)``. ``dtype`` overrides the
    choice of :func:`amp_dtype` (float16 or bfloat16).
    """
    device = as_device(device)
    check_bool("enabled", enabled)
    if dtype is not None and dtype not in (torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be torch.float16, torch.bfloat16 or None, got {dtype!r}")
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype or amp_dtype(device))


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """Apply ``fn`` to every tensor in a nested dict / list / tuple; keep the rest as is."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, Mapping):
        mapped = {k: map_tensors(v, fn) for k, v in obj.items()}
        if type(obj) is dict:
            return mapped
        try:
            return type(obj)(mapped)  # keep OrderedDict and friends
        except TypeError:
            return mapped
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(map_tensors(v, fn) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_tensors(v, fn) for v in obj)
    return obj


def to_device(batch: Any, device: torch.device | str, non_blocking: bool | None = None) -> Any:
    """Move every tensor in a (nested dict / list / tuple) batch to ``device``.

    Non-tensors (strings, ints, None) pass through unchanged. ``non_blocking``
    defaults to True on CUDA, which overlaps the copy with compute when the loader
    uses ``pin_memory=True``.
    """
    device = as_device(device)
    non_blocking = device.type == "cuda" if non_blocking is None else check_bool("non_blocking", non_blocking)
    return map_tensors(batch, lambda t: t.to(device, non_blocking=non_blocking))
