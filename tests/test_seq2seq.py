"""The encoder-decoder with attention: shapes, teacher forcing against step-by-step decoding, masks, checks."""

import pytest
import torch
import torch.nn.functional as F

from mmtutorial.seq2seq import AdditiveAttention, BiGRU, Seq2Seq, reverse_padded
from gradients import assert_every_parameter_gets_a_gradient


def make_model(seed=0):
    torch.manual_seed(seed)
    return Seq2Seq(src_vocab=12, tgt_vocab=9, dim=8, hidden=10)


def test_attention_weights_sum_to_one_and_skip_masked_positions():
    torch.manual_seed(0)
    attn = AdditiveAttention(query_dim=5, key_dim=6, attn_dim=7)
    keys, mask = torch.randn(2, 4, 6), torch.tensor([[True, True, True, False], [True, False, False, False]])
    context, weights = attn(torch.randn(2, 5), keys, mask)
    assert context.shape == (2, 6) and weights.shape == (2, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    assert weights[0, 3] == 0 and torch.all(weights[1, 1:] == 0) and weights[1, 0] == 1
    torch.testing.assert_close(context[1], keys[1, 0])


def test_teacher_forcing_shapes_and_parameter_count():
    model = make_model()
    src, tgt_in = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([[2, 4, 5, 6], [2, 7, 0, 0]])
    logits, weights = model(src, tgt_in, return_attention=True)
    assert logits.shape == (2, 4, 9) and weights.shape == (2, 4, 3)
    assert torch.all(weights[1, :, 2] == 0)  # padding of the source is never attended
    H, D = 10, 8
    expected = (12 * D + 2 * 3 * (D * H + H * H + 2 * H) + (2 * H * H + H) + 9 * D
                + (H * H + 2 * H * H + H + H) + 3 * ((D + 2 * H) * H + H * H + 2 * H) + (3 * H * 9 + 9))
    assert sum(p.numel() for p in model.parameters()) == expected


def test_greedy_decode_equals_teacher_forcing_on_its_own_output():
    model = make_model().eval()
    src = torch.tensor([[4, 5, 6], [7, 8, 0]])
    tokens, weights = model.greedy_decode(src, max_len=5)
    assert tokens.shape == (2, 5) and weights.shape == (2, 5, 3)
    tgt_in = torch.cat([torch.full((2, 1), model.bos_id), tokens[:, :-1]], dim=1)
    logits, forced = model(src, tgt_in, return_attention=True)
    first_row_done = (tokens[0] == model.eos_id).cumsum(0)
    keep = first_row_done == 0  # compare up to (and with) the first <eos>
    assert torch.equal(logits[0].argmax(-1)[keep], tokens[0][keep])
    torch.testing.assert_close(forced[0, 0], weights[0, 0])


def test_rows_after_eos_are_padding():
    model = make_model()
    with torch.no_grad():
        model.out.bias.fill_(-10.0)
        model.out.bias[model.eos_id] = 10.0  # always says <eos>
    tokens, _ = model.greedy_decode(torch.tensor([[4, 5]]), max_len=4)
    assert tokens.tolist() == [[3, 0, 0, 0]]


def test_gradients_reach_every_parameter():
    model = make_model()
    src, tgt = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([[4, 5, 3], [6, 3, 0]])
    tgt_in = torch.cat([torch.full((2, 1), model.bos_id), tgt[:, :-1]], dim=1)
    loss = F.cross_entropy(model(src, tgt_in).flatten(0, 1), tgt.flatten(), ignore_index=0)
    loss.backward()
    assert_every_parameter_gets_a_gradient(model)


def test_checks():
    with pytest.raises(ValueError, match="bos_id must be"):
        Seq2Seq(5, 3, bos_id=4)
    with pytest.raises(NotImplementedError, match="no token encoder"):
        Seq2Seq(None, 5).encode(torch.tensor([[1]]))
    model = make_model()
    with pytest.raises(TypeError, match="src must be an integer"):
        model.encode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="one row per row of src"):
        model(torch.tensor([[4, 5]]), torch.tensor([[2], [2]]))
    with pytest.raises(ValueError, match="max_len must be"):
        model.greedy_decode(torch.tensor([[4]]), max_len=0)


def test_reverse_padded_reverses_within_each_length():
    x = torch.arange(8.0).view(2, 4, 1)
    out = reverse_padded(x, torch.tensor([3, 4]))
    assert out[..., 0].tolist() == [[2, 1, 0, 3], [7, 6, 5, 4]]
    torch.testing.assert_close(reverse_padded(out, torch.tensor([3, 4])), x)


def test_bigru_equals_a_bidirectional_gru_on_each_row_alone():
    torch.manual_seed(0)
    rnn = BiGRU(3, 5)
    reference = torch.nn.GRU(3, 5, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name, p in rnn.forward_rnn.named_parameters():
            getattr(reference, name).copy_(p)
            getattr(reference, name + "_reverse").copy_(getattr(rnn.backward_rnn, name))
    x = torch.randn(2, 6, 3)
    out = rnn(x, torch.tensor([6, 4]))
    assert out.shape == (2, 6, 10) and torch.all(out[1, 4:] == 0)
    torch.testing.assert_close(out[0], reference(x[:1])[0][0])
    torch.testing.assert_close(out[1, :4], reference(x[1:, :4])[0][0])  # row 1 alone, without its padding


def test_encoder_ignores_extra_padding():
    model = make_model().eval()
    with torch.no_grad():
        a, _ = model.greedy_decode(torch.tensor([[4, 5, 0]]), 4)
        b, _ = model.greedy_decode(torch.tensor([[4, 5, 0, 0, 0]]), 4)
        la = model(torch.tensor([[4, 5]]), torch.tensor([[2, 4]]))
        lb = model(torch.tensor([[4, 5, 0, 0]]), torch.tensor([[2, 4]]))
    assert torch.equal(a, b)
    torch.testing.assert_close(la, lb)
