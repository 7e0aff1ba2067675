"""Multimodal LLMs in miniature (mmtutorial.mllm): data, LLaVA- and Flamingo-style models, POPE, real data."""

import json

import numpy as np
import pytest
import torch

from mmtutorial.data.shapesworld import COLOR_NAMES, SHAPES
from mmtutorial.lm import CausalLM
from mmtutorial.mllm import (
    ANSWER_WORDS,
    CAPTION_PROMPT,
    IGNORE_INDEX,
    QUESTION_KINDS,
    FlamingoLM,
    GatedCrossAttentionBlock,
    InstructionData,
    LlavaModel,
    Projector,
    answer_predictions,
    caption_accuracy,
    encode_instructions,
    instruction_loss,
    instruction_pairs,
    instruction_vocab,
    load_llava_conversations,
    make_instructions,
    pope_metrics,
    write_pope_questions,
)
from gradients import assert_every_parameter_gets_a_gradient


@pytest.fixture(scope="module")
def data() -> InstructionData:
    return make_instructions(300, seed=0)


@pytest.fixture(scope="module")
def vocab():
    return instruction_vocab()


# ----- data ------------------------------------------------------------------------------------
def test_make_instructions_is_deterministic_and_consistent(data):
    again = make_instructions(300, seed=0)
    assert torch.equal(again.images, data.images) and again.questions == data.questions
    assert again.pope_questions == data.pope_questions
    assert data.images.shape == (300, 3, 32, 32) and len(data.captions) == 300
    for i in range(20):
        color, shape = COLOR_NAMES[data.labels["color"][i]], SHAPES[data.labels["shape"][i]]
        assert f"{color} {shape}" in data.captions[i]
        kind = QUESTION_KINDS[data.kind[i]]
        assert data.answers[i] == ANSWER_WORDS[kind][data.labels[kind][i]]
        assert (f"{color} {shape} ?" in data.pope_questions[i]) == bool(data.pope_yes[i])


def test_pope_questions_are_balanced_and_adversarial_ones_share_one_attribute():
    labels = {"color": torch.randint(0, 6, (2000,)), "shape": torch.randint(0, 5, (2000,))}
    questions, yes, hard = write_pope_questions(labels, np.random.default_rng(0), adversarial=0.5)
    assert 0.45 < yes.mean() < 0.55 and not (yes & hard).any()
    assert 0.2 < hard.mean() < 0.3  # half of the "no" questions
    for q, y, h, c, s in zip(questions, yes, hard, labels["color"].tolist(), labels["shape"].tolist()):
        words = q.split()
        same = (words[3] == COLOR_NAMES[c]) + (words[4] == SHAPES[s])
        assert same == (2 if y else 1 if h else 0)


def test_every_word_is_in_the_vocabulary(data, vocab):
    for tasks in (("caption",), ("question",), ("pope",)):
        _, prompts, answers, _ = instruction_pairs(data, tasks)
        encode_instructions(vocab, prompts, answers)  # raises on an unknown word


def test_encode_instructions_targets_only_the_answer(vocab):
    tokens, targets = encode_instructions(vocab, ["what color is the circle ?", CAPTION_PROMPT],
                                          ["red", "a small red circle on the left"])
    assert tokens.shape == targets.shape == (2, 1 + 4 + 7 + 1)
    assert tokens[0, 0] == vocab.bos_id and tokens[0, 8] == vocab.eos_id and tokens[0, 9] == vocab.pad_id
    # the logit at the "?" (position 6) predicts "red", the one at "red" predicts <eos>; nothing else counts
    expected = torch.full((13,), IGNORE_INDEX)
    expected[6], expected[7] = vocab.token_to_id("red"), vocab.eos_id
    assert torch.equal(targets[0], expected)
    assert (targets[1] != IGNORE_INDEX).sum() == 8
    with pytest.raises(ValueError, match="not in the vocabulary"):
        encode_instructions(vocab, ["what colour is it ?"], ["red"])
    with pytest.raises(ValueError, match="max_len=4"):
        encode_instructions(vocab, ["what color is the circle ?"], ["red"], max_len=4)


def test_answer_predictions_and_loss_read_the_answer_position(vocab):
    tokens, targets = encode_instructions(vocab, ["where is the cross ?"] * 2, ["left", "right"])
    logits = torch.zeros(2, tokens.shape[1], len(vocab))
    logits[0, 5, vocab.token_to_id("left")] = 5.0  # position 5 is the "?"
    logits[1, 5, vocab.token_to_id("center")] = 5.0
    pred, true = answer_predictions(logits, targets)
    assert true.tolist() == [vocab.token_to_id("left"), vocab.token_to_id("right")]
    assert (pred == true).tolist() == [True, False]
    assert torch.isfinite(instruction_loss(logits, targets))
    with pytest.raises(ValueError, match="logits must have shape"):
        instruction_loss(logits[:, :-1], targets)


def test_pope_metrics_by_hand():
    said = torch.tensor([True, True, True, False, False, False])
    truth = torch.tensor([True, True, False, True, False, False])
    m = pope_metrics(said, truth)
    assert m["accuracy"] == pytest.approx(4 / 6) and m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3) and m["yes_ratio"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(2 / 3)
    with pytest.raises(TypeError, match="said_yes must be a bool tensor"):
        pope_metrics(said.long(), truth)


def test_caption_accuracy_rewards_the_right_word_only():
    labels = {"color": torch.tensor([0, 0]), "shape": torch.tensor([0, 0]), "size": torch.tensor([0, 0]),
              "position": torch.tensor([0, 0])}
    acc = caption_accuracy(["a small red circle on the left", "a small red green circle in the center"], labels)
    assert acc == {"color": 0.5, "shape": 1.0, "size": 1.0, "position": 0.5}


# ----- models ----------------------------------------------------------------------------------
def test_projector_kinds_and_checks():
    x = torch.randn(2, 16, 32)
    assert Projector(32, 48, "linear")(x).shape == (2, 16, 48)
    assert Projector(32, 48, "mlp")(x).shape == (2, 16, 48)
    assert sum(p.numel() for p in Projector(32, 48, "linear").parameters()) == 32 * 48 + 48
    with pytest.raises(ValueError, match="kind must be one of"):
        Projector(32, 48, "conv")
    with pytest.raises(ValueError, match=r"features must have shape \(B, S, 32\)"):
        Projector(32, 48)(torch.randn(2, 16, 31))


def test_llava_model_places_the_image_before_the_text(vocab):
    torch.manual_seed(0)
    lm = CausalLM(len(vocab), dim=32, depth=2, heads=4, max_len=32)
    model = LlavaModel(lm, vision_dim=12)
    features, tokens = torch.randn(3, 6, 12), torch.randint(4, len(vocab), (3, 9))
    logits = model(features, tokens)
    assert logits.shape == (3, 9, len(vocab))
    torch.testing.assert_close(logits, lm(tokens, prefix=model.projector(features))[:, 6:])
    model(features, tokens).sum().backward()
    assert_every_parameter_gets_a_gradient(model)
    out = model.generate(features, tokens[:, :3], 4, eos_id=vocab.eos_id)
    assert out.shape == (3, 7) and torch.equal(out[:, :3], tokens[:, :3])


def test_gated_block_is_the_identity_at_initialization_and_trains():
    torch.manual_seed(0)
    block = GatedCrossAttentionBlock(16, heads=4)
    x, visual = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    assert torch.equal(block(x, visual), x)
    with torch.no_grad():
        block.alpha_attn.fill_(0.5)
        block.alpha_mlp.fill_(0.5)
    block(x, visual).pow(2).sum().backward()
    assert_every_parameter_gets_a_gradient(block)


def test_flamingo_equals_the_frozen_lm_at_initialization(vocab):
    torch.manual_seed(0)
    lm = CausalLM(len(vocab), dim=32, depth=3, heads=4, max_len=16)
    model = FlamingoLM(lm, vision_dim=12, n_visual=6)
    tokens, features = torch.randint(4, len(vocab), (2, 10)), torch.randn(2, 6, 12)
    assert torch.equal(model(features, tokens), lm(tokens))
    assert not any(p.requires_grad for p in lm.parameters())
    assert torch.equal(model.gates(), torch.zeros(3, 2))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in lm.parameters())
    with torch.no_grad():
        for block in model.xattn:
            block.alpha_attn.fill_(0.3)
            block.alpha_mlp.fill_(0.3)
    assert not torch.equal(model(features, tokens), lm(tokens))  # open gates: the image counts
    model(features, tokens).pow(2).mean().backward()
    assert_every_parameter_gets_a_gradient(torch.nn.ModuleList([model.visual, model.xattn]))
    with pytest.raises(ValueError, match=r"features must have shape \(B, 6, 12\)"):
        model(torch.randn(2, 5, 12), tokens)


# ----- real data -------------------------------------------------------------------------------
def _write_fixture(tmp_path):
    from PIL import Image

    (tmp_path / "images").mkdir()
    for name, color in (("a.png", (255, 0, 0)), ("b.jpg", (0, 0, 255))):
        Image.new("RGB", (20, 10), color).save(tmp_path / "images" / name)
    records = [
        {"id": "1", "image": "a.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat color is the picture?"}, {"from": "gpt", "value": "Red."},
            {"from": "human", "value": "Is it blue?"}, {"from": "gpt", "value": "No."}]},
        {"id": "2", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
        {"id": "3", "image": "b.jpg", "conversations": [
            {"from": "human", "value": "Describe the image.\n<image>"}, {"from": "gpt", "value": "A blue square."}]},
    ]
    path = tmp_path / "llava.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_load_llava_conversations_reads_the_llava_format(tmp_path):
    path = _write_fixture(tmp_path)
    data = load_llava_conversations(path, tmp_path / "images", image_size=8)
    assert data.images.shape == (2, 3, 8, 8) and data.image_files == ["a.png", "b.jpg"]
    assert data.prompts == ["What color is the picture?", "Is it blue?", "Describe the image."]
    assert data.answers == ["Red.", "No.", "A blue square."]
    assert data.image_index.tolist() == [0, 0, 1]
    torch.testing.assert_close(data.images[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert len(load_llava_conversations(path, tmp_path / "images", max_samples=1)) == 2


def test_load_llava_conversations_checks_its_input(tmp_path):
    path = _write_fixture(tmp_path)
    with pytest.raises(FileNotFoundError, match="which is not in"):
        load_llava_conversations(path, tmp_path)
    with pytest.raises(FileNotFoundError, match="no conversations file"):
        load_llava_conversations(tmp_path / "missing.json", tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image": "a.png", "conversations": [{"from": "gpt", "value": "x"}]}]))
    with pytest.raises(ValueError, match="must alternate 'human' and 'gpt'"):
        load_llava_conversations(bad, tmp_path / "images")
    bad.write_text(json.dumps({"image": "a.png"}))
    with pytest.raises(ValueError, match="must hold a JSON list"):
        load_llava_conversations(bad, tmp_path / "images")
