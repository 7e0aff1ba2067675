"""Fusion: how a model combines its modalities (Chapter 02; Chapters 09-11 add more).

Two ends of a spectrum, both introduced in Chapter 02:

- `ConcatFusion` (early or *joint* fusion): concatenate the feature vectors of all
  modalities into one and pass it through an MLP. Its hidden layer mixes features of
  different modalities, so the output can depend on their *interactions* (e.g. XOR).
- `LateFusion`: each modality has its own model and only their outputs meet, as a
  weighted mean of logits. The fused logit is a *sum* of per-modality terms, which cannot
  express an interaction such as XOR; Chapter 02 proves it and measures it.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn


def _check_dim(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class ConcatFusion(nn.Module):
    """Early (joint) fusion: concatenate per-modality features, then an MLP (Chapter 02).

    ``ConcatFusion(in_dims=(D_1, ..., D_M), out_dim)`` maps features ``(B, D_m)``, one per
    modality, to ``(B, out_dim)``: a joint representation, or logits when it is the last
    layer. With ``hidden_dim=None`` it is a single linear layer on the concatenation, which
    equals a *sum* of one linear map per modality and so models no interaction; the default
    hidden ReLU layer lets features of different modalities combine.
    """

    def __init__(
        self,
        in_dims: Sequence[int],
        out_dim: int,
        hidden_dim: int | None = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(in_dims, (str, bytes)) or not isinstance(in_dims, Sequence) or len(in_dims) == 0:
            raise ValueError(f"in_dims must be a non-empty sequence of positive ints, got {in_dims!r}")
        self.in_dims = tuple(_check_dim(f"in_dims[{m}]", d) for m, d in enumerate(in_dims))
        self.out_dim = _check_dim("out_dim", out_dim)
        if hidden_dim is not None:
            _check_dim("hidden_dim", hidden_dim)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.hidden_dim = hidden_dim
        width = sum(self.in_dims)
        if hidden_dim is None:
            self.net = nn.Linear(width, out_dim)
        else:
            self.net = nn.Sequential(
                nn.Linear(width, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim)
            )

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """``features[m]``: (B, in_dims[m]) -> (B, out_dim)."""
        if len(features) != len(self.in_dims):
            raise ValueError(f"features must be {len(self.in_dims)} tensors (one per modality), got {len(features)}")
        batch = None
        for m, (x, d) in enumerate(zip(features, self.in_dims)):
            if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != d:
                raise ValueError(f"features[{m}] must have shape (B, {d}), got {tuple(getattr(x, 'shape', ()))}")
            if batch is not None and x.shape[0] != batch:
                raise ValueError(f"features[{m}] must have batch size {batch} like features[0], got {x.shape[0]}")
            batch = x.shape[0]
        z = torch.cat(features, dim=-1)  # (B, D_1 + ... + D_M)
        return self.net(z)  # (B, out_dim)


class LateFusion(nn.Module):
    """Late fusion: one model per modality, their logits averaged (Chapter 02).

    ``LateFusion([model_1, ..., model_M], weights=None)(x_1, ..., x_M)`` returns
    ``sum_m w_m * model_m(x_m)`` with weights normalised to sum to 1 (equal by default).
    Every branch must return logits of the same shape, e.g. (B, C). The fused logit is a
    sum of per-modality terms: whether trained end to end or assembled from separately
    trained models, it cannot represent an XOR of the modalities (Chapter 02).
    """

    def __init__(self, branches: Sequence[nn.Module], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if isinstance(branches, nn.Module) or not isinstance(branches, Sequence) or len(branches) == 0:
            raise ValueError(f"branches must be a non-empty sequence of nn.Module, got {type(branches).__name__}")
        for m, b in enumerate(branches):
            if not isinstance(b, nn.Module):
                raise ValueError(f"branches[{m}] must be an nn.Module, got {type(b).__name__}")
        self.branches = nn.ModuleList(branches)
        M = len(branches)
        if weights is None:
            w = torch.full((M,), 1.0 / M)
        else:
            if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) or len(weights) != M:
                raise ValueError(f"weights must be a sequence of {M} non-negative numbers, got {weights!r}")
            bad = [x for x in weights if isinstance(x, bool) or not isinstance(x, (int, float))
                   or not math.isfinite(x) or x < 0]
            if bad or sum(weights) <= 0:
                raise ValueError(f"weights must be {M} finite non-negative numbers with a positive sum, got {weights!r}")
            w = torch.tensor([float(x) for x in weights]) / sum(weights)
        self.register_buffer("weights", w, persistent=False)  # (M,), sums to 1

    def forward(self, *inputs: Any) -> torch.Tensor:
        """``inputs[m]`` goes to ``branches[m]``; returns the weighted mean of their logits."""
        if len(inputs) != len(self.branches):
            raise ValueError(f"inputs must be {len(self.branches)} (one per branch), got {len(inputs)}")
        outs = [branch(x) for branch, x in zip(self.branches, inputs)]  # M x (B, C)
        for m, o in enumerate(outs):
            if not isinstance(o, torch.Tensor) or o.shape != outs[0].shape:
                raise ValueError(
                    f"branches[{m}] must return a tensor of shape {tuple(outs[0].shape)} like branches[0], "
                    f"got {tuple(getattr(o, 'shape', ()))}"
                )
        stacked = torch.stack(outs)  # (M, B, C)
        w = self.weights.to(stacked.device, stacked.dtype).view(-1, *([1] * (stacked.ndim - 1)))  # (M, 1, 1)
        return (w * stacked).sum(dim=0)  # (B, C)


__all__ = ["ConcatFusion", "LateFusion"]
