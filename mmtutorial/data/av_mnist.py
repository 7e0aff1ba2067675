"""AV-MNIST-style data: real handwritten digits paired by label with real spoken digits.

The chapter *Direct fusion: concatenation, products and tensors* trains on AV-digits (8x8
digits and touch tones, generated here); its section on real data runs the same fusion models
on MNIST images {cite}`lecun1998mnist` paired with recordings of the Free Spoken Digit
Dataset, in the spirit of the AV-MNIST benchmark. Nothing here downloads anything:

- :func:`read_mnist` reads MNIST's four IDX files (the format of Fashion-MNIST, read by
  :func:`mmtutorial.data.fashion_mnist.read_idx`) from a folder, gzip-compressed or not, in the
  plain layout or torchvision's (``<root>/MNIST/raw``, where ``torchvision.datasets.MNIST(root,
  download=True)`` puts them);
- the recordings come from :func:`mmtutorial.data.spoken_digits.load_digit_recordings`;
- :func:`pair_by_label` pairs every image with a random recording *of the same digit*, as
  AV-digits pairs images with tones. Pairing by label makes the two modalities conditionally
  independent given the digit: whatever each tells about the digit, they say it independently.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .._checks import check_choice, check_int, check_path, check_tensor
from .fashion_mnist import read_idx

__all__ = ["MNIST_FILES", "find_mnist", "pair_by_label", "read_mnist"]

#: The two files of each split: (images, labels), as MNIST's site and torchvision name them.
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_mnist(root: str | os.PathLike) -> Path | None:
    """The folder under ``root`` that holds MNIST's four files (``root`` itself or ``root/MNIST/raw``), or None."""
    root = Path(check_path("root", root))
    for folder in (root, root / "MNIST" / "raw"):
        if all(_file(folder, name) is not None for pair in MNIST_FILES.values() for name in pair):
            return folder
    return None


def read_mnist(root: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST's images (N, 1, 28, 28) float32 in [0, 1] and labels (N,) int64 of ``split`` ("train" or "test").

    ``root`` holds the four IDX files, compressed (``.gz``) or not, directly or in torchvision's
    ``MNIST/raw`` subfolder. FileNotFoundError names the files when they are absent; ValueError
    when images and labels do not match.
    """
    check_choice("split", split, tuple(MNIST_FILES))
    folder = find_mnist(root)
    if folder is None:
        raise FileNotFoundError(f"root: MNIST's files {[n for pair in MNIST_FILES.values() for n in pair]} "
                                f"(optionally .gz) were not found in {root} or {Path(root) / 'MNIST' / 'raw'}")
    images, labels = (read_idx(_file(folder, name)) for name in MNIST_FILES[split])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{split}: images of shape {tuple(images.shape)} do not match labels of shape "
                         f"{tuple(labels.shape)} (expected (N, H, W) and (N,))")
    if len(labels) and labels.max() > 9:
        raise ValueError(f"{split}: labels must be digits 0..9, got a maximum of {int(labels.max())}")
    return images.unsqueeze(1).float().div_(255), labels.long()  # (N, 1, 28, 28), (N,)


def pair_by_label(labels: torch.Tensor, partner_labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """For each of ``labels`` (N,), the index of a random partner with the same label, (N,).

    ``partner_labels`` (K,) are the labels of the other modality's samples (e.g. recordings).
    Partners are drawn uniformly with replacement among those of the same label, from a
    generator seeded with ``seed``: the same arguments give the same pairs. ValueError if a
    label in ``labels`` has no partner.
    """
    labels = check_tensor("labels", labels, "(N,)", dtype="int")
    partner_labels = check_tensor("partner_labels", partner_labels, "(K,)", dtype="int", nonempty=True)
    seed = check_int("seed", seed, min=0)
    gen = torch.Generator().manual_seed(seed)
    labels, partner_labels = labels.cpu(), partner_labels.cpu()
    partners = torch.empty(len(labels), dtype=torch.long)
    for value in labels.unique().tolist():
        mine = (labels == value).nonzero().squeeze(1)  # (n_v,)
        theirs = (partner_labels == value).nonzero().squeeze(1)  # (k_v,)
        if len(theirs) == 0:
            raise ValueError(f"partner_labels has no sample of label {value}, which labels holds {len(mine)} times")
        partners[mine] = theirs[torch.randint(len(theirs), (len(mine),), generator=gen)]
    return partners
