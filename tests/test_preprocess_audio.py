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
    centres = mel_to_hz(mels)[1:-1]
    inside = (freqs >= centres[0]) & (freqs <= centres[-1])
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


def test_errors_name_the_argument():
    x = torch.randn(100)
    with pytest.raises(ValueError, match="wave"):
        stft(torch.arange(100), 32, 8)
    with pytest.raises(ValueError, match="wave"):
        stft([0.0] * 100, 32, 8)
    with pytest.raises(ValueError, match="n_fft"):
        stft(x, 1, 8)
    with pytest.raises(ValueError, match="hop"):
        stft(x, 32, 0)
    with pytest.raises(ValueError, match="window"):
        stft(x, 32, 8, window=torch.ones(16))
    with pytest.raises(ValueError, match="n_fft // 2"):
        stft(torch.randn(10), 32, 8)
    with pytest.raises(ValueError, match="frame_length"):
        frame(torch.randn(10), 20, 5)
    with pytest.raises(ValueError, match="n"):
        hann_window(0)
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(10, 256, 8000, f_max=5000)
    with pytest.raises(ValueError, match="f_min"):
        mel_filterbank(10, 256, 8000, f_min=3000, f_max=2000)
    with pytest.raises(ValueError, match="n_mels"):
        mel_filterbank(0, 256, 8000)
    with pytest.raises(ValueError, match="sample_rate"):
        fft_frequencies(256, 0)
    with pytest.raises(ValueError, match="eps"):
        log_mel_spectrogram(x, 8000, n_fft=32, hop=8, n_mels=4, eps=0)
