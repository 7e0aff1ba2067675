"""Visual question answering: question kinds on multi-object scenes, and the models that answer.

The chapter *Reading and answering: text in images and visual question answering* asks four
kinds of question about ShapesWorld scenes of two or three objects
(:mod:`mmtutorial.data.multiobject` draws and renders the scenes):

=========  =====================================  ==========================
kind       template                               answers
=========  =====================================  ==========================
color      what color is the {shape} ?            the six colour names
shape      what shape is the {color} object ?     the five shape names
count      how many {color} objects are there ?   0, 1, 2, 3
position   is the {shape} left of the {other} ?   no, yes
=========  =====================================  ==========================

`VQA_ANSWERS` starts with `multiobject.ANSWERS` (the colours, in the same order) and appends
the new kinds' answers, as that module's layout intends. `make_vqa` mixes scenes of two and three
objects and labels every cell of a 4×4 grid with what covers it.

The models read *image features*, one token per cell (B, S, D), rather than pixels:
`SceneTagger` is a CNN trained on the cell labels, and its `features` (each cell's colour and
shape, one-hot) are what the answerers read. Three answerers share one interface,
``model(features, tokens, mask) -> logits (B, len(VQA_ANSWERS))``:

- `FusedVQA`: each word of the question is a query that reads the cells (with their
  coordinates) through `mmtutorial.fusion.CrossAttention`; an MLP answers from what the words
  read and the question's GRU encoding.
- `QuestionOnlyVQA` (a *blind* model: the answer priors of each question) and
  `ImageOnlyVQA` (a *deaf* model: it never sees the question), the two baselines.

`accuracy_by_kind` scores predictions per question kind. `TextReader` is the chapter's
CNN + CTC reader of words rendered by :mod:`mmtutorial.data.words`. The forward passes check
shapes and dtypes only (no GPU synchronization).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_int, check_number, check_same_length, check_tensor, check_type
from .data.multiobject import (
    ANSWERS,
    MAX_OBJECTS,
    MultiObjectScenes,
    object_coverage,
    render_multi_object,
    sample_multi_object_scenes,
)
from .data.shapesworld import COLOR_NAMES, SHAPES
from .data.splits import subset_index, torch_generator
from .data.text import Vocab, tokenize
from .encoders.image import ConvEncoder
from .encoders.text import RNNEncoder
from .fusion import CrossAttention

__all__ = [
    "COUNT_ANSWERS", "VQA_ANSWERS", "VQA_KINDS", "VQA_MAX_LEN", "VQA_TEMPLATES", "YES_NO",
    "FusedVQA", "ImageOnlyVQA", "QuestionOnlyVQA", "SceneTagger", "TextReader", "VQAData",
    "accuracy_by_kind", "answer_ids", "coordinate_grid", "make_vqa", "vqa_vocab", "write_vqa_questions",
]

# ----- question kinds ---------------------------------------------------------------------------
VQA_KINDS: tuple[str, ...] = ("color", "shape", "count", "position")
VQA_TEMPLATES: dict[str, str] = {
    "color": "what color is the {shape} ?",  # the same template as multiobject's color questions
    "shape": "what shape is the {color} object ?",
    "count": "how many {color} objects are there ?",
    "position": "is the {shape} left of the {other} ?",
}
COUNT_ANSWERS: tuple[str, ...] = tuple(str(k) for k in range(MAX_OBJECTS + 1))  # "0" .. "3"
YES_NO: tuple[str, ...] = ("no", "yes")
VQA_ANSWERS: tuple[str, ...] = ANSWERS + SHAPES + COUNT_ANSWERS + YES_NO  # the colours keep their indices
VQA_MAX_LEN: int = max(len(tokenize(t.format(shape="x", other="x", color="x"))) for t in VQA_TEMPLATES.values())


def answer_ids(kind: str) -> list[int]:
    """The indices into `VQA_ANSWERS` of the answers a question of `kind` can have."""
    kind = check_choice("kind", kind, VQA_KINDS)
    names = {"color": COLOR_NAMES, "shape": SHAPES, "count": COUNT_ANSWERS, "position": YES_NO}[kind]
    start = {"color": 0, "shape": len(ANSWERS), "count": len(ANSWERS) + len(SHAPES),
             "position": len(ANSWERS) + len(SHAPES) + len(COUNT_ANSWERS)}[kind]
    return list(range(start, start + len(names)))


def write_vqa_questions(scenes: MultiObjectScenes, rng: np.random.Generator,
                        kinds: Sequence[str] = VQA_KINDS) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One question per scene, its kind drawn uniformly from `kinds`.

    Returns the questions, the kind (N,) as an index into `VQA_KINDS` and the answer (N,) as an
    index into `VQA_ANSWERS`. How each kind picks its words:

    - color: a random object; its shape names it, its colour is the answer.
    - shape: a random object among those whose colour no other object of the scene has (so
      "the red object" names one object); a scene where every colour is shared (two objects
      of one colour) gets a colour question instead.
    - count: half the time the colour of a random object of the scene, else a colour drawn
      uniformly; the answer is how many objects have it (so 0, 1, 2 and 3 all occur).
    - position: two different objects in random order; "yes" if the first one's center lies
      left of the second's.
    """
    check_type("scenes", scenes, MultiObjectScenes, "a MultiObjectScenes")
    check_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    if isinstance(kinds, str) or not kinds:
        raise ValueError(f"kinds must be a non-empty list of question kinds from {VQA_KINDS}, got {kinds!r}")
    kind_ids = np.array([VQA_KINDS.index(check_choice("kinds", k, VQA_KINDS)) for k in kinds])
    n, K = len(scenes), scenes.n_objects
    if "position" in kinds and K < 2:
        raise ValueError(f"position questions need scenes of at least 2 objects, got {K}")
    kind = kind_ids[rng.integers(0, len(kind_ids), n)]  # (N,) index into VQA_KINDS
    a, b = np.argsort(rng.random((n, K)), axis=1)[:, :2].T if K >= 2 else (rng.integers(0, K, n),) * 2
    same = scenes.color[:, :, None] == scenes.color[:, None, :]  # (N, K, K)
    unique = same.sum(axis=2) == 1  # (N, K): no other object has this colour
    pick = np.argmax(rng.random((n, K)) * unique, axis=1)  # (N,) a random uniquely coloured object
    kind[(kind == VQA_KINDS.index("shape")) & ~unique.any(axis=1)] = VQA_KINDS.index("color")
    ask_present = rng.random(n) < 0.5
    count_color = np.where(ask_present, scenes.color[np.arange(n), a], rng.integers(0, len(COLOR_NAMES), n))
    questions: list[str] = []
    answers = np.empty(n, dtype=np.int64)
    for i in range(n):
        name = VQA_KINDS[kind[i]]
        if name == "color":
            questions.append(VQA_TEMPLATES[name].format(shape=SHAPES[scenes.shape[i, a[i]]]))
            answers[i] = answer_ids(name)[scenes.color[i, a[i]]]
        elif name == "shape":
            questions.append(VQA_TEMPLATES[name].format(color=COLOR_NAMES[scenes.color[i, pick[i]]]))
            answers[i] = answer_ids(name)[scenes.shape[i, pick[i]]]
        elif name == "count":
            questions.append(VQA_TEMPLATES[name].format(color=COLOR_NAMES[count_color[i]]))
            answers[i] = answer_ids(name)[int((scenes.color[i] == count_color[i]).sum())]
        else:
            questions.append(VQA_TEMPLATES[name].format(shape=SHAPES[scenes.shape[i, a[i]]],
                                                       other=SHAPES[scenes.shape[i, b[i]]]))
            answers[i] = answer_ids(name)[int(scenes.cx[i, a[i]] < scenes.cx[i, b[i]])]
    return questions, kind, answers


def vqa_vocab() -> Vocab:
    """Every word a question can hold (it depends on the constants only)."""
    fill = dict(shape=SHAPES[0], other=SHAPES[0], color=COLOR_NAMES[0])
    words = [tokenize(t.format(**fill)) for t in VQA_TEMPLATES.values()]
    return Vocab.build(words + [list(SHAPES), list(COLOR_NAMES)])


@dataclass
class VQAData:
    """Images, questions, their kinds and answers; scenes of different object counts mixed."""

    images: torch.Tensor  # (N, 3, H, W) float32 in [0, 1]
    questions: list[str]  # N questions
    tokens: torch.Tensor  # (N, T) int64, padded with <pad>=0
    mask: torch.Tensor  # (N, T) bool, True on real tokens
    kind: torch.Tensor  # (N,) int64 index into VQA_KINDS
    answers: torch.Tensor  # (N,) int64 index into VQA_ANSWERS
    n_objects: torch.Tensor  # (N,) int64 objects in the scene
    cell_color: torch.Tensor  # (N, c, c) int64: the colour of the object in each cell, 6 = nothing
    cell_shape: torch.Tensor  # (N, c, c) int64: its shape, 5 = nothing
    vocab: Vocab
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_same_length(images=self.images, questions=self.questions, tokens=self.tokens, mask=self.mask,
                          kind=self.kind, answers=self.answers, n_objects=self.n_objects,
                          cell_color=self.cell_color, cell_shape=self.cell_shape)

    def __len__(self) -> int:
        return len(self.questions)

    def subset(self, idx: Any) -> "VQAData":
        """The samples at `idx` (ints, a slice or a bool mask), as a new VQAData."""
        i = subset_index(idx, len(self))
        return VQAData(self.images[i], [self.questions[j] for j in i.tolist()], self.tokens[i], self.mask[i],
                       self.kind[i], self.answers[i], self.n_objects[i], self.cell_color[i], self.cell_shape[i],
                       self.vocab, dict(self.info))


def make_vqa(n: int, n_objects: Sequence[int] = (2, 3), *, seed: int = 0, kinds: Sequence[str] = VQA_KINDS,
             image_size: int = 32, noise: float = 0.05, cells: int = 4, min_cover: float = 0.25) -> VQAData:
    """`n` scenes with one question each, split as evenly as possible over `n_objects`, shuffled.

    Each image is also cut into `cells` × `cells` cells, labelled with the colour and shape of
    the object that covers the largest part of the cell, or "nothing" (index 6 / 5) when no
    object covers at least `min_cover` of it: the targets of `SceneTagger`.

    Each object count is drawn, rendered and asked about with its own random streams
    (`sample_multi_object_scenes`, `render_multi_object`, `write_vqa_questions`); the same
    arguments always give identical tensors.
    """
    n = check_int("n", n, min=0)
    if isinstance(n_objects, int):
        n_objects = (n_objects,)
    if not n_objects:
        raise ValueError("n_objects must name at least one object count, got an empty sequence")
    counts = [check_int(f"n_objects[{j}]", k, min=1, max=MAX_OBJECTS) for j, k in enumerate(n_objects)]
    seed = check_int("seed", seed, min=0)
    noise = check_number("noise", noise, min=0)
    cells = check_int("cells", cells, min=1)
    if image_size % cells:
        raise ValueError(f"image_size must be divisible by cells, got {image_size} and {cells}")
    min_cover = check_number("min_cover", min_cover, above=0, max=1)
    streams = np.random.SeedSequence(seed).spawn(3 * len(counts) + 1)
    vocab = vqa_vocab()
    parts = []
    for j, K in enumerate(counts):
        m = n // len(counts) + (j < n % len(counts))
        scene_seq, question_seq, image_seq = streams[3 * j : 3 * j + 3]
        scenes = sample_multi_object_scenes(m, K, np.random.default_rng(scene_seq))
        images = render_multi_object(scenes, image_size, noise, torch_generator(image_seq))
        questions, kind, answers = write_vqa_questions(scenes, np.random.default_rng(question_seq), kinds)
        cover = F.avg_pool2d(object_coverage(scenes, image_size), image_size // cells)  # (m, K, c, c)
        amount, best = cover.max(dim=1)  # (m, c, c) each
        rows = torch.arange(m)[:, None, None]
        cell_color = torch.as_tensor(scenes.color)[rows, best].masked_fill(amount < min_cover, len(COLOR_NAMES))
        cell_shape = torch.as_tensor(scenes.shape)[rows, best].masked_fill(amount < min_cover, len(SHAPES))
        parts.append((images, questions, kind, answers, np.full(m, K), cell_color.numpy(), cell_shape.numpy()))
    order = torch.as_tensor(np.random.default_rng(streams[-1]).permutation(n))
    questions = [q for p in parts for q in p[1]]
    tokens, mask = vocab.encode(questions, max_len=VQA_MAX_LEN)
    cat = lambda j: torch.as_tensor(np.concatenate([p[j] for p in parts]), dtype=torch.int64)  # noqa: E731
    data = VQAData(torch.cat([p[0] for p in parts]), questions, tokens, mask, cat(2), cat(3), cat(4), cat(5), cat(6),
                   vocab, dict(n_objects=tuple(counts), seed=seed, kinds=tuple(kinds), image_size=image_size,
                               noise=noise, cells=cells, min_cover=min_cover))
    return data.subset(order)


def accuracy_by_kind(predictions: torch.Tensor, answers: torch.Tensor, kind: torch.Tensor,
                     names: Sequence[str] = VQA_KINDS) -> dict[str, float]:
    """Accuracy of `predictions` (N,) (answer ids, or logits (N, A)) per question kind present in `kind` (N,).

    ``kind`` indexes ``names``: the VQA chapter's kinds by default, another task's list otherwise.
    """
    check_tensor("answers", answers, "(N,)", dtype="int")
    check_tensor("kind", kind, "(N,)", dtype="int")
    if predictions.dim() == 2:
        predictions = predictions.argmax(dim=1)
    check_same_length(predictions=predictions, answers=answers, kind=kind)
    kind = kind.cpu()
    if len(kind) and not 0 <= int(kind.min()) <= int(kind.max()) < len(names):
        raise ValueError(f"kind must index names (0 to {len(names) - 1}), got values in "
                         f"[{int(kind.min())}, {int(kind.max())}]")
    right = (predictions.cpu() == answers.cpu()).float()
    return {name: float(right[kind == k].mean()) for k, name in enumerate(names) if bool((kind == k).any())}


# ----- models ----------------------------------------------------------------------------------
def coordinate_grid(size: int) -> torch.Tensor:
    """(size * size, 2): the (x, y) center of each cell of a size × size map, in [-1, 1], row by row."""
    size = check_int("size", size, min=1)
    c = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1  # (S,)
    y, x = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)  # (S*S, 2)


class SceneTagger(nn.Module):
    """An image encoder trained to say what lies in each cell of its feature map.

    ConvEncoder's stages (B, 3, H, W) -> maps (B, C, s, s) -> two 1×1 convolutions: the colour
    (6 + "nothing") and the shape (5 + "nothing") of the object in each cell, the targets
    `VQAData.cell_color` / `cell_shape` (`loss`). Dense labels teach the encoder *what is where*
    fast; `features` gives its reading of every cell as s*s tokens (B, s*s, 13), the image
    features the VQA models read (the role a pretrained detector's region features play in real
    VQA systems, or a scene parser's table of objects in neuro-symbolic ones).
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 32), image_size: int = 32) -> None:
        super().__init__()
        encoder = ConvEncoder(3, channels, image_size)
        self.cnn = encoder.net[:-1]  # (B, C, s, s): no flattening
        self.feature_dim = len(COLOR_NAMES) + 1 + len(SHAPES) + 1  # the width of `features`
        self.side = image_size // 2 ** len(encoder.channels)
        self.color = nn.Conv2d(encoder.channels[-1], len(COLOR_NAMES) + 1, 1)
        self.shape = nn.Conv2d(encoder.channels[-1], len(SHAPES) + 1, 1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> colour logits (B, 7, s, s), shape logits (B, 6, s, s)."""
        check_tensor("images", images, "(B, 3, H, W)")
        maps = self.cnn(images)  # (B, C, s, s)
        return self.color(maps), self.shape(maps)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> what the tagger reads in each cell, as tokens (B, s*s, 7 + 6): the
        one-hot colour and one-hot shape of its best guess, row by row (the shape part is
        only trained on cells that hold an object)."""
        color, shape = self(images)  # (B, 7, s, s), (B, 6, s, s)
        one_hot = torch.cat([F.one_hot(color.argmax(dim=1), color.shape[1]),
                             F.one_hot(shape.argmax(dim=1), shape.shape[1])], dim=-1)  # (B, s, s, 13)
        return one_hot.flatten(1, 2).to(color.dtype)  # (B, s*s, 13)

    def loss(self, images: torch.Tensor, cell_color: torch.Tensor, cell_shape: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the colour of every cell plus that of the shape of every cell that holds
        an object (cells labelled "nothing" have no shape to learn: they would swamp it)."""
        color, shape = self(images)
        occupied = (cell_shape != len(SHAPES)).sum().clamp(min=1)  # a mean over occupied cells (0 if none)
        shape_loss = F.cross_entropy(shape, cell_shape, ignore_index=len(SHAPES), reduction="sum") / occupied
        return F.cross_entropy(color, cell_color) + shape_loss


def _check_vqa_inputs(features: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor, feature_dim: int,
                      positions: int) -> None:
    check_tensor("features", features, "(B, S, D)")
    if features.shape[1:] != (positions, feature_dim):
        raise ValueError(f"features must have shape (B, {positions}, {feature_dim}), got {tuple(features.shape)}")
    check_tensor("tokens", tokens, "(B, T)", dtype="int")
    check_tensor("mask", mask, "(B, T)")
    if mask.shape != tokens.shape:
        raise ValueError(f"mask must have the shape of tokens {tuple(tokens.shape)}, got {tuple(mask.shape)}")


class FusedVQA(nn.Module):
    """A question encoder fused with image features by cross-attention, for every question kind.

    Image features (B, S = s*s, D), one token per cell of a feature map, get each cell's (x, y)
    coordinates appended (B, S, D + 2). Every word of the question is a query: its embedding
    (B, T, dim) reads the cells through `CrossAttention` (B, T, dim), so "circle" can look at
    the circle and "red" at the red object. The reads are zeroed on padding and laid side by
    side in word order (B, T * dim); a GRU encodes the whole question (B, dim); an MLP on both
    gives the logits (B, n_answers). Word order matters: in "is the circle left of the square ?"
    the circle's read sits in slot 3 and the square's in slot 6 (the templates' slots line up;
    `max_len` fixes T). `query_gain` scales the query projection's initial weights: a sharper
    attention at the start (as in the chapter *Attention, gating and conditioning: fusion that chooses*).
    """

    def __init__(self, vocab_size: int, feature_dim: int, side: int, n_answers: int = len(VQA_ANSWERS), *,
                 max_len: int = VQA_MAX_LEN, dim: int = 32, heads: int = 1, hidden: int = 128,
                 query_gain: float = 5.0) -> None:
        super().__init__()
        self.feature_dim = check_int("feature_dim", feature_dim, min=1)
        self.side = check_int("side", side, min=1)
        self.n_answers = check_int("n_answers", n_answers, min=2)
        self.max_len = check_int("max_len", max_len, min=1)
        dim, hidden = check_int("dim", dim, min=1), check_int("hidden", hidden, min=1)
        query_gain = check_number("query_gain", query_gain, above=0)
        self.register_buffer("coords", coordinate_grid(side), persistent=False)  # (S, 2)
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)  # the queries: one per word
        self.question = RNNEncoder(vocab_size, dim, dim)  # the whole question
        self.attn = CrossAttention(query_dim=dim, context_dim=feature_dim + 2, dim=dim, heads=heads)
        with torch.no_grad():
            self.attn.q.weight.mul_(query_gain)
        self.head = nn.Sequential(nn.Linear((max_len + 1) * dim, hidden), nn.ReLU(), nn.Linear(hidden, n_answers))

    def forward(self, features: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
                return_weights: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, S, D), (B, T), (B, T) -> logits (B, n_answers); with `return_weights` also the
        attention weights (B, heads, T, S) of every word."""
        _check_vqa_inputs(features, tokens, mask, self.feature_dim, self.side ** 2)
        if tokens.shape[1] != self.max_len:
            raise ValueError(f"tokens must be padded to max_len={self.max_len}, got length {tokens.shape[1]}")
        B = features.shape[0]
        context = torch.cat([features, self.coords.expand(B, -1, -1)], dim=2)  # (B, S, D + 2)
        read, weights = self.attn(self.embed(tokens), context)  # (B, T, dim), (B, heads, T, S)
        read = read * mask[..., None]  # (B, T, dim): padding reads nothing
        q = self.question(tokens, mask.sum(dim=1))  # (B, dim)
        logits = self.head(torch.cat([read.flatten(1), q], dim=1))  # (B, n_answers)
        return (logits, weights) if return_weights else logits


class QuestionOnlyVQA(nn.Module):
    """The blind baseline: the question's GRU state -> MLP -> logits; the image is ignored.

    It can learn only what the question alone says about the answer: its kind (which answers
    are possible) and the answer priors within it.
    """

    def __init__(self, vocab_size: int, n_answers: int = len(VQA_ANSWERS), *, dim: int = 32, hidden: int = 128) -> None:
        super().__init__()
        self.n_answers = check_int("n_answers", n_answers, min=2)
        self.question = RNNEncoder(vocab_size, check_int("dim", dim, min=1), dim)
        self.head = nn.Sequential(nn.Linear(dim, check_int("hidden", hidden, min=1)), nn.ReLU(),
                                  nn.Linear(hidden, n_answers))

    def forward(self, features: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, S, D), (B, T), (B, T) -> logits (B, n_answers); `features` is not used."""
        _check_vqa_inputs(features, tokens, mask, features.shape[-1], features.shape[1])
        return self.head(self.question(tokens, mask.sum(dim=1)))  # (B, n_answers)


class ImageOnlyVQA(nn.Module):
    """The deaf baseline: the image features, flattened (so *where* is kept) -> MLP -> logits.

    It never sees the question, so it can only answer what is likely for this image whatever
    is asked.
    """

    def __init__(self, feature_dim: int, side: int, n_answers: int = len(VQA_ANSWERS), *, hidden: int = 128) -> None:
        super().__init__()
        self.feature_dim = check_int("feature_dim", feature_dim, min=1)
        self.side = check_int("side", side, min=1)
        self.n_answers = check_int("n_answers", n_answers, min=2)
        self.head = nn.Sequential(nn.Linear(side * side * feature_dim, check_int("hidden", hidden, min=1)), nn.ReLU(),
                                  nn.Linear(hidden, n_answers))

    def forward(self, features: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, S, D), (B, T), (B, T) -> logits (B, n_answers); `tokens` and `mask` are not used."""
        _check_vqa_inputs(features, tokens, mask, self.feature_dim, self.side ** 2)
        return self.head(features.flatten(1))  # (B, n_answers)


# ----- reading text in images ---------------------------------------------------------------------
class TextReader(nn.Module):
    """A CNN + CTC reader: a word image (B, 1, H, W) -> log-probabilities per column (B, W / 4, n_classes).

    Three convolution stages (3×3, batch norm, ReLU, max pool); the first two halve height and
    width, the last halves the height only; then the remaining height is folded into the
    channels, so each of the W / 4 columns becomes one frame of features, and a bidirectional GRU reads
    the frames left to right and back before a linear layer scores the classes (class 0 is
    the CTC blank). Train it with ``F.ctc_loss(log_probs.transpose(0, 1), ...)`` and read it
    with `mmtutorial.ctc.ctc_greedy_decode`.
    """

    def __init__(self, n_classes: int, *, height: int = 16, channels: Sequence[int] = (8, 16, 32),
                 hidden: int = 48) -> None:
        super().__init__()
        self.n_classes = check_int("n_classes", n_classes, min=2)
        self.height = check_int("height", height, min=8)
        if height % 8:
            raise ValueError(f"height must be divisible by 8 (three halvings), got {height}")
        if isinstance(channels, (str, bytes)) or len(channels) != 3:
            raise ValueError(f"channels must hold three ints (one per stage), got {channels!r}")
        c1, c2, c3 = (check_int(f"channels[{i}]", c, min=1) for i, c in enumerate(channels))
        block = lambda i, o, pool: [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(),  # noqa: E731
                                    nn.MaxPool2d(pool)]
        self.cnn = nn.Sequential(*block(1, c1, 2), *block(c1, c2, 2), *block(c2, c3, (2, 1)))
        self.rnn = nn.GRU(c3 * (height // 8), check_int("hidden", hidden, min=1), batch_first=True,
                          bidirectional=True)
        self.out = nn.Linear(2 * hidden, n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> log-probabilities (B, W // 4, n_classes), batch first."""
        check_tensor("images", images, "(B, 1, H, W)")
        if images.shape[1] != 1 or images.shape[2] != self.height or images.shape[3] < 4:
            raise ValueError(f"images must have shape (B, 1, {self.height}, W) with W >= 4, "
                             f"got {tuple(images.shape)}")
        maps = self.cnn(images)  # (B, C, H / 8, W / 4)
        frames = maps.flatten(1, 2).transpose(1, 2)  # (B, W / 4, C * H / 8)
        states, _ = self.rnn(frames)  # (B, W / 4, 2 * hidden)
        return self.out(states).log_softmax(dim=-1)  # (B, W / 4, n_classes)
