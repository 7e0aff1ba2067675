"""Argument checks shared by the data generators: each raises ValueError naming the argument."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_int(name: str, value: Any, minimum: int) -> int:
    """`value` as an int, or ValueError if it is not an integer >= `minimum` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_float(name: str, value: Any, minimum: float = 0.0) -> float:
    """`value` as a float, or ValueError if it is not a number >= `minimum` (NaN rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not value >= minimum:
        raise ValueError(f"{name} must be a number >= {minimum:g}, got {value!r}")
    return float(value)
