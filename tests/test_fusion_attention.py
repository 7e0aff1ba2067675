"""Tests for the attention, gating and conditioning section of mmtutorial.fusion:
CrossAttention, GatedMultimodalUnit and FiLM (chapter *Attention, gating and conditioning*)."""

import math

import pytest
import torch
from torch import nn

from mmtutorial.fusion import CrossAttention, FiLM, GatedMultimodalUnit
from gradients import assert_every_parameter_gets_a_gradient

B = 4


# ----- CrossAttention --------------------------------------------------------------------------
def test_cross_attention_shapes_and_weights_are_distributions():
    torch.manual_seed(0)
    attn = CrossAttention(query_dim=6, context_dim=10, dim=8, heads=2)
    out, w = attn(torch.randn(B, 3, 6), torch.randn(B, 7, 10))
    assert out.shape == (B, 3, 8) and w.shape == (B, 2, 3, 7)
    torch.testing.assert_close(w.sum(-1), torch.ones(B, 2, 3))
    assert (w >= 0).all()


def test_cross_attention_equals_the_formula_written_out():
    torch.manual_seed(0)
    attn = CrossAttention(5, 6, 8, heads=2)
    x, c = torch.randn(B, 2, 5), torch.randn(B, 9, 6)
    q, k, v = attn.q(x), attn.k(c), attn.v(c)  # (B, T, 8)
    heads = []
    for h in range(2):
        s = slice(4 * h, 4 * h + 4)
        w = torch.softmax(q[..., s] @ k[..., s].transpose(1, 2) / math.sqrt(4), dim=-1)  # (B, 2, 9)
        heads.append(w @ v[..., s])
    expected = attn.out(torch.cat(heads, dim=-1))
    out, _ = attn(x, c)
    torch.testing.assert_close(out, expected)


def test_cross_attention_matches_torch_multihead_attention():
    torch.manual_seed(0)
    attn = CrossAttention(8, 8, 8, heads=2)
    mha = nn.MultiheadAttention(8, 2, batch_first=True, kdim=8, vdim=8)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([attn.q.weight, attn.k.weight, attn.v.weight]))
        mha.in_proj_bias.copy_(torch.cat([attn.q.bias, attn.k.bias, attn.v.bias]))
        mha.out_proj.weight.copy_(attn.out.weight)
        mha.out_proj.bias.copy_(attn.out.bias)
    x, c = torch.randn(B, 3, 8), torch.randn(B, 5, 8)
    out, w = attn(x, c)
    ref, ref_w = mha(x, c, c, average_attn_weights=False)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(w, ref_w)


def test_cross_attention_masked_positions_get_zero_weight_and_do_not_matter():
    torch.manual_seed(0)
    attn = CrossAttention(4, 4, 4)
    x, c = torch.randn(B, 1, 4), torch.randn(B, 5, 4)
    mask = torch.tensor([True, True, True, False, False]).expand(B, 5)
    out, w = attn(x, c, mask)
    assert (w[..., 3:] == 0).all()
    c2 = c.clone()
    c2[:, 3:] = 100.0  # changing what is masked changes nothing
    torch.testing.assert_close(attn(x, c2, mask)[0], out)


def test_cross_attention_gradients_reach_every_parameter():
    torch.manual_seed(0)
    attn = CrossAttention(4, 6, 8, heads=2)
    out, _ = attn(torch.randn(B, 2, 4), torch.randn(B, 5, 6))
    out.pow(2).sum().backward()
    assert_every_parameter_gets_a_gradient(attn)


def test_cross_attention_parameter_count():
    attn = CrossAttention(5, 7, 8)
    assert sum(p.numel() for p in attn.parameters()) == (5 + 1) * 8 + 2 * (7 + 1) * 8 + (8 + 1) * 8


def test_cross_attention_input_checks():
    attn = CrossAttention(4, 6, 8, heads=2)
    with pytest.raises(ValueError, match="dim must be divisible by heads"):
        CrossAttention(4, 6, 8, heads=3)
    with pytest.raises(TypeError, match="query_dim must be an int"):
        CrossAttention(4.0, 6, 8)
    with pytest.raises(ValueError, match=r"queries must have shape \(B, T_q, 4\)"):
        attn(torch.randn(B, 2, 5), torch.randn(B, 3, 6))
    with pytest.raises(ValueError, match="queries must be a floating-point tensor of shape"):
        attn(torch.randn(B, 4), torch.randn(B, 3, 6))
    with pytest.raises(ValueError, match=r"context must have shape \(B, T_k, 6\)"):
        attn(torch.randn(B, 2, 4), torch.randn(B, 3, 4))
    with pytest.raises(ValueError, match="same batch size"):
        attn(torch.randn(B, 2, 4), torch.randn(B + 1, 3, 6))
    with pytest.raises(TypeError, match="context must be a floating-point tensor"):
        attn(torch.randn(B, 2, 4), torch.zeros(B, 3, 6, dtype=torch.long))


# ----- GatedMultimodalUnit ------------------------------------------------------------------------
def test_gmu_shapes_and_formula():
    torch.manual_seed(0)
    gmu = GatedMultimodalUnit((3, 5), 4)
    a, b = torch.randn(B, 3), torch.randn(B, 5)
    h, z = gmu(a, b, return_gate=True)
    assert h.shape == z.shape == (B, 4) and torch.equal(gmu(a, b), h)
    z_ref = torch.sigmoid(gmu.gate(torch.cat([a, b], 1)))
    torch.testing.assert_close(z, z_ref)
    torch.testing.assert_close(h, z_ref * torch.tanh(gmu.proj_a(a)) + (1 - z_ref) * torch.tanh(gmu.proj_b(b)))
    assert ((z > 0) & (z < 1)).all() and (h.abs() < 1).all()  # a convex mix of two tanh


def test_gmu_gate_selects_a_modality():
    gmu = GatedMultimodalUnit((2, 2), 2)
    a, b = torch.randn(B, 2), torch.randn(B, 2)
    with torch.no_grad():
        gmu.gate.weight.zero_()
        gmu.gate.bias.fill_(50.0)  # z = 1: only a
    torch.testing.assert_close(gmu(a, b), torch.tanh(gmu.proj_a(a)))
    with torch.no_grad():
        gmu.gate.bias.fill_(-50.0)  # z = 0: only b
    torch.testing.assert_close(gmu(a, b), torch.tanh(gmu.proj_b(b)))


def test_gmu_gradients_reach_every_parameter():
    torch.manual_seed(0)
    gmu = GatedMultimodalUnit((3, 5), 4)
    gmu(torch.randn(B, 3), torch.randn(B, 5)).pow(2).sum().backward()
    assert_every_parameter_gets_a_gradient(gmu)


def test_gmu_parameter_count():
    gmu = GatedMultimodalUnit((3, 5), 4)
    assert sum(p.numel() for p in gmu.parameters()) == 4 * (3 + 1) + 4 * (5 + 1) + 4 * (8 + 1)


def test_gmu_input_checks():
    with pytest.raises(TypeError, match="in_dims must be a sequence of two ints"):
        GatedMultimodalUnit(3, 4)
    with pytest.raises(ValueError, match="exactly two modalities"):
        GatedMultimodalUnit((3, 4, 5), 4)
    with pytest.raises(ValueError, match="out_dim must be an int >= 1"):
        GatedMultimodalUnit((3, 4), 0)
    gmu = GatedMultimodalUnit((3, 5), 4)
    with pytest.raises(ValueError, match=r"b must have shape \(B, 5\)"):
        gmu(torch.randn(B, 3), torch.randn(B, 3))  # swapped widths would mix the modalities up
    with pytest.raises(ValueError, match=r"a must have shape \(B, 3\)"):
        gmu(torch.randn(B, 5), torch.randn(B, 5))


# ----- FiLM -------------------------------------------------------------------------------------
def test_film_shapes_and_formula_on_maps_and_vectors():
    torch.manual_seed(0)
    film = FiLM(cond_dim=3, channels=4)
    x, c = torch.randn(B, 4, 5, 6), torch.randn(B, 3)
    gamma, beta = film.film_params(c)
    assert gamma.shape == beta.shape == (B, 4)
    out = film(x, c)
    assert out.shape == x.shape
    torch.testing.assert_close(out, gamma[:, :, None, None] * x + beta[:, :, None, None])
    v = torch.randn(B, 4)
    torch.testing.assert_close(film(v, c), gamma * v + beta)


def test_film_with_zero_weights_is_the_identity():
    film = FiLM(3, 4)
    nn.init.zeros_(film.linear.weight)
    nn.init.zeros_(film.linear.bias)
    x = torch.randn(B, 4, 2, 2)
    torch.testing.assert_close(film(x, torch.randn(B, 3)), x)


def test_film_gradients_reach_every_parameter():
    torch.manual_seed(0)
    film = FiLM(3, 4)
    film(torch.randn(B, 4, 2, 2), torch.randn(B, 3)).pow(2).sum().backward()
    assert_every_parameter_gets_a_gradient(film)


def test_film_input_checks():
    film = FiLM(3, 4)
    with pytest.raises(ValueError, match=r"features must have shape \(B, 4, ...\)"):
        film(torch.randn(B, 5, 2, 2), torch.randn(B, 3))
    with pytest.raises(ValueError, match=r"cond must have shape \(B, 3\)"):
        film(torch.randn(B, 4, 2, 2), torch.randn(B, 2))
    with pytest.raises(ValueError, match="one row per sample"):
        film(torch.randn(B, 4, 2, 2), torch.randn(1, 3))
    with pytest.raises(TypeError, match="features must be a floating-point tensor"):
        film(torch.zeros(B, 4, dtype=torch.long), torch.randn(B, 3))
    with pytest.raises(ValueError, match="channels must be an int >= 1"):
        FiLM(3, 0)
