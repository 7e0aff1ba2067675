"""Losses written from their equations: cross-entropy, binary cross-entropy, multi-task weights.

The chapter *The mathematical model and its losses* derives each of these from maximum
likelihood, checks its gradient against autograd and shows why the stable forms are needed;
the functions here are the versions the book uses from then on. Each one reads like its
equation and agrees with PyTorch's own (``torch.logsumexp``, ``F.cross_entropy``,
``F.binary_cross_entropy_with_logits``), extreme logits included.

Multi-task losses arrive as a dict ``{"image": L_image, "tone": L_tone, ...}`` of 0-d tensors,
so a fixed weighting (:class:`WeightedLoss`) and a learned one (:class:`UncertaintyWeighting`)
are interchangeable in a training loop. A contrastive loss (InfoNCE, CLIP) is a cross-entropy
over a similarity matrix and builds on :func:`cross_entropy`.

These functions run inside every training step, on a GPU too, so their checks look at shapes
and dtypes only, which costs no GPU synchronization. The two exceptions read the values of the
targets once (one synchronization each), because a wrong target gives a wrong loss silently
(BCE) or a device-side assert that kills the CUDA context (an out-of-range class index).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ._checks import check_choice, check_int, check_number, check_tensor, check_type

REDUCTIONS = ("mean", "sum", "none")

# exp(s) and exp(-s) of a log-variance stay finite and nonzero in float32 for |s| <= 88
# (log of the largest float32 is 88.72...).
_MAX_LOG_VAR = 88.0


def _check_reduction(reduction: object, target: torch.Tensor) -> str:
    reduction = check_choice("reduction", reduction, REDUCTIONS)
    if reduction == "mean" and target.numel() == 0:  # 0 / 0: a NaN loss and NaN gradients
        raise ValueError(f"target must not be empty with reduction='mean', got {tuple(target.shape)}")
    return reduction


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    # exp, log and sums lose too much in 16 bits; PyTorch's losses upcast under autocast too.
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _reduce(losses: torch.Tensor, reduction: str, count: torch.Tensor | int | None = None) -> torch.Tensor:
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / (losses.numel() if count is None else count)


def log_sum_exp(x: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """``log(sum_k exp(x_k))`` along ``dim``, without overflow.

    With ``m = max_k x_k``: ``log sum_k exp(x_k) = m + log sum_k exp(x_k - m)``. Every
    exponent is then <= 0, so nothing overflows, and the largest term is exactly 1, so the
    logarithm never sees 0. ``m`` is treated as a constant for autograd (it cancels
    mathematically), which makes the gradient exactly ``softmax(x)``.
    ``x``: a floating-point tensor of any shape with at least one element along ``dim``.
    Same result as ``torch.logsumexp``, infinities and NaN included: a row of ``-inf`` gives
    ``-inf``, a ``+inf`` gives ``+inf``, a NaN gives NaN.
    """
    x = check_tensor("x", x, dtype="float")
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension, got a 0-d tensor")
    dim = check_int("dim", dim, min=-x.ndim, max=x.ndim - 1)
    if x.shape[dim] == 0:
        raise ValueError(f"x must have at least one element along dim={dim}, got shape {tuple(x.shape)}")
    m = x.detach().amax(dim=dim, keepdim=True)  # (..., 1, ...)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # rows of -inf (or +inf): shift by 0
    out = m + torch.log(torch.exp(x - m).sum(dim=dim, keepdim=True))
    return out if keepdim else out.squeeze(dim)


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_index: int | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Negative log-likelihood of class labels under ``softmax(logits)``.

    ``loss_i = log_sum_exp(z_i) - z_{i, y_i}``: the softmax never appears explicitly, so the
    loss is finite for any finite logits.

    Shapes: ``logits`` (B, C) and ``target`` (B,) of integers in [0, C); more generally
    ``logits`` (..., C) with the classes LAST and ``target`` of shape ``logits.shape[:-1]``,
    e.g. (B, T, V) logits for (B, T) caption tokens. (``F.cross_entropy`` puts the classes in
    dim 1; for 2-D logits the two agree.) For a contrastive loss, the logits are a (B, B)
    similarity matrix and the target is ``arange(B)``. A target outside [0, C) raises
    ValueError (this check reads the targets: one GPU synchronization per call).

    ``ignore_index``: targets equal to it (e.g. padding) add nothing, and ``"mean"`` averages
    over the others only; if every target is ignored, ``"mean"`` is NaN (0 / 0), as with
    ``F.cross_entropy``. ``reduction``: ``"mean"`` (default; an empty batch raises ValueError),
    ``"sum"`` or ``"none"`` (one loss per target). Half-precision logits are computed in float32.
    """
    logits = _at_least_float32(check_tensor("logits", logits, dtype="float"))
    if logits.ndim < 1 or logits.shape[-1] == 0:
        raise ValueError(f"logits must have shape (..., C) with C >= 1 classes, got {tuple(logits.shape)}")
    target = check_tensor("target", target, dtype="int")
    if target.shape != logits.shape[:-1]:
        raise ValueError(
            f"target must have shape {tuple(logits.shape[:-1])} to match logits {tuple(logits.shape)}, "
            f"got {tuple(target.shape)}"
        )
    if ignore_index is not None:
        ignore_index = check_int("ignore_index", ignore_index)
    reduction = _check_reduction(reduction, target)
    n_classes = logits.shape[-1]
    valid = None if ignore_index is None else target != ignore_index  # (...)
    out_of_range = (target < 0) | (target >= n_classes)  # (...)
    if valid is not None:
        out_of_range &= valid
    # The one synchronization: an index outside [0, C) would make gather fail on the CPU and
    # trigger a device-side assert on a GPU, which leaves the CUDA context unusable.
    if bool(out_of_range.any()):
        checked = target if valid is None else target[valid]
        raise ValueError(
            f"target must hold class indices in [0, {n_classes - 1}]"
            + ("" if ignore_index is None else f" or ignore_index={ignore_index}")
            + f", got values in [{int(checked.min())}, {int(checked.max())}]"
        )
    safe = target if valid is None else torch.where(valid, target, torch.zeros_like(target))
    picked = logits.gather(-1, safe.long().unsqueeze(-1)).squeeze(-1)  # (...): z_{i, y_i}
    losses = log_sum_exp(logits, dim=-1) - picked  # (...)
    if valid is None:
        return _reduce(losses, reduction)
    losses = torch.where(valid, losses, torch.zeros_like(losses))
    return _reduce(losses, reduction, count=valid.sum())


def binary_cross_entropy_with_logits(
    logits: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """Binary cross-entropy of targets in [0, 1] under ``p = sigmoid(logits)``.

    ``-[t log p + (1 - t) log(1 - p)] = max(z, 0) - t z + log(1 + exp(-|z|))``: the exponent
    is never positive, so the loss is finite and exact for any finite logit ``z``, where the
    textbook form returns ``inf`` or ``nan`` once ``sigmoid(z)`` rounds to 0 or 1. Its
    gradient is ``sigmoid(z) - t``, also at ``z = 0``.
    ``logits`` and ``target``: the same shape (e.g. (B,) or (B, K) for K binary labels);
    soft targets in [0, 1] are allowed, labels may be floats, integers or bools. A target
    outside [0, 1] or NaN raises ValueError (this check reads the targets: one GPU
    synchronization per call). ``reduction``: ``"mean"`` (default; an empty batch raises
    ValueError), ``"sum"`` or ``"none"``. Half-precision logits are computed in float32.
    """
    logits = _at_least_float32(check_tensor("logits", logits, dtype="float"))
    target = check_tensor("target", target)
    if target.shape != logits.shape:  # t * z would broadcast silently
        raise ValueError(f"target must have the shape of logits {tuple(logits.shape)}, got {tuple(target.shape)}")
    reduction = _check_reduction(reduction, target)
    target = target.to(logits.dtype)  # labels 0/1 may arrive as integers or bools
    # The one synchronization: a target outside [0, 1] gives a wrong (even negative) loss silently.
    if not bool(((target >= 0) & (target <= 1)).all()):
        raise ValueError(f"target must hold values in [0, 1], got values in [{float(target.min())}, {float(target.max())}]")
    positive = logits >= 0
    # |z| and max(z, 0) take the same branch at z = 0, so autograd gives sigmoid(0) - t = 0.5 - t there.
    abs_z = torch.where(positive, logits, -logits)
    relu_z = torch.where(positive, logits, torch.zeros_like(logits))
    losses = relu_z - target * logits + torch.log1p(torch.exp(-abs_z))
    return _reduce(losses, reduction)


# ---------------------------------------------------------------------- several losses at once


def _check_losses(losses: object, names: Sequence[str]) -> None:
    # Keys and shapes only: checking the values for NaN would synchronize the GPU every step.
    check_type("losses", losses, Mapping, "a dict of name -> 0-d tensor")
    if set(losses) != set(names):
        missing, extra = sorted(set(names) - set(losses)), sorted(set(losses) - set(names))
        raise ValueError(f"losses must have exactly the keys {sorted(names)}: missing {missing}, unexpected {extra}")
    for name in names:
        check_tensor(f"losses[{name!r}]", losses[name], "()")  # a 0-d batch mean


def _check_weights(weights: object) -> dict[str, float]:
    check_type("weights", weights, Mapping, "a dict of name -> number >= 0")
    if not weights:
        raise ValueError("weights must name at least one loss, got {}")
    checked = {}
    for name, w in weights.items():
        if isinstance(w, torch.Tensor) and w.numel() == 1:
            w = w.item()  # a tensor weight is read here (a synchronization); pass numbers in a loop
        checked[name] = check_number(f"weights[{name!r}]", w, min=0)
    if not any(checked.values()):  # every term switched off: a constant loss that trains nothing
        raise ValueError(f"weights must not all be 0, got {weights!r}")
    return checked


def weighted_sum(losses: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """``sum_k w_k L_k`` over the names of ``weights``.

    ``losses`` and ``weights`` must have the same keys; each loss a 0-d tensor, each weight a
    finite number >= 0 (0 switches a term off, but not every term). Example:
    ``weighted_sum({"image": Li, "tone": Lt, "fused": Lf}, {"image": 0.5, "tone": 0.5, "fused": 1.0})``.
    """
    weights = _check_weights(weights)
    _check_losses(losses, list(weights))
    return sum(w * losses[name] for name, w in weights.items())  # type: ignore[return-value]


class WeightedLoss(nn.Module):
    """Fixed loss weights as a module: ``WeightedLoss(weights)(losses) = sum_k w_k L_k``.

    It has the interface of :class:`UncertaintyWeighting`, so the two swap in a training loop.
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        super().__init__()
        self.weights = _check_weights(weights)

    def forward(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return weighted_sum(losses, self.weights)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={w:g}" for k, w in self.weights.items())


class UncertaintyWeighting(nn.Module):
    """Loss weights learned as task uncertainties, Kendall, Gal and Cipolla (2018).

    ``L = sum_k [ L_k / (2 sigma_k^2) + log sigma_k ] = sum_k [ exp(-s_k) L_k / 2 + s_k / 2 ]``
    with one learned log-variance ``s_k = log sigma_k^2`` per task (``self.log_vars``, shape
    (K,), initialized to ``init_log_var``, a finite number with ``|init_log_var| <= 88`` so
    that ``exp(s_k)`` and ``exp(-s_k)`` are finite in float32). For fixed ``L_k`` the minimum over ``s_k`` is at
    ``sigma_k^2 = L_k``, so a task's effective weight ``1 / (2 sigma_k^2)`` settles near
    ``1 / (2 L_k)``. Train ``self.log_vars`` with the model (often with a larger learning rate).
    """

    def __init__(self, names: Sequence[str], init_log_var: float = 0.0) -> None:
        super().__init__()
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise TypeError(f"names must be a list of task names, got {type(names).__name__}")
        for i, n in enumerate(names):
            check_type(f"names[{i}]", n, str, "a str")
        if not names or not all(names) or len(set(names)) != len(names):
            raise ValueError(f"names must be one or more distinct non-empty strings, got {list(names)!r}")
        init_log_var = check_number("init_log_var", init_log_var, min=-_MAX_LOG_VAR, max=_MAX_LOG_VAR)
        self.names = tuple(names)
        self.log_vars = nn.Parameter(torch.full((len(names),), init_log_var))  # (K,): s_k

    def forward(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        _check_losses(losses, self.names)
        s = self.log_vars  # (K,)
        task_losses = torch.stack([losses[n].to(s.dtype) for n in self.names])  # (K,)
        return (0.5 * torch.exp(-s) * task_losses + 0.5 * s).sum()

    @property
    def variances(self) -> dict[str, float]:
        """The learned ``sigma_k^2 = exp(s_k)`` per task."""
        return dict(zip(self.names, self.log_vars.detach().exp().tolist()))

    @property
    def weights(self) -> dict[str, float]:
        """The effective weights ``1 / (2 sigma_k^2)`` that multiply each task's loss."""
        return {k: 0.5 / v for k, v in self.variances.items()}

    def extra_repr(self) -> str:
        return f"names={list(self.names)}"


# ----- contrastive alignment -----
# (chapter: Aligning text and images: contrastive learning and CLIP)


def info_nce(logits: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """InfoNCE of a (B, B) score matrix whose positives lie on the diagonal, the batch mean.

    Row i scores query i against every key; key i is its positive, the other B - 1 keys are
    negatives: ``loss_i = log_sum_exp_j(logits_ij) - logits_ii``, the cross-entropy with
    labels ``arange(B)``. Written with the diagonal instead of a label tensor, so nothing is
    read back from the GPU. Half-precision logits are computed in float32.
    ``reduction="none"`` returns the (B,) per-row losses, ``"sum"`` their sum.
    """
    logits = _at_least_float32(check_tensor("logits", logits, "(B, B)", dtype="float", nonempty=True))
    if logits.shape[0] != logits.shape[1]:
        raise ValueError(f"logits must be square (B, B), one positive per row on the diagonal, got {tuple(logits.shape)}")
    reduction = check_choice("reduction", reduction, REDUCTIONS)
    return _reduce(log_sum_exp(logits, dim=1) - logits.diagonal(), reduction)


def clip_loss(logits_per_image: torch.Tensor) -> torch.Tensor:
    """The symmetric contrastive loss of CLIP: the mean of InfoNCE over rows and over columns.

    ``logits_per_image`` (B, B) is ``scale * image_emb @ text_emb.T`` (what
    :class:`mmtutorial.clip.TinyCLIP` returns): rows classify the captions of each image,
    columns the images of each caption, the labels being ``arange(B)`` both ways.
    Equal to ``(F.cross_entropy(L, arange(B)) + F.cross_entropy(L.T, arange(B))) / 2``.
    """
    logits_per_image = check_tensor("logits_per_image", logits_per_image, "(B, B)", dtype="float", nonempty=True)
    if logits_per_image.shape[0] != logits_per_image.shape[1]:
        raise ValueError(f"logits_per_image must be square (B, B), got {tuple(logits_per_image.shape)}")
    return (info_nce(logits_per_image) + info_nce(logits_per_image.T)) / 2
