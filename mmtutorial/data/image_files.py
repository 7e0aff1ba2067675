"""Image files on disk, read the one way every real-data reader of the book reads them."""

from __future__ import annotations

import os

import numpy as np
import torch


def read_rgb(file: str | os.PathLike, image_size: int) -> torch.Tensor:
    """The image in ``file`` as RGB, resized to ``image_size`` x ``image_size`` (bilinear).

    Returns a float32 tensor (3, S, S) in [0, 1]. Callers check ``image_size`` and say which
    file is missing (they know which row named it); Pillow reports unreadable files itself.
    """
    from PIL import Image  # Pillow comes with matplotlib; only the real-data readers need it

    with Image.open(file) as img:
        img = img.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
        pixels = np.asarray(img, dtype=np.float32) / 255.0  # (S, S, 3)
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()  # (3, S, S)
