"""Tests for mmtutorial.encoders."""

import pytest
import torch
import torch.nn.functional as F

from mmtutorial.data import make_shapesworld
from mmtutorial.encoders import BagOfWords


def test_bag_of_words_counts_every_word_but_padding():
    data = make_shapesworld(64, seed=0)
    V = len(data.vocab)
    counts = BagOfWords(V)(data.tokens)
    expected = F.one_hot(data.tokens, V).sum(dim=1).float()
    expected[:, 0] = 0
    assert counts.shape == (64, V) and torch.equal(counts, expected)
    assert torch.equal(counts.sum(dim=1), data.mask.sum(dim=1).float())  # one count per real token


def test_bag_of_words_checks_its_input():
    with pytest.raises(TypeError, match="tokens must be an integer tensor"):
        BagOfWords(10)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"tokens must be an integer tensor of shape \(B, T\)"):
        BagOfWords(10)(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="vocab_size must be an int >= 2"):
        BagOfWords(1)
