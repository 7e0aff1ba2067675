"""Datasets: what the chapters train on, generated locally or read from local files.

- `shapesworld`: coloured shapes with captions, tones and interaction labels.
- `avdigits`: scikit-learn's digit images paired by label with touch-tone signals.
- `text`: the word tokenizer and `Vocab` that ShapesWorld encodes its captions with (subword
  tokenizers belong to `mmtutorial.preprocess`).
- `splits`: deterministic stratified train/test splits.
- `loading`: `DictDataset` (named columns, dict samples) and `DeviceLoader` (batches of
  in-memory tensors served on the device).

What turns samples into model inputs (audio features, image transforms, padding and collate,
corruption and filters) is the next layer, `mmtutorial.preprocess`.
"""

from .avdigits import DTMF_FREQS, AVDigits, AVDigitsData, make_av_digits
from .loading import DeviceLoader, DictDataset
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
from .splits import stratified_split
from .text import SPECIALS, Vocab, tokenize

__all__ = [
    "ATTRIBUTES",
    "AVDigits",
    "AVDigitsData",
    "CAPTION_MAX_LEN",
    "COLORS",
    "DTMF_FREQS",
    "DeviceLoader",
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
    "interaction_labels",
    "make_av_digits",
    "make_shapesworld",
    "shapesworld_vocab",
    "stratified_split",
    "tokenize",
]
