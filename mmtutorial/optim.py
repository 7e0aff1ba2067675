"""Learning-rate schedules and gradient norms: the helpers of *Optimization and the training loop*.

That chapter derives a linear warmup followed by a cosine decay, plots it, and builds it
here as a ``LambdaLR``; it also computes the global gradient norm that clipping uses.

The schedule is written for the ``s``-th optimizer step, counted from 1, with
``W = warmup_steps``, ``T = total_steps`` and ``r = min_lr_ratio``::

    factor(s) = s / W                                        for 1 <= s <= W
    factor(s) = r + (1 - r) * (1 + cos(pi * (s - W) / (T - W))) / 2   for W < s <= T
    factor(s) = r                                            for s > T

so the first step already learns (at ``lr / W``), step ``W`` reaches the peak ``lr``,
and step ``T`` ends at ``r * lr``. The scheduler is stepped once per optimizer step,
as :class:`~mmtutorial.train.Trainer` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

from ._checks import check_int, check_number, check_type

__all__ = ["warmup_cosine_factor", "WarmupCosine", "warmup_cosine", "global_grad_norm"]


def _check_schedule(warmup_steps: int, total_steps: int, min_lr_ratio: float) -> tuple[int, int, float]:
    """The three settings, checked together: 0 <= warmup_steps <= total_steps, min_lr_ratio in [0, 1]."""
    total_steps = check_int("total_steps", total_steps, min=1)
    warmup_steps = check_int("warmup_steps", warmup_steps, min=0, max=total_steps)
    return warmup_steps, total_steps, check_number("min_lr_ratio", min_lr_ratio, min=0, max=1)


def warmup_cosine_factor(
    step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0
) -> float:
    """The multiplier of the peak learning rate for optimizer step ``step`` (counted from 1).

    Linear warmup over ``warmup_steps`` steps, then a half cosine from the peak down to
    ``min_lr_ratio`` at ``total_steps``, constant afterwards (see the module docstring).
    The result always lies in ``[min_lr_ratio, 1]`` once the warmup is over, and in
    ``(0, 1]`` during it. *Optimization and the training loop* plots it and checks it at the
    key steps.
    """
    warmup_steps, total_steps, min_lr_ratio = _check_schedule(warmup_steps, total_steps, min_lr_ratio)
    step = check_int("step", step, min=1)  # optimizer steps count from 1
    if step <= warmup_steps:
        return step / warmup_steps
    if step >= total_steps:
        return min_lr_ratio
    progress = (step - warmup_steps) / (total_steps - warmup_steps)  # in (0, 1)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupCosine:
    """The ``lr_lambda`` of :func:`warmup_cosine`: ``factor(t + 1)`` after ``t`` scheduler steps.

    A small class rather than a closure, so that ``LambdaLR.state_dict()`` saves its
    settings and a checkpoint restores them.
    """

    def __init__(self, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0) -> None:
        self.warmup_steps, self.total_steps, self.min_lr_ratio = _check_schedule(
            warmup_steps, total_steps, min_lr_ratio
        )

    def __call__(self, scheduler_steps: int) -> float:
        # LambdaLR asks for the factor after `scheduler_steps` calls of .step(): that is
        # the learning rate of optimizer step number scheduler_steps + 1.
        return warmup_cosine_factor(
            int(scheduler_steps) + 1, self.warmup_steps, self.total_steps, self.min_lr_ratio
        )

    def __repr__(self) -> str:
        return (
            f"WarmupCosine(warmup_steps={self.warmup_steps}, total_steps={self.total_steps}, "
            f"min_lr_ratio={self.min_lr_ratio})"
        )


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    warmup_steps: int,
    total_steps: int,
    min_lr_ratio: float = 0.0,
) -> LambdaLR:
    """Linear warmup then cosine decay, as a ``LambdaLR`` stepped once per optimizer step.

    The optimizer's ``lr`` is the peak. Pass the result to ``Trainer(scheduler=...)``,
    or call ``scheduler.step()`` after each ``optimizer.step()``. For example::

        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        sched = warmup_cosine(opt, warmup_steps=100, total_steps=2_000, min_lr_ratio=0.1)
    """
    # LambdaLR itself fails with an AttributeError about param_groups.
    check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer")
    return LambdaLR(optimizer, WarmupCosine(warmup_steps, total_steps, min_lr_ratio))


def global_grad_norm(parameters: torch.Tensor | Iterable[torch.Tensor]) -> torch.Tensor:
    """The Euclidean norm of all gradients together, ``sqrt(sum_p ||grad_p||^2)``, as a 0-d tensor.

    Parameters without a gradient are skipped (the norm of none is a CPU 0). This is the
    quantity ``torch.nn.utils.clip_grad_norm_`` compares with ``max_norm``;
    *Optimization and the training loop* clips with it by hand. The result is float32 on the
    gradients' device. A NaN or infinite gradient gives a NaN or infinite norm, which is the
    signal to look for: it runs every step, so it reads no values (no GPU synchronization).
    """
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = []
    for i, p in enumerate(parameters):  # Python reports a non-iterable clearly
        check_type(f"parameters[{i}]", p, torch.Tensor, "a tensor")
        if p.grad is not None:
            grads.append(p.grad.detach())
    if not grads:
        return torch.tensor(0.0)
    device = grads[0].device
    squares = torch.stack([g.float().pow(2).sum().to(device) for g in grads])  # (P,)
    return squares.sum().sqrt()
