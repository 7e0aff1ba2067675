"""Frame encoders, temporal models, keyframe selection and the video captioner (mmtutorial.video)."""

import pytest
import torch
import torch.nn.functional as F

from mmtutorial.encoders.image import ConvEncoder
from mmtutorial.encoders.text import sinusoidal_positions
from mmtutorial.video import (
    AttentionTemporal,
    FrameEncoder,
    FrameScorer,
    FrameTagger,
    GRUTemporal,
    MeanPoolTemporal,
    VideoCaptioner,
    VideoClassifier,
    embedding_change,
    keyframe_f1,
    pixel_change,
    select_keyframes,
    uniform_keyframes,
)
from gradients import assert_every_parameter_gets_a_gradient


def _bools(T: int, *rows: list[int]) -> torch.Tensor:
    out = torch.zeros(len(rows), T, dtype=torch.bool)
    for i, frames in enumerate(rows):
        out[i, frames] = True
    return out


# ----- frames ---------------------------------------------------------------------------------------
def test_frame_encoder_encodes_every_frame_alone():
    torch.manual_seed(0)
    enc = FrameEncoder(ConvEncoder(3, (4, 8), 16), 8 * 4 * 4, dim=12).eval()
    clips = torch.rand(2, 5, 3, 16, 16)
    z = enc(clips)
    assert z.shape == (2, 5, 12)
    with torch.no_grad():
        torch.testing.assert_close(enc(clips[:, 2:3])[:, 0], z[:, 2])  # a frame's vector ignores the other frames


def test_frame_tagger_heads_and_gradients():
    torch.manual_seed(0)
    tagger = FrameTagger(FrameEncoder(ConvEncoder(3, (4, 8), 16), 128, dim=12), {"color": 6, "visible": 2})
    out = tagger(torch.rand(2, 4, 3, 16, 16))
    assert {k: v.shape for k, v in out.items()} == {"color": (2, 4, 6), "visible": (2, 4, 2)}
    (out["color"].logsumexp(-1).sum() + out["visible"].logsumexp(-1).sum()).backward()
    assert_every_parameter_gets_a_gradient(tagger)


def test_frame_encoder_input_checks():
    enc = FrameEncoder(ConvEncoder(3, (4, 8), 16), 128)
    with pytest.raises(ValueError, match=r"clips must be a floating-point tensor of shape \(B, T, C, H, W\)"):
        enc(torch.rand(2, 3, 16, 16))
    with pytest.raises(TypeError, match="image_encoder must be an nn.Module"):
        FrameEncoder("cnn", 128)
    with pytest.raises(ValueError, match="heads must name at least one"):
        FrameTagger(enc, {})


# ----- time -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: MeanPoolTemporal(6, 8), lambda: GRUTemporal(6, 8),
                                  lambda: AttentionTemporal(6, 8, heads=2)])
def test_temporal_models_shapes_and_gradients(make):
    torch.manual_seed(0)
    model = VideoClassifier(make(), {"a": 2, "b": 5})
    out = model(torch.randn(3, 7, 6))
    assert {k: v.shape for k, v in out.items()} == {"a": (3, 2), "b": (3, 5)}
    (F.cross_entropy(out["a"], torch.tensor([0, 1, 1])) + F.cross_entropy(out["b"], torch.tensor([4, 0, 2]))).backward()
    assert_every_parameter_gets_a_gradient(model)


def test_which_temporal_models_see_order():
    torch.manual_seed(0)
    x = torch.randn(4, 9, 6)
    backwards = x.flip(1)
    blind = [MeanPoolTemporal(6, 8), AttentionTemporal(6, 8, heads=2, positions=False)]
    seeing = [GRUTemporal(6, 8), AttentionTemporal(6, 8, heads=2)]
    with torch.no_grad():
        for m in blind:
            torch.testing.assert_close(m.eval()(backwards), m(x), atol=1e-5, rtol=1e-5)
        for m in seeing:
            assert not torch.allclose(m.eval()(backwards), m(x), atol=1e-3)


def test_attention_positions_start_sinusoidal():
    model = AttentionTemporal(6, 8, heads=2, max_frames=12)
    torch.testing.assert_close(model.pos.detach(), sinusoidal_positions(12, 8))
    assert AttentionTemporal(6, 8, heads=2, positions=False).pos is None


def test_temporal_input_checks():
    with pytest.raises(ValueError, match=r"x must have 6 features on its last axis"):
        MeanPoolTemporal(6)(torch.randn(2, 3, 5))
    with pytest.raises(TypeError, match=r"x must be a floating-point tensor"):
        GRUTemporal(6)(torch.zeros(2, 3, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="hidden must be divisible by heads"):
        AttentionTemporal(6, 10, heads=4)
    with pytest.raises(ValueError, match="x has 9 frames but max_frames=8"):
        AttentionTemporal(6, 8, heads=2, max_frames=8)(torch.randn(1, 9, 6))
    with pytest.raises(TypeError, match="temporal must have an int attribute out_dim"):
        VideoClassifier(torch.nn.Linear(3, 3), {"a": 2})


# ----- keyframes ----------------------------------------------------------------------------------------
def test_change_scores():
    x = torch.tensor([[[0.0, 0.0], [3.0, 4.0], [3.0, 4.0]]])  # (1, 3, 2)
    torch.testing.assert_close(embedding_change(x), torch.tensor([[0.0, 5.0, 0.0]]))
    clips = torch.zeros(1, 3, 1, 2, 2)
    clips[0, 2] = 0.5
    torch.testing.assert_close(pixel_change(clips), torch.tensor([[0.0, 0.0, 0.5]]))


def test_select_keyframes_never_takes_neighbours():
    scores = torch.tensor([[0.0, 0.9, 1.0, 0.2, 0.1, 0.8, 0.0, 0.3, 0.0, 0.0],
                           [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5]])
    chosen = select_keyframes(scores, torch.tensor([2, 3]))
    assert chosen[0].nonzero()[:, 0].tolist() == [2, 5]
    assert chosen[1].nonzero()[:, 0].tolist() == [0, 2, 9]  # ties go to the earlier frame; 1 is ruled out
    assert select_keyframes(scores, 1).sum(1).tolist() == [1, 1]
    with pytest.raises(ValueError, match=r"k must lie in \[0, 5\]"):
        select_keyframes(scores, torch.tensor([6, 1]))
    with pytest.raises(ValueError, match="k must have one entry per clip"):
        select_keyframes(scores, torch.tensor([1]))


def test_uniform_keyframes():
    assert uniform_keyframes(10, 2)[0].nonzero()[:, 0].tolist() == [2, 7]
    assert uniform_keyframes(10, torch.tensor([3, 0])).sum(1).tolist() == [3, 0]
    assert uniform_keyframes(10, 3)[0].nonzero()[:, 0].tolist() == [1, 5, 8]


def test_keyframe_f1():
    true = _bools(10, [2, 5])
    assert float(keyframe_f1(_bools(10, [2, 5]), true)[0]) == 1.0
    assert float(keyframe_f1(_bools(10, [3, 8]), true)[0]) == 0.5  # 3 is within one frame of 2
    assert float(keyframe_f1(_bools(10, [3, 8]), true, tolerance=0)[0]) == 0.0
    # Each event is matched once: 1 and 3 both lie near 2, and only one of them counts.
    torch.testing.assert_close(keyframe_f1(_bools(10, [1, 3]), _bools(10, [2])), torch.tensor([2 * 0.5 * 1 / 1.5]))
    assert float(keyframe_f1(_bools(10, []), true)[0]) == 0.0
    with pytest.raises(ValueError, match="selected and true must have the same shape"):
        keyframe_f1(_bools(9, [1]), true)
    with pytest.raises(TypeError, match="selected must be a bool tensor"):
        keyframe_f1(true.float(), true)


def test_frame_scorer_shapes_and_gradients():
    torch.manual_seed(0)
    scorer = FrameScorer(6, hidden=5)
    logits = scorer(torch.randn(3, 7, 6))
    assert logits.shape == (3, 7)
    F.binary_cross_entropy_with_logits(logits, torch.rand(3, 7)).backward()
    assert_every_parameter_gets_a_gradient(scorer)


# ----- captions -------------------------------------------------------------------------------------------
def test_video_captioner_forward_greedy_and_gradients():
    torch.manual_seed(0)
    cap = VideoCaptioner(6, 11, hidden=8)
    z = torch.randn(2, 5, 6)
    tgt_in = torch.tensor([[2, 4, 5, 6], [2, 7, 8, 0]])
    logits = cap(z, tgt_in)
    assert logits.shape == (2, 4, 11)
    F.cross_entropy(logits.flatten(0, 1), torch.tensor([4, 5, 6, 3, 7, 8, 3, 0]), ignore_index=0).backward()
    assert_every_parameter_gets_a_gradient(cap)
    tokens, weights = cap.greedy_decode(z, 6)
    assert tokens.shape == (2, 6) and weights.shape == (2, 6, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 6))
    with pytest.raises(ValueError, match="src must have 6 features on its last axis"):
        cap(torch.randn(2, 5, 4), tgt_in)
