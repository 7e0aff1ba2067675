"""Byte-pair encoding (BPE), small enough to read: learn subword merges from a corpus.

Every word starts as its characters plus an end-of-word marker ``</w>``; training counts
the adjacent symbol pairs over the corpus (each word weighted by its frequency), merges the
most frequent pair into one new symbol everywhere, and repeats. The list of merges, in the
order they were learned, is the tokenizer: a new word is split into characters and the
merges are replayed on it, so any word made of known characters gets a segmentation, and
frequent words become a single symbol.

    >>> merges = train_bpe(["low lower lowest", "low low"], num_merges=3)
    >>> merges
    [('l', 'o'), ('lo', 'w'), ('low', '</w>')]
    >>> BPE(merges).tokenize("lowly")
    ['low', 'l', 'y', '</w>']

Ties between equally frequent pairs go to the alphabetically smallest pair, so training is
deterministic. Real tokenizers (GPT-2's byte-level BPE, BERT's WordPiece) add bytes as the
base alphabet and a different merge score; the idea is the same. The chapter *Text encoders:
from RNNs to Transformers and pretrained text towers* builds it cell by cell.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from .._checks import check_int, check_type
from ..data.text import tokenize

__all__ = ["END", "BPE", "merge_pair", "pair_counts", "train_bpe", "word_symbols"]

END = "</w>"

Symbols = tuple[str, ...]


def word_symbols(texts: Iterable[str]) -> Counter[Symbols]:
    """Each word of ``texts`` (split by `tokenize`) as a tuple of characters + ``</w>``, with its count."""
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of str; wrap a single text as [text]")
    words: Counter[str] = Counter()
    for text in texts:
        words.update(tokenize(check_type("each text", text, str, "a str")))
    return Counter({(*word, END): n for word, n in words.items()})


def pair_counts(words: dict[Symbols, int]) -> Counter[tuple[str, str]]:
    """How often each adjacent pair of symbols occurs, each word weighted by its count."""
    counts: Counter[tuple[str, str]] = Counter()
    for symbols, n in words.items():
        for pair in zip(symbols, symbols[1:]):
            counts[pair] += n
    return counts


def _merge(symbols: Sequence[str], pair: tuple[str, str]) -> Symbols:
    """``symbols`` with every occurrence of ``pair`` (left to right, no overlaps) joined into one."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def merge_pair(words: dict[Symbols, int], pair: tuple[str, str]) -> Counter[Symbols]:
    """Apply one merge to every word of ``words`` (counts unchanged)."""
    merged: Counter[Symbols] = Counter()
    for symbols, n in words.items():
        merged[_merge(symbols, pair)] += n
    return merged


def train_bpe(texts: Iterable[str], num_merges: int) -> list[tuple[str, str]]:
    """Learn up to ``num_merges`` merges from ``texts``, most frequent pair first.

    Stops early when no word has two symbols left. Ties go to the smallest pair (A-Z).
    """
    num_merges = check_int("num_merges", num_merges, min=0)
    words = word_symbols(texts)
    if not words:
        raise ValueError("texts must contain at least one word")
    merges = []
    for _ in range(num_merges):
        counts = pair_counts(words)
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then alphabetical
        words = merge_pair(words, best)
        merges.append(best)
    return merges


class BPE:
    """A BPE tokenizer: replays learned ``merges`` on the characters of each word."""

    def __init__(self, merges: Sequence[tuple[str, str]]) -> None:
        for pair in merges:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(s, str) and s for s in pair)):
                raise ValueError(f"merges must be pairs of non-empty str, got {pair!r}")
        self.merges: list[tuple[str, str]] = [tuple(p) for p in merges]
        self._cache: dict[str, list[str]] = {}

    def encode_word(self, word: str) -> list[str]:
        """The subword symbols of one ``word`` (its last symbol ends with ``</w>``)."""
        check_type("word", word, str, "a str")
        if not word:
            raise ValueError("word must not be empty")
        if word not in self._cache:
            symbols: Symbols = (*word, END)
            for pair in self.merges:  # in the order they were learned
                if len(symbols) == 1:
                    break
                symbols = _merge(symbols, pair)
            self._cache[word] = list(symbols)
        return list(self._cache[word])

    def tokenize(self, text: str) -> list[str]:
        """`tokenize` ``text`` into words, then each word into subwords."""
        return [s for word in tokenize(check_type("text", text, str, "a str")) for s in self.encode_word(word)]

    @property
    def vocab(self) -> list[str]:
        """The merged symbols, in the order they were learned (the characters come on top)."""
        return [a + b for a, b in self.merges]

    def __repr__(self) -> str:
        return f"BPE(merges={len(self.merges)})"
