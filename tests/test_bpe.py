"""Tests for mmtutorial.preprocess.bpe (byte-pair encoding)."""

import pytest

from mmtutorial.preprocess.bpe import BPE, END, merge_pair, pair_counts, train_bpe, word_symbols


def test_word_symbols_splits_words_into_characters_with_an_end_marker():
    words = word_symbols(["low low", "lower"])
    assert words == {("l", "o", "w", END): 2, ("l", "o", "w", "e", "r", END): 1}


def test_pair_counts_weight_each_word_by_its_count():
    counts = pair_counts({("a", "b", "a", "b"): 3, ("a", "b"): 1})
    assert counts == {("a", "b"): 7, ("b", "a"): 3}


def test_merge_pair_joins_every_occurrence_without_overlap():
    assert merge_pair({("a", "a", "a"): 2}, ("a", "a")) == {("aa", "a"): 2}
    assert merge_pair({("a", "b", "a", "b"): 1}, ("a", "b")) == {("ab", "ab"): 1}


def test_train_bpe_merges_the_most_frequent_pair_first_and_breaks_ties_alphabetically():
    assert train_bpe(["low lower lowest", "low low"], 3) == [("l", "o"), ("lo", "w"), ("low", END)]
    assert train_bpe(["ba ab"], 1) == [("a", END)]  # ties: a</w>, ab, b</w>, ba all once -> smallest


def test_train_bpe_stops_when_every_word_is_one_symbol():
    merges = train_bpe(["aa"], 50)  # ("a", "</w>") and ("a", "a") tie; "<" sorts before "a"
    assert merges == [("a", END), ("a", "a" + END)]
    assert BPE(merges).tokenize("aa") == ["aa" + END]


def test_bpe_segments_new_words_and_keeps_known_ones_whole():
    bpe = BPE(train_bpe(["low lower lowest newest widest"] * 3, 30))
    assert bpe.encode_word("lowest") == ["lowest" + END]
    pieces = bpe.encode_word("slowest")  # never seen: still segmented, no unknown token
    assert "".join(pieces) == "slowest" + END and len(pieces) >= 2
    assert bpe.tokenize("Low, lower!") == ["low" + END, ",", END, "lower" + END, "!", END]  # unseen: characters
    assert bpe.vocab[0] == "".join(bpe.merges[0])


def test_bpe_checks_its_inputs():
    with pytest.raises(TypeError, match="texts must be an iterable of str"):
        train_bpe("low lower", 3)
    with pytest.raises(ValueError, match="num_merges must be an int >= 0"):
        train_bpe(["low"], -1)
    with pytest.raises(ValueError, match="texts must contain at least one word"):
        train_bpe(["  "], 3)
    with pytest.raises(ValueError, match="merges must be pairs of non-empty str"):
        BPE([("a", "")])
    with pytest.raises(ValueError, match="word must not be empty"):
        BPE([]).encode_word("")
