"""Image normalisation and paired image-caption augmentation (Chapter 03).

- `channel_stats`, `normalize`, `denormalize`: per-channel standardisation with statistics
  computed from the data (`torchvision.transforms.v2.functional.normalize` does the work).
- `flip_caption`, `flip_position`, `flip_tokens`, `hflip_pair`, `hflip_batch`,
  `PairedRandomHorizontalFlip`: a horizontal flip mirrors the image, so every mention of
  "left" must become "right" (and back) in the caption, the tokens and the `position` label.
  Flipping the image alone would teach a model that "left" can mean either side.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import torch
from torchvision.transforms.v2 import functional as TF

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


def _check_images(images: Any, name: str = "images", dims: tuple[int, ...] = (4,)) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() not in dims or not images.is_floating_point():
        shape = {3: "(C, H, W)", 4: "(N, C, H, W)"}
        want = " or ".join(shape[d] for d in dims)
        raise ValueError(f"{name} must be a float tensor of shape {want}, got "
                         f"{type(images).__name__} {tuple(getattr(images, 'shape', ()))}")
    return images


# ----- normalisation --------------------------------------------------------------------------
def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over samples and pixels, each of shape (C,) (Chapter 03).

    `images` is (N, C, H, W). The std is the population one (divides by N*H*W), so
    `normalize(images, *channel_stats(images))` has mean 0 and std exactly 1 per channel.
    """
    images = _check_images(images)
    x = images.double().transpose(0, 1).flatten(1)  # (C, N*H*W), float64 for an exact reference
    return x.mean(dim=1).to(images.dtype), x.std(dim=1, correction=0).to(images.dtype)


def _check_stats(mean: Any, std: Any, channels: int) -> tuple[list[float], list[float]]:
    mean, std = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(std, dtype=torch.float64)
    if mean.shape != (channels,) or std.shape != (channels,):
        raise ValueError(f"mean and std must have shape ({channels},), got {tuple(mean.shape)} and {tuple(std.shape)}")
    if not bool((std > 0).all()):
        raise ValueError(f"std must be > 0 in every channel, got {std.tolist()}")
    return mean.tolist(), std.tolist()


def normalize(images: torch.Tensor, mean: Sequence[float] | torch.Tensor,
              std: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """(images - mean) / std per channel, for (C, H, W) or (N, C, H, W) images (Chapter 03).

    The same computation as `torchvision.transforms.v2.Normalize(mean, std)`.
    """
    images = _check_images(images, dims=(3, 4))
    mean, std = _check_stats(mean, std, images.shape[-3])
    return TF.normalize(images, mean=mean, std=std)


def denormalize(images: torch.Tensor, mean: Sequence[float] | torch.Tensor,
                std: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Inverse of `normalize`: images * std + mean per channel (for plotting) (Chapter 03)."""
    images = _check_images(images, dims=(3, 4))
    mean, std = _check_stats(mean, std, images.shape[-3])
    shape = (-1, 1, 1)
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(shape)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(shape)
    return images * s + m


# ----- paired horizontal flip -----------------------------------------------------------------
def flip_caption(caption: str) -> str:
    """Swap the words "left" and "right" (whole words, any case) in `caption` (Chapter 03).

    >>> flip_caption("a red circle on the left")
    'a red circle on the right'
    """
    if not isinstance(caption, str):
        raise ValueError(f"caption must be a str, got {type(caption).__name__}")

    def swap(m: re.Match) -> str:
        old = m.group(0)
        word = _SWAP[old.lower()]
        if old.isupper():
            return word.upper()
        return word.capitalize() if old[0].isupper() else word

    return _SWAP_RE.sub(swap, caption)


def flip_position(position: torch.Tensor | int) -> torch.Tensor | int:
    """Mirror a `position` label (index into POSITIONS): left <-> right, center stays (Chapter 03)."""
    if isinstance(position, torch.Tensor):
        if position.is_floating_point() or position.is_complex():
            raise ValueError(f"position must be an integer tensor, got {position.dtype}")
        if position.numel() and not bool(((position >= 0) & (position < len(POSITIONS))).all()):
            raise ValueError(f"position values must lie in [0, {len(POSITIONS)}), got {position.tolist()}")
        return len(POSITIONS) - 1 - position
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < len(POSITIONS):
        raise ValueError(f"position must be an int in [0, {len(POSITIONS)}), got {position!r}")
    return len(POSITIONS) - 1 - position


def flip_tokens(tokens: torch.Tensor, vocab: Vocab) -> torch.Tensor:
    """Swap the ids of "left" and "right" in a token tensor of any shape (Chapter 03)."""
    if not isinstance(tokens, torch.Tensor) or tokens.is_floating_point():
        raise ValueError(f"tokens must be an integer tensor, got {type(tokens).__name__}")
    if not isinstance(vocab, Vocab) or "left" not in vocab or "right" not in vocab:
        raise ValueError("vocab must be a Vocab containing the words 'left' and 'right'")
    left, right = vocab.token_to_id("left"), vocab.token_to_id("right")
    out = tokens.clone()
    out[tokens == left] = right
    out[tokens == right] = left
    return out


def hflip_pair(image: torch.Tensor, caption: str, position: torch.Tensor | int
               ) -> tuple[torch.Tensor, str, torch.Tensor | int]:
    """Mirror one image (C, H, W) and keep its caption and position label true (Chapter 03)."""
    image = _check_images(image, "image", dims=(3,))
    return TF.horizontal_flip(image), flip_caption(caption), flip_position(position)


def hflip_batch(images: torch.Tensor, captions: Sequence[str], positions: torch.Tensor,
                flip: torch.Tensor) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Flip the samples where `flip` (N,) is True, consistently in all three (Chapter 03).

    images (N, C, H, W), captions (N strings), positions (N,) -> the same, with the rows
    selected by `flip` mirrored. The inputs are not modified.
    """
    images = _check_images(images)
    n = len(images)
    if not isinstance(flip, torch.Tensor) or flip.dtype != torch.bool or flip.shape != (n,):
        raise ValueError(f"flip must be a bool tensor of shape ({n},), got {tuple(getattr(flip, 'shape', ()))}")
    if len(captions) != n:
        raise ValueError(f"captions must hold {n} strings, got {len(captions)}")
    if not isinstance(positions, torch.Tensor) or positions.shape != (n,):
        raise ValueError(f"positions must be a tensor of shape ({n},), got {tuple(getattr(positions, 'shape', ()))}")
    where = flip.to(images.device).view(n, 1, 1, 1)
    images = torch.where(where, TF.horizontal_flip(images), images)  # (N, C, H, W)
    captions = [flip_caption(c) if f else c for c, f in zip(captions, flip.tolist())]
    positions = torch.where(flip.to(positions.device), flip_position(positions), positions)
    return images, captions, positions


class PairedRandomHorizontalFlip:
    """With probability `p`, mirror a sample dict and everything that names a side (Chapter 03).

    The sample may hold "image" (C, H, W), "caption" (str), "position" (int or 0-d tensor)
    and, when `vocab` is given, "tokens" (T,); other entries pass through. Returns a new dict
    with a bool "flipped" entry. Draws from `generator` (a torch.Generator) when given.
    """

    def __init__(self, p: float = 0.5, vocab: Vocab | None = None, generator: torch.Generator | None = None):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        if vocab is not None and not isinstance(vocab, Vocab):
            raise ValueError(f"vocab must be a Vocab or None, got {type(vocab).__name__}")
        self.p, self.vocab, self.generator = float(p), vocab, generator

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(sample, dict) or "image" not in sample:
            raise ValueError("sample must be a dict with at least an 'image' entry")
        out = dict(sample)
        flipped = bool(torch.rand((), generator=self.generator) < self.p)
        out["flipped"] = flipped
        if not flipped:
            return out
        out["image"] = TF.horizontal_flip(_check_images(sample["image"], "sample['image']", dims=(3,)))
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
