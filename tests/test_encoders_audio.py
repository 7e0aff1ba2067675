"""Audio encoders (mmtutorial.encoders.audio) and the MFCC step (mmtutorial.preprocess.audio), with
the parity of the filterbank, the mel spectrogram and the MFCCs against librosa where it is installed."""

import math

import numpy as np
import pytest
import torch

from mmtutorial.encoders.audio import LogMel, LogMelCNN, WaveformCNN
from mmtutorial.preprocess.audio import dct_matrix, log_mel_spectrogram, mel_filterbank, mfcc, power_spectrogram


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_log_mel_layer_equals_the_function():
    wave = torch.randn(3, 8000)
    layer = LogMel(8000, n_fft=256, hop=160, n_mels=32, eps=1e-6)
    out = layer(wave)
    assert out.shape == (3, 32, 1 + 8000 // 160)
    torch.testing.assert_close(out, log_mel_spectrogram(wave, 8000, 256, 160, 32, eps=1e-6))
    assert not dict(layer.state_dict())  # window and filterbank are rebuilt, not saved


def test_log_mel_cnn_shapes_and_parameters():
    model = LogMelCNN(32, 51, channels=(8, 16, 32))
    assert model(torch.randn(5, 32, 51)).shape == (5, 10)
    convs = 1 * 8 * 9 + 8 * 16 * 9 + 16 * 32 * 9  # 3x3 kernels, no biases (batch norm follows)
    norms = 2 * (1 + 8 + 16 + 32)
    head = 32 * (32 // 8) * (51 // 8) * 10 + 10
    assert n_params(model) == convs + norms + head


def test_waveform_cnn_shapes_parameters_and_loudness():
    model = WaveformCNN(8000, channels=(16, 16, 32, 32), kernel=32, stride=8, pool=4).eval()
    steps = ((8000 - 32) // 8 + 1) // 4 // 4 // 4  # 997 -> 249 -> 62 -> 15
    convs = 32 * 16 + 16 * 16 * 9 + 16 * 32 * 9 + 32 * 32 * 9
    norms = 2 * (16 + 16 + 32 + 32)
    assert n_params(model) == convs + norms + 32 * steps * 10 + 10
    x = torch.randn(4, 8000)
    assert model(x).shape == (4, 10)
    torch.testing.assert_close(model(3 * x), model(x), rtol=1e-4, atol=1e-4)  # scaled to unit loudness


def test_encoders_check_their_inputs():
    with pytest.raises(ValueError, match=r"log_mel must have shape \(B, 32, 51\)"):
        LogMelCNN(32, 51)(torch.randn(2, 32, 50))
    with pytest.raises(ValueError, match="at least 8"):
        LogMelCNN(4, 51, channels=(8, 8, 8))
    with pytest.raises(TypeError, match="channels"):
        LogMelCNN(32, 51, channels=8)
    with pytest.raises(ValueError, match=r"wave must have shape \(B, 8000\)"):
        WaveformCNN(8000)(torch.randn(2, 4000))
    with pytest.raises(TypeError, match="wave must be a floating-point"):
        WaveformCNN(8000)(torch.zeros(2, 8000, dtype=torch.int16))
    with pytest.raises(ValueError, match="too short"):
        WaveformCNN(100)


def test_dct_matrix_is_orthonormal_and_mfcc_keeps_the_outline():
    basis = dct_matrix(32, 32, dtype=torch.float64)
    torch.testing.assert_close(basis @ basis.T, torch.eye(32, dtype=torch.float64))
    torch.testing.assert_close(dct_matrix(13, 32), basis[:13].float())
    log_mel = torch.randn(2, 32, 7)
    assert mfcc(log_mel, 13).shape == (2, 13, 7)
    torch.testing.assert_close(basis.T.float() @ mfcc(log_mel, 32), log_mel, rtol=1e-5, atol=1e-5)  # invertible
    flat = torch.full((32, 4), 3.0)  # a flat spectrum is all in c0
    c = mfcc(flat, 13)
    torch.testing.assert_close(c[0], torch.full((4,), 3.0 * math.sqrt(32)))
    assert c[1:].abs().max() < 1e-5
    with pytest.raises(ValueError, match="n_out must be an int >= 1 and <= 32"):
        dct_matrix(33, 32)
    with pytest.raises(ValueError, match=r"log_mel must have shape \(\.\.\., n_mels, T\)"):
        mfcc(torch.randn(32))


# Parity with librosa: the filterbank, the mel spectrogram and the MFCCs (HTK mel scale, no
# filter normalization, reflect padding: librosa's options for our conventions).
librosa = pytest.importorskip("librosa")
SR, N_FFT, HOP, N_MELS = 8000, 256, 160, 32


def test_mel_filterbank_matches_librosa():
    ref = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, htk=True, norm=None)
    np.testing.assert_allclose(mel_filterbank(N_MELS, N_FFT, SR, dtype=torch.float64).numpy(), ref, atol=1e-6)


def test_mel_spectrogram_matches_librosa():
    y = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    ref = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, htk=True,
                                         norm=None, pad_mode="reflect")
    ours = mel_filterbank(N_MELS, N_FFT, SR) @ power_spectrogram(torch.from_numpy(y), N_FFT, HOP)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-4, atol=1e-3)


def test_mfcc_matches_librosa():
    y = np.random.default_rng(1).standard_normal(SR).astype(np.float32)
    ref = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, htk=True,
                               mel_norm=None, pad_mode="reflect")
    mel = mel_filterbank(N_MELS, N_FFT, SR) @ power_spectrogram(torch.from_numpy(y), N_FFT, HOP)
    db = 10 * torch.log10(mel.clamp_min(1e-10))  # librosa's power_to_db: decibels, at most 80 dB below the peak
    db = torch.maximum(db, db.max() - 80)
    np.testing.assert_allclose(mfcc(db, 13).numpy(), ref, rtol=1e-4, atol=1e-3)
    S = np.random.default_rng(2).standard_normal((N_MELS, 9))
    np.testing.assert_allclose(mfcc(torch.from_numpy(S), 20).numpy(), librosa.feature.mfcc(S=S, n_mfcc=20), atol=1e-12)
