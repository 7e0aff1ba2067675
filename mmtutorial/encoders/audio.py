"""Audio encoders: a 2-D CNN that looks at log-mel spectrograms, a 1-D CNN that reads raw waveforms.

Both end in the same small head (flatten, linear), so they differ only in what they see:

    LogMel            waveform (B, L) -> log-mel spectrogram (B, n_mels, T), as a module
    LogMelCNN         log-mel (B, n_mels, T) -> logits (B, n_classes): conv 3x3 blocks on a
                      time-frequency picture, each halving both axes
    WaveformCNN       waveform (B, L) -> logits (B, n_classes): a strided conv that learns its
                      own filterbank, then conv blocks that shrink time by `pool` each (the
                      idea of sample-level CNNs such as SampleCNN)

The chapter *Audio encoders: hearing* builds them, compares them on voices never heard in
training, and counts what each costs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._checks import check_int, check_number, check_tensor, describe
from ..preprocess.audio import hann_window, mel_filterbank, power_spectrogram

__all__ = ["LogMel", "LogMelCNN", "WaveformCNN"]


def _channels(channels: Sequence[int]) -> tuple[int, ...]:
    if not isinstance(channels, (list, tuple)) or not channels:
        raise TypeError(f"channels must be a non-empty list of ints, got {describe(channels)}")
    return tuple(check_int("channels", c, min=1) for c in channels)


class LogMel(nn.Module):
    """The log-mel spectrogram as a layer: waveform (..., L) -> (..., n_mels, 1 + L // hop).

    The Hann window and the mel filterbank are buffers (they move with the module), so the
    features are computed on the device of the batch. Equals
    :func:`mmtutorial.preprocess.audio.log_mel_spectrogram` with the same arguments.
    """

    def __init__(self, sample_rate: int, n_fft: int = 256, hop: int = 160, n_mels: int = 32,
                 eps: float = 1e-6) -> None:
        super().__init__()
        self.n_fft, self.hop = check_int("n_fft", n_fft, min=2), check_int("hop", hop, min=1)
        self.eps = check_number("eps", eps, above=0)
        self.register_buffer("window", hann_window(n_fft), persistent=False)
        self.register_buffer("fb", mel_filterbank(n_mels, n_fft, sample_rate), persistent=False)  # (M, F)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        power = power_spectrogram(wave, self.n_fft, self.hop, self.window)  # (..., F, T)
        return torch.log(torch.clamp_min(self.fb @ power, self.eps))  # (..., M, T)


def _block2d(c_in: int, c_out: int) -> nn.Sequential:
    """conv 3x3 -> batch norm -> ReLU -> 2x2 max pool: (B, c_in, H, W) -> (B, c_out, H // 2, W // 2)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                         nn.MaxPool2d(2))


class LogMelCNN(nn.Module):
    """A 2-D CNN on log-mel spectrograms: (B, n_mels, n_frames) -> logits (B, n_classes).

    The input is normalized by a batch-norm layer with one channel (a learned global shift and
    scale of the log-powers), then each of ``len(channels)`` blocks halves frequency and time,
    and a linear layer reads the flattened map: it keeps *where* in time and frequency each
    feature fired.
    """

    def __init__(self, n_mels: int, n_frames: int, n_classes: int = 10, channels: Sequence[int] = (16, 32, 32),
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.n_mels, self.n_frames = check_int("n_mels", n_mels, min=1), check_int("n_frames", n_frames, min=1)
        channels = _channels(channels)
        if n_mels >> len(channels) == 0 or n_frames >> len(channels) == 0:
            raise ValueError(f"{len(channels)} blocks halve the input {len(channels)} times: n_mels and n_frames "
                             f"must be at least {2 ** len(channels)}, got {n_mels} and {n_frames}")
        self.norm = nn.BatchNorm2d(1)
        self.blocks = nn.Sequential(*[_block2d(c_in, c_out) for c_in, c_out in zip((1, *channels), channels)])
        flat = channels[-1] * (n_mels >> len(channels)) * (n_frames >> len(channels))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(check_number("dropout", dropout, min=0, max=1)),
                                  nn.Linear(flat, check_int("n_classes", n_classes, min=1)))

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        check_tensor("log_mel", log_mel, "(B, n_mels, n_frames)", dtype="float")
        if log_mel.shape[1:] != (self.n_mels, self.n_frames):
            raise ValueError(f"log_mel must have shape (B, {self.n_mels}, {self.n_frames}), got {tuple(log_mel.shape)}")
        x = self.norm(log_mel[:, None])  # (B, 1, M, T)
        return self.head(self.blocks(x))  # (B, C, M / 2^k, T / 2^k) -> (B, n_classes)


class WaveformCNN(nn.Module):
    """A 1-D CNN on raw waveforms: (B, length) -> logits (B, n_classes).

    Each clip is scaled to unit root-mean-square (waveforms carry loudness, which a log-mel
    input turns into a mere offset). The first layer is a strided convolution with ``kernel``
    taps every ``stride`` samples: a bank of learned filters, in place of the fixed
    STFT + mel filterbank. Then each block (conv, batch norm, ReLU, max pool by ``pool``) shrinks
    time, and a linear layer reads the flattened map.
    """

    def __init__(self, length: int, n_classes: int = 10, channels: Sequence[int] = (16, 16, 32, 32),
                 kernel: int = 32, stride: int = 8, pool: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.length = check_int("length", length, min=1)
        channels = _channels(channels)
        kernel, stride, pool = check_int("kernel", kernel, min=1), check_int("stride", stride, min=1), \
            check_int("pool", pool, min=2)
        self.front = nn.Sequential(nn.Conv1d(1, channels[0], kernel, stride, bias=False), nn.BatchNorm1d(channels[0]),
                                   nn.ReLU())
        steps = (length - kernel) // stride + 1  # time steps after the first layer
        blocks = []
        for c_in, c_out in zip(channels, channels[1:]):
            blocks += [nn.Conv1d(c_in, c_out, 9, padding=4, bias=False), nn.BatchNorm1d(c_out), nn.ReLU(),
                       nn.MaxPool1d(pool)]
            steps //= pool
        if length < kernel or steps < 1:
            raise ValueError(f"length={length} is too short for kernel={kernel}, stride={stride} and "
                             f"{len(channels) - 1} pooling blocks of {pool}")
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(check_number("dropout", dropout, min=0, max=1)),
                                  nn.Linear(channels[-1] * steps, check_int("n_classes", n_classes, min=1)))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        check_tensor("wave", wave, "(B, length)", dtype="float")
        if wave.shape[1] != self.length:
            raise ValueError(f"wave must have shape (B, {self.length}), got {tuple(wave.shape)}")
        rms = wave.square().mean(dim=1, keepdim=True).sqrt()  # (B, 1)
        x = (wave / (rms + 1e-4))[:, None]  # (B, 1, L), unit loudness
        return self.head(self.blocks(self.front(x)))  # (B, C, L') -> (B, n_classes)
