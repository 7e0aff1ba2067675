"""Tests for mmtutorial.vlp: image tokens, image-text matching with mined negatives, the captioner
and the caption helpers (chapter *Generating text, and pretraining vision and language together*)."""

import pytest
import torch

from mmtutorial.clip import read_caption_file, read_images
from mmtutorial.data import Vocab
from mmtutorial.data.shapesworld import make_shapesworld
from mmtutorial.encoders.image import TinyCNN
from mmtutorial.lm import generate, next_token_loss
from mmtutorial.vlp import (Captioner, ITMHead, caption_attributes, image_regions, itm_pairs, sample_negatives,
                            swap_attribute)
from gradients import assert_every_parameter_gets_a_gradient

B, V = 4, 13


def test_image_regions_are_the_third_stage_feature_map_and_its_column_means():
    torch.manual_seed(0)
    cnn = TinyCNN(64).eval()
    images = torch.rand(B, 3, 32, 32)
    maps = cnn.net[:9](images)  # (B, 64, 4, 4)
    regions = image_regions(cnn, images)
    assert regions.shape == (B, 16, 64)
    torch.testing.assert_close(regions[:, 5], maps[:, :, 1, 1])  # row 1, column 1
    columns = image_regions(cnn, images, columns=True)
    assert columns.shape == (B, 4, 64)
    torch.testing.assert_close(columns[:, 2], maps[:, :, :, 2].mean(-1))
    with pytest.raises(ValueError, match="32, 32"):
        image_regions(cnn, torch.rand(B, 3, 28, 28))
    with pytest.raises(TypeError, match="cnn"):
        image_regions(torch.nn.Identity(), images)


def test_itm_head_shapes_padding_and_gradients():
    torch.manual_seed(0)
    head = ITMHead(V, image_dim=8, dim=16, heads=2, max_len=10)
    tokens, regions = torch.randint(1, V, (B, 5)), torch.randn(B, 4, 8)
    logits = head(tokens, regions)
    assert logits.shape == (B,)
    padded = torch.cat([tokens, torch.zeros(B, 3, dtype=torch.long)], dim=1)
    torch.testing.assert_close(head(padded, regions), logits)  # padding is not read
    assert not torch.allclose(head(tokens, torch.randn(B, 4, 8)), logits)  # the image matters
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([1.0, 0, 1, 0])).backward()
    assert_every_parameter_gets_a_gradient(head)
    with pytest.raises(ValueError, match="max_len"):
        head(torch.ones(B, 11, dtype=torch.long), regions)
    with pytest.raises(TypeError, match="tokens"):
        head(torch.randn(B, 5), regions)
    with pytest.raises(ValueError, match="context"):
        head(tokens, torch.randn(B, 4, 7))


def test_sample_negatives_never_draws_the_partner_or_an_excluded_candidate():
    g = torch.Generator().manual_seed(0)
    n = 6
    logits = torch.randn(n, n)
    exclude = torch.zeros(n, n, dtype=torch.bool)
    exclude[:, 0] = True  # candidate 0 is a false negative for everyone
    for hard in (True, False):
        for _ in range(50):
            idx = sample_negatives(logits, exclude, hard=hard, generator=g)
            assert idx.shape == (n,) and (idx != torch.arange(n)).all() and (idx != 0).all()


def test_hard_negatives_follow_the_similarity_and_random_ones_do_not():
    g = torch.Generator().manual_seed(0)
    logits = torch.zeros(4, 4)
    logits[:, 3] = 8.0  # candidate 3 looks most like every query
    logits[3, 2] = 8.0
    hard = torch.stack([sample_negatives(logits, generator=g) for _ in range(200)])  # (200, 4)
    rand = torch.stack([sample_negatives(logits, hard=False, generator=g) for _ in range(200)])
    assert (hard[:, :3] == 3).float().mean() > 0.95 and (hard[:, 3] == 2).float().mean() > 0.95
    share = (rand[:, :3] == 3).float().mean()
    assert 0.2 < share < 0.5  # uniform over the 3 others: 1/3


def test_sample_negatives_input_checks():
    with pytest.raises(ValueError, match="square"):
        sample_negatives(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="exclude"):
        sample_negatives(torch.zeros(3, 3), torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(TypeError, match="exclude"):
        sample_negatives(torch.zeros(3, 3), torch.zeros(3, 3))
    with pytest.raises(TypeError, match="hard"):
        sample_negatives(torch.zeros(3, 3), hard=1)


def test_itm_pairs_layout():
    regions = torch.arange(B).float().view(B, 1, 1).expand(B, 2, 3)
    tokens = torch.arange(B).view(B, 1).expand(B, 5)
    neg_text, neg_image = torch.tensor([1, 2, 3, 0]), torch.tensor([3, 0, 1, 2])
    r, t, y = itm_pairs(regions, tokens, neg_text, neg_image)
    assert r.shape == (3 * B, 2, 3) and t.shape == (3 * B, 5)
    assert y.tolist() == [1.0] * B + [0.0] * (2 * B)
    assert r[:, 0, 0].long().tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 3, 0, 1, 2]
    assert t[:, 0].tolist() == [0, 1, 2, 3, 1, 2, 3, 0, 0, 1, 2, 3]
    with pytest.raises(ValueError, match="negative_text"):
        itm_pairs(regions, tokens, neg_text[:3], neg_image)


def test_captioner_is_a_causal_lm_with_the_projected_regions_as_prefix():
    torch.manual_seed(0)
    cap = Captioner(image_dim=8, vocab_size=V, dim=16, depth=1, heads=2, max_len=16).eval()
    regions, tokens = torch.randn(B, 4, 8), torch.randint(4, V, (B, 6))
    logits = cap(regions, tokens)
    assert logits.shape == (B, 6, V)
    torch.testing.assert_close(logits, cap.lm(tokens, prefix=cap.project(regions))[:, 4:])
    greedy = cap.caption(regions, 8)
    assert greedy.shape == (B, 9) and (greedy[:, 0] == 2).all()
    uncached = generate(cap.lm, greedy[:, :1], 8, greedy=True, eos_id=3, pad_id=0, use_cache=False,
                        prefix=cap.project(regions))
    assert torch.equal(greedy, uncached)
    assert cap.caption(regions, 8, beam_size=3).shape == (B, 9)
    sampled = cap.caption(regions, 8, greedy=False, top_k=3, generator=torch.Generator().manual_seed(0))
    assert sampled.shape == (B, 9)
    with pytest.raises(ValueError, match="regions"):
        cap(torch.randn(B, 4, 7), tokens)


def test_captioner_gradients_reach_every_parameter():
    torch.manual_seed(0)
    cap = Captioner(image_dim=8, vocab_size=V, dim=16, depth=1, heads=2, max_len=16)
    tokens = torch.randint(4, V, (B, 6))
    next_token_loss(cap(torch.randn(B, 4, 8), tokens), tokens).backward()
    assert_every_parameter_gets_a_gradient(cap)


def test_caption_attributes_reads_the_named_concepts():
    out = caption_attributes(["a crimson disc", "there is a huge lemon plus on the right",
                              "a medium-sized wedge that is navy", "a red blue box", "hello"])
    assert out["color"].tolist() == [0, 3, 2, -1, -1]  # red, yellow, blue; two colours: -1
    assert out["shape"].tolist() == [0, 4, 2, 1, -1]
    assert out["size"].tolist() == [-1, 2, 1, -1, -1]  # "medium-sized" is medium, not also "medium"
    assert out["position"].tolist() == [-1, 2, -1, -1, -1]


def test_swap_attribute_changes_exactly_one_attribute():
    data = make_shapesworld(200, seed=0)
    for attribute in ("color", "shape", "size", "position"):
        new, changed = swap_attribute(data.captions, data.labels, attribute, seed=1)
        read_old, read_new = caption_attributes(data.captions), caption_attributes(new)
        assert changed.any()
        assert (read_new[attribute][changed] != data.labels[attribute][changed]).all()
        assert (read_new[attribute][changed] >= 0).all()
        for other in ("color", "shape", "size", "position"):
            if other != attribute:
                assert torch.equal(read_new[other], read_old[other])
        assert [c for c, k in zip(new, changed.tolist()) if not k] == \
               [c for c, k in zip(data.captions, changed.tolist()) if not k]
    assert swap_attribute(["a red box"], {"color": torch.tensor([0])}, "color", seed=0)[1].tolist() == [True]
    new, _ = swap_attribute(["a red box"] * 30, {"color": torch.tensor([0] * 30)}, "color", seed=0)
    assert all(c.startswith("an ") == (c.split()[1][0] in "aeiou") for c in new)  # "an amber box"
    assert swap_attribute(["a red box"], {"size": torch.tensor([0])}, "size")[1].tolist() == [False]
    with pytest.raises(ValueError, match="attribute"):
        swap_attribute(["a red box"], {"color": torch.tensor([0])}, "texture")


def test_real_data_format_runs_through_the_captioner(tmp_path):
    """The section on real data: a Flickr-style caption file and photos, at 32×32, into the captioner."""
    from PIL import Image

    (tmp_path / "Images").mkdir()
    for name, color in (("a.jpg", (200, 10, 10)), ("b.jpg", (10, 10, 200))):
        Image.new("RGB", (50, 40), color).save(tmp_path / "Images" / name)
    (tmp_path / "captions.txt").write_text("image,caption\na.jpg,A red wall .\na.jpg,Something red .\n"
                                           "b.jpg,A blue sky .\n", encoding="utf-8")
    by_image = read_caption_file(tmp_path / "captions.txt")
    photos = read_images(tmp_path / "Images", list(by_image), image_size=32)
    assert photos.shape == (2, 3, 32, 32)
    vocab = Vocab.build([c.lower() for caps in by_image.values() for c in caps])
    tokens, _ = vocab.encode([caps[0].lower() for caps in by_image.values()], max_len=8, add_special=True,
                             truncate=True)
    regions = image_regions(TinyCNN(64).eval(), photos, columns=True)
    cap = Captioner(64, len(vocab), dim=16, depth=1, heads=2, max_len=16)
    loss = next_token_loss(cap(regions, tokens), tokens)
    assert torch.isfinite(loss)
