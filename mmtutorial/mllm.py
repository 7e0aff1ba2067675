"""Multimodal large language models in miniature: LLaVA-style prefixes and Flamingo-style gates.

The chapter *Multimodal large language models in miniature* builds each piece in plain cells and
proves these versions equal to it. Two ways to let a causal language model
(:class:`mmtutorial.lm.CausalLM`) read an image:

- **LLaVA-style** (`LlavaModel`): a frozen vision encoder's patch features go through a small
  `Projector` into the language model's token space and are placed *before* the text tokens,
  as if they were words. Trained in two stages: the projector alone on captions (stage 1,
  alignment), then the projector and the language model on instructions (stage 2).
- **Flamingo-style** (`FlamingoLM`): the language model stays frozen and unchanged; a
  `GatedCrossAttentionBlock` before each of its blocks lets the text read the image, scaled
  by ``tanh(alpha)`` with ``alpha = 0`` at the start, so the untrained model *is* the language
  model, exactly.

The data (`make_instructions`): ShapesWorld scenes (:mod:`mmtutorial.data.shapesworld`), each
with a caption ("a large red circle on the left"), a question of one of four kinds
(`QUESTION_KINDS`: color, shape, size, position) with its one-word answer, and a POPE-style
yes/no question "is there a red circle ?" about the object in the scene or an absent one (half
the absent ones *adversarial*: the scene's color on another shape, or its shape in another
color). `instruction_pairs` turns them into (image, prompt, answer) triples,
`encode_instructions` into token sequences whose loss covers only the answer
(`instruction_loss`, `answer_predictions`), `caption_accuracy` scores generated captions per
attribute and `pope_metrics` scores yes/no answers the way the POPE benchmark does.
`load_llava_conversations` reads the real format (LLaVA's JSON conversations over a folder of
images).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_int, check_number, check_path, check_same_length, check_tensor, check_type
from .data.image_files import read_rgb
from .data.shapesworld import COLOR_NAMES, POSITIONS, SHAPES, SIZES, make_shapesworld
from .data.splits import subset_index
from .data.text import Vocab, tokenize
from .fusion import CrossAttention
from .lm import IGNORE_INDEX, CausalLM, _check_logits, generate  # IGNORE_INDEX: prompt and padding targets
from .vqa import YES_NO

__all__ = [
    "ANSWER_WORDS", "CAPTION_PROMPT", "IGNORE_INDEX", "POPE_TEMPLATE", "POSITION_PHRASES", "QUESTION_KINDS",
    "QUESTION_TEMPLATES", "TASKS",
    "FlamingoLM", "GatedCrossAttentionBlock", "InstructionData", "LlavaConversations", "LlavaModel", "Projector",
    "answer_predictions", "caption_accuracy", "caption_scenes", "encode_instructions", "instruction_loss",
    "instruction_pairs", "instruction_vocab", "load_llava_conversations", "make_instructions", "pope_metrics",
    "write_pope_questions", "write_questions",
]

CAPTION_PROMPT = "describe the picture ."
POSITION_PHRASES: tuple[str, ...] = ("on the left", "in the center", "on the right")  # per POSITIONS
QUESTION_KINDS: tuple[str, ...] = ("color", "shape", "size", "position")
QUESTION_TEMPLATES: dict[str, str] = {
    "color": "what color is the {shape} ?",
    "shape": "what shape is the {color} object ?",
    "size": "what size is the {shape} ?",
    "position": "where is the {shape} ?",
}
ANSWER_WORDS: dict[str, tuple[str, ...]] = {"color": COLOR_NAMES, "shape": SHAPES, "size": SIZES,
                                            "position": POSITIONS}
POPE_TEMPLATE = "is there {object} ?"  # {object}: "a red circle", "an orange square"
TASKS: tuple[str, ...] = ("caption", "question", "pope")


# ----- data ------------------------------------------------------------------------------------
def _object_phrase(color: int, shape: int) -> str:
    """ "a red circle", "an orange square" """
    name = COLOR_NAMES[color]
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name} {SHAPES[shape]}"


def caption_scenes(labels: Mapping[str, torch.Tensor]) -> list[str]:
    """One caption per scene, "a large red circle on the left", from ShapesWorld's labels
    (``ShapesWorldData.labels``: size, color, shape and position indices, each (N,))."""
    check_type("labels", labels, Mapping, "a dict of label tensors (ShapesWorldData.labels)")
    size, color, shape, position = (labels[k].tolist() for k in ("size", "color", "shape", "position"))
    return [f"a {SIZES[z]} {COLOR_NAMES[c]} {SHAPES[s]} {POSITION_PHRASES[p]}"
            for z, c, s, p in zip(size, color, shape, position)]


def write_questions(labels: Mapping[str, torch.Tensor], rng: np.random.Generator
                    ) -> tuple[list[str], list[str], np.ndarray]:
    """One question per scene, its kind (`QUESTION_KINDS`) drawn uniformly; returns the questions,
    their one-word answers and the kinds (N,) as indices into `QUESTION_KINDS`.

    Each question names the object by the attribute it does not ask about ("what color is the
    circle ?", "what shape is the red object ?"), so the answer is in the image, not the text.
    """
    check_type("labels", labels, Mapping, "a dict of label tensors (ShapesWorldData.labels)")
    check_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    color, shape = labels["color"].tolist(), labels["shape"].tolist()
    kind = rng.integers(0, len(QUESTION_KINDS), len(color))
    questions, answers = [], []
    for i, k in enumerate(kind.tolist()):
        name = QUESTION_KINDS[k]
        questions.append(QUESTION_TEMPLATES[name].format(shape=SHAPES[shape[i]], color=COLOR_NAMES[color[i]]))
        answers.append(ANSWER_WORDS[name][int(labels[name][i])])
    return questions, answers, kind


def write_pope_questions(labels: Mapping[str, torch.Tensor], rng: np.random.Generator,
                         adversarial: float = 0.5) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One yes/no question "is there a red circle ?" per scene, half about the object it shows.

    An absent object is, with probability ``adversarial``, the scene's shape in another color
    or its color on another shape (the hard negatives of POPE's adversarial setting: only
    reading *both* attributes tells them apart); otherwise a color-shape pair that shares
    neither. Returns the questions, the answers (N,) bool (True = "yes") and whether each
    question was an adversarial one (N,) bool.
    """
    check_type("labels", labels, Mapping, "a dict of label tensors (ShapesWorldData.labels)")
    check_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    adversarial = check_number("adversarial", adversarial, min=0, max=1)
    color, shape = labels["color"].tolist(), labels["shape"].tolist()
    n = len(color)
    yes = rng.random(n) < 0.5
    hard = ~yes & (rng.random(n) < adversarial)
    questions = []
    for i in range(n):
        c, s = color[i], shape[i]
        if not yes[i]:
            if hard[i]:  # one attribute right, the other wrong
                options = [(c, t) for t in range(len(SHAPES)) if t != s] + \
                          [(d, s) for d in range(len(COLOR_NAMES)) if d != c]
            else:  # both wrong
                options = [(d, t) for d in range(len(COLOR_NAMES)) for t in range(len(SHAPES)) if d != c and t != s]
            c, s = options[rng.integers(len(options))]
        questions.append(POPE_TEMPLATE.format(object=_object_phrase(c, s)))
    return questions, yes, hard


def caption_accuracy(captions: Sequence[str], labels: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """The share of ``captions`` that name each attribute right: color, shape, size, position.

    A caption names an attribute right when it holds the scene's word for it (``labels`` as in
    `caption_scenes`) and no other word of that attribute, so a caption that lists every color
    is not rewarded.
    """
    check_same_length(captions=captions, **{f"labels[{k!r}]": labels[k] for k in ANSWER_WORDS})
    if not captions:
        raise ValueError("captions must not be empty")
    words = [set(tokenize(c)) for c in captions]
    result = {}
    for name, names in ANSWER_WORDS.items():
        right = [w & set(names) == {names[t]} for w, t in zip(words, labels[name].tolist())]
        result[name] = sum(right) / len(right)
    return result


def instruction_vocab() -> Vocab:
    """Every word a caption, a prompt, a question or an answer can hold (it depends on the constants only)."""
    fill = dict(shape=SHAPES[0], color=COLOR_NAMES[0], object="")
    words = [tokenize(t.format(**fill)) for t in (*QUESTION_TEMPLATES.values(), POPE_TEMPLATE, CAPTION_PROMPT)]
    words += [tokenize(p) for p in POSITION_PHRASES] + [["a", "an"], list(SHAPES), list(COLOR_NAMES), list(YES_NO)]
    words += [list(ws) for ws in ANSWER_WORDS.values()]
    return Vocab.build(words)


@dataclass
class InstructionData:
    """ShapesWorld scenes with a caption, a question (one of `QUESTION_KINDS`) and a POPE-style yes/no question each."""

    images: torch.Tensor  # (N, 3, H, W) float32 in [0, 1]
    labels: dict[str, torch.Tensor]  # ShapesWorld's color, shape, size, position, vertical: (N,) int64
    captions: list[str]  # N captions
    questions: list[str]  # N questions
    answers: list[str]  # N one-word answers
    kind: torch.Tensor  # (N,) int64 index into QUESTION_KINDS
    pope_questions: list[str]  # N questions "is there a red circle ?"
    pope_yes: torch.Tensor  # (N,) bool: the object asked about is the one in the scene
    pope_adversarial: torch.Tensor  # (N,) bool: an absent object sharing one attribute with the scene's
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_same_length(images=self.images, captions=self.captions, questions=self.questions, answers=self.answers,
                          kind=self.kind, pope_questions=self.pope_questions, pope_yes=self.pope_yes,
                          pope_adversarial=self.pope_adversarial,
                          **{f"labels[{k!r}]": v for k, v in self.labels.items()})

    def __len__(self) -> int:
        return len(self.captions)

    def subset(self, idx: Any) -> "InstructionData":
        """The scenes at `idx` (ints, a slice or a bool mask), as a new InstructionData."""
        i = subset_index(idx, len(self))
        pick = lambda items: [items[j] for j in i.tolist()]  # noqa: E731
        return InstructionData(self.images[i], {k: v[i] for k, v in self.labels.items()}, pick(self.captions),
                               pick(self.questions), pick(self.answers), self.kind[i], pick(self.pope_questions),
                               self.pope_yes[i], self.pope_adversarial[i], dict(self.info))


def make_instructions(n: int, *, seed: int = 0, split: str = "all", image_size: int = 32, noise: float = 0.05,
                      adversarial: float = 0.5) -> InstructionData:
    """`n` ShapesWorld scenes (`mmtutorial.data.shapesworld.make_shapesworld`) with their texts.

    Each scene gets a caption (`caption_scenes`), a question (`write_questions`) and a
    POPE-style question (`write_pope_questions`), each from its own random stream; the same
    arguments give identical data. ``split="all"`` uses every color-shape pair.
    """
    n = check_int("n", n, min=0)
    seed = check_int("seed", seed, min=0)
    scenes = make_shapesworld(n, split=split, seed=seed, image_size=image_size, noise=noise)
    labels = {k: scenes.labels[k] for k in ("color", "shape", "size", "position", "vertical")}
    question_seq, pope_seq = np.random.SeedSequence([seed, 18]).spawn(2)
    questions, answers, kind = write_questions(labels, np.random.default_rng(question_seq))
    pope, yes, hard = write_pope_questions(labels, np.random.default_rng(pope_seq), adversarial)
    return InstructionData(scenes.images, labels, caption_scenes(labels), questions, answers, torch.as_tensor(kind),
                           pope, torch.as_tensor(yes), torch.as_tensor(hard),
                           dict(seed=seed, split=split, image_size=image_size, noise=noise, adversarial=adversarial))


def instruction_pairs(data: InstructionData, tasks: Sequence[str] = TASKS
                      ) -> tuple[torch.Tensor, list[str], list[str], torch.Tensor]:
    """(image index (M,), prompts, answers, task (M,) index into `TASKS`): one triple per scene and task.

    "caption": `CAPTION_PROMPT` -> the caption; "question": the question -> its answer; "pope": the
    yes/no question -> "yes" or "no". Tasks come in the order given, each over all scenes.
    """
    check_type("data", data, InstructionData, "an InstructionData")
    if isinstance(tasks, str) or not tasks:
        raise ValueError(f"tasks must be a non-empty list from {TASKS}, got {tasks!r}")
    index, prompts, answers, task = [], [], [], []
    for name in tasks:
        check_choice("tasks", name, TASKS)
        if name == "caption":
            prompts += [CAPTION_PROMPT] * len(data)
            answers += data.captions
        elif name == "question":
            prompts += data.questions
            answers += data.answers
        else:
            prompts += data.pope_questions
            answers += [YES_NO[int(y)] for y in data.pope_yes.tolist()]
        index.append(torch.arange(len(data)))
        task += [TASKS.index(name)] * len(data)
    return torch.cat(index), prompts, answers, torch.tensor(task)


def encode_instructions(vocab: Vocab, prompts: Sequence[str], answers: Sequence[str],
                        max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token sequences ``<bos> prompt answer <eos>`` (B, T) and their targets (B, T).

    ``targets[:, t]`` is the token the logit at position t must predict, ``tokens[:, t + 1]``,
    where that token belongs to the answer or is its ``<eos>``, and `IGNORE_INDEX` elsewhere
    (the prompt and the padding): the model learns to answer, not to ask. ValueError if a
    word is not in ``vocab`` (it would silently become ``<unk>``) or a sequence is longer
    than ``max_len``.
    """
    check_type("vocab", vocab, Vocab, "a Vocab")
    check_same_length(prompts=prompts, answers=answers)
    rows, starts = [], []
    for p, a in zip(prompts, answers):
        p_ids, a_ids = vocab.encode([p])[0][0].tolist(), vocab.encode([a])[0][0].tolist()
        if vocab.unk_id in p_ids + a_ids:
            unknown = [w for w in tokenize(p) + tokenize(a) if w not in vocab]
            raise ValueError(f"words {unknown} of {p!r} -> {a!r} are not in the vocabulary")
        if not a_ids:
            raise ValueError(f"the answer to {p!r} is empty")
        rows.append([vocab.bos_id, *p_ids, *a_ids, vocab.eos_id])
        starts.append(1 + len(p_ids))  # the position of the answer's first token
    T = max(map(len, rows), default=0) if max_len is None else check_int("max_len", max_len, min=1)
    if rows and max(map(len, rows)) > T:
        raise ValueError(f"a sequence has {max(map(len, rows))} tokens but max_len={T}")
    tokens = torch.full((len(rows), T), vocab.pad_id, dtype=torch.int64)  # (B, T)
    targets = torch.full((len(rows), T), IGNORE_INDEX, dtype=torch.int64)  # (B, T)
    for i, (row, s) in enumerate(zip(rows, starts)):
        tokens[i, : len(row)] = torch.tensor(row)
        targets[i, s - 1 : len(row) - 1] = torch.tensor(row[s:])  # logit t predicts token t + 1
    return tokens, targets


def instruction_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the answer positions (targets other than `IGNORE_INDEX`).

    ``logits`` (B, T, V) are those of the text positions (no image prefix), ``targets`` (B, T)
    from `encode_instructions`.
    """
    _check_logits(logits, targets, "targets")
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX)


def answer_predictions(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The predicted and the true first answer token of each sequence: (B,), (B,).

    The first answer token is read where the prompt ends (the first target that is not
    `IGNORE_INDEX`); for one-word answers, ``(pred == true).float().mean()`` is the accuracy.
    """
    _check_logits(logits, targets, "targets")
    first = (targets != IGNORE_INDEX).int().argmax(dim=1)  # (B,)
    rows = torch.arange(len(targets), device=targets.device)
    return logits[rows, first].argmax(dim=-1), targets[rows, first]


def pope_metrics(said_yes: torch.Tensor, is_yes: torch.Tensor) -> dict[str, float]:
    """POPE's numbers for yes/no answers about objects: accuracy, precision, recall, F1, "yes" ratio.

    ``said_yes`` (N,) bool: the model answered "yes"; ``is_yes`` (N,) bool: the object is in
    the image. Precision is the share of "yes" answers that are right (a hallucinated object
    lowers it), recall the share of present objects answered "yes"; the "yes" ratio shows a
    bias toward agreeing (about 0.5 on a balanced set for a model without one).
    """
    said_yes = check_tensor("said_yes", said_yes, "(N,)", dtype="bool", nonempty=True).cpu()
    is_yes = check_tensor("is_yes", is_yes, "(N,)", dtype="bool").cpu()
    check_same_length(said_yes=said_yes, is_yes=is_yes)
    tp = float((said_yes & is_yes).sum())
    said, true = float(said_yes.sum()), float(is_yes.sum())
    precision = tp / said if said else 0.0
    recall = tp / true if true else 0.0
    return dict(accuracy=float((said_yes == is_yes).float().mean()), precision=precision, recall=recall,
                f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0,
                yes_ratio=said / len(said_yes))


# ----- LLaVA-style -------------------------------------------------------------------------------
class Projector(nn.Module):
    """Vision features (B, S, in_dim) -> image tokens (B, S, out_dim) in the language model's space.

    ``kind="linear"``: one linear layer (LLaVA); ``kind="mlp"``: Linear -> GELU -> Linear (LLaVA-1.5).
    """

    def __init__(self, in_dim: int, out_dim: int, kind: str = "mlp") -> None:
        super().__init__()
        self.in_dim = check_int("in_dim", in_dim, min=1)
        self.out_dim = check_int("out_dim", out_dim, min=1)
        self.kind = check_choice("kind", kind, ("linear", "mlp"))
        self.net = (nn.Linear(in_dim, out_dim) if kind == "linear"
                    else nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        check_tensor("features", features, "(B, S, in_dim)", dtype="float")
        if features.shape[-1] != self.in_dim:
            raise ValueError(f"features must have shape (B, S, {self.in_dim}), got {tuple(features.shape)}")
        return self.net(features)  # (B, S, out_dim)


class LlavaModel(nn.Module):
    """A LLaVA-style model: projected image features (B, S, dim) placed before the text tokens.

    ``forward(features, tokens) -> logits (B, T, vocab)`` of the *text* positions only (the
    image positions predict nothing). ``features`` (B, S, vision_dim) come from a frozen vision
    encoder, computed once; `generate` writes an answer with :func:`mmtutorial.lm.generate`.
    """

    def __init__(self, lm: CausalLM, vision_dim: int, projector: str = "mlp") -> None:
        super().__init__()
        self.lm = check_type("lm", lm, CausalLM, "a mmtutorial.lm.CausalLM")
        self.projector = Projector(vision_dim, lm.dim, projector)

    def forward(self, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        prefix = self.projector(features)  # (B, S, dim): the image as S "words"
        logits = self.lm(tokens, prefix=prefix)  # (B, S + T, vocab)
        return logits[:, prefix.shape[1]:]  # (B, T, vocab)

    @torch.no_grad()
    def generate(self, features: torch.Tensor, prompt: torch.Tensor, max_new_tokens: int,
                 eos_id: int | None = None) -> torch.Tensor:
        """Greedy continuation of ``prompt`` (B, T) after the image: (B, T + max_new_tokens)."""
        return generate(self.lm, prompt, max_new_tokens, greedy=True, eos_id=eos_id,
                        prefix=self.projector(features))


# ----- Flamingo-style ----------------------------------------------------------------------------
class GatedCrossAttentionBlock(nn.Module):
    """Flamingo's gated cross-attention block: text (B, T, dim) reads visual tokens (B, S, dim).

    ``x = x + tanh(alpha_attn) * CrossAttention(LayerNorm(x), visual)``, then
    ``x = x + tanh(alpha_mlp) * MLP(LayerNorm(x))``. Both ``alpha`` start at 0, so the block
    starts as the identity, exactly: inserted into a frozen language model it changes nothing
    until training opens the gates.
    """

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: int = 4) -> None:
        super().__init__()
        dim, mlp_ratio = check_int("dim", dim, min=1), check_int("mlp_ratio", mlp_ratio, min=1)
        self.ln_attn = nn.LayerNorm(dim)
        self.attn = CrossAttention(dim, dim, dim, heads)
        self.alpha_attn = nn.Parameter(torch.zeros(1))
        self.ln_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))
        self.alpha_mlp = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        read, _ = self.attn(self.ln_attn(x), visual)  # (B, T, dim): what each text position reads
        x = x + torch.tanh(self.alpha_attn) * read
        return x + torch.tanh(self.alpha_mlp) * self.mlp(self.ln_mlp(x))  # (B, T, dim)


class FlamingoLM(nn.Module):
    """A frozen `CausalLM` with a `GatedCrossAttentionBlock` before each of its blocks.

    ``forward(features, tokens) -> logits (B, T, vocab)``: the vision features (B, S,
    vision_dim) are projected to the language model's width and given a learned position
    embedding per visual token (the small stand-in for Flamingo's Perceiver Resampler); the text
    then runs through ``lm.blocks`` with a gated cross-attention block before each. The language
    model's parameters are frozen here; at initialization the logits equal ``lm(tokens)``.
    """

    def __init__(self, lm: CausalLM, vision_dim: int, n_visual: int, heads: int = 4, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.lm = check_type("lm", lm, CausalLM, "a mmtutorial.lm.CausalLM")
        self.vision_dim = check_int("vision_dim", vision_dim, min=1)
        self.n_visual = check_int("n_visual", n_visual, min=1)
        for p in lm.parameters():
            p.requires_grad_(False)
        self.visual = nn.Linear(vision_dim, lm.dim)
        self.visual_position = nn.Parameter(0.02 * torch.randn(n_visual, lm.dim))
        self.xattn = nn.ModuleList(GatedCrossAttentionBlock(lm.dim, heads, mlp_ratio) for _ in lm.blocks)

    def gates(self) -> torch.Tensor:
        """tanh of every gate, (depth, 2): the attention and MLP gate of each block."""
        return torch.tanh(torch.stack([torch.cat([b.alpha_attn, b.alpha_mlp]) for b in self.xattn]))

    def forward(self, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        check_tensor("features", features, "(B, S, vision_dim)", dtype="float")
        if features.shape[1:] != (self.n_visual, self.vision_dim):
            raise ValueError(f"features must have shape (B, {self.n_visual}, {self.vision_dim}), "
                             f"got {tuple(features.shape)}")
        visual = self.visual(features) + self.visual_position  # (B, S, dim)
        x = self.lm.embed(tokens, None, 0)  # (B, T, dim): the language model's own embedding
        for xblock, block in zip(self.xattn, self.lm.blocks):
            x = xblock(x, visual)  # the text reads the image (nothing, while the gates are 0)
            x, _ = block(x)  # the frozen block, unchanged
        return self.lm.head(self.lm.norm(x))  # (B, T, vocab)


# ----- real data: LLaVA conversations ------------------------------------------------------------
@dataclass
class LlavaConversations:
    """Turns of conversations about images, each image stored once (LLaVA's instruction data)."""

    images: torch.Tensor  # (N_images, 3, S, S) float32 in [0, 1]
    image_index: torch.Tensor  # (M,) int64: the image each turn is about
    prompts: list[str]  # M human turns, "<image>" removed
    answers: list[str]  # M assistant turns
    image_files: list[str]  # N_images file names, relative to the image folder

    def __post_init__(self) -> None:
        check_same_length(image_index=self.image_index, prompts=self.prompts, answers=self.answers)

    def __len__(self) -> int:
        return len(self.prompts)


def load_llava_conversations(json_file: str | os.PathLike, image_dir: str | os.PathLike, *,
                             image_size: int = 32, max_samples: int | None = None) -> LlavaConversations:
    """Read LLaVA-style instruction data: a JSON list of ``{"image": file, "conversations": [...]}``.

    Each conversation alternates ``{"from": "human", "value": ...}`` and ``{"from": "gpt",
    "value": ...}`` turns (LLaVA-Instruct-150K, ShareGPT4V and most of their successors use
    this layout); every (human, gpt) pair becomes one (prompt, answer) turn, with the
    ``<image>`` placeholder and surrounding newlines removed. Records without an image are
    skipped. Images are read from ``image_dir`` once each, as RGB resized to `image_size`.
    `max_samples` keeps the first records (all by default).
    """
    path = Path(check_path("json_file", json_file))
    folder = Path(check_path("image_dir", image_dir))
    image_size = check_int("image_size", image_size, min=8)
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, min=1)
    if not path.is_file():
        raise FileNotFoundError(f"no conversations file at {path}")
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    if not isinstance(records, list):
        raise ValueError(f"{path} must hold a JSON list of records, as LLaVA's files do")
    files: dict[str, int] = {}
    index, prompts, answers = [], [], []
    for r, record in enumerate(records[:max_samples]):
        if not isinstance(record, dict) or "image" not in record:
            continue
        turns = record.get("conversations")
        if not isinstance(turns, list) or not all(isinstance(t, dict) and isinstance(t.get("value"), str)
                                                  for t in turns):
            raise ValueError(f"{path}: record {r} must have a list 'conversations' of {{'from', 'value'}} turns")
        roles = [t.get("from") for t in turns]
        if len(turns) % 2 or roles != ["human", "gpt"] * (len(turns) // 2):
            raise ValueError(f"{path}: record {r} must alternate 'human' and 'gpt' turns, got {roles}")
        j = files.setdefault(record["image"], len(files))
        for human, gpt in zip(turns[::2], turns[1::2]):
            index.append(j)
            prompts.append(human["value"].replace("<image>", "").strip())
            answers.append(gpt["value"].strip())
    images = torch.empty(len(files), 3, image_size, image_size)
    for name, j in files.items():
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{path} names the image {name!r}, which is not in {folder}")
        images[j] = read_rgb(folder / name, image_size)
    return LlavaConversations(images, torch.tensor(index, dtype=torch.int64), prompts, answers, list(files))
