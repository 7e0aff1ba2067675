"""Preprocessing: from samples to model inputs.

- `audio`: framing, window, STFT, mel filterbank and log-mel spectrogram, written out.
- `transforms`: image normalization and the paired image-caption flip (it loads torchvision,
  so import it as `mmtutorial.preprocess.transforms`).
- `collate`: padding, masks and a collate for mixed-length multimodal batches.
- `corrupt`: noisy image-caption pairs and the simple filters that find them.

Text: the word tokenizer and vocabulary that the datasets use are `tokenize` and `Vocab`
(defined in `mmtutorial.data.text`, re-exported here).
"""

from ..data.text import Vocab, tokenize
from .audio import log_mel_spectrogram, mel_filterbank, power_spectrogram, stft
from .collate import collate_multimodal, lengths_to_mask, pad_sequences
from .corrupt import (blank_images, caption_labels, corrupt_pairs, disagreement, image_std, object_color,
                      object_color_id)

__all__ = [
    "Vocab",
    "blank_images",
    "caption_labels",
    "collate_multimodal",
    "corrupt_pairs",
    "disagreement",
    "image_std",
    "lengths_to_mask",
    "log_mel_spectrogram",
    "mel_filterbank",
    "object_color",
    "object_color_id",
    "pad_sequences",
    "power_spectrogram",
    "stft",
    "tokenize",
]
