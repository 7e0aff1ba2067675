"""Tests for contrastive alignment (chapter *Aligning text and images: contrastive learning and
CLIP*): mmtutorial.clip (TinyCLIP, prompts, zero-shot classification, caption relevance, the
Flickr caption reader), the contrastive losses of mmtutorial.losses and the retrieval metrics of
mmtutorial.metrics."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmtutorial.clip import (TinyCLIP, caption_matches, prompts_for_pairs, read_caption_file, read_images,
                             zero_shot_classify)
from mmtutorial.data import make_shapesworld
from mmtutorial.encoders.image import TinyCNN
from mmtutorial.encoders.text import BagOfWords, RNNEncoder, TransformerTextEncoder
from mmtutorial.losses import clip_loss, info_nce
from mmtutorial.metrics import recall_at_k, retrieval_recalls
from gradients import assert_every_parameter_gets_a_gradient


@pytest.fixture(scope="module")
def data():
    return make_shapesworld(8, seed=0)


def tiny_clip(vocab_size: int, text: str = "bow") -> TinyCLIP:
    torch.manual_seed(0)
    encoder, dim = {
        "bow": (BagOfWords(vocab_size), vocab_size),
        "gru": (RNNEncoder(vocab_size, 8, 16, "gru"), 16),
        "transformer": (TransformerTextEncoder(vocab_size, 16, 2, 1), 16),
    }[text]
    return TinyCLIP(TinyCNN(32), encoder, 32, dim, embed_dim=12)


# ----- losses ----------------------------------------------------------------------------------
def test_clip_loss_equals_the_two_cross_entropies_of_pytorch():
    torch.manual_seed(0)
    image, text = F.normalize(torch.randn(6, 5), dim=1), F.normalize(torch.randn(6, 5), dim=1)
    logits = 10.0 * image @ text.T
    labels = torch.arange(6)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(clip_loss(logits), expected)
    torch.testing.assert_close(info_nce(logits), F.cross_entropy(logits, labels))
    for reduction in ("none", "sum"):
        torch.testing.assert_close(info_nce(logits, reduction=reduction),
                                   F.cross_entropy(logits, labels, reduction=reduction))
    with pytest.raises(ValueError, match="reduction"):
        info_nce(logits, reduction="max")


def test_clip_loss_is_zero_for_perfect_alignment_and_log_n_for_uniform_scores():
    assert float(clip_loss(torch.eye(4) * 1e4)) == pytest.approx(0.0, abs=1e-6)
    assert float(clip_loss(torch.zeros(5, 5))) == pytest.approx(math.log(5))


def test_clip_loss_of_half_precision_logits_is_float32():
    logits = torch.randn(3, 3).half()
    assert clip_loss(logits).dtype == torch.float32


@pytest.mark.parametrize("bad, error, match", [
    (torch.randn(3, 4), ValueError, "square"),
    (torch.randn(3), ValueError, r"\(B, B\)"),
    (torch.zeros(3, 3, dtype=torch.long), TypeError, "floating-point"),
    (torch.zeros(0, 0), ValueError, "empty"),
])
def test_clip_loss_rejects_bad_logits(bad, error, match):
    with pytest.raises(error, match=match):
        clip_loss(bad)


# ----- TinyCLIP --------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["bow", "gru", "transformer"])
def test_tiny_clip_gives_unit_vectors_and_square_logits(data, text):
    model = tiny_clip(len(data.vocab), text)
    image, caption = model.encode_image(data.images), model.encode_text(data.tokens)
    assert image.shape == caption.shape == (8, 12)
    torch.testing.assert_close(image.norm(dim=1), torch.ones(8))
    torch.testing.assert_close(caption.norm(dim=1), torch.ones(8))
    logits = model(data.images, data.tokens)
    assert logits.shape == (8, 8)
    torch.testing.assert_close(logits, model.scale * image @ caption.T)


def test_tiny_clip_every_parameter_gets_a_gradient(data):
    model = tiny_clip(len(data.vocab), "transformer")
    clip_loss(model(data.images, data.tokens)).backward()
    assert_every_parameter_gets_a_gradient(model)


def test_tiny_clip_parameter_count():
    model = tiny_clip(50)
    cnn = sum(p.numel() for p in TinyCNN(32).parameters())
    assert sum(p.numel() for p in model.parameters()) == cnn + (32 * 12 + 12) + (50 * 12 + 12) + 1


def test_temperature_is_stored_as_a_log_and_clamped():
    model = tiny_clip(50)
    assert float(model.logit_scale.detach()) == pytest.approx(math.log(1 / 0.07))
    assert float(model.scale.detach()) == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)  # exp(10) = 22026 > 100
    assert float(model.scale.detach()) == pytest.approx(100.0)
    model.scale.backward()
    assert float(model.logit_scale.grad) == 0.0  # clamped: no gradient pushes it further


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(image_dim=0), ValueError, "image_dim"),
    (dict(embed_dim=2.0), TypeError, "embed_dim"),
    (dict(init_temperature=0.0), ValueError, "init_temperature"),
    (dict(init_temperature=0.001), ValueError, "1 / max_scale"),
    (dict(max_scale=-1.0), ValueError, "max_scale"),
])
def test_tiny_clip_checks_its_arguments(kwargs, error, match):
    args = dict(image_encoder=TinyCNN(8), text_encoder=BagOfWords(10), image_dim=8, text_dim=10) | kwargs
    with pytest.raises(error, match=match):
        TinyCLIP(**args)


def test_tiny_clip_rejects_encoders_that_are_not_modules():
    with pytest.raises(TypeError, match="text_encoder"):
        TinyCLIP(TinyCNN(8), lambda t: t, 8, 10)


def test_tiny_clip_rejects_unpaired_batches(data):
    model = tiny_clip(len(data.vocab))
    with pytest.raises(ValueError, match="same number of pairs"):
        model(data.images[:3], data.tokens[:4])


# ----- prompts and zero-shot -------------------------------------------------------------------
def test_prompts_for_pairs_say_an_before_a_vowel(data):
    prompts = prompts_for_pairs([("red", "circle"), ("orange", "cross")])
    assert prompts == ["a red circle", "an orange cross"]
    assert prompts_for_pairs([("red", "box")], "the {shape} is {color}") == ["the box is red"]
    data.vocab.encode(prompts, max_len=8)  # every word is in ShapesWorld's vocabulary


@pytest.mark.parametrize("pairs, template, error, match", [
    ([], "a {color} {shape}", ValueError, "at least one"),
    ([("red",)], "a {color} {shape}", ValueError, r"pairs\[0\]"),
    ([("red", "circle")], "a {shape}", ValueError, "template"),
    ("red circle", "a {color} {shape}", TypeError, "pairs"),
])
def test_prompts_for_pairs_checks_its_arguments(pairs, template, error, match):
    with pytest.raises(error, match=match):
        prompts_for_pairs(pairs, template)


def test_zero_shot_picks_the_nearest_prompt():
    prompts = torch.eye(3)
    images = F.normalize(torch.tensor([[0.1, 0.9, 0.0], [0.0, 0.2, 0.7], [1.0, 0.0, 0.1]]), dim=1)
    assert zero_shot_classify(images, prompts).tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="same width"):
        zero_shot_classify(images, torch.eye(4))


# ----- retrieval -------------------------------------------------------------------------------
def test_recall_at_k_by_hand():
    sim = torch.tensor([[0.9, 0.1, 0.5], [0.8, 0.2, 0.1], [0.0, 0.3, 0.1]])
    # query 0: item 0 first; query 1: item 1 ranked 2nd; query 2: item 2 ranked 2nd
    assert float(recall_at_k(sim, 1)) == pytest.approx(1 / 3)
    assert float(recall_at_k(sim, 2)) == pytest.approx(1.0)
    relevant = torch.tensor([[False, True, False], [True, False, False], [False, False, False]])
    assert float(recall_at_k(sim, 1, relevant)) == pytest.approx(1 / 3)  # query 2 has nothing relevant


def test_retrieval_recalls_both_ways():
    torch.manual_seed(0)
    emb = F.normalize(torch.randn(20, 8), dim=1)
    perfect = retrieval_recalls(emb, emb, ks=(1, 5))
    assert set(perfect) == {"i2t@1", "t2i@1", "i2t@5", "t2i@5"}
    assert all(float(v) == 1.0 for v in perfect.values())
    text = emb.roll(1, dims=0)  # caption i is embedded where caption i - 1 should be
    sim = emb @ text.T
    out = retrieval_recalls(emb, text, ks=(1,))
    torch.testing.assert_close(out["i2t@1"], recall_at_k(sim, 1))
    torch.testing.assert_close(out["t2i@1"], recall_at_k(sim.T, 1))


@pytest.mark.parametrize("call, error, match", [
    (lambda: recall_at_k(torch.randn(3, 4), 1), ValueError, "square"),
    (lambda: recall_at_k(torch.randn(3, 3), 4), ValueError, "k must"),
    (lambda: recall_at_k(torch.randn(3, 3), 1, torch.ones(3, 2, dtype=torch.bool)), ValueError, "relevant"),
    (lambda: recall_at_k(torch.randn(3, 3), 1, torch.ones(3, 3)), TypeError, "relevant"),
    (lambda: retrieval_recalls(torch.randn(3, 4), torch.randn(3, 5)), ValueError, "same width"),
])
def test_retrieval_checks_its_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_caption_matches_ignores_what_a_caption_does_not_say():
    images = {"color": torch.tensor([0, 0, 1]), "shape": torch.tensor([2, 2, 2]), "size": torch.tensor([0, 1, 0])}
    captions = {"color": torch.tensor([0, 0]), "shape": torch.tensor([2, 2]), "size": torch.tensor([0, 0])}
    said = {"size": torch.tensor([True, False])}
    expected = torch.tensor([[True, True], [False, True], [False, False]])
    assert torch.equal(caption_matches(images, captions, said), expected)
    assert torch.equal(caption_matches(images, captions), torch.tensor([[True, True], [True, True], [False, False]]))
    with pytest.raises(ValueError, match="'size'"):
        caption_matches({"color": images["color"], "shape": images["shape"]}, captions, said)


# ----- the caption files of Flickr8k / Flickr30k -------------------------------------------------
def test_read_caption_file_token_layout(tmp_path):
    path = tmp_path / "Flickr8k.token.txt"
    path.write_text("1000268201_693b08cb0e.jpg#0\tA child in a pink dress .\n"
                    "1000268201_693b08cb0e.jpg#1\tA girl going into a wooden building .\n\n"
                    "1001773457_577c3a7d70.jpg#0\tA black dog and a spotted dog are fighting\n", encoding="utf-8")
    out = read_caption_file(path)
    assert list(out) == ["1000268201_693b08cb0e.jpg", "1001773457_577c3a7d70.jpg"]
    assert out["1000268201_693b08cb0e.jpg"] == ["A child in a pink dress .", "A girl going into a wooden building ."]
    assert list(read_caption_file(path, limit=1)) == ["1000268201_693b08cb0e.jpg"]


def test_read_caption_file_csv_layout_with_quoted_commas(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text('image,caption\n1.jpg,A dog runs .\n1.jpg,"A dog, brown, runs ."\n2.jpg,Two cats .\n',
                    encoding="utf-8")
    assert read_caption_file(path) == {"1.jpg": ["A dog runs .", "A dog, brown, runs ."], "2.jpg": ["Two cats ."]}


def test_read_caption_file_rejects_malformed_files(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("no tab on this line\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1"):
        read_caption_file(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("image,caption\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least one caption"):
        read_caption_file(empty)
    with pytest.raises(TypeError, match="path"):
        read_caption_file(3)


def test_read_images_in_the_order_of_names(tmp_path):
    from PIL import Image

    Image.new("RGB", (10, 6), (255, 0, 0)).save(tmp_path / "a.png")
    Image.new("L", (5, 5), 255).save(tmp_path / "b.jpg")
    images = read_images(tmp_path, ["b.jpg", "a.png"], image_size=4)
    assert images.shape == (2, 3, 4, 4) and images.dtype == torch.float32
    torch.testing.assert_close(images[0], torch.ones(3, 4, 4))
    torch.testing.assert_close(images[1, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="c.png"):
        read_images(tmp_path, ["a.png", "c.png"])
    with pytest.raises(ValueError, match="at least one"):
        read_images(tmp_path, [])
