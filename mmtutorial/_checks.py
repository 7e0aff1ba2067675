"""The argument checks that repeat across the package, in one place.

The policy (also in the package docstring): a public function checks what would otherwise go
silently wrong or fail deep inside torch with a confusing message: shapes, ranges, empty
inputs, non-finite settings. A wrong *type* raises ``TypeError``, a wrong *value* raises
``ValueError``, and the message names the argument and says what it got. What Python and
torch already report clearly is left to them.

Every helper returns the checked value (converted: ``check_int`` gives an ``int``,
``check_number`` a ``float``), so a check reads as an assignment::

    n = check_int("n", n, min=0)
    noise = check_number("noise", noise, min=0)
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import torch

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_path",
    "check_same_length",
    "check_tensor",
    "check_type",
    "describe",
]


def describe(value: Any) -> str:
    """A short description of ``value`` for error messages: its repr, or a tensor's shape and dtype."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 80 else f"a {type(value).__name__}"


def check_type(name: str, value: Any, types: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is an instance of ``types``; else TypeError '{name} must be {what}'."""
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value


def _bounds(min: float | None, max: float | None, above: float | None) -> str:
    show = lambda v: f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731  (ints in full)
    parts = [f"{op} {show(v)}" for op, v in (("> ", above), (">=", min), ("<=", max)) if v is not None]
    return " and ".join(p.replace(">  ", "> ") for p in parts)


def check_int(name: str, value: Any, *, min: int | None = None, max: int | None = None) -> int:
    """``value`` as an ``int`` in [min, max]: TypeError unless an integer (bools are not), ValueError out of range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    value = int(value)
    if (min is not None and value < min) or (max is not None and value > max):
        raise ValueError(f"{name} must be an int {_bounds(min, max, None)}, got {value}")
    return value


def check_number(
    name: str,
    value: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    finite: bool = True,
) -> float:
    """``value`` as a ``float``: TypeError unless a real number, ValueError if NaN, infinite
    (unless ``finite=False``) or outside [min, max] (``above``: a strict lower bound)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {describe(value)}")
    value = float(value)
    bad = math.isnan(value) or (finite and math.isinf(value))
    bad = bad or (min is not None and value < min) or (max is not None and value > max)
    bad = bad or (above is not None and not value > above)
    if bad:
        bounds = _bounds(min, max, above)
        kind = "a finite number" if finite else "a number"
        raise ValueError(f"{name} must be {kind}{' ' + bounds if bounds else ''}, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False; TypeError otherwise (no truthy stand-ins such as 1 or "yes")."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return value


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices``; ValueError listing them otherwise."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {describe(value)}")
    return value


def check_path(name: str, value: Any) -> str | os.PathLike:
    """``value`` if it is a ``str`` or ``os.PathLike``; TypeError otherwise."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {describe(value)}")
    return value


def _rank(shape: str) -> int:
    return len([axis for axis in shape.strip("()").split(",") if axis.strip()])


_KINDS = {
    "float": (torch.Tensor.is_floating_point, "a floating-point"),
    "int": (lambda t: not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool), "an integer"),
    "bool": (lambda t: t.dtype == torch.bool, "a bool"),
}


def check_tensor(
    name: str,
    value: Any,
    shape: str | Sequence[str] | None = None,
    *,
    dtype: str | None = None,
    nonempty: bool = False,
) -> torch.Tensor:
    """``value`` if it is a tensor of the right kind, rank and size.

    ``shape``: the expected axes as letters, such as ``"(N, C, H, W)"``, or a list of
    alternatives (``["(C, H, W)", "(N, C, H, W)"]``); only the number of axes is checked, the
    letters go into the message. ``dtype``: "float", "int" or "bool". ``nonempty``: at least
    one element. TypeError for a non-tensor or the wrong dtype kind, ValueError for the wrong
    number of axes or an empty tensor.
    """
    shapes = [shape] if isinstance(shape, str) else list(shape or [])
    want = " or ".join(shapes)
    kind_test, kind_name = _KINDS[dtype] if dtype is not None else (None, "a")
    what = f"{kind_name} tensor" + (f" of shape {want}" if want else "")
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    if kind_test is not None and not kind_test(value):
        raise TypeError(f"{name} must be {what}, got {describe(value)}")
    if shapes and value.ndim not in {_rank(s) for s in shapes}:
        raise ValueError(f"{name} must be {what}, got {describe(value)}")
    if nonempty and value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got {describe(value)}")
    return value


def check_same_length(**named: Any) -> int:
    """The common length of the named sequences or tensors; ValueError naming each length otherwise."""
    lengths = {name: len(value) for name, value in named.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} {n}" for name, n in lengths.items())
        raise ValueError(f"{', '.join(lengths)} must have the same length, got {listed}")
    return next(iter(lengths.values()))
