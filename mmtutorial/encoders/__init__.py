"""Encoders: what turns one modality into vectors.

- `text`: `BagOfWords`, token ids to word counts, the simplest text encoder; it ignores word
  order, which the chapter *Multimodal models* shows is enough to read ShapesWorld's captions.
"""

from .text import BagOfWords

__all__ = ["BagOfWords"]
