"""Noisy image-caption pairs and simple filters that find them.

Data collected at scale is never clean: captions get attached to the wrong image, images fail
to load and arrive blank. `corrupt_pairs` injects both faults into ShapesWorld at known
places, so a filter can be graded against the truth:

- a **wrong caption** is the caption (and tokens) of another sample that shows a different
  color-shape pair;
- a **blank image** is a flat gray placeholder with faint sensor noise.

The labels still describe the scene that was rendered: a real dataset does not have them,
which is why the filters below look only at the pairs themselves.

- `image_std` / `blank_images`: flag images whose pixels barely vary.
- `object_color`: estimate the color of the object in each image.
- `caption_labels`: read an attribute (color, shape, ...) off the caption text.
- `disagreement`: flag pairs where what a model sees in the image is not what the caption claims.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch

from .._checks import check_int, check_number, check_same_length, check_tensor, check_type, describe
from ..data.shapesworld import COLORS, ShapesWorldData

__all__ = ["corrupt_pairs", "image_std", "blank_images", "object_color", "caption_labels", "disagreement"]


def corrupt_pairs(
    data: ShapesWorldData,
    wrong_caption: float = 0.2,
    blank_image: float = 0.1,
    seed: int = 0,
    blank_noise: float = 0.02,
) -> tuple[ShapesWorldData, dict[str, torch.Tensor]]:
    """Corrupt disjoint random fractions of the pairs; returns (new data, truth).

    `truth` holds two bool masks (N,): "wrong_caption" and "blank_image". Wrong captions come
    from donors with a different (color, shape) pair; blank images are a uniform gray level in
    [0.2, 0.8] plus Gaussian noise of std `blank_noise`. `data` itself is left unchanged.
    """
    check_type("data", data, ShapesWorldData, "a ShapesWorldData")
    wrong_caption = check_number("wrong_caption", wrong_caption, min=0, max=1)
    blank_image = check_number("blank_image", blank_image, min=0, max=1)
    if wrong_caption + blank_image > 1.0:
        raise ValueError(f"wrong_caption + blank_image must be <= 1, got {wrong_caption + blank_image}")
    seed = check_int("seed", seed, min=0)
    blank_noise = check_number("blank_noise", blank_noise, min=0)
    n = len(data)
    pair = (data.labels["color"] * 100 + data.labels["shape"]).numpy()  # (N,) one id per color-shape pair
    n_wrong, n_blank = round(wrong_caption * n), round(blank_image * n)
    if n_wrong and len(np.unique(pair)) < 2:
        raise ValueError("wrong captions need at least two different color-shape pairs in data")

    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    wrong_idx, blank_idx = order[:n_wrong], order[n_wrong : n_wrong + n_blank]

    # Donors: draw at random, redraw those that show the same pair (vectorized rejection).
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
    """Standard deviation of each image's pixels (over channels and positions), shape (N,)."""
    check_tensor("images", images, "(N, C, H, W)", dtype="float")
    return images.flatten(1).std(dim=1)  # (N,)


def blank_images(images: torch.Tensor, threshold: float = 0.05) -> torch.Tensor:
    """True for images whose pixel std is below `threshold`, shape (N,) bool."""
    threshold = check_number("threshold", threshold, above=0)
    return image_std(images) < threshold


def object_color(images: torch.Tensor, k: int = 8) -> torch.Tensor:
    """Estimated color of the object in each image, shape (N, C).

    The background is estimated by the per-channel median pixel; the object color is the mean
    of the `k` pixels farthest from it. A blank image has no object: it returns about its gray.
    """
    pixels = check_tensor("images", images, "(N, C, H, W)", dtype="float").flatten(2)  # (N, C, P)
    k = check_int("k", k, min=1, max=pixels.shape[2])
    background = pixels.median(dim=2, keepdim=True).values  # (N, C, 1)
    distance = (pixels - background).norm(dim=1)  # (N, P)
    far = distance.topk(k, dim=1).indices  # (N, k)
    chosen = pixels.gather(2, far[:, None, :].expand(-1, pixels.shape[1], -1))  # (N, C, k)
    return chosen.mean(dim=2)  # (N, C)


def object_color_id(images: torch.Tensor, k: int = 8) -> torch.Tensor:
    """The ShapesWorld color of each image's object: the index into `COLORS` (N,) of the palette
    color nearest to `object_color(images, k)`."""
    palette = torch.tensor(list(COLORS.values()), dtype=images.dtype if isinstance(images, torch.Tensor) else None)
    estimate = object_color(images, k)  # (N, 3)
    return torch.cdist(estimate, palette.to(estimate.device)).argmin(dim=1)  # (N,)


def caption_labels(captions: Sequence[str], words: dict[str, Sequence[str]]) -> torch.Tensor:
    """Which concept of `words` each caption names, as an index into `list(words)`; -1 if none.

    `words` maps each concept to its synonyms, e.g. `COLOR_WORDS` ({"red": ("red", "crimson",
    ...), ...}); synonyms match as whole words or phrases. If a caption names several
    concepts, the first one in the caption wins.
    """
    if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
        raise TypeError(f"captions must be a list of str, got {describe(captions)}")
    if not isinstance(words, dict) or not all(
        isinstance(ws, (list, tuple)) and all(isinstance(w, str) for w in ws) for ws in words.values()
    ):
        raise TypeError(f"words must be a dict {{concept: (synonym, ...)}} of str, got {describe(words)}")
    if not words or not all(ws and all(ws) for ws in words.values()):
        raise ValueError(f"words must map at least one concept to non-empty synonyms, got {describe(words)}")
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
    """True where the caption's claim is not what a model sees in the image, shape (N,) bool.

    scores (N, K): any per-class scores of the image (logits, or minus distances to class
    prototypes); claimed (N,): the class read off each caption (-1: names none, never flagged).
    A pair is flagged when the claimed class scores more than `margin` below the best class;
    with margin 0 that means the model's top class is not the claimed one.
    """
    n, k = check_tensor("scores", scores, "(N, K)", dtype="float").shape
    if bool(scores.isnan().any()):
        raise ValueError("scores must not contain NaN: a pair with a NaN score would never be flagged")
    check_tensor("claimed", claimed, "(N,)", dtype="int")
    check_same_length(scores=scores, claimed=claimed)
    if n and (int(claimed.min()) < -1 or int(claimed.max()) >= k):
        raise ValueError(f"claimed must hold class ids in [0, {k}) or -1, "
                         f"got values in [{int(claimed.min())}, {int(claimed.max())}]")
    margin = check_number("margin", margin, min=0)
    claimed = claimed.to(scores.device)
    named = claimed >= 0
    claimed_score = scores.gather(1, claimed.clamp_min(0)[:, None]).squeeze(1)  # (N,)
    return named & (claimed_score < scores.max(dim=1).values - margin)
