"""Text encoders: from token ids to vectors.

- `BagOfWords`: token ids to word counts, the simplest text encoder; it ignores word order,
  which the chapter *Multimodal models* shows is enough to read ShapesWorld's captions.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_int, check_tensor

__all__ = ["BagOfWords"]


class BagOfWords(nn.Module):
    """Token ids (B, T) -> word counts (B, V), padding (id 0) not counted.

    ``vocab_size`` is V; every id must lie in [0, V) (torch reports an index out of bounds
    otherwise). There is nothing to learn: a linear layer on the counts is a bag-of-words
    classifier.
    """

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size, min=2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = check_tensor("tokens", tokens, "(B, T)", dtype="int")
        counts = torch.zeros(tokens.shape[0], self.vocab_size, device=tokens.device)  # (B, V)
        counts.scatter_add_(1, tokens, torch.ones(tokens.shape, device=tokens.device))  # +1 per token
        counts[:, 0] = 0  # <pad> carries no information
        return counts

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}"
