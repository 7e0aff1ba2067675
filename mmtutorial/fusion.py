"""Fusion: how a model combines its modalities.

Two ends of a spectrum, both introduced in the chapter *Core concepts*:

- `ConcatFusion` (early or *joint* fusion): concatenate the feature vectors of all
  modalities into one and pass it through an MLP. Its hidden layer mixes features of
  different modalities, so the output can depend on their *interactions* (e.g. XOR).
- `LateFusion`: each modality has its own model and only their outputs meet, as a
  weighted mean of logits. The fused logit is a *sum* of per-modality terms, which cannot
  express an interaction such as XOR; *Core concepts* proves it and measures it.

The forward passes check shapes and dtypes only (no GPU synchronization); mismatches that
torch already reports clearly (batch sizes in ``torch.cat``, output shapes in
``torch.stack``) are left to it.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ._checks import check_int, check_number, check_tensor, check_type


class ConcatFusion(nn.Module):
    """Early (joint) fusion: concatenate per-modality features, then an MLP.

    ``ConcatFusion(in_dims=(D_1, ..., D_M), out_dim)`` maps features ``(B, D_m)``, one per
    modality, to ``(B, out_dim)``: a joint representation, or logits when it is the last
    layer. With ``hidden_dim=None`` it is a single linear layer on the concatenation, which
    equals a *sum* of one linear map per modality and so models no interaction; the default
    hidden ReLU layer lets features of different modalities combine. ``dropout`` in [0, 1)
    acts on that hidden layer, so it needs one.
    """

    def __init__(
        self,
        in_dims: Sequence[int],
        out_dim: int,
        hidden_dim: int | None = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(in_dims, (str, bytes)) or not isinstance(in_dims, Sequence):
            raise TypeError(f"in_dims must be a sequence of ints, one per modality, got {type(in_dims).__name__}")
        if len(in_dims) == 0:
            raise ValueError("in_dims must name at least one modality, got an empty sequence")
        self.in_dims = tuple(check_int(f"in_dims[{m}]", d, min=1) for m, d in enumerate(in_dims))
        self.out_dim = check_int("out_dim", out_dim, min=1)
        if hidden_dim is not None:
            hidden_dim = check_int("hidden_dim", hidden_dim, min=1)
        dropout = check_number("dropout", dropout, min=0)
        if dropout >= 1:  # nn.Dropout(1.0) zeroes every hidden feature
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        if dropout > 0 and hidden_dim is None:  # there would be nothing to drop
            raise ValueError(f"dropout needs a hidden layer, got dropout={dropout!r} with hidden_dim=None")
        self.hidden_dim = hidden_dim
        width = sum(self.in_dims)
        if hidden_dim is None:
            self.net = nn.Linear(width, self.out_dim)
        else:
            self.net = nn.Sequential(
                nn.Linear(width, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, self.out_dim)
            )

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """``features[m]``: (B, in_dims[m]) -> (B, out_dim)."""
        if len(features) != len(self.in_dims):
            raise ValueError(f"features must be {len(self.in_dims)} tensors (one per modality), got {len(features)}")
        for m, (x, d) in enumerate(zip(features, self.in_dims)):
            # Each width on its own: swapped modalities of equal total width would pass silently.
            if check_tensor(f"features[{m}]", x, f"(B, {d})").shape[1] != d:
                raise ValueError(f"features[{m}] must have shape (B, {d}), got {tuple(x.shape)}")
        z = torch.cat(features, dim=-1)  # (B, D_1 + ... + D_M); torch reports unequal batch sizes
        return self.net(z)  # (B, out_dim)


class LateFusion(nn.Module):
    """Late fusion: one model per modality, their logits averaged.

    ``LateFusion([model_1, ..., model_M], weights=None)(x_1, ..., x_M)`` returns
    ``sum_m w_m * model_m(x_m)`` with weights normalized to sum to 1 (equal by default;
    otherwise finite numbers >= 0, not all 0). Every branch must return floating-point
    logits of the same shape, e.g. (B, C). The fused logit is a sum of per-modality terms:
    whether trained end to end or assembled from separately trained models, it cannot
    represent an XOR of the modalities (*Core concepts*).
    """

    def __init__(self, branches: Sequence[nn.Module], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        # A single nn.Module is not a Sequence (an nn.ModuleList is accepted as a list).
        check_type("branches", branches, (Sequence, nn.ModuleList), "a list of nn.Module, one per modality")
        if len(branches) == 0:
            raise ValueError("branches must hold at least one nn.Module, got an empty sequence")
        for m, b in enumerate(branches):
            check_type(f"branches[{m}]", b, nn.Module, "an nn.Module")
        self.branches = nn.ModuleList(branches)
        M = len(branches)
        if weights is None:
            w = torch.full((M,), 1.0 / M)
        else:
            if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
                raise TypeError(f"weights must be a sequence of {M} numbers or None, got {type(weights).__name__}")
            if len(weights) != M:
                raise ValueError(f"weights must have one entry per branch ({M}), got {len(weights)}")
            ws = [check_number(f"weights[{m}]", x, min=0) for m, x in enumerate(weights)]
            peak = max(ws)
            if peak == 0:
                raise ValueError(f"weights must not all be 0, got {list(weights)!r}")
            ws = [x / peak for x in ws]  # first divide by the largest: a sum of huge weights could overflow
            w = torch.tensor([x / sum(ws) for x in ws])
        self.register_buffer("weights", w, persistent=False)  # (M,), sums to 1

    def forward(self, *inputs: Any) -> torch.Tensor:
        """``inputs[m]`` goes to ``branches[m]``; returns the weighted mean of their logits."""
        if len(inputs) != len(self.branches):
            raise ValueError(f"inputs must be {len(self.branches)} (one per branch), got {len(inputs)}")
        outs = [branch(x) for branch, x in zip(self.branches, inputs)]  # M x (B, C)
        stacked = torch.stack(outs)  # (M, B, C); torch reports outputs of different shapes
        # Integer outputs (e.g. predicted classes) would turn the weights into zeros silently.
        check_tensor("the branches' outputs", stacked, dtype="float")
        w = self.weights.to(stacked.device, stacked.dtype).view(-1, *([1] * (stacked.ndim - 1)))  # (M, 1, 1)
        return (w * stacked).sum(dim=0)  # (B, C)


__all__ = ["ConcatFusion", "LateFusion"]
