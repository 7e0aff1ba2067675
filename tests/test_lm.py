"""Tests for mmtutorial.lm: the causal language model, its key-value cache, sampling and beam
search (chapter *Generating text, and pretraining vision and language together*)."""

import math

import pytest
import torch

from mmtutorial.lm import (CausalLM, CausalSelfAttention, DecoderBlock, beam_search, causal_mask, generate,
                           next_token_loss)
from gradients import assert_every_parameter_gets_a_gradient

V, B = 11, 3


def small_lm(seed: int = 0, **kw) -> CausalLM:
    torch.manual_seed(seed)
    return CausalLM(V, **{"dim": 16, "depth": 2, "heads": 2, "max_len": 24, **kw}).eval()


def test_causal_mask_is_lower_triangular_and_its_last_rows_with_a_cache():
    torch.testing.assert_close(causal_mask(4), torch.ones(4, 4).tril().bool())
    torch.testing.assert_close(causal_mask(2, 5), torch.ones(5, 5).tril().bool()[3:])
    with pytest.raises(ValueError, match="n_keys"):
        causal_mask(3, 2)


def test_shapes_and_parameter_count():
    lm = small_lm()
    assert lm(torch.randint(0, V, (B, 7))).shape == (B, 7, V)
    assert lm(torch.randint(0, V, (B, 5)), prefix=torch.randn(B, 2, 16)).shape == (B, 7, V)
    assert lm(prefix=torch.randn(B, 2, 16)).shape == (B, 2, V)
    D, L = 16, 2
    block = 4 * D + (3 * D * D + 3 * D) + (D * D + D) + (4 * D * D + 4 * D) + (4 * D * D + D)
    expected = V * D + 24 * D + L * block + 2 * D + D * V + V
    assert sum(p.numel() for p in lm.parameters()) == expected
    assert isinstance(lm.blocks[0], DecoderBlock) and isinstance(lm.blocks[0].attn, CausalSelfAttention)


def test_the_causal_mask_holds_a_future_token_does_not_change_earlier_logits():
    lm = small_lm()
    x = torch.randint(0, V, (B, 8))
    y = x.clone()
    y[:, 5] = (y[:, 5] + 1) % V
    a, b = lm(x), lm(y)
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_attention_equals_torch_multihead_attention_with_a_causal_mask():
    torch.manual_seed(0)
    attn = CausalSelfAttention(8, heads=2)
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.qkv.weight)
        mha.in_proj_bias.copy_(attn.qkv.bias)
        mha.out_proj.weight.copy_(attn.out.weight)
        mha.out_proj.bias.copy_(attn.out.bias)
    x = torch.randn(B, 6, 8)
    ref, _ = mha(x, x, x, attn_mask=~causal_mask(6))  # torch: True = NOT allowed
    out, (k, v) = attn(x)
    torch.testing.assert_close(out, ref)
    assert k.shape == v.shape == (B, 2, 6, 4)


def test_cache_gives_the_same_logits_as_the_full_sequence():
    lm = small_lm()
    x = torch.randint(0, V, (B, 9))
    full = lm(x)
    logits, past = lm(x[:, :4], use_cache=True)
    steps = [logits]
    for t in range(4, 9):
        logits, past = lm(x[:, t:t + 1], past=past, use_cache=True)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full)
    assert past[0][0].shape == (B, 2, 9, 8)


def test_cached_generation_equals_uncached_generation_token_for_token():
    lm = small_lm()
    prompt = torch.randint(0, V, (B, 3))
    a = generate(lm, prompt, 12, greedy=True, use_cache=True)
    b = generate(lm, prompt, 12, greedy=True, use_cache=False)
    assert a.shape == (B, 15) and torch.equal(a, b) and torch.equal(a[:, :3], prompt)
    prefix = torch.randn(B, 2, 16)
    a = generate(lm, prompt, 8, temperature=0.7, top_k=3, prefix=prefix, generator=torch.Generator().manual_seed(1))
    b = generate(lm, prompt, 8, temperature=0.7, top_k=3, prefix=prefix, use_cache=False,
                 generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_top_k_one_and_tiny_temperature_are_greedy():
    lm = small_lm()
    prompt = torch.randint(0, V, (B, 2))
    greedy = generate(lm, prompt, 6, greedy=True)
    assert torch.equal(generate(lm, prompt, 6, top_k=1), greedy)
    assert torch.equal(generate(lm, prompt, 6, temperature=1e-4, generator=torch.Generator().manual_seed(0)), greedy)


def test_top_k_samples_only_the_k_most_likely_tokens():
    lm = small_lm()
    prompt = torch.zeros(200, 1, dtype=torch.long)
    top = lm(prompt[:1])[0, -1].topk(3).indices
    out = generate(lm, prompt, 1, top_k=3, generator=torch.Generator().manual_seed(0))[:, 1]
    assert set(out.tolist()) <= set(top.tolist()) and len(set(out.tolist())) > 1


def test_tokens_after_eos_are_padding():
    lm = small_lm()
    prompt = torch.randint(0, V, (B, 2))
    greedy = generate(lm, prompt, 10, greedy=True)
    eos = int(greedy[0, 4])  # make the 3rd new token of row 0 the end
    out = generate(lm, prompt, 10, greedy=True, eos_id=eos, pad_id=0)
    first = (out[0, 2:] == eos).nonzero()[0, 0] + 2
    assert (out[0, first + 1:] == 0).all()


def test_prefix_conditions_the_text_and_positions_count_from_the_cache():
    lm = small_lm()
    prefix, x = torch.randn(B, 3, 16), torch.randint(0, V, (B, 4))
    full = lm(x, prefix=prefix)
    logits, past = lm(prefix=prefix, use_cache=True)
    rest, _ = lm(x, past=past, use_cache=True)
    torch.testing.assert_close(torch.cat([logits, rest], dim=1), full)
    assert not torch.allclose(lm(x, prefix=torch.randn_like(prefix))[:, 3:], full[:, 3:])


def test_attention_mask_hides_padding_keys():
    lm = small_lm()
    x = torch.randint(1, V, (B, 6))
    mask = torch.ones(B, 6, dtype=torch.bool)
    mask[:, 2] = False
    y = x.clone()
    y[:, 2] = (y[:, 2] + 3) % V  # change the masked token: nothing after it may notice
    a, b = lm(x, attention_mask=mask), lm(y, attention_mask=mask)
    torch.testing.assert_close(a[:, 3:], b[:, 3:])
    assert torch.isfinite(a).all()


def test_beam_search_with_one_beam_is_greedy_and_more_beams_score_at_least_as_well():
    lm = small_lm()
    prompt = torch.randint(0, V, (B, 2))
    greedy = generate(lm, prompt, 6, greedy=True)
    assert torch.equal(beam_search(lm, prompt, 6, beam_size=1), greedy)

    def logp(seq):  # log-probability of the 6 tokens after the 2-token prompt
        return lm(seq)[:, 1:-1].log_softmax(-1).gather(-1, seq[:, 2:, None]).squeeze(-1).sum(1)

    out, scores = beam_search(lm, prompt, 6, beam_size=4, return_scores=True)
    torch.testing.assert_close(scores, logp(out))
    assert (logp(out) >= logp(greedy) - 1e-5).all()


def test_beam_search_with_eos_and_prefix():
    lm = small_lm()
    prompt, prefix = torch.randint(0, V, (B, 1)), torch.randn(B, 2, 16)
    out = beam_search(lm, prompt, 8, beam_size=3, eos_id=4, prefix=prefix, length_penalty=1.0)
    assert out.shape == (B, 9)
    for row in out[:, 1:]:
        ends = (row == 4).nonzero()
        if len(ends):
            assert (row[ends[0, 0]:] == 4).all()


def test_next_token_loss_is_uniform_at_log_v_and_ignores_padding():
    tokens = torch.tensor([[1, 2, 3, 0, 0]])
    logits = torch.zeros(1, 5, V)
    torch.testing.assert_close(next_token_loss(logits, tokens), torch.tensor(math.log(V)))
    logits[0, 2, 0] = 100.0  # the prediction of a padding target: not counted
    torch.testing.assert_close(next_token_loss(logits, tokens), torch.tensor(math.log(V)))


def test_gradients_reach_every_parameter():
    lm = small_lm().train()
    x = torch.randint(0, V, (B, 6))
    next_token_loss(lm(x, prefix=torch.randn(B, 2, 16))[:, 2:], x, pad_id=None).backward()
    assert_every_parameter_gets_a_gradient(lm)


def test_input_checks():
    with pytest.raises(ValueError, match="divisible"):
        CausalLM(V, dim=10, heads=4)
    with pytest.raises(TypeError, match="vocab_size"):
        CausalLM(11.0)
    lm = small_lm()
    with pytest.raises(TypeError, match="tokens"):
        lm(torch.randn(B, 4))
    with pytest.raises(ValueError, match="max_len"):
        lm(torch.zeros(B, 25, dtype=torch.long))
    with pytest.raises(ValueError, match="prefix"):
        lm(torch.zeros(B, 2, dtype=torch.long), prefix=torch.randn(B, 2, 8))
    with pytest.raises(ValueError, match="neither"):
        lm()
    with pytest.raises(ValueError, match="past"):
        lm(torch.zeros(B, 2, dtype=torch.long), past=[])
    with pytest.raises(ValueError, match="attention_mask"):
        lm(torch.zeros(B, 2, dtype=torch.long), attention_mask=torch.ones(B, 3, dtype=torch.bool))
    prompt = torch.zeros(B, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature"):
        generate(lm, prompt, 3, temperature=0)
    with pytest.raises(ValueError, match="top_k"):
        generate(lm, prompt, 3, top_k=0)
    with pytest.raises(ValueError, match="max_len"):
        generate(lm, prompt, 30)
    with pytest.raises(ValueError, match="prompt"):
        generate(lm, torch.zeros(B, 0, dtype=torch.long), 3)
    with pytest.raises(TypeError, match="model"):
        generate(torch.nn.Linear(2, 2), prompt, 3)
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(lm, prompt, 3, beam_size=0)
    with pytest.raises(ValueError, match="at least 2"):
        next_token_loss(torch.zeros(B, 1, V), torch.zeros(B, 1, dtype=torch.long))
