"""Normalization and the paired image-caption flip (mmtutorial.preprocess.transforms)."""

import math

import pytest
import torch
from torchvision.transforms import v2

from mmtutorial.data import POSITIONS, Vocab, make_shapesworld
from mmtutorial.preprocess.transforms import (PairedRandomHorizontalFlip, channel_stats, denormalize, flip_caption,
                                        flip_position, flip_tokens, hflip_batch, hflip_pair, normalize)

LEFT, CENTER, RIGHT = (POSITIONS.index(p) for p in ("left", "center", "right"))


@pytest.fixture(scope="module")
def data():
    return make_shapesworld(64, split="all", seed=0)


def test_channel_stats_and_normalize_give_zero_mean_unit_std(data):
    mean, std = channel_stats(data.images)
    assert mean.shape == std.shape == (3,)
    x = data.images.transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(mean, x.mean(1))
    torch.testing.assert_close(std, x.std(1, correction=0))
    z = normalize(data.images, mean, std)
    torch.testing.assert_close(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z, v2.Normalize(mean.tolist(), std.tolist())(data.images))
    torch.testing.assert_close(denormalize(z, mean, std), data.images)
    torch.testing.assert_close(normalize(data.images[0], mean, std), z[0])  # a single (C, H, W) image


def test_flip_caption_swaps_whole_words_and_keeps_case():
    assert flip_caption("a red circle on the left") == "a red circle on the right"
    assert flip_caption("Right and left, LEFT") == "Left and right, RIGHT"
    assert flip_caption("a bright leftover") == "a bright leftover"
    assert flip_caption("in the center") == "in the center"
    assert flip_caption(flip_caption("to the right of the left")) == "to the right of the left"


def test_flip_position_ints_and_tensors():
    assert (flip_position(LEFT), flip_position(CENTER), flip_position(RIGHT)) == (RIGHT, CENTER, LEFT)
    assert flip_position(torch.tensor([LEFT, CENTER, RIGHT])).tolist() == [RIGHT, CENTER, LEFT]


def test_flip_tokens_matches_reencoding(data):
    flipped = [flip_caption(c) for c in data.captions]
    ids, _ = data.vocab.encode(flipped, max_len=data.tokens.shape[1])
    assert torch.equal(flip_tokens(data.tokens, data.vocab), ids)


def test_hflip_pair_mirrors_image(data):
    img, cap, pos = hflip_pair(data.images[0], data.captions[0], int(data.labels["position"][0]))
    assert torch.equal(img, data.images[0].flip(-1))
    assert cap == flip_caption(data.captions[0]) and pos == flip_position(int(data.labels["position"][0]))


def test_hflip_batch_flips_only_selected_rows(data):
    flip = torch.arange(len(data)) % 2 == 0
    images, captions, positions = hflip_batch(data.images, data.captions, data.labels["position"], flip)
    assert torch.equal(images[flip], data.images[flip].flip(-1))
    assert torch.equal(images[~flip], data.images[~flip])
    assert torch.equal(positions[flip], flip_position(data.labels["position"][flip]))
    assert torch.equal(positions[~flip], data.labels["position"][~flip])
    assert [c for c, f in zip(captions, flip) if not f] == [c for c, f in zip(data.captions, flip) if not f]
    assert data.images.shape == images.shape  # inputs untouched: a new tensor came back


def test_paired_random_flip_is_consistent_and_seeded(data):
    sample = {"image": data.images[0], "caption": "a red dot on the left", "position": LEFT,
              "tokens": data.tokens[0], "color": 0}
    always = PairedRandomHorizontalFlip(p=1.0, vocab=data.vocab)(sample)
    assert always["flipped"] and always["caption"] == "a red dot on the right" and always["position"] == RIGHT
    assert torch.equal(always["image"], sample["image"].flip(-1)) and always["color"] == 0
    assert torch.equal(always["tokens"], flip_tokens(sample["tokens"], data.vocab))
    never = PairedRandomHorizontalFlip(p=0.0)(sample)
    assert not never["flipped"] and never["caption"] == sample["caption"]
    def draws():
        t = PairedRandomHorizontalFlip(0.5, data.vocab, torch.Generator().manual_seed(3))
        return [t(sample)["flipped"] for _ in range(20)]
    assert draws() == draws()  # the generator makes the flips reproducible
    t = PairedRandomHorizontalFlip(0.5, generator=torch.Generator().manual_seed(0))
    flips = [t({"image": data.images[0]})["flipped"] for _ in range(400)]
    assert 150 < sum(flips) < 250


def test_channel_stats_need_a_non_empty_batch_of_images(data):
    with pytest.raises(ValueError, match=r"images must be a floating-point tensor of shape \(N, C, H, W\)"):
        channel_stats(data.images[0])
    with pytest.raises(ValueError, match="images must not be empty"):
        channel_stats(data.images[:0])


def test_normalize_rejects_statistics_of_the_wrong_shape(data):
    with pytest.raises(ValueError, match=r"mean and std must have shape \(3,\)"):
        normalize(data.images, [0.5, 0.5], [0.2, 0.2])
    with pytest.raises(TypeError, match="std must be a list or tensor"):
        normalize(data.images, [0.5] * 3, None)


def test_normalize_rejects_non_finite_or_zero_statistics(data):
    bad = [([0.5] * 3, [0.2, math.inf, 0.2]), ([0.5, math.nan, 0.5], [0.2] * 3), ([0.5] * 3, [0.2, 0.0, 0.2])]
    for mean, std in bad:
        with pytest.raises(ValueError, match="mean and std must be finite and std > 0"):
            normalize(data.images, mean, std)  # an infinite std used to give all zeros
        with pytest.raises(ValueError, match="mean and std must be finite and std > 0"):
            denormalize(data.images, mean, std)


def test_flips_reject_non_strings_and_positions_outside_positions(data):
    with pytest.raises(TypeError, match="caption must be a str"):
        flip_caption(3)
    with pytest.raises(ValueError, match="position must be an int >= 0 and <= 2"):
        flip_position(3)
    with pytest.raises(ValueError, match=r"position must hold indices into POSITIONS, in \[0, 3\)"):
        flip_position(torch.tensor([0, 3]))
    with pytest.raises(TypeError, match="position must be an integer tensor"):
        flip_position(torch.tensor([0.5]))


def test_flip_tokens_needs_integer_tokens_and_a_vocab_with_both_sides(data):
    with pytest.raises(TypeError, match="tokens must be an integer tensor"):
        flip_tokens(torch.zeros(3), data.vocab)
    with pytest.raises(TypeError, match="vocab must be a Vocab"):
        flip_tokens(data.tokens, None)
    with pytest.raises(ValueError, match="'left' and 'right'"):
        flip_tokens(data.tokens, Vocab.build(["a red dot"]))


def test_hflip_pair_and_batch_check_shapes_and_lengths(data):
    with pytest.raises(ValueError, match=r"image must be a tensor of shape \(C, H, W\)"):
        hflip_pair(data.images, "a", 0)
    with pytest.raises(ValueError, match="same length, got images 64, captions 64, positions 64, flip 3"):
        hflip_batch(data.images, data.captions, data.labels["position"], torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="captions 3"):
        hflip_batch(data.images, data.captions[:3], data.labels["position"], torch.ones(64, dtype=torch.bool))
    with pytest.raises(TypeError, match="flip must be a bool tensor"):
        hflip_batch(data.images, data.captions, data.labels["position"], torch.ones(64))


def test_paired_random_flip_checks_p_sample_and_vocab(data):
    with pytest.raises(ValueError, match="p must be a finite number >= 0 and <= 1"):
        PairedRandomHorizontalFlip(p=1.5)
    with pytest.raises(ValueError, match="pass vocab="):
        PairedRandomHorizontalFlip(p=1.0)({"image": data.images[0], "tokens": data.tokens[0]})
    with pytest.raises(TypeError, match="sample must be a dict"):
        PairedRandomHorizontalFlip()(data.images[0])
    with pytest.raises(ValueError, match="sample must have an 'image' entry"):
        PairedRandomHorizontalFlip()({"caption": "a dot"})
