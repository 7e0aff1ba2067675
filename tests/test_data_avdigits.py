"""AV-digits: digit images paired by label with touch tones (mmtutorial.data.avdigits)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader

from mmtutorial.data import avdigits as av
from mmtutorial.data.avdigits import AVDigits, make_av_digits
from mmtutorial.data.splits import stratified_split


@pytest.fixture(scope="module")
def clean():
    return make_av_digits(seed=0)


def decode_tone(signals: torch.Tensor) -> torch.Tensor:
    """Read the digit back from a touch tone: the strongest low and high frequency."""
    spec = torch.fft.rfft(signals, n=2048, dim=-1).abs()  # zero-padded: fine frequency grid
    freqs = torch.fft.rfftfreq(2048)  # cycles per sample
    low_band, high_band = freqs < 0.15, freqs >= 0.15
    f_low = freqs[low_band][spec[:, low_band].argmax(1)]
    f_high = freqs[high_band][spec[:, high_band].argmax(1)]
    table = torch.tensor(av.DTMF_FREQS)  # (10, 2)
    dist = (table[None, :, 0] - f_low[:, None]).abs() + (table[None, :, 1] - f_high[:, None]).abs()
    return dist.argmin(1)


def test_shapes_dtypes_ranges(clean):
    assert clean.images.shape == (1797, 1, 8, 8) and clean.images.dtype == torch.float32
    assert clean.images.min() >= 0 and clean.images.max() <= 1
    assert clean.signals.shape == (1797, av.SIGNAL_LEN) and clean.signals.dtype == torch.float32
    assert clean.signals.abs().max() <= 1
    assert clean.labels.dtype == torch.int64 and clean.labels.unique().tolist() == list(range(10))


def test_images_are_sklearn_digits(clean):
    digits = load_digits()
    torch.testing.assert_close(clean.images[:, 0] * 16, torch.tensor(digits.images, dtype=torch.float32))
    assert clean.labels.tolist() == digits.target.tolist()


def test_signal_codes_the_same_digit_as_the_image(clean):
    assert torch.equal(decode_tone(clean.signals), clean.labels)
    assert len(set(av.DTMF_FREQS)) == 10


def test_deterministic_and_seed_changes_signals(clean):
    again = make_av_digits(seed=0)
    assert torch.equal(again.signals, clean.signals) and torch.equal(again.images, clean.images)
    other = make_av_digits(seed=1)
    assert not torch.equal(other.signals, clean.signals)
    assert torch.equal(other.images, clean.images)  # no image noise: the images are the dataset's


def test_noise_knobs_touch_only_their_modality(clean):
    noisy_img = make_av_digits(image_noise=0.3)
    assert not torch.equal(noisy_img.images, clean.images) and torch.equal(noisy_img.signals, clean.signals)
    assert noisy_img.images.min() >= 0 and noisy_img.images.max() <= 1
    noisy_sig = make_av_digits(signal_noise=0.5)
    assert torch.equal(noisy_sig.images, clean.images)
    assert 0.45 < (noisy_sig.signals - clean.signals).std() < 0.55
    both = make_av_digits(image_noise=0.3, signal_noise=0.5)
    assert torch.equal(both.images, noisy_img.images) and torch.equal(both.signals, noisy_sig.signals)


def test_signal_len():
    d = make_av_digits(signal_len=128)
    assert d.signals.shape == (1797, 128)
    assert torch.equal(decode_tone(d.signals), d.labels)


def test_stratified_split(clean):
    train, test = clean.split(test_size=0.25, seed=0)
    assert len(train) + len(test) == 1797 and abs(len(test) - 0.25 * 1797) <= 10
    tr_idx, te_idx = stratified_split(clean.labels, 0.25, seed=0)
    assert set(tr_idx.tolist()).isdisjoint(te_idx.tolist())
    assert sorted(tr_idx.tolist() + te_idx.tolist()) == list(range(1797))
    counts = torch.bincount(clean.labels, minlength=10).float()
    share = torch.bincount(test.labels, minlength=10) / counts
    torch.testing.assert_close(share, torch.full((10,), 0.25), atol=0.01, rtol=0)
    again, _ = stratified_split(clean.labels, 0.25, seed=0)
    other, _ = stratified_split(clean.labels, 0.25, seed=1)
    assert torch.equal(again, tr_idx) and not torch.equal(other, tr_idx)
    assert torch.equal(train.signals, clean.signals[tr_idx])


def test_dataset_and_dataloader(clean):
    train, _ = clean.split()
    ds = AVDigits(train)
    item = ds[0]
    assert set(item) == {"image", "signal", "label"}
    assert item["image"].shape == (1, 8, 8) and item["signal"].shape == (av.SIGNAL_LEN,) and item["label"].dim() == 0
    batch = next(iter(DataLoader(ds, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))))
    assert batch["image"].shape == (32, 1, 8, 8) and batch["signal"].shape == (32, av.SIGNAL_LEN)
    assert len(AVDigits(seed=0, signal_noise=0.1)) == 1797


@pytest.mark.parametrize(
    "call",
    [
        lambda: make_av_digits(image_noise=-0.1),
        lambda: make_av_digits(signal_noise=-1),
        lambda: make_av_digits(signal_len=4),
        lambda: make_av_digits(seed=-1),
        lambda: make_av_digits(image_noise="a lot"),
        lambda: stratified_split(torch.zeros(5, dtype=torch.long), test_size=1.5),
        lambda: stratified_split(torch.zeros(5), test_size=0.2),
        lambda: stratified_split(np.zeros((5, 2), dtype=int)),
        lambda: av.touch_tones(torch.tensor([10]), 64, torch.Generator()),
        lambda: AVDigits("data"),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_dataset_refuses_data_and_kwargs(clean):
    with pytest.raises(ValueError):
        AVDigits(clean, seed=1)
    with pytest.raises(ValueError):
        clean.subset(torch.ones(3, dtype=torch.bool))
