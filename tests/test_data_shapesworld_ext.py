"""ShapesWorld extensions: tones (audio=True) and interaction labels."""

import pytest
import torch
from torch.utils.data import DataLoader

from mmtutorial.data import shapesworld as sw
from mmtutorial.data.shapesworld import ShapesWorld, interaction_labels, make_shapesworld


@pytest.fixture(scope="module")
def tones():
    return make_shapesworld(150, split="all", seed=0, audio=True, audio_noise=0.0)


def spectrum(audio: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(audio.shape[-1], periodic=False)  # limits leakage between bins
    return torch.fft.rfft(audio * window, dim=-1).abs()  # (N, L // 2 + 1), bin k = k * sr / L Hz


def test_audio_shape_and_images_unchanged(tones):
    assert tones.audio.shape == (150, sw.AUDIO_LEN) and tones.audio.dtype == torch.float32
    assert tones.sample_rate == sw.SAMPLE_RATE
    silent = make_shapesworld(150, split="all", seed=0)
    assert torch.equal(silent.images, tones.images) and silent.captions == tones.captions
    assert tones.audio.abs().max() < 1.5


def test_dominant_frequency_is_the_color_pitch(tones):
    hz = spectrum(tones.audio).argmax(1).float() * sw.SAMPLE_RATE / sw.AUDIO_LEN
    pitch = torch.tensor([sw.PITCH_HZ[c] for c in sw.COLOR_NAMES])[tones.labels["color"]]
    assert ((hz - pitch).abs() / pitch).max() < 0.015
    # and the pitch alone identifies the color: nearest fundamental
    nearest = (hz[:, None] - torch.tensor([sw.PITCH_HZ[c] for c in sw.COLOR_NAMES])).abs().argmin(1)
    assert torch.equal(nearest, tones.labels["color"])


def test_loudness_grows_with_size(tones):
    rms = tones.audio.pow(2).mean(1).sqrt()
    by_size = [rms[tones.labels["size"] == s] for s in range(3)]
    assert by_size[0].max() < by_size[1].min() and by_size[1].max() < by_size[2].min()
    for s, group in enumerate(by_size):  # equal power across timbres: RMS = loudness / sqrt(2), minus the fades
        torch.testing.assert_close(group.mean(), torch.tensor(sw.LOUDNESS[s] / 2**0.5), rtol=0.03, atol=0)


def test_timbre_follows_shape(tones):
    spec = spectrum(tones.audio)
    f0 = spec.argmax(1)

    def harmonic(k):  # peak magnitude near harmonic k, relative to the fundamental
        idx = (k * f0)[:, None] + torch.arange(-3 * k, 3 * k + 1)
        return spec.gather(1, idx.clamp(max=spec.shape[1] - 1)).max(1).values / spec.max(1).values

    shape = tones.labels["shape"]
    circle, square, triangle = (shape == sw.SHAPES.index(s) for s in ("circle", "square", "triangle"))
    assert harmonic(2)[circle].max() < 0.05 and harmonic(3)[circle].max() < 0.05  # pure sine
    assert harmonic(2)[square].max() < 0.05 and harmonic(3)[square].min() > 0.25  # odd harmonics only
    assert harmonic(2)[triangle].min() > 0.4  # sawtooth-ish: all harmonics


def test_audio_noise_knob_and_determinism(tones):
    noisy = make_shapesworld(150, split="all", seed=0, audio=True, audio_noise=0.3)
    diff = noisy.audio - tones.audio
    assert 0.28 < diff.std() < 0.32
    again = make_shapesworld(150, split="all", seed=0, audio=True, audio_noise=0.3)
    assert torch.equal(again.audio, noisy.audio)


def test_audio_in_dataset_items_and_subset(tones):
    ds = ShapesWorld.from_data(tones.subset(slice(0, 20)))
    assert ds[0]["audio"].shape == (sw.AUDIO_LEN,)
    batch = next(iter(DataLoader(ds, batch_size=8)))
    assert batch["audio"].shape == (8, sw.AUDIO_LEN)
    short = make_shapesworld(4, audio=True, audio_len=800, sample_rate=16000)
    assert short.audio.shape == (4, 800) and short.sample_rate == 16000


def test_render_tones_rejects_infinite_audio_noise():
    with pytest.raises(ValueError, match="audio_noise must be a finite number >= 0, got inf"):
        make_shapesworld(3, audio=True, audio_noise=float("inf"))


def test_render_tones_rejects_sample_rates_that_alias_the_pitches():
    with pytest.raises(ValueError, match=f"sample_rate must be an int >= {sw.MIN_SAMPLE_RATE}"):
        make_shapesworld(3, audio=True, sample_rate=1000)
    with pytest.raises(TypeError, match="sample_rate must be an int"):
        make_shapesworld(3, audio=True, sample_rate=8000.0)


@pytest.fixture(scope="module")
def big():
    return make_shapesworld(4000, seed=7, image_size=16)


def test_interaction_labels_definitions(big):
    lab = interaction_labels(big)
    assert set(lab) == set(sw.INTERACTIONS) == {"redundant", "unique_image", "unique_text", "synergy"}
    warm = torch.tensor([sw.COLOR_NAMES.index(c) for c in sw.WARM_COLORS])
    assert torch.equal(lab["redundant"], torch.isin(big.labels["color"], warm).long())
    assert torch.equal(lab["unique_image"], (big.labels["vertical"] == sw.VERTICALS.index("lower")).long())
    assert torch.equal(lab["unique_text"], (big.labels["template"] >= 4).long())
    assert torch.equal(lab["synergy"], lab["unique_image"] ^ lab["unique_text"])
    sentence = [big.captions[i].startswith(("there", "the ")) for i in range(len(big))]
    assert lab["unique_text"].bool().tolist() == sentence


def test_interaction_labels_balanced_and_synergy_needs_both(big):
    lab = interaction_labels(big)
    for name, y in lab.items():
        assert y.dtype == torch.int64 and set(y.unique().tolist()) == {0, 1}
        assert 0.44 < y.float().mean() < 0.56, name
    s = lab["synergy"].float()
    for alone in ("unique_image", "unique_text"):  # one modality's bit says nothing about synergy
        for v in (0, 1):
            assert 0.45 < s[lab[alone] == v].mean() < 0.55


def test_interaction_target_in_dataset(big):
    ds = ShapesWorld.from_data(big.subset(slice(0, 50)), target="synergy")
    assert ds.num_classes == 2
    assert torch.equal(ds.labels, interaction_labels(big.subset(slice(0, 50)))["synergy"])
    assert ds[3]["label"] == ds.labels[3]
    with pytest.raises(TypeError, match="data must be a ShapesWorldData"):
        interaction_labels("nope")
