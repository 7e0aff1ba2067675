"""Datasets: what the chapters train on, generated locally or read from local files.

- `shapesworld`: coloured shapes with captions, tones and interaction labels.
- `avdigits`: scikit-learn's digit images paired by label with touch-tone signals.
- `text`: the word tokenizer and `Vocab` that ShapesWorld encodes its captions with (subword
  tokenizers belong to `mmtutorial.preprocess`).
- `fashion_mnist`: the real Fashion-MNIST images, read from local files or downloaded over https
  and checked by SHA-256.
- `spoken_digits`: the digits "zero" .. "nine" spoken by eSpeak NG in many voices (generated on
  first use, cached, split by voice), and a reader for recorded digits (Free Spoken Digit Dataset).
- `multiobject`: scenes of two or three ShapesWorld objects with questions about them ("what
  colour is the circle?"), and a reader for CLEVR's questions.
- `av_mnist`: real digits with real speech: MNIST images (IDX files) paired by label with
  recordings of the Free Spoken Digit Dataset, where those files are present.
- `image_files`: `read_rgb`, how every real-data reader reads an image file (RGB, resized).
- `digit_sequences`: utterances of several spoken digits joined from the cached clips, with the
  exact span of every digit, and the French number words they translate to.
- `words`: words rendered into images (Pillow, DejaVu Sans) for reading text in images, and a
  reader for cropped word images in the ICDAR layout.
- `video`: short clips of moving ShapesWorld objects with events (a colour change, a visitor
  that appears or leaves, a collision), questions whose answers do or do not depend on the
  order of the frames, the event frames and template captions; a reader for frame folders.
- `splits`: deterministic stratified train/test splits.
- `loading`: `DictDataset` (named columns, dict samples) and `DeviceLoader` (batches of
  in-memory tensors served on the device).

What turns samples into model inputs (audio features, image transforms, padding and collate,
corruption and filters) is the next layer, `mmtutorial.preprocess`.
"""

from .av_mnist import find_mnist, pair_by_label, read_mnist
from .avdigits import DTMF_FREQS, AVDigits, AVDigitsData, make_av_digits
from .digit_sequences import (
    DigitSequences,
    french_number,
    french_tokens,
    join_french_tokens,
    make_digit_sequences,
    trim_bounds,
)
from .fashion_mnist import ChecksumError, load_fashion_mnist
from .loading import DeviceLoader, DictDataset
from .multiobject import ClevrQuestions, MultiObjectData, load_clevr_questions, make_multi_object
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
from .spoken_digits import SpokenDigits, load_digit_recordings, make_spoken_digits, voice_split
from .text import SPECIALS, Vocab, read_labelled_texts, tokenize
from .video import VideoClips, VideoFolders, load_video_folders, make_video_clips
from .words import WordImages, load_word_crops, make_words, render_words

__all__ = [
    "ATTRIBUTES",
    "AVDigits",
    "AVDigitsData",
    "CAPTION_MAX_LEN",
    "ChecksumError",
    "ClevrQuestions",
    "COLORS",
    "DeviceLoader",
    "DictDataset",
    "DigitSequences",
    "DTMF_FREQS",
    "find_mnist",
    "french_number",
    "french_tokens",
    "HELDOUT_PAIRS",
    "interaction_labels",
    "INTERACTIONS",
    "join_french_tokens",
    "load_clevr_questions",
    "load_digit_recordings",
    "load_fashion_mnist",
    "load_video_folders",
    "load_word_crops",
    "make_av_digits",
    "make_digit_sequences",
    "make_multi_object",
    "make_shapesworld",
    "make_spoken_digits",
    "make_video_clips",
    "make_words",
    "MultiObjectData",
    "pair_by_label",
    "POSITIONS",
    "read_labelled_texts",
    "read_mnist",
    "render_words",
    "SHAPES",
    "ShapesWorld",
    "shapesworld_vocab",
    "ShapesWorldData",
    "SIZES",
    "SPECIALS",
    "SpokenDigits",
    "stratified_split",
    "TEMPLATES",
    "tokenize",
    "trim_bounds",
    "VERTICALS",
    "VideoClips",
    "VideoFolders",
    "Vocab",
    "voice_split",
    "WordImages",
]
