"""Multi-object ShapesWorld and the CLEVR question reader (mmtutorial.data.multiobject)."""

import json

import numpy as np
import pytest
import torch

from mmtutorial.data import multiobject as mo
from mmtutorial.data.multiobject import (
    ANSWERS,
    EXTENT,
    GAP,
    QUESTION_MAX_LEN,
    MultiObjectData,
    load_clevr_questions,
    make_multi_object,
    multi_object_vocab,
    object_coverage,
    sample_multi_object_scenes,
)
from mmtutorial.data.shapesworld import COLOR_NAMES, SHAPES


@pytest.fixture(scope="module")
def data() -> MultiObjectData:
    return make_multi_object(300, seed=0)


def test_shapes_dtypes_ranges(data):
    n = 300
    assert data.images.shape == (n, 3, 32, 32) and data.images.dtype == torch.float32
    assert 0 <= data.images.min() and data.images.max() <= 1
    assert data.tokens.shape == data.mask.shape == (n, QUESTION_MAX_LEN)
    assert data.tokens.dtype == torch.int64 and data.mask.dtype == torch.bool
    assert data.answers.shape == data.target.shape == (n,) and len(data.questions) == len(data) == n
    assert data.n_objects == 2 and data.answer_names == ANSWERS == COLOR_NAMES
    for name, k in dict(color=6, shape=5, size=3, position=3).items():
        v = data.objects[name]
        assert v.shape == (n, 2) and v.dtype == torch.int64 and v.min() >= 0 and v.max() < k
        assert len(v.unique()) == k
    for name in ("cx", "cy", "radius"):
        assert data.objects[name].shape == (n, 2) and data.objects[name].dtype == torch.float32


def test_shapes_in_a_scene_are_distinct_so_the_question_names_one_object(data):
    s = data.objects["shape"]
    assert (s[:, 0] != s[:, 1]).all()
    three = make_multi_object(200, 3, seed=1).objects["shape"]
    assert all(len(set(row)) == 3 for row in three.tolist())


@pytest.mark.parametrize("k", [2, 3])
def test_objects_do_not_overlap_and_stay_inside(k):
    d = make_multi_object(300, k, seed=2)
    x, y, r = d.objects["cx"], d.objects["cy"], d.objects["radius"] * EXTENT  # enclosing circles
    dist = torch.hypot(x[:, :, None] - x[:, None, :], y[:, :, None] - y[:, None, :])  # (N, K, K)
    need = r[:, :, None] + r[:, None, :] + GAP - 1e-5
    off = ~torch.eye(k, dtype=torch.bool)
    assert (dist[:, off] >= need[:, off]).all()
    assert ((x.abs() + r) <= 1).all() and ((y.abs() + r) <= 1).all()
    # and in pixels: no pixel is covered by two objects
    scenes = sample_multi_object_scenes(300, k, np.random.default_rng(0))
    cover = object_coverage(scenes, 32)  # (N, K, H, W)
    assert ((cover > 0).sum(dim=1) <= 1).all()
    assert (cover.sum(dim=(2, 3)) > 5).all()  # every object is visible


def test_question_and_answer_agree_with_the_scene(data):
    rows = torch.arange(len(data))
    shape = data.objects["shape"][rows, data.target]
    color = data.objects["color"][rows, data.target]
    assert data.questions == [f"what color is the {SHAPES[s]} ?" for s in shape.tolist()]
    assert torch.equal(data.answers, color)
    decoded = data.vocab.decode(data.tokens)
    assert decoded == data.questions
    assert len(data.target.unique()) == 2  # both objects are asked about


def test_the_asked_object_has_its_color_in_the_image():
    d = make_multi_object(50, seed=3, noise=0.0)
    scenes = sample_multi_object_scenes(50, 2, np.random.default_rng(np.random.SeedSequence(3).spawn(3)[0]))
    cover = object_coverage(scenes, 32)  # the same scenes: the scene stream depends only on the seed
    rows = torch.arange(50)
    inside = cover[rows, d.target] > 0.99  # (N, H, W) pixels fully inside the asked object
    mean_rgb = (d.images * inside[:, None]).sum(dim=(2, 3)) / inside.sum(dim=(1, 2))[:, None]  # (N, 3)
    palette = torch.tensor(list(mo.COLORS.values()))  # (6, 3)
    nearest = torch.cdist(mean_rgb, palette).argmin(dim=1)
    assert torch.equal(nearest, d.answers)


def test_same_seed_same_data_other_seed_differs(data):
    again = make_multi_object(300, seed=0)
    assert torch.equal(again.images, data.images) and again.questions == data.questions
    assert torch.equal(again.answers, data.answers) and torch.equal(again.target, data.target)
    assert all(torch.equal(again.objects[k], data.objects[k]) for k in data.objects)
    other = make_multi_object(300, seed=1)
    assert not torch.equal(other.images, data.images)


def test_vocab_covers_every_question():
    vocab = multi_object_vocab()
    for s in SHAPES:
        ids, _ = vocab.encode([f"what color is the {s} ?"])
        assert (ids != vocab.unk_id).all()


def test_subset(data):
    sub = data.subset([3, 1])
    assert len(sub) == 2 and sub.questions == [data.questions[3], data.questions[1]]
    assert torch.equal(sub.objects["color"], data.objects["color"][[3, 1]])
    assert torch.equal(sub.images[0], data.images[3])


def test_input_checks():
    with pytest.raises(ValueError, match="n_objects must be an int >= 1 and <= 3"):
        make_multi_object(5, 4)
    with pytest.raises(TypeError, match="n must be an int"):
        make_multi_object(5.0)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        make_multi_object(5, seed=-1)
    with pytest.raises(ValueError, match="image_size must be an int >= 8"):
        make_multi_object(5, image_size=4)
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        make_multi_object(5, noise=-0.1)
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        make_multi_object(5, scale=0.0)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        sample_multi_object_scenes(5, 2, rng=0)
    with pytest.raises(ValueError, match="kinds must be one of"):
        mo.write_questions(sample_multi_object_scenes(3, 2, np.random.default_rng(0)), np.random.default_rng(0),
                           kinds=["count"])


def test_empty_set():
    d = make_multi_object(0)
    assert d.images.shape == (0, 3, 32, 32) and len(d) == 0


# ----- CLEVR reader, on a tiny fixture in CLEVR's layout -------------------------------------------
def write_clevr_fixture(root, split="val"):
    from PIL import Image

    (root / "questions").mkdir(parents=True)
    (root / "images" / split).mkdir(parents=True)
    colors = {"a.png": (255, 0, 0), "b.png": (0, 0, 255)}
    for name, rgb in colors.items():
        Image.new("RGB", (48, 32), rgb).save(root / "images" / split / name)
    questions = [
        {"image_filename": "a.png", "question": "What color is the cube?", "answer": "red", "image_index": 0},
        {"image_filename": "b.png", "question": "What color is the sphere?", "answer": "blue", "image_index": 1},
        {"image_filename": "a.png", "question": "Is there a cube?", "answer": "yes", "image_index": 0},
    ]
    (root / "questions" / f"CLEVR_{split}_questions.json").write_text(json.dumps({"info": {}, "questions": questions}))


def test_load_clevr_questions_reads_the_layout(tmp_path):
    write_clevr_fixture(tmp_path)
    q = load_clevr_questions(tmp_path, "val", image_size=16)
    assert len(q) == 3 and q.images.shape == (2, 3, 16, 16)  # each image read once
    assert q.image_files == ["a.png", "b.png"] and q.image_index.tolist() == [0, 1, 0]
    assert q.answers == ["red", "blue", "yes"] and q.questions[1] == "What color is the sphere?"
    torch.testing.assert_close(q.images[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(q.images[1, :, 5, 5], torch.tensor([0.0, 0.0, 1.0]))
    first = load_clevr_questions(tmp_path, "val", max_questions=1, image_size=16)
    assert len(first) == 1 and first.images.shape[0] == 1


def test_load_clevr_questions_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="CLEVR_v1.0"):
        load_clevr_questions(tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        load_clevr_questions(tmp_path, "dev")
    write_clevr_fixture(tmp_path, "test")
    path = tmp_path / "questions" / "CLEVR_test_questions.json"
    path.write_text(json.dumps({"questions": [{"image_filename": "a.png", "question": "Is it red?"}]}))
    with pytest.raises(ValueError, match="test split has no answers"):
        load_clevr_questions(tmp_path, "test")
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="list 'questions'"):
        load_clevr_questions(tmp_path, "test")


def test_object_coverage_from_the_data_equals_from_the_scenes():
    d = make_multi_object(20, seed=5)
    scenes = sample_multi_object_scenes(20, 2, np.random.default_rng(np.random.SeedSequence(5).spawn(3)[0]))
    torch.testing.assert_close(object_coverage(d.objects, 32), object_coverage(scenes, 32))
    with pytest.raises(ValueError, match="missing \\['radius'\\]"):
        object_coverage({k: d.objects[k] for k in ("shape", "cx", "cy")})
    with pytest.raises(TypeError, match="objects must be a MultiObjectScenes or a dict"):
        object_coverage([1, 2])
