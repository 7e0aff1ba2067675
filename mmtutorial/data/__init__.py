"""Datasets the chapters train on, generated locally with no network (Chapter 01 onwards).

- `text`: `tokenize` and `Vocab` (word ids, padding masks).
- `shapesworld`: coloured shapes with captions, tones and interaction labels.
- `avdigits`: scikit-learn's digit images paired by label with touch-tone signals.
"""

from .avdigits import AVDigits, AVDigitsData, DTMF_FREQS, make_av_digits, stratified_split
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
