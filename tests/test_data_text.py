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


@pytest.mark.parametrize(
    "call",
    [
        lambda v: tokenize(3),
        lambda v: Vocab.build("not a list"),
        lambda v: Vocab.build(["a"], min_freq=0),
        lambda v: Vocab.build([3]),
        lambda v: Vocab(["a", "a"]),
        lambda v: Vocab(["<pad>"]),
        lambda v: v.encode("a b"),
        lambda v: v.encode(["a"], max_len=0),
        lambda v: v.encode(["a"], truncate=True),
        lambda v: v.id_to_token(99),
        lambda v: v.decode(torch.zeros(2, 2, 2, dtype=torch.long)),
        lambda v: v.decode(torch.zeros(3)),
        lambda v: Vocab.from_dict({"itos": ["a", "b"]}),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call(Vocab.build(["a b"]))
