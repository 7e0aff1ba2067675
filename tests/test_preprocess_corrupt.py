"""Corrupted image-caption pairs and the filters that find them (mmtutorial.preprocess.corrupt)."""

import math

import pytest
import torch

from mmtutorial.data import COLORS, make_shapesworld
from mmtutorial.preprocess.corrupt import (blank_images, caption_labels, corrupt_pairs, disagreement, image_std,
                                     object_color)
from mmtutorial.data.shapesworld import COLOR_WORDS, POSITION_WORDS, SHAPE_WORDS, SIZE_WORDS


@pytest.fixture(scope="module")
def data():
    return make_shapesworld(300, split="all", seed=0)


def test_corrupt_pairs_marks_disjoint_fractions_and_leaves_the_input(data):
    before = data.images.clone(), list(data.captions)
    noisy, truth = corrupt_pairs(data, wrong_caption=0.2, blank_image=0.1, seed=1)
    wrong, blank = truth["wrong_caption"], truth["blank_image"]
    assert int(wrong.sum()) == 60 and int(blank.sum()) == 30 and not (wrong & blank).any()
    assert torch.equal(data.images, before[0]) and data.captions == before[1]
    clean = ~(wrong | blank)
    assert torch.equal(noisy.images[clean | wrong], data.images[clean | wrong])
    assert all(noisy.captions[i] == data.captions[i] for i in clean.nonzero().squeeze(1).tolist())
    # a wrong caption names a different color-shape pair than the image shows
    col, shp = caption_labels(noisy.captions, COLOR_WORDS), caption_labels(noisy.captions, SHAPE_WORDS)
    differs = (col != data.labels["color"]) | (shp != data.labels["shape"])
    assert differs[wrong].all() and not differs[~wrong].any()
    # tokens follow the captions
    ids, mask = data.vocab.encode(noisy.captions, max_len=data.tokens.shape[1])
    assert torch.equal(noisy.tokens, ids) and torch.equal(noisy.mask, mask)
    # same seed, same corruption
    again, truth2 = corrupt_pairs(data, wrong_caption=0.2, blank_image=0.1, seed=1)
    assert torch.equal(again.images, noisy.images) and torch.equal(truth2["wrong_caption"], wrong)


def test_blank_images_are_found_by_their_pixel_std(data):
    noisy, truth = corrupt_pairs(data, wrong_caption=0.0, blank_image=0.2, seed=0)
    std = image_std(noisy.images)
    assert std.shape == (300,)
    assert std[truth["blank_image"]].max() < 0.03 < std[~truth["blank_image"]].min()
    assert torch.equal(blank_images(noisy.images, threshold=0.04), truth["blank_image"])


def test_object_color_is_close_to_the_palette(data):
    oc = object_color(data.images)
    palette = torch.tensor(list(COLORS.values()))
    assert oc.shape == (300, 3)
    assert torch.equal(torch.cdist(oc, palette).argmin(dim=1), data.labels["color"])


def test_caption_labels_reads_attributes():
    caps = ["a crimson disc on the left", "there is a medium-sized lemon wedge", "a box that is navy"]
    assert caption_labels(caps, COLOR_WORDS).tolist() == [0, 3, 2]
    assert caption_labels(caps, SHAPE_WORDS).tolist() == [0, 2, 1]
    assert caption_labels(caps, SIZE_WORDS).tolist() == [-1, 1, -1]
    assert caption_labels(caps, POSITION_WORDS).tolist() == [0, -1, -1]


def test_caption_labels_match_the_generator(data):
    assert torch.equal(caption_labels(data.captions, COLOR_WORDS), data.labels["color"])
    assert torch.equal(caption_labels(data.captions, SHAPE_WORDS), data.labels["shape"])


def test_disagreement():
    scores = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 0.5], [0.0, 1.0, 0.9]])
    assert disagreement(scores, torch.tensor([0, 2, -1])).tolist() == [False, True, False]
    assert disagreement(scores, torch.tensor([2, 2, 2]), margin=0.5).tolist() == [True, False, False]


def test_corrupt_pairs_checks_data_fractions_seed_and_noise(data):
    with pytest.raises(TypeError, match="data must be a ShapesWorldData"):
        corrupt_pairs(data.images)
    with pytest.raises(ValueError, match="wrong_caption must be a finite number >= 0 and <= 1"):
        corrupt_pairs(data, wrong_caption=1.5)
    with pytest.raises(ValueError, match="wrong_caption \\+ blank_image must be <= 1"):
        corrupt_pairs(data, wrong_caption=0.6, blank_image=0.6)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        corrupt_pairs(data, seed=-1)
    with pytest.raises(ValueError, match="blank_noise must be a finite number >= 0, got inf"):
        corrupt_pairs(data, blank_noise=math.inf)


def test_image_filters_need_a_batch_of_float_images(data):
    with pytest.raises(ValueError, match=r"images must be a floating-point tensor of shape \(N, C, H, W\)"):
        image_std(data.images[0])
    with pytest.raises(TypeError, match="images must be a floating-point tensor"):
        object_color((data.images * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="k must be an int >= 1 and <= 1024"):
        object_color(data.images, k=0)


def test_blank_images_rejects_nan_threshold(data):
    with pytest.raises(ValueError, match="threshold must be a finite number > 0, got nan"):
        blank_images(data.images, threshold=math.nan)  # used to flag nothing
    with pytest.raises(ValueError, match="threshold must be a finite number > 0, got 0.0"):
        blank_images(data.images, threshold=0)


def test_caption_labels_checks_captions_and_words():
    with pytest.raises(TypeError, match="captions must be a list of str"):
        caption_labels("a red dot", COLOR_WORDS)
    with pytest.raises(TypeError, match="words must be a dict"):
        caption_labels(["a red dot"], {"red": "red"})
    with pytest.raises(ValueError, match="words must map at least one concept to non-empty synonyms"):
        caption_labels(["a red dot"], {"red": ()})


def test_disagreement_checks_scores_claims_and_margin():
    with pytest.raises(ValueError, match=r"scores must be a floating-point tensor of shape \(N, K\)"):
        disagreement(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="scores, claimed must have the same length, got scores 3, claimed 2"):
        disagreement(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"claimed must hold class ids in \[0, 2\) or -1"):
        disagreement(torch.zeros(3, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="scores must not contain NaN"):
        disagreement(torch.tensor([[0.0, math.nan]]), torch.tensor([0]))


def test_disagreement_rejects_nan_margin():
    with pytest.raises(ValueError, match="margin must be a finite number >= 0, got nan"):
        disagreement(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), margin=math.nan)  # used to flag nothing


def test_object_color_id_reads_the_shapesworld_color_off_the_pixels():
    from mmtutorial.preprocess.corrupt import object_color_id

    data = make_shapesworld(300, seed=5)
    assert torch.equal(object_color_id(data.images), data.labels["color"])
