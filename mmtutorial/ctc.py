"""Connectionist temporal classification: greedy decoding and a small acoustic model.

The stable interface (other chapters import it)::

    ctc_greedy_decode(log_probs, lengths=None, blank=0) -> list[list[int]]

``log_probs`` is **batch first**, (B, T, C): a score for each of C classes (the blank among
them) at each of T frames, as log-probabilities or logits (only the arg-max matters).
``lengths`` (B,) gives the number of valid frames of each row (default: all T). The result
holds one list of class ids per row: the best class of each frame, repeats merged, blanks
dropped. ``torch.nn.functional.ctc_loss`` wants (T, B, C): pass ``log_probs.transpose(0, 1)``.

A CTC model outputs one distribution per frame, and a transcript is read off by the
many-to-one map :func:`ctc_collapse` (merge repeated labels, then remove the blank), so that
``a a - b b b`` and ``a - - b - -`` both read ``a b``; a label said twice in a row needs a
blank between (``a - a``). :class:`CTCAcousticModel` is the chapter *Speech to text, and
across languages*' recognizer: log-mel frames -> 1-D convolutions over time (each halves the
frame rate) -> a bidirectional GRU -> log-probabilities per frame. :class:`SpeechToText` puts
the attention decoder of :class:`~mmtutorial.seq2seq.Seq2Seq` on the same encoder: speech in,
text of another language out, end to end, without CTC.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._checks import check_int, check_tensor, describe
from .encoders.text import masked_mean
from .seq2seq import BiGRU, Seq2Seq

__all__ = ["CTCAcousticModel", "SpeechToText", "ctc_collapse", "ctc_greedy_decode"]


def ctc_collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """The CTC many-to-one map: merge runs of equal labels, then drop ``blank``.

    ``ctc_collapse([1, 1, 0, 1, 2, 2]) == [1, 1, 2]``: the blank separates the two 1s.
    """
    blank = check_int("blank", blank, min=0)
    out: list[int] = []
    previous = None
    for label in path:
        label = int(label)
        if label != previous and label != blank:
            out.append(label)
        previous = label
    return out


def ctc_greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor | None = None,
                      blank: int = 0) -> list[list[int]]:
    """Best path decoding: the arg-max class of each frame, collapsed by :func:`ctc_collapse`.

    ``log_probs`` (B, T, C) batch first (log-probabilities or logits); ``lengths`` (B,) the
    valid frames of each row, in [0, T] (default T for every row); ``blank`` the blank's class
    id. Returns one list of label ids per row. The collapse runs on the CPU (one transfer).
    """
    log_probs = check_tensor("log_probs", log_probs, "(B, T, C)")
    if log_probs.is_complex() or not (log_probs.is_floating_point()):
        raise TypeError(f"log_probs must be a floating-point tensor of shape (B, T, C), got {describe(log_probs)}")
    B, T, C = log_probs.shape
    blank = check_int("blank", blank, min=0, max=C - 1)
    if lengths is None:
        lengths_list = [T] * B
    else:
        lengths = check_tensor("lengths", lengths, "(B,)", dtype="int")
        if lengths.shape[0] != B:
            raise ValueError(f"lengths must have one entry per row of log_probs ({B}), got {lengths.shape[0]}")
        lengths_list = lengths.tolist()
        if any(n < 0 or n > T for n in lengths_list):
            raise ValueError(f"lengths must lie in [0, T={T}], got min {min(lengths_list)} and max {max(lengths_list)}")
    best = log_probs.argmax(dim=-1).cpu().tolist()  # (B, T) class ids
    return [ctc_collapse(row[:n], blank) for row, n in zip(best, lengths_list)]


class CTCAcousticModel(nn.Module):
    """Log-mel frames (B, M, T) -> log-probabilities (B, T', C) for CTC, T' = ceil(ceil(T / 2) / 2).

    Two 1-D convolutions over time (kernel 5, stride 2, each with batch norm and ReLU) see the
    local spectral shape and halve the frame rate twice: 20 ms frames become 80 ms steps, still
    shorter than a spoken digit. A bidirectional GRU (:class:`~mmtutorial.seq2seq.BiGRU`) reads
    the whole utterance both ways; a linear layer gives ``n_classes`` scores per step (class 0
    is the blank by convention), turned into log-probabilities. Each utterance's features are
    normalized per mel band over its valid frames (``lengths``), so that loudness does not
    matter, and no layer reads past a row's end: the outputs at a row's valid steps are the
    same however much padding the batch adds.
    """

    def __init__(self, n_mels: int, n_classes: int | None, channels: int = 64, hidden: int = 64) -> None:
        super().__init__()
        self.n_mels = check_int("n_mels", n_mels, min=1)
        channels, hidden = check_int("channels", channels, min=1), check_int("hidden", hidden, min=1)
        self.conv1 = nn.Sequential(nn.Conv1d(n_mels, channels, 5, stride=2, padding=2, bias=False),
                                   nn.BatchNorm1d(channels), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv1d(channels, channels, 5, stride=2, padding=2, bias=False),
                                   nn.BatchNorm1d(channels), nn.ReLU())
        self.rnn = BiGRU(channels, hidden)
        if n_classes is not None:  # None: the encoder only (see SpeechToText)
            self.head = nn.Linear(2 * hidden, check_int("n_classes", n_classes, min=2))

    @staticmethod
    def output_lengths(lengths: torch.Tensor) -> torch.Tensor:
        """Output steps for ``lengths`` input frames: ceil(ceil(T / 2) / 2) (two stride-2 convolutions)."""
        half = torch.div(lengths + 1, 2, rounding_mode="floor")
        return torch.div(half + 1, 2, rounding_mode="floor")

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if not hasattr(self, "head"):
            raise NotImplementedError("CTCAcousticModel(n_classes=None) is an encoder only: call encode()")
        states, _ = self.encode(features, lengths)  # (B, T', 2 * hidden)
        return self.head(states).log_softmax(dim=-1)  # (B, T', C)

    def encode(self, features: torch.Tensor, lengths: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel frames (B, M, T) -> (GRU states (B, T', 2 * hidden), valid steps (B,)): all but the head."""
        features = check_tensor("features", features, "(B, M, T)", dtype="float")
        if features.shape[1] != self.n_mels:
            raise ValueError(f"features must have n_mels={self.n_mels} bands on axis 1, got {describe(features)}")
        B, _, T = features.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=features.device)
        lengths = check_tensor("lengths", lengths, "(B,)", dtype="int")
        if lengths.shape[0] != B:
            raise ValueError(f"lengths must have one entry per row of features ({B}), got {lengths.shape[0]}")
        mask = _mask(lengths, T)  # (B, 1, T)
        count = mask.sum(dim=2, keepdim=True).clamp_min(1)  # (B, 1, 1)
        mean = (features * mask).sum(dim=2, keepdim=True) / count  # (B, M, 1)
        std = (((features - mean) ** 2 * mask).sum(dim=2, keepdim=True) / count).sqrt()  # (B, M, 1)
        x = (features - mean) / (std + 1e-5) * mask  # (B, M, T), padding zero
        half = torch.div(lengths + 1, 2, rounding_mode="floor")
        x = self.conv1(x)  # (B, channels, ceil(T / 2))
        x = x * _mask(half, x.shape[2])  # zero after each row's end, as the convolution's own padding
        x = self.conv2(x)  # (B, channels, T')
        steps = self.output_lengths(lengths)  # (B,)
        return self.rnn(x.transpose(1, 2), steps), steps  # (B, T', 2 * hidden), the padding never read


def _mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B, 1, T) float mask: 1 for the first ``lengths[b]`` steps of each row."""
    return (torch.arange(T, device=lengths.device) < lengths[:, None]).unsqueeze(1).float()


class SpeechToText(Seq2Seq):
    """End to end: log-mel frames -> target tokens, the acoustic encoder under an attention decoder.

    The encoder is :class:`CTCAcousticModel`'s (normalization, two stride-2 convolutions, a
    bidirectional GRU; no CTC head), the decoder that of :class:`~mmtutorial.seq2seq.Seq2Seq`,
    which now attends over the speech steps. ``src`` is the pair ``(features (B, M, T),
    lengths (B,))``; ``forward(src, tgt_in)`` (teacher forcing) and ``greedy_decode(src,
    max_len)`` work as for text.
    """

    def __init__(self, n_mels: int, tgt_vocab: int, dim: int = 32, hidden: int = 64, channels: int = 64, *,
                 pad_id: int = 0, bos_id: int = 2, eos_id: int = 3) -> None:
        super().__init__(None, tgt_vocab, dim, hidden, pad_id=pad_id, bos_id=bos_id, eos_id=eos_id)
        self.acoustic = CTCAcousticModel(n_mels, None, channels=channels, hidden=hidden)

    def encode(self, src: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(features (B, M, T), lengths (B,))`` -> (states (B, T', 2H), mask (B, T'), first decoder state (B, H))."""
        if not (isinstance(src, (tuple, list)) and len(src) == 2):
            raise TypeError(f"src must be a pair (features, lengths), got {describe(src)}")
        states, steps = self.acoustic.encode(*src)
        mask = torch.arange(states.shape[1], device=states.device) < steps[:, None]  # (B, T')
        return states, mask, torch.tanh(self.init_state(masked_mean(states, mask)))
