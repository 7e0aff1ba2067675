"""A word tokenizer and a vocabulary: text in, padded id tensors out.

`tokenize` lowercases a string and splits it into words and punctuation marks. A `Vocab`
maps tokens to integer ids, with four special tokens at fixed positions:

    <pad> = 0   fills the short rows of a batch (the mask is False there)
    <unk> = 1   stands for any token the vocabulary has never seen
    <bos> = 2   begins a sequence (used by captioners and decoders)
    <eos> = 3   ends a sequence

`read_labelled_texts` reads (text, label) pairs from a CSV or JSON Lines file, for the text
classifiers a reader trains on their own data.
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np
import torch

from .._checks import check_bool, check_choice, check_int, check_path, check_tensor, check_type

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

# A word is a run of letters/digits (with inner apostrophes or hyphens: "don't", "mid-sized");
# every other non-space character is a token of its own.
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lowercase `text` and split it into words and punctuation.

    >>> tokenize("There is a Red circle, on the left!")
    ['there', 'is', 'a', 'red', 'circle', ',', 'on', 'the', 'left', '!']
    """
    return _TOKEN_RE.findall(check_type("text", text, str, "a str").lower())


def _as_tokens(item: str | Sequence[str]) -> list[str]:
    """A text is tokenized; a list of tokens is used as it is."""
    if isinstance(item, str):
        return tokenize(item)
    if isinstance(item, (list, tuple)) and all(isinstance(t, str) for t in item):
        return list(item)
    raise TypeError(f"each text must be a str or a list of str tokens, got {type(item).__name__}")


class Vocab:
    """Token <-> id mapping with `<pad>`=0, `<unk>`=1, `<bos>`=2, `<eos>`=3."""

    def __init__(self, tokens: Iterable[str]):
        """Make a vocabulary of SPECIALS followed by `tokens` (in the given order, no duplicates)."""
        itos = list(SPECIALS)
        for tok in tokens:
            check_type("each token", tok, str, "a str")
            if not tok or tok in itos:
                raise ValueError(f"tokens must be non-empty, unique and not special, got {tok!r}")
            itos.append(tok)
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(itos)}

    @classmethod
    def build(cls, texts: Iterable[str | Sequence[str]], min_freq: int = 1) -> "Vocab":
        """Build from texts (or token lists): tokens seen >= `min_freq` times, sorted A-Z."""
        min_freq = check_int("min_freq", min_freq, min=1)
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of texts, not a single str; wrap it as [text]")
        counts: Counter[str] = Counter()
        for item in texts:
            counts.update(_as_tokens(item))
        kept = sorted(t for t, c in counts.items() if c >= min_freq and t not in SPECIALS)
        return cls(kept)

    # ----- lookups -------------------------------------------------------------------
    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def token_to_id(self, token: str) -> int:
        """Id of `token`, or `<unk>`'s id (1) when it is unknown."""
        return self.stoi.get(token, UNK_ID)

    def id_to_token(self, idx: int) -> str:
        """Token with id `idx` (an int or a one-element integer tensor); ValueError outside [0, len(vocab))."""
        if isinstance(idx, torch.Tensor) and idx.numel() == 1:
            idx = idx.item()
        return self.itos[check_int("idx", idx, min=0, max=len(self.itos) - 1)]

    # ----- batches -------------------------------------------------------------------
    def encode(
        self,
        texts: Sequence[str | Sequence[str]],
        max_len: int | None = None,
        add_special: bool = False,
        truncate: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a batch of texts into `(ids, mask)`, both of shape (B, T).

        T is the longest sequence in the batch, or `max_len` when given. `add_special`
        wraps every sequence in `<bos> ... <eos>`. A sequence longer than `max_len` raises
        ValueError unless `truncate=True` (then it is cut to `max_len`, keeping `<eos>` last).
        `mask` is True on real tokens and False on padding.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a list of texts; wrap a single text as [text]")
        max_len = None if max_len is None else check_int("max_len", max_len, min=1)
        check_bool("add_special", add_special)
        if check_bool("truncate", truncate) and max_len is None:
            raise ValueError("truncate=True needs max_len to be set")
        get = self.stoi.get
        seen: dict[str, list[int]] = {}  # repeated texts are tokenized once
        rows = []
        for item in texts:
            if isinstance(item, str) and item in seen:
                ids = seen[item]
            else:
                ids = [get(t, UNK_ID) for t in _as_tokens(item)]
                if isinstance(item, str):
                    seen[item] = ids
            if add_special:
                ids = [BOS_ID, *ids, EOS_ID]
            if max_len is not None and len(ids) > max_len:
                if not truncate:
                    raise ValueError(
                        f"a text has {len(ids)} tokens but max_len={max_len}; "
                        "raise max_len or pass truncate=True"
                    )
                ids = ids[: max_len - 1] + [EOS_ID] if add_special else ids[:max_len]
            rows.append(ids)
        lengths = np.array([len(r) for r in rows], dtype=np.int64)  # (B,)
        T = max_len if max_len is not None else int(lengths.max(initial=0))
        mask = np.arange(T)[None, :] < lengths[:, None]  # (B, T)
        ids = np.full((len(rows), T), PAD_ID, dtype=np.int64)  # (B, T)
        if rows:
            ids[mask] = np.fromiter((i for r in rows for i in r), np.int64, int(lengths.sum()))
        return torch.from_numpy(ids), torch.from_numpy(mask)

    def decode(self, ids: torch.Tensor | Sequence[int], skip_special: bool = True) -> str | list[str]:
        """Turn ids back into text: a (T,) sequence gives a str, a (B, T) tensor a list of str.

        With `skip_special` the specials are dropped (so padding disappears).
        """
        if isinstance(ids, torch.Tensor):
            if check_tensor("ids", ids, ["(T,)", "(B, T)"], dtype="int").dim() == 2:
                return [self.decode(row, skip_special) for row in ids]
            ids = ids.tolist()
        words = [self.id_to_token(i) for i in ids]
        if skip_special:
            words = [w for w in words if w not in SPECIALS]
        return " ".join(words)

    # ----- saving --------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-friendly dict; `Vocab.from_dict` restores it."""
        return {"itos": list(self.itos)}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        """Inverse of `to_dict`."""
        itos = check_type("d", d, dict, "a dict from Vocab.to_dict").get("itos")
        if not isinstance(itos, list) or tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"d must be a dict with 'itos' starting with {SPECIALS}")
        return cls(itos[len(SPECIALS):])


def read_labelled_texts(path: str | os.PathLike, *, text_key: str = "text",
                        label_key: str = "label") -> tuple[list[str], list[str]]:
    """Read (text, label) pairs from a ``.csv`` file (a header row naming the columns) or a
    ``.jsonl`` file (one JSON object per line); other columns or keys are ignored.

    Returns ``(texts, labels)``, labels as strings (so "1" and 1 are the same class).
    ValueError for another extension, a missing column, an empty text or an empty file.
    """
    path = pathlib.Path(check_path("path", path))
    suffix = path.suffix.lower()
    check_choice("path's extension", suffix, (".csv", ".jsonl"))
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    else:
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        raise ValueError(f"path must hold at least one example, {path} has none")
    texts, labels = [], []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or text_key not in row or label_key not in row:
            raise ValueError(f"row {i} of {path} must have the keys {text_key!r} and {label_key!r}, got {row!r}")
        if not isinstance(row[text_key], str) or not row[text_key].strip():
            raise ValueError(f"row {i} of {path} has an empty or non-string {text_key!r}: {row[text_key]!r}")
        texts.append(row[text_key])
        labels.append(str(row[label_key]))
    return texts, labels
