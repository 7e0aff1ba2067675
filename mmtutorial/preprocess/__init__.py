"""Preprocessing: from samples to model inputs.

- `audio`: framing, window, STFT, mel filterbank, log-mel spectrogram and MFCC, written out.
- `transforms`: image normalization and the paired image-caption flip (it loads torchvision,
  so import it as `mmtutorial.preprocess.transforms`).
- `collate`: padding, masks and a collate for mixed-length multimodal batches.
- `corrupt`: noisy image-caption pairs and the simple filters that find them.
- `bpe`: byte-pair encoding, a subword tokenizer trained from a corpus (`train_bpe`, `BPE`).

Text: the word tokenizer and vocabulary that the datasets use are `tokenize` and `Vocab`
(defined in `mmtutorial.data.text`, re-exported here).
"""

from ..data.text import Vocab, tokenize
from .audio import dct_matrix, log_mel_spectrogram, mel_filterbank, mfcc, power_spectrogram, stft
from .bpe import BPE, train_bpe
from .collate import collate_multimodal, lengths_to_mask, pad_sequences
from .corrupt import (blank_images, caption_labels, corrupt_pairs, disagreement, image_std, object_color,
                      object_color_id)

__all__ = [
    "BPE",
    "Vocab",
    "blank_images",
    "caption_labels",
    "collate_multimodal",
    "corrupt_pairs",
    "dct_matrix",
    "disagreement",
    "image_std",
    "lengths_to_mask",
    "mfcc",
    "log_mel_spectrogram",
    "mel_filterbank",
    "object_color",
    "object_color_id",
    "pad_sequences",
    "power_spectrogram",
    "stft",
    "tokenize",
    "train_bpe",
]
