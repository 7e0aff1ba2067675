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


def test_make_av_digits_rejects_infinite_or_negative_noise():
    with pytest.raises(ValueError, match="image_noise must be a finite number >= 0, got inf"):
        make_av_digits(image_noise=float("inf"))
    with pytest.raises(ValueError, match="signal_noise must be a finite number >= 0"):
        make_av_digits(signal_noise=-1)


def test_make_av_digits_rejects_wrong_types_and_short_signals():
    with pytest.raises(TypeError, match="image_noise must be a number"):
        make_av_digits(image_noise="a lot")
    with pytest.raises(ValueError, match="signal_len must be an int >= 8"):
        make_av_digits(signal_len=4)


def test_touch_tones_reject_digits_outside_0_to_9():
    with pytest.raises(ValueError, match=r"labels must be digits 0..9, got values in \[0, 10\]"):
        av.touch_tones(torch.tensor([0, 10]), 64, torch.Generator())
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        av.touch_tones(torch.tensor([1.0]), 64, torch.Generator())


def test_stratified_split_checks_labels_and_test_size():
    with pytest.raises(TypeError, match="labels must be integer class ids"):
        stratified_split(torch.zeros(5), test_size=0.2)
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\)"):
        stratified_split(np.zeros((5, 2), dtype=int))
    with pytest.raises(ValueError, match=r"test_size must be a fraction in \(0, 1\)"):
        stratified_split(torch.zeros(5, dtype=torch.long), test_size=1.5)


def test_avdigits_data_rejects_fields_of_different_lengths(clean):
    with pytest.raises(ValueError, match="images, signals, labels must have the same length, got images 1797, "
                                         "signals 1797, labels 10"):
        av.AVDigitsData(clean.images, clean.signals, clean.labels[:10])


def test_dataset_refuses_other_objects_and_data_with_kwargs(clean):
    with pytest.raises(TypeError, match="data must be an AVDigitsData"):
        AVDigits("data")
    with pytest.raises(TypeError, match="not both"):
        AVDigits(clean, seed=1)


def test_subset_takes_ints_slices_and_bool_masks(clean):
    assert torch.equal(clean.subset([3, 1]).labels, clean.labels[[3, 1]])
    assert len(clean.subset(slice(0, 10))) == 10
    assert len(clean.subset(clean.labels == 0)) == int((clean.labels == 0).sum())
    with pytest.raises(ValueError, match="bool mask must have shape"):
        clean.subset(torch.ones(3, dtype=torch.bool))
