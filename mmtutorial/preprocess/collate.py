"""Batching samples of different lengths: padding, masks and a multimodal collate.

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

from .._checks import check_int, check_tensor, check_type, describe

__all__ = ["DEFAULT_PAD", "lengths_to_mask", "pad_sequences", "collate_multimodal"]

DEFAULT_PAD: dict[str, float] = {"tokens": 0, "audio": 0.0}  # <pad> id 0; silence


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Boolean mask (B, T): True at positions t < lengths[b]."""
    check_tensor("lengths", lengths, "(B,)", dtype="int")
    if len(lengths) and int(lengths.min()) < 0:
        raise ValueError(f"lengths must be >= 0, got min {int(lengths.min())}")
    longest = int(lengths.max()) if len(lengths) else 0
    T = longest if max_len is None else check_int("max_len", max_len, min=longest)
    return torch.arange(T, device=lengths.device) < lengths[:, None]  # (B, T)


def pad_sequences(seqs: Sequence[torch.Tensor], padding_value: float = 0.0, max_len: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad tensors (L_i, *) along dim 0 into (B, T, *), plus lengths (B,).

    T is the longest L_i, or `max_len` when given (it must not be shorter: cutting is the
    caller's explicit choice). The same result as `torch.nn.utils.rnn.pad_sequence(seqs,
    batch_first=True, padding_value=...)` when max_len is None.
    """
    if isinstance(seqs, torch.Tensor) or not isinstance(seqs, Sequence):
        raise TypeError(f"seqs must be a list of tensors of shape (L_i, *), got {type(seqs).__name__}")
    if len(seqs) == 0:
        raise ValueError("seqs must hold at least one tensor, got an empty list")
    first = seqs[0]
    for i, s in enumerate(seqs):
        if check_tensor(f"seqs[{i}]", s).dim() == 0 or s.shape[1:] != first.shape[1:] or s.dtype != first.dtype:
            raise ValueError(f"seqs[{i}] is {describe(s)} and seqs[0] {describe(first)}: each must be "
                             "(L_i, *) with the trailing shape and dtype of the others")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)  # (B,)
    longest = int(lengths.max())
    T = longest if max_len is None else check_int("max_len", max_len, min=longest)
    out = first.new_full((len(seqs), T, *first.shape[1:]), padding_value)  # (B, T, *)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths


def collate_multimodal(batch: Sequence[Mapping[str, Any]], pad: Mapping[str, float] | None = None
                       ) -> dict[str, Any]:
    """Collate dict samples into one batch dict, padding the keys in `pad`.

    `pad` maps a key to its padding value (default `DEFAULT_PAD`: "tokens" with 0, "audio"
    with 0.0; keys absent from the samples are skipped). Each padded key `k` gives `k` (B, T, *),
    `k_mask` (B, T) bool and `k_lengths` (B,). Other tensors are stacked (they must share a
    shape), numbers become a tensor (B,), strings and everything else a list.
    Use `functools.partial(collate_multimodal, pad={...})` as a DataLoader's collate_fn.
    """
    if isinstance(batch, Mapping) or not isinstance(batch, Sequence):
        raise TypeError(f"batch must be a list of dict samples, got {type(batch).__name__}")
    if len(batch) == 0:
        raise ValueError("batch must hold at least one sample, got an empty list")
    keys = list(check_type("batch[0]", batch[0], Mapping, "a dict sample"))
    for i, sample in enumerate(batch):
        if list(check_type(f"batch[{i}]", sample, Mapping, "a dict sample")) != keys:
            raise ValueError(f"batch[{i}] must have the keys of batch[0] {keys}, got {list(sample)}")
    pad = DEFAULT_PAD if pad is None else check_type("pad", pad, Mapping, "a dict {key: padding value} or None")
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
