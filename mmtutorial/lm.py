"""A small causal (decoder-only) Transformer language model, and how to write text with it.

A causal language model scores a sequence one token at a time, ``p(x) = prod_t p(x_t | x_<t)``:
position t may look only at positions up to t, which the **causal mask** enforces inside every
self-attention layer (:func:`causal_mask`). Training is teacher forcing on all positions in one
pass (:func:`next_token_loss`); writing is a loop that appends one token per step
(:func:`generate`: greedy, temperature and top-k sampling; :func:`beam_search`).

- :class:`CausalSelfAttention`: multi-head self-attention with the causal mask and an optional
  **key-value cache**: the keys and values of earlier positions (``past``) are kept, so a new
  step computes only its own query, key and value instead of re-reading the whole prefix.
- :class:`DecoderBlock`: the pre-norm block ``x + attn(ln(x))``, then ``x + mlp(ln(x))``.
- :class:`CausalLM`: token and learned position embeddings, a stack of blocks, a final norm
  and the head onto the vocabulary. ``prefix=`` embeddings (B, P, dim) placed before the
  tokens let another modality (image tokens) condition the text.

Conventions: tokens are long tensors (B, T); ``attention_mask`` (B, T_total) is True on real
tokens (padding is never used as a key); a cache is a list with one ``(keys, values)`` pair per
block, each (B, heads, T_past, dim / heads).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._checks import check_bool, check_int, check_number, check_tensor, check_type, describe

__all__ = [
    "CausalLM",
    "CausalSelfAttention",
    "DecoderBlock",
    "IGNORE_INDEX",
    "beam_search",
    "causal_mask",
    "generate",
    "next_token_loss",
]

KV = tuple[torch.Tensor, torch.Tensor]
IGNORE_INDEX = -100  # a target that no loss counts (PyTorch's default ignore_index)


def causal_mask(n_queries: int, n_keys: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """The causal mask (n_queries, n_keys), True where a query may look at a key.

    The queries are the *last* ``n_queries`` of ``n_keys`` positions (``n_keys`` defaults to
    ``n_queries``), so query i sits at position ``n_keys - n_queries + i`` and sees every key up
    to and including it: a lower-triangular matrix without a cache, its last rows with one.
    """
    n_queries = check_int("n_queries", n_queries, min=0)
    n_keys = n_queries if n_keys is None else check_int("n_keys", n_keys, min=n_queries)
    query_pos = torch.arange(n_keys - n_queries, n_keys, device=device)  # (Tq,)
    key_pos = torch.arange(n_keys, device=device)  # (Tk,)
    return key_pos[None, :] <= query_pos[:, None]  # (Tq, Tk)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t sees only positions <= t, with a key-value cache.

    ``forward(x, past=None, attention_mask=None) -> (out, present)``: x (B, T, dim) are the new
    positions; ``past = (keys, values)``, each (B, heads, T_past, dim / heads), are those of the
    positions before them; ``present`` is ``past`` with this call's keys and values appended,
    to be passed as ``past`` next time. ``attention_mask`` (B, T_past + T) is True on real
    tokens. Scores are ``q k^T / sqrt(dim / heads)``; a masked score is set to the lowest
    float before the softmax (a row with no allowed key, a padding query, becomes uniform
    instead of NaN; its output is never used).
    """

    def __init__(self, dim: int, heads: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim, self.heads = check_int("dim", dim, min=1), check_int("heads", heads, min=1)
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads, got dim={dim} and heads={heads}")
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(check_number("dropout", dropout, min=0, max=1))

    def forward(self, x: torch.Tensor, past: KV | None = None,
                attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, KV]:
        """(B, T, dim) -> (out (B, T, dim), present (keys, values) each (B, heads, T_past + T, dim / heads))."""
        B, T, _ = x.shape
        h, d = self.heads, self.dim // self.heads
        q, k, v = self.qkv(x).view(B, T, 3, h, d).permute(2, 0, 3, 1, 4)  # each (B, h, T, d)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # (B, h, T_past + T, d)
            v = torch.cat([past[1], v], dim=2)
        allowed = causal_mask(T, k.shape[2], device=x.device)  # (T, T_total)
        if attention_mask is not None:
            allowed = allowed & attention_mask[:, None, None, :]  # (B, 1, T, T_total)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (B, h, T, T_total)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        weights = self.dropout(scores.softmax(dim=-1))
        out = (weights @ v).transpose(1, 2).reshape(B, T, self.dim)  # (B, T, dim)
        return self.out(out), (k, v)


class DecoderBlock(nn.Module):
    """One pre-norm Transformer decoder block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``.

    ``forward(x, past=None, attention_mask=None) -> (x, present)`` with the shapes of
    :class:`CausalSelfAttention`; the MLP is ``Linear(dim, mlp_ratio * dim) -> GELU -> Linear``.
    """

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        mlp_ratio = check_int("mlp_ratio", mlp_ratio, min=1)
        self.ln1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, past: KV | None = None,
                attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, KV]:
        """(B, T, dim) -> ((B, T, dim), present keys and values)."""
        a, present = self.attn(self.ln1(x), past, attention_mask)
        x = x + a
        return x + self.mlp(self.ln2(x)), present


class CausalLM(nn.Module):
    """A decoder-only Transformer language model: tokens (B, T) -> next-token logits (B, T, vocab).

    ``forward(tokens=None, *, prefix=None, past=None, attention_mask=None, use_cache=False)``:

    - ``prefix`` (B, P, dim): embeddings placed *before* the token embeddings (image tokens of
      a model that writes about an image); the logits then cover all P + T positions.
    - ``past``: the cache returned by an earlier call (one ``(keys, values)`` per block);
      positions then count from its length, and only the new tokens are computed.
    - ``attention_mask`` (B, T_past + P + T) bool: True on real tokens (padding is not a key).
    - ``use_cache=True`` returns ``(logits, present)`` with the cache including this call.

    Logit at position t is the distribution of token t + 1. Position embeddings are learned,
    ``max_len`` of them: prefix, cache and tokens together may not be longer.
    """

    def __init__(self, vocab_size: int, dim: int = 64, depth: int = 2, heads: int = 4, max_len: int = 64,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size, min=2)
        self.dim, self.depth = check_int("dim", dim, min=1), check_int("depth", depth, min=1)
        self.max_len = check_int("max_len", max_len, min=1)
        dropout = check_number("dropout", dropout, min=0, max=1)
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Embedding(max_len, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(DecoderBlock(dim, heads, dropout=dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)

    def embed(self, tokens: torch.Tensor | None, prefix: torch.Tensor | None, start: int) -> torch.Tensor:
        """Token embeddings after ``prefix``, plus the position embeddings from ``start``: (B, P + T, dim)."""
        parts = []
        if prefix is not None:
            prefix = check_tensor("prefix", prefix, "(B, P, dim)", dtype="float")
            if prefix.shape[-1] != self.dim:
                raise ValueError(f"prefix must have shape (B, P, {self.dim}), got {tuple(prefix.shape)}")
            parts.append(prefix)
        if tokens is not None:
            tokens = check_tensor("tokens", tokens, "(B, T)", dtype="int")
            if prefix is not None and tokens.shape[0] != prefix.shape[0]:
                raise ValueError(f"tokens and prefix must have the same batch size, got {tokens.shape[0]} "
                                 f"and {prefix.shape[0]}")
            parts.append(self.token_embedding(tokens))  # (B, T, dim)
        if not parts:
            raise ValueError("give tokens, prefix or both, got neither")
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]  # (B, P + T, dim)
        if start + x.shape[1] > self.max_len:
            raise ValueError(f"the cache, prefix and tokens hold {start} + {x.shape[1]} positions, more than "
                             f"max_len={self.max_len}")
        positions = torch.arange(start, start + x.shape[1], device=x.device)  # (P + T,)
        return self.drop(x + self.position_embedding(positions))

    def forward(self, tokens: torch.Tensor | None = None, *, prefix: torch.Tensor | None = None,
                past: list[KV] | None = None, attention_mask: torch.Tensor | None = None,
                use_cache: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[KV]]:
        """Logits (B, P + T, vocab), or ``(logits, present)`` with ``use_cache=True``."""
        if past is not None:
            check_type("past", past, (list, tuple), "a list of (keys, values) pairs, one per block")
            if len(past) != len(self.blocks):
                raise ValueError(f"past must hold one (keys, values) pair per block ({len(self.blocks)}), "
                                 f"got {len(past)}")
        start = past[0][0].shape[2] if past else 0
        x = self.embed(tokens, prefix, start)  # (B, P + T, dim)
        if attention_mask is not None:
            attention_mask = check_tensor("attention_mask", attention_mask, "(B, T_total)", dtype="bool")
            if tuple(attention_mask.shape) != (x.shape[0], start + x.shape[1]):
                raise ValueError(f"attention_mask must have shape (B, T_past + P + T) = "
                                 f"{(x.shape[0], start + x.shape[1])}, got {tuple(attention_mask.shape)}")
        present = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, past[i] if past else None, attention_mask)
            present.append(kv)
        logits = self.head(self.norm(x))  # (B, P + T, vocab)
        return (logits, present) if check_bool("use_cache", use_cache) else logits


def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor, pad_id: int | None = 0) -> torch.Tensor:
    """Mean cross-entropy of predicting ``tokens[:, t + 1]`` from ``logits[:, t]``, padding excluded.

    ``logits`` (B, T, V) are those of ``tokens`` (B, T) (for a model with a prefix, pass only the
    logits of the token positions). Targets equal to ``pad_id`` are not counted; the exponential
    of this loss is the model's perplexity on the tokens.
    """
    logits, tokens = _check_logits(logits, tokens, "tokens")
    if tokens.shape[1] < 2:
        raise ValueError(f"tokens must hold at least 2 positions to predict one, got {describe(tokens)}")
    targets = tokens[:, 1:]  # (B, T-1)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                           ignore_index=IGNORE_INDEX if pad_id is None else pad_id)


def _check_logits(logits: torch.Tensor, targets: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``logits`` (B, T, V) and the (B, T) integer ``targets`` (called ``name``) they score."""
    logits = check_tensor("logits", logits, "(B, T, V)", dtype="float")
    targets = check_tensor(name, targets, "(B, T)", dtype="int")
    if logits.shape[:2] != targets.shape:
        raise ValueError(f"logits must have shape (B, T, V) with (B, T) = {tuple(targets.shape)}, "
                         f"got {tuple(logits.shape)}")
    return logits, targets


def _check_generation(model: CausalLM, prompt: torch.Tensor, max_new_tokens: int, prefix: torch.Tensor | None,
                      eos_id: int | None, pad_id: int | None) -> tuple[int, int | None, int | None]:
    """``max_new_tokens``, ``eos_id`` and the token that follows it (``pad_id``, else ``eos_id``)."""
    check_type("model", model, CausalLM, "a CausalLM")
    prompt = check_tensor("prompt", prompt, "(B, T)", dtype="int")
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, min=1)
    if prompt.shape[1] == 0 and prefix is None:
        raise ValueError("prompt must hold at least one token when there is no prefix, got "
                         f"{describe(prompt)}")
    total = prompt.shape[1] + (0 if prefix is None else prefix.shape[1]) + max_new_tokens - 1
    if total > model.max_len:
        raise ValueError(f"prefix, prompt and max_new_tokens need {total} positions, more than the model's "
                         f"max_len={model.max_len}")
    if eos_id is not None:
        eos_id = check_int("eos_id", eos_id, min=0, max=model.vocab_size - 1)
    fill = eos_id if pad_id is None else check_int("pad_id", pad_id, min=0, max=model.vocab_size - 1)
    return max_new_tokens, eos_id, fill


def _pick(logits: torch.Tensor, greedy: bool, temperature: float, top_k: int | None,
          generator: torch.Generator | None) -> torch.Tensor:
    """The next token (B,) from the last position's logits (B, V)."""
    if greedy:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1): the k-th largest logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(1)


@torch.no_grad()
def generate(model: CausalLM, prompt: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, greedy: bool = False, eos_id: int | None = None, use_cache: bool = True,
             prefix: torch.Tensor | None = None, generator: torch.Generator | None = None,
             pad_id: int | None = None) -> torch.Tensor:
    """Continue ``prompt`` (B, T) by ``max_new_tokens`` tokens: returns (B, T + max_new_tokens).

    Each step takes the logits of the last position and either picks the arg-max
    (``greedy=True``) or samples from ``softmax(logits / temperature)`` restricted to the
    ``top_k`` most likely tokens (all if None). ``use_cache=True`` feeds only the new token and
    the key-value cache; ``False`` re-reads the whole sequence every step (same tokens, slower).
    After a row writes ``eos_id`` its later tokens are ``pad_id`` (``eos_id`` if None); there
    is no early stop (which would wait for the GPU at every step). ``prefix`` (B, P, dim):
    embeddings placed before the prompt, e.g. image tokens. ``generator`` makes sampling
    reproducible. Runs in the model's current mode; call ``model.eval()`` first.
    """
    max_new_tokens, eos_id, fill = _check_generation(model, prompt, max_new_tokens, prefix, eos_id, pad_id)
    temperature = check_number("temperature", temperature, above=0)
    if top_k is not None:
        top_k = check_int("top_k", top_k, min=1)
    greedy, use_cache = check_bool("greedy", greedy), check_bool("use_cache", use_cache)
    tokens = prompt
    done = torch.zeros(prompt.shape[0], dtype=torch.bool, device=prompt.device)  # (B,)
    past = None
    for step in range(max_new_tokens):
        if use_cache:
            if past is None:
                logits, past = model(prompt, prefix=prefix, use_cache=True)  # (B, P + T, V)
            else:
                logits, past = model(tokens[:, -1:], past=past, use_cache=True)  # (B, 1, V)
        else:
            logits = model(tokens, prefix=prefix)  # (B, P + T + step, V)
        token = _pick(logits[:, -1], greedy, temperature, top_k, generator)  # (B,)
        if eos_id is not None:
            token = token.masked_fill(done, fill)
            done = done | (token == eos_id)
        tokens = torch.cat([tokens, token[:, None]], dim=1)
    return tokens


def _reorder(past: list[KV], index: torch.Tensor) -> list[KV]:
    """Keep rows ``index`` of every cached key and value (the beams that survived a step)."""
    return [(k.index_select(0, index), v.index_select(0, index)) for k, v in past]


@torch.no_grad()
def beam_search(model: CausalLM, prompt: torch.Tensor, max_new_tokens: int, *, beam_size: int = 4,
                eos_id: int | None = None, prefix: torch.Tensor | None = None, length_penalty: float = 0.0,
                pad_id: int | None = None, return_scores: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The most likely continuation found by keeping the ``beam_size`` best partial sequences.

    At every step each beam is extended by every token; of the ``beam_size * V`` candidates the
    ``beam_size`` with the highest total log-probability survive (with the key-value cache
    reordered to follow them). A beam that has written ``eos_id`` is finished: it is carried
    along unchanged (padded with ``pad_id``, ``eos_id`` if None). The best beam per row is
    chosen by ``log p / length ** length_penalty`` (0: the raw sum, which favours short
    outputs; 1: the mean per token). Returns tokens (B, T + max_new_tokens), and their scores
    (B,) if ``return_scores``. ``beam_size=1`` is greedy decoding.
    """
    max_new_tokens, eos_id, fill = _check_generation(model, prompt, max_new_tokens, prefix, eos_id, pad_id)
    K = check_int("beam_size", beam_size, min=1)
    length_penalty = check_number("length_penalty", length_penalty, min=0)
    B, device = prompt.shape[0], prompt.device
    tokens = prompt.repeat_interleave(K, dim=0)  # (B*K, T): beams of a row are adjacent
    beam_prefix = None if prefix is None else prefix.repeat_interleave(K, dim=0)
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start equal: keep one, or the first step picks K copies
    done = torch.zeros(B * K, dtype=torch.bool, device=device)
    lengths = torch.zeros(B * K, device=device)  # generated tokens up to and including eos
    logits, past = model(tokens, prefix=beam_prefix, use_cache=True)
    for step in range(max_new_tokens):
        logp = logits[:, -1].float().log_softmax(dim=-1)  # (B*K, V)
        V = logp.shape[-1]
        if eos_id is not None:  # a finished beam continues with one token at log-prob 0
            logp = torch.where(done[:, None], torch.full_like(logp, float("-inf")), logp)
            logp[:, fill] = torch.where(done, 0.0, logp[:, fill])
        candidates = (scores.view(B * K, 1) + logp).view(B, K * V)  # (B, K*V)
        scores, index = candidates.topk(K, dim=-1)  # (B, K)
        beam = index // V + torch.arange(B, device=device)[:, None] * K  # (B, K): rows in the flat batch
        token = (index % V).view(-1)  # (B*K,)
        beam = beam.view(-1)
        tokens = torch.cat([tokens.index_select(0, beam), token[:, None]], dim=1)
        was_done = done.index_select(0, beam)
        lengths = lengths.index_select(0, beam) + (~was_done).float()
        done = was_done | (token == eos_id) if eos_id is not None else was_done
        if step + 1 < max_new_tokens:
            logits, past = model(token[:, None], past=_reorder(past, beam), use_cache=True)
    final = scores / lengths.view(B, K).clamp(min=1) ** length_penalty  # (B, K)
    best = final.argmax(dim=-1)  # (B,): the best beam of each row
    out = tokens.index_select(0, best + torch.arange(B, device=device) * K)
    return (out, final.gather(1, best[:, None]).squeeze(1)) if return_scores else out
