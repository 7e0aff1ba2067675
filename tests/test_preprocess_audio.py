"""STFT, mel filterbank and log-mel spectrogram (mmtutorial.preprocess.audio)."""

import math

import pytest
import torch

from mmtutorial.data import make_shapesworld
from mmtutorial.preprocess.audio import (fft_frequencies, frame, hann_window, hz_to_mel, log_mel_spectrogram,
                                   mel_filterbank, mel_to_hz, power_spectrogram, stft)
from mmtutorial.data.shapesworld import COLOR_NAMES, PITCH_HZ


def test_frame_is_a_strided_view():
    x = torch.arange(10.0)
    f = frame(x, 4, 3)  # frames start at 0, 3, 6
    assert f.shape == (3, 4)
    assert f[1].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert frame(torch.randn(2, 5, 100), 16, 8).shape == (2, 5, 1 + (100 - 16) // 8, 16)


@pytest.mark.parametrize("n", [1, 2, 64, 255])
def test_hann_window_matches_torch(n):
    torch.testing.assert_close(hann_window(n), torch.hann_window(n))
    torch.testing.assert_close(hann_window(n, periodic=False), torch.hann_window(n, periodic=False))


@pytest.mark.parametrize("n_fft,hop,center", [(512, 128, True), (256, 64, True), (255, 50, True), (64, 16, False)])
def test_stft_matches_torch_stft(n_fft, hop, center):
    x = torch.randn(3, 2, 1000, dtype=torch.float64)
    ours = stft(x, n_fft, hop, center=center)
    ref = torch.stft(x.reshape(-1, 1000), n_fft, hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                     center=center, pad_mode="reflect", return_complex=True)
    torch.testing.assert_close(ours, ref.reshape(3, 2, *ref.shape[1:]))
    torch.testing.assert_close(power_spectrogram(x, n_fft, hop, center=center), ours.abs() ** 2)


def test_stft_of_a_single_wave_and_custom_window():
    x = torch.randn(400)
    w = torch.ones(128)
    torch.testing.assert_close(stft(x, 128, 32, window=w),
                               torch.stft(x, 128, 32, window=w, return_complex=True))


def test_mel_scale_round_trip_and_anchor():
    assert abs(float(hz_to_mel(1000.0)) - 1000.0) < 0.1  # 1000 Hz is about 1000 mel
    f = torch.linspace(0, 8000, 50, dtype=torch.float64)
    torch.testing.assert_close(mel_to_hz(hz_to_mel(f)), f)


def test_mel_filterbank_shape_and_partition_of_unity():
    fb = mel_filterbank(40, 512, 8000)
    assert fb.shape == (40, 257) and fb.min() >= 0 and fb.max() <= 1
    assert (fb.sum(dim=1) > 0).all()  # no empty filter
    freqs = fft_frequencies(512, 8000)
    mels = torch.linspace(0, float(hz_to_mel(4000.0)), 42, dtype=torch.float64)
    centers = mel_to_hz(mels)[1:-1]
    inside = (freqs >= centers[0]) & (freqs <= centers[-1])
    torch.testing.assert_close(fb.sum(dim=0)[inside].double(), torch.ones(int(inside.sum()), dtype=torch.float64),
                               atol=1e-5, rtol=0)


def test_mel_filterbank_matches_torchaudio():
    F = pytest.importorskip("torchaudio.functional")
    ref = F.melscale_fbanks(257, 0.0, 4000.0, 40, 8000, norm=None, mel_scale="htk")  # (n_freqs, n_mels)
    torch.testing.assert_close(mel_filterbank(40, 512, 8000), ref.T)


def test_log_mel_shape_and_pitch_of_shapesworld_tones():
    d = make_shapesworld(60, split="all", seed=0, audio=True)
    lm = log_mel_spectrogram(d.audio, d.sample_rate, n_fft=512, hop=128, n_mels=64)
    assert lm.shape == (60, 64, 1 + d.audio.shape[1] // 128) and torch.isfinite(lm).all()
    power = power_spectrogram(d.audio, 512, 128).mean(dim=-1)  # (N, 257)
    pitch = torch.tensor([PITCH_HZ[COLOR_NAMES[c]] for c in d.labels["color"].tolist()])
    expected = torch.round(pitch * 512 / d.sample_rate).long()
    assert (power.argmax(dim=1) - expected).abs().max() <= 1


def test_log_mel_of_silence_is_finite():
    lm = log_mel_spectrogram(torch.zeros(2, 1000), 8000, n_fft=256, hop=64, n_mels=20)
    torch.testing.assert_close(lm, torch.full_like(lm, math.log(1e-10)))


def test_stft_rejects_integer_waves_and_non_tensors():
    with pytest.raises(TypeError, match="wave must be a floating-point tensor"):
        stft(torch.arange(100), 32, 8)
    with pytest.raises(TypeError, match="wave must be a floating-point tensor, got list"):
        stft([0.0] * 100, 32, 8)


def test_stft_checks_sizes_window_and_length():
    x = torch.randn(100)
    with pytest.raises(ValueError, match="n_fft must be an int >= 2"):
        stft(x, 1, 8)
    with pytest.raises(ValueError, match="hop must be an int >= 1"):
        stft(x, 32, 0)
    with pytest.raises(ValueError, match=r"window must have shape \(n_fft,\) = \(32,\)"):
        stft(x, 32, 8, window=torch.ones(16))
    with pytest.raises(ValueError, match="n_fft // 2"):
        stft(torch.randn(10), 32, 8)
    with pytest.raises(ValueError, match="wave must not be empty"):
        stft(torch.zeros(0, 100), 32, 8)


def test_frame_and_window_reject_impossible_lengths():
    with pytest.raises(ValueError, match="frame_length"):
        frame(torch.randn(10), 20, 5)
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        hann_window(0)


def test_device_arguments_are_checked_at_the_call():
    with pytest.raises(ValueError, match="device must name a device"):
        hann_window(4, device="bogus")
    with pytest.raises(TypeError, match="device must be a torch.device"):
        hann_window(4, device=3.5)
    with pytest.raises(ValueError, match="device must name a device"):
        mel_filterbank(10, 256, 8000, device="bogus")
    assert hann_window(4, device="cpu").device.type == "cpu"


def test_mel_filterbank_rejects_frequencies_outside_nyquist():
    with pytest.raises(ValueError, match="f_max <= sample_rate / 2 = 4000"):
        mel_filterbank(10, 256, 8000, f_max=5000)
    with pytest.raises(ValueError, match="f_min=3000, f_max=2000"):
        mel_filterbank(10, 256, 8000, f_min=3000, f_max=2000)
    with pytest.raises(ValueError, match="n_mels must be an int >= 1"):
        mel_filterbank(0, 256, 8000)


def test_mel_filterbank_rejects_more_mels_than_the_fft_resolves():
    with pytest.raises(ValueError, match=r"n_mels=64 is too many for n_fft=16: 50 mel filters .* larger n_fft"):
        mel_filterbank(64, 16, 8000)  # used to return 50 all-zero filters
    with pytest.raises(ValueError, match=r"3 mel filters \(first \[0, 3, 6\]\)"):
        mel_filterbank(64, 128, 8000)
    assert (mel_filterbank(64, 256, 8000).sum(dim=1) > 0).all()


def test_sample_rate_must_be_finite_and_positive():
    with pytest.raises(ValueError, match="sample_rate must be a finite number > 0, got 0.0"):
        fft_frequencies(256, 0)
    with pytest.raises(ValueError, match="sample_rate must be a finite number > 0, got inf"):
        log_mel_spectrogram(torch.randn(1000), math.inf, n_fft=32, hop=8, n_mels=4)


def test_log_mel_rejects_non_positive_eps():
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        log_mel_spectrogram(torch.randn(100), 8000, n_fft=32, hop=8, n_mels=4, eps=0)
