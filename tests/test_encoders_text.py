"""Tests for the recurrent and Transformer text encoders of mmtutorial.encoders.text."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmtutorial.data import read_labelled_texts
from mmtutorial.encoders.text import (EncoderLayer, RNNEncoder, SelfAttention, TransformerTextEncoder, attention,
                                      last_valid, masked_mean, sinusoidal_positions)


def padded_batch():
    torch.manual_seed(0)
    tokens = torch.randint(1, 30, (4, 9))
    lengths = torch.tensor([9, 5, 1, 7])
    tokens[torch.arange(9)[None, :] >= lengths[:, None]] = 0
    return tokens, lengths


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_rnn_encoder_reads_the_last_real_token_like_packing(cell):
    tokens, lengths = padded_batch()
    enc = RNNEncoder(30, 8, 16, cell)
    packed = nn.utils.rnn.pack_padded_sequence(enc.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
    _, h_n = enc.rnn(packed)
    h_n = h_n[0] if cell == "lstm" else h_n  # the LSTM returns (h_n, c_n)
    torch.testing.assert_close(enc(tokens), h_n[0])
    torch.testing.assert_close(enc(tokens), enc(tokens, lengths))
    assert enc(tokens).shape == (4, 16)


def test_keep_bias_opens_the_gate_that_keeps_the_state():
    gru, lstm = RNNEncoder(10, 4, 6, "gru", keep_bias=4.0), RNNEncoder(10, 4, 6, "lstm", keep_bias=4.0)
    assert torch.all(gru.rnn.bias_ih_l0[6:12] == 4) and torch.all(gru.rnn.bias_hh_l0[6:12] == 0)
    assert torch.all(lstm.rnn.bias_ih_l0[6:12] == 4)
    with pytest.raises(ValueError, match="keep_bias must be 0 for cell='rnn'"):
        RNNEncoder(10, 4, 6, "rnn", keep_bias=1.0)
    with pytest.raises(ValueError, match="cell must be one of"):
        RNNEncoder(10, 4, 6, "transformer")


def test_last_valid_gathers_by_length_and_checks_shapes():
    out = torch.arange(2 * 3 * 1, dtype=torch.float32).view(2, 3, 1)
    assert last_valid(out, torch.tensor([3, 1])).flatten().tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match="lengths must have one entry per row"):
        last_valid(out, torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="lengths must be an integer tensor"):
        last_valid(out, torch.tensor([1.0, 2.0]))


def test_sinusoidal_positions_match_the_formula():
    pe = sinusoidal_positions(50, 8)
    t, i = 7, 2
    assert pe.shape == (50, 8)
    assert torch.isclose(pe[t, 2 * i], torch.tensor(t / 10_000 ** (2 * i / 8)).sin())
    assert torch.isclose(pe[t, 2 * i + 1], torch.tensor(t / 10_000 ** (2 * i / 8)).cos())
    with pytest.raises(ValueError, match="dim must be even"):
        sinusoidal_positions(4, 5)


def test_masked_mean_ignores_padding_and_survives_empty_rows():
    x = torch.tensor([[[1.0], [3.0], [100.0]], [[5.0], [7.0], [9.0]]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    assert masked_mean(x, mask).flatten().tolist() == [2.0, 0.0]
    with pytest.raises(ValueError, match="mask must have shape"):
        masked_mean(x, mask[:, :2])
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        masked_mean(x, mask.long())


def test_attention_matches_pytorch_and_gives_padding_zero_weight():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 5, 4), torch.randn(3, 2, 6, 4), torch.randn(3, 2, 6, 4)
    key_mask = torch.ones(3, 6, dtype=torch.bool)
    key_mask[1, 4:] = False
    out, w = attention(q, k, v, key_mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :])
    torch.testing.assert_close(out, expected)
    assert torch.all(w[1, :, :, 4:] == 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 5))
    with pytest.raises(ValueError, match="key_mask must have shape"):
        attention(q, k, v, key_mask[:, :5])


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_layer_equals_pytorchs(norm_first):
    torch.manual_seed(0)
    ours = EncoderLayer(16, 4, 32, norm_first=norm_first)
    ref = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation="gelu", batch_first=True,
                                     norm_first=norm_first).eval()
    ref.self_attn.in_proj_weight.data = ours.attn.qkv.weight.data
    ref.self_attn.in_proj_bias.data = ours.attn.qkv.bias.data
    ref.self_attn.out_proj.load_state_dict(ours.attn.proj.state_dict())
    ref.linear1.load_state_dict(ours.mlp[0].state_dict())
    ref.linear2.load_state_dict(ours.mlp[2].state_dict())
    ref.norm1.load_state_dict(ours.norm1.state_dict())
    ref.norm2.load_state_dict(ours.norm2.state_dict())
    x = torch.randn(2, 7, 16)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[0, 5:] = False
    with torch.no_grad():
        torch.testing.assert_close(ours(x, mask)[mask], ref(x, src_key_padding_mask=~mask)[mask], atol=1e-5, rtol=1e-5)


def test_transformer_encoder_output_does_not_depend_on_padding():
    tokens, _ = padded_batch()
    enc = TransformerTextEncoder(30, dim=16, heads=2, layers=2).eval()
    more = torch.cat([tokens, torch.zeros(4, 6, dtype=torch.long)], dim=1)
    torch.testing.assert_close(enc(tokens), enc(more))
    assert enc(tokens).shape == (4, 16)
    assert sum(p.numel() for p in SelfAttention(16, 2).parameters()) == 16 * 48 + 48 + 16 * 16 + 16
    with pytest.raises(ValueError, match="dim .16. must be divisible by heads .3."):
        SelfAttention(16, 3)
    with pytest.raises(ValueError, match="but max_len=8"):
        TransformerTextEncoder(30, dim=16, max_len=8)(tokens)


def test_read_labelled_texts_reads_csv_and_jsonl(tmp_path):
    csv_file = tmp_path / "tiny.csv"
    csv_file.write_text('text,label,source\n"Great film, loved it",1,web\nDull and slow,0,web\n', encoding="utf-8")
    assert read_labelled_texts(csv_file) == (["Great film, loved it", "Dull and slow"], ["1", "0"])
    jsonl = tmp_path / "tiny.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in [{"sentence": "fine", "y": 1}, {"sentence": "bad", "y": 0}])
                     + "\n\n", encoding="utf-8")
    assert read_labelled_texts(jsonl, text_key="sentence", label_key="y") == (["fine", "bad"], ["1", "0"])


def test_read_labelled_texts_checks_the_file(tmp_path):
    bad = tmp_path / "tiny.csv"
    bad.write_text("review,label\ngood,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 1 of .* must have the keys 'text' and 'label'"):
        read_labelled_texts(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="at least one example"):
        read_labelled_texts(empty)
    with pytest.raises(ValueError, match="path's extension must be one of"):
        read_labelled_texts(tmp_path / "data.tsv")
    with pytest.raises(TypeError, match="path must be a path"):
        read_labelled_texts(3)
