"""Words rendered into images, for learning to read text in images; and a reader for real word crops.

`render_words` draws each word with Pillow in DejaVu Sans, the TrueType font that matplotlib
ships in its own package data (so it is present wherever matplotlib is: here, in CI, in Colab);
only if that file is missing does it fall back to Pillow's built-in default font (then the
images differ from the book's). Each word is drawn dark on a light background at a random
horizontal offset, a random vertical jitter and a random contrast, then Gaussian pixel noise is
added: a grayscale image (1, H, W) in [0, 1].

`make_words` draws random lowercase strings and renders them; `encode_words` turns strings into
the padded label ids a CTC loss wants (0 is the CTC blank, the letters are 1..26) and
`decode_ids` turns ids back into strings.

`load_word_crops` reads the real counterpart, cropped word images with their transcriptions, in
the layout of the ICDAR 2013 / 2015 word-recognition sets (``gt.txt`` lines ``word_1.png,
"Tiredness"``), resized to the same height.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .._checks import check_int, check_number, check_path, check_type

__all__ = [
    "ALPHABET", "BLANK", "WordImages", "decode_ids", "encode_words", "font_path", "load_word_crops", "make_words",
    "render_words",
]

ALPHABET: str = string.ascii_lowercase  # the letters a reader learns; class id = 1 + index
BLANK: int = 0  # the CTC blank's class id


def font_path() -> Path | None:
    """The DejaVu Sans TrueType file that matplotlib ships, or None where it is absent."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a dependency of the package
        return None
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return path if path.is_file() else None


def _font(size: int):
    from PIL import ImageFont  # Pillow comes with matplotlib

    path = font_path()
    return ImageFont.truetype(str(path), size) if path is not None else ImageFont.load_default()


def encode_words(words: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Strings of `ALPHABET` letters -> (ids (N, L) padded with BLANK, lengths (N,)); L the longest word."""
    if isinstance(words, str):
        raise TypeError("words must be a list of strings, got a single str")
    words = list(words)
    for i, w in enumerate(words):
        check_type(f"words[{i}]", w, str, "a str")
        if not w or any(ch not in ALPHABET for ch in w):
            raise ValueError(f"words[{i}] must be a non-empty string of lowercase letters a-z, got {w!r}")
    L = max((len(w) for w in words), default=0)
    ids = torch.full((len(words), L), BLANK, dtype=torch.int64)
    for i, w in enumerate(words):
        ids[i, : len(w)] = torch.tensor([1 + ALPHABET.index(ch) for ch in w])
    return ids, torch.tensor([len(w) for w in words], dtype=torch.int64)


def decode_ids(ids: Sequence[int]) -> str:
    """Class ids (1..26; BLANK is skipped) -> the string they spell."""
    return "".join(ALPHABET[int(i) - 1] for i in ids if int(i) != BLANK)


def render_words(words: Sequence[str], *, height: int = 16, width: int = 64, font_size: int = 11,
                 noise: float = 0.05, rng: np.random.Generator | None = None) -> torch.Tensor:
    """Draw each word into a grayscale image: (N, 1, height, width) float32 in [0, 1].

    The word starts at a random offset that keeps it inside the image (0 when it does not
    fit: then its end is cut off), with a vertical jitter of ±1 pixel; ink and paper gray levels
    are random (ink 0.0-0.35, paper 0.65-1.0); then Gaussian noise of std `noise`. `rng`
    (a numpy Generator) draws all of it; it is needed unless nothing is random
    (it defaults to a fixed seed 0).
    """
    from PIL import Image, ImageDraw

    if isinstance(words, str):
        raise TypeError("words must be a list of strings, got a single str")
    H, W = check_int("height", height, min=8), check_int("width", width, min=8)
    font_size = check_int("font_size", font_size, min=4)
    noise = check_number("noise", noise, min=0)
    rng = np.random.default_rng(0) if rng is None else check_type("rng", rng, np.random.Generator,
                                                                  "a numpy.random.Generator")
    font = _font(font_size)
    out = np.empty((len(words), 1, H, W), dtype=np.float32)
    for i, word in enumerate(words):
        check_type(f"words[{i}]", word, str, "a str")
        left, top, right, bottom = font.getbbox(word)
        room = max(W - (right - left) - 2, 0)
        x = int(rng.integers(0, room + 1)) + 1 - left
        y = (H - (bottom - top)) // 2 - top + int(rng.integers(-1, 2))
        ink, paper = rng.uniform(0.0, 0.35), rng.uniform(0.65, 1.0)
        im = Image.new("L", (W, H), 0)
        ImageDraw.Draw(im).text((x, y), word, fill=255, font=font)
        alpha = np.asarray(im, dtype=np.float32) / 255.0  # (H, W) how much ink covers each pixel
        out[i, 0] = paper + (ink - paper) * alpha
    images = torch.from_numpy(out)
    if noise > 0:
        images += noise * torch.from_numpy(rng.standard_normal(out.shape).astype(np.float32))
    return images.clamp_(0.0, 1.0)


@dataclass
class WordImages:
    """Word images with their transcriptions and the CTC targets."""

    images: torch.Tensor  # (N, 1, H, W) float32 in [0, 1]
    words: list[str]  # N strings
    labels: torch.Tensor  # (N, L) int64 class ids, padded with BLANK
    lengths: torch.Tensor  # (N,) int64 letters per word

    def __len__(self) -> int:
        return len(self.words)


def make_words(n: int, *, min_len: int = 3, max_len: int = 6, seed: int = 0, height: int = 16, width: int = 64,
               font_size: int = 11, noise: float = 0.05) -> WordImages:
    """`n` random lowercase strings of `min_len`..`max_len` letters, rendered by `render_words`.

    Every letter is equally likely at every place, so a reader cannot lean on a dictionary: it
    must read each letter. The same arguments always give identical tensors.
    """
    n = check_int("n", n, min=0)
    min_len = check_int("min_len", min_len, min=1)
    max_len = check_int("max_len", max_len, min=min_len)
    seed = check_int("seed", seed, min=0)
    word_seq, image_seq = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(word_seq)
    lengths = rng.integers(min_len, max_len + 1, n)
    words = ["".join(ALPHABET[j] for j in rng.integers(0, len(ALPHABET), k)) for k in lengths.tolist()]
    images = render_words(words, height=height, width=width, font_size=font_size, noise=noise,
                          rng=np.random.default_rng(image_seq))
    labels, lengths_t = encode_words(words) if words else (torch.zeros(0, 0, dtype=torch.int64),
                                                           torch.zeros(0, dtype=torch.int64))
    return WordImages(images, words, labels, lengths_t)


def load_word_crops(root: str | os.PathLike, gt_file: str = "gt.txt", *, height: int = 16, width: int = 64,
                    max_words: int | None = None, lowercase: bool = True) -> WordImages:
    """Read cropped word images and their transcriptions in the ICDAR word-recognition layout.

    ``root/gt_file`` has one line per image, ``word_1.png, "Tiredness"`` (file name, comma,
    the transcription in double quotes; a UTF-8 byte-order mark is allowed). Each image is read
    as grayscale, resized to `height` × `width` and scaled to [0, 1]. Transcriptions are
    lower-cased (`lowercase`); those with a character outside `ALPHABET` are skipped (real sets
    hold digits and punctuation; extend `ALPHABET` to keep them). The first `max_words` kept
    words are returned (all by default).
    """
    from PIL import Image

    root = Path(check_path("root", root))
    H, W = check_int("height", height, min=8), check_int("width", width, min=8)
    if max_words is not None:
        max_words = check_int("max_words", max_words, min=1)
    path = root / gt_file
    if not path.is_file():
        raise FileNotFoundError(f"no transcriptions at {path}: root must hold {gt_file} and the word images")
    files, words = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, quoted = line.partition(",")
        quoted = quoted.strip()
        if not sep or len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
            raise ValueError(f'{path}, line {number}: expected `file.png, "word"`, got {line!r}')
        word = quoted[1:-1].lower() if lowercase else quoted[1:-1]
        if word and all(ch in ALPHABET for ch in word):
            files.append(name.strip())
            words.append(word)
        if max_words is not None and len(words) == max_words:
            break
    images = torch.empty(len(files), 1, H, W)
    for j, name in enumerate(files):
        with Image.open(root / name) as im:
            im = im.convert("L").resize((W, H), Image.BILINEAR)
            images[j, 0] = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)
    labels, lengths = encode_words(words) if words else (torch.zeros(0, 0, dtype=torch.int64),
                                                         torch.zeros(0, dtype=torch.int64))
    return WordImages(images, words, labels, lengths)
