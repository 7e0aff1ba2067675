"""Encoders: what turns one modality into vectors.

- `image`: `ConvEncoder` (a small CNN), `PatchEmbedding` and `ViT` (a Vision Transformer), and
  the small CNNs of the first chapters, `CoordCNN` and `TinyCNN`.
- `text`: `BagOfWords` (word counts, order ignored); `RNNEncoder` read to the last real token;
  `TransformerTextEncoder` built from `attention`, `SelfAttention`, `EncoderLayer`,
  `sinusoidal_positions` and `masked_mean`.
- `audio`: `LogMel` (the log-mel spectrogram as a layer), `LogMelCNN` (a 2-D CNN on log-mel
  spectrograms) and `WaveformCNN` (a 1-D CNN on raw samples).
- `minilm`: `MiniLM`, a BERT-style encoder that loads the pretrained all-MiniLM-L6-v2 weights
  (`load_minilm`, `encode_sentences`; needs the `text` extra: safetensors and tokenizers).
"""

from .audio import LogMel, LogMelCNN, WaveformCNN
from .image import ConvEncoder, CoordCNN, PatchEmbedding, TinyCNN, ViT
from .minilm import MiniLM, MiniLMConfig, encode_sentences, load_minilm
from .text import (BagOfWords, EncoderLayer, RNNEncoder, SelfAttention, TransformerTextEncoder, attention,
                   last_valid, masked_mean, sinusoidal_positions)

__all__ = [
    "BagOfWords",
    "ConvEncoder",
    "CoordCNN",
    "EncoderLayer",
    "LogMel",
    "LogMelCNN",
    "MiniLM",
    "MiniLMConfig",
    "PatchEmbedding",
    "RNNEncoder",
    "SelfAttention",
    "TinyCNN",
    "TransformerTextEncoder",
    "ViT",
    "WaveformCNN",
    "attention",
    "encode_sentences",
    "last_valid",
    "load_minilm",
    "masked_mean",
    "sinusoidal_positions",
]
