"""AV-digits: handwritten digit images paired by label with touch-tone signals.

The images are scikit-learn's bundled `load_digits` (1,797 gray 8x8 images, 10 classes), so
no download is needed. Each image is paired with a freshly drawn 1-D signal *of the same
digit*: a DTMF-like touch tone, the sum of a low and a high sinusoid whose frequencies code
the digit as on a phone keypad (rows 1-2-3 / 4-5-6 / 7-8-9 / 0 pick the low tone, columns
the high one). Phases, amplitudes and a small frequency drift are random. A noise knob per
modality (`image_noise`, `signal_noise`) makes either one less reliable, so that fusing the
two has something to gain.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import check_int, check_number, check_same_length, check_tensor, check_type
from .splits import stratified_split, subset_index, torch_generator

SIGNAL_LEN = 64
ROW_FREQS = (0.050, 0.075, 0.100, 0.125)  # low tones, cycles per sample (keypad rows)
COL_FREQS = (0.180, 0.230, 0.280)  # high tones, cycles per sample (keypad columns)
_KEYPAD = {1: (0, 0), 2: (0, 1), 3: (0, 2), 4: (1, 0), 5: (1, 1), 6: (1, 2), 7: (2, 0), 8: (2, 1), 9: (2, 2), 0: (3, 1)}
DTMF_FREQS: tuple[tuple[float, float], ...] = tuple(
    (ROW_FREQS[_KEYPAD[d][0]], COL_FREQS[_KEYPAD[d][1]]) for d in range(10)
)  # (low, high) per digit 0..9
FREQ_JITTER = 0.02  # relative frequency drift per tone
AMPLITUDE_RANGE = (0.7, 1.0)  # per-tone amplitude, before halving the sum


def touch_tones(labels: torch.Tensor, signal_len: int, generator: torch.Generator) -> torch.Tensor:
    """Noise-free touch tones for digit `labels` (N,), shape (N, signal_len)."""
    labels = check_tensor("labels", torch.as_tensor(labels), "(N,)", dtype="int")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"labels must be digits 0..9, got values in [{int(labels.min())}, {int(labels.max())}]")
    signal_len = check_int("signal_len", signal_len, min=8)
    n = len(labels)
    freqs = torch.tensor(DTMF_FREQS, dtype=torch.float64)[labels]  # (N, 2)
    freqs = freqs * (1 + FREQ_JITTER * (2 * torch.rand(n, 2, generator=generator, dtype=torch.float64) - 1))
    phase = 2 * math.pi * torch.rand(n, 2, generator=generator, dtype=torch.float64)  # (N, 2)
    lo, hi = AMPLITUDE_RANGE
    amp = lo + (hi - lo) * torch.rand(n, 2, generator=generator, dtype=torch.float64)  # (N, 2)
    t = torch.arange(signal_len, dtype=torch.float64)  # (L,)
    waves = amp[:, :, None] * torch.sin(2 * math.pi * freqs[:, :, None] * t + phase[:, :, None])  # (N, 2, L)
    return (0.5 * waves.sum(dim=1)).float()  # (N, L), within [-1, 1]


@dataclass
class AVDigitsData:
    """Digit images, paired signals and labels as tensors."""

    images: torch.Tensor  # (N, 1, 8, 8) float32 in [0, 1]
    signals: torch.Tensor  # (N, L) float32
    labels: torch.Tensor  # (N,) int64 digit 0..9, shared by both modalities
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_same_length(images=self.images, signals=self.signals, labels=self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: Any) -> "AVDigitsData":
        """The samples at `idx` (ints, a slice or a bool mask of shape (N,))."""
        i = subset_index(idx, len(self))
        return AVDigitsData(self.images[i], self.signals[i], self.labels[i], dict(self.info))

    def split(self, test_size: float = 0.25, seed: int = 0) -> tuple["AVDigitsData", "AVDigitsData"]:
        """Deterministic stratified `(train, test)` split (see `stratified_split`)."""
        train_idx, test_idx = stratified_split(self.labels, test_size, seed)
        return self.subset(train_idx), self.subset(test_idx)


@functools.lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits (read once): images (N, 8, 8) in 0..16 and labels (N,)."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    digits = load_digits()
    return digits.images, digits.target


def make_av_digits(
    *, seed: int = 0, image_noise: float = 0.0, signal_noise: float = 0.0, signal_len: int = SIGNAL_LEN
) -> AVDigitsData:
    """All 1,797 digits, each with a touch tone of its class.

    `image_noise` is the std of Gaussian noise added to the [0, 1] images (then clipped back to
    [0, 1]); `signal_noise` the std of Gaussian noise added to the signals. Same arguments give
    identical tensors; the two noise streams are independent, so changing one knob leaves the
    other modality as it was.
    """
    seed = check_int("seed", seed, min=0)
    image_noise = check_number("image_noise", image_noise, min=0)
    signal_noise = check_number("signal_noise", signal_noise, min=0)
    tone_gen, signal_noise_gen, image_noise_gen = map(torch_generator, np.random.SeedSequence(seed).spawn(3))

    raw_images, raw_labels = _load_digits()
    images = torch.tensor(raw_images / 16.0, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8), a copy
    labels = torch.tensor(raw_labels, dtype=torch.int64)  # (N,)
    signals = touch_tones(labels, signal_len, tone_gen)  # (N, L)
    if image_noise > 0:
        images = (images + image_noise * torch.randn(images.shape, generator=image_noise_gen)).clamp_(0.0, 1.0)
    if signal_noise > 0:
        signals = signals + signal_noise * torch.randn(signals.shape, generator=signal_noise_gen)
    info = dict(seed=seed, image_noise=image_noise, signal_noise=signal_noise, signal_len=signal_len)
    return AVDigitsData(images, signals, labels, info)


class AVDigits(Dataset):
    """AV-digits as a torch Dataset of `{"image": (1, 8, 8), "signal": (L,), "label": ()}`.

    Pass an `AVDigitsData` (e.g. one half of `.split()`), or keyword arguments for
    `make_av_digits`.
    """

    def __init__(self, data: AVDigitsData | None = None, **kw: Any):
        if data is None:
            data = make_av_digits(**kw)
        elif kw:
            raise TypeError(f"pass either data or make_av_digits arguments, not both (got {sorted(kw)})")
        self.data = check_type("data", data, AVDigitsData, "an AVDigitsData")

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        d = self.data
        return {"image": d.images[i], "signal": d.signals[i], "label": d.labels[i]}
