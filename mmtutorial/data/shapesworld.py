"""ShapesWorld: procedural images of one colored shape, with captions.

Every sample is one shape (`SHAPES`) of one color (`COLORS`), size (`SIZES`), horizontal
position (`POSITIONS`) and vertical half (`VERTICALS`) on a noisy, tinted background, plus a
caption written from one of several templates with synonyms ("there is a crimson disc").
Color and shape are always named; size and position only in some templates; the vertical
half never. So text alone predicts color and shape perfectly but size and position only
partly, while the image shows everything: the probes of *Multimodal models* rest on this.

The generator is a pipeline of small vectorized steps, each with its own random stream (so
turning one modality on never changes another):

    sample_scenes  ->  render_images   (N, 3, H, W)
                   ->  write_captions  list[str] -> Vocab.encode -> tokens (N, T)
                   ->  render_tones    (N, L)   with audio=True

`interaction_labels` derives redundant / unique / synergistic labels (see *Core concepts*).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_same_length,
    check_tensor,
    check_type,
)
from .splits import subset_index, torch_generator
from .text import Vocab, tokenize

# ----- the world -------------------------------------------------------------------------
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.10, 0.10),
    "green": (0.10, 0.70, 0.20),
    "blue": (0.15, 0.30, 0.95),
    "yellow": (0.95, 0.90, 0.10),
    "purple": (0.60, 0.20, 0.80),
    "orange": (1.00, 0.55, 0.05),
}
COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross")
SIZES: tuple[str, ...] = ("small", "medium", "large")
POSITIONS: tuple[str, ...] = ("left", "center", "right")
VERTICALS: tuple[str, ...] = ("upper", "lower")  # shown in the image, never in a caption
ATTRIBUTES: tuple[str, ...] = ("color", "shape", "size", "position", "vertical")

# Compositional generalization: these color-shape pairs never appear in split="train".
HELDOUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("red", "circle"),
    ("green", "square"),
    ("blue", "triangle"),
    ("yellow", "diamond"),
    ("purple", "cross"),
)

# Geometry, in coordinates where the image spans [-1, 1] on both axes (y points down).
SIZE_RADIUS = (0.20, 0.30, 0.40)  # per size
POSITION_X = (-0.5, 0.0, 0.5)  # per position
VERTICAL_Y = (-0.4, 0.4)  # per vertical half
X_JITTER, Y_JITTER = 0.06, 0.08
COLOR_JITTER = 0.08  # per-channel uniform jitter of the shape color

# ----- words -----------------------------------------------------------------------------
COLOR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red", "crimson", "scarlet"),
    "green": ("green", "emerald", "lime"),
    "blue": ("blue", "azure", "navy"),
    "yellow": ("yellow", "golden", "lemon"),
    "purple": ("purple", "violet", "lilac"),
    "orange": ("orange", "amber", "tangerine"),
}
SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "disc", "dot"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge"),
    "diamond": ("diamond", "rhombus", "lozenge"),
    "cross": ("cross", "plus"),
}
SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "tiny", "little"),
    "medium": ("medium", "medium-sized", "average"),
    "large": ("large", "big", "huge"),
}
POSITION_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("on the left", "at the left", "to the left"),
    "center": ("in the center", "in the middle", "at the centre"),
    "right": ("on the right", "at the right", "to the right"),
}
# Templates 0-3 are bare phrases, 4-7 full sentences (a text-only attribute).
TEMPLATES: tuple[str, ...] = (
    "a {size} {color} {shape} {position}",
    "a {color} {shape}",
    "a {shape} that is {color}",
    "a {size} {shape} that is {color}",
    "there is a {color} {shape}",
    "there is a {size} {color} {shape} {position}",
    "the picture shows a {size} {color} {shape}",
    "the picture shows a {color} {shape} {position}",
)
TEMPLATE_IS_SENTENCE: tuple[bool, ...] = tuple(t.startswith(("there", "the ")) for t in TEMPLATES)
_AN_RE = re.compile(r"\ba (?=[aeiou])")  # "a amber box" -> "an amber box"


def _slot_max_len(words: dict[str, tuple[str, ...]]) -> int:
    return max(len(tokenize(w)) for ws in words.values() for w in ws)


def _caption_max_len() -> int:
    slots = {"color": COLOR_WORDS, "shape": SHAPE_WORDS, "size": SIZE_WORDS, "position": POSITION_WORDS}
    longest = 0
    for t in TEMPLATES:
        n = len(tokenize(re.sub(r"\{\w+\}", " ", t)))
        n += sum(_slot_max_len(words) for name, words in slots.items() if "{" + name + "}" in t)
        longest = max(longest, n)
    return longest


CAPTION_MAX_LEN: int = _caption_max_len()  # tokens of the longest possible caption

# ----- sound ------------------------------------------------------------------------------
SAMPLE_RATE = 8000
AUDIO_LEN = 4000  # 0.5 s
PITCH_HZ: dict[str, float] = {  # fundamental per color, low (red) to high (purple)
    "red": 220.0, "orange": 262.0, "yellow": 330.0, "green": 392.0, "blue": 466.0, "purple": 554.0,
}
LOUDNESS: tuple[float, ...] = (0.15, 0.30, 0.60)  # RMS-equivalent sine amplitude per size
# Harmonic amplitudes 1..8 per shape. The fundamental is always the strongest partial (the
# others are at most half of it), so the pitch a listener hears is the color's.
TIMBRES: dict[str, tuple[float, ...]] = {
    "circle": (1, 0, 0, 0, 0, 0, 0, 0),  # pure sine
    "square": (1, 0, 1 / 3, 0, 1 / 5, 0, 1 / 7, 0),  # odd harmonics: square-ish
    "triangle": (1, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 6, 1 / 7, 1 / 8),  # all harmonics: sawtooth-ish
    "diamond": (1, 0.5, 0, 0.4, 0, 0, 0, 0.3),  # octaves: organ-like
    "cross": (1, 0.5, 0.5, 0, 0, 0, 0, 0),  # strong 2nd and 3rd: reedy
}
PITCH_JITTER = 0.01  # relative
MIN_SAMPLE_RATE = int(2 * max(PITCH_HZ.values()) * (1 + PITCH_JITTER)) + 1  # every fundamental below Nyquist
FADE_S = 0.01  # linear fade in/out

# ----- interactions ------------------------------------------------------------------------
WARM_COLORS: tuple[str, ...] = ("red", "yellow", "orange")
INTERACTIONS: dict[str, str] = {
    "redundant": "colour is warm (red/yellow/orange): colour is in the image and the caption",
    "unique_image": "the shape is in the lower half: seen in the image, never captioned",
    "unique_text": "the caption is a full sentence (templates 4-7): the image cannot tell",
    "synergy": "unique_image XOR unique_text: neither modality alone beats chance",
}


# ----- checks --------------------------------------------------------------------------------
def _check_pairs(pairs: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    out = []
    for i, p in enumerate(pairs):
        check_type(f"heldout_pairs[{i}]", p, (tuple, list), "a (color, shape) pair")
        if len(p) != 2:
            raise ValueError(f"heldout_pairs[{i}] must be a (color, shape) pair, got {p!r}")
        out.append((check_choice(f"heldout_pairs[{i}] color", p[0], COLOR_NAMES),
                    check_choice(f"heldout_pairs[{i}] shape", p[1], SHAPES)))
    if len(set(out)) != len(out):
        raise ValueError(f"heldout_pairs must not repeat a pair, got {pairs!r}")
    return tuple(out)


def allowed_pairs(split: str = "train", heldout_pairs: Sequence[tuple[str, str]] = HELDOUT_PAIRS) -> np.ndarray:
    """(color, shape) index pairs a split may contain, shape (P, 2).

    "train": every pair except `heldout_pairs`; "heldout": only them; "all": every pair.
    """
    check_choice("split", split, ("train", "heldout", "all"))
    held = {(COLOR_NAMES.index(c), SHAPES.index(s)) for c, s in _check_pairs(heldout_pairs)}
    every = [(c, s) for c in range(len(COLORS)) for s in range(len(SHAPES))]
    if split == "train":
        pairs = [p for p in every if p not in held]
    elif split == "heldout":
        pairs = [p for p in every if p in held]
    else:
        pairs = every
    if not pairs:
        raise ValueError(f"split={split!r} with heldout_pairs={heldout_pairs!r} leaves no color-shape pair")
    return np.array(pairs, dtype=np.int64)  # (P, 2)


# ----- step 1: sample the scenes ---------------------------------------------------------------
@dataclass
class Scenes:
    """Latent description of N scenes as numpy arrays: what every modality renders."""

    color: np.ndarray  # (N,) int index into COLOR_NAMES
    shape: np.ndarray  # (N,) int index into SHAPES
    size: np.ndarray  # (N,) int index into SIZES
    position: np.ndarray  # (N,) int index into POSITIONS
    vertical: np.ndarray  # (N,) int index into VERTICALS
    cx: np.ndarray  # (N,) float center x in [-1, 1]
    cy: np.ndarray  # (N,) float center y in [-1, 1] (down)
    rgb: np.ndarray  # (N, 3) shape color after jitter
    bg_level: np.ndarray  # (N,) background gray level
    bg_tint: np.ndarray  # (N, 3) background color tint
    bg_grad: np.ndarray  # (N, 2) background linear gradient (x, y)

    def __post_init__(self) -> None:
        check_same_length(**vars(self))
        for name, names in zip(ATTRIBUTES, (COLOR_NAMES, SHAPES, SIZES, POSITIONS, VERTICALS)):
            ids = np.asarray(getattr(self, name))
            if not np.issubdtype(ids.dtype, np.integer):
                raise TypeError(f"Scenes.{name} must hold integer indices, got dtype {ids.dtype}")
            if ids.size and (ids.min() < 0 or ids.max() >= len(names)):
                raise ValueError(f"Scenes.{name} must hold indices in [0, {len(names)}), "
                                 f"got values in [{ids.min()}, {ids.max()}]")

    def __len__(self) -> int:
        return len(self.color)


def sample_scenes(
    n: int,
    rng: np.random.Generator,
    split: str = "train",
    heldout_pairs: Sequence[tuple[str, str]] = HELDOUT_PAIRS,
) -> Scenes:
    """Draw `n` scenes; color-shape pairs are uniform over the split's allowed pairs."""
    n = check_int("n", n, min=0)
    check_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    allowed = allowed_pairs(split, heldout_pairs)  # (P, 2)
    pairs = allowed[rng.integers(0, len(allowed), n)]  # (N, 2) uniform over the allowed pairs
    size = rng.integers(0, len(SIZES), n)
    position = rng.integers(0, len(POSITIONS), n)
    vertical = rng.integers(0, len(VERTICALS), n)
    base_rgb = np.array(list(COLORS.values()))[pairs[:, 0]]  # (N, 3)
    return Scenes(
        color=pairs[:, 0],
        shape=pairs[:, 1],
        size=size,
        position=position,
        vertical=vertical,
        cx=np.array(POSITION_X)[position] + rng.uniform(-X_JITTER, X_JITTER, n),
        cy=np.array(VERTICAL_Y)[vertical] + rng.uniform(-Y_JITTER, Y_JITTER, n),
        rgb=np.clip(base_rgb + rng.uniform(-COLOR_JITTER, COLOR_JITTER, (n, 3)), 0.0, 1.0),
        bg_level=rng.uniform(0.30, 0.60, n),
        bg_tint=rng.uniform(-0.06, 0.06, (n, 3)),
        bg_grad=rng.uniform(-0.10, 0.10, (n, 2)),
    )


# ----- step 2: render images ---------------------------------------------------------------------
# Signed distance to each shape's outline (negative inside), for offsets x (n, 1, W), y (n, H, 1)
# from the shape's center and radius r (n, 1, 1). Each shape is scaled to about the circle's area.
def _sdf_circle(x: torch.Tensor, y: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return torch.hypot(x, y) - r  # Euclidean norm, sqrt(x^2 + y^2)


def _sdf_square(x: torch.Tensor, y: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return torch.maximum(x.abs(), y.abs()) - 0.88 * r  # max-norm


def _sdf_triangle(x: torch.Tensor, y: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    R = 1.35 * r  # circumradius; apex up, centroid at the center
    bottom = y - 0.5 * R  # below the base edge
    sides = (math.sqrt(3) / 2) * x.abs() - 0.5 * y - 0.5 * R  # outside a slanted edge
    return torch.maximum(bottom, sides)  # intersection of three half-planes


def _sdf_diamond(x: torch.Tensor, y: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return (x.abs() + y.abs() - 1.25 * r) / math.sqrt(2)  # L1 norm


def _sdf_cross(x: torch.Tensor, y: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    ax, ay, w = x.abs(), y.abs(), 0.35 * r
    horizontal = torch.maximum(ax - r, ay - w)
    vertical = torch.maximum(ax - w, ay - r)
    return torch.minimum(horizontal, vertical)  # union of two bars


SDFS = (_sdf_circle, _sdf_square, _sdf_triangle, _sdf_diamond, _sdf_cross)  # in SHAPES order


def pixel_centers(image_size: int) -> torch.Tensor:
    """Coordinates of the pixel centers along one axis, in [-1, 1], shape (image_size,)."""
    image_size = check_int("image_size", image_size, min=1)
    return (torch.arange(image_size, dtype=torch.float32) + 0.5) * (2.0 / image_size) - 1.0


def shape_coverage(
    shape: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, radius: torch.Tensor, image_size: int
) -> torch.Tensor:
    """How much of each pixel every shape covers, in [0, 1], shape (m, H, W).

    `shape` (m,) indexes `SHAPES`; centers `cx`, `cy` and `radius` (m,) are in image units
    ([-1, 1] across). Coverage is 0.5 - signed distance / pixel width, clipped: a one-pixel
    soft (anti-aliased) edge. One vectorized call per shape kind, none per sample.
    """
    m = len(check_tensor("shape", shape, "(m,)", dtype="int"))
    H = check_int("image_size", image_size, min=8)
    if m and (shape.min() < 0 or shape.max() >= len(SHAPES)):
        raise ValueError(f"shape must hold indices into SHAPES, in [0, {len(SHAPES)}), "
                         f"got values in [{int(shape.min())}, {int(shape.max())}]")
    for name, t in (("cx", cx), ("cy", cy), ("radius", radius)):
        if check_tensor(name, t).shape != (m,):
            raise ValueError(f"{name} must have shape ({m},) like shape, got {tuple(t.shape)}")
    coords = pixel_centers(H)  # (W,)
    x = coords.view(1, 1, H) - cx.float().view(m, 1, 1)  # (m, 1, W) offsets from the center
    y = coords.view(1, H, 1) - cy.float().view(m, 1, 1)  # (m, H, 1)
    r = radius.float().view(m, 1, 1)  # (m, 1, 1)
    sdf = torch.empty(m, H, H)  # (m, H, W)
    for s, sdf_fn in enumerate(SDFS):
        idx = (shape == s).nonzero().squeeze(1)
        if len(idx):
            pick = lambda t: t.index_select(0, idx)  # noqa: E731
            sdf.index_copy_(0, idx, sdf_fn(pick(x), pick(y), pick(r)))
    return sdf.mul_(-H / 2).add_(0.5).clamp_(0.0, 1.0)  # 0.5 - sdf / (2 / H), in place


def render_images(
    scenes: Scenes,
    image_size: int = 32,
    noise: float = 0.05,
    generator: torch.Generator | None = None,
    chunk_size: int = 2048,
) -> torch.Tensor:
    """Render all scenes at once into float32 images in [0, 1], shape (N, 3, H, W).

    Each shape is an anti-aliased mask (`shape_coverage`) blended over a background of tinted
    gray with a gentle gradient; `noise` is the std of Gaussian pixel noise. The batch is
    processed in chunks of `chunk_size` samples only to bound memory; nothing loops per sample.
    """
    check_type("scenes", scenes, Scenes, "a Scenes (from sample_scenes)")
    H = check_int("image_size", image_size, min=8)
    noise = check_number("noise", noise, min=0)
    chunk_size = check_int("chunk_size", chunk_size, min=1)
    if noise > 0:
        check_type("generator", generator, torch.Generator, "a torch.Generator when noise > 0")
    coords = pixel_centers(H)
    x_grid, y_grid = coords.view(1, 1, 1, H), coords.view(1, 1, H, 1)  # absolute pixel coordinates
    n = len(scenes)
    images = torch.empty(n, 3, H, H)  # (N, 3, H, W)
    f32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    for lo in range(0, n, chunk_size):
        sl = slice(lo, min(lo + chunk_size, n))
        m = sl.stop - sl.start
        radius = f32(np.array(SIZE_RADIUS)[scenes.size[sl]])
        cover = shape_coverage(torch.as_tensor(scenes.shape[sl]), f32(scenes.cx[sl]), f32(scenes.cy[sl]), radius, H)
        cover = cover.unsqueeze(1)  # (m, 1, H, W)
        # image = background * (1 - cover) + color * cover + noise, where background =
        # flat (gray + tint, per channel) + ramp (gradient, shared by channels). Expanded as
        # flat + cover * (color - flat) + ramp * (1 - cover) + noise, it is built in place in
        # the output with no (m, 3, H, W) temporaries.
        flat = f32(scenes.bg_level[sl]).view(m, 1, 1, 1) + f32(scenes.bg_tint[sl]).view(m, 3, 1, 1)  # (m, 3, 1, 1)
        grad = f32(scenes.bg_grad[sl])  # (m, 2)
        ramp = grad[:, 0].view(m, 1, 1, 1) * x_grid + grad[:, 1].view(m, 1, 1, 1) * y_grid  # (m, 1, H, W)
        rgb = f32(scenes.rgb[sl]).view(m, 3, 1, 1)
        img = images[sl]  # (m, 3, H, W) view into the output
        if noise > 0:
            img.normal_(0.0, noise, generator=generator)
        else:
            img.zero_()
        img.addcmul_(cover, rgb - flat).add_(flat).add_(ramp.sub_(ramp * cover)).clamp_(0.0, 1.0)
    return images


# ----- step 3: write captions --------------------------------------------------------------------
def _word_table(concepts: Sequence[str], words: dict[str, tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """(K, S) object table of synonyms (padded) and (K,) synonym counts."""
    width = max(len(words[c]) for c in concepts)
    table = np.array([list(words[c]) + [""] * (width - len(words[c])) for c in concepts], dtype=object)
    return table, np.array([len(words[c]) for c in concepts])


def write_captions(scenes: Scenes, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """One caption per scene from a random template and random synonyms.

    Returns the captions and the template index of each, shape (N,).
    """
    check_type("scenes", scenes, Scenes, "a Scenes (from sample_scenes)")
    check_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    n = len(scenes)
    template = rng.integers(0, len(TEMPLATES), n)

    def pick(concept: np.ndarray, names: Sequence[str], words: dict[str, tuple[str, ...]]) -> np.ndarray:
        table, count = _word_table(names, words)
        synonym = (rng.random(n) * count[concept]).astype(np.int64)  # uniform over that concept's synonyms
        return table[concept, synonym]  # (N,) of str

    color = pick(scenes.color, COLOR_NAMES, COLOR_WORDS)
    shape = pick(scenes.shape, SHAPES, SHAPE_WORDS)
    size = pick(scenes.size, SIZES, SIZE_WORDS)
    position = pick(scenes.position, POSITIONS, POSITION_WORDS)
    captions = [
        TEMPLATES[t].format(color=c, shape=s, size=z, position=p)
        for t, c, s, z, p in zip(template.tolist(), color, shape, size, position)
    ]
    captions = _AN_RE.sub("an ", "\n".join(captions)).split("\n") if n else []
    return captions, template


def shapesworld_vocab() -> Vocab:
    """The vocabulary of every word any template or synonym can produce, sorted.

    It depends only on the constants, so train, test and held-out data share it.
    """
    texts = [re.sub(r"\{\w+\}", " ", t) for t in TEMPLATES] + ["an"]
    for words in (COLOR_WORDS, SHAPE_WORDS, SIZE_WORDS, POSITION_WORDS):
        texts += [w for ws in words.values() for w in ws]
    return Vocab.build(texts)


# ----- step 4 (optional): render tones -------------------------------------------------------------
def render_tones(
    scenes: Scenes,
    audio_len: int = AUDIO_LEN,
    sample_rate: int = SAMPLE_RATE,
    audio_noise: float = 0.05,
    generator: torch.Generator | None = None,
    chunk_size: int = 2048,
) -> torch.Tensor:
    """One tone per scene, float32 waveforms of shape (N, audio_len).

    Pitch codes the color (`PITCH_HZ`, +-1% jitter), loudness the size (`LOUDNESS`), timbre
    the shape (`TIMBRES`: harmonic amplitudes, those above Nyquist dropped, normalized to equal
    power); random phase, 10 ms fades, and Gaussian noise of std `audio_noise`.
    """
    check_type("scenes", scenes, Scenes, "a Scenes (from sample_scenes)")
    L = check_int("audio_len", audio_len, min=16)
    sr = check_int("sample_rate", sample_rate, min=MIN_SAMPLE_RATE)
    audio_noise = check_number("audio_noise", audio_noise, min=0)
    chunk_size = check_int("chunk_size", chunk_size, min=1)
    check_type("generator", generator, torch.Generator, "a torch.Generator (tones have random phase and pitch jitter)")
    n = len(scenes)
    pitch = torch.tensor([PITCH_HZ[c] for c in COLOR_NAMES], dtype=torch.float64)[torch.as_tensor(scenes.color)]
    f0 = pitch * (1 + PITCH_JITTER * (2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1))  # (N,)
    phase = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)  # (N,)
    K = len(TIMBRES["circle"])
    k = torch.arange(1, K + 1, dtype=torch.float64)  # (K,) harmonic numbers
    amp = torch.tensor([TIMBRES[s] for s in SHAPES], dtype=torch.float64)[torch.as_tensor(scenes.shape)]  # (N, K)
    amp = amp * (k * f0[:, None] < sr / 2)  # drop harmonics above Nyquist
    amp = amp / amp.norm(dim=1, keepdim=True)  # equal power for every timbre
    amp = (amp * torch.tensor(LOUDNESS, dtype=torch.float64)[torch.as_tensor(scenes.size)][:, None]).float()
    t = torch.arange(L, dtype=torch.float64) / sr  # (L,)
    fade = torch.clamp(torch.minimum(t, t[-1] - t) / FADE_S, max=1.0).float()  # (L,)
    audio = torch.empty(n, L)  # (N, L)
    for lo in range(0, n, chunk_size):
        sl = slice(lo, min(lo + chunk_size, n))
        theta = torch.remainder(2 * math.pi * f0[sl, None] * t + phase[sl, None], 2 * math.pi).float()  # (m, L)
        wave = torch.zeros_like(theta)  # (m, L)
        a = amp[sl]  # (m, K)
        for j in range(K):  # harmonic j + 1, only for the rows whose timbre has it
            rows = a[:, j].nonzero().squeeze(1)
            if len(rows):
                partial = a[rows, j : j + 1] * torch.sin((j + 1) * theta.index_select(0, rows))  # (r, L)
                wave.index_add_(0, rows, partial)
        wave.mul_(fade)  # fade in and out
        if audio_noise > 0:
            wave.add_(torch.randn(wave.shape, generator=generator), alpha=audio_noise)
        audio[sl] = wave
    return audio


# ----- the dataset -------------------------------------------------------------------------------
@dataclass
class ShapesWorldData:
    """All modalities and labels of a ShapesWorld sample set, as tensors."""

    images: torch.Tensor  # (N, 3, H, W) float32 in [0, 1]
    captions: list[str]  # N captions
    tokens: torch.Tensor  # (N, T) int64, padded with <pad>=0
    mask: torch.Tensor  # (N, T) bool, True on real tokens
    labels: dict[str, torch.Tensor]  # color, shape, size, position, vertical, template: (N,) int64
    vocab: Vocab
    audio: torch.Tensor | None = None  # (N, L) float32, with audio=True
    sample_rate: int | None = None
    info: dict[str, Any] = field(default_factory=dict)  # the arguments that made it

    def __post_init__(self) -> None:
        audio = {} if self.audio is None else {"audio": self.audio}
        check_same_length(images=self.images, captions=self.captions, tokens=self.tokens, mask=self.mask,
                          **{f"labels[{k!r}]": v for k, v in self.labels.items()}, **audio)

    def __len__(self) -> int:
        return len(self.captions)

    def subset(self, idx: Any) -> "ShapesWorldData":
        """The samples at `idx` (ints, a slice or a bool mask), as a new ShapesWorldData."""
        i = subset_index(idx, len(self))
        return ShapesWorldData(
            images=self.images[i],
            captions=[self.captions[j] for j in i.tolist()],
            tokens=self.tokens[i],
            mask=self.mask[i],
            labels={k: v[i] for k, v in self.labels.items()},
            vocab=self.vocab,
            audio=None if self.audio is None else self.audio[i],
            sample_rate=self.sample_rate,
            info=dict(self.info),
        )


def make_shapesworld(
    n: int,
    *,
    split: str = "train",
    seed: int = 0,
    image_size: int = 32,
    noise: float = 0.05,
    heldout_pairs: Sequence[tuple[str, str]] = HELDOUT_PAIRS,
    max_len: int | None = None,
    truncate: bool = False,
    audio: bool = False,
    audio_len: int = AUDIO_LEN,
    sample_rate: int = SAMPLE_RATE,
    audio_noise: float = 0.05,
) -> ShapesWorldData:
    """Generate `n` ShapesWorld samples: images, captions, tokens, labels (+ tones).

    `split` is "train" (never a pair of `heldout_pairs`), "heldout" (only those) or "all".
    Tokens are padded to `max_len`, by default `CAPTION_MAX_LEN` so every split shares T.
    The same arguments always give identical tensors and captions; each modality draws from
    its own random stream, so `audio=True` leaves images and captions unchanged.
    """
    n = check_int("n", n, min=0)
    seed = check_int("seed", seed, min=0)
    check_bool("audio", audio)
    max_len = CAPTION_MAX_LEN if max_len is None else check_int("max_len", max_len, min=1)
    # One independent stream per step. Child i of a SeedSequence depends only on (seed, i), so
    # a step added later (a fifth stream) leaves every existing modality exactly as it was.
    scene_seq, caption_seq, image_seq, audio_seq = np.random.SeedSequence(seed).spawn(4)

    scenes = sample_scenes(n, np.random.default_rng(scene_seq), split, heldout_pairs)
    images = render_images(scenes, image_size, noise, torch_generator(image_seq))
    captions, template = write_captions(scenes, np.random.default_rng(caption_seq))
    vocab = shapesworld_vocab()
    tokens, mask = vocab.encode(captions, max_len=max_len, truncate=truncate)
    tones = render_tones(scenes, audio_len, sample_rate, audio_noise, torch_generator(audio_seq)) if audio else None
    labels = {name: torch.as_tensor(getattr(scenes, name), dtype=torch.int64) for name in ATTRIBUTES}
    labels["template"] = torch.as_tensor(template, dtype=torch.int64)
    info = dict(split=split, seed=seed, image_size=image_size, noise=noise, heldout_pairs=tuple(heldout_pairs))
    return ShapesWorldData(images, captions, tokens, mask, labels, vocab, tones, sample_rate if audio else None, info)


def interaction_labels(data: ShapesWorldData) -> dict[str, torch.Tensor]:
    """Binary labels (N,) int64 with known modality interactions, see `INTERACTIONS`.

    - redundant:    color is warm (red, yellow, orange); both image and caption show color.
    - unique_image: the shape sits in the lower half (`vertical`); captions never say so.
    - unique_text:  the caption is a full sentence (templates 4-7); the image cannot tell.
    - synergy:      unique_image XOR unique_text; each modality alone is at chance (~50%).
    """
    check_type("data", data, ShapesWorldData, "a ShapesWorldData")
    warm = torch.tensor([c in WARM_COLORS for c in COLOR_NAMES])
    unique_image = (data.labels["vertical"] == VERTICALS.index("lower")).long()
    unique_text = torch.tensor(TEMPLATE_IS_SENTENCE)[data.labels["template"]].long()
    return {
        "redundant": warm[data.labels["color"]].long(),
        "unique_image": unique_image,
        "unique_text": unique_text,
        "synergy": unique_image ^ unique_text,
    }


class ShapesWorld(Dataset):
    """ShapesWorld as a torch Dataset of dict samples.

    `ShapesWorld(n, split="train", seed=0, target="shape", **kw)` calls `make_shapesworld(n,
    split=..., seed=..., **kw)`; `target` picks what `sample["label"]` holds: an attribute
    (`ATTRIBUTES`, "template") or an interaction label (`INTERACTIONS`). Each sample is
    `{"image": (3, H, W), "tokens": (T,), "mask": (T,), "color": (), ..., "label": ()}`
    plus `"audio": (L,)` when made with audio=True. The arrays live in `.data`.
    """

    def __init__(self, n: int, split: str = "train", seed: int = 0, target: str = "shape", **kw: Any):
        self._set(make_shapesworld(n, split=split, seed=seed, **kw), target)

    @classmethod
    def from_data(cls, data: ShapesWorldData, target: str = "shape") -> "ShapesWorld":
        """Wrap existing `ShapesWorldData` (e.g. a `.subset(...)`) without regenerating it."""
        check_type("data", data, ShapesWorldData, "a ShapesWorldData")
        self = cls.__new__(cls)
        self._set(data, target)
        return self

    def _set(self, data: ShapesWorldData, target: str) -> None:
        check_choice("target", target, (*data.labels, *INTERACTIONS))
        label = data.labels[target] if target in data.labels else interaction_labels(data)[target]
        self.data, self.target, self.labels = data, target, label

    @property
    def num_classes(self) -> int:
        """Number of classes of the target."""
        sizes = {"color": len(COLORS), "shape": len(SHAPES), "size": len(SIZES), "position": len(POSITIONS),
                 "vertical": len(VERTICALS), "template": len(TEMPLATES)}
        return sizes.get(self.target, 2)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        d = self.data
        item = {"image": d.images[i], "tokens": d.tokens[i], "mask": d.mask[i]}
        item.update({k: v[i] for k, v in d.labels.items()})
        if d.audio is not None:
            item["audio"] = d.audio[i]
        item["label"] = self.labels[i]
        return item


__all__ = [
    "ATTRIBUTES", "AUDIO_LEN", "CAPTION_MAX_LEN", "COLORS", "COLOR_NAMES", "COLOR_WORDS", "HELDOUT_PAIRS",
    "INTERACTIONS", "LOUDNESS", "PITCH_HZ", "POSITIONS", "POSITION_WORDS", "SAMPLE_RATE", "SHAPES",
    "SHAPE_WORDS", "SIZES", "SIZE_WORDS", "TEMPLATES", "TEMPLATE_IS_SENTENCE", "TIMBRES", "VERTICALS",
    "WARM_COLORS", "Scenes", "ShapesWorld", "ShapesWorldData", "allowed_pairs", "interaction_labels",
    "make_shapesworld", "pixel_centers", "render_images", "shape_coverage", "render_tones", "sample_scenes",
    "shapesworld_vocab", "write_captions",
]
