"""Deterministic train/test splits (Chapter 01)."""

from __future__ import annotations

import numpy as np
import torch


def stratified_split(
    labels: torch.Tensor | np.ndarray, test_size: float = 0.25, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices so each class keeps its share in both parts (Chapter 01).

    Returns sorted `(train_idx, test_idx)` LongTensors; in every class round(test_size * count)
    samples, chosen by a generator seeded with `seed`, go to the test part.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array of shape (N,), got {y.dtype} {y.shape}")
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0 < test_size < 1:
        raise ValueError(f"test_size must be a float in (0, 1), got {test_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):  # classes in sorted order, so the draws are reproducible
        members = np.flatnonzero(y == c)
        test.append(rng.permutation(members)[: int(round(test_size * len(members)))])
    test_idx = np.sort(np.concatenate(test)) if test else np.zeros(0, np.int64)
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    return torch.from_numpy(train_idx).long(), torch.from_numpy(test_idx).long()
