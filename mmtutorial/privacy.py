"""Membership inference: can an attacker tell which pairs a model was trained on?

The chapter *Tools, resources and where the field is going* over-fits a small
:class:`mmtutorial.clip.TinyCLIP` and attacks it with nothing but its own loss: pairs it was
trained on (members) get a lower contrastive loss than pairs it never saw (non-members), and
a threshold on that loss tells them apart. Three small functions measure it:

- `per_pair_clip_loss`: the symmetric contrastive loss of each pair of a pool, one number per
  pair, whose mean is :func:`mmtutorial.losses.clip_loss`; its negative is the attack's score.
- `roc_auc`: the area under the ROC curve of a score that should be higher for members, the
  probability that a random member outscores a random non-member (ties count half): 0.5 is
  chance, 1 a perfect attack.
- `tpr_at_fpr`: the share of members caught when at most a given share of non-members is
  wrongly accused, the low-error operating point that Carlini et al. (2022) argue matters.
"""

from __future__ import annotations

import torch

from ._checks import check_number, check_tensor
from .losses import info_nce

__all__ = ["per_pair_clip_loss", "roc_auc", "tpr_at_fpr"]


def per_pair_clip_loss(logits: torch.Tensor) -> torch.Tensor:
    """The symmetric contrastive loss of each pair: (B, B) logits -> (B,).

    ``logits[i, j]`` scores image i against caption j (what TinyCLIP returns, here over a
    whole pool of pairs rather than a training batch), the diagonal holding the true pairs.
    Pair i's loss is the mean of its two cross-entropies, over its row and over its column:
    ``(lse_j L[i, j] - L[i, i] + lse_j L[j, i] - L[i, i]) / 2``, so that the mean over i is
    ``clip_loss(logits)``: :func:`mmtutorial.losses.info_nce` per row, of the rows and of the
    columns. Half-precision logits are computed in float32.
    """
    return (info_nce(logits, reduction="none") + info_nce(logits.T, reduction="none")) / 2  # (B,): row and column


def _check_scores(scores: torch.Tensor, is_member: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scores = check_tensor("scores", scores, "(N,)", dtype="float", nonempty=True)
    is_member = check_tensor("is_member", is_member, "(N,)", dtype="bool")
    if is_member.shape != scores.shape:
        raise ValueError(f"is_member must have one entry per score ({scores.shape[0]}), got {is_member.shape[0]}")
    if bool(is_member.all()) or not bool(is_member.any()):
        raise ValueError("is_member must hold both members (True) and non-members (False)")
    if not bool(torch.isfinite(scores).all()):
        raise ValueError("scores must be finite (a NaN or infinity has no rank)")
    return scores.double(), is_member


def roc_auc(scores: torch.Tensor, is_member: torch.Tensor) -> torch.Tensor:
    """Area under the ROC curve of ``scores`` (N,) for the labels ``is_member`` (N,) bool: 0-d float64.

    It equals the probability that a randomly drawn member scores higher than a randomly drawn
    non-member, ties counting one half (the Mann-Whitney statistic divided by
    ``n_members * n_non_members``), computed from average ranks in O(N log N). 0.5 is chance,
    1 means every member outscores every non-member, 0 the reverse. ValueError unless both
    classes are present and every score is finite.
    """
    scores, is_member = _check_scores(scores, is_member)
    order = scores.argsort()
    _, group, counts = torch.unique_consecutive(scores[order], return_inverse=True, return_counts=True)
    mean_rank = counts.cumsum(0).double() - (counts.double() - 1) / 2  # 1-based average rank of each tie group
    ranks = torch.empty_like(scores)
    ranks[order] = mean_rank[group]  # (N,)
    n_pos = is_member.sum().double()
    n_neg = (~is_member).sum().double()
    return (ranks[is_member].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def tpr_at_fpr(scores: torch.Tensor, is_member: torch.Tensor, fpr: float = 0.01) -> torch.Tensor:
    """The true-positive rate at a false-positive rate of at most ``fpr``: 0-d float64.

    The threshold is the lowest that accuses at most ``floor(fpr * n_non_members)``
    non-members (a member is accused when its score is strictly above it); the result is the
    share of members above it. ``fpr`` in [0, 1].
    """
    scores, is_member = _check_scores(scores, is_member)
    fpr = check_number("fpr", fpr, min=0, max=1)
    negatives = scores[~is_member].sort(descending=True).values  # (n_neg,)
    allowed = int(fpr * len(negatives))  # how many non-members may score above the threshold
    threshold = negatives[allowed] if allowed < len(negatives) else negatives.new_tensor(float("-inf"))
    return (scores[is_member] > threshold).double().mean()
