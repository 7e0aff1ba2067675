"""Metrics that summarize a batch, or a whole evaluation, in one number.

Each metric returns a 0-d float tensor on the device of its input and never waits for the GPU,
so it can run inside every training step; ``float(acc)`` reads it, and the Trainer reads its
running means once per epoch. :class:`RunningMean` is the mean over batches that the Trainer
keeps, each batch weighted by its size.

Beside them, the evaluation metrics of the applications: retrieval's Recall@K (``recall_at_k``,
``retrieval_recalls``) for *Aligning text and images*, and the edit distance with word and
character error rates for *Speech to text, and across languages*; these summarize a whole test
set and return Python floats where their docstrings say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ._checks import check_int, check_tensor

__all__ = [
    "RunningMean",
    "accuracy",
    "all_reduce_means",
    "character_error_rate",
    "edit_distance",
    "error_rate",
    "recall_at_k",
    "retrieval_recalls",
    "topk_accuracy",
    "word_error_rate",
]


def _check_labels(target: torch.Tensor) -> torch.Tensor:
    target = check_tensor("target", target, dtype="int")
    if target.ndim == 0 or target.numel() == 0:
        raise ValueError(f"target must hold class labels of shape (B,) with B > 0, got shape {tuple(target.shape)}")
    return target


def _nan_unless_classes(value: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``value``, or NaN when a target is not a class id in [0, n_classes), decided on the device."""
    valid = ((target >= 0) & (target < n_classes)).all()
    return torch.where(valid, value, torch.full_like(value, float("nan")))


def accuracy(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of predictions equal to ``target``, a 0-d float tensor.

    ``out`` is either logits (B, C) for labels ``target`` (B,), the prediction being the
    arg-max over the last axis ((B, T, C) with (B, T) works the same way), or predicted labels
    with exactly the target's shape. One logit per example is a binary classifier: threshold
    it first, ``accuracy(logits > 0, y)``. A target that is not a class id in [0, C) makes the
    result NaN, so that a wrong label set shows instead of counting as a miss (checked on the
    device: no GPU sync).
    """
    target = _check_labels(target)
    out = check_tensor("out", out)
    if out.shape == target.shape:
        if out.is_floating_point():
            raise TypeError("out has the target's shape, so it must hold labels, got floating-point values; "
                            "for one logit per example threshold first: accuracy(logits > 0, y)")
        return (out == target.to(out.device)).float().mean()
    if out.shape[:-1] != target.shape:
        raise ValueError(f"out must be logits of shape {(*target.shape, 'C')} or labels of shape "
                         f"{tuple(target.shape)} to match target, got {tuple(out.shape)}")
    if out.shape[-1] < 2:
        raise ValueError("out has one logit per example: that is a binary classifier, threshold it "
                         "first: accuracy(logits.squeeze(-1) > 0, y)")
    target = target.to(out.device)
    value = (out.argmax(dim=-1) == target).float().mean()
    return _nan_unless_classes(value, target, out.shape[-1])


def topk_accuracy(out: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    """Fraction of examples whose target is among the ``k`` highest logits, a 0-d float tensor.

    ``out``: logits (B, C); ``target``: labels (B,); ``1 <= k <= C``. A target outside [0, C)
    makes the result NaN, as in :func:`accuracy`.
    """
    target = _check_labels(target)
    out = check_tensor("out", out, "(B, C)", dtype="float")
    if target.shape != out.shape[:1]:
        raise ValueError(f"target must have shape ({out.shape[0]},) to match out, got {tuple(target.shape)}")
    k = check_int("k", k, min=1, max=out.shape[1])
    target = target.to(out.device)
    top = out.topk(k, dim=-1).indices  # (B, k)
    value = (top == target.unsqueeze(-1)).any(dim=-1).float().mean()
    return _nan_unless_classes(value, target, out.shape[1])


class RunningMean:
    """A mean over many batches, each weighted by its size.

    ``update(batch_mean, n)`` adds a batch of ``n`` items; ``value`` is the mean so far.
    Tensors are summed on their own device without ``.item()``, so updating never waits for
    the GPU; reading ``value`` does, once. Weighting by the batch size matters: the mean of
    batch means is wrong when the last batch is smaller.
    """

    def __init__(self) -> None:
        self.total: float | torch.Tensor = 0.0
        self.count = 0

    def update(self, value: float | torch.Tensor, n: int = 1) -> None:
        """Add a batch whose mean is ``value`` (a number or a one-element tensor) and whose size is ``n``."""
        n = check_int("n", n, min=1)
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"value must be a number or a one-element tensor, got shape {tuple(value.shape)}")
            v = value.detach().reshape(())
            if not isinstance(self.total, torch.Tensor) or self.total.device != v.device:
                self.total = torch.as_tensor(self.total, dtype=torch.float32).to(v.device)  # once
            self.total.add_(v, alpha=n)  # on the device, in float32 whatever v's dtype
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self.total = self.total + float(value) * n
        else:
            raise TypeError(f"value must be a number or a one-element tensor, got {type(value).__name__}")
        self.count += n

    @property
    def value(self) -> float:
        """The weighted mean so far (NaN before the first update)."""
        return float(self.total) / self.count if self.count else float("nan")

    def reset(self) -> None:
        """Forget everything seen so far."""
        self.total, self.count = 0.0, 0

    def state_dict(self) -> dict:
        """The running sums, for checkpoints."""
        total = self.total.detach().cpu().clone() if isinstance(self.total, torch.Tensor) else self.total
        return {"total": total, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        """Restore the running sums saved by :meth:`state_dict`."""
        if not isinstance(state, dict) or set(state) != {"total", "count"}:
            raise ValueError(f"state must be a dict with the keys 'total' and 'count', got {state!r}")
        total = state["total"]
        self.total = total.clone() if isinstance(total, torch.Tensor) else float(total)
        self.count = check_int("state['count']", state["count"], min=0)

    def __repr__(self) -> str:
        return f"RunningMean(value={self.value:.4g}, count={self.count})"


def all_reduce_means(sums: Sequence[tuple[float | torch.Tensor, int]], device: torch.device | str,
                     group: Any = None) -> list[float]:
    """Means over every process of ``(total, count)`` pairs, such as a RunningMean's.

    Each pair's totals and counts are summed over the processes of ``group`` (default: all)
    in one ``all_reduce`` on ``device`` (the backend's: a GPU for NCCL, the CPU for gloo), then
    divided: the mean over all examples, NaN where no process saw any. Every process must
    call it (it communicates).
    """
    pairs = torch.tensor([[float(total), count] for total, count in sums], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(pairs, group=group)  # (len(sums), 2): totals and counts over processes
    return [total / count if count else float("nan") for total, count in pairs.tolist()]


# ----- retrieval -----
# (chapter: Aligning text and images: contrastive learning and CLIP)


def recall_at_k(similarity: torch.Tensor, k: int, relevant: torch.Tensor | None = None) -> torch.Tensor:
    """Recall@K of retrieval: the fraction of queries with a relevant item among their top ``k``, 0-d.

    ``similarity`` (Q, G) scores every query (a row) against every item of the gallery;
    ``relevant`` (Q, G) bool marks the right items of each query (default: the diagonal, item i
    for query i, which needs Q == G). Image-to-text retrieval is ``similarity = image_emb @
    text_emb.T``; text-to-image is its transpose (and ``relevant.T``). A query without any
    relevant item counts as a miss.
    """
    similarity = check_tensor("similarity", similarity, "(Q, G)", dtype="float", nonempty=True)
    Q, G = similarity.shape
    k = check_int("k", k, min=1, max=G)
    if relevant is None:
        if Q != G:
            raise ValueError(f"similarity must be square when relevant is not given (item i is query i's), got {(Q, G)}")
        relevant = torch.eye(Q, dtype=torch.bool, device=similarity.device)
    relevant = check_tensor("relevant", relevant, "(Q, G)", dtype="bool")
    if relevant.shape != similarity.shape:
        raise ValueError(f"relevant must have the shape of similarity {(Q, G)}, got {tuple(relevant.shape)}")
    top = similarity.topk(k, dim=1).indices  # (Q, k)
    return relevant.to(similarity.device).gather(1, top).any(dim=1).float().mean()


def retrieval_recalls(image_emb: torch.Tensor, text_emb: torch.Tensor, ks: tuple[int, ...] = (1, 5, 10),
                      relevant: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Recall@K both ways: ``{"i2t@1": ..., "t2i@1": ..., ...}``, each a 0-d tensor.

    ``image_emb`` (N, E) and ``text_emb`` (M, E) are embeddings (cosine if normalized);
    ``relevant`` (N, M) bool marks the captions that fit each image (default: caption i for
    image i). Image-to-text ranks the captions of each image, text-to-image the images of
    each caption.
    """
    image_emb = check_tensor("image_emb", image_emb, "(N, E)", dtype="float", nonempty=True)
    text_emb = check_tensor("text_emb", text_emb, "(M, E)", dtype="float", nonempty=True)
    if image_emb.shape[1] != text_emb.shape[1]:
        raise ValueError(f"image_emb and text_emb must have the same width, got {image_emb.shape[1]} and {text_emb.shape[1]}")
    similarity = image_emb @ text_emb.T  # (N, M)
    rel_t = None if relevant is None else relevant.T
    out = {}
    for k in ks:
        out[f"i2t@{k}"] = recall_at_k(similarity, k, relevant)
        out[f"t2i@{k}"] = recall_at_k(similarity.T, k, rel_t)
    return out


# ----- error rates -----
# (chapter: Speech to text, and across languages)
# Transcripts are lists of tokens of different lengths, read on the CPU after decoding: these
# return Python numbers, not tensors.


def edit_distance(reference: list | tuple | str, hypothesis: list | tuple | str) -> int:
    """Levenshtein distance: the fewest substitutions, deletions and insertions that turn
    ``hypothesis`` into ``reference`` (sequences of tokens, or strings of characters).

    Dynamic programming row by row: ``d[i][j]`` is the distance between the first ``i``
    reference tokens and the first ``j`` hypothesis tokens, O(len(ref) * len(hyp)).
    """
    for name, value in (("reference", reference), ("hypothesis", hypothesis)):
        if not isinstance(value, (list, tuple, str)):
            raise TypeError(f"{name} must be a list, tuple or str of tokens, got {type(value).__name__}")
    previous = list(range(len(hypothesis) + 1))  # d[0][j] = j insertions
    for i, ref_token in enumerate(reference, start=1):
        current = [i]  # d[i][0] = i deletions
        for j, hyp_token in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1,  # reference token deleted
                               current[j - 1] + 1,  # hypothesis token inserted
                               previous[j - 1] + (ref_token != hyp_token)))  # substituted (or kept)
        previous = current
    return previous[-1]


def error_rate(references: list, hypotheses: list) -> float:
    """Total edit distance over total reference length: sum_i d(ref_i, hyp_i) / sum_i len(ref_i).

    The corpus-level rate speech recognition reports (it can exceed 1 when a hypothesis
    inserts much). ``references`` and ``hypotheses`` are equally long lists of token sequences.
    """
    for name, value in (("references", references), ("hypotheses", hypotheses)):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list of token sequences, got {type(value).__name__}")
    if len(references) != len(hypotheses):
        raise ValueError(f"references and hypotheses must have the same length, got {len(references)} "
                         f"and {len(hypotheses)}")
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("references must hold at least one token (the rate divides by their total length)")
    return sum(edit_distance(r, h) for r, h in zip(references, hypotheses)) / total


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """WER: :func:`error_rate` over the whitespace-separated words of each text."""
    if any(not isinstance(t, str) for t in [*references, *hypotheses]):
        raise TypeError("references and hypotheses must be lists of str")
    return error_rate([r.split() for r in references], [h.split() for h in hypotheses])


def character_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """CER: :func:`error_rate` over the characters of each text (spaces included)."""
    if any(not isinstance(t, str) for t in [*references, *hypotheses]):
        raise TypeError("references and hypotheses must be lists of str")
    return error_rate(list(references), list(hypotheses))
