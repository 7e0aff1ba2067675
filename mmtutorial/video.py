"""Video: frame encoders, temporal models, keyframe selection and captions from frames.

The chapter *Video: events, order and summaries* builds each piece in plain cells and proves
these versions equal to it:

- `FrameEncoder`: one image encoder (from :mod:`mmtutorial.encoders.image`) applied to every
  frame, clips (B, T, C, H, W) -> frame vectors (B, T, D); `FrameTagger` puts per-frame heads
  on it, to pretrain it on single frames.
- Temporal models, frame vectors (B, T, D) -> clip vector (B, H): `MeanPoolTemporal` (an MLP
  per frame, then the mean over time: blind to the order of the frames), `GRUTemporal` (the last
  state of a GRU) and `AttentionTemporal` (self-attention over the frames with learned position
  embeddings, then the mean; without positions it is blind to order too). `VideoClassifier`
  puts one linear head per question on a temporal model.
- Keyframes: scores per frame (`embedding_change`, `pixel_change`, or the learned
  `FrameScorer`), `select_keyframes` (the best k frames, never two neighbours),
  `uniform_keyframes` (the baseline that does not look), and `keyframe_f1`, the F1 score of
  selected against true event frames with a tolerance window.
- `VideoCaptioner`: the attention decoder of :class:`mmtutorial.seq2seq.Seq2Seq` reading frame
  vectors instead of source words.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ._checks import check_bool, check_int, check_tensor, check_type, describe
from .data.video import _even_indices
from .encoders.text import masked_mean, sinusoidal_positions
from .models import _linear_heads
from .seq2seq import BiGRU, Seq2Seq

__all__ = [
    "AttentionTemporal", "FrameEncoder", "FrameScorer", "FrameTagger", "GRUTemporal", "MeanPoolTemporal",
    "VideoCaptioner", "VideoClassifier", "embedding_change", "keyframe_f1", "pixel_change", "select_keyframes",
    "uniform_keyframes",
]


def _check_clips(clips: torch.Tensor) -> torch.Tensor:
    return check_tensor("clips", clips, "(B, T, C, H, W)", dtype="float", nonempty=True)


def _check_frames(x: torch.Tensor, dim: int | None = None, name: str = "x") -> torch.Tensor:
    x = check_tensor(name, x, "(B, T, D)", dtype="float", nonempty=True)
    if dim is not None and x.shape[-1] != dim:
        raise ValueError(f"{name} must have {dim} features on its last axis, got shape {tuple(x.shape)}")
    return x


# ----- frames --------------------------------------------------------------------------------------
class FrameEncoder(nn.Module):
    """Clips (B, T, C, H, W) -> frame vectors (B, T, dim): ``image_encoder`` on every frame, then
    a linear layer and ReLU. ``in_dim`` is the image encoder's output size (``out_dim`` of a
    ``ConvEncoder``). The frames of all clips go through the encoder as one batch of B*T images.
    """

    def __init__(self, image_encoder: nn.Module, in_dim: int, dim: int = 32) -> None:
        super().__init__()
        self.image_encoder = check_type("image_encoder", image_encoder, nn.Module, "an nn.Module")
        self.dim = check_int("dim", dim, min=1)
        self.proj = nn.Sequential(nn.Linear(check_int("in_dim", in_dim, min=1), dim), nn.ReLU())

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        B, T = _check_clips(clips).shape[:2]
        features = self.image_encoder(clips.flatten(0, 1))  # (B T, in_dim)
        return self.proj(features).view(B, T, self.dim)  # (B, T, dim)


class FrameTagger(nn.Module):
    """A `FrameEncoder` with one linear head per per-frame fact: clips -> {fact: logits (B, T, C)}.

    ``heads`` maps a fact's name to its number of classes, e.g. ``{"color": 6, "visible": 2}``.
    Trained on single frames, it teaches the encoder what a frame shows; the encoder is then
    frozen and the temporal models read its vectors.
    """

    def __init__(self, encoder: FrameEncoder, heads: Mapping[str, int]) -> None:
        super().__init__()
        self.encoder = check_type("encoder", encoder, FrameEncoder, "a FrameEncoder")
        self.heads = _linear_heads("heads", heads, encoder.dim, "per-frame fact")

    def forward(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encoder(clips)  # (B, T, D)
        return {k: head(z) for k, head in self.heads.items()}  # each (B, T, C)


# ----- time ----------------------------------------------------------------------------------------
class MeanPoolTemporal(nn.Module):
    """Frame vectors (B, T, D) -> (B, hidden): an MLP on every frame, then the mean over time.

    The mean does not change when the frames are shuffled, so nothing that depends on their
    order can reach the output.
    """

    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.dim, self.out_dim = check_int("dim", dim, min=1), check_int("hidden", hidden, min=1)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(_check_frames(x, self.dim)).mean(dim=1)  # (B, hidden)


class GRUTemporal(nn.Module):
    """Frame vectors (B, T, D) -> (B, hidden): the last state of a GRU that reads them in order."""

    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.dim, self.out_dim = check_int("dim", dim, min=1), check_int("hidden", hidden, min=1)
        self.gru = nn.GRU(dim, hidden, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, last = self.gru(_check_frames(x, self.dim))  # (1, B, hidden)
        return last[0]


class AttentionTemporal(nn.Module):
    """Frame vectors (B, T, D) -> (B, hidden): self-attention over the frames, then the mean.

    The frames are projected to ``hidden`` and get a learned position embedding each (if
    ``positions``; at most ``max_frames``). It starts as the sinusoidal encoding of
    :func:`mmtutorial.encoders.text.sinusoidal_positions`, whose scale, unlike that of small
    random numbers, lets attention use the positions from the first step. Then ``layers``
    pre-norm Transformer encoder layers (``heads`` heads, feed-forward 2 x hidden, no dropout),
    and the mean over the frames. Without positions,
    attention is equivariant to a shuffle of the frames and the mean invariant: like
    `MeanPoolTemporal`, it cannot see order.
    """

    def __init__(self, dim: int, hidden: int = 64, *, heads: int = 4, layers: int = 1, positions: bool = True,
                 max_frames: int = 64) -> None:
        super().__init__()
        self.dim, self.out_dim = check_int("dim", dim, min=1), check_int("hidden", hidden, min=1)
        heads, layers = check_int("heads", heads, min=1), check_int("layers", layers, min=1)
        if hidden % heads:
            raise ValueError(f"hidden must be divisible by heads, got hidden={hidden}, heads={heads}")
        self.max_frames = check_int("max_frames", max_frames, min=1)
        self.proj = nn.Linear(dim, hidden)
        positions = check_bool("positions", positions)
        self.pos = nn.Parameter(sinusoidal_positions(max_frames, hidden)) if positions else None  # (max_frames, hidden)
        block = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = _check_frames(x, self.dim).shape[1]
        h = self.proj(x)  # (B, T, hidden)
        if self.pos is not None:
            if T > self.max_frames:
                raise ValueError(f"x has {T} frames but max_frames={self.max_frames}")
            h = h + self.pos[:T]
        return self.norm(self.blocks(h)).mean(dim=1)  # (B, hidden)


class VideoClassifier(nn.Module):
    """A temporal model with one linear head per question: frame vectors (B, T, D) -> {question: logits (B, C)}.

    ``temporal`` is one of the temporal models (anything with an ``out_dim``); ``classes`` maps
    each question to its number of answers.
    """

    def __init__(self, temporal: nn.Module, classes: Mapping[str, int]) -> None:
        super().__init__()
        self.temporal = check_type("temporal", temporal, nn.Module, "an nn.Module")
        if not isinstance(getattr(temporal, "out_dim", None), int):
            raise TypeError(f"temporal must have an int attribute out_dim, got {type(temporal).__name__}")
        self.heads = _linear_heads("classes", classes, temporal.out_dim, "question")

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.temporal(x)  # (B, hidden)
        return {k: head(h) for k, head in self.heads.items()}


# ----- keyframes -----------------------------------------------------------------------------------
def embedding_change(x: torch.Tensor) -> torch.Tensor:
    """How much each frame's vector differs from the previous one: (B, T, D) -> (B, T).

    ``score[:, t] = ||x[:, t] - x[:, t-1]||`` (Euclidean); the first frame scores 0.
    """
    x = _check_frames(x)
    step = (x[:, 1:] - x[:, :-1]).norm(dim=-1)  # (B, T-1)
    return torch.cat([torch.zeros_like(step[:, :1]), step], dim=1)


def pixel_change(clips: torch.Tensor) -> torch.Tensor:
    """The mean absolute pixel difference of each frame from the previous one: (B, T, C, H, W) -> (B, T).

    The classic shot-boundary detector; the first frame scores 0.
    """
    clips = _check_clips(clips)
    step = (clips[:, 1:] - clips[:, :-1]).abs().mean(dim=(2, 3, 4))  # (B, T-1)
    return torch.cat([torch.zeros_like(step[:, :1]), step], dim=1)


def _check_k(k: int | torch.Tensor, B: int, T: int) -> torch.Tensor:
    if isinstance(k, torch.Tensor):
        k = check_tensor("k", k, "(B,)", dtype="int")
        if len(k) != B:
            raise ValueError(f"k must have one entry per clip ({B}), got {describe(k)}")
        if len(k) and (k.min() < 0 or k.max() > (T + 1) // 2):
            raise ValueError(f"k must lie in [0, {(T + 1) // 2}] (no two neighbours among {T} frames), "
                             f"got values in [{int(k.min())}, {int(k.max())}]")
        return k.cpu()
    return torch.full((B,), check_int("k", k, min=0, max=(T + 1) // 2), dtype=torch.int64)


def select_keyframes(scores: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """The ``k`` best-scoring frames of each clip, never two neighbours: (B, T) -> (B, T) bool.

    Greedy non-maximum suppression: take the best frame, rule out it and its two neighbours,
    repeat. ``k`` is an int or a (B,) tensor (a budget per clip). Ties go to the earlier frame.
    """
    scores = check_tensor("scores", scores, "(B, T)", dtype="float")
    B, T = scores.shape
    k = _check_k(k, B, T)
    work = scores.detach().float().cpu().clone()
    chosen = torch.zeros(B, T, dtype=torch.bool)
    rows = torch.arange(B)
    for step in range(int(k.max()) if B else 0):
        best = work.argmax(dim=1)  # (B,) the first maximum
        take = step < k  # (B,) clips that still have budget
        chosen[rows[take], best[take]] = True
        for d in (-1, 0, 1):  # rule out the frame and its neighbours
            col = (best + d).clamp(0, T - 1)
            work[rows[take], col[take]] = float("-inf")
    return chosen.to(scores.device)


def uniform_keyframes(n_frames: int, k: int | torch.Tensor) -> torch.Tensor:
    """The baseline that does not look: ``k`` frames spread evenly, at the centres of k equal
    segments of the clip: (B, T) bool (B = len(k), or 1 for an int)."""
    T = check_int("n_frames", n_frames, min=1)
    k = _check_k(k if isinstance(k, torch.Tensor) else torch.tensor([check_int("k", k, min=0)]),
                 len(k) if isinstance(k, torch.Tensor) else 1, T)
    chosen = torch.zeros(len(k), T, dtype=torch.bool)
    for i, n in enumerate(k.tolist()):
        if n:
            chosen[i, torch.from_numpy(_even_indices(T, n))] = True
    return chosen


def keyframe_f1(selected: torch.Tensor, true: torch.Tensor, tolerance: int = 1) -> torch.Tensor:
    """F1 of selected frames against true event frames, per clip: (B, T) bool, (B, T) bool -> (B,).

    A selected frame is a hit if it lies within ``tolerance`` frames of a true frame not yet
    matched; each true frame is matched at most once (true frames in order, each to the nearest
    free selected frame). precision = hits / selected, recall = hits / true, F1 their harmonic
    mean (0 when there is no hit).
    """
    selected = check_tensor("selected", selected, "(B, T)", dtype="bool")
    true = check_tensor("true", true, "(B, T)", dtype="bool")
    if selected.shape != true.shape:
        raise ValueError(f"selected and true must have the same shape, got {tuple(selected.shape)} "
                         f"and {tuple(true.shape)}")
    tolerance = check_int("tolerance", tolerance, min=0)
    f1 = torch.zeros(len(true))
    for i, (sel, ref) in enumerate(zip(selected.cpu().tolist(), true.cpu().tolist())):
        free = [t for t, s in enumerate(sel) if s]
        hits = 0
        for t in (t for t, r in enumerate(ref) if r):
            near = [s for s in free if abs(s - t) <= tolerance]
            if near:
                free.remove(min(near, key=lambda s: (abs(s - t), s)))
                hits += 1
        if hits:
            precision, recall = hits / sum(sel), hits / sum(ref)
            f1[i] = 2 * precision * recall / (precision + recall)
    return f1


class FrameScorer(nn.Module):
    """A learned keyframe scorer: frame vectors (B, T, D) -> one logit per frame (B, T).

    A bidirectional GRU (:class:`mmtutorial.seq2seq.BiGRU`) reads the clip both ways, so a
    frame's score can depend on what came before and after it; trained with binary
    cross-entropy against the event frames.
    """

    def __init__(self, dim: int, hidden: int = 32) -> None:
        super().__init__()
        self.dim = check_int("dim", dim, min=1)
        self.rnn = BiGRU(dim, check_int("hidden", hidden, min=1))
        self.out = nn.Linear(2 * hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T = _check_frames(x, self.dim).shape[:2]
        lengths = torch.full((B,), T, dtype=torch.int64, device=x.device)
        return self.out(self.rnn(x, lengths)).squeeze(-1)  # (B, T)


# ----- captions ------------------------------------------------------------------------------------
class VideoCaptioner(Seq2Seq):
    """Frame vectors (B, T, D) -> caption logits: the decoder of :class:`~mmtutorial.seq2seq.Seq2Seq`
    attending over a bidirectional GRU's states of the frames.

    ``forward(frames, tgt_in)`` (teacher forcing) and ``greedy_decode(frames, max_len)`` work as
    for text; ``dim`` is the frame vectors' size and also the word embeddings'.
    """

    def __init__(self, dim: int, tgt_vocab: int, hidden: int = 64, *, pad_id: int = 0, bos_id: int = 2,
                 eos_id: int = 3) -> None:
        super().__init__(None, tgt_vocab, dim, hidden, pad_id=pad_id, bos_id=bos_id, eos_id=eos_id)
        self.frame_dim = dim
        self.frame_encoder = BiGRU(dim, hidden)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frame vectors (B, T, D) -> (states (B, T, 2H), mask (B, T), first decoder state (B, H))."""
        B, T = _check_frames(src, self.frame_dim, "src").shape[:2]
        mask = torch.ones(B, T, dtype=torch.bool, device=src.device)
        states = self.frame_encoder(src, torch.full((B,), T, dtype=torch.int64, device=src.device))
        return states, mask, torch.tanh(self.init_state(masked_mean(states, mask)))
