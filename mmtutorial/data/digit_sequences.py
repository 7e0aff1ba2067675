"""Spoken digit sequences: single spoken digits joined into utterances, with exact alignments.

:func:`make_digit_sequences` takes a set of single-digit clips (:class:`SpokenDigits`, from
eSpeak NG by :func:`~mmtutorial.data.spoken_digits.make_spoken_digits` or recorded, read by
:func:`~mmtutorial.data.spoken_digits.load_digit_recordings`) and joins a few of them into one
utterance: each digit's clip trimmed of its silence, random pauses between them, one speaker
(and one accent) per utterance. Joining cached clips costs milliseconds, and it records where
each digit starts and ends, the alignment that a CTC model never sees and a figure can show.

:func:`french_number` writes a number in French words (the target of the chapter's translation
task, with its irregular 70-99), and :func:`french_tokens` / :func:`join_french_tokens` cut such
text into the model's tokens and glue them back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_int, check_number, check_type
from .spoken_digits import DIGIT_WORDS, SpokenDigits

__all__ = ["DigitSequences", "french_number", "french_tokens", "join_french_tokens", "make_digit_sequences",
           "trim_bounds"]


@dataclass
class DigitSequences:
    """Utterances of several digits, padded to one length, with where each digit was said.

    ``digits[i, :n_digits[i]]`` are the digits of utterance ``i`` (padding -1);
    ``spans[i, k]`` is the (start, end) sample of its k-th digit (padding -1).
    """

    audio: torch.Tensor  # (N, L) float32, zero after lengths[i]
    lengths: torch.Tensor  # (N,) int64 samples of each utterance
    digits: torch.Tensor  # (N, S) int64 digits, -1 after n_digits[i]
    n_digits: torch.Tensor  # (N,) int64
    spans: torch.Tensor  # (N, S, 2) int64 start and end sample of each digit
    speakers: torch.Tensor  # (N,) int64 index into speaker_names
    accents: torch.Tensor  # (N,) int64 index into accent_names, -1 if unknown
    speaker_names: tuple[str, ...]
    accent_names: tuple[str, ...]
    sample_rate: int

    def __len__(self) -> int:
        return len(self.lengths)

    def transcripts(self) -> list[list[int]]:
        """The digits of each utterance as a list of ints."""
        return [row[:n].tolist() for row, n in zip(self.digits, self.n_digits.tolist())]

    def words(self) -> list[str]:
        """What each utterance says in English words, e.g. ``"three one four"``."""
        return [" ".join(DIGIT_WORDS[d] for d in t) for t in self.transcripts()]


def trim_bounds(audio: torch.Tensor, threshold: float = 0.02) -> torch.Tensor:
    """(start, end) of each clip's loud part (N, 2): the first and one past the last sample above
    ``threshold`` times the clip's peak (0, 0 for a silent clip)."""
    threshold = check_number("threshold", threshold, min=0, max=1)
    if not isinstance(audio, torch.Tensor) or audio.ndim != 2:
        raise ValueError(f"audio must be a tensor of shape (N, L), got {getattr(audio, 'shape', type(audio))}")
    magnitude = audio.abs()  # (N, L)
    peak = magnitude.amax(dim=1, keepdim=True)  # (N, 1)
    loud = (magnitude > threshold * peak) & (peak > 0)  # (N, L)
    L = audio.shape[1]
    positions = torch.arange(L, device=audio.device).expand_as(loud)
    start = torch.where(loud, positions, L).amin(dim=1)  # (N,)
    end = torch.where(loud, positions + 1, 0).amax(dim=1)
    silent = ~loud.any(dim=1)
    return torch.stack([start.masked_fill(silent, 0), end], dim=1)  # (N, 2)


def _pair(name: str, value: object, kind: str) -> tuple:
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise TypeError(f"{name} must be a (low, high) pair, got {value!r}")
    if kind == "int":
        low, high = (check_int(name, v, min=1) for v in value)
    else:
        low, high = (check_number(name, v, min=0) for v in value)
    if low > high:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {tuple(value)}")
    return low, high


def make_digit_sequences(
    source: SpokenDigits,
    n: int | None = None,
    *,
    n_digits: tuple[int, int] = (1, 5),
    sequences: Sequence[Sequence[int]] | None = None,
    gap: tuple[float, float] = (0.05, 0.3),
    seed: int = 0,
    threshold: float = 0.02,
) -> DigitSequences:
    """Join single-digit clips of ``source`` into ``n`` utterances of several digits.

    Each utterance picks one (speaker, accent) of ``source`` at random, then for each of its
    digits one clip of that speaker and accent saying it (at random among several), trimmed to
    its loud part (:func:`trim_bounds`); pauses of ``gap`` seconds (uniform in (low, high))
    go before, between and after the digits. The digits are ``sequences`` if given (then
    ``n`` is their number), else random: a length uniform in ``n_digits`` = (low, high), each
    digit uniform in 0-9. Every (speaker, accent) must have said all ten digits.
    """
    check_type("source", source, SpokenDigits, "a SpokenDigits set")
    if len(source) == 0:
        raise ValueError("source must hold at least one clip")
    seed = check_int("seed", seed)
    low_n, high_n = _pair("n_digits", n_digits, "int")
    low_gap, high_gap = _pair("gap", gap, "float")
    rng = np.random.default_rng(seed)
    if sequences is None:
        n = check_int("n", n, min=1)
        sizes = rng.integers(low_n, high_n + 1, size=n)
        chosen = [rng.integers(0, 10, size=s).tolist() for s in sizes]
    else:
        chosen = [list(s) for s in check_type("sequences", sequences, (list, tuple), "a list of digit lists")]
        if n is not None and check_int("n", n, min=1) != len(chosen):
            raise ValueError(f"n must be None or len(sequences)={len(chosen)}, got {n}")
        if not chosen or any(len(s) == 0 or any(not (0 <= int(d) <= 9) for d in s) for s in chosen):
            raise ValueError("sequences must be a non-empty list of non-empty lists of digits 0-9")
        n = len(chosen)

    # the clips of each (speaker, accent), by digit
    groups: dict[tuple[int, int], list[list[int]]] = {}
    for i, (s, a, d) in enumerate(zip(source.speakers.tolist(), source.accents.tolist(), source.labels.tolist())):
        groups.setdefault((s, a), [[] for _ in range(10)])[d].append(i)
    keys = sorted(k for k, by_digit in groups.items() if all(by_digit))
    if not keys:
        raise ValueError("source must hold all ten digits for at least one (speaker, accent)")
    bounds = trim_bounds(source.audio, threshold).tolist()  # (N, 2)
    wave = source.audio.numpy()
    sr = source.sample_rate

    pieces, spans, speakers, accents = [], [], [], []
    for digits in chosen:
        key = keys[rng.integers(len(keys))]
        gaps = rng.uniform(low_gap, high_gap, size=len(digits) + 1)
        parts, here, where = [], 0, []
        for k, d in enumerate(digits):
            pause = np.zeros(round(gaps[k] * sr), np.float32)
            options = groups[key][int(d)]
            clip = options[rng.integers(len(options))]
            start, end = bounds[clip]
            said = wave[clip, start:end]
            parts += [pause, said]
            here += len(pause)
            where.append((here, here + len(said)))
            here += len(said)
        parts.append(np.zeros(round(gaps[-1] * sr), np.float32))
        pieces.append(np.concatenate(parts))
        spans.append(where)
        speakers.append(key[0])
        accents.append(key[1])

    lengths = [len(p) for p in pieces]
    S = max(len(c) for c in chosen)
    audio = np.zeros((n, max(lengths)), np.float32)  # (N, L)
    digit_tab = np.full((n, S), -1, np.int64)
    span_tab = np.full((n, S, 2), -1, np.int64)
    for i, (p, c, w) in enumerate(zip(pieces, chosen, spans)):
        audio[i, :len(p)] = p
        digit_tab[i, :len(c)] = c
        span_tab[i, :len(c)] = w
    return DigitSequences(torch.from_numpy(audio), torch.tensor(lengths), torch.from_numpy(digit_tab),
                          torch.tensor([len(c) for c in chosen]), torch.from_numpy(span_tab),
                          torch.tensor(speakers), torch.tensor(accents), source.speaker_names,
                          source.accent_names, sr)


# ----- numbers in French words -----------------------------------------------------------

_UNITS = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze", "douze",
          "treize", "quatorze", "quinze", "seize")
_TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante"}


def _below_100(n: int) -> str:
    if n <= 16:
        return _UNITS[n]
    if n < 20:
        return "dix-" + _UNITS[n - 10]
    if n < 70:
        tens, unit = divmod(n, 10)
        if unit == 0:
            return _TENS[tens]
        return _TENS[tens] + (" et un" if unit == 1 else "-" + _UNITS[unit])
    if n < 80:  # 70-79: sixty-ten ... sixty-nineteen
        return "soixante et onze" if n == 71 else "soixante-" + _below_100(n - 60)
    if n == 80:
        return "quatre-vingts"
    return "quatre-vingt-" + _below_100(n - 80)  # 81-99: four-twenty-one ... four-twenty-nineteen


def french_number(n: int) -> str:
    """``n`` (0-999) in French words, traditional spelling: 314 -> "trois cent quatorze",
    71 -> "soixante et onze", 80 -> "quatre-vingts", 200 -> "deux cents", 97 -> "quatre-vingt-dix-sept"."""
    n = check_int("n", n, min=0, max=999)
    hundreds, rest = divmod(n, 100)
    if hundreds == 0:
        return _below_100(rest)
    head = "cent" if hundreds == 1 else _UNITS[hundreds] + " cent"
    if rest == 0:
        return head + ("s" if hundreds > 1 else "")
    return head + " " + _below_100(rest)


def french_tokens(text: str) -> list[str]:
    """Words of ``text``, a hyphen staying on the word before it: "quatre-vingt-dix" ->
    ["quatre-", "vingt-", "dix"]; :func:`join_french_tokens` undoes it."""
    check_type("text", text, str, "a str")
    return re.findall(r"[^\s-]+-?", text)


def join_french_tokens(tokens: Sequence[str]) -> str:
    """The text of ``tokens``: a space after each word, none after a hyphen."""
    return "".join(t if t.endswith("-") else t + " " for t in tokens).rstrip()
