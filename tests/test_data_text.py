"""Tokenizer and vocabulary (mmtutorial.data.text)."""

import json

import pytest
import torch

from mmtutorial.data.text import SPECIALS, Vocab, tokenize


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("There is a Red circle, on the left!") == [
        "there", "is", "a", "red", "circle", ",", "on", "the", "left", "!",
    ]
    assert tokenize("a medium-sized box, isn't it?") == ["a", "medium-sized", "box", ",", "isn't", "it", "?"]
    assert tokenize("") == []


def test_build_is_sorted_and_deterministic():
    texts = ["the cat sat", "a cat ran", ["a", "dog"]]
    v = Vocab.build(texts)
    assert v.itos[:4] == list(SPECIALS)
    assert v.itos[4:] == sorted(v.itos[4:])
    assert v == Vocab.build(list(reversed(texts)))
    assert (v.pad_id, v.unk_id, v.bos_id, v.eos_id) == (0, 1, 2, 3)
    assert len(v) == 4 + len({"the", "cat", "sat", "a", "ran", "dog"})
    assert "cat" in v and "cow" not in v


def test_min_freq_drops_rare_tokens():
    v = Vocab.build(["a b b", "b c"], min_freq=2)
    assert v.itos[4:] == ["b"]
    assert v.token_to_id("a") == v.unk_id


def test_encode_pads_to_longest_with_mask():
    v = Vocab.build(["a red circle", "a box"])
    ids, mask = v.encode(["a red circle", "a box", "a zebra"])
    assert ids.shape == mask.shape == (3, 3)
    assert ids.dtype == torch.int64 and mask.dtype == torch.bool
    assert mask.tolist() == [[True, True, True], [True, True, False], [True, True, False]]
    assert ids[1, 2] == v.pad_id and ids[2, 1] == v.unk_id
    assert ids[0].tolist() == [v.token_to_id(t) for t in ("a", "red", "circle")]


def test_encode_max_len_pads_and_raises_unless_truncate():
    v = Vocab.build(["a b c d"])
    ids, mask = v.encode(["a b"], max_len=5)
    assert ids.shape == (1, 5) and mask.sum() == 2
    with pytest.raises(ValueError, match="max_len"):
        v.encode(["a b c d"], max_len=3)
    ids, mask = v.encode(["a b c d"], max_len=3, truncate=True)
    assert v.decode(ids[0]) == "a b c" and mask.all()


def test_add_special_and_truncate_keeps_eos():
    v = Vocab.build(["a b c d"])
    ids, mask = v.encode(["a b", "a b c d"], add_special=True)
    assert ids[0].tolist()[:4] == [v.bos_id, v.token_to_id("a"), v.token_to_id("b"), v.eos_id]
    assert ids.shape == (2, 6) and mask.sum(1).tolist() == [4, 6]
    ids, _ = v.encode(["a b c d"], max_len=4, add_special=True, truncate=True)
    assert ids[0].tolist() == [v.bos_id, v.token_to_id("a"), v.token_to_id("b"), v.eos_id]


def test_encode_decode_round_trip():
    texts = ["there is a crimson disc", "a box", "the picture shows a big blue square on the right"]
    v = Vocab.build(texts)
    ids, _ = v.encode(texts, add_special=True)
    assert v.decode(ids) == texts
    assert v.decode(ids[0], skip_special=False).startswith("<bos> there")
    assert v.decode(ids[1].tolist()) == "a box"


def test_repeated_texts_encode_identically():
    v = Vocab.build(["a b"])
    ids, _ = v.encode(["a b", "b", "a b"], add_special=True)
    assert torch.equal(ids[0], ids[2])


def test_to_dict_from_dict_round_trip_through_json():
    v = Vocab.build(["some words here", "and there"])
    w = Vocab.from_dict(json.loads(json.dumps(v.to_dict())))
    assert w == v and w.stoi == v.stoi


def test_tokenize_rejects_non_strings():
    with pytest.raises(TypeError, match="text must be a str, got int"):
        tokenize(3)


def test_vocab_construction_checks_texts_tokens_and_min_freq():
    with pytest.raises(TypeError, match="not a single str"):
        Vocab.build("not a list")
    with pytest.raises(TypeError, match="each text must be a str or a list of str tokens"):
        Vocab.build([3])
    with pytest.raises(ValueError, match="min_freq must be an int >= 1"):
        Vocab.build(["a"], min_freq=0)
    with pytest.raises(ValueError, match="unique and not special"):
        Vocab(["a", "a"])


def test_encode_checks_its_arguments():
    v = Vocab.build(["a b"])
    with pytest.raises(TypeError, match="wrap a single text"):
        v.encode("a b")
    with pytest.raises(TypeError, match="add_special must be True or False"):
        v.encode(["a"], add_special="yes")
    with pytest.raises(ValueError, match="max_len must be an int >= 1"):
        v.encode(["a"], max_len=0)
    with pytest.raises(ValueError, match="truncate=True needs max_len"):
        v.encode(["a"], truncate=True)


def test_id_to_token_rejects_unknown_and_fractional_ids():
    v = Vocab.build(["a b"])
    assert v.id_to_token(torch.tensor(4)) == "a"
    with pytest.raises(ValueError, match="idx must be an int >= 0 and <= 5, got 99"):
        v.id_to_token(99)
    with pytest.raises(TypeError, match="idx must be an int"):
        v.id_to_token(4.7)  # used to be truncated to 4 without a word


def test_decode_rejects_float_and_3d_ids():
    v = Vocab.build(["a b"])
    with pytest.raises(TypeError, match="ids must be an integer tensor"):
        v.decode(torch.zeros(3))
    with pytest.raises(ValueError, match=r"ids must be an integer tensor of shape \(T,\) or \(B, T\)"):
        v.decode(torch.zeros(2, 2, 2, dtype=torch.long))


def test_from_dict_needs_the_specials_first():
    with pytest.raises(ValueError, match="'itos' starting with"):
        Vocab.from_dict({"itos": ["a", "b"]})
    with pytest.raises(TypeError, match="d must be a dict"):
        Vocab.from_dict(["<pad>"])
