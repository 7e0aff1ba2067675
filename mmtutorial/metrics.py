"""Metrics that summarise a batch or a whole evaluation in one number.

Accuracy (Chapter 01's probes) and the running mean the Trainer uses; later chapters
add retrieval (recall@K), speech (WER) and F1 here.
"""

from __future__ import annotations

from typing import Any

import torch


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a tensor or array-like, got {type(x).__name__}") from None


def accuracy(out: Any, target: Any) -> float:
    """Fraction of predictions equal to ``target``.

    ``out`` is either logits of shape (B, C) for a target of shape (B,) (the
    prediction is the arg-max over the last axis; (B, T, C) with (B, T) works the
    same way) or predicted labels with exactly the target's shape. For one binary
    logit per example, threshold first: ``accuracy(logits > 0, y)``.
    """
    out, target = _as_tensor(out, "out"), _as_tensor(target, "target")
    if target.ndim == 0 or target.numel() == 0:
        raise ValueError(f"target must have shape (B,) with B > 0, got {tuple(target.shape)}")
    if out.shape == target.shape:
        pred = out  # (B,) labels
    elif out.ndim == target.ndim + 1 and out.shape[:-1] == target.shape:
        pred = out.argmax(dim=-1)  # (B, C) -> (B,)
    else:
        raise ValueError(
            f"out must be logits of shape {(*target.shape, 'C')} or labels of shape "
            f"{tuple(target.shape)} to match target, got {tuple(out.shape)}"
        )
    return (pred == target.to(pred.device)).float().mean().item()


def topk_accuracy(out: Any, target: Any, k: int) -> float:
    """Fraction of examples whose target is among the ``k`` highest logits.

    ``out``: logits (B, C); ``target``: labels (B,); ``1 <= k <= C``.
    """
    out, target = _as_tensor(out, "out"), _as_tensor(target, "target")
    if out.ndim != 2 or out.shape[0] == 0:
        raise ValueError(f"out must be logits of shape (B, C) with B > 0, got {tuple(out.shape)}")
    if target.shape != out.shape[:1]:
        raise ValueError(f"target must have shape ({out.shape[0]},) to match out, got {tuple(target.shape)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= out.shape[1]:
        raise ValueError(f"k must be an int in [1, C={out.shape[1]}], got {k!r}")
    top = out.topk(k, dim=-1).indices  # (B, k)
    hit = (top == target.to(top.device).unsqueeze(-1)).any(dim=-1)  # (B,)
    return hit.float().mean().item()


class RunningMean:
    """A mean over many batches, each weighted by its size.

    ``update(batch_mean, n)`` adds a batch of ``n`` items; ``value`` is the mean so
    far. Tensors are summed on their own device without ``.item()``, so updating
    never waits for the GPU. Weighting by the batch size matters: an average of batch
    means is wrong when the last batch is smaller.
    """

    def __init__(self) -> None:
        self.total: float | torch.Tensor = 0.0
        self.count = 0

    def update(self, value: float | torch.Tensor, n: int = 1) -> None:
        """Add a batch whose mean is ``value`` (a number or a one-element tensor) and size is ``n``."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(
                    f"value must be a number or a one-element tensor, got shape {tuple(value.shape)}"
                )
            v = value.detach().reshape(())
            if not isinstance(self.total, torch.Tensor):
                self.total = v.float() * n + self.total
            else:
                if self.total.device != v.device:
                    self.total = self.total.to(v.device)
                self.total.add_(v, alpha=n)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(self.total, torch.Tensor):
                self.total.add_(float(value) * n)
            else:
                self.total += float(value) * n
        else:
            raise ValueError(f"value must be a number or a one-element tensor, got {type(value).__name__}")
        self.count += n

    @property
    def value(self) -> float:
        """The weighted mean so far (NaN before the first update)."""
        if self.count == 0:
            return float("nan")
        return float(self.total) / self.count

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
            raise ValueError(f"state must be a dict with keys 'total' and 'count', got {state!r}")
        total = state["total"]
        self.total = total.clone() if isinstance(total, torch.Tensor) else float(total)
        self.count = int(state["count"])

    def __repr__(self) -> str:
        return f"RunningMean(value={self.value:.4g}, count={self.count})"
