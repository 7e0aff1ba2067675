"""Property tests of the validation policy in mmtutorial.data and mmtutorial.preprocess.

Generated inputs, not lists of cases: a non-finite setting always raises ValueError, an
out-of-range label or id always raises ValueError, containers with fields of different lengths
raise ValueError, a wrong type raises TypeError; and a few properties of valid inputs hold.
Every test is derandomized with a small example budget, so the file takes a few seconds.
"""

import functools
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtutorial.data import avdigits as av
from mmtutorial.data import shapesworld as sw
from mmtutorial.data.splits import stratified_split, subset_index
from mmtutorial.data.text import Vocab, tokenize
from mmtutorial.preprocess import audio, collate, corrupt, transforms

FAST = settings(derandomize=True, max_examples=30, deadline=None)

NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
WRONG_TYPE = st.one_of(st.text(max_size=4), st.none(), st.lists(st.integers(0, 3), max_size=3))
FAR = 2**40  # out-of-range ids are drawn up to this far from the valid range


@functools.cache
def tiny() -> sw.ShapesWorldData:
    return sw.make_shapesworld(8, split="all", seed=0, image_size=8)


def images(n: int = 2) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))


# ----- every float knob: NaN and +-inf raise ValueError naming the argument --------------------
FLOAT_KNOBS = [  # (the argument, a call that sets it to v)
    ("noise", lambda v: sw.make_shapesworld(2, noise=v)),
    ("audio_noise", lambda v: sw.make_shapesworld(2, audio=True, audio_len=64, audio_noise=v)),
    ("image_noise", lambda v: av.make_av_digits(image_noise=v)),
    ("signal_noise", lambda v: av.make_av_digits(signal_noise=v)),
    ("threshold", lambda v: corrupt.blank_images(images(), threshold=v)),
    ("margin", lambda v: corrupt.disagreement(torch.zeros(2, 3), torch.tensor([0, 1]), margin=v)),
    ("wrong_caption", lambda v: corrupt.corrupt_pairs(tiny(), wrong_caption=v)),
    ("blank_noise", lambda v: corrupt.corrupt_pairs(tiny(), blank_noise=v)),
    ("mean", lambda v: transforms.normalize(images(), [0.5, v, 0.5], [0.2] * 3)),
    ("std", lambda v: transforms.normalize(images(), [0.5] * 3, [0.2, 0.2, v])),
    ("std", lambda v: transforms.denormalize(images(), [0.5] * 3, [v, 0.2, 0.2])),
    ("sample_rate", lambda v: audio.fft_frequencies(64, v)),
    ("sample_rate", lambda v: audio.mel_filterbank(4, 64, v)),
    ("sample_rate", lambda v: audio.log_mel_spectrogram(torch.randn(256), v, n_fft=64, hop=16, n_mels=4)),
    ("f_min", lambda v: audio.mel_filterbank(4, 64, 8000, f_min=v)),
    ("f_max", lambda v: audio.mel_filterbank(4, 64, 8000, f_max=v)),
    ("eps", lambda v: audio.log_mel_spectrogram(torch.randn(256), 8000, n_fft=64, hop=16, n_mels=4, eps=v)),
    ("p", lambda v: transforms.PairedRandomHorizontalFlip(p=v)),
    ("test_size", lambda v: stratified_split(torch.arange(10) % 2, test_size=v)),
]


@pytest.mark.parametrize("name, call", FLOAT_KNOBS, ids=[f"{i}-{name}" for i, (name, _) in enumerate(FLOAT_KNOBS)])
@FAST
@given(value=NON_FINITE)
def test_non_finite_settings_raise_value_error(name, call, value):
    with pytest.raises(ValueError, match=name):
        call(value)


# ----- wrong types: strings, None, lists where a number is expected raise TypeError ---------------
NUMBER_KNOBS = [  # (the argument, a call that sets it to v)
    ("n", lambda v: sw.make_shapesworld(v)),
    ("image_size", lambda v: sw.pixel_centers(v)),
    ("noise", lambda v: sw.make_shapesworld(2, noise=v)),
    ("seed", lambda v: av.make_av_digits(seed=v)),
    ("signal_len", lambda v: av.touch_tones(torch.tensor([1]), v, torch.Generator())),
    ("threshold", lambda v: corrupt.blank_images(images(), threshold=v)),
    ("margin", lambda v: corrupt.disagreement(torch.zeros(2, 3), torch.tensor([0, 1]), margin=v)),
    ("k", lambda v: corrupt.object_color(images(), k=v)),
    ("p", lambda v: transforms.PairedRandomHorizontalFlip(p=v)),
    ("sample_rate", lambda v: audio.fft_frequencies(64, v)),
    ("n_mels", lambda v: audio.mel_filterbank(v, 64, 8000)),
    ("hop", lambda v: audio.stft(torch.randn(128), 32, v)),
    ("eps", lambda v: audio.log_mel_spectrogram(torch.randn(256), 8000, n_fft=64, hop=16, n_mels=4, eps=v)),
    ("test_size", lambda v: stratified_split(torch.arange(10) % 2, test_size=v)),
    ("min_freq", lambda v: Vocab.build(["a b"], min_freq=v)),
]


@pytest.mark.parametrize("name, call", NUMBER_KNOBS, ids=[name for name, _ in NUMBER_KNOBS])
@FAST
@given(value=WRONG_TYPE)
def test_wrong_types_for_numbers_raise_type_error(name, call, value):
    with pytest.raises(TypeError, match=f"{name} must be"):
        call(value)


@FAST
@given(value=st.one_of(WRONG_TYPE, st.integers(), st.floats()))
def test_wrong_types_for_tensors_raise_type_error(value):
    with pytest.raises(TypeError, match="wave must be a floating-point tensor"):
        audio.stft(value, 32, 8)
    with pytest.raises(TypeError, match="images must be a floating-point tensor"):
        corrupt.image_std(value)
    with pytest.raises(TypeError, match="lengths must be an integer tensor"):
        collate.lengths_to_mask(value)
    with pytest.raises(TypeError, match="caption must be a str"):
        transforms.flip_caption(value if not isinstance(value, str) else None)


# ----- out-of-range labels and ids raise ValueError --------------------------------------------
def with_one_bad(valid: list[int], bad: int, where: int) -> torch.Tensor:
    ids = list(valid)
    ids.insert(where % (len(ids) + 1), bad)
    return torch.tensor(ids)


def outside(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Integers outside [lo, hi)."""
    return st.one_of(st.integers(-FAR, lo - 1), st.integers(hi, FAR))


@FAST
@given(valid=st.lists(st.integers(0, len(sw.SHAPES) - 1), max_size=4), bad=outside(0, len(sw.SHAPES)),
       where=st.integers(0, 4))
def test_shape_ids_outside_shapes_raise_value_error(valid, bad, where):
    shape = with_one_bad(valid, bad, where)
    zeros = torch.zeros(len(shape))
    with pytest.raises(ValueError, match="shape must hold indices into SHAPES"):
        sw.shape_coverage(shape, zeros, zeros, zeros + 0.5, 8)


@FAST
@given(ids=st.lists(st.floats(0, 4), min_size=1, max_size=4))
def test_non_integer_shape_ids_raise_type_error(ids):
    zeros = torch.zeros(len(ids))
    with pytest.raises(TypeError, match="shape must be an integer tensor"):
        sw.shape_coverage(torch.tensor(ids), zeros, zeros, zeros + 0.5, 8)


@FAST
@given(valid=st.lists(st.integers(0, 2), max_size=4), bad=outside(0, len(sw.POSITIONS)), where=st.integers(0, 4))
def test_position_labels_outside_positions_raise_value_error(valid, bad, where):
    with pytest.raises(ValueError, match="position must"):
        transforms.flip_position(bad)
    with pytest.raises(ValueError, match="position must hold indices into POSITIONS"):
        transforms.flip_position(with_one_bad(valid, bad, where))


@FAST
@given(k=st.integers(1, 4), valid=st.lists(st.integers(-1, 0), max_size=3), data=st.data())
def test_claimed_classes_outside_the_scores_raise_value_error(k, valid, data):
    bad = data.draw(outside(-1, k))
    claimed = with_one_bad(valid, bad, data.draw(st.integers(0, 3)))
    with pytest.raises(ValueError, match=rf"claimed must hold class ids in \[0, {k}\) or -1"):
        corrupt.disagreement(torch.zeros(len(claimed), k), claimed)


@FAST
@given(valid=st.lists(st.integers(0, 9), max_size=4), bad=outside(0, 10), where=st.integers(0, 4))
def test_digit_labels_outside_0_to_9_raise_value_error(valid, bad, where):
    with pytest.raises(ValueError, match="labels must be digits 0..9"):
        av.touch_tones(with_one_bad(valid, bad, where), 16, torch.Generator())


@FAST
@given(attribute=st.sampled_from(sw.ATTRIBUTES), bad=st.integers(-FAR, FAR), where=st.integers(0, 3))
def test_scene_attributes_outside_their_names_raise_value_error(attribute, bad, where):
    names = dict(zip(sw.ATTRIBUTES, (sw.COLOR_NAMES, sw.SHAPES, sw.SIZES, sw.POSITIONS, sw.VERTICALS)))[attribute]
    if 0 <= bad < len(names):
        bad = bad + len(names)
    fields = dict(vars(sw.sample_scenes(4, np.random.default_rng(0))))
    fields[attribute] = fields[attribute].copy()
    fields[attribute][where] = bad
    with pytest.raises(ValueError, match=f"Scenes.{attribute} must hold indices"):
        sw.Scenes(**fields)


# ----- containers: fields of different lengths raise ValueError naming them -----------------------
LENGTHS = dict(n=st.integers(0, 4), m=st.integers(0, 4))


def shapesworld_fields(n: int) -> dict:
    return dict(images=torch.zeros(n, 3, 8, 8), captions=["a dot"] * n, tokens=torch.zeros(n, 2, dtype=torch.long),
                mask=torch.ones(n, 2, dtype=torch.bool), labels={"color": torch.zeros(n, dtype=torch.long)},
                vocab=tiny().vocab, audio=torch.zeros(n, 16))


@FAST
@given(**LENGTHS, field=st.sampled_from(["images", "captions", "tokens", "mask", "labels", "audio"]))
def test_shapesworld_data_with_mismatched_lengths_raises_value_error(n, m, field):
    fields = {**shapesworld_fields(n), field: shapesworld_fields(m)[field]}
    if n == m:
        assert len(sw.ShapesWorldData(**fields)) == n
        return
    name = "labels['color']" if field == "labels" else field
    with pytest.raises(ValueError, match="must have the same length, got .*" + re.escape(f"{name} {m}")):
        sw.ShapesWorldData(**fields)


@FAST
@given(**LENGTHS, field=st.sampled_from(["images", "signals", "labels"]))
def test_avdigits_data_with_mismatched_lengths_raises_value_error(n, m, field):
    make = lambda k: dict(images=torch.zeros(k, 1, 8, 8), signals=torch.zeros(k, 16),  # noqa: E731
                          labels=torch.zeros(k, dtype=torch.long))
    fields = {**make(n), field: make(m)[field]}
    if n == m:
        assert len(av.AVDigitsData(**fields)) == n
        return
    with pytest.raises(ValueError, match=f"images, signals, labels must have the same length, got .*{field} {m}"):
        av.AVDigitsData(**fields)


SCENE_FIELDS = sorted(vars(sw.sample_scenes(1, np.random.default_rng(0))))


@FAST
@given(n=st.integers(1, 4), m=st.integers(0, 4), field=st.sampled_from(SCENE_FIELDS))
def test_scenes_with_mismatched_lengths_raise_value_error(n, m, field):
    fields = dict(vars(sw.sample_scenes(n, np.random.default_rng(0))))
    fields[field] = np.resize(fields[field], (m, *fields[field].shape[1:]))
    if n == m:
        assert len(sw.Scenes(**fields)) == n
        return
    with pytest.raises(ValueError, match=f"must have the same length, got .*{field} {m}"):
        sw.Scenes(**fields)


# ----- valid inputs: a few properties that always hold ---------------------------------------------
@FAST
@given(data=st.data(), m=st.integers(0, 5), image_size=st.integers(8, 16))
def test_shape_coverage_stays_in_0_1(data, m, image_size):
    coords = st.floats(-1, 1, allow_nan=False)
    shape = torch.tensor(data.draw(st.lists(st.integers(0, len(sw.SHAPES) - 1), min_size=m, max_size=m)),
                         dtype=torch.long)
    cx, cy = (torch.tensor(data.draw(st.lists(coords, min_size=m, max_size=m))) for _ in range(2))
    radius = torch.tensor(data.draw(st.lists(st.floats(0.05, 1.0), min_size=m, max_size=m)))
    cover = sw.shape_coverage(shape, cx, cy, radius, image_size)
    assert cover.shape == (m, image_size, image_size)
    assert bool(torch.isfinite(cover).all()) and bool((cover >= 0).all()) and bool((cover <= 1).all())


@FAST
@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=5), extra=st.integers(0, 3))
def test_pad_sequences_round_trips_lengths(lengths, extra):
    seqs = [torch.arange(n * 2, dtype=torch.float32).view(n, 2) + 1 for n in lengths]
    padded, out = collate.pad_sequences(seqs, padding_value=0.0, max_len=max(lengths) + extra)
    assert out.tolist() == lengths and padded.shape == (len(lengths), max(lengths) + extra, 2)
    mask = collate.lengths_to_mask(out, padded.shape[1])
    assert mask.sum(1).tolist() == lengths
    for s, row, keep in zip(seqs, padded, mask):
        assert torch.equal(row[keep], s) and not row[~keep].any()


WORDS = st.from_regex(r"[a-z]{1,6}(-[a-z]{1,3})?", fullmatch=True)


@FAST
@given(texts=st.lists(st.lists(WORDS, max_size=5).map(" ".join), max_size=5), add_special=st.booleans())
def test_vocab_encode_decode_round_trip(texts, add_special):
    vocab = Vocab.build(texts)
    ids, mask = vocab.encode(texts, add_special=add_special)
    assert ids.shape == mask.shape and ids.shape[0] == len(texts)
    assert not (ids == vocab.unk_id).any()
    assert vocab.decode(ids) == [" ".join(tokenize(t)) for t in texts]


@FAST
@given(n=st.integers(1, 6), data=st.data())
def test_subset_index_matches_python_indexing(n, data):
    idx = data.draw(st.lists(st.integers(-n, n - 1), max_size=6))
    assert torch.arange(n)[subset_index(idx, n)].tolist() == [list(range(n))[i] for i in idx]
    with pytest.raises(ValueError, match="idx must lie in"):
        subset_index(idx + [data.draw(outside(-n, n))], n)


@FAST
@given(labels=st.lists(st.integers(0, 3), max_size=30), test_size=st.floats(0.01, 0.99), seed=st.integers(0, 2**32))
def test_stratified_split_is_a_partition(labels, test_size, seed):
    train, test = stratified_split(np.array(labels, dtype=np.int64), test_size, seed)
    assert sorted(train.tolist() + test.tolist()) == list(range(len(labels)))


@FAST
@given(positions=st.lists(st.integers(0, len(sw.POSITIONS) - 1), max_size=6))
def test_flip_position_is_an_involution(positions):
    t = torch.tensor(positions, dtype=torch.long)
    assert torch.equal(transforms.flip_position(transforms.flip_position(t)), t)
    assert [transforms.flip_position(transforms.flip_position(p)) for p in positions] == positions
