"""Datasets the chapters train on, generated locally with no network (Chapter 01 onwards).

- `text`: `tokenize` and `Vocab` (word ids, padding masks).
- `shapesworld`: coloured shapes with captions, tones and interaction labels.
- `avdigits`: scikit-learn's digit images paired by label with touch-tone signals.
- `audio`: STFT and log-mel spectrograms written out (Chapter 03).
- `transforms`: image normalisation and the paired image-caption flip (Chapter 03); import it
  as `mmtutorial.data.transforms` (it loads torchvision, which the other modules do not need).
- `collate`: padding, masks and a collate for mixed-length multimodal batches (Chapter 03).
- `corrupt`: noisy image-caption pairs and simple filters that find them (Chapter 03).
"""

from .audio import log_mel_spectrogram, mel_filterbank, power_spectrogram, stft
from .avdigits import AVDigits, AVDigitsData, DTMF_FREQS, make_av_digits, stratified_split
from .collate import DictDataset, collate_multimodal, lengths_to_mask, pad_sequences
from .corrupt import blank_images, caption_labels, corrupt_pairs, disagreement, image_std, object_color
from .shapesworld import (
    ATTRIBUTES,
    CAPTION_MAX_LEN,
    COLORS,
    HELDOUT_PAIRS,
    INTERACTIONS,
    POSITIONS,
    SHAPES,
    SIZES,
    TEMPLATES,
    VERTICALS,
    ShapesWorld,
    ShapesWorldData,
    interaction_labels,
    make_shapesworld,
    shapesworld_vocab,
)
from .text import SPECIALS, Vocab, tokenize

__all__ = [
    "ATTRIBUTES",
    "AVDigits",
    "AVDigitsData",
    "CAPTION_MAX_LEN",
    "COLORS",
    "DTMF_FREQS",
    "DictDataset",
    "HELDOUT_PAIRS",
    "INTERACTIONS",
    "POSITIONS",
    "SHAPES",
    "SIZES",
    "SPECIALS",
    "ShapesWorld",
    "ShapesWorldData",
    "TEMPLATES",
    "VERTICALS",
    "Vocab",
    "blank_images",
    "caption_labels",
    "collate_multimodal",
    "corrupt_pairs",
    "disagreement",
    "image_std",
    "interaction_labels",
    "lengths_to_mask",
    "log_mel_spectrogram",
    "make_av_digits",
    "make_shapesworld",
    "mel_filterbank",
    "object_color",
    "pad_sequences",
    "power_spectrogram",
    "shapesworld_vocab",
    "stft",
    "stratified_split",
    "tokenize",
]
