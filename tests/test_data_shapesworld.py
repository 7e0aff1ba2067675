"""ShapesWorld: images, captions, tokens, splits, Dataset (mmtutorial.data.shapesworld)."""

import time

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mmtutorial.data import shapesworld as sw
from mmtutorial.data.shapesworld import (
    CAPTION_MAX_LEN,
    COLOR_NAMES,
    HELDOUT_PAIRS,
    SHAPES,
    ShapesWorld,
    ShapesWorldData,
    make_shapesworld,
    shapesworld_vocab,
)
from mmtutorial.data.text import tokenize


@pytest.fixture(scope="module")
def data() -> ShapesWorldData:
    return make_shapesworld(400, seed=0)


def pair_set(d: ShapesWorldData) -> set:
    return {(COLOR_NAMES[c], SHAPES[s]) for c, s in zip(d.labels["color"].tolist(), d.labels["shape"].tolist())}


def test_shapes_dtypes_ranges(data):
    n = 400
    assert data.images.shape == (n, 3, 32, 32) and data.images.dtype == torch.float32
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert data.tokens.shape == data.mask.shape == (n, CAPTION_MAX_LEN)
    assert data.tokens.dtype == torch.int64 and data.mask.dtype == torch.bool
    assert len(data.captions) == len(data) == n
    assert data.audio is None
    sizes = dict(color=6, shape=5, size=3, position=3, vertical=2, template=len(sw.TEMPLATES))
    assert set(data.labels) == set(sizes)
    for name, k in sizes.items():
        y = data.labels[name]
        assert y.shape == (n,) and y.dtype == torch.int64
        assert y.min() >= 0 and y.max() < k
        assert len(y.unique()) == k  # every value occurs in 400 samples


def test_other_image_size():
    d = make_shapesworld(5, image_size=48)
    assert d.images.shape == (5, 3, 48, 48)


def test_same_seed_same_data_other_seed_differs(data):
    again = make_shapesworld(400, seed=0)
    assert torch.equal(again.images, data.images) and again.captions == data.captions
    assert torch.equal(again.tokens, data.tokens)
    assert all(torch.equal(again.labels[k], data.labels[k]) for k in data.labels)
    other = make_shapesworld(400, seed=1)
    assert not torch.equal(other.images, data.images) and other.captions != data.captions
    assert not torch.equal(other.labels["color"], data.labels["color"])


def test_split_held_out_pairs():
    held = set(HELDOUT_PAIRS)
    train = make_shapesworld(600, split="train", seed=3)
    heldout = make_shapesworld(200, split="heldout", seed=3)
    everything = make_shapesworld(600, split="all", seed=3)
    assert not pair_set(train) & held
    assert pair_set(heldout) == held
    assert held <= pair_set(everything) and len(pair_set(everything)) == 30
    custom = make_shapesworld(50, split="heldout", heldout_pairs=[("orange", "cross")])
    assert pair_set(custom) == {("orange", "cross")}


def test_default_heldout_pairs_use_each_color_and_shape_once():
    colors, shapes = zip(*HELDOUT_PAIRS)
    assert len(set(colors)) == len(colors) and len(set(shapes)) == len(shapes)


def test_pairs_are_uniform_over_the_allowed_set():
    scenes = sw.sample_scenes(25_000, np.random.default_rng(0), split="train")
    pairs = scenes.color * len(SHAPES) + scenes.shape
    counts = np.bincount(pairs, minlength=30)[np.unique(pairs)]
    assert len(counts) == 25
    assert counts.min() > 850 and counts.max() < 1150  # 1000 expected each


def test_captions_name_color_and_shape_and_never_the_vertical_half(data):
    for cap, c, s, z, p, t in zip(
        data.captions, *(data.labels[k].tolist() for k in ("color", "shape", "size", "position", "template"))
    ):
        words = set(tokenize(cap))
        color_words = {w for name in COLOR_NAMES for w in sw.COLOR_WORDS[name]}
        assert words & color_words == {w for w in sw.COLOR_WORDS[COLOR_NAMES[c]] if w in words} != set(), cap
        assert words & set(sw.SHAPE_WORDS[SHAPES[s]]), cap
        if "{size}" in sw.TEMPLATES[t]:
            assert words & set(sw.SIZE_WORDS[sw.SIZES[z]]), cap
        if "{position}" in sw.TEMPLATES[t]:
            assert any(phrase in cap for phrase in sw.POSITION_WORDS[sw.POSITIONS[p]]), cap
        assert not words & {"upper", "lower", "top", "bottom", "above", "below"}
        assert " a a" not in cap and not any(cap.startswith(f"a {v}") for v in "aeiou")


def test_text_mentions_size_and_position_only_sometimes(data):
    t = data.labels["template"]
    has_size = torch.tensor(["{size}" in x for x in sw.TEMPLATES])[t].float().mean()
    has_pos = torch.tensor(["{position}" in x for x in sw.TEMPLATES])[t].float().mean()
    assert 0.35 < has_size < 0.65 and 0.25 < has_pos < 0.5


def test_vocab_covers_every_caption_and_round_trips(data):
    vocab = shapesworld_vocab()
    assert vocab == data.vocab == shapesworld_vocab()
    assert not (data.tokens == vocab.unk_id).any()
    assert vocab.decode(data.tokens) == data.captions
    assert torch.equal(data.mask, data.tokens != vocab.pad_id)
    every_word = {w for words in (sw.COLOR_WORDS, sw.SHAPE_WORDS, sw.SIZE_WORDS, sw.POSITION_WORDS)
                  for ws in words.values() for phrase in ws for w in tokenize(phrase)}
    assert every_word <= set(vocab.itos)


def test_caption_max_len_is_reached_and_max_len_is_checked(data):
    assert data.mask.sum(1).max() <= CAPTION_MAX_LEN
    longest = max(len(tokenize(c)) for c in data.captions)
    with pytest.raises(ValueError, match="max_len"):
        make_shapesworld(400, seed=0, max_len=longest - 1)
    cut = make_shapesworld(400, seed=0, max_len=longest - 1, truncate=True)
    assert cut.tokens.shape == (400, longest - 1) and cut.captions == data.captions
    wide = make_shapesworld(3, max_len=20)
    assert wide.tokens.shape == (3, 20)


def test_shape_color_is_at_the_center_without_noise():
    scenes = sw.sample_scenes(200, np.random.default_rng(5), split="all")
    images = sw.render_images(scenes, 32, noise=0.0)
    coords = sw.pixel_centers(32)
    px = (coords[None, :] - torch.tensor(scenes.cx[:, None], dtype=torch.float32)).abs().argmin(1)
    py = (coords[None, :] - torch.tensor(scenes.cy[:, None], dtype=torch.float32)).abs().argmin(1)
    center = images[torch.arange(200), :, py, px]  # (200, 3)
    torch.testing.assert_close(center, torch.tensor(scenes.rgb, dtype=torch.float32), atol=1e-5, rtol=0)
    # the pixels fully covered by the shape sit where the labels say: left/center/right, upper/lower
    inside = (images - torch.tensor(scenes.rgb, dtype=torch.float32)[:, :, None, None]).abs().amax(1) < 1e-5
    rows, cols = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    count = inside.sum((1, 2))
    row = (inside * rows).sum((1, 2)) / count
    col = (inside * cols).sum((1, 2)) / count
    assert torch.equal((row > 15.5).long(), torch.as_tensor(scenes.vertical))
    assert torch.equal(torch.bucketize(col, torch.tensor([32 / 3, 64 / 3])), torch.as_tensor(scenes.position))


def test_shapes_have_similar_area():
    coords = sw.pixel_centers(128)
    x, y, r = coords.view(1, 1, -1), coords.view(1, -1, 1), torch.full((1, 1, 1), 0.3)
    areas = torch.stack([(0.5 - f(x, y, r) * 64).clamp(0, 1).sum() for f in sw.SDFS])
    assert (areas / areas[0]).sub(1).abs().max() < 0.3


def test_chunking_does_not_change_images():
    scenes = sw.sample_scenes(50, np.random.default_rng(2), split="all")
    torch.testing.assert_close(
        sw.render_images(scenes, 32, noise=0.0, chunk_size=7), sw.render_images(scenes, 32, noise=0.0), rtol=0, atol=0
    )


def test_shape_coverage_covers_the_center_and_checks_shapes():
    one = torch.zeros(3)
    cover = sw.shape_coverage(torch.tensor([0, 1, 4]), one, one, one + 0.5, 16)
    assert cover.shape == (3, 16, 16) and cover.min() >= 0 and cover.max() <= 1
    assert cover[:, 8, 8].eq(1).all() and cover[:, 0, 0].eq(0).all()
    with pytest.raises(ValueError, match="cx must have shape"):
        sw.shape_coverage(torch.tensor([0, 1, 4]), torch.zeros(2), one, one, 16)


def test_shape_coverage_rejects_shape_ids_outside_shapes():
    one = torch.zeros(1)
    for bad in (len(SHAPES), -1):  # both used to return uninitialized memory
        with pytest.raises(ValueError, match=r"shape must hold indices into SHAPES, in \[0, 5\)"):
            sw.shape_coverage(torch.tensor([bad]), one, one, one + 0.5, 16)


def test_shape_coverage_rejects_non_integer_shape_ids():
    one = torch.zeros(1)
    with pytest.raises(TypeError, match="shape must be an integer tensor"):
        sw.shape_coverage(torch.tensor([1.5]), one, one, one + 0.5, 16)


def test_noise_knob():
    clean = make_shapesworld(50, noise=0.0)
    noisy = make_shapesworld(50, noise=0.2)
    assert clean.captions == noisy.captions
    diff = noisy.images - clean.images
    assert 0.1 < diff.std() < 0.2  # clipping at 0 and 1 shrinks it a little


def test_subset(data):
    sub = data.subset([3, 1, 4])
    assert len(sub) == 3 and sub.captions == [data.captions[i] for i in (3, 1, 4)]
    assert torch.equal(sub.images[1], data.images[1])
    assert torch.equal(sub.labels["shape"], data.labels["shape"][[3, 1, 4]])
    mask = data.labels["color"] == 0
    assert len(data.subset(mask)) == int(mask.sum())
    assert len(data.subset(slice(0, 10))) == 10
    assert len(data.subset([])) == 0


def test_subset_rejects_out_of_range_float_and_misshaped_indices(data):
    with pytest.raises(ValueError, match=r"idx must lie in \[-400, 400\)"):
        data.subset([0, 400])
    with pytest.raises(ValueError, match="bool mask"):
        data.subset(torch.ones(3, dtype=torch.bool))
    with pytest.raises(TypeError, match="idx must be an integer tensor"):
        data.subset([0.5])


def test_dataset_items_and_dataloader(data):
    ds = ShapesWorld.from_data(data, target="color")
    item = ds[0]
    for key in ("image", "tokens", "mask", "color", "shape", "size", "position", "label"):
        assert key in item
    assert item["image"].shape == (3, 32, 32) and item["tokens"].shape == (CAPTION_MAX_LEN,)
    assert item["label"] == item["color"] and item["label"].dim() == 0
    assert ds.num_classes == 6 and len(ds) == 400
    batch = next(iter(DataLoader(ds, batch_size=16, shuffle=False)))
    assert batch["image"].shape == (16, 3, 32, 32) and batch["label"].shape == (16,)
    assert batch["mask"].dtype == torch.bool
    fresh = ShapesWorld(10, split="heldout", seed=2)
    assert fresh.target == "shape" and torch.equal(fresh.labels, fresh.data.labels["shape"])


def test_make_shapesworld_rejects_wrong_types():
    with pytest.raises(TypeError, match="n must be an int"):
        make_shapesworld(2.5)
    with pytest.raises(TypeError, match="audio must be True or False"):
        make_shapesworld(5, audio="yes")


def test_make_shapesworld_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="image_size must be an int >= 8"):
        make_shapesworld(5, image_size=4)
    with pytest.raises(ValueError, match="max_len must be an int >= 1"):
        make_shapesworld(5, max_len=0)
    with pytest.raises(ValueError, match="split must be one of"):
        make_shapesworld(5, split="test")


def test_render_images_rejects_infinite_noise():
    with pytest.raises(ValueError, match="noise must be a finite number >= 0, got inf"):
        make_shapesworld(5, noise=float("inf"))


def test_heldout_pairs_must_be_distinct_known_pairs():
    with pytest.raises(ValueError, match=r"heldout_pairs\[0\] color must be one of"):
        make_shapesworld(5, heldout_pairs=[("pink", "circle")])
    with pytest.raises(ValueError, match=r"heldout_pairs\[0\] must be a \(color, shape\) pair"):
        make_shapesworld(5, heldout_pairs=[("red",)])
    with pytest.raises(ValueError, match="must not repeat a pair"):
        make_shapesworld(5, heldout_pairs=[("red", "circle"), ("red", "circle")])
    with pytest.raises(ValueError, match="leaves no color-shape pair"):
        make_shapesworld(5, split="heldout", heldout_pairs=())


def test_pipeline_steps_need_their_random_generators():
    scenes = sw.sample_scenes(3, np.random.default_rng(0))
    with pytest.raises(TypeError, match="generator must be a torch.Generator when noise > 0"):
        sw.render_images(scenes, 32, noise=0.1)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        sw.render_tones(scenes)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        sw.sample_scenes(3, rng=0)
    with pytest.raises(TypeError, match="scenes must be a Scenes"):
        sw.write_captions({"color": [0]}, np.random.default_rng(0))


def test_scenes_reject_mismatched_lengths_and_unknown_attributes():
    scenes = sw.sample_scenes(4, np.random.default_rng(0))
    fields = dict(vars(scenes))
    with pytest.raises(ValueError, match="must have the same length, got color 3, shape 4"):
        sw.Scenes(**{**fields, "color": fields["color"][:3]})
    with pytest.raises(ValueError, match=r"Scenes.color must hold indices in \[0, 6\)"):
        sw.Scenes(**{**fields, "color": fields["color"] - 10})  # would wrap around silently
    with pytest.raises(TypeError, match="Scenes.size must hold integer indices"):
        sw.Scenes(**{**fields, "size": fields["size"] + 0.5})


def test_shapesworld_data_rejects_fields_of_different_lengths(data):
    with pytest.raises(ValueError, match="images, captions, tokens, mask.* got images 400, captions 399"):
        ShapesWorldData(data.images, data.captions[:-1], data.tokens, data.mask, data.labels, data.vocab)
    with pytest.raises(ValueError, match=r"labels\['shape'\] 3"):
        ShapesWorldData(data.images, data.captions, data.tokens, data.mask, {"shape": torch.zeros(3)}, data.vocab)


def test_dataset_rejects_unknown_targets_and_other_objects(data):
    with pytest.raises(ValueError, match="target must be one of"):
        ShapesWorld.from_data(data, target="colour")  # the British spelling names no target
    with pytest.raises(TypeError, match="data must be a ShapesWorldData"):
        ShapesWorld.from_data("not data")


def test_twenty_thousand_samples():
    t0 = time.perf_counter()
    d = make_shapesworld(20_000)
    elapsed = time.perf_counter() - t0
    print(f"\nmake_shapesworld(20_000): {elapsed:.2f} s")
    assert d.images.shape == (20_000, 3, 32, 32) and len(d.captions) == 20_000
    assert not (d.tokens == d.vocab.unk_id).any()
