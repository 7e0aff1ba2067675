"""Models: the whole multimodal model, assembled from the encoders and fusion of the earlier chapters.

The chapter *The whole model, and what goes wrong* starts from a model that circulates in
tutorials and does not run, takes it apart one defect at a time, and keeps here what it builds:

- `FixedBigModel`: the circulating ``MultimodalBigModel`` corrected: inputs with a batch *and* a
  sequence axis, the RNN's last valid hidden state (not its ``(output, h_n)`` tuple), image
  feature maps pooled to a vector, and a fusion layer as wide as what it fuses.
- `TextImageClassifier`: a text encoder and an image encoder, a head per modality and a fused
  head (`ConcatFusion`), learned *missing* tokens for an absent modality, and **modality
  dropout**: in training, a whole modality of a sample is replaced by its missing token.
- `ogm_coefficients`: the on-the-fly gradient modulation of OGM-GE, which slows the encoder of
  the modality that dominates the fused prediction.
- `corrupt_tokens`, `noisy_images`: the corruptions the chapter tests robustness with.
- `read_image_text_jsonl`: image-text classification data in the Hateful Memes layout (a JSON
  Lines file of ``{"img", "text", "label"}`` next to the image files), for the section on real data.

The forward passes check shapes and dtypes only (no GPU synchronization).
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Mapping

import torch
from torch import nn

from ._checks import check_int, check_number, check_path, check_tensor, check_type
from .data.image_files import read_rgb
from .encoders.text import last_valid
from .fusion import ConcatFusion

__all__ = [
    "FixedBigModel",
    "TextImageClassifier",
    "corrupt_tokens",
    "noisy_images",
    "ogm_coefficients",
    "read_image_text_jsonl",
]


def _linear_heads(name: str, classes: Mapping[str, int], dim: int, what: str) -> nn.ModuleDict:
    """One linear head D -> C per entry of ``classes`` (name -> number of classes, at least 2)."""
    check_type(name, classes, Mapping, f"a dict of {what} -> number of classes")
    if not classes:
        raise ValueError(f"{name} must name at least one {what}")
    return nn.ModuleDict({k: nn.Linear(dim, check_int(f"{name}[{k!r}]", c, min=2)) for k, c in classes.items()})


def _check_lengths(lengths: torch.Tensor | None, batch: int, steps: int, device: torch.device) -> torch.Tensor:
    """``lengths`` (B,) of ints in [1, T]; None means every sequence is T steps long."""
    if lengths is None:
        return torch.full((batch,), steps, dtype=torch.long, device=device)
    lengths = check_tensor("lengths", lengths, "(B,)", dtype="int")
    if lengths.shape[0] != batch:
        raise ValueError(f"lengths must have one entry per sequence ({batch}), got {lengths.shape[0]}")
    return lengths


class FixedBigModel(nn.Module):
    """The circulating ``MultimodalBigModel``, corrected: text (B, T, text_dim) and images (B, 3, H, W) -> (B, out_dim).

    Same layers and sizes as the original: a 2-layer ``nn.RNN`` (``text_dim`` -> ``hidden``) and
    one 3x3 convolution (3 -> ``channels``) feed a linear fusion layer with ``out_dim`` outputs.
    The fixes: the RNN reads ``batch_first`` sequences and the text's vector is the top layer's
    state after each sequence's last real step (`last_valid`); the convolution's feature maps
    are ReLU'd and averaged over space to one vector of ``channels``; the fusion layer takes
    ``hidden + channels`` inputs. ``lengths`` (B,) counts each sequence's real steps (padding at
    the end); None means all T.
    """

    def __init__(self, text_dim: int = 100, hidden: int = 50, num_layers: int = 2, channels: int = 64,
                 out_dim: int = 100) -> None:
        super().__init__()
        self.text_dim = check_int("text_dim", text_dim, min=1)
        self.text_rnn = nn.RNN(text_dim, check_int("hidden", hidden, min=1),
                               num_layers=check_int("num_layers", num_layers, min=1), batch_first=True)
        self.image_cnn = nn.Conv2d(3, check_int("channels", channels, min=1), kernel_size=3, stride=1, padding=1)
        self.fusion = nn.Linear(hidden + channels, check_int("out_dim", out_dim, min=1))

    def forward(self, x_text: torch.Tensor, x_image: torch.Tensor,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        # The original's silent failure: a (B, D) input is read as ONE unbatched sequence of B steps.
        x_text = check_tensor("x_text", x_text, "(B, T, text_dim)", dtype="float")
        if x_text.shape[2] != self.text_dim:
            raise ValueError(f"x_text must have shape (B, T, {self.text_dim}), got {tuple(x_text.shape)}")
        x_image = check_tensor("x_image", x_image, "(B, 3, H, W)", dtype="float")
        B, T, _ = x_text.shape
        lengths = _check_lengths(lengths, B, T, x_text.device)
        output, _ = self.text_rnn(x_text)                   # (B, T, hidden); the tuple's second item is h_n
        text = last_valid(output, lengths)                  # (B, hidden)
        maps = torch.relu(self.image_cnn(x_image))          # (B, channels, H, W)
        image = maps.mean(dim=(2, 3))                       # (B, channels): global average pooling
        return self.fusion(torch.cat([text, image], dim=1))  # (B, out_dim)


class TextImageClassifier(nn.Module):
    """Tokens (B, T) and images (B, C, H, W) -> logits of a fused head and of one head per modality.

    ``text_encoder`` maps tokens to (B, text_dim) and ``image_encoder`` images to (B,
    image_dim) (e.g. `RNNEncoder` and `TinyCNN`). On top: ``text_head`` and ``image_head``
    (linear, one per modality, for auxiliary losses and probes) and ``fusion``, a
    `ConcatFusion` with ``hidden_dim`` (None: one linear layer on the concatenation, whose
    logits split exactly into a text part and an image part, see `fused_parts`).

    A modality can be *missing*: where ``text_present`` / ``image_present`` (B,) is False, that
    sample's features are replaced by a learned missing token (``missing_text``,
    ``missing_image``, zeros at first). **Modality dropout**: in training mode, with
    probability ``p_drop`` a sample loses one of its two modalities (each equally likely), so
    the model learns to predict from either alone; in eval mode nothing is dropped.

    ``forward`` returns a dict: ``"fused"``, ``"text"``, ``"image"`` logits (B, num_classes)
    and the features ``"text_features"`` (B, text_dim), ``"image_features"`` (B, image_dim)
    after the missing tokens, which a training step may hook (gradient modulation).
    """

    def __init__(self, text_encoder: nn.Module, image_encoder: nn.Module, text_dim: int, image_dim: int,
                 num_classes: int, *, hidden_dim: int | None = None, p_drop: float = 0.0) -> None:
        super().__init__()
        self.text_encoder = check_type("text_encoder", text_encoder, nn.Module, "an nn.Module")
        self.image_encoder = check_type("image_encoder", image_encoder, nn.Module, "an nn.Module")
        self.text_dim = check_int("text_dim", text_dim, min=1)
        self.image_dim = check_int("image_dim", image_dim, min=1)
        self.num_classes = check_int("num_classes", num_classes, min=2)
        self.p_drop = check_number("p_drop", p_drop, min=0, max=1)
        self.text_head = nn.Linear(text_dim, num_classes)
        self.image_head = nn.Linear(image_dim, num_classes)
        self.fusion = ConcatFusion((text_dim, image_dim), num_classes, hidden_dim=hidden_dim)
        self.missing_text = nn.Parameter(torch.zeros(text_dim))
        self.missing_image = nn.Parameter(torch.zeros(image_dim))

    def _present(self, name: str, present: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        if present is None:
            return None
        present = check_tensor(name, present, "(B,)", dtype="bool")
        if present.shape[0] != batch:
            raise ValueError(f"{name} must have one entry per sample ({batch}), got {present.shape[0]}")
        return present

    def forward(self, tokens: torch.Tensor, images: torch.Tensor, text_present: torch.Tensor | None = None,
                image_present: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        text = self.text_encoder(tokens)                    # (B, text_dim)
        image = self.image_encoder(images)                  # (B, image_dim)
        if text.shape != (tokens.shape[0], self.text_dim) or image.shape != (images.shape[0], self.image_dim):
            raise ValueError(f"the encoders must return (B, {self.text_dim}) and (B, {self.image_dim}), "
                             f"got {tuple(text.shape)} and {tuple(image.shape)}")
        B = text.shape[0]
        keep_text = self._present("text_present", text_present, B)
        keep_image = self._present("image_present", image_present, B)
        if self.training and self.p_drop > 0:              # modality dropout: drop one of the two
            drop = torch.rand(B, device=text.device) < self.p_drop           # (B,) this sample loses one
            text_goes = torch.rand(B, device=text.device) < 0.5              # (B,) which one
            keep_text = ~(drop & text_goes) if keep_text is None else keep_text & ~(drop & text_goes)
            keep_image = ~(drop & ~text_goes) if keep_image is None else keep_image & ~(drop & ~text_goes)
        if keep_text is not None:
            text = torch.where(keep_text[:, None], text, self.missing_text.to(text.dtype))     # (B, text_dim)
        if keep_image is not None:
            image = torch.where(keep_image[:, None], image, self.missing_image.to(image.dtype))  # (B, image_dim)
        return {"fused": self.fusion(text, image), "text": self.text_head(text), "image": self.image_head(image),
                "text_features": text, "image_features": image}

    def fused_parts(self, text_features: torch.Tensor,
                    image_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The fused logits split into a text part and an image part, each with half the bias.

        Only for ``hidden_dim=None`` (one linear layer), where fused = W_t f_t + W_i f_i + b
        exactly: returns (W_t f_t + b/2, W_i f_i + b/2), the two per-modality scores of OGM-GE.
        """
        if self.fusion.hidden_dim is not None:
            raise ValueError("fused_parts needs a linear fusion (hidden_dim=None); this model has "
                             f"hidden_dim={self.fusion.hidden_dim}")
        layer = self.fusion.net
        W_t, W_i = layer.weight[:, : self.text_dim], layer.weight[:, self.text_dim:]  # (C, D_t), (C, D_i)
        half = layer.bias / 2                                                          # (C,)
        return text_features @ W_t.T + half, image_features @ W_i.T + half             # (B, C) each

    def extra_repr(self) -> str:
        return f"text_dim={self.text_dim}, image_dim={self.image_dim}, num_classes={self.num_classes}, " \
               f"p_drop={self.p_drop}"


def ogm_coefficients(logits_a: torch.Tensor, logits_b: torch.Tensor, labels: torch.Tensor,
                     alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """On-the-fly gradient modulation (OGM-GE, Peng et al. 2022): a factor for each modality's gradient.

    Each modality's score is the sum over the batch of the softmax probability its part of the
    fused logits gives the true class, s_a and s_b. With rho = s_a / s_b, the dominant modality
    (rho > 1 for a, rho < 1 for b) gets k = 1 - tanh(alpha * rho) (with rho the ratio in its
    favour), the other k = 1. Multiplying an encoder's gradients by its k slows the modality
    that is ahead, so the other can catch up. Returns (k_a, k_b), 0-d tensors (no GPU sync),
    detached. ``alpha`` >= 0; 0 turns modulation off.
    """
    logits_a = check_tensor("logits_a", logits_a, "(B, C)", dtype="float")
    logits_b = check_tensor("logits_b", logits_b, "(B, C)", dtype="float")
    labels = check_tensor("labels", labels, "(B,)", dtype="int")
    if logits_a.shape != logits_b.shape or labels.shape[0] != logits_a.shape[0]:
        raise ValueError(f"logits_a, logits_b must have the same shape (B, C) and labels (B,), got "
                         f"{tuple(logits_a.shape)}, {tuple(logits_b.shape)} and {tuple(labels.shape)}")
    alpha = check_number("alpha", alpha, min=0)
    with torch.no_grad():
        pick = labels[:, None]
        s_a = logits_a.float().softmax(dim=1).gather(1, pick).sum()   # () score of modality a
        s_b = logits_b.float().softmax(dim=1).gather(1, pick).sum()
        rho = s_a / s_b.clamp(min=1e-12)
        one = torch.ones((), device=rho.device)
        k_a = torch.where(rho > 1, 1 - torch.tanh(alpha * rho), one)
        k_b = torch.where(rho < 1, 1 - torch.tanh(alpha / rho.clamp(min=1e-12)), one)
    return k_a, k_b


# ----- what goes wrong: corrupted inputs ----------------------------------------------------------


def corrupt_tokens(tokens: torch.Tensor, p: float, vocab_size: int, *, pad_id: int = 0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each real (non-padding) token, with probability ``p``, by a random id other than ``pad_id``.

    The random ids are uniform over [0, vocab_size) without ``pad_id``. Returns a new (B, T)
    tensor; padding is left alone, so lengths do not change. ``generator`` (on the tokens'
    device) makes the corruption repeatable.
    """
    tokens = check_tensor("tokens", tokens, "(B, T)", dtype="int")
    p = check_number("p", p, min=0, max=1)
    vocab_size = check_int("vocab_size", vocab_size, min=2)
    pad_id = check_int("pad_id", pad_id, min=0, max=vocab_size - 1)
    hit = torch.rand(tokens.shape, generator=generator, device=tokens.device) < p           # (B, T)
    random = torch.randint(0, vocab_size - 1, tokens.shape, generator=generator, device=tokens.device)
    random = random + (random >= pad_id).long()                                            # skip pad_id
    return torch.where(hit & (tokens != pad_id), random, tokens)


def noisy_images(images: torch.Tensor, std: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images (B, C, H, W) in [0, 1] plus Gaussian noise of standard deviation ``std``, clipped to [0, 1]."""
    images = check_tensor("images", images, "(B, C, H, W)", dtype="float")
    std = check_number("std", std, min=0)
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return (images + std * noise).clamp(0.0, 1.0)


# ----- real data ------------------------------------------------------------------------------------


def read_image_text_jsonl(path: str | os.PathLike, image_size: int = 64, *, image_key: str = "img",
                          text_key: str = "text", label_key: str = "label",
                          limit: int | None = None) -> tuple[torch.Tensor, list[str], list[str]]:
    """Read image-text classification pairs in the Hateful Memes layout.

    ``path`` is a JSON Lines file, one object per line with the image's file name under
    ``image_key`` (relative to the file's folder, e.g. ``"img/42953.png"``), the text under
    ``text_key`` and the class under ``label_key``; other keys are ignored. Every image is read
    with Pillow, converted to RGB and resized to ``image_size`` x ``image_size``. Returns
    ``(images (N, 3, S, S) float32 in [0, 1], texts, labels)``, labels as strings. ``limit``
    reads only the first rows. ValueError for a row without a key, an empty text, a missing
    image file or an empty file.
    """
    path = pathlib.Path(check_path("path", path))
    image_size = check_int("image_size", image_size, min=1)
    if limit is not None:
        limit = check_int("limit", limit, min=1)
    images, texts, labels = [], [], []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            if limit is not None and len(texts) == limit:
                break
            row = json.loads(line)
            if not isinstance(row, dict) or any(k not in row for k in (image_key, text_key, label_key)):
                raise ValueError(f"row {i} of {path} must have the keys {image_key!r}, {text_key!r} and "
                                 f"{label_key!r}, got {row!r}")
            if not isinstance(row[text_key], str) or not row[text_key].strip():
                raise ValueError(f"row {i} of {path} has an empty or non-string {text_key!r}: {row[text_key]!r}")
            file = path.parent / str(row[image_key])
            if not file.is_file():
                raise ValueError(f"row {i} of {path} names the image {row[image_key]!r}, but there is no {file}")
            images.append(read_rgb(file, image_size))   # (3, S, S)
            texts.append(row[text_key])
            labels.append(str(row[label_key]))
    if not texts:
        raise ValueError(f"path must hold at least one example, {path} has none")
    return torch.stack(images), texts, labels   # (N, 3, S, S)

