"""An encoder-decoder with attention: the decoder that writes one token at a time.

The encoder reads the source tokens (B, S) with a bidirectional GRU (:class:`BiGRU`, which
padding does not change) into one state per position (B, S, 2H). The decoder is a GRU cell
that writes the target one token at a time: at step t it looks at every encoder state through
:class:`AdditiveAttention` (Bahdanau's score, ``v . tanh(W s + U h_j)``, with its previous
state ``s`` as the query), reads their weighted mean (the *context*), and takes the token
before and the context as its input.

- Training uses **teacher forcing** (:meth:`Seq2Seq.forward`): the decoder is fed the true
  previous token ``<bos> y_1 ... y_{T-1}`` and scored on ``y_1 ... y_T <eos>`` with
  cross-entropy, all T steps in one pass.
- At test time there is no true token: :meth:`Seq2Seq.greedy_decode` feeds back its own arg-max
  and returns the tokens and the attention weights of every step (the alignment figure).

Sampling, beam search and caching the decoder's work build on this interface.
Padding (``pad_id``) must come after the real tokens of each row; it is masked out of the
attention and of the encoder's summary that starts the decoder.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_int, check_tensor, describe
from .encoders.text import masked_mean

__all__ = ["AdditiveAttention", "BiGRU", "Seq2Seq", "reverse_padded"]


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[b]`` steps of ``x`` (B, T, D), leaving its padding in place.

    ``[a, b, c, pad]`` with length 3 becomes ``[c, b, a, pad]``; applying it twice gives ``x``
    back. A gather with indices computed on the device (no GPU sync).
    """
    T = x.shape[1]
    steps = torch.arange(T, device=x.device)  # (T,)
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)  # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class BiGRU(nn.Module):
    """A bidirectional GRU that padding does not change: (B, T, D), lengths (B,) -> (B, T, 2H).

    ``nn.GRU(bidirectional=True)`` on a padded batch starts its right-to-left pass on the
    padding, so a row's states depend on how much padding the batch gave it. Here the
    right-to-left GRU reads each row reversed within its length (:func:`reverse_padded`), so
    every valid state is that of the row alone; states at padded steps are zero. (Packing
    with ``pack_padded_sequence`` does the same but needs the lengths on the CPU.)
    """

    def __init__(self, input_size: int, hidden: int) -> None:
        super().__init__()
        self.forward_rnn = nn.GRU(check_int("input_size", input_size, min=1), check_int("hidden", hidden, min=1),
                                  batch_first=True)
        self.backward_rnn = nn.GRU(input_size, hidden, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = check_tensor("x", x, "(B, T, D)", dtype="float")
        lengths = check_tensor("lengths", lengths, "(B,)", dtype="int")
        if lengths.shape[0] != x.shape[0]:
            raise ValueError(f"lengths must have one entry per row of x ({x.shape[0]}), got {lengths.shape[0]}")
        ahead, _ = self.forward_rnn(x)  # (B, T, H): padding comes after, so valid steps never see it
        back, _ = self.backward_rnn(reverse_padded(x, lengths))  # (B, T, H) on the reversed rows
        out = torch.cat([ahead, reverse_padded(back, lengths)], dim=-1)  # (B, T, 2H)
        valid = torch.arange(x.shape[1], device=x.device) < lengths[:, None]  # (B, T)
        return out * valid.unsqueeze(-1)


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention: a query (B, Dq) over keys (B, S, Dk) -> (context (B, Dk), weights (B, S)).

    ``score_j = v . tanh(W q + U k_j)``; the weights are the softmax of the scores over the
    positions where ``mask`` (B, S) is True; the context is the weighted sum of the keys.
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(check_int("query_dim", query_dim, min=1), check_int("attn_dim", attn_dim, min=1),
                               bias=False)
        self.key = nn.Linear(check_int("key_dim", key_dim, min=1), attn_dim)
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None,
                projected_keys: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``projected_keys`` = ``self.key(keys)`` may be passed to save recomputing it at every step."""
        if projected_keys is None:
            projected_keys = self.key(keys)  # (B, S, A)
        scores = self.v(torch.tanh(self.query(query).unsqueeze(1) + projected_keys)).squeeze(-1)  # (B, S)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(dim=-1)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (B, Dk)
        return context, weights


class Seq2Seq(nn.Module):
    """GRU encoder-decoder with additive attention: source ids (B, S) -> target logits (B, T, V).

    ``dim``: embedding size; ``hidden``: the decoder's state size (each encoder direction has
    it too). Special ids: ``pad_id`` pads both sides, ``bos_id`` starts the decoder, ``eos_id``
    ends a target (the defaults are those of :class:`mmtutorial.data.text.Vocab`).
    ``src_vocab=None`` builds the decoder only, for a subclass whose :meth:`encode` reads
    another kind of source (:class:`mmtutorial.ctc.SpeechToText` reads speech): only
    :meth:`encode` looks at ``src``.
    """

    def __init__(self, src_vocab: int | None, tgt_vocab: int, dim: int = 32, hidden: int = 64, *, pad_id: int = 0,
                 bos_id: int = 2, eos_id: int = 3) -> None:
        super().__init__()
        tgt_vocab = check_int("tgt_vocab", tgt_vocab, min=2)
        dim, hidden = check_int("dim", dim, min=1), check_int("hidden", hidden, min=1)
        self.pad_id = check_int("pad_id", pad_id, min=0, max=tgt_vocab - 1)
        self.bos_id = check_int("bos_id", bos_id, min=0, max=tgt_vocab - 1)
        self.eos_id = check_int("eos_id", eos_id, min=0, max=tgt_vocab - 1)
        if src_vocab is not None:
            src_vocab = check_int("src_vocab", src_vocab, min=2)
            check_int("pad_id", pad_id, min=0, max=src_vocab - 1)
            self.src_embed = nn.Embedding(src_vocab, dim, padding_idx=pad_id)
            self.encoder = BiGRU(dim, hidden)
        self.init_state = nn.Linear(2 * hidden, hidden)
        self.tgt_embed = nn.Embedding(tgt_vocab, dim, padding_idx=pad_id)
        self.attention = AdditiveAttention(hidden, 2 * hidden, hidden)
        self.cell = nn.GRUCell(dim + 2 * hidden, hidden)
        self.out = nn.Linear(hidden + 2 * hidden, tgt_vocab)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Source ids (B, S) -> (encoder states (B, S, 2H), mask (B, S), first decoder state (B, H))."""
        if not hasattr(self, "src_embed"):
            raise NotImplementedError("Seq2Seq(src_vocab=None) has no token encoder: a subclass defines encode()")
        src = check_tensor("src", src, "(B, S)", dtype="int", nonempty=True)
        mask = src != self.pad_id  # (B, S)
        states = self.encoder(self.src_embed(src), mask.sum(dim=1))  # (B, S, 2H), padding not read
        first = torch.tanh(self.init_state(masked_mean(states, mask)))  # (B, H)
        return states, mask, first

    def step(self, token: torch.Tensor, state: torch.Tensor, states: torch.Tensor, mask: torch.Tensor,
             projected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoder step: previous token (B,) and state (B, H) -> (logits (B, V), new state, weights (B, S))."""
        context, weights = self.attention(state, states, mask, projected)  # (B, 2H), (B, S)
        state = self.cell(torch.cat([self.tgt_embed(token), context], dim=-1), state)  # (B, H)
        return self.out(torch.cat([state, context], dim=-1)), state, weights

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor,
                return_attention: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: the decoder reads ``tgt_in`` (B, T) (``<bos>`` then the target but its
        last token) and returns the logits (B, T, V) of the next token at every step (and the
        attention weights (B, T, S) if ``return_attention``)."""
        tgt_in = check_tensor("tgt_in", tgt_in, "(B, T)", dtype="int", nonempty=True)
        states, mask, state = self.encode(src)
        if tgt_in.shape[0] != states.shape[0]:
            raise ValueError(f"tgt_in must have one row per row of src ({states.shape[0]}), got {describe(tgt_in)}")
        projected = self.attention.key(states)  # (B, S, H): the same at every step
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            out, state, w = self.step(tgt_in[:, t], state, states, mask, projected)
            logits.append(out)
            weights.append(w)
        logits = torch.stack(logits, dim=1)  # (B, T, V)
        return (logits, torch.stack(weights, dim=1)) if return_attention else logits

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Write ``max_len`` tokens feeding back the arg-max: (tokens (B, max_len), attention (B, max_len, S)).

        After a row writes ``<eos>`` its later tokens are ``pad_id``. No early stop (which
        would wait for the GPU at every step); cut each row at its first ``<eos>``.
        """
        max_len = check_int("max_len", max_len, min=1)
        states, mask, state = self.encode(src)
        projected = self.attention.key(states)
        token = torch.full(states.shape[:1], self.bos_id, dtype=torch.long, device=states.device)  # (B,)
        done = torch.zeros_like(token, dtype=torch.bool)
        tokens, weights = [], []
        for _ in range(max_len):
            logits, state, w = self.step(token, state, states, mask, projected)
            token = logits.argmax(dim=-1).masked_fill(done, self.pad_id)  # (B,)
            done = done | (token == self.eos_id)
            tokens.append(token)
            weights.append(w)
        return torch.stack(tokens, dim=1), torch.stack(weights, dim=1)
