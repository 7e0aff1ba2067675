"""Noisy image-caption pairs and simple filters that find them (Chapter 03).

Data collected at scale is never clean: captions get attached to the wrong image, images fail
to load and arrive blank. `corrupt_pairs` injects both faults into ShapesWorld at known
places, so a filter can be graded against the truth:

- a **wrong caption** is the caption (and tokens) of another sample that shows a different
  colour-shape pair;
- a **blank image** is a flat grey placeholder with faint sensor noise.

The labels still describe the scene that was rendered: a real dataset does not have them,
which is why the filters below look only at the pairs themselves.

- `image_std` / `blank_images`: flag images whose pixels barely vary.
- `object_color`: estimate the colour of the object in each image.
- `caption_labels`: read an attribute (colour, shape, ...) off the caption text.
- `disagreement`: flag pairs where what a model sees in the image is not what the caption claims.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch

from ..data.shapesworld import ShapesWorldData

__all__ = ["corrupt_pairs", "image_std", "blank_images", "object_color", "caption_labels", "disagreement"]


def _check_fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
    return float(value)


def corrupt_pairs(
    data: ShapesWorldData,
    wrong_caption: float = 0.2,
    blank_image: float = 0.1,
    seed: int = 0,
    blank_noise: float = 0.02,
) -> tuple[ShapesWorldData, dict[str, torch.Tensor]]:
    """Corrupt disjoint random fractions of the pairs; returns (new data, truth) (Chapter 03).

    `truth` holds two bool masks (N,): "wrong_caption" and "blank_image". Wrong captions come
    from donors with a different (colour, shape) pair; blank images are a uniform grey level in
    [0.2, 0.8] plus Gaussian noise of std `blank_noise`. `data` itself is left unchanged.
    """
    if not isinstance(data, ShapesWorldData):
        raise ValueError(f"data must be a ShapesWorldData, got {type(data).__name__}")
    wrong_caption = _check_fraction("wrong_caption", wrong_caption)
    blank_image = _check_fraction("blank_image", blank_image)
    if wrong_caption + blank_image > 1.0:
        raise ValueError(f"wrong_caption + blank_image must be <= 1, got {wrong_caption + blank_image}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if isinstance(blank_noise, bool) or not isinstance(blank_noise, (int, float)) or blank_noise < 0:
        raise ValueError(f"blank_noise must be a number >= 0, got {blank_noise!r}")
    n = len(data)
    pair = (data.labels["color"] * 100 + data.labels["shape"]).numpy()  # (N,) one id per colour-shape pair
    n_wrong, n_blank = round(wrong_caption * n), round(blank_image * n)
    if n_wrong and len(np.unique(pair)) < 2:
        raise ValueError("wrong captions need at least two different colour-shape pairs in data")

    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    wrong_idx, blank_idx = order[:n_wrong], order[n_wrong : n_wrong + n_blank]

    # Donors: draw at random, redraw those that show the same pair (vectorised rejection).
    donor = rng.integers(0, n, n_wrong)
    same = pair[donor] == pair[wrong_idx]
    while same.any():
        donor[same] = rng.integers(0, n, int(same.sum()))
        same = pair[donor] == pair[wrong_idx]

    captions = list(data.captions)
    for i, j in zip(wrong_idx.tolist(), donor.tolist()):
        captions[i] = data.captions[j]
    tokens, mask = data.tokens.clone(), data.mask.clone()
    tokens[wrong_idx], mask[wrong_idx] = data.tokens[donor], data.mask[donor]

    images = data.images.clone()  # (N, C, H, W)
    gen = torch.Generator().manual_seed(seed)
    level = 0.2 + 0.6 * torch.rand(n_blank, 1, 1, 1, generator=gen)  # (n_blank, 1, 1, 1)
    noise = blank_noise * torch.randn((n_blank, *images.shape[1:]), generator=gen)
    images[torch.as_tensor(blank_idx, dtype=torch.long)] = (level + noise).clamp(0, 1).to(images.dtype)

    truth = {name: torch.zeros(n, dtype=torch.bool) for name in ("wrong_caption", "blank_image")}
    truth["wrong_caption"][wrong_idx] = True
    truth["blank_image"][blank_idx] = True
    corrupted = ShapesWorldData(images, captions, tokens, mask, {k: v.clone() for k, v in data.labels.items()},
                                data.vocab, data.audio, data.sample_rate,
                                dict(data.info, corruption=dict(wrong_caption=wrong_caption,
                                                                blank_image=blank_image, seed=seed)))
    return corrupted, truth


def image_std(images: torch.Tensor) -> torch.Tensor:
    """Standard deviation of each image's pixels (over channels and positions), shape (N,) (Chapter 03)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise ValueError("images must be a float tensor of shape (N, C, H, W), got "
                         f"{tuple(getattr(images, 'shape', ()))}")
    return images.flatten(1).std(dim=1)  # (N,)


def blank_images(images: torch.Tensor, threshold: float = 0.05) -> torch.Tensor:
    """True for images whose pixel std is below `threshold`, shape (N,) bool (Chapter 03)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold <= 0:
        raise ValueError(f"threshold must be a number > 0, got {threshold!r}")
    return image_std(images) < threshold


def object_color(images: torch.Tensor, k: int = 8) -> torch.Tensor:
    """Estimated colour of the object in each image, shape (N, C) (Chapter 03).

    The background is estimated by the per-channel median pixel; the object colour is the mean
    of the `k` pixels farthest from it. A blank image has no object: it returns about its grey.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise ValueError("images must be a float tensor of shape (N, C, H, W), got "
                         f"{tuple(getattr(images, 'shape', ()))}")
    pixels = images.flatten(2)  # (N, C, P)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= pixels.shape[2]:
        raise ValueError(f"k must be an int in [1, {pixels.shape[2]}], got {k!r}")
    background = pixels.median(dim=2, keepdim=True).values  # (N, C, 1)
    distance = (pixels - background).norm(dim=1)  # (N, P)
    far = distance.topk(k, dim=1).indices  # (N, k)
    chosen = pixels.gather(2, far[:, None, :].expand(-1, pixels.shape[1], -1))  # (N, C, k)
    return chosen.mean(dim=2)  # (N, C)


def caption_labels(captions: Sequence[str], words: dict[str, Sequence[str]]) -> torch.Tensor:
    """Which concept of `words` each caption names, as an index into `list(words)`; -1 if none (Chapter 03).

    `words` maps each concept to its synonyms, e.g. `COLOR_WORDS` ({"red": ("red", "crimson",
    ...), ...}); synonyms match as whole words or phrases. If a caption names several
    concepts, the first one in the caption wins.
    """
    if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
        raise ValueError("captions must be a list of str")
    if not isinstance(words, dict) or not words or not all(
        isinstance(ws, (list, tuple)) and ws and all(isinstance(w, str) and w for w in ws) for ws in words.values()
    ):
        raise ValueError("words must be a dict {concept: (synonym, ...)} of non-empty strings")
    lookup = {w.lower(): k for k, ws in enumerate(words.values()) for w in ws}
    # Longest phrases first, so "medium-sized" wins over "medium".
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(w) for w in sorted(lookup, key=len, reverse=True))
                         + r")(?![\w-])")
    out = []
    for caption in captions:
        m = pattern.search(caption.lower())
        out.append(lookup[m.group(1)] if m else -1)
    return torch.tensor(out, dtype=torch.int64)  # (N,)


def disagreement(scores: torch.Tensor, claimed: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """True where the caption's claim is not what a model sees in the image, shape (N,) bool (Chapter 03).

    scores (N, K): any per-class scores of the image (logits, or minus distances to class
    prototypes); claimed (N,): the class read off each caption (-1: names none, never flagged).
    A pair is flagged when the claimed class scores more than `margin` below the best class;
    with margin 0 that means the model's top class is not the claimed one.
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or not scores.is_floating_point():
        raise ValueError("scores must be a float tensor of shape (N, K), got "
                         f"{tuple(getattr(scores, 'shape', ()))}")
    n, k = scores.shape
    if not isinstance(claimed, torch.Tensor) or claimed.shape != (n,) or claimed.is_floating_point():
        raise ValueError(f"claimed must be an integer tensor of shape ({n},), got "
                         f"{tuple(getattr(claimed, 'shape', ()))}")
    if n and (int(claimed.min()) < -1 or int(claimed.max()) >= k):
        raise ValueError(f"claimed must hold class ids in [0, {k}) or -1, "
                         f"got values in [{int(claimed.min())}, {int(claimed.max())}]")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
        raise ValueError(f"margin must be a number >= 0, got {margin!r}")
    claimed = claimed.to(scores.device)
    named = claimed >= 0
    claimed_score = scores.gather(1, claimed.clamp_min(0)[:, None]).squeeze(1)  # (N,)
    return named & (claimed_score < scores.max(dim=1).values - margin)
