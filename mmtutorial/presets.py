"""One switch for the size of a chapter's experiments: a CPU preset and a GPU preset.

Each chapter states both sets of sizes once, at the top of its experiments::

    P = preset(cpu=dict(n_train=4_000, epochs=6), gpu=dict(n_train=40_000, epochs=20))
    print(P)                  # which preset was chosen, and what the other one would change
    model = train(P.n_train, P.epochs)
    P.headline(accuracy=acc)  # the numbers the chapter's prose states, in one line

The CPU preset fits the book's budget of about a minute per chapter on a 2-core CPU; the GPU
preset is the bigger run a GPU affords (sized for Colab's free T4: a few minutes per chapter).
The choice follows the device (the GPU preset on CUDA, the CPU preset elsewhere, Apple's MPS
included), and the environment variable ``MMTUTORIAL_PRESET=cpu`` or ``=gpu`` overrides it, so
a reader can run the small sizes on a GPU or the large ones anywhere without editing a cell.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from ._checks import check_choice, check_type
from .device import as_device, get_device

__all__ = ["PRESET_ENV", "PRESETS", "Preset", "choose_preset", "preset"]

PRESET_ENV = "MMTUTORIAL_PRESET"
PRESETS = ("cpu", "gpu")


def choose_preset(device: torch.device | str | None = None) -> str:
    """"cpu" or "gpu": ``$MMTUTORIAL_PRESET`` when set, else "gpu" exactly when ``device`` is CUDA."""
    chosen = os.environ.get(PRESET_ENV, "").strip().lower()
    if chosen:
        return check_choice(f"the environment variable {PRESET_ENV}", chosen, PRESETS)
    device = get_device() if device is None else as_device(device)
    return "gpu" if device.type == "cuda" else "cpu"


class Preset(Mapping):
    """The sizes of one preset, read as attributes (``P.epochs``) or items (``P["epochs"]``).

    ``name`` is "cpu" or "gpu"; ``other`` holds the sizes of the preset not chosen, so that
    ``print(P)`` can show what a GPU would change.
    """

    def __init__(self, name: str, values: Mapping[str, Any], other: Mapping[str, Any]) -> None:
        self.name = check_choice("name", name, PRESETS)
        self._values = dict(values)
        self._other = dict(other)

    def __getattr__(self, key: str) -> Any:
        values = self.__dict__.get("_values", {})
        if key in values:
            return values[key]
        raise AttributeError(f"this preset has no size {key!r}; it has {sorted(values)}")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def headline(self, **numbers: float) -> None:
        """Print the chapter's headline numbers in one line that ``make gpu-check`` reads back.

        ``P.headline(fused_acc=0.93, late_acc=0.51)`` prints
        ``headline (cpu preset): fused_acc 0.93 | late_acc 0.51``.
        """
        if not numbers:
            raise ValueError("headline needs at least one number, e.g. P.headline(accuracy=acc)")
        cells = []
        for key, value in numbers.items():
            value = float(value)  # a 0-d tensor or a NumPy number reads the same
            cells.append(f"{key} {value:.4g}")
        print(f"headline ({self.name} preset): " + " | ".join(cells))

    def __repr__(self) -> str:
        other = "gpu" if self.name == "cpu" else "cpu"
        width = max(len(k) for k in self._values) if self._values else 0
        lines = [f"{self.name.upper()} preset (set {PRESET_ENV}={other} for the {other.upper()} sizes)"]
        for key, value in self._values.items():
            alt = self._other[key]
            change = f"   ({other}: {alt!r})" if alt != value else ""
            lines.append(f"  {key:<{width}}  {value!r}{change}")
        return "\n".join(lines)


def preset(
    cpu: Mapping[str, Any], gpu: Mapping[str, Any], *, device: torch.device | str | None = None
) -> Preset:
    """The chapter's sizes for this machine: ``gpu`` on CUDA, ``cpu`` elsewhere (see the module docstring).

    ``cpu`` and ``gpu`` map the same names to values; ``device`` defaults to
    :func:`~mmtutorial.device.get_device`; ``$MMTUTORIAL_PRESET`` overrides the choice.
    """
    check_type("cpu", cpu, Mapping, "a dict of sizes")
    check_type("gpu", gpu, Mapping, "a dict of sizes")
    if set(cpu) != set(gpu):
        only_cpu, only_gpu = sorted(set(cpu) - set(gpu)), sorted(set(gpu) - set(cpu))
        raise ValueError(f"cpu and gpu must name the same sizes; only in cpu: {only_cpu}, only in gpu: {only_gpu}")
    if not cpu:
        raise ValueError("cpu and gpu must name at least one size")
    for key in cpu:
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            raise ValueError(f"size names must be identifiers without a leading underscore, got {key!r}")
    name = choose_preset(device)
    chosen, other = (cpu, gpu) if name == "cpu" else (gpu, cpu)
    return Preset(name, chosen, other)
