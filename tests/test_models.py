"""Tests of mmtutorial.models: the corrected seed model, the text-image classifier with modality
dropout, the OGM-GE coefficients, the corruptions and the image-text JSON Lines reader."""

import json
import math

import pytest
import torch
from torch import nn

from mmtutorial.encoders.image import TinyCNN
from mmtutorial.encoders.text import RNNEncoder, last_valid
from mmtutorial.models import (FixedBigModel, TextImageClassifier, corrupt_tokens, noisy_images, ogm_coefficients,
                               read_image_text_jsonl)
from gradients import assert_every_parameter_gets_a_gradient


# ----- FixedBigModel -------------------------------------------------------------------------------

def test_fixed_big_model_shapes_and_parameter_count():
    torch.manual_seed(0)
    model = FixedBigModel()
    out = model(torch.randn(10, 7, 100), torch.randn(10, 3, 32, 32))
    assert out.shape == (10, 100)
    # 2-layer RNN 100->50, 50->50; conv 3->64 3x3; linear 114->100
    rnn = (100 * 50 + 50 * 50 + 2 * 50) + (50 * 50 + 50 * 50 + 2 * 50)
    assert sum(p.numel() for p in model.parameters()) == rnn + (64 * 27 + 64) + (114 * 100 + 100)


def test_fixed_big_model_samples_do_not_leak():
    torch.manual_seed(0)
    model = FixedBigModel()
    x_text, x_image = torch.randn(10, 7, 100), torch.randn(10, 3, 32, 32)
    out = model(x_text, x_image)
    x_text2, x_image2 = x_text.clone(), x_image.clone()
    x_text2[0] += 1.0
    x_image2[0] += 1.0
    out2 = model(x_text2, x_image2)
    assert not torch.allclose(out[0], out2[0])
    torch.testing.assert_close(out[1:], out2[1:])


def test_fixed_big_model_reads_the_last_valid_step():
    torch.manual_seed(0)
    model = FixedBigModel(text_dim=4, hidden=3, channels=2, out_dim=5)
    x_text, x_image = torch.randn(3, 6, 4), torch.randn(3, 3, 8, 8)
    lengths = torch.tensor([6, 2, 4])
    out = model(x_text, x_image, lengths)
    padded = x_text.clone()
    padded[1, 2:] = 9.0  # what comes after a sequence's end changes nothing
    padded[2, 4:] = -9.0
    torch.testing.assert_close(model(padded, x_image, lengths), out)
    states, _ = model.text_rnn(x_text)
    image = torch.relu(model.image_cnn(x_image)).mean(dim=(2, 3))
    torch.testing.assert_close(out, model.fusion(torch.cat([last_valid(states, lengths), image], dim=1)))


def test_fixed_big_model_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = FixedBigModel(text_dim=4, hidden=3, channels=2, out_dim=5)
    model(torch.randn(3, 6, 4), torch.randn(3, 3, 8, 8)).square().sum().backward()
    assert_every_parameter_gets_a_gradient(model)


def test_fixed_big_model_rejects_unbatched_text():
    model = FixedBigModel()
    with pytest.raises(ValueError, match=r"x_text must be a floating-point tensor of shape \(B, T, text_dim\)"):
        model(torch.randn(10, 100), torch.randn(10, 3, 32, 32))
    with pytest.raises(ValueError, match=r"x_text must have shape \(B, T, 100\)"):
        model(torch.randn(10, 7, 99), torch.randn(10, 3, 32, 32))
    with pytest.raises(TypeError, match="x_image must be a floating-point tensor"):
        model(torch.randn(10, 7, 100), torch.zeros(10, 3, 32, 32, dtype=torch.long))
    with pytest.raises(ValueError, match=r"lengths must have one entry per sequence \(10\)"):
        model(torch.randn(10, 7, 100), torch.randn(10, 3, 32, 32), torch.full((9,), 7))
    with pytest.raises(ValueError, match="hidden must be an int >= 1"):
        FixedBigModel(hidden=0)


# ----- TextImageClassifier -------------------------------------------------------------------------

def _classifier(p_drop=0.0, hidden_dim=None):
    torch.manual_seed(0)
    return TextImageClassifier(RNNEncoder(20, 8, 12, "gru"), TinyCNN(16), 12, 16, 5, p_drop=p_drop,
                               hidden_dim=hidden_dim)


def _batch(B=6):
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 20, (B, 5), generator=g)
    tokens[:, 4:] = 0  # padding
    return tokens, torch.rand(B, 3, 32, 32, generator=g)


def test_classifier_output_shapes():
    out = _classifier()(*_batch())
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "fused": (6, 5), "text": (6, 5), "image": (6, 5), "text_features": (6, 12), "image_features": (6, 16)}


def test_classifier_gradients_reach_every_parameter():
    model = _classifier(hidden_dim=8)
    tokens, images = _batch()
    present = torch.tensor([True, False, True, True, False, True])
    out = model(tokens, images, text_present=present, image_present=present.flip(0))
    sum(out[k].square().sum() for k in ("fused", "text", "image")).backward()
    assert_every_parameter_gets_a_gradient(model)


def test_missing_modality_uses_the_missing_token():
    model = _classifier().eval()
    with torch.no_grad():
        model.missing_text.fill_(0.5)
    tokens, images = _batch()
    present = torch.tensor([True, False, True, False, True, True])
    out = model(tokens, images, text_present=present)
    full = model(tokens, images)
    torch.testing.assert_close(out["text_features"][~present], torch.full((2, 12), 0.5))
    torch.testing.assert_close(out["text_features"][present], full["text_features"][present])
    torch.testing.assert_close(out["image_features"], full["image_features"])
    # Another sample's text does not matter once it is missing.
    tokens2 = tokens.clone()
    tokens2[1] = tokens[0]
    torch.testing.assert_close(model(tokens2, images, text_present=present)["fused"], out["fused"])


def test_modality_dropout_drops_one_modality_only_in_training():
    model = _classifier(p_drop=1.0)
    tokens, images = _batch(64)
    torch.manual_seed(1)
    out = model.train()(tokens.repeat(4, 1)[:200], images.repeat(4, 1, 1, 1)[:200])
    text_gone = (out["text_features"] == model.missing_text).all(dim=1)
    image_gone = (out["image_features"] == model.missing_image).all(dim=1)
    assert torch.all(text_gone ^ image_gone)  # p_drop=1: every sample loses exactly one
    assert 60 <= int(text_gone.sum()) <= 140  # each equally likely (binomial(200, 1/2))
    model.eval()
    out = model(tokens, images)
    assert not (out["text_features"] == model.missing_text).all(dim=1).any()
    assert not (out["image_features"] == model.missing_image).all(dim=1).any()


def test_fused_parts_add_up_to_the_fused_logits():
    model = _classifier().eval()
    out = model(*_batch())
    text_part, image_part = model.fused_parts(out["text_features"], out["image_features"])
    torch.testing.assert_close(text_part + image_part, out["fused"])
    with pytest.raises(ValueError, match="fused_parts needs a linear fusion"):
        _classifier(hidden_dim=8).fused_parts(out["text_features"], out["image_features"])


def test_classifier_input_checks():
    model = _classifier()
    tokens, images = _batch()
    with pytest.raises(ValueError, match=r"p_drop must be a finite number >= 0 and <= 1"):
        TextImageClassifier(nn.Identity(), nn.Identity(), 4, 4, 3, p_drop=1.5)
    with pytest.raises(TypeError, match="text_encoder must be an nn.Module"):
        TextImageClassifier(lambda x: x, nn.Identity(), 4, 4, 3)
    with pytest.raises(ValueError, match=r"text_present must have one entry per sample \(6\)"):
        model(tokens, images, text_present=torch.ones(5, dtype=torch.bool))
    with pytest.raises(TypeError, match="image_present must be a bool tensor"):
        model(tokens, images, image_present=torch.ones(6))
    with pytest.raises(ValueError, match=r"the encoders must return \(B, 12\) and \(B, 16\)"):
        TextImageClassifier(RNNEncoder(20, 8, 12, "gru"), TinyCNN(15), 12, 16, 5)(tokens, images)


# ----- OGM-GE coefficients ---------------------------------------------------------------------------

def test_ogm_coefficients_slow_the_dominant_modality():
    labels = torch.tensor([0, 1, 2, 0])
    strong = torch.nn.functional.one_hot(labels, 3).float() * 5   # confident and right
    weak = torch.zeros(4, 3)                                       # uniform: 1/3 per class
    k_a, k_b = ogm_coefficients(strong, weak, labels, alpha=0.5)
    s_a = (strong.softmax(1)[torch.arange(4), labels]).sum()
    rho = s_a / (4 / 3)
    torch.testing.assert_close(k_a, 1 - torch.tanh(0.5 * rho))
    assert float(k_b) == 1.0 and 0 < float(k_a) < 1
    k_b2, k_a2 = ogm_coefficients(weak, strong, labels, alpha=0.5)   # symmetric
    torch.testing.assert_close((k_a2, k_b2), (k_a, k_b))
    one, one_b = ogm_coefficients(weak, weak, labels, alpha=0.5)      # equal scores: no modulation
    assert float(one) == float(one_b) == 1.0
    off, _ = ogm_coefficients(strong, weak, labels, alpha=0.0)        # alpha 0: off
    assert float(off) == 1.0
    assert not k_a.requires_grad and math.isfinite(float(k_a))


def test_ogm_coefficients_input_checks():
    labels = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="logits_a, logits_b must have the same shape"):
        ogm_coefficients(torch.zeros(2, 3), torch.zeros(2, 4), labels, 0.5)
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        ogm_coefficients(torch.zeros(2, 3), torch.zeros(2, 3), labels, -1.0)
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        ogm_coefficients(torch.zeros(2, 3), torch.zeros(2, 3), labels.float(), 0.5)


# ----- corruptions -----------------------------------------------------------------------------------

def test_corrupt_tokens_keeps_padding_and_never_writes_it():
    tokens, _ = _batch(200)
    g = torch.Generator().manual_seed(0)
    bad = corrupt_tokens(tokens, 1.0, 20, generator=g)
    assert torch.equal(bad == 0, tokens == 0)          # padding stays padding, nothing new becomes it
    assert bad.max() < 20
    assert torch.equal(corrupt_tokens(tokens, 0.0, 20), tokens)
    changed = (corrupt_tokens(tokens, 0.5, 20, generator=g) != tokens).float()[tokens != 0].mean()
    assert 0.4 < float(changed) < 0.55                 # half replaced, 1/19 of those by the same id
    with pytest.raises(ValueError, match="p must be a finite number >= 0 and <= 1"):
        corrupt_tokens(tokens, 2.0, 20)
    with pytest.raises(TypeError, match="tokens must be an integer tensor"):
        corrupt_tokens(tokens.float(), 0.5, 20)


def test_noisy_images_stay_in_range():
    _, images = _batch()
    noisy = noisy_images(images, 0.3, generator=torch.Generator().manual_seed(0))
    assert noisy.shape == images.shape and noisy.min() >= 0 and noisy.max() <= 1
    assert 0.15 < float((noisy - images).std()) < 0.3  # clipping shrinks the noise a little
    torch.testing.assert_close(noisy_images(images, 0.0), images)
    with pytest.raises(ValueError, match="std must be a finite number >= 0"):
        noisy_images(images, -0.1)


# ----- the real-data reader ------------------------------------------------------------------------------

def _write_fixture(folder):
    from PIL import Image

    (folder / "img").mkdir()
    rows = []
    for i, (color, label) in enumerate([((255, 0, 0), 0), ((0, 0, 255), 1), ((0, 255, 0), 0)]):
        Image.new("RGB", (20, 12), color).save(folder / "img" / f"{i:05d}.png")
        rows.append({"id": i, "img": f"img/{i:05d}.png", "label": label, "text": f"meme number {i}"})
    path = folder / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    return path


def test_read_image_text_jsonl_reads_the_hateful_memes_layout(tmp_path):
    path = _write_fixture(tmp_path)
    images, texts, labels = read_image_text_jsonl(path, image_size=8)
    assert images.shape == (3, 3, 8, 8) and images.dtype == torch.float32
    torch.testing.assert_close(images[0, :, 4, 4], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(images[1, :, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    assert texts == ["meme number 0", "meme number 1", "meme number 2"] and labels == ["0", "1", "0"]
    images, texts, _ = read_image_text_jsonl(str(path), image_size=4, limit=2)
    assert images.shape == (2, 3, 4, 4) and len(texts) == 2


def test_read_image_text_jsonl_reports_bad_rows(tmp_path):
    path = _write_fixture(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"img": "img/00000.png", "label": 1}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 1 of .* must have the keys 'img', 'text' and 'label'"):
        read_image_text_jsonl(bad)
    bad.write_text(json.dumps({"img": "img/99.png", "text": "hi", "label": 1}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="names the image 'img/99.png', but there is no"):
        read_image_text_jsonl(bad)
    bad.write_text(json.dumps({"img": "img/00000.png", "text": " ", "label": 1}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty or non-string 'text'"):
        read_image_text_jsonl(bad)
    bad.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="must hold at least one example"):
        read_image_text_jsonl(bad)
    with pytest.raises(TypeError, match="path must be a path"):
        read_image_text_jsonl(3)
    with pytest.raises(ValueError, match="image_size must be an int >= 1"):
        read_image_text_jsonl(path, image_size=0)
