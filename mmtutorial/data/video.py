"""Moving ShapesWorld: short clips of two shapes with events, questions and captions.

Every clip holds two shapes of ShapesWorld (drawn with its signed distance functions, through
:func:`mmtutorial.data.multiobject.render_multi_object`) on a tinted background:

- the **actor**, a coloured shape that stays where it is and **changes colour** once
  (``change``: from one colour of `COLOR_NAMES` to another);
- the **visitor**, a white shape that **appears** (``appear``) or **leaves** (``leave``) once,
  and moves sideways; in half the clips it moves in the actor's row, runs into it and bounces
  back (``collide``), in the others it passes in the other half of the frame.

An event's frame is the first frame that shows it: the first frame of the new colour, the first
frame with (``appear``) or without (``leave``) the visitor, the frame of contact (``collide``).
Events are at least two frames apart.

**Time reversal.** A clip is first drawn forwards (the visitor always appears), then played
backwards with probability 1/2: an appearance becomes a leaving, a change from red to blue a
change from blue to red, a collision stays a collision. So the distribution of clips is exactly
symmetric under reversal, and any question whose answer flips under reversal ("did it turn red
then blue, or blue then red?") cannot be answered from the *set* of frames: the chapter
*Video: events, order and summaries* shows that pooling over time is at chance on it.

Each clip comes with the answers to `QUESTIONS` (two order-free, three order-dependent), the
per-frame facts a frame encoder can be taught (actor colour, visitor visible, touching), the
event frames (the ground truth of keyframe selection) and a **caption built from the events by
a template** ("a white shape appears then the red shape turns blue then they collide").

The generator is a pipeline of steps with one random stream each (`torch_generator`):

    sample_video_scripts  ->  render_video   (N, T, 3, H, W)
                          ->  write_video_captions   list[str] -> Vocab.encode -> tokens (N, L)

`load_video_folders` reads real clips stored as folders of frame images (or ``.npz`` files).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._checks import check_int, check_number, check_path, check_type
from .image_files import read_rgb
from .multiobject import MultiObjectScenes, render_multi_object
from .shapesworld import COLOR_JITTER, COLOR_NAMES, COLORS, SHAPES
from .splits import torch_generator
from .text import EOS, Vocab, tokenize

__all__ = [
    "COLOR_PAIRS", "EVENT_KINDS", "HALF_WIDTH", "OTHER_RGB", "QUESTIONS", "QUESTION_CLASSES", "VideoClips",
    "VideoFolders", "VideoScripts", "load_video_folders", "make_video_clips", "render_video",
    "sample_video_scripts", "video_vocab", "write_video_captions",
]

# ----- the world ----------------------------------------------------------------------------
EVENT_KINDS: tuple[str, ...] = ("appear", "change", "collide", "leave")
RADIUS = 0.26  # both shapes, in image units ([-1, 1] across)
ROW_Y = 0.45  # the two rows: y = -ROW_Y (upper) and +ROW_Y (lower)
# Horizontal half-width of each shape (in SHAPES order) in units of its radius, from the signed
# distance functions of ShapesWorld: two shapes side by side touch at a distance of
# RADIUS * (HALF_WIDTH[a] + HALF_WIDTH[b]) between their centres.
HALF_WIDTH: tuple[float, ...] = (1.0, 0.88, 1.17, 1.25, 1.0)
OTHER_RGB: tuple[float, float, float] = (0.95, 0.95, 0.95)  # the visitor is white
OFF_SCREEN = 10.0  # the x of a shape that is not there (its coverage is zero)

COLOR_PAIRS: tuple[tuple[int, int], ...] = tuple(itertools.combinations(range(len(COLORS)), 2))
# name -> (question, depends on the order of the frames?)
QUESTIONS: dict[str, tuple[str, bool]] = {
    "collide": ("did the two shapes collide?", False),
    "colors": ("which two colours did the actor show?", False),
    "color_order": ("did it turn red then blue, or blue then red? (which of its two colours came first)", True),
    "appear_or_leave": ("did the white shape appear or leave?", True),
    "change_first": ("which came first: the colour change or the white shape's appearing/leaving?", True),
}
QUESTION_CLASSES: dict[str, int] = {"collide": 2, "colors": len(COLOR_PAIRS), "color_order": 2,
                                    "appear_or_leave": 2, "change_first": 2}


# ----- step 1: scripts --------------------------------------------------------------------------
@dataclass
class VideoScripts:
    """What happens in N clips of T frames, as numpy arrays (before rendering)."""

    shape_actor: np.ndarray  # (N,) int index into SHAPES
    shape_other: np.ndarray  # (N,) int index into SHAPES, never the actor's
    color_before: np.ndarray  # (N,) int index into COLOR_NAMES: the actor's first colour
    color_after: np.ndarray  # (N,) int: its second colour (never the first)
    collide: np.ndarray  # (N,) bool: the visitor runs into the actor
    reversed: np.ndarray  # (N,) bool: the clip was drawn forwards, then played backwards
    t_change: np.ndarray  # (N,) int: first frame of the second colour
    t_other: np.ndarray  # (N,) int: first frame with (appear) or without (leave) the visitor
    t_collide: np.ndarray  # (N,) int: the frame of contact, -1 without collision
    frame_color: np.ndarray  # (N, T) int: the actor's colour in every frame
    visible: np.ndarray  # (N, T) bool: the visitor is in the frame
    touching: np.ndarray  # (N, T) bool: the shapes touch
    x: np.ndarray  # (N, T, 2) float: centres x of actor and visitor (OFF_SCREEN when absent)
    y: np.ndarray  # (N, 2) float: centres y of actor and visitor

    def __len__(self) -> int:
        return len(self.shape_actor)

    @property
    def n_frames(self) -> int:
        """T, the number of frames per clip."""
        return self.frame_color.shape[1]

    @property
    def appears(self) -> np.ndarray:
        """(N,) bool: the visitor appears (else it leaves)."""
        return ~self.reversed

    def events(self) -> list[list[tuple[int, str]]]:
        """Every clip's events as (frame, kind) pairs in the order they happen."""
        out = []
        for i in range(len(self)):
            ev = [(int(self.t_change[i]), "change"), (int(self.t_other[i]), "appear" if self.appears[i] else "leave")]
            if self.collide[i]:
                ev.append((int(self.t_collide[i]), "collide"))
            out.append(sorted(ev))
        return out

    def keyframes(self) -> np.ndarray:
        """(N, T) bool: True at every event's frame (the ground truth of keyframe selection)."""
        key = np.zeros(self.frame_color.shape, dtype=bool)
        rows = np.arange(len(self))
        key[rows, self.t_change] = True
        key[rows, self.t_other] = True
        key[rows[self.collide], self.t_collide[self.collide]] = True
        return key

    def answers(self) -> dict[str, np.ndarray]:
        """The answer class of each question of `QUESTIONS`, (N,) int each."""
        low = np.minimum(self.color_before, self.color_after)
        high = np.maximum(self.color_before, self.color_after)
        pair_index = {p: i for i, p in enumerate(COLOR_PAIRS)}
        return {
            "collide": self.collide.astype(np.int64),
            "colors": np.array([pair_index[(a, b)] for a, b in zip(low.tolist(), high.tolist())], dtype=np.int64),
            "color_order": (self.color_before < self.color_after).astype(np.int64),  # 1: the lower index first
            "appear_or_leave": self.appears.astype(np.int64),  # 1: appears
            "change_first": (self.t_change < self.t_other).astype(np.int64),
        }


def _draw_times(rng: np.random.Generator, T: int, collide: bool) -> tuple[int, int, int]:
    """Forward times (t_appear, t_change, t_collide) at least two frames apart."""
    while True:
        t_app = int(rng.integers(1, T - 3))  # in [1, T-4]: the visitor is seen for >= 4 frames
        t_ch = int(rng.integers(1, T))  # in [1, T-1]
        t_col = int(rng.integers(t_app + 2, T - 1)) if collide else -1  # in [t_app+2, T-2]
        # Played backwards a contact moves to T-1-t but a change to T-t: keep both gaps >= 2.
        if abs(t_ch - t_app) >= 2 and (not collide or min(abs(t_ch - t_col), abs(t_ch - t_col - 1)) >= 2):
            return t_app, t_ch, t_col


def sample_video_scripts(n: int, rng: np.random.Generator, n_frames: int = 10) -> VideoScripts:
    """Draw `n` clip scripts of `n_frames` frames: shapes, colours, event times and motion.

    Each is drawn forwards (the visitor appears at ``t_appear``), then half of them, chosen at
    random, are reversed in time: frame t becomes frame T-1-t, so an appearance at t becomes a
    leaving at T-t, a colour change at t a change back at T-t, a contact at t a contact at T-1-t.
    """
    n = check_int("n", n, min=0)
    check_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    T = check_int("n_frames", n_frames, min=8, max=64)
    shape_a = rng.integers(0, len(SHAPES), n)
    shape_b = (shape_a + rng.integers(1, len(SHAPES), n)) % len(SHAPES)  # a different shape
    c0 = rng.integers(0, len(COLORS), n)
    c1 = (c0 + rng.integers(1, len(COLORS), n)) % len(COLORS)  # a different colour
    collide = rng.random(n) < 0.5
    reverse = rng.random(n) < 0.5
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0)  # the visitor is on this side of the actor
    row = np.where(rng.random(n) < 0.5, -ROW_Y, ROW_Y)  # the actor's row
    t = np.arange(T)
    frame_color = np.empty((n, T), dtype=np.int64)
    visible = np.zeros((n, T), dtype=bool)
    touching = np.zeros((n, T), dtype=bool)
    x = np.full((n, T, 2), OFF_SCREEN)
    y = np.stack([row, np.where(collide, row, -row)], axis=1)  # (N, 2)
    t_change, t_other, t_collide = (np.empty(n, dtype=np.int64) for _ in range(3))
    for i in range(n):  # scalar draws per clip: a few thousand clips take milliseconds
        t_app, t_ch, t_col = _draw_times(rng, T, bool(collide[i]))
        frame_color[i] = np.where(t < t_ch, c0[i], c1[i])
        visible[i, t_app:] = True
        s = side[i]
        if collide[i]:
            contact = RADIUS * (HALF_WIDTH[shape_a[i]] + HALF_WIDTH[shape_b[i]])
            x_a = -s * rng.uniform(0.35, 0.55)
            reach = max(t_col - t_app, T - 1 - t_col)  # frames of travel away from the contact
            speed = min(0.25, (0.85 - s * x_a - contact) / reach)  # keeps the visitor inside
            x_b = x_a + s * (contact + speed * np.abs(t - t_col))
            touching[i, t_col] = True
        else:
            x_a = rng.uniform(-0.6, 0.6)
            speed = rng.uniform(0.06, 0.12) * s
            x_b = rng.uniform(-0.2, 0.2) + speed * (t - (t_app + T - 1) / 2)
        x[i, :, 0] = x_a
        x[i, :, 1] = np.where(visible[i], x_b, OFF_SCREEN)
        t_change[i], t_other[i], t_collide[i] = t_ch, t_app, t_col
    # Play half of the clips backwards.
    r = reverse
    for a in (frame_color, visible, touching, x):
        a[r] = a[r, ::-1]  # frame t becomes frame T-1-t
    color_before, color_after = np.where(r, c1, c0), np.where(r, c0, c1)
    t_change = np.where(r, T - t_change, t_change)
    t_other = np.where(r, T - t_other, t_other)
    t_collide = np.where(r & collide, T - 1 - t_collide, t_collide)
    return VideoScripts(shape_a, shape_b, color_before, color_after, collide, reverse, t_change, t_other, t_collide,
                        frame_color, visible, touching, x, y)


# ----- step 2: render ---------------------------------------------------------------------------
def render_video(scripts: VideoScripts, rng: np.random.Generator, image_size: int = 24, noise: float = 0.05,
                 generator: torch.Generator | None = None, flicker: float = 0.04) -> torch.Tensor:
    """Render every frame of every clip: float32 in [0, 1], shape (N, T, 3, H, W).

    One background (tinted gray with a gentle gradient, from `rng`) and one colour jitter per
    clip; every frame gets its own Gaussian pixel noise of std `noise` (from `generator`) and
    its own change of lighting, a brightness offset uniform in [-flicker, flicker] added to the
    whole frame (from `rng`): the light of real footage is never quite steady.
    """
    check_type("scripts", scripts, VideoScripts, "a VideoScripts (from sample_video_scripts)")
    check_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    H = check_int("image_size", image_size, min=8)
    noise = check_number("noise", noise, min=0)
    flicker = check_number("flicker", flicker, min=0, max=0.5)
    n, T = len(scripts), scripts.n_frames
    palette = np.array(list(COLORS.values()))  # (C, 3)
    jitter = rng.uniform(-COLOR_JITTER, COLOR_JITTER, (n, 1, 3))
    rgb_actor = np.clip(palette[scripts.frame_color] + jitter, 0.0, 1.0)  # (N, T, 3)
    rgb = np.stack([rgb_actor, np.broadcast_to(np.array(OTHER_RGB), (n, T, 3))], axis=2)  # (N, T, 2, 3)
    per_frame = lambda a: np.repeat(a, T, axis=0)  # noqa: E731  (N, ...) -> (N T, ...)
    shapes = np.stack([scripts.shape_actor, scripts.shape_other], axis=1)  # (N, 2)
    frames = MultiObjectScenes(
        color=per_frame(np.stack([scripts.color_before, scripts.color_before], axis=1)),  # unused by the renderer
        shape=per_frame(shapes), size=np.ones((n * T, 2), dtype=np.int64), radius=np.full((n * T, 2), RADIUS),
        cx=scripts.x.reshape(n * T, 2), cy=per_frame(scripts.y), rgb=rgb.reshape(n * T, 2, 3),
        bg_level=per_frame(rng.uniform(0.30, 0.60, n)), bg_tint=per_frame(rng.uniform(-0.06, 0.06, (n, 3))),
        bg_grad=per_frame(rng.uniform(-0.10, 0.10, (n, 2))),
    )
    images = render_multi_object(frames, H, noise, generator)  # (N T, 3, H, W)
    light = torch.as_tensor(rng.uniform(-flicker, flicker, (n * T, 1, 1, 1)), dtype=torch.float32)
    return images.add_(light).clamp_(0.0, 1.0).view(n, T, 3, H, H)


# ----- step 3: captions -------------------------------------------------------------------------
def _phrase(kind: str, scripts: VideoScripts, i: int) -> str:
    if kind == "change":
        return f"the {COLOR_NAMES[scripts.color_before[i]]} shape turns {COLOR_NAMES[scripts.color_after[i]]}"
    return {"appear": "a white shape appears", "leave": "the white shape leaves", "collide": "they collide"}[kind]


def write_video_captions(scripts: VideoScripts) -> list[str]:
    """One caption per clip, written from its events in the order they happen, by a fixed
    template per event ("a white shape appears then the red shape turns blue then they
    collide"). Deterministic: the same events always give the same words."""
    check_type("scripts", scripts, VideoScripts, "a VideoScripts (from sample_video_scripts)")
    return [" then ".join(_phrase(kind, scripts, i) for _, kind in ev) for i, ev in enumerate(scripts.events())]


def video_vocab() -> Vocab:
    """The caption vocabulary: the specials, then every word the templates can write (sorted)."""
    words = {"a", "the", "then", "shape", "turns", "white", "appears", "leaves", "they", "collide", *COLOR_NAMES}
    return Vocab(sorted(words))


CAPTION_MAX_LEN = 14  # the longest caption (13 words) and <eos>


# ----- the dataset ------------------------------------------------------------------------------
@dataclass
class VideoClips:
    """N rendered clips with their scripts, answers, keyframes and captions (see `make_video_clips`)."""

    frames: torch.Tensor  # (N, T, 3, H, W) float32 in [0, 1]
    scripts: VideoScripts
    answers: dict[str, torch.Tensor]  # question -> (N,) int64 answer class
    keyframes: torch.Tensor  # (N, T) bool: the event frames
    captions: list[str]
    tokens: torch.Tensor  # (N, L) int64: caption ids, <eos>, padding
    vocab: Vocab
    info: dict[str, Any]

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def frame_labels(self) -> dict[str, torch.Tensor]:
        """Per-frame facts (N, T): the actor's ``color`` (int), ``visible`` and ``touching`` (bool)."""
        s = self.scripts
        return {"color": torch.as_tensor(s.frame_color), "visible": torch.as_tensor(s.visible),
                "touching": torch.as_tensor(s.touching)}


def make_video_clips(n: int, *, seed: int = 0, n_frames: int = 10, image_size: int = 24,
                     noise: float = 0.05, flicker: float = 0.04) -> VideoClips:
    """Generate `n` clips of `n_frames` frames of `image_size` pixels.

    ``clips.frames`` (N, T, 3, H, W); ``clips.answers[q]`` (N,) for every question of
    `QUESTIONS`; ``clips.keyframes`` (N, T) the event frames; ``clips.captions`` and
    ``clips.tokens`` (N, CAPTION_MAX_LEN) the template captions (ids, then ``<eos>``, then
    padding). The same arguments always give identical tensors; each step has its own stream.
    """
    n = check_int("n", n, min=0)
    seed = check_int("seed", seed, min=0)
    script_seq, scene_seq, pixel_seq = np.random.SeedSequence(seed).spawn(3)
    scripts = sample_video_scripts(n, np.random.default_rng(script_seq), n_frames)
    frames = render_video(scripts, np.random.default_rng(scene_seq), image_size, noise, torch_generator(pixel_seq),
                          flicker)
    captions = write_video_captions(scripts)
    vocab = video_vocab()
    tokens, _ = vocab.encode([tokenize(c) + [EOS] for c in captions], max_len=CAPTION_MAX_LEN)  # ids, <eos>, padding
    answers = {k: torch.as_tensor(v) for k, v in scripts.answers().items()}
    info = dict(seed=seed, n_frames=n_frames, image_size=image_size, noise=noise, flicker=flicker)
    return VideoClips(frames, scripts, answers, torch.as_tensor(scripts.keyframes()), captions, tokens, vocab, info)


# ----- real data: clips as folders of frames -----------------------------------------------------
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class VideoFolders:
    """Real clips read by `load_video_folders`: frames (N, T, 3, S, S), a label per clip."""

    frames: torch.Tensor  # (N, T, 3, S, S) float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64 index into classes
    classes: list[str]
    names: list[str]  # the clip's folder or file name, "class/clip"

    def __len__(self) -> int:
        return len(self.frames)


def _even_indices(total: int, n_frames: int) -> np.ndarray:
    """`n_frames` indices spread evenly over `total` frames (centres of equal segments)."""
    return np.minimum(((np.arange(n_frames) + 0.5) * total / n_frames).astype(np.int64), total - 1)


def _read_npz(file: Path, n_frames: int, image_size: int) -> torch.Tensor:
    with np.load(file, allow_pickle=False) as z:
        if "frames" not in z:
            raise ValueError(f"{file} must hold an array 'frames' (T, H, W, 3) of uint8, got keys {list(z.keys())}")
        video = z["frames"]
    if video.ndim != 4 or video.shape[-1] != 3 or video.shape[0] == 0:
        raise ValueError(f"{file}: 'frames' must have shape (T, H, W, 3) with T >= 1, got {video.shape}")
    picked = torch.as_tensor(video[_even_indices(len(video), n_frames)]).permute(0, 3, 1, 2).float() / 255.0
    return torch.nn.functional.interpolate(picked, size=(image_size, image_size), mode="bilinear",
                                           align_corners=False).clamp_(0.0, 1.0)  # (T, 3, S, S)


def load_video_folders(root: str | os.PathLike, *, n_frames: int = 12, image_size: int = 24,
                       max_per_class: int | None = None) -> VideoFolders:
    """Read labelled clips from ``root/<class>/<clip>``, where a clip is a folder of frame images
    (``.jpg``/``.png``, in the order of their sorted names, as ``ffmpeg -i clip.avi %05d.jpg``
    writes them) or an ``.npz`` file with an array ``frames`` (T, H, W, 3) of uint8.

    Each clip gives `n_frames` frames spread evenly over its length, resized to `image_size`;
    classes are the sorted folder names. `max_per_class` keeps the first clips of each class.
    """
    root = Path(check_path("root", root))
    n_frames = check_int("n_frames", n_frames, min=1)
    image_size = check_int("image_size", image_size, min=8)
    if max_per_class is not None:
        max_per_class = check_int("max_per_class", max_per_class, min=1)
    if not root.is_dir():
        raise FileNotFoundError(f"root must be a folder of class folders, {str(root)!r} is not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"root {str(root)!r} holds no class folders")
    videos, labels, names = [], [], []
    for c, name in enumerate(classes):
        clips = sorted(p for p in (root / name).iterdir() if p.is_dir() or p.suffix == ".npz")
        for clip in clips[:max_per_class]:
            if clip.is_dir():
                files = sorted(f for f in clip.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
                if not files:
                    raise ValueError(f"clip folder {str(clip)!r} holds no frame images {IMAGE_SUFFIXES}")
                video = torch.stack([read_rgb(files[k], image_size) for k in _even_indices(len(files), n_frames)])
            else:
                video = _read_npz(clip, n_frames, image_size)
            videos.append(video)
            labels.append(c)
            names.append(f"{name}/{clip.name}")
    if not videos:
        raise ValueError(f"root {str(root)!r}: the class folders hold no clips")
    return VideoFolders(torch.stack(videos), torch.tensor(labels, dtype=torch.int64), classes, names)
