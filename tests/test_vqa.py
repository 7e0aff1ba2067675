"""Question kinds, VQA models and the text reader (mmtutorial.vqa)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmtutorial.ctc import ctc_greedy_decode
from mmtutorial.data.multiobject import ANSWERS, sample_multi_object_scenes
from mmtutorial.data.shapesworld import COLOR_NAMES, SHAPES
from mmtutorial.vqa import (
    COUNT_ANSWERS,
    VQA_ANSWERS,
    VQA_KINDS,
    VQA_MAX_LEN,
    YES_NO,
    FusedVQA,
    ImageOnlyVQA,
    QuestionOnlyVQA,
    SceneTagger,
    TextReader,
    VQAData,
    accuracy_by_kind,
    answer_ids,
    coordinate_grid,
    make_vqa,
    vqa_vocab,
    write_vqa_questions,
)
from gradients import assert_every_parameter_gets_a_gradient


@pytest.fixture(scope="module")
def data() -> VQAData:
    return make_vqa(400, seed=0)


# ----- questions ---------------------------------------------------------------------------------
def test_answers_extend_multiobject_answers_without_moving_them():
    assert VQA_ANSWERS[: len(ANSWERS)] == ANSWERS
    assert VQA_ANSWERS == COLOR_NAMES + SHAPES + COUNT_ANSWERS + YES_NO
    got = [i for k in VQA_KINDS for i in answer_ids(k)]
    assert got == list(range(len(VQA_ANSWERS)))
    with pytest.raises(ValueError, match="kind"):
        answer_ids("size")


def test_make_vqa_shapes_and_determinism(data):
    n = 400
    assert data.images.shape == (n, 3, 32, 32) and data.tokens.shape == data.mask.shape == (n, VQA_MAX_LEN)
    assert data.kind.shape == data.answers.shape == data.n_objects.shape == (n,)
    assert data.cell_color.shape == data.cell_shape.shape == (n, 4, 4)
    assert set(data.n_objects.tolist()) == {2, 3} and int((data.n_objects == 2).sum()) == 200
    assert set(data.kind.tolist()) == {0, 1, 2, 3}
    again = make_vqa(400, seed=0)
    assert torch.equal(again.images, data.images) and again.questions == data.questions
    assert not torch.equal(make_vqa(400, seed=1).answers, data.answers)
    for k, kind in enumerate(VQA_KINDS):  # every answer is one its kind can have
        assert set(data.answers[data.kind == k].tolist()) <= set(answer_ids(kind))


def test_answers_agree_with_the_scene():
    rng = np.random.default_rng(0)
    scenes = sample_multi_object_scenes(300, 3, rng)
    questions, kind, answers = write_vqa_questions(scenes, np.random.default_rng(1))
    for i, (q, k, a) in enumerate(zip(questions, kind.tolist(), answers.tolist())):
        words = q.split()
        shapes, colors = list(scenes.shape[i]), list(scenes.color[i])
        if VQA_KINDS[k] == "color":
            assert COLOR_NAMES[colors[shapes.index(SHAPES.index(words[4]))]] == VQA_ANSWERS[a]
        elif VQA_KINDS[k] == "shape":
            c = COLOR_NAMES.index(words[4])
            assert colors.count(c) == 1  # the colour names one object
            assert SHAPES[shapes[colors.index(c)]] == VQA_ANSWERS[a]
        elif VQA_KINDS[k] == "count":
            assert VQA_ANSWERS[a] == str(colors.count(COLOR_NAMES.index(words[2])))
        else:
            first, second = shapes.index(SHAPES.index(words[2])), shapes.index(SHAPES.index(words[6]))
            assert first != second
            assert VQA_ANSWERS[a] == ("yes" if scenes.cx[i, first] < scenes.cx[i, second] else "no")


def test_question_checks():
    scenes = sample_multi_object_scenes(5, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="position questions need"):
        write_vqa_questions(scenes, np.random.default_rng(0), ["position"])
    with pytest.raises(ValueError, match="kinds"):
        write_vqa_questions(scenes, np.random.default_rng(0), "color")
    with pytest.raises(TypeError, match="rng"):
        write_vqa_questions(scenes, 0)
    with pytest.raises(ValueError, match="n_objects"):
        make_vqa(4, (2, 4))
    with pytest.raises(ValueError, match="cells"):
        make_vqa(4, cells=5)


def test_vocab_covers_every_question(data):
    vocab = vqa_vocab()
    assert all(vocab.token_to_id(w) != 1 for q in data.questions for w in q.split())  # no <unk>


def test_cell_labels_mark_objects(data):
    empty_color, empty_shape = len(COLOR_NAMES), len(SHAPES)
    assert ((data.cell_color == empty_color) == (data.cell_shape == empty_shape)).all()
    occupied = (data.cell_color != empty_color).flatten(1).sum(1)
    # a small object straddling four cells may fill none of them to a quarter: rare
    assert float((occupied >= 1).float().mean()) > 0.95 and float(occupied.float().mean()) > 2


def test_accuracy_by_kind():
    kind = torch.tensor([0, 0, 1, 3])
    answers = torch.tensor([0, 1, 6, 15])
    assert accuracy_by_kind(torch.tensor([0, 0, 6, 16]), answers, kind) == {"color": 0.5, "shape": 1.0,
                                                                           "position": 0.0}
    logits = F.one_hot(answers, len(VQA_ANSWERS)).float()
    assert accuracy_by_kind(logits, answers, kind)["color"] == 1.0
    assert accuracy_by_kind(torch.tensor([0, 0, 6, 16]), answers, kind, names=("a", "b", "c", "d")) == {
        "a": 0.5, "b": 1.0, "d": 0.0}
    with pytest.raises(ValueError, match="kind must index names"):
        accuracy_by_kind(answers, answers, kind, names=("a", "b"))
    with pytest.raises(ValueError, match="same length"):
        accuracy_by_kind(answers[:3], answers, kind)


# ----- models --------------------------------------------------------------------------------------
def test_coordinate_grid():
    g = coordinate_grid(4)
    assert g.shape == (16, 2)
    assert torch.allclose(g[0], torch.tensor([-0.75, -0.75])) and torch.allclose(g[1], torch.tensor([-0.25, -0.75]))


def test_scene_tagger_shapes_features_and_grads(data):
    torch.manual_seed(0)
    tagger = SceneTagger(channels=(8, 8, 8))
    color, shape = tagger(data.images[:6])
    assert color.shape == (6, 7, 4, 4) and shape.shape == (6, 6, 4, 4)
    feats = tagger.features(data.images[:6])
    assert feats.shape == (6, 16, tagger.feature_dim) == (6, 16, 13)
    assert torch.equal(feats.sum(-1), torch.full((6, 16), 2.0))  # one-hot colour + one-hot shape
    tagger.loss(data.images[:16], data.cell_color[:16], data.cell_shape[:16]).backward()
    assert_every_parameter_gets_a_gradient(tagger)


def test_tagger_shape_loss_ignores_empty_cells(data):
    torch.manual_seed(0)
    tagger = SceneTagger(channels=(8, 8, 8))
    x, c = data.images[:8], data.cell_color[:8]
    empty = torch.full_like(data.cell_shape[:8], len(SHAPES))
    color_logits, _ = tagger(x)
    torch.testing.assert_close(tagger.loss(x, c, empty), F.cross_entropy(color_logits, c))


@pytest.mark.parametrize("make", [
    lambda v: FusedVQA(v, 13, 4, heads=1),
    lambda v: FusedVQA(v, 13, 4, dim=16, heads=2),
    lambda v: QuestionOnlyVQA(v),
    lambda v: ImageOnlyVQA(13, 4),
])
def test_vqa_models_shapes_and_grads(data, make):
    torch.manual_seed(0)
    model = make(len(data.vocab))
    feats = torch.rand(8, 16, 13)
    logits = model(feats, data.tokens[:8], data.mask[:8])
    assert logits.shape == (8, len(VQA_ANSWERS))
    F.cross_entropy(logits, data.answers[:8]).backward()
    assert_every_parameter_gets_a_gradient(model)


def test_fused_weights_and_padding(data):
    torch.manual_seed(0)
    model = FusedVQA(len(data.vocab), 13, 4, heads=2, dim=16).eval()
    feats = torch.rand(4, 16, 13)
    logits, w = model(feats, data.tokens[:4], data.mask[:4], return_weights=True)
    assert w.shape == (4, 2, VQA_MAX_LEN, 16)
    torch.testing.assert_close(w.sum(-1), torch.ones(4, 2, VQA_MAX_LEN))
    # the question-only model ignores the image; the image-only model ignores the question
    q = QuestionOnlyVQA(len(data.vocab)).eval()
    torch.testing.assert_close(q(feats, data.tokens[:4], data.mask[:4]), q(feats * 0, data.tokens[:4], data.mask[:4]))
    im = ImageOnlyVQA(13, 4).eval()
    torch.testing.assert_close(im(feats, data.tokens[:4], data.mask[:4]), im(feats, data.tokens[4:8], data.mask[4:8]))


def test_vqa_model_input_checks(data):
    model = FusedVQA(len(data.vocab), 13, 4)
    tokens, mask = data.tokens[:2], data.mask[:2]
    with pytest.raises(ValueError, match=r"features must have shape \(B, 16, 13\)"):
        model(torch.rand(2, 9, 13), tokens, mask)
    with pytest.raises(ValueError, match="max_len"):
        model(torch.rand(2, 16, 13), tokens[:, :5], mask[:, :5])
    with pytest.raises(TypeError, match="tokens"):
        model(torch.rand(2, 16, 13), tokens.float(), mask)
    with pytest.raises(ValueError, match="mask must have the shape of tokens"):
        model(torch.rand(2, 16, 13), tokens, mask[:, :3])
    with pytest.raises(ValueError, match="query_gain"):
        FusedVQA(10, 13, 4, query_gain=0)
    with pytest.raises(ValueError, match="features"):
        ImageOnlyVQA(13, 4)(torch.rand(2, 16, 12), tokens, mask)


# ----- the reader ------------------------------------------------------------------------------------
def test_text_reader_shapes_grads_and_decoding():
    torch.manual_seed(0)
    reader = TextReader(27)
    x = torch.rand(3, 1, 16, 64)
    log_probs = reader(x)
    assert log_probs.shape == (3, 16, 27)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 16))
    labels = torch.tensor([[1, 2, 3], [4, 4, 0], [5, 0, 0]])
    loss = F.ctc_loss(log_probs.transpose(0, 1), labels, torch.full((3,), 16), torch.tensor([3, 2, 1]))
    loss.backward()
    assert_every_parameter_gets_a_gradient(reader)
    assert len(ctc_greedy_decode(log_probs.detach())) == 3


def test_text_reader_checks():
    with pytest.raises(ValueError, match="height must be divisible by 8"):
        TextReader(27, height=12)
    with pytest.raises(ValueError, match="channels must hold three"):
        TextReader(27, channels=(8, 16))
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, 16, W\)"):
        TextReader(27)(torch.rand(2, 3, 16, 64))
    with pytest.raises(ValueError, match="n_classes"):
        TextReader(1)
