"""Audio features written out: framing, window, STFT, mel filterbank, log-mel.

A waveform `(..., L)` becomes a log-mel spectrogram `(..., n_mels, n_frames)` in five steps:

    frame        cut overlapping frames of `n_fft` samples, `hop` apart     (..., F, n_fft)
    window       multiply each frame by a Hann window (less leakage)        (..., F, n_fft)
    FFT          one real FFT per frame                                      (..., F, n_fft // 2 + 1)
    power        |X|^2, transposed to frequency x time                       (..., n_fft // 2 + 1, F)
    mel + log    triangular filters on the mel scale, then log               (..., n_mels, F)

and, one step further, MFCCs: a DCT-II along the mel axis keeps the first `n_mfcc` coefficients
of each frame's log-mel spectrum (`dct_matrix`, `mfcc`)                      (..., n_mfcc, F)

`stft` matches `torch.stft(..., center=True, pad_mode="reflect", return_complex=True)`;
`mel_filterbank` is the HTK-style bank (torchaudio's `melscale_fbanks(..., norm=None,
mel_scale="htk")`, transposed). Everything runs on the device and dtype of the input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._checks import check_bool, check_int, check_number, check_tensor, describe
from ..device import as_device

__all__ = [
    "frame",
    "hann_window",
    "stft",
    "power_spectrogram",
    "hz_to_mel",
    "mel_to_hz",
    "fft_frequencies",
    "mel_filterbank",
    "log_mel_spectrogram",
    "dct_matrix",
    "mfcc",
]


def _check_wave(wave: object) -> torch.Tensor:
    if check_tensor("wave", wave, dtype="float", nonempty=True).dim() == 0:
        raise ValueError(f"wave must be a floating-point tensor of shape (..., L), got {describe(wave)}")
    return wave


def frame(wave: torch.Tensor, frame_length: int, hop: int) -> torch.Tensor:
    """Cut `wave` (..., L) into overlapping frames (..., n_frames, frame_length).

    Frame t holds samples `[t * hop, t * hop + frame_length)`; n_frames = 1 + (L - frame_length) // hop.
    The result is a view (no copy), made with `Tensor.unfold`.
    """
    wave = _check_wave(wave)
    frame_length = check_int("frame_length", frame_length, min=1)
    hop = check_int("hop", hop, min=1)
    if wave.shape[-1] < frame_length:
        raise ValueError(f"wave must have at least frame_length={frame_length} samples, got {wave.shape[-1]}")
    return wave.unfold(-1, frame_length, hop)  # (..., n_frames, frame_length)


def hann_window(n: int, periodic: bool = True, device: torch.device | str | None = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Hann window w[k] = 0.5 - 0.5 cos(2 pi k / N), shape (n,).

    N = n for the periodic window (the one spectrograms use, equal to `torch.hann_window`),
    N = n - 1 for the symmetric one.
    """
    n = check_int("n", n, min=1)
    check_bool("periodic", periodic)
    device = None if device is None else as_device(device)
    if n == 1:
        return torch.ones(1, device=device, dtype=dtype)
    N = n if periodic else n - 1
    k = torch.arange(n, device=device, dtype=dtype)
    return 0.5 - 0.5 * torch.cos(k * (2 * math.pi / N))


def stft(wave: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor | None = None,
         center: bool = True) -> torch.Tensor:
    """Short-time Fourier transform, complex of shape (..., n_fft // 2 + 1, n_frames).

    With `center=True` the wave is first reflect-padded by n_fft // 2 on both sides, so frame t
    is centered on sample t * hop and n_frames = 1 + L // hop. `window` defaults to the periodic
    Hann window of length n_fft. Equals `torch.stft(wave, n_fft, hop, window=window,
    center=center, pad_mode="reflect", return_complex=True)`.
    """
    wave = _check_wave(wave)
    n_fft = check_int("n_fft", n_fft, min=2)
    hop = check_int("hop", hop, min=1)
    if window is None:
        window = hann_window(n_fft, device=wave.device, dtype=wave.dtype)
    if check_tensor("window", window).shape != (n_fft,):
        raise ValueError(f"window must have shape (n_fft,) = ({n_fft},), got {tuple(window.shape)}")
    if check_bool("center", center):
        pad = n_fft // 2
        if wave.shape[-1] <= pad:
            raise ValueError(f"wave must have more than n_fft // 2 = {pad} samples for center=True, "
                             f"got {wave.shape[-1]}")
        batch_shape = wave.shape[:-1]
        flat = wave.reshape(-1, 1, wave.shape[-1])  # (B, 1, L): F.pad's reflect mode wants a channel dim
        wave = F.pad(flat, (pad, pad), mode="reflect").reshape(*batch_shape, -1)  # (..., L + 2 pad)
    frames = frame(wave, n_fft, hop) * window.to(wave)  # (..., n_frames, n_fft)
    spectrum = torch.fft.rfft(frames, dim=-1)  # (..., n_frames, n_fft // 2 + 1)
    return spectrum.transpose(-1, -2)  # (..., n_freqs, n_frames)


def power_spectrogram(wave: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor | None = None,
                      center: bool = True) -> torch.Tensor:
    """|STFT|^2, shape (..., n_fft // 2 + 1, n_frames)."""
    return stft(wave, n_fft, hop, window, center).abs().square()


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    """Mel scale m = 2595 log10(1 + f / 700) (HTK; 1000 Hz is about 1000 mel)."""
    f = torch.as_tensor(f, dtype=torch.float64) if not isinstance(f, torch.Tensor) else f
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def mel_to_hz(m: torch.Tensor | float) -> torch.Tensor:
    """Inverse of `hz_to_mel`: f = 700 (10^(m / 2595) - 1)."""
    m = torch.as_tensor(m, dtype=torch.float64) if not isinstance(m, torch.Tensor) else m
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def fft_frequencies(n_fft: int, sample_rate: float) -> torch.Tensor:
    """Center frequency in Hz of each rfft bin: k * sample_rate / n_fft, shape (n_fft // 2 + 1,)."""
    n_fft = check_int("n_fft", n_fft, min=2)
    sample_rate = check_number("sample_rate", sample_rate, above=0)
    return torch.arange(n_fft // 2 + 1, dtype=torch.float64) * (sample_rate / n_fft)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: float, f_min: float = 0.0,
                   f_max: float | None = None, dtype: torch.dtype = torch.float32,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """Triangular mel filters, shape (n_mels, n_fft // 2 + 1).

    n_mels + 2 points are spaced evenly on the mel scale between f_min and f_max (default:
    Nyquist, sample_rate / 2); filter m rises linearly from point m to point m + 1 and falls to
    zero at point m + 2 (in Hz). Multiply a power spectrogram (..., n_freqs, T) from the left:
    `fb @ power` -> (..., n_mels, T). Too many filters for the FFT size raise ValueError: the
    narrowest ones would fall between two FFT bins and stay all zero.
    """
    n_mels = check_int("n_mels", n_mels, min=1)
    device = None if device is None else as_device(device)
    freqs = fft_frequencies(n_fft, sample_rate)  # (n_freqs,), checks n_fft and sample_rate
    nyquist = sample_rate / 2
    f_min = check_number("f_min", f_min, min=0)
    f_max = nyquist if f_max is None else check_number("f_max", f_max)
    if not f_min < f_max <= nyquist:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2 = {nyquist:g}, "
                         f"got f_min={f_min:g}, f_max={f_max:g}")
    mels = torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2, dtype=torch.float64)
    edges = mel_to_hz(mels)  # (n_mels + 2,) in Hz
    left, center, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (n_mels, 1) each
    rising = (freqs - left) / (center - left)  # (n_mels, n_freqs)
    falling = (right - freqs) / (right - center)
    fb = torch.clamp(torch.minimum(rising, falling), min=0.0)  # (n_mels, n_freqs)
    empty = (fb.amax(dim=1) == 0).nonzero().squeeze(1).tolist()
    if empty:
        raise ValueError(
            f"n_mels={n_mels} is too many for n_fft={n_fft}: {len(empty)} mel filters (first {empty[:5]}) fall "
            f"between FFT bins {sample_rate / n_fft:g} Hz apart and would be all zero; use a larger n_fft, "
            "fewer n_mels or a wider f_min..f_max range")
    return fb.to(device=device, dtype=dtype)


def log_mel_spectrogram(wave: torch.Tensor, sample_rate: float, n_fft: int = 512, hop: int = 128,
                        n_mels: int = 64, f_min: float = 0.0, f_max: float | None = None,
                        eps: float = 1e-10) -> torch.Tensor:
    """log(mel filterbank @ |STFT|^2 + ...), shape (..., n_mels, n_frames).

    Powers below `eps` are clamped to `eps` before the natural log, so silence gives log(eps)
    instead of -inf.
    """
    eps = check_number("eps", eps, above=0)
    power = power_spectrogram(wave, n_fft, hop)  # (..., n_freqs, T)
    fb = mel_filterbank(n_mels, n_fft, sample_rate, f_min, f_max, dtype=power.dtype, device=power.device)
    mel = fb @ power  # (n_mels, n_freqs) @ (..., n_freqs, T) -> (..., n_mels, T)
    return torch.log(mel.clamp_min(eps))


def dct_matrix(n_out: int, n_in: int, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> torch.Tensor:
    """The orthonormal DCT-II as a matrix (n_out, n_in): its first ``n_out`` rows.

    Row k is the cosine ``sqrt(2 / N) cos(pi k (2n + 1) / (2N))`` over n = 0..N-1 (N = n_in), row
    0 scaled by ``1 / sqrt(2)`` more, so that the full square matrix is orthogonal (``scipy.fft.dct``
    with ``norm="ortho"``, which librosa's MFCC uses).
    """
    n_in = check_int("n_in", n_in, min=1)
    n_out = check_int("n_out", n_out, min=1, max=n_in)
    device = None if device is None else as_device(device)
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2 / n_in)  # (n_out, n_in)
    basis[0] /= math.sqrt(2)
    return basis.to(device=device, dtype=dtype)


def mfcc(log_mel: torch.Tensor, n_mfcc: int = 13) -> torch.Tensor:
    """Mel-frequency cepstral coefficients of a log-mel spectrogram: (..., n_mels, T) -> (..., n_mfcc, T).

    Each frame's log-mel spectrum is expanded in cosines (`dct_matrix`) and only the first
    ``n_mfcc`` coefficients are kept: the smooth outline of the spectrum (the vocal tract's
    resonances), without the fine detail (the pitch's harmonics). Any log works (natural, or
    decibels as librosa uses): the DCT is linear, so the coefficients scale with it.
    """
    if check_tensor("log_mel", log_mel, dtype="float", nonempty=True).dim() < 2:
        raise ValueError(f"log_mel must have shape (..., n_mels, T), got {describe(log_mel)}")
    basis = dct_matrix(n_mfcc, log_mel.shape[-2], dtype=log_mel.dtype, device=log_mel.device)  # (n_mfcc, n_mels)
    return basis @ log_mel  # (..., n_mfcc, T)
