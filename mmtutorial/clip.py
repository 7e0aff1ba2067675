"""A tiny CLIP: two encoders that map images and captions into one space, and what it can do.

The chapter *Aligning text and images: contrastive learning and CLIP* builds each piece in
plain cells and proves these versions equal to it:

- `TinyCLIP`: an image encoder and a text encoder from the package, each followed by a linear
  projection into a shared ``embed_dim``-dimensional space and normalized to unit length, and
  a learnable temperature stored as a log (``logit_scale``) and clamped, as in CLIP. Its
  ``forward`` returns the (B, B) logits ``scale * image @ text.T``, ready for
  :func:`mmtutorial.losses.clip_loss`.
- `prompts_for_pairs` and `zero_shot_classify`: classification without a classifier, by
  writing one prompt per class ("a red circle") and picking, for each image, the prompt whose
  embedding is nearest.
- `caption_matches`: which ShapesWorld captions truthfully describe which images (a caption
  that does not mention the size fits every size), the relevance that retrieval metrics need
  when many captions say the same thing.
- `read_caption_file`: the caption files of Flickr8k and Flickr30k (``image#k<TAB>caption``
  or the CSV ``image,caption`` of the Kaggle copies) and `read_images`, for the chapter's
  section on real data.
"""

from __future__ import annotations

import csv
import math
import os
import pathlib
import re
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ._checks import check_int, check_number, check_path, check_tensor, check_type
from .data.image_files import read_rgb

_AN = re.compile(r"\ba (?=[aeiou])")  # "a orange box" -> "an orange box", as the captions say

__all__ = ["TinyCLIP", "caption_matches", "prompts_for_pairs", "read_caption_file", "read_images", "zero_shot_classify"]


class TinyCLIP(nn.Module):
    """A dual encoder: images (B, C, H, W) and token ids (B, T) -> unit vectors in one space.

    ``image_encoder`` maps images to (B, image_dim) and ``text_encoder`` token ids to
    (B, text_dim) (any of the package's encoders: ``TinyCNN``, ``ConvEncoder``, ``BagOfWords``,
    ``RNNEncoder``, ``TransformerTextEncoder``, called with the tokens alone). A linear layer
    projects each into ``embed_dim`` dimensions, and the result is divided by its norm.

    The temperature: ``logit_scale`` is a parameter holding ``log(1 / temperature)``, so the
    scale ``exp(logit_scale)`` stays positive whatever the optimizer does; it starts at
    ``1 / init_temperature`` and is clamped at ``max_scale`` (CLIP: 0.07 and 100).
    """

    def __init__(
        self,
        image_encoder: nn.Module,
        text_encoder: nn.Module,
        image_dim: int,
        text_dim: int,
        embed_dim: int = 64,
        *,
        init_temperature: float = 0.07,
        max_scale: float = 100.0,
    ) -> None:
        super().__init__()
        check_type("image_encoder", image_encoder, nn.Module, "a torch.nn.Module")
        check_type("text_encoder", text_encoder, nn.Module, "a torch.nn.Module")
        self.image_encoder, self.text_encoder = image_encoder, text_encoder
        self.image_proj = nn.Linear(check_int("image_dim", image_dim, min=1), check_int("embed_dim", embed_dim, min=1))
        self.text_proj = nn.Linear(check_int("text_dim", text_dim, min=1), embed_dim)
        init_temperature = check_number("init_temperature", init_temperature, above=0)
        self.max_scale = check_number("max_scale", max_scale, above=0)
        if 1 / init_temperature > self.max_scale:
            raise ValueError(f"init_temperature must be >= 1 / max_scale = {1 / self.max_scale:g}, "
                             f"got {init_temperature:g}")
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / init_temperature)))  # log(1 / tau)

    @property
    def scale(self) -> torch.Tensor:
        """``exp(logit_scale)`` clamped at ``max_scale``: the factor that multiplies every cosine, 0-d."""
        return self.logit_scale.clamp(max=math.log(self.max_scale)).exp()

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Images -> unit vectors (B, embed_dim)."""
        z = self.image_proj(self.image_encoder(images))  # (B, E)
        return z / z.norm(dim=-1, keepdim=True).clamp(min=1e-12)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) -> unit vectors (B, embed_dim)."""
        z = self.text_proj(self.text_encoder(tokens))  # (B, E)
        return z / z.norm(dim=-1, keepdim=True).clamp(min=1e-12)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The (B, B) logits ``scale * image_emb @ text_emb.T``: row i scores image i against every caption."""
        if len(images) != len(tokens):
            raise ValueError(f"images and tokens must hold the same number of pairs, got {len(images)} and {len(tokens)}")
        return self.scale * self.encode_image(images) @ self.encode_text(tokens).T  # (B, B)


def prompts_for_pairs(pairs: Sequence[tuple[str, str]], template: str = "a {color} {shape}") -> list[str]:
    """One prompt per (color, shape) pair, e.g. ``"a red circle"``, with "an" before a vowel."""
    check_type("template", template, str, "a str")
    if "{color}" not in template or "{shape}" not in template:
        raise ValueError(f"template must contain {{color}} and {{shape}}, got {template!r}")
    check_type("pairs", pairs, (list, tuple), "a list of (color, shape) pairs")
    if not pairs:
        raise ValueError("pairs must hold at least one (color, shape) pair, got none")
    prompts = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"pairs[{i}] must be a (color, shape) pair, got {pair!r}")
        text = template.format(color=pair[0], shape=pair[1])
        prompts.append(_AN.sub("an ", text))
    return prompts


@torch.no_grad()
def zero_shot_classify(image_emb: torch.Tensor, prompt_emb: torch.Tensor) -> torch.Tensor:
    """For each image, the index of the nearest prompt: ``argmax_k image_emb @ prompt_emb[k]``, (N,).

    ``image_emb`` (N, E) and ``prompt_emb`` (K, E) are the unit vectors of ``encode_image`` and
    ``encode_text``; the nearest prompt by cosine is the class.
    """
    image_emb = check_tensor("image_emb", image_emb, "(N, E)", dtype="float", nonempty=True)
    prompt_emb = check_tensor("prompt_emb", prompt_emb, "(K, E)", dtype="float", nonempty=True)
    if image_emb.shape[1] != prompt_emb.shape[1]:
        raise ValueError(f"image_emb and prompt_emb must have the same width, got {image_emb.shape[1]} "
                         f"and {prompt_emb.shape[1]}")
    return (image_emb @ prompt_emb.T).argmax(dim=1)  # (N,)


def caption_matches(image_labels: Mapping[str, torch.Tensor], caption_labels: Mapping[str, torch.Tensor],
                    mentions: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """(N, M) bool: True where caption j truthfully describes image i.

    ``image_labels`` and ``caption_labels`` hold ``"color"``, ``"shape"`` (and, with
    ``mentions``, the mentioned attributes) as (N,) and (M,) integer tensors, e.g. the
    ``labels`` of two ShapesWorld sets. Color and shape must agree. ``mentions`` maps further
    attributes (``"size"``, ``"position"``) to a (M,) bool tensor saying whether caption j
    names it: such an attribute must agree only where the caption names it.
    """
    check_type("image_labels", image_labels, Mapping, "a dict of label tensors")
    check_type("caption_labels", caption_labels, Mapping, "a dict of label tensors")
    mentions = {} if mentions is None else dict(check_type("mentions", mentions, Mapping, "a dict or None"))
    match = None
    for name in ("color", "shape", *mentions):
        for which, labels in (("image_labels", image_labels), ("caption_labels", caption_labels)):
            if name not in labels:
                raise ValueError(f"{which} must hold {name!r}, got the keys {sorted(labels)}")
            check_tensor(f"{which}[{name!r}]", labels[name], "(N,)", dtype="int")
        same = image_labels[name][:, None] == caption_labels[name][None, :]  # (N, M)
        if name in mentions:
            said = check_tensor(f"mentions[{name!r}]", mentions[name], "(M,)", dtype="bool")
            if said.shape[0] != caption_labels[name].shape[0]:
                raise ValueError(f"mentions[{name!r}] must have one entry per caption "
                                 f"({caption_labels[name].shape[0]}), got {said.shape[0]}")
            same = same | ~said[None, :]
        match = same if match is None else match & same
    return match


def read_caption_file(path: str | os.PathLike, limit: int | None = None) -> dict[str, list[str]]:
    """Read an image-caption file of Flickr8k / Flickr30k: ``{image file name: [captions]}``.

    Two layouts are recognised by the first line:
    - the original token file (``Flickr8k.token.txt``, ``results_20130124.token``): one line
      per caption, ``image.jpg#k<TAB>caption`` (k = 0..4);
    - the CSV of the common Kaggle copies (``captions.txt``): a header ``image,caption`` and
      one ``image.jpg,caption`` row per caption (captions may be quoted and contain commas).

    The images keep the file's order; ``limit`` keeps only the first images. ValueError for a
    malformed line or a file without captions.
    """
    path = pathlib.Path(check_path("path", path))
    if limit is not None:
        limit = check_int("limit", limit, min=1)
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        first = f.readline()
        f.seek(0)
        if first.strip().lower().replace(" ", "") in ("image,caption", "image_name,comment_number,comment"):
            rows = ((i + 2, row[0], row[-1]) for i, row in enumerate(csv.reader(_skip_header(f))))
        else:
            rows = (_token_line(i + 1, line, path) for i, line in enumerate(f) if line.strip())
        for lineno, image, caption in rows:
            image, caption = image.strip(), caption.strip()
            if not image or not caption:
                raise ValueError(f"line {lineno} of {path} must hold an image name and a caption")
            if image not in out and limit is not None and len(out) == limit:
                break
            out.setdefault(image, []).append(caption)
    if not out:
        raise ValueError(f"path must hold at least one caption, {path} has none")
    return out


def _skip_header(f):
    next(f)
    return f


def _token_line(lineno: int, line: str, path: pathlib.Path) -> tuple[int, str, str]:
    if "\t" not in line:
        raise ValueError(f"line {lineno} of {path} must be 'image#k<TAB>caption', got {line.strip()[:60]!r}")
    key, caption = line.rstrip("\r\n").split("\t", 1)
    return lineno, key.split("#", 1)[0], caption


def read_images(folder: str | os.PathLike, names: Sequence[str], image_size: int = 64) -> torch.Tensor:
    """The images ``folder/name`` for each of ``names``, RGB, resized to ``image_size`` square.

    Returns a float32 tensor (N, 3, S, S) in [0, 1], in the order of ``names`` (for example the
    keys of :func:`read_caption_file`). ValueError naming the first file that is missing.
    """
    folder = pathlib.Path(check_path("folder", folder))
    image_size = check_int("image_size", image_size, min=1)
    check_type("names", names, (list, tuple), "a list of file names")
    if not names:
        raise ValueError("names must hold at least one file name, got none")
    out = []
    for name in names:
        file = folder / name
        if not file.is_file():
            raise ValueError(f"names holds {name!r}, but there is no {file}")
        out.append(read_rgb(file, image_size))  # (3, S, S)
    return torch.stack(out)  # (N, 3, S, S)
