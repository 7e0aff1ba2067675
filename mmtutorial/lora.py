"""Low-rank adaptation (LoRA): fine-tune a frozen linear layer through a small low-rank update.

The chapter *Multimodal large language models in miniature* builds it in plain cells and proves
this version equal to it (and ``tests/test_lora.py`` proves it equal to the ``peft`` library's
LoRA on the same weights). A frozen ``nn.Linear`` with weight ``W`` (out, in) gets two small
trainable matrices, ``A`` (r, in) and ``B`` (out, r), and computes

    y = W x + b + (alpha / r) * B A x

``B`` starts at zero, so the wrapped layer starts as exactly the original one; only
``r * (in + out)`` numbers are trained instead of ``in * out``. After training, `merge_lora`
folds ``(alpha / r) B A`` into ``W``: the adapted model is again plain linear layers, with no
extra cost at inference.

- `LoRALinear`: the wrapper (``A`` initialized as ``nn.Linear`` initializes a weight, as
  ``peft`` does, ``B`` at zero).
- `apply_lora`: wrap every ``nn.Linear`` of a model whose qualified name ends with one of the
  ``targets``, and freeze everything but the ``A`` and ``B`` matrices.
- `merge_lora`: replace every `LoRALinear` by the merged ``nn.Linear``.
- `count_parameters`: trainable (or all) parameter counts, for the chapter's table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._checks import check_bool, check_int, check_number, check_type

__all__ = ["LoRALinear", "apply_lora", "count_parameters", "merge_lora"]


class LoRALinear(nn.Module):
    """``base(x) + (alpha / r) * B A dropout(x)``: a frozen ``nn.Linear`` plus a trainable rank-``r`` update.

    ``base`` is kept as a submodule (its parameters are frozen here); ``A`` (r, in_features)
    starts like an ``nn.Linear`` weight (Kaiming-uniform), ``B`` (out_features, r) at zero, so
    at initialization the output equals ``base(x)`` exactly. ``scaling = alpha / r``.
    """

    def __init__(self, base: nn.Linear, r: int = 4, alpha: float = 8.0, dropout: float = 0.0) -> None:
        super().__init__()
        check_type("base", base, nn.Linear, "a torch.nn.Linear")
        self.r = check_int("r", r, min=1)
        self.alpha = check_number("alpha", alpha, above=0)
        dropout = check_number("dropout", dropout, min=0, max=1)
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        factory = dict(device=base.weight.device, dtype=base.weight.dtype)
        self.A = nn.Parameter(torch.empty(self.r, base.in_features, **factory))   # (r, in)
        self.B = nn.Parameter(torch.zeros(base.out_features, self.r, **factory))  # (out, r)
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # nn.Linear's weight initialization (peft's too)
        self.scaling = self.alpha / self.r
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / r) B A`` (out, in) that `merge_lora` adds to the base weight."""
        return self.scaling * (self.B @ self.A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = (self.dropout(x) @ self.A.T) @ self.B.T  # (..., r) -> (..., out): never forms B A
        return self.base(x) + self.scaling * update        # (..., out)

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` computing the same function (``W + (alpha / r) B A``, same bias)."""
        layer = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                          device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(self.base.weight + self.delta_weight())
            if self.base.bias is not None:
                layer.bias.copy_(self.base.bias)
        return layer

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}, scaling={self.scaling:g}"


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def apply_lora(model: nn.Module, targets: Sequence[str], r: int = 4, alpha: float = 8.0,
               dropout: float = 0.0) -> list[str]:
    """Wrap in `LoRALinear` every ``nn.Linear`` of ``model`` whose qualified name is one of
    ``targets`` or ends with ``"." + target`` (``peft``'s ``target_modules`` rule), in place.

    Every other parameter of ``model`` is frozen (``requires_grad=False``); only the new ``A``
    and ``B`` matrices train. Returns the names of the wrapped layers; ValueError when no
    ``nn.Linear`` matches (a typo would otherwise train nothing).
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    if isinstance(targets, str) or not isinstance(targets, Sequence) or not targets:
        raise TypeError(f"targets must be a non-empty list of module names, got {targets!r}")
    targets = [check_type("each target", t, str, "a str") for t in targets]
    matches = lambda name: any(name == t or name.endswith("." + t) for t in targets)  # noqa: E731
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear) and matches(name)]
    if not names:
        linear = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
        raise ValueError(f"targets {targets} match no nn.Linear of the model; its linear layers are {linear}")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        _set_submodule(model, name, LoRALinear(model.get_submodule(name), r, alpha, dropout))
    return names


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every `LoRALinear` in ``model`` by its merged ``nn.Linear`` (in place; returns ``model``).

    The merged layers are frozen like the rest of the adapted model.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    if isinstance(model, LoRALinear):
        raise TypeError("model is itself a LoRALinear: call its merged() method instead")
    names = [name for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    for name in names:
        layer = model.get_submodule(name).merged()
        layer.requires_grad_(False)
        _set_submodule(model, name, layer)
    return model


def count_parameters(model: nn.Module, trainable: bool = True) -> int:
    """How many numbers ``model`` holds: those that train (``trainable=True``) or all of them."""
    check_type("model", model, nn.Module, "a torch.nn.Module")
    check_bool("trainable", trainable)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)
