"""Metrics that summarize a batch, or a whole evaluation, in one number.

Each metric returns a 0-d float tensor on the device of its input and never waits for the GPU,
so it can run inside every training step; ``float(acc)`` reads it, and the Trainer reads its
running means once per epoch. :class:`RunningMean` is the mean over batches that the Trainer
keeps, each batch weighted by its size.
"""

from __future__ import annotations

import torch

from ._checks import check_int, check_tensor

__all__ = ["RunningMean", "accuracy", "topk_accuracy"]


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
