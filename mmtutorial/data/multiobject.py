"""Multi-object ShapesWorld: scenes of several shapes, and questions about them.

A scene holds ``n_objects`` shapes (2 or 3 fit a 32×32 image) of the ShapesWorld world
(`COLORS`, `SHAPES`, `SIZES` of :mod:`mmtutorial.data.shapesworld`, drawn with its signed
distance functions). Within a scene the shapes are all *different* (so "the circle" names
exactly one object) and never overlap or touch. Each scene comes with one question about one
of its objects, "what color is the circle ?", whose answer is that object's color.

Answering needs **binding**: the color must be read at the place where the named shape is.
Pooling the image's features over space keeps *which* colors and shapes are present but loses
which goes with which; the chapter *Attention, gating and conditioning: fusion that chooses*
measures it. The layout is built to grow: per-object attributes are arrays (N, K), a question
is a kind, a target object and an answer index into `ANSWERS`; more question kinds append
their answers to `ANSWERS` without moving the existing ones.

The generator is the ShapesWorld pipeline, one random stream per step:

    sample_multi_object_scenes  ->  render_multi_object   (N, 3, H, W)
                                ->  write_questions       list[str] -> Vocab.encode -> tokens (N, T)

`load_clevr_questions` reads the real counterpart, CLEVR's questions and images, from a local
copy, in the same layout (images, question tokens, answer indices).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .._checks import check_choice, check_int, check_number, check_path, check_same_length, check_type
from .image_files import read_rgb
from .shapesworld import COLOR_NAMES, COLORS, COLOR_JITTER, SHAPES, SIZES, pixel_centers, shape_coverage
from .splits import subset_index, torch_generator
from .text import Vocab, tokenize

__all__ = [
    "ANSWERS", "DEFAULT_SCALE", "EXTENT", "MAX_OBJECTS", "OBJECT_ATTRIBUTES", "OBJECT_RADIUS", "QUESTION_KINDS",
    "QUESTION_MAX_LEN", "QUESTION_TEMPLATES", "ClevrQuestions", "MultiObjectData", "MultiObjectScenes",
    "load_clevr_questions", "make_multi_object", "multi_object_vocab", "object_coverage",
    "render_multi_object", "sample_multi_object_scenes", "write_questions",
]

# ----- the world ----------------------------------------------------------------------------
# Smaller than single-object ShapesWorld's radii, so that three shapes fit side by side.
OBJECT_RADIUS: tuple[float, ...] = (0.26, 0.32, 0.38)  # per size, in image units ([-1, 1] across)
EXTENT = 1.35  # a shape of radius r lies within 1.35 r of its center (the triangle's circumradius)
GAP = 0.10  # the least distance between two shapes' enclosing circles
MARGIN = 0.04  # the least distance between a shape's enclosing circle and the image border
MAX_OBJECTS = 3  # what the sampler places without overlap at the default scales
DEFAULT_SCALE: dict[int, float] = {1: 1.0, 2: 1.0, 3: 0.7}  # radius scale per number of objects, so they fit
OBJECT_ATTRIBUTES: tuple[str, ...] = ("color", "shape", "size", "position")

# ----- questions ----------------------------------------------------------------------------
QUESTION_KINDS: tuple[str, ...] = ("color",)  # what a question asks about its target object
QUESTION_TEMPLATES: dict[str, str] = {"color": "what color is the {shape} ?"}
ANSWERS: tuple[str, ...] = COLOR_NAMES  # answer classes; later kinds append theirs
QUESTION_MAX_LEN: int = max(len(tokenize(t.format(shape=s))) for t in QUESTION_TEMPLATES.values() for s in SHAPES)


# ----- step 1: sample the scenes ---------------------------------------------------------------
@dataclass
class MultiObjectScenes:
    """Latent description of N scenes of K objects each, as numpy arrays."""

    color: np.ndarray  # (N, K) int index into COLOR_NAMES
    shape: np.ndarray  # (N, K) int index into SHAPES, distinct within a row
    size: np.ndarray  # (N, K) int index into SIZES
    radius: np.ndarray  # (N, K) float radius in image units
    cx: np.ndarray  # (N, K) float center x in [-1, 1]
    cy: np.ndarray  # (N, K) float center y in [-1, 1] (down)
    rgb: np.ndarray  # (N, K, 3) object color after jitter
    bg_level: np.ndarray  # (N,) background gray level
    bg_tint: np.ndarray  # (N, 3) background color tint
    bg_grad: np.ndarray  # (N, 2) background linear gradient (x, y)

    def __post_init__(self) -> None:
        check_same_length(**vars(self))
        K = np.shape(self.color)[1] if np.ndim(self.color) == 2 else None
        for name in ("color", "shape", "size", "radius", "cx", "cy"):
            if np.ndim(getattr(self, name)) != 2 or np.shape(getattr(self, name))[1] != K:
                raise ValueError(f"MultiObjectScenes.{name} must have shape (N, K) like color, "
                                 f"got {np.shape(getattr(self, name))}")

    def __len__(self) -> int:
        return len(self.color)

    @property
    def n_objects(self) -> int:
        """K, the number of objects per scene."""
        return self.color.shape[1]

    @property
    def position(self) -> np.ndarray:
        """(N, K) int index into POSITIONS: the third of the image (left, center, right) of each center."""
        return np.digitize(self.cx, [-1 / 3, 1 / 3])


def sample_multi_object_scenes(n: int, n_objects: int, rng: np.random.Generator, scale: float | None = None,
                               max_rounds: int = 200) -> MultiObjectScenes:
    """Draw `n` scenes of `n_objects` distinct, non-overlapping shapes.

    Colors are uniform and independent (two objects may share a color); the shapes of a scene
    are a uniformly random choice of distinct ones. Sizes are uniform and centers uniform where
    the shape fits the image; a scene where two enclosing circles come closer than `GAP` draws
    its sizes and centers again (all such scenes at once), for up to `max_rounds` rounds. So
    in crowded scenes large shapes are a little rarer than 1 in 3. Radii are `OBJECT_RADIUS`
    times `scale` (default: `DEFAULT_SCALE[n_objects]`, smaller for three objects).
    """
    n = check_int("n", n, min=0)
    K = check_int("n_objects", n_objects, min=1, max=MAX_OBJECTS)
    check_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    max_rounds = check_int("max_rounds", max_rounds, min=1)
    scale = DEFAULT_SCALE[K] if scale is None else check_number("scale", scale, above=0, max=1)
    color = rng.integers(0, len(COLORS), (n, K))
    shape = np.argsort(rng.random((n, len(SHAPES))), axis=1)[:, :K]  # (N, K) distinct: a random permutation's head
    size = np.empty((n, K), dtype=np.int64)
    extent = np.empty((n, K))
    cx, cy = np.empty((n, K)), np.empty((n, K))
    todo = np.arange(n)
    for _ in range(max_rounds):
        size[todo] = rng.integers(0, len(SIZES), (len(todo), K))
        extent[todo] = EXTENT * scale * np.array(OBJECT_RADIUS)[size[todo]]  # (m, K) enclosing radius
        room = 1.0 - MARGIN - extent[todo]  # (m, K) the center may lie in [-room, room]
        cx[todo] = rng.uniform(-1, 1, room.shape) * room
        cy[todo] = rng.uniform(-1, 1, room.shape) * room
        dist = np.hypot(cx[todo, :, None] - cx[todo, None, :], cy[todo, :, None] - cy[todo, None, :])  # (m, K, K)
        need = extent[todo, :, None] + extent[todo, None, :] + GAP  # (m, K, K)
        clash = (dist < need) & ~np.eye(K, dtype=bool)
        todo = todo[clash.any(axis=(1, 2))]
        if len(todo) == 0:
            break
    else:
        raise RuntimeError(f"could not place {K} objects without overlap in {len(todo)} scenes")
    base_rgb = np.array(list(COLORS.values()))[color]  # (N, K, 3)
    return MultiObjectScenes(
        color=color, shape=shape, size=size, radius=extent / EXTENT, cx=cx, cy=cy,
        rgb=np.clip(base_rgb + rng.uniform(-COLOR_JITTER, COLOR_JITTER, (n, K, 3)), 0.0, 1.0),
        bg_level=rng.uniform(0.30, 0.60, n),
        bg_tint=rng.uniform(-0.06, 0.06, (n, 3)),
        bg_grad=rng.uniform(-0.10, 0.10, (n, 2)),
    )


# ----- step 2: render ---------------------------------------------------------------------------
def object_coverage(objects: MultiObjectScenes | Mapping[str, Any], image_size: int = 32) -> torch.Tensor:
    """How much of each pixel every object covers, in [0, 1], shape (N, K, H, W).

    `objects`: a `MultiObjectScenes`, or a dict with ``shape``, ``cx``, ``cy`` and ``radius``
    of shape (N, K) such as ``MultiObjectData.objects``. Objects never overlap, so at most one
    of the K maps is nonzero at each pixel.
    """
    if isinstance(objects, MultiObjectScenes):
        objects = {k: getattr(objects, k) for k in ("shape", "cx", "cy", "radius")}
    check_type("objects", objects, Mapping, "a MultiObjectScenes or a dict of (N, K) arrays")
    missing = [k for k in ("shape", "cx", "cy", "radius") if k not in objects]
    if missing:
        raise ValueError(f"objects must have the keys 'shape', 'cx', 'cy' and 'radius', missing {missing}")
    n, K = np.shape(objects["shape"])
    flat = lambda k, dtype: torch.as_tensor(np.asarray(objects[k]), dtype=dtype).reshape(-1)  # noqa: E731  (N K,)
    cover = shape_coverage(flat("shape", torch.int64), flat("cx", torch.float32), flat("cy", torch.float32),
                           flat("radius", torch.float32), image_size)  # (N K, H, W)
    return cover.view(n, K, image_size, image_size)


def render_multi_object(scenes: MultiObjectScenes, image_size: int = 32, noise: float = 0.05,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """Render the scenes into float32 images in [0, 1], shape (N, 3, H, W).

    The ShapesWorld recipe: a tinted gray background with a gentle gradient, each object an
    anti-aliased mask of its color over it (they never overlap, so the order does not matter),
    then Gaussian pixel noise of std `noise`.
    """
    check_type("scenes", scenes, MultiObjectScenes, "a MultiObjectScenes")
    H = check_int("image_size", image_size, min=8)
    noise = check_number("noise", noise, min=0)
    if noise > 0:
        check_type("generator", generator, torch.Generator, "a torch.Generator when noise > 0")
    n = len(scenes)
    f32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    coords = pixel_centers(H)
    grad = f32(scenes.bg_grad)  # (N, 2)
    ramp = grad[:, 0].view(n, 1, 1, 1) * coords.view(1, 1, 1, H) + grad[:, 1].view(n, 1, 1, 1) * coords.view(1, 1, H, 1)
    flat = f32(scenes.bg_level).view(n, 1, 1, 1) + f32(scenes.bg_tint).view(n, 3, 1, 1)  # (N, 3, 1, 1)
    images = (flat + ramp).expand(n, 3, H, H).clone()  # (N, 3, H, W) the background
    cover = object_coverage(scenes, H)  # (N, K, H, W)
    rgb = f32(scenes.rgb)  # (N, K, 3)
    for k in range(scenes.n_objects):
        c = cover[:, k : k + 1]  # (N, 1, H, W)
        images = images * (1 - c) + rgb[:, k].view(n, 3, 1, 1) * c
    if noise > 0:
        images += noise * torch.randn(images.shape, generator=generator)
    return images.clamp_(0.0, 1.0)


# ----- step 3: questions ------------------------------------------------------------------------
def write_questions(scenes: MultiObjectScenes, rng: np.random.Generator,
                    kinds: Sequence[str] = QUESTION_KINDS) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """One question per scene about one random object of it.

    Returns the questions, the kind of each (N,) as an index into `kinds`, the target object
    (N,) in [0, K) and the answer (N,) as an index into `ANSWERS`.
    """
    check_type("scenes", scenes, MultiObjectScenes, "a MultiObjectScenes")
    check_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    if isinstance(kinds, str) or not kinds:
        raise ValueError(f"kinds must be a non-empty list of question kinds from {QUESTION_KINDS}, got {kinds!r}")
    kinds = [check_choice("kinds", k, QUESTION_KINDS) for k in kinds]
    n = len(scenes)
    kind = rng.integers(0, len(kinds), n)
    target = rng.integers(0, scenes.n_objects, n)
    rows = np.arange(n)
    shape = scenes.shape[rows, target]  # (N,)
    questions = [QUESTION_TEMPLATES[kinds[q]].format(shape=SHAPES[s]) for q, s in zip(kind.tolist(), shape.tolist())]
    answer = scenes.color[rows, target]  # every kind so far asks for the color
    return questions, kind, target, answer


def multi_object_vocab() -> Vocab:
    """The vocabulary of every word a question can hold, sorted (it depends on the constants only)."""
    return Vocab.build(t.format(shape=s) for t in QUESTION_TEMPLATES.values() for s in SHAPES)


# ----- the dataset ------------------------------------------------------------------------------
@dataclass
class MultiObjectData:
    """Images, questions and answers of a multi-object set, with every object's attributes."""

    images: torch.Tensor  # (N, 3, H, W) float32 in [0, 1]
    questions: list[str]  # N questions
    tokens: torch.Tensor  # (N, T) int64, padded with <pad>=0
    mask: torch.Tensor  # (N, T) bool, True on real tokens
    answers: torch.Tensor  # (N,) int64 index into answer_names
    target: torch.Tensor  # (N,) int64: which object (0..K-1) the question is about
    objects: dict[str, torch.Tensor]  # color, shape, size, position (N, K) int64; cx, cy, radius (N, K) float32
    vocab: Vocab
    answer_names: tuple[str, ...] = ANSWERS
    info: dict[str, Any] = field(default_factory=dict)  # the arguments that made it

    def __post_init__(self) -> None:
        check_same_length(images=self.images, questions=self.questions, tokens=self.tokens, mask=self.mask,
                          answers=self.answers, target=self.target,
                          **{f"objects[{k!r}]": v for k, v in self.objects.items()})

    def __len__(self) -> int:
        return len(self.questions)

    @property
    def n_objects(self) -> int:
        """K, the number of objects per scene."""
        return self.objects["color"].shape[1]

    def subset(self, idx: Any) -> "MultiObjectData":
        """The samples at `idx` (ints, a slice or a bool mask), as a new MultiObjectData."""
        i = subset_index(idx, len(self))
        return MultiObjectData(
            images=self.images[i], questions=[self.questions[j] for j in i.tolist()], tokens=self.tokens[i],
            mask=self.mask[i], answers=self.answers[i], target=self.target[i],
            objects={k: v[i] for k, v in self.objects.items()}, vocab=self.vocab,
            answer_names=self.answer_names, info=dict(self.info),
        )


def make_multi_object(
    n: int,
    n_objects: int = 2,
    *,
    seed: int = 0,
    image_size: int = 32,
    noise: float = 0.05,
    scale: float | None = None,
    max_len: int | None = None,
) -> MultiObjectData:
    """Generate `n` scenes of `n_objects` shapes with one question each.

    ``data.images`` (N, 3, H, W); ``data.tokens``/``data.mask`` (N, T) the question, padded to
    `max_len` (default `QUESTION_MAX_LEN`); ``data.answers`` (N,) the answer class
    (`ANSWERS`: the asked object's color); ``data.target`` (N,) the asked object;
    ``data.objects`` every object's color, shape, size, position (N, K), its center ``cx``, ``cy``
    and ``radius``. `scale` multiplies the radii (default `DEFAULT_SCALE[n_objects]`).
    The same arguments always give identical tensors; each step draws from its own stream.
    """
    n = check_int("n", n, min=0)
    n_objects = check_int("n_objects", n_objects, min=1, max=MAX_OBJECTS)
    seed = check_int("seed", seed, min=0)
    max_len = QUESTION_MAX_LEN if max_len is None else check_int("max_len", max_len, min=1)
    scene_seq, question_seq, image_seq = np.random.SeedSequence(seed).spawn(3)

    scenes = sample_multi_object_scenes(n, n_objects, np.random.default_rng(scene_seq), scale)
    images = render_multi_object(scenes, image_size, noise, torch_generator(image_seq))
    questions, _, target, answer = write_questions(scenes, np.random.default_rng(question_seq))
    vocab = multi_object_vocab()
    tokens, mask = vocab.encode(questions, max_len=max_len)
    objects = {name: torch.as_tensor(getattr(scenes, name), dtype=torch.int64) for name in OBJECT_ATTRIBUTES}
    objects.update({k: torch.as_tensor(getattr(scenes, k), dtype=torch.float32) for k in ("cx", "cy", "radius")})
    info = dict(n_objects=n_objects, seed=seed, image_size=image_size, noise=noise, scale=scale)
    return MultiObjectData(images, questions, tokens, mask, torch.as_tensor(answer, dtype=torch.int64),
                           torch.as_tensor(target, dtype=torch.int64), objects, vocab, ANSWERS, info)


# ----- real data: CLEVR ---------------------------------------------------------------------------
@dataclass
class ClevrQuestions:
    """Questions about images, each image stored once: the layout of CLEVR and GQA."""

    images: torch.Tensor  # (M, 3, S, S) float32 in [0, 1], one per distinct image
    image_index: torch.Tensor  # (N,) int64: the image each question is about
    questions: list[str]  # N questions
    answers: list[str]  # N answers (words)
    image_files: list[str]  # M file names

    def __post_init__(self) -> None:
        check_same_length(image_index=self.image_index, questions=self.questions, answers=self.answers)
        check_same_length(images=self.images, image_files=self.image_files)

    def __len__(self) -> int:
        return len(self.questions)


def load_clevr_questions(root: str | os.PathLike, split: str = "val", *, max_questions: int | None = None,
                         image_size: int = 64) -> ClevrQuestions:
    """Read CLEVR's questions and their images from a local copy of ``CLEVR_v1.0``.

    The files: ``root/questions/CLEVR_{split}_questions.json`` holding ``{"questions": [{"image_filename":
    ..., "question": ..., "answer": ...}, ...]}`` and the images ``root/images/{split}/{image_filename}``
    (PNG). The first `max_questions` questions are kept (all by default); each image they need
    is read once, converted to RGB and resized to `image_size` × `image_size`.
    """
    root = Path(check_path("root", root))
    split = check_choice("split", split, ("train", "val", "test"))
    image_size = check_int("image_size", image_size, min=8)
    if max_questions is not None:
        max_questions = check_int("max_questions", max_questions, min=1)
    path = root / "questions" / f"CLEVR_{split}_questions.json"
    if not path.is_file():
        raise FileNotFoundError(f"no CLEVR questions at {path}: root must be the CLEVR_v1.0 folder")
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    if not isinstance(records, dict) or not isinstance(records.get("questions"), list):
        raise ValueError(f"{path} must hold an object with a list 'questions', as CLEVR's files do")
    records = records["questions"][:max_questions]
    files: dict[str, int] = {}
    for i, r in enumerate(records):
        if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in ("image_filename", "question", "answer")):
            raise ValueError(f"{path}: question {i} must have the strings 'image_filename', 'question' and 'answer'"
                             " (the test split has no answers)")
        files.setdefault(r["image_filename"], len(files))
    images = torch.empty(len(files), 3, image_size, image_size)
    for name, j in files.items():
        images[j] = read_rgb(root / "images" / split / name, image_size)
    return ClevrQuestions(
        images=images,
        image_index=torch.tensor([files[r["image_filename"]] for r in records], dtype=torch.int64),
        questions=[r["question"] for r in records],
        answers=[r["answer"] for r in records],
        image_files=list(files),
    )
