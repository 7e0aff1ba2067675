"""Vision-language pretraining objectives side by side, as in ALBEF and BLIP, at toy scale.

The chapter *Generating text, and pretraining vision and language together* trains three
objectives on the same image encoder:

- **image-text contrastive** (ITC): :class:`mmtutorial.clip.TinyCLIP` and
  :func:`mmtutorial.losses.clip_loss`, unchanged;
- **image-text matching** (ITM): :class:`ITMHead` reads a caption whose words attend to the
  image's regions (:class:`mmtutorial.fusion.CrossAttention`) and says "match" or "no match".
  Its negatives come from :func:`sample_negatives`: *hard* ones drawn in proportion to the
  contrastive similarity (captions the dual encoder finds close, but wrong), or random ones;
  :func:`itm_pairs` lays out positives and both kinds of negative for one batch;
- **captioning**: :class:`Captioner`, the causal language model of :mod:`mmtutorial.lm` with the
  image's regions, projected, as a prefix before the words.

Helpers for ShapesWorld: :func:`image_regions` (the 4×4 grid of a ``TinyCNN``'s last
convolution as 16 region vectors), :func:`swap_attribute` (a caption with one attribute
changed, the hard test pairs) and :func:`caption_attributes` (which colour, shape, size and
position a generated caption names).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ._checks import check_bool, check_choice, check_int, check_tensor, check_type, describe
from .data.shapesworld import (COLOR_NAMES, COLOR_WORDS, POSITION_WORDS, POSITIONS, SHAPE_WORDS, SHAPES, SIZE_WORDS,
                               SIZES)
from .encoders.image import TinyCNN
from .encoders.text import masked_mean
from .fusion import CrossAttention
from .lm import CausalLM, beam_search, generate

__all__ = ["Captioner", "ITMHead", "caption_attributes", "image_regions", "itm_pairs", "sample_negatives",
           "swap_attribute"]

_WORDS = {"color": (COLOR_NAMES, COLOR_WORDS), "shape": (SHAPES, SHAPE_WORDS), "size": (SIZES, SIZE_WORDS),
          "position": (POSITIONS, POSITION_WORDS)}
_AN = re.compile(r"\b(a|an) (?=(\S+))")


def image_regions(cnn: TinyCNN, images: torch.Tensor, columns: bool = False) -> torch.Tensor:
    """The 4×4 feature map of a ``TinyCNN``'s third convolution as image tokens: (B, 16, 64).

    ``cnn.net[:9]`` is its three stride-2 stages (32 -> 16 -> 8 -> 4 pixels), before the
    pooling and linear layer that make its single vector; each of the 16 positions describes
    one 8×8-pixel patch of the image (with a wider receptive field), row by row.
    ``columns=True`` averages the four rows of each column: 4 tokens (B, 4, 64), left to right,
    which keep the horizontal position that ShapesWorld's captions name and drop the vertical
    half that they never name.
    """
    check_type("cnn", cnn, TinyCNN, "a TinyCNN")
    images = check_tensor("images", images, "(B, 3, 32, 32)", dtype="float")
    if tuple(images.shape[1:]) != (3, 32, 32):
        raise ValueError(f"images must have shape (B, 3, 32, 32), got {tuple(images.shape)}")
    maps = cnn.net[:9](images)  # (B, 64, 4, 4): (batch, channel, row, column)
    if check_bool("columns", columns):
        return maps.mean(dim=2).transpose(1, 2)  # (B, 4, 64)
    return maps.flatten(2).transpose(1, 2)  # (B, 16, 64)


class ITMHead(nn.Module):
    """Image-text matching: caption tokens (B, T) and image regions (B, N, image_dim) -> match logits (B,).

    A one-layer fusion encoder in the manner of ALBEF's: word embeddings plus positions, a
    pre-norm cross-attention block in which every word reads the regions
    (:class:`mmtutorial.fusion.CrossAttention`), a pre-norm MLP, the mean over the real words
    (``pad_id`` excluded) and a linear layer to one logit: > 0 means "this caption describes this
    image". Trained with binary cross-entropy on positives and mined negatives.
    """

    def __init__(self, vocab_size: int, image_dim: int, dim: int = 64, heads: int = 4, max_len: int = 32,
                 pad_id: int = 0) -> None:
        super().__init__()
        vocab_size, dim = check_int("vocab_size", vocab_size, min=2), check_int("dim", dim, min=1)
        self.pad_id = check_int("pad_id", pad_id, min=0, max=vocab_size - 1)
        self.max_len = check_int("max_len", max_len, min=1)
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Embedding(max_len, dim)
        self.ln1 = nn.LayerNorm(dim)
        self.cross = CrossAttention(dim, check_int("image_dim", image_dim, min=1), dim, heads)
        self.mlp = nn.Sequential(nn.Linear(3 * dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, 1)

    def forward(self, tokens: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        """(B, T), (B, N, image_dim) -> logits (B,)."""
        tokens = check_tensor("tokens", tokens, "(B, T)", dtype="int", nonempty=True)
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"tokens must have at most max_len={self.max_len} positions, got {tokens.shape[1]}")
        T = tokens.shape[1]
        x = self.token_embedding(tokens) + self.position_embedding(torch.arange(T, device=tokens.device))  # (B, T, D)
        h = self.ln1(x)
        read, _ = self.cross(h, regions)  # (B, T, D): what each word reads in the image
        x = self.mlp(torch.cat([h, read, h * read], dim=-1))  # (B, T, D): each word compared with its reading
        return self.head(masked_mean(x, tokens != self.pad_id)).squeeze(-1)  # (B,)


def sample_negatives(logits: torch.Tensor, exclude: torch.Tensor | None = None, *, hard: bool = True,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """One negative per row of a (B, B) score matrix: the column index (B,) of a non-matching partner.

    Row i scores query i against every candidate j (the contrastive logits
    ``scale * image @ text.T`` for the captions of each image; their transpose for the images
    of each caption). The diagonal (the true partner) is never drawn, nor any ``exclude[i, j]``
    (e.g. captions that also describe image i: false negatives). ``hard=True`` draws j with
    probability ``softmax_j(logits[i, j])`` over the allowed candidates, so the candidates the
    dual encoder finds most similar, the hard ones, are drawn most often (ALBEF); ``hard=False``
    draws uniformly among them. A row with no allowed candidate draws from all (documented
    rather than checked, which would wait for the GPU).
    """
    logits = check_tensor("logits", logits, "(B, B)", dtype="float", nonempty=True)
    if logits.shape[0] != logits.shape[1]:
        raise ValueError(f"logits must be square (B, B), got {tuple(logits.shape)}")
    hard = check_bool("hard", hard)
    allowed = ~torch.eye(len(logits), dtype=torch.bool, device=logits.device)  # (B, B)
    if exclude is not None:
        exclude = check_tensor("exclude", exclude, "(B, B)", dtype="bool")
        if exclude.shape != logits.shape:
            raise ValueError(f"exclude must have the shape of logits {tuple(logits.shape)}, got {tuple(exclude.shape)}")
        allowed = allowed & ~exclude
    scores = logits.detach().float() if hard else torch.zeros_like(logits, dtype=torch.float32)
    scores = scores.masked_fill(~allowed, torch.finfo(torch.float32).min)
    return torch.multinomial(scores.softmax(dim=1), 1, generator=generator).squeeze(1)  # (B,)


def itm_pairs(regions: torch.Tensor, tokens: torch.Tensor, negative_text: torch.Tensor,
              negative_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 3B pairs of one ITM batch: (regions (3B, N, D), tokens (3B, T), labels (3B,) float).

    The first B are the true pairs (label 1); then each image with the caption
    ``negative_text[i]`` (label 0); then each caption with the image ``negative_image[i]``
    (label 0), as in ALBEF.
    """
    regions = check_tensor("regions", regions, "(B, N, D)", dtype="float")
    tokens = check_tensor("tokens", tokens, "(B, T)", dtype="int")
    B = len(regions)
    for name, idx in (("tokens", tokens), ("negative_text", negative_text), ("negative_image", negative_image)):
        if len(idx) != B:
            raise ValueError(f"{name} must have one row per image ({B}), got {describe(idx)}")
    all_regions = torch.cat([regions, regions, regions[negative_image]])  # (3B, N, D)
    all_tokens = torch.cat([tokens, tokens[negative_text], tokens])  # (3B, T)
    labels = torch.cat([torch.ones(B, device=regions.device), torch.zeros(2 * B, device=regions.device)])
    return all_regions, all_tokens, labels


class Captioner(nn.Module):
    """Captioning as language modelling conditioned on the image: regions as a prefix of a CausalLM.

    ``project`` (a layer norm, then a linear layer) maps each image region (B, N, image_dim) to
    the language model's width (the norm puts raw feature maps on the scale of embeddings); the
    projected regions are placed before the words (``CausalLM(..., prefix=...)``), so every
    word can attend to every region and to the words before it. ``forward(regions, tokens)``
    returns the logits of the token positions only, (B, T, vocab), ready for
    :func:`mmtutorial.lm.next_token_loss`; :meth:`caption` writes captions with
    :func:`mmtutorial.lm.generate` or :func:`mmtutorial.lm.beam_search`.
    """

    def __init__(self, image_dim: int, vocab_size: int, dim: int = 64, depth: int = 2, heads: int = 4,
                 max_len: int = 48, dropout: float = 0.0) -> None:
        super().__init__()
        self.image_dim = check_int("image_dim", image_dim, min=1)
        self.project = nn.Sequential(nn.LayerNorm(image_dim), nn.Linear(image_dim, check_int("dim", dim, min=1)))
        self.lm = CausalLM(vocab_size, dim, depth, heads, max_len, dropout)

    def prefix(self, regions: torch.Tensor) -> torch.Tensor:
        """Image regions (B, N, image_dim) -> prefix embeddings (B, N, dim)."""
        regions = check_tensor("regions", regions, "(B, N, image_dim)", dtype="float")
        if regions.shape[-1] != self.image_dim:
            raise ValueError(f"regions must have shape (B, N, {self.image_dim}), got {tuple(regions.shape)}")
        return self.project(regions)

    def forward(self, regions: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, image_dim), (B, T) -> logits of the token positions (B, T, vocab)."""
        prefix = self.prefix(regions)  # (B, N, dim)
        return self.lm(tokens, prefix=prefix)[:, prefix.shape[1]:]

    @torch.no_grad()
    def caption(self, regions: torch.Tensor, max_new_tokens: int, *, bos_id: int = 2, eos_id: int = 3,
                pad_id: int = 0, beam_size: int | None = None, **sampling) -> torch.Tensor:
        """Write captions: tokens (B, 1 + max_new_tokens) starting with ``bos_id``, padded after ``eos_id``.

        Greedy by default; ``beam_size`` switches to beam search; ``sampling`` passes
        ``temperature``, ``top_k``, ``generator`` (and ``greedy=False``) to :func:`generate`.
        """
        prefix = self.prefix(regions)
        prompt = torch.full((len(prefix), 1), check_int("bos_id", bos_id, min=0), dtype=torch.long,
                            device=prefix.device)
        if beam_size is not None:
            return beam_search(self.lm, prompt, max_new_tokens, beam_size=beam_size, eos_id=eos_id, prefix=prefix,
                               pad_id=pad_id)
        sampling.setdefault("greedy", True)
        return generate(self.lm, prompt, max_new_tokens, eos_id=eos_id, pad_id=pad_id, prefix=prefix, **sampling)


def _slot_index(text: str, names: Sequence[str], words: dict[str, tuple[str, ...]]) -> int:
    """The index of the single concept whose synonym occurs in ``text`` (as whole words), else -1."""
    found = {i for i, name in enumerate(names) for w in words[name] if _says(w, text)}
    return found.pop() if len(found) == 1 else -1


def _says(word: str, text: str) -> bool:
    """Whether ``text`` contains ``word`` (or a phrase) as whole words ("medium" is not in "medium-sized")."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def caption_attributes(captions: Sequence[str]) -> dict[str, torch.Tensor]:
    """Which colour, shape, size and position each ShapesWorld caption names: (N,) int64 per attribute.

    An entry is the index into ``COLOR_NAMES`` / ``SHAPES`` / ``SIZES`` / ``POSITIONS`` of the one
    concept whose synonym the caption uses, or -1 when it names none of them, or more than one
    (a generated caption may). Used to score generated captions against the scene's labels.
    """
    check_type("captions", captions, (list, tuple), "a list of str")
    out = {}
    for attribute, (names, words) in _WORDS.items():
        out[attribute] = torch.tensor([_slot_index(c, names, words) for c in captions], dtype=torch.int64)
    return out


def swap_attribute(captions: Sequence[str], labels: dict[str, torch.Tensor], attribute: str,
                   seed: int = 0) -> tuple[list[str], torch.Tensor]:
    """Each caption with one ``attribute`` changed to another value: hard negatives for testing ITM.

    ``labels`` are the scenes' labels (ShapesWorld's ``data.labels``); the word (or phrase) the
    caption uses for ``attribute`` is replaced by a random synonym of a random *other* value, and
    "a"/"an" is fixed. Returns the new captions and a bool mask (N,): False where the caption
    does not name the attribute (size and position are not always named; such captions are left
    as they are and must be left out of a test).
    """
    check_type("captions", captions, (list, tuple), "a list of str")
    attribute = check_choice("attribute", attribute, tuple(_WORDS))
    names, words = _WORDS[attribute]
    values = check_tensor("labels[attribute]", labels[attribute], "(N,)", dtype="int")
    if len(values) != len(captions):
        raise ValueError(f"labels[{attribute!r}] must have one entry per caption ({len(captions)}), got {len(values)}")
    rng = np.random.default_rng(check_int("seed", seed, min=0))
    out, changed = [], []
    for text, value in zip(captions, values.tolist()):
        said = [w for w in words[names[value]] if _says(w, text)]
        if not said:
            out.append(text)
            changed.append(False)
            continue
        other = [n for i, n in enumerate(names) if i != value][rng.integers(len(names) - 1)]
        new_word = words[other][rng.integers(len(words[other]))]
        text = re.sub(rf"(?<![\w-]){re.escape(said[0])}(?![\w-])", new_word, text, count=1)
        out.append(_AN.sub(lambda m: ("an " if m.group(2)[0] in "aeiou" else "a "), text))
        changed.append(True)
    return out, torch.tensor(changed)
