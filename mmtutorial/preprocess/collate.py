"""Batching samples of different lengths: padding, masks and a multimodal collate (Chapter 03).

A `DataLoader` turns a list of sample dicts into one batch dict with its `collate_fn`. The
default one stacks tensors, which fails as soon as two captions or two audio clips differ in
length. `collate_multimodal` pads the variable-length entries to the longest in the batch
(dynamic padding) and adds, for each, a boolean mask and the true lengths:

    [{"tokens": (T_i,), "audio": (L_i,), "image": (3, H, W), "label": ()}, ...]
      -> {"tokens": (B, T), "tokens_mask": (B, T), "tokens_lengths": (B,),
          "audio": (B, L), "audio_mask": (B, L), "audio_lengths": (B,),
          "image": (B, 3, H, W), "label": (B,)}

The samples usually come from a `mmtutorial.data.DictDataset`.
"""

from __future__ import annotations

import numbers
from typing import Any, Mapping, Sequence

import torch

__all__ = ["DEFAULT_PAD", "lengths_to_mask", "pad_sequences", "collate_multimodal"]

DEFAULT_PAD: dict[str, float] = {"tokens": 0, "audio": 0.0}  # <pad> id 0; silence


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Boolean mask (B, T): True at positions t < lengths[b] (Chapter 03)."""
    if not isinstance(lengths, torch.Tensor) or lengths.dim() != 1 or lengths.is_floating_point():
        raise ValueError(f"lengths must be a 1-D integer tensor (B,), got {tuple(getattr(lengths, 'shape', ()))}")
    if len(lengths) and int(lengths.min()) < 0:
        raise ValueError(f"lengths must be >= 0, got min {int(lengths.min())}")
    longest = int(lengths.max()) if len(lengths) else 0
    T = longest if max_len is None else max_len
    if not isinstance(T, int) or T < longest:
        raise ValueError(f"max_len must be an int >= the longest length {longest}, got {max_len!r}")
    return torch.arange(T, device=lengths.device) < lengths[:, None]  # (B, T)


def pad_sequences(seqs: Sequence[torch.Tensor], padding_value: float = 0.0, max_len: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad tensors (L_i, *) along dim 0 into (B, T, *), plus lengths (B,) (Chapter 03).

    T is the longest L_i, or `max_len` when given (it must not be shorter: cutting is the
    caller's explicit choice). The same result as `torch.nn.utils.rnn.pad_sequence(seqs,
    batch_first=True, padding_value=...)` when max_len is None.
    """
    if isinstance(seqs, torch.Tensor) or not isinstance(seqs, Sequence) or len(seqs) == 0:
        raise ValueError("seqs must be a non-empty list of tensors of shape (L_i, *)")
    first = seqs[0]
    for i, s in enumerate(seqs):
        if not isinstance(s, torch.Tensor) or s.dim() < 1:
            raise ValueError(f"seqs[{i}] must be a tensor of shape (L, *), got {type(s).__name__} "
                             f"{tuple(getattr(s, 'shape', ()))}")
        if s.shape[1:] != first.shape[1:] or s.dtype != first.dtype:
            raise ValueError(f"seqs[{i}] has trailing shape {tuple(s.shape[1:])} and dtype {s.dtype}; "
                             f"seqs[0] has {tuple(first.shape[1:])} and {first.dtype}: they must agree")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)  # (B,)
    longest = int(lengths.max())
    T = longest if max_len is None else max_len
    if not isinstance(T, int) or T < longest:
        raise ValueError(f"max_len must be an int >= the longest sequence ({longest}), got {max_len!r}")
    out = first.new_full((len(seqs), T, *first.shape[1:]), padding_value)  # (B, T, *)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths


def collate_multimodal(batch: Sequence[Mapping[str, Any]], pad: Mapping[str, float] | None = None
                       ) -> dict[str, Any]:
    """Collate dict samples into one batch dict, padding the keys in `pad` (Chapter 03).

    `pad` maps a key to its padding value (default `DEFAULT_PAD`: "tokens" with 0, "audio"
    with 0.0; keys absent from the samples are skipped). Each padded key `k` gives `k` (B, T, *),
    `k_mask` (B, T) bool and `k_lengths` (B,). Other tensors are stacked (they must share a
    shape), numbers become a tensor (B,), strings and everything else a list.
    Use `functools.partial(collate_multimodal, pad={...})` as a DataLoader's collate_fn.
    """
    if isinstance(batch, Mapping) or not isinstance(batch, Sequence) or len(batch) == 0:
        raise ValueError("batch must be a non-empty list of dict samples")
    keys = list(batch[0])
    for i, sample in enumerate(batch):
        if not isinstance(sample, Mapping) or list(sample) != keys:
            raise ValueError(f"batch[{i}] must be a dict with the keys of batch[0] {keys}, got "
                             f"{list(sample) if isinstance(sample, Mapping) else type(sample).__name__}")
    pad = DEFAULT_PAD if pad is None else pad
    out: dict[str, Any] = {}
    for key in keys:
        values = [sample[key] for sample in batch]
        first = values[0]
        if key in pad:
            padded, lengths = pad_sequences(values, pad[key])
            out[key] = padded  # (B, T, *)
            out[f"{key}_mask"] = lengths_to_mask(lengths, padded.shape[1])  # (B, T)
            out[f"{key}_lengths"] = lengths  # (B,)
        elif isinstance(first, torch.Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise ValueError(f"key {key!r} has tensors of different shapes {sorted(shapes)}; "
                                 f"add it to pad={{...}} to pad it")
            out[key] = torch.stack(values)  # (B, *)
        elif isinstance(first, numbers.Number) and all(isinstance(v, numbers.Number) for v in values):
            out[key] = torch.tensor(values)  # (B,)
        else:
            out[key] = list(values)
    return out
