"""Deterministic train/test splits, the subset indices that the datasets accept, and the torch
random stream a dataset step draws from."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._checks import check_int, check_number, check_tensor, describe

__all__ = ["stratified_split", "subset_index", "torch_generator"]


def torch_generator(seq: np.random.SeedSequence) -> torch.Generator:
    """A torch generator seeded from one child of a SeedSequence: one random stream per step.

    The generators make each step of a dataset (rendering, noise, audio) draw from its own
    stream, so that turning one step on or off never changes another.
    """
    return torch.Generator().manual_seed(int(seq.generate_state(1)[0]))


def stratified_split(
    labels: torch.Tensor | np.ndarray, test_size: float = 0.25, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices so each class keeps its share in both parts.

    Returns sorted `(train_idx, test_idx)` LongTensors; in every class round(test_size * count)
    samples, chosen by a generator seeded with `seed`, go to the test part.
    """
    y = np.asarray(labels)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must be integer class ids, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got {y.shape}")
    test_size = check_number("test_size", test_size)
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    rng = np.random.default_rng(check_int("seed", seed, min=0))
    test = []
    for c in np.unique(y):  # classes in sorted order, so the draws are reproducible
        members = np.flatnonzero(y == c)
        test.append(rng.permutation(members)[: int(round(test_size * len(members)))])
    test_idx = np.sort(np.concatenate(test)) if test else np.zeros(0, np.int64)
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    return torch.from_numpy(train_idx).long(), torch.from_numpy(test_idx).long()


def subset_index(idx: Any, n: int) -> torch.Tensor:
    """A subset index of `n` samples as a 1-D LongTensor: ints, a slice or a bool mask of shape (n,).

    Integers must lie in [-n, n) (negative ones count from the end, as in Python).
    """
    if isinstance(idx, slice):
        return torch.arange(n)[idx]
    try:
        idx = torch.as_tensor(idx)
    except (TypeError, RuntimeError):
        raise TypeError(f"idx must be ints, a slice or a bool mask, got {describe(idx)}") from None
    if idx.dtype == torch.bool:
        if idx.shape != (n,):
            raise ValueError(f"idx as a bool mask must have shape ({n},), got {tuple(idx.shape)}")
        return idx.nonzero().squeeze(1)
    if idx.shape == (0,):  # an empty list becomes a float tensor
        return idx.long()
    idx = check_tensor("idx", idx, "(M,)", dtype="int")
    if len(idx) and (idx.min() < -n or idx.max() >= n):
        raise ValueError(f"idx must lie in [-{n}, {n}), got values in [{int(idx.min())}, {int(idx.max())}]")
    return idx.long()
