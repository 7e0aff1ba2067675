"""Fusion: how a model combines its modalities.

Two ends of a spectrum, both introduced in the chapter *Core concepts*:

- `ConcatFusion` (early or *joint* fusion): concatenate the feature vectors of all
  modalities into one and pass it through an MLP. Its hidden layer mixes features of
  different modalities, so the output can depend on their *interactions* (e.g. XOR).
- `LateFusion`: each modality has its own model and only their outputs meet, as a
  weighted mean of logits. The fused logit is a *sum* of per-modality terms, which cannot
  express an interaction such as XOR; *Core concepts* proves it and measures it.

Between them, the operators of the chapter *Direct fusion*: `SumFusion` and `ProductFusion`
(projections to a common width, then a sum or an element-wise product), `TensorFusion` (the
outer product of the features, each with a 1 appended) and its low-rank factorization
`LowRankFusion`, `FusionClassifier` (encoders + fusion + head) and `unregistered_tensors`
(finds trainable tensors a module forgot to register). Then the fusions that choose, of the
chapter *Attention, gating and conditioning*: `CrossAttention` (queries from one modality, keys
and values from the other), the `GatedMultimodalUnit` and `FiLM`.

The forward passes check shapes and dtypes only (no GPU synchronization); mismatches that
torch already reports clearly (batch sizes in ``torch.cat``, output shapes in
``torch.stack``) are left to it.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ._checks import check_int, check_number, check_tensor, check_type
from .encoders.text import attention as _attention  # scaled dot-product attention, with a key mask


def _module_list(name: str, modules: Sequence[nn.Module]) -> nn.ModuleList:
    """One module per modality, checked: a non-empty list (or nn.ModuleList) of nn.Module."""
    # A single nn.Module is not a Sequence (an nn.ModuleList is accepted as a list).
    check_type(name, modules, (Sequence, nn.ModuleList), "a list of nn.Module, one per modality")
    if len(modules) == 0:
        raise ValueError(f"{name} must hold at least one nn.Module, got an empty sequence")
    for m, module in enumerate(modules):
        check_type(f"{name}[{m}]", module, nn.Module, "an nn.Module")
    return nn.ModuleList(modules)


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
        self.branches = _module_list("branches", branches)
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


# ----- direct fusion -----
# (chapter: Direct fusion: concatenation, products and tensors)
#
# Each module maps per-modality features (B, D_m) to one fused vector (B, out_dim); a classifier
# puts a head on top (`FusionClassifier`). Sum and product first project every modality to a
# common width; tensor fusion multiplies the modalities out in full, low-rank fusion through a
# sum of `rank` products of per-modality projections (equal to a tensor fusion whose weight
# has rank `rank`, see `LowRankFusion.full_weight`). Every learnable tensor is an nn.Parameter
# registered on its module: `unregistered_tensors` finds those that are not.


def _check_modality_dims(in_dims: Sequence[int]) -> tuple[int, ...]:
    """``in_dims`` as a tuple of ints >= 1, one per modality (TypeError / ValueError otherwise)."""
    if isinstance(in_dims, (str, bytes)) or not isinstance(in_dims, Sequence):
        raise TypeError(f"in_dims must be a sequence of ints, one per modality, got {type(in_dims).__name__}")
    if len(in_dims) == 0:
        raise ValueError("in_dims must name at least one modality, got an empty sequence")
    return tuple(check_int(f"in_dims[{m}]", d, min=1) for m, d in enumerate(in_dims))


def _check_modality_features(features: Sequence[torch.Tensor], in_dims: tuple[int, ...]) -> None:
    """One floating-point (B, in_dims[m]) tensor per modality; ValueError naming the first that is not."""
    if len(features) != len(in_dims):
        raise ValueError(f"features must be {len(in_dims)} tensors (one per modality), got {len(features)}")
    for m, (x, d) in enumerate(zip(features, in_dims)):
        # Each width on its own: swapped modalities of equal total width would pass silently.
        if check_tensor(f"features[{m}]", x, f"(B, {d})", dtype="float").shape[1] != d:
            raise ValueError(f"features[{m}] must have shape (B, {d}), got {tuple(x.shape)}")


class _ProjectedFusion(nn.Module):
    """Project each modality to a common width ``out_dim``: the shared part of sum and product fusion."""

    def __init__(self, in_dims: Sequence[int], out_dim: int) -> None:
        super().__init__()
        self.in_dims = _check_modality_dims(in_dims)
        self.out_dim = check_int("out_dim", out_dim, min=1)
        self.projections = nn.ModuleList(nn.Linear(d, self.out_dim) for d in self.in_dims)

    def project(self, *features: torch.Tensor) -> torch.Tensor:
        """``features[m]``: (B, in_dims[m]) -> the projections stacked, (M, B, out_dim)."""
        _check_modality_features(features, self.in_dims)
        return torch.stack([p(x) for p, x in zip(self.projections, features)])  # (M, B, out_dim)


class SumFusion(_ProjectedFusion):
    """Element-wise sum of per-modality projections: ``z = sum_m (W_m x_m + b_m)``, (B, out_dim).

    It equals a linear layer on the concatenation (``ConcatFusion(in_dims, out_dim,
    hidden_dim=None)``): additive in the modalities, so a linear head on top cannot model an
    interaction such as XOR; a nonlinearity after the sum can.
    """

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """``features[m]``: (B, in_dims[m]) -> (B, out_dim)."""
        return self.project(*features).sum(dim=0)  # (B, out_dim)


class ProductFusion(_ProjectedFusion):
    """Element-wise product of per-modality projections: ``z = prod_m (W_m x_m + b_m)``, (B, out_dim).

    Each output is a product of one affine function per modality: multiplied out, it holds the
    cross terms (x_1 times x_2) that an additive model lacks, so a linear head on top can model
    interactions such as XOR. The biases keep the unimodal terms too.
    """

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """``features[m]``: (B, in_dims[m]) -> (B, out_dim)."""
        return self.project(*features).prod(dim=0)  # (B, out_dim)


def _with_one(x: torch.Tensor) -> torch.Tensor:
    """(B, D) -> (B, D + 1): a constant 1 appended, so that products keep every lower-order term."""
    return torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)


class TensorFusion(nn.Module):
    """Tensor fusion (Zadeh et al., 2017): a linear map of the outer product of ``[x_m; 1]``.

    ``TensorFusion(in_dims, out_dim)`` appends a 1 to each modality's features, takes their
    outer product, a tensor of shape (D_1 + 1) x ... x (D_M + 1) holding every unimodal
    feature, every bimodal product and so on, and maps its flattening linearly to
    ``(B, out_dim)``. The entry 1 x ... x 1 plays the bias, so the linear map has none. It has
    ``out_dim * prod_m (D_m + 1)`` weights: exponential in the number of modalities.
    """

    def __init__(self, in_dims: Sequence[int], out_dim: int) -> None:
        super().__init__()
        self.in_dims = _check_modality_dims(in_dims)
        self.out_dim = check_int("out_dim", out_dim, min=1)
        self.fused_dim = 1
        for d in self.in_dims:
            self.fused_dim *= d + 1  # prod_m (D_m + 1)
        self.linear = nn.Linear(self.fused_dim, self.out_dim, bias=False)

    def outer(self, *features: torch.Tensor) -> torch.Tensor:
        """``features[m]``: (B, in_dims[m]) -> the flattened outer product of the ``[x_m; 1]``, (B, fused_dim)."""
        _check_modality_features(features, self.in_dims)
        z = _with_one(features[0])  # (B, D_1 + 1)
        for x in features[1:]:
            z = (z[:, :, None] * _with_one(x)[:, None, :]).flatten(1)  # (B, prod so far * (D_m + 1))
        return z  # (B, fused_dim)

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """``features[m]``: (B, in_dims[m]) -> (B, out_dim)."""
        return self.linear(self.outer(*features))  # (B, out_dim)


class LowRankFusion(nn.Module):
    """Low-rank multimodal fusion (Liu et al., 2018): tensor fusion with a rank-``rank`` weight.

    ``z = sum_r prod_m ([x_m; 1] @ F_m[r])``, (B, out_dim), with one factor ``F_m`` of shape
    (rank, D_m + 1, out_dim) per modality. It equals ``TensorFusion`` whose weight is
    ``sum_r F_1[r] (x) ... (x) F_M[r]`` (``full_weight``) without ever forming the outer product:
    ``rank * out_dim * sum_m (D_m + 1)`` weights instead of ``out_dim * prod_m (D_m + 1)``.
    The factors are registered in an ``nn.ParameterList`` (a plain Python list would hide them
    from ``parameters()``, the optimizer and ``state_dict``). They start with a standard
    deviation that gives outputs of about unit variance for unit-variance inputs.
    """

    def __init__(self, in_dims: Sequence[int], out_dim: int, rank: int = 4) -> None:
        super().__init__()
        self.in_dims = _check_modality_dims(in_dims)
        self.out_dim = check_int("out_dim", out_dim, min=1)
        self.rank = check_int("rank", rank, min=1)
        M = len(self.in_dims)
        self.factors = nn.ParameterList(
            nn.Parameter(torch.randn(self.rank, d + 1, self.out_dim) * (self.rank ** (-0.5 / M) * (d + 1) ** -0.5))
            for d in self.in_dims
        )  # M x (rank, D_m + 1, out_dim)

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """``features[m]``: (B, in_dims[m]) -> (B, out_dim)."""
        _check_modality_features(features, self.in_dims)
        z = None
        for x, factor in zip(features, self.factors):
            y = torch.einsum("bi,rio->rbo", _with_one(x), factor)  # (rank, B, out_dim)
            z = y if z is None else z * y
        return z.sum(dim=0)  # (B, out_dim)

    def full_weight(self) -> torch.Tensor:
        """The equivalent ``TensorFusion`` weight, (out_dim, prod_m (D_m + 1)): ``sum_r F_1[r] (x) ... (x) F_M[r]``."""
        w = self.factors[0]  # (rank, D_1 + 1, out_dim)
        for factor in self.factors[1:]:
            w = (w[:, :, None, :] * factor[:, None, :, :]).flatten(1, 2)  # (rank, prod so far * (D_m + 1), out_dim)
        return w.sum(dim=0).T  # (out_dim, prod_m (D_m + 1))


class FusionClassifier(nn.Module):
    """One encoder per modality, a fusion module, a head: ``head(fusion(enc_1(x_1), ..., enc_M(x_M)))``.

    Everything but the fusion stays the same when fusion methods are compared. ``head`` is
    any module (e.g. ``nn.Linear(fusion.out_dim, n_classes)``); ``None`` returns the fused
    vector itself.
    """

    def __init__(self, encoders: Sequence[nn.Module], fusion: nn.Module, head: nn.Module | None = None) -> None:
        super().__init__()
        self.encoders = _module_list("encoders", encoders)
        self.fusion = check_type("fusion", fusion, nn.Module, "an nn.Module")
        self.head = nn.Identity() if head is None else check_type("head", head, nn.Module, "an nn.Module or None")

    def forward(self, *inputs: Any) -> torch.Tensor:
        """``inputs[m]`` goes to ``encoders[m]``; returns ``head(fusion(...))``, e.g. logits (B, C)."""
        if len(inputs) != len(self.encoders):
            raise ValueError(f"inputs must be {len(self.encoders)} (one per encoder), got {len(inputs)}")
        return self.head(self.fusion(*(enc(x) for enc, x in zip(self.encoders, inputs))))


def unregistered_tensors(module: nn.Module) -> list[str]:
    """Names of the tensors that require grad but that ``module.parameters()`` does not hold.

    Looks in every submodule's attributes, and inside lists, tuples and dicts held there: the
    classic mistake ``self.factors = [nn.Parameter(...), ...]`` leaves the factors out of
    ``parameters()``, so the optimizer never updates them and ``state_dict`` never saves them.
    An empty list means every such tensor is registered.
    """
    check_type("module", module, nn.Module, "an nn.Module")
    registered = {id(p) for p in module.parameters()}
    found = []
    for prefix, sub in module.named_modules():
        for name, value in vars(sub).items():
            if name.startswith("_"):  # nn.Module's own bookkeeping (_parameters, _buffers, ...)
                continue
            if isinstance(value, dict):
                items = value.items()
            elif isinstance(value, (list, tuple)):
                items = enumerate(value)
            else:
                items = [(None, value)]
            for key, item in items:
                if isinstance(item, torch.Tensor) and item.requires_grad and id(item) not in registered:
                    found.append(f"{prefix + '.' if prefix else ''}{name}{'' if key is None else f'[{key!r}]'}")
    return found


# ----- attention, gating and conditioning -----
# (chapter: Attention, gating and conditioning: fusion that chooses)
#
# Fusion whose weights depend on the input. `CrossAttention`: the queries of one modality pick,
# by softmax-normalized similarity, which positions of the other modality to read.
# `GatedMultimodalUnit`: a sigmoid gate computed from both modalities mixes their projections,
# unit by unit. `FiLM`: one modality computes a per-channel scale and shift for the other's
# feature maps.


def _check_last_dim(name: str, x: torch.Tensor, shape: str, width: int) -> torch.Tensor:
    """A floating-point tensor whose last axis has ``width`` entries (rank from ``shape``)."""
    if check_tensor(name, x, shape, dtype="float").shape[-1] != width:
        raise ValueError(f"{name} must have shape {shape[:shape.rfind(',') + 1]} {width}), got {tuple(x.shape)}")
    return x


class CrossAttention(nn.Module):
    """Cross-modal attention: queries from one modality, keys and values from another.

    ``CrossAttention(query_dim, context_dim, dim, heads=1)`` maps queries (B, T_q, query_dim),
    e.g. a question, and a context (B, T_k, context_dim), e.g. an image's feature-map
    positions, to ``(out, weights)``: ``out`` (B, T_q, dim) and the attention ``weights``
    (B, heads, T_q, T_k), each row a distribution over the context positions. With
    ``q = W_q x``, ``k = W_k c``, ``v = W_v c`` split into ``heads`` heads of width
    ``dim / heads``: ``out = W_o concat_h softmax(q_h k_h^T / sqrt(dim / heads)) v_h``.
    ``context_mask`` (B, T_k) is True on real positions; masked ones get weight exactly 0.
    """

    def __init__(self, query_dim: int, context_dim: int, dim: int, heads: int = 1) -> None:
        super().__init__()
        self.query_dim = check_int("query_dim", query_dim, min=1)
        self.context_dim = check_int("context_dim", context_dim, min=1)
        self.dim, self.heads = check_int("dim", dim, min=1), check_int("heads", heads, min=1)
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads, got dim={dim} and heads={heads}")
        self.q = nn.Linear(query_dim, dim)
        self.k = nn.Linear(context_dim, dim)
        self.v = nn.Linear(context_dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, queries: torch.Tensor, context: torch.Tensor,
                context_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T_q, query_dim), (B, T_k, context_dim) -> out (B, T_q, dim), weights (B, heads, T_q, T_k)."""
        _check_last_dim("queries", queries, "(B, T_q, query_dim)", self.query_dim)
        _check_last_dim("context", context, "(B, T_k, context_dim)", self.context_dim)
        if queries.shape[0] != context.shape[0]:  # the head reshape below would mix up the batch
            raise ValueError(f"queries and context must have the same batch size, got {queries.shape[0]} "
                             f"and {context.shape[0]}")
        B, Tq, Tk, h = queries.shape[0], queries.shape[1], context.shape[1], self.heads
        split = lambda x, T: x.view(B, T, h, self.dim // h).transpose(1, 2)  # noqa: E731  (B, T, dim) -> (B, h, T, d)
        q, k, v = split(self.q(queries), Tq), split(self.k(context), Tk), split(self.v(context), Tk)
        out, weights = _attention(q, k, v, context_mask)  # (B, h, T_q, d), (B, h, T_q, T_k)
        return self.out(out.transpose(1, 2).reshape(B, Tq, self.dim)), weights  # (B, T_q, dim)


class GatedMultimodalUnit(nn.Module):
    """The gated multimodal unit (Arevalo et al., 2017) of two modalities a and b.

    ``h = z * tanh(W_a a) + (1 - z) * tanh(W_b b)`` with the gate
    ``z = sigmoid(W_z [a; b])`` in (0, 1), one per output unit: (B, D_a), (B, D_b) ->
    (B, out_dim). ``z`` near 1 takes unit j from a, near 0 from b; since it is computed from
    both inputs, the model can learn to trust whichever modality is reliable for this example.
    ``forward(a, b, return_gate=True)`` also returns ``z`` (B, out_dim).
    """

    def __init__(self, in_dims: Sequence[int], out_dim: int) -> None:
        super().__init__()
        if isinstance(in_dims, (str, bytes)) or not isinstance(in_dims, Sequence):
            raise TypeError(f"in_dims must be a sequence of two ints (D_a, D_b), got {type(in_dims).__name__}")
        if len(in_dims) != 2:
            raise ValueError(f"in_dims must name exactly two modalities (D_a, D_b), got {list(in_dims)!r}")
        self.in_dims = tuple(check_int(f"in_dims[{m}]", d, min=1) for m, d in enumerate(in_dims))
        self.out_dim = check_int("out_dim", out_dim, min=1)
        self.proj_a = nn.Linear(self.in_dims[0], self.out_dim)
        self.proj_b = nn.Linear(self.in_dims[1], self.out_dim)
        self.gate = nn.Linear(sum(self.in_dims), self.out_dim)

    def forward(self, a: torch.Tensor, b: torch.Tensor,
                return_gate: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, D_a), (B, D_b) -> h (B, out_dim), or (h, z) with ``return_gate=True``."""
        _check_last_dim("a", a, "(B, D_a)", self.in_dims[0])
        _check_last_dim("b", b, "(B, D_b)", self.in_dims[1])
        z = torch.sigmoid(self.gate(torch.cat([a, b], dim=-1)))  # (B, out_dim); torch reports unequal batches
        h = z * torch.tanh(self.proj_a(a)) + (1 - z) * torch.tanh(self.proj_b(b))  # (B, out_dim)
        return (h, z) if return_gate else h


class FiLM(nn.Module):
    """Feature-wise linear modulation (Perez et al., 2018): condition feature maps on a vector.

    ``FiLM(cond_dim, channels)`` maps features (B, C, ...) (e.g. an image's feature maps
    (B, C, H, W)) and a conditioning vector (B, cond_dim) (e.g. a question) to
    ``gamma * features + beta`` of the same shape, with one scale and one shift per channel,
    ``[delta_gamma; beta] = W c + b`` and ``gamma = 1 + delta_gamma``: the layer starts near the
    identity when ``W`` and ``b`` are small. ``film_params(cond)`` returns (gamma, beta), each (B, C).
    """

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.cond_dim = check_int("cond_dim", cond_dim, min=1)
        self.channels = check_int("channels", channels, min=1)
        self.linear = nn.Linear(self.cond_dim, 2 * self.channels)

    def film_params(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, cond_dim) -> gamma (B, C), beta (B, C)."""
        _check_last_dim("cond", cond, "(B, cond_dim)", self.cond_dim)
        delta_gamma, beta = self.linear(cond).chunk(2, dim=-1)  # 2 x (B, C)
        return 1 + delta_gamma, beta

    def forward(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """(B, C, ...), (B, cond_dim) -> (B, C, ...)."""
        features = check_tensor("features", features, dtype="float")
        if features.ndim < 2 or features.shape[1] != self.channels:
            raise ValueError(f"features must have shape (B, {self.channels}, ...), got {tuple(features.shape)}")
        gamma, beta = self.film_params(cond)  # (B, C) each
        if cond.shape[0] != features.shape[0]:  # broadcasting would pair a batch of 1 with every sample
            raise ValueError(f"cond must have one row per sample of features ({features.shape[0]}), "
                             f"got shape {tuple(cond.shape)}")
        shape = (*gamma.shape, *[1] * (features.ndim - 2))  # (B, C, 1, 1) for maps
        return gamma.view(shape) * features + beta.view(shape)


__all__ = [
    "ConcatFusion",
    "CrossAttention",
    "FiLM",
    "FusionClassifier",
    "GatedMultimodalUnit",
    "LateFusion",
    "LowRankFusion",
    "ProductFusion",
    "SumFusion",
    "TensorFusion",
    "unregistered_tensors",
]
