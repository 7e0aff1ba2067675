"""Image normalization and paired image-caption augmentation.

- `channel_stats`, `normalize`, `denormalize`: per-channel standardization with statistics
  computed from the data (`torchvision.transforms.v2.functional.normalize` does the work).
- `flip_caption`, `flip_position`, `flip_tokens`, `hflip_pair`, `hflip_batch`,
  `PairedRandomHorizontalFlip`: a horizontal flip mirrors the image, so every mention of
  "left" must become "right" (and back) in the caption, the tokens and the `position` label.
  Flipping the image alone would teach a model that "left" can mean either side.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from .._checks import check_int, check_number, check_same_length, check_tensor, check_type
from ..data.shapesworld import POSITIONS
from ..data.text import Vocab

__all__ = [
    "channel_stats",
    "normalize",
    "denormalize",
    "flip_caption",
    "flip_position",
    "flip_tokens",
    "hflip_pair",
    "hflip_batch",
    "PairedRandomHorizontalFlip",
]

_SWAP = {"left": "right", "right": "left"}
_SWAP_RE = re.compile(r"\b(left|right)\b", re.IGNORECASE)
_LEFT, _RIGHT = POSITIONS.index("left"), POSITIONS.index("right")


# ----- normalization --------------------------------------------------------------------------
def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over samples and pixels, each of shape (C,).

    `images` is (N, C, H, W). The std is the population one (divides by N*H*W), so
    `normalize(images, *channel_stats(images))` has mean 0 and std exactly 1 per channel.
    """
    images = check_tensor("images", images, "(N, C, H, W)", dtype="float", nonempty=True)
    x = images.double().transpose(0, 1).flatten(1)  # (C, N*H*W), float64 for an exact reference
    return x.mean(dim=1).to(images.dtype), x.std(dim=1, correction=0).to(images.dtype)


def _check_stats(mean: Any, std: Any, channels: int) -> tuple[list[float], list[float]]:
    for name, value in (("mean", mean), ("std", std)):
        check_type(name, value, (Sequence, np.ndarray, torch.Tensor), "a list or tensor of per-channel values")
    mean, std = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(std, dtype=torch.float64)
    if mean.shape != (channels,) or std.shape != (channels,):
        raise ValueError(f"mean and std must have shape ({channels},), got {tuple(mean.shape)} and {tuple(std.shape)}")
    if not bool(mean.isfinite().all() and std.isfinite().all() and (std > 0).all()):
        raise ValueError(f"mean and std must be finite and std > 0 in every channel, "
                         f"got mean {mean.tolist()} and std {std.tolist()}")
    return mean.tolist(), std.tolist()


def normalize(images: torch.Tensor, mean: Sequence[float] | torch.Tensor,
              std: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """(images - mean) / std per channel, for (C, H, W) or (N, C, H, W) images.

    The same computation as `torchvision.transforms.v2.Normalize(mean, std)`.
    """
    images = check_tensor("images", images, ["(C, H, W)", "(N, C, H, W)"], dtype="float")
    mean, std = _check_stats(mean, std, images.shape[-3])
    return TF.normalize(images, mean=mean, std=std)


def denormalize(images: torch.Tensor, mean: Sequence[float] | torch.Tensor,
                std: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Inverse of `normalize`: images * std + mean per channel (for plotting)."""
    images = check_tensor("images", images, ["(C, H, W)", "(N, C, H, W)"], dtype="float")
    mean, std = _check_stats(mean, std, images.shape[-3])
    shape = (-1, 1, 1)
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(shape)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(shape)
    return images * s + m


# ----- paired horizontal flip -----------------------------------------------------------------
def flip_caption(caption: str) -> str:
    """Swap the words "left" and "right" (whole words, any case) in `caption`.

    >>> flip_caption("a red circle on the left")
    'a red circle on the right'
    """
    check_type("caption", caption, str, "a str")

    def swap(m: re.Match) -> str:
        old = m.group(0)
        word = _SWAP[old.lower()]
        if old.isupper():
            return word.upper()
        return word.capitalize() if old[0].isupper() else word

    return _SWAP_RE.sub(swap, caption)


def flip_position(position: torch.Tensor | int) -> torch.Tensor | int:
    """Mirror a `position` label (index into POSITIONS): left <-> right, center stays."""
    if not isinstance(position, torch.Tensor):
        return len(POSITIONS) - 1 - check_int("position", position, min=0, max=len(POSITIONS) - 1)
    check_tensor("position", position, dtype="int")
    if position.numel() and (position.min() < 0 or position.max() >= len(POSITIONS)):
        raise ValueError(f"position must hold indices into POSITIONS, in [0, {len(POSITIONS)}), "
                         f"got values in [{int(position.min())}, {int(position.max())}]")
    return len(POSITIONS) - 1 - position


def flip_tokens(tokens: torch.Tensor, vocab: Vocab) -> torch.Tensor:
    """Swap the ids of "left" and "right" in a token tensor of any shape."""
    check_tensor("tokens", tokens, dtype="int")
    check_type("vocab", vocab, Vocab, "a Vocab")
    if "left" not in vocab or "right" not in vocab:
        raise ValueError(f"vocab must contain the words 'left' and 'right', got {vocab}")
    left, right = vocab.token_to_id("left"), vocab.token_to_id("right")
    out = tokens.clone()
    out[tokens == left] = right
    out[tokens == right] = left
    return out


def hflip_pair(image: torch.Tensor, caption: str, position: torch.Tensor | int
               ) -> tuple[torch.Tensor, str, torch.Tensor | int]:
    """Mirror one image (C, H, W) and keep its caption and position label true."""
    image = check_tensor("image", image, "(C, H, W)")
    return TF.horizontal_flip(image), flip_caption(caption), flip_position(position)


def hflip_batch(images: torch.Tensor, captions: Sequence[str], positions: torch.Tensor,
                flip: torch.Tensor) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Flip the samples where `flip` (N,) is True, consistently in all three.

    images (N, C, H, W), captions (N strings), positions (N,) -> the same, with the rows
    selected by `flip` mirrored. The inputs are not modified.
    """
    check_tensor("images", images, "(N, C, H, W)")
    check_tensor("positions", positions, "(N,)")
    check_tensor("flip", flip, "(N,)", dtype="bool")
    n = check_same_length(images=images, captions=captions, positions=positions, flip=flip)
    where = flip.to(images.device).view(n, 1, 1, 1)
    images = torch.where(where, TF.horizontal_flip(images), images)  # (N, C, H, W)
    captions = [flip_caption(c) if f else c for c, f in zip(captions, flip.tolist())]
    positions = torch.where(flip.to(positions.device), flip_position(positions), positions)
    return images, captions, positions


class PairedRandomHorizontalFlip:
    """With probability `p`, mirror a sample dict and everything that names a side.

    The sample may hold "image" (C, H, W), "caption" (str), "position" (int or 0-d tensor)
    and, when `vocab` is given, "tokens" (T,); other entries pass through. Returns a new dict
    with a bool "flipped" entry. Draws from `generator` (a torch.Generator) when given.
    """

    def __init__(self, p: float = 0.5, vocab: Vocab | None = None, generator: torch.Generator | None = None):
        p = check_number("p", p, min=0, max=1)
        if vocab is not None:
            check_type("vocab", vocab, Vocab, "a Vocab or None")
        self.p, self.vocab, self.generator = p, vocab, generator

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        check_type("sample", sample, dict, "a dict of one sample")
        if "image" not in sample:
            raise ValueError(f"sample must have an 'image' entry, got the keys {list(sample)}")
        out = dict(sample)
        flipped = bool(torch.rand((), generator=self.generator) < self.p)
        out["flipped"] = flipped
        if not flipped:
            return out
        out["image"] = TF.horizontal_flip(check_tensor("sample['image']", sample["image"], "(C, H, W)"))
        if "caption" in sample:
            out["caption"] = flip_caption(sample["caption"])
        if "position" in sample:
            out["position"] = flip_position(sample["position"])
        if "tokens" in sample:
            if self.vocab is None:
                raise ValueError("the sample has 'tokens': pass vocab=... so they can be flipped too")
            out["tokens"] = flip_tokens(sample["tokens"], self.vocab)
        return out

    def __repr__(self) -> str:
        return f"PairedRandomHorizontalFlip(p={self.p})"
