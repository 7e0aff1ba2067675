"""CTC: the collapse map, greedy decoding (the interface other chapters import) and the acoustic model."""

import pytest
import torch
import torch.nn.functional as F

from mmtutorial.ctc import CTCAcousticModel, SpeechToText, ctc_collapse, ctc_greedy_decode
from gradients import assert_every_parameter_gets_a_gradient


def one_hot_log_probs(paths, n_classes):
    """(B, T, C) log-probabilities whose arg-max at each frame is the given path."""
    scores = F.one_hot(torch.tensor(paths), n_classes).float() * 5.0
    return scores.log_softmax(dim=-1)


def test_collapse_merges_repeats_then_drops_blanks():
    assert ctc_collapse([1, 1, 0, 1, 2, 2]) == [1, 1, 2]
    assert ctc_collapse([0, 0, 0]) == []
    assert ctc_collapse([3, 3, 3], blank=3) == []
    assert ctc_collapse([]) == []


def test_greedy_decode_reads_the_best_path_of_each_row():
    log_probs = one_hot_log_probs([[0, 1, 1, 0, 2, 2], [3, 0, 3, 3, 0, 0]], 4)  # (2, 6, 4)
    assert ctc_greedy_decode(log_probs) == [[1, 2], [3, 3]]


def test_greedy_decode_stops_at_each_rows_length():
    log_probs = one_hot_log_probs([[1, 0, 2, 0], [1, 2, 3, 3]], 4)
    assert ctc_greedy_decode(log_probs, torch.tensor([2, 4])) == [[1], [1, 2, 3]]
    assert ctc_greedy_decode(log_probs, torch.tensor([0, 1])) == [[], [1]]


def test_greedy_decode_with_another_blank_and_logits():
    logits = one_hot_log_probs([[2, 2, 1, 2, 0]], 3) * 7 + 1  # logits: the arg-max is all that matters
    assert ctc_greedy_decode(logits, blank=2) == [[1, 0]]


def test_greedy_decode_checks_its_inputs():
    log_probs = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match="log_probs must be"):
        ctc_greedy_decode(torch.zeros(5, 3))
    with pytest.raises(TypeError, match="log_probs must be a floating-point"):
        ctc_greedy_decode(torch.zeros(2, 5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="blank must be"):
        ctc_greedy_decode(log_probs, blank=3)
    with pytest.raises(ValueError, match="one entry per row"):
        ctc_greedy_decode(log_probs, torch.tensor([5]))
    with pytest.raises(ValueError, match="lengths must lie in"):
        ctc_greedy_decode(log_probs, torch.tensor([5, 6]))
    with pytest.raises(TypeError, match="lengths must be an integer"):
        ctc_greedy_decode(log_probs, torch.tensor([5.0, 5.0]))


def test_acoustic_model_shapes_and_lengths():
    torch.manual_seed(0)
    model = CTCAcousticModel(n_mels=8, n_classes=11, channels=16, hidden=12)
    out = model(torch.randn(3, 8, 21), torch.tensor([21, 15, 4]))
    assert out.shape == (3, 6, 11)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(3, 6))  # log-probabilities
    assert model.output_lengths(torch.tensor([21, 20, 1])).tolist() == [6, 5, 1]


def test_acoustic_model_output_does_not_depend_on_padding():
    torch.manual_seed(0)
    model = CTCAcousticModel(n_mels=4, n_classes=5, channels=8, hidden=6).eval()
    x = torch.randn(1, 4, 10)
    alone = model(x, torch.tensor([10]))  # (1, 3, 5)
    for junk in (0.0, 9.0):
        padded = torch.cat([x, torch.full((1, 4, 7), junk)], dim=2)  # 17 frames, 10 valid
        out = model(padded, torch.tensor([10]))
        assert out.shape == (1, 5, 5)
        torch.testing.assert_close(out[:, :3], alone)


def test_acoustic_model_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = CTCAcousticModel(n_mels=8, n_classes=4, channels=8, hidden=6)
    log_probs = model(torch.randn(2, 8, 16), torch.tensor([16, 12]))
    loss = F.ctc_loss(log_probs.transpose(0, 1), torch.tensor([[1, 2, 3], [2, 2, 0]]),
                      model.output_lengths(torch.tensor([16, 12])), torch.tensor([3, 2]))
    loss.backward()
    assert_every_parameter_gets_a_gradient(model)


def test_acoustic_model_checks_its_inputs():
    with pytest.raises(ValueError, match="n_classes must be"):
        CTCAcousticModel(8, 1)
    with pytest.raises(NotImplementedError, match="encoder only"):
        CTCAcousticModel(8, None)(torch.randn(2, 8, 10))
    model = CTCAcousticModel(8, 4)
    with pytest.raises(ValueError, match="n_mels=8"):
        model(torch.randn(2, 6, 10))
    with pytest.raises(ValueError, match="features must be"):
        model(torch.randn(8, 10))
    with pytest.raises(ValueError, match="one entry per row"):
        model(torch.randn(2, 8, 10), torch.tensor([10]))


# ----- end to end: SpeechToText -----


def test_speech_to_text_shapes_padding_and_gradients():
    torch.manual_seed(0)
    model = SpeechToText(n_mels=8, tgt_vocab=9, dim=6, hidden=5, channels=7)
    x, lengths = torch.randn(2, 8, 20), torch.tensor([20, 13])
    tgt_in = torch.tensor([[2, 4, 5], [2, 6, 0]])
    logits, weights = model((x, lengths), tgt_in, return_attention=True)
    assert logits.shape == (2, 3, 9) and weights.shape == (2, 3, 5)
    assert torch.all(weights[1, :, 4:] == 0)  # row 1 has ceil(13 / 4) = 4 valid steps
    loss = F.cross_entropy(logits.flatten(0, 1), torch.tensor([4, 5, 3, 6, 3, 0]), ignore_index=0)
    loss.backward()
    assert_every_parameter_gets_a_gradient(model)
    model.eval()
    tokens, attn = model.greedy_decode((x, lengths), max_len=4)
    assert tokens.shape == (2, 4) and attn.shape == (2, 4, 5)
    alone, _ = model.greedy_decode((x[1:, :, :13], lengths[1:]), max_len=4)
    assert torch.equal(alone[0], tokens[1])  # padding changes nothing


def test_speech_to_text_checks_its_source():
    model = SpeechToText(n_mels=8, tgt_vocab=9, dim=6, hidden=5, channels=7)
    with pytest.raises(TypeError, match="src must be a pair"):
        model.greedy_decode(torch.randn(2, 8, 20), max_len=3)


# ----- error rates (mmtutorial.metrics) -----

from mmtutorial.metrics import character_error_rate, edit_distance, error_rate, word_error_rate  # noqa: E402


def test_edit_distance_counts_substitutions_deletions_insertions():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([3, 1, 4], [3, 1, 4]) == 0
    assert edit_distance([3, 1, 4], []) == 3
    assert edit_distance([], [1, 2]) == 2
    assert edit_distance([3, 1, 4], [3, 4, 4, 1]) == 2


def test_error_rates_are_corpus_level():
    assert error_rate([[1, 2], [3, 4, 5, 6]], [[1, 2], [3]]) == pytest.approx(3 / 6)  # not the mean of 0 and 3/4
    assert word_error_rate(["three one four", "two"], ["three four", "two two"]) == pytest.approx(2 / 4)
    assert character_error_rate(["314", "2"], ["314", "2"]) == 0.0
    assert character_error_rate(["ab"], ["abcd"]) == pytest.approx(1.0)


def test_error_rates_check_their_inputs():
    with pytest.raises(ValueError, match="same length"):
        error_rate([[1]], [])
    with pytest.raises(ValueError, match="at least one token"):
        error_rate([[]], [[1]])
    with pytest.raises(TypeError, match="reference must be"):
        edit_distance(3, [1])
    with pytest.raises(TypeError, match="lists of str"):
        word_error_rate([[1, 2]], ["a"])
