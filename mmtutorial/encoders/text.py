"""Text encoders: from token ids to vectors.

- `BagOfWords`: token ids to word counts, the simplest text encoder; it ignores word order,
  which the chapter *Multimodal models* shows is enough to read ShapesWorld's captions.
- `RNNEncoder` (with `last_valid`): a one-layer RNN, GRU or LSTM read to the last real token.
- `TransformerTextEncoder`: embeddings, `sinusoidal_positions`, `EncoderLayer`s of
  `SelfAttention` (built on `attention`) with a padding mask, `masked_mean` pooling.

The chapter *Text encoders: from RNNs to Transformers and pretrained text towers* builds each
of them step by step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_bool, check_choice, check_int, check_number, check_tensor

__all__ = [
    "BagOfWords",
    "EncoderLayer",
    "RNNEncoder",
    "SelfAttention",
    "TransformerTextEncoder",
    "attention",
    "last_valid",
    "masked_mean",
    "sinusoidal_positions",
]


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


# ----- recurrent encoders -----------------------------------------------------------------

_CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def last_valid(output: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The state after each sequence's last real token: ``output[b, lengths[b] - 1]``.

    ``output`` (B, T, H) is what ``nn.RNN/GRU/LSTM(..., batch_first=True)`` returns first;
    ``lengths`` (B,) the number of real tokens of each row (padding at the end). Taking
    ``output[:, -1]`` instead would read the state after the padding. A row of length 0 gets
    the state after its first position (there is no real state to read).
    """
    output = check_tensor("output", output, "(B, T, H)", dtype="float")
    lengths = check_tensor("lengths", lengths, "(B,)", dtype="int")
    if lengths.shape[0] != output.shape[0]:
        raise ValueError(f"lengths must have one entry per row of output ({output.shape[0]}), got {lengths.shape[0]}")
    index = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, output.shape[2])  # (B, 1, H)
    return output.gather(1, index).squeeze(1)  # (B, H)


class RNNEncoder(nn.Module):
    """Token ids (B, T) -> the last valid hidden state (B, H) of a one-layer RNN, GRU or LSTM.

    ``cell`` is "rnn" (tanh), "gru" or "lstm"; padding (``pad_id``) must come after the real
    tokens of each row. ``keep_bias`` initialises the bias of the gate that keeps the old
    state (the GRU's update gate, the LSTM's forget gate) so that the cell starts out
    remembering: with ``keep_bias=4`` the gate is sigmoid(4) = 0.98 open (a vanilla RNN has no
    such gate; it must be 0 there).
    """

    def __init__(self, vocab_size: int, dim: int, hidden: int, cell: str = "gru", *, pad_id: int = 0,
                 keep_bias: float = 0.0) -> None:
        super().__init__()
        vocab_size = check_int("vocab_size", vocab_size, min=2)
        self.pad_id = check_int("pad_id", pad_id, min=0, max=vocab_size - 1)
        self.cell = check_choice("cell", cell, tuple(_CELLS))
        keep_bias = check_number("keep_bias", keep_bias)
        if cell == "rnn" and keep_bias != 0:
            raise ValueError(f"keep_bias must be 0 for cell='rnn' (a vanilla RNN has no gate), got {keep_bias}")
        self.embed = nn.Embedding(vocab_size, check_int("dim", dim, min=1), padding_idx=self.pad_id)
        self.rnn = _CELLS[cell](dim, check_int("hidden", hidden, min=1), batch_first=True)
        if keep_bias:
            with torch.no_grad():  # gate order: GRU (reset, update, new), LSTM (input, forget, cell, output)
                self.rnn.bias_ih_l0[hidden:2 * hidden] = keep_bias
                self.rnn.bias_hh_l0[hidden:2 * hidden] = 0.0

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        tokens = check_tensor("tokens", tokens, "(B, T)", dtype="int")
        if lengths is None:
            lengths = (tokens != self.pad_id).sum(dim=1)  # (B,) padding comes last
        output, _ = self.rnn(self.embed(tokens))  # (B, T, H); the second item is h_n (or (h_n, c_n))
        return last_valid(output, lengths)  # (B, H)


# ----- Transformer encoder ----------------------------------------------------------------


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """The sinusoidal position encodings of *Attention is all you need*, shape (length, dim).

    Row t holds sin(t / 10000^(2i/dim)) in column 2i and cos(...) in column 2i + 1.
    """
    length, dim = check_int("length", length, min=1), check_int("dim", dim, min=2)
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    t = torch.arange(length, dtype=torch.float32)[:, None]  # (T, 1)
    freq = 10_000 ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (dim/2,)
    pe = torch.zeros(length, dim)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(t * freq), torch.cos(t * freq)
    return pe  # (T, D)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` (B, T, D) over the positions where ``mask`` (B, T) is True: (B, D).

    Padding does not count; a row with no real token gives zeros (not NaN).
    """
    x = check_tensor("x", x, "(B, T, D)", dtype="float")
    mask = check_tensor("mask", mask, "(B, T)", dtype="bool")
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape {tuple(x.shape[:2])} to match x, got {tuple(mask.shape)}")
    m = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    return (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)  # (B, D)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              key_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention: softmax(q k^T / sqrt(d)) v, and the weights.

    ``q`` (B, ..., T_q, d), ``k`` and ``v`` (B, ..., T_k, d) (the ``...`` are heads, if any).
    ``key_mask`` (B, T_k) is True on real tokens: padded keys get weight exactly 0.
    Returns ``(out (B, ..., T_q, d), weights (B, ..., T_q, T_k))``.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, ..., T_q, T_k)
    if key_mask is not None:
        key_mask = check_tensor("key_mask", key_mask, "(B, T_k)", dtype="bool")
        if key_mask.shape != (k.shape[0], k.shape[-2]):
            raise ValueError(f"key_mask must have shape (B, T_k) = {(k.shape[0], k.shape[-2])}, "
                             f"got {tuple(key_mask.shape)}")
        key_mask = key_mask.view(key_mask.shape[0], *[1] * (scores.dim() - 2), key_mask.shape[1])
        scores = scores.masked_fill(~key_mask, float("-inf"))
    weights = scores.softmax(dim=-1)  # (B, ..., T_q, T_k), each row sums to 1
    return weights @ v, weights


class SelfAttention(nn.Module):
    """Multi-head self-attention: x (B, T, D) -> (B, T, D), with a key padding mask.

    One linear layer makes queries, keys and values at once (``qkv``: D -> 3D, in that
    order); each of ``heads`` heads attends in its own D/heads dimensions; ``proj`` mixes
    the heads back.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.dim, self.heads = check_int("dim", dim, min=1), check_int("heads", heads, min=1)
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B, h, T, d)
        out, _ = attention(q, k, v, mask)  # (B, h, T, d)
        return self.proj(out.transpose(1, 2).reshape(B, T, D))  # (B, T, D)


class EncoderLayer(nn.Module):
    """One Transformer encoder layer: self-attention and a GELU MLP, each with a residual.

    ``norm_first=True`` (pre-LN, easier to train from scratch): x + f(LN(x)).
    ``norm_first=False`` (post-LN, the original Transformer and BERT): LN(x + f(x)).
    """

    def __init__(self, dim: int, heads: int, ffn: int, *, norm_first: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm_first = check_bool("norm_first", norm_first)
        self.attn = SelfAttention(dim, heads)
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=eps), nn.LayerNorm(dim, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(dim, check_int("ffn", ffn, min=1)), nn.GELU(), nn.Linear(ffn, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.norm_first:
            x = x + self.attn(self.norm1(x), mask)  # (B, T, D)
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.attn(x, mask))
        return self.norm2(x + self.mlp(x))


class TransformerTextEncoder(nn.Module):
    """Token ids (B, T) -> one vector per text (B, D): embeddings + sinusoidal positions,
    ``layers`` pre-LN encoder layers with a padding mask, a final LayerNorm, masked mean pooling.

    The mask is ``tokens != pad_id`` unless given; padding changes neither the pooled vector
    nor any real token's state.
    """

    def __init__(self, vocab_size: int, dim: int = 64, heads: int = 4, layers: int = 2, ffn: int | None = None,
                 *, max_len: int = 512, pad_id: int = 0) -> None:
        super().__init__()
        vocab_size = check_int("vocab_size", vocab_size, min=2)
        self.pad_id = check_int("pad_id", pad_id, min=0, max=vocab_size - 1)
        self.embed = nn.Embedding(vocab_size, check_int("dim", dim, min=2), padding_idx=self.pad_id)
        self.register_buffer("positions", sinusoidal_positions(check_int("max_len", max_len, min=1), dim),
                             persistent=False)
        ffn = 4 * dim if ffn is None else ffn
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, ffn) for _ in range(check_int("layers", layers, min=1)))
        self.norm = nn.LayerNorm(dim)

    def token_states(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The contextual state of every position, (B, T, D)."""
        tokens = check_tensor("tokens", tokens, "(B, T)", dtype="int")
        if tokens.shape[1] > self.positions.shape[0]:
            raise ValueError(f"tokens has {tokens.shape[1]} positions but max_len={self.positions.shape[0]}")
        mask = tokens != self.pad_id if mask is None else mask  # (B, T)
        x = self.embed(tokens) * math.sqrt(self.embed.embedding_dim) + self.positions[: tokens.shape[1]]  # (B, T, D)
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = tokens != self.pad_id if mask is None else mask  # (B, T)
        return masked_mean(self.token_states(tokens, mask), mask)  # (B, D)


# ----- real data --------------------------------------------------------------------------
