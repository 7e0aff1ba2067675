"""Fashion-MNIST: 70,000 real 28×28 grey photos of clothes in ten classes, read from local files.

The chapter *Image encoders: from CNNs to Vision Transformers* trains its CNN and its Vision
Transformer on it. The data comes as four gzip-compressed files in the IDX format of MNIST:

- ``train-images-idx3-ubyte.gz`` (60,000 images) and ``train-labels-idx1-ubyte.gz``;
- ``t10k-images-idx3-ubyte.gz`` (the official 10,000 test images) and ``t10k-labels-idx1-ubyte.gz``.

An IDX file is a 4-byte header (two zero bytes, a type code: 0x08 for unsigned bytes, and the
number of axes), one big-endian 4-byte size per axis, then the values in row-major order.
:func:`read_idx` parses it in a few lines.

Where the files come from, in order: the folder ``root`` if given; Debian's package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``); torchvision's layout
(``<root>/FashionMNIST/raw``, compressed or not); the cache (``~/.cache/mmtutorial/fashion-mnist``
or ``$MMTUTORIAL_CACHE/fashion-mnist``). Where none holds them (Colab), :func:`load_fashion_mnist`
downloads them over https with :func:`download` and keeps them in the cache.

Every file is checked against the SHA-256 of its *decompressed* content, hard-coded below:
mirrors compress the same bytes differently (Debian's gzip headers differ from Zalando's), but
the images and labels inside are the same everywhere. A file whose content does not match
raises :class:`ChecksumError`, whether it was read from disk or downloaded.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import urllib.request
import zlib
from pathlib import Path
from typing import Callable

import torch

from .._checks import check_choice, check_path, check_type
from .._files import atomic_write

__all__ = [
    "CLASSES",
    "FILES",
    "SHA256",
    "URL",
    "ChecksumError",
    "download",
    "find_fashion_mnist",
    "load_fashion_mnist",
    "read_idx",
]

#: The ten classes, in label order (label 0 is "T-shirt/top").
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

#: The four files of each split: (images, labels).
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

#: SHA-256 of each file's decompressed IDX content (computed from Debian's dataset-fashion-mnist).
SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

#: Where the files are downloaded from: Zalando Research's own repository, over https.
URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
MAX_BYTES = 64 * 2**20  # the largest decompressed file is 47 MB: refuse anything far bigger

_IDX_TYPES = {0x08: torch.uint8}  # the only type Fashion-MNIST uses


class ChecksumError(ValueError):
    """A file's content does not have the SHA-256 it must have."""


def cache_dir() -> Path:
    """``$MMTUTORIAL_CACHE/fashion-mnist``, else ``~/.cache/mmtutorial/fashion-mnist``."""
    base = os.environ.get("MMTUTORIAL_CACHE") or Path.home() / ".cache" / "mmtutorial"
    return Path(base) / "fashion-mnist"


def _gunzip(data: bytes, name: str) -> bytes:
    """The decompressed bytes of gzip data (or ``data`` itself when it is not compressed), bounded."""
    if data[:2] != b"\x1f\x8b":
        return data
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_BYTES + 1)
    except zlib.error as err:
        raise ValueError(f"{name}: not a valid gzip file ({err})") from err
    if len(out) > MAX_BYTES:
        raise ValueError(f"{name}: decompresses to more than {MAX_BYTES} bytes; refusing it")
    return out


def _verified(content: bytes, sha256: str, name: str) -> bytes:
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha256:
        raise ChecksumError(f"{name}: SHA-256 of the content is {digest}, expected {sha256}; "
                            "the file is damaged or not the one expected (delete it to download it again)")
    return content


def parse_idx(content: bytes, name: str = "the IDX data") -> torch.Tensor:
    """Parse the bytes of an (uncompressed) IDX file into a uint8 tensor of the shape its header gives."""
    check_type("content", content, (bytes, bytearray, memoryview), "bytes")
    content = bytes(content)
    if len(content) < 4 or content[0] != 0 or content[1] != 0:
        raise ValueError(f"{name}: not an IDX file (it must start with two zero bytes)")
    dtype, ndim = content[2], content[3]
    if dtype not in _IDX_TYPES:
        raise ValueError(f"{name}: IDX type code 0x{dtype:02x} is not supported (only 0x08, unsigned bytes)")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise ValueError(f"{name}: the header is cut short ({len(content)} bytes for {ndim} axes)")
    shape = [int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    n = 1
    for size in shape:
        n *= size
    if len(content) - header != n:
        raise ValueError(f"{name}: the header announces shape {tuple(shape)} ({n} values), "
                         f"the file holds {len(content) - header}")
    if n == 0:
        return torch.empty(shape, dtype=torch.uint8)
    values = torch.frombuffer(bytearray(content), dtype=torch.uint8)[header:]  # one copy, writable
    return values.reshape(shape)


def read_idx(path: str | os.PathLike, sha256: str | None = None) -> torch.Tensor:
    """Read an IDX file, gzip-compressed or not, into a uint8 tensor; verify its content if ``sha256`` is given."""
    path = Path(check_path("path", path))
    content = _gunzip(path.read_bytes(), str(path))
    if sha256 is not None:
        _verified(content, sha256, str(path))
    return parse_idx(content, str(path))


def _https_fetch(url: str) -> bytes:
    """GET ``url`` over https (the only scheme :func:`download` accepts), at most MAX_BYTES bytes."""
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310  (https checked by download)
        data = response.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"{url}: more than {MAX_BYTES} bytes; refusing it")
    return data


def download(
    url: str,
    path: str | os.PathLike,
    sha256: str,
    *,
    fetch: Callable[[str], bytes] | None = None,
) -> Path:
    """Download ``url`` to ``path`` unless a verified copy is there; returns ``path``.

    The url must be https. The downloaded bytes are decompressed if they are gzip data and
    their content must have the SHA-256 ``sha256`` (else :class:`ChecksumError`, and nothing
    is written); the *decompressed* content is then written atomically, so that ``path``
    holds either nothing or a verified file. A cached file that fails the check is fetched
    again. ``fetch(url) -> bytes`` replaces the network (tests pass a fake one).
    """
    check_type("url", url, str, "a str")
    if not url.lower().startswith("https://"):
        raise ValueError(f"url must be an https:// address, got {url!r}")
    path = Path(check_path("path", path))
    check_type("sha256", sha256, str, "a hex str")
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}")
    if path.is_file():
        with contextlib.suppress(ChecksumError, ValueError):
            _verified(_gunzip(path.read_bytes(), str(path)), sha256, str(path))
            return path  # cached and intact
    data = (fetch or _https_fetch)(url)
    check_type("the fetched data", data, (bytes, bytearray), "bytes")
    content = _verified(_gunzip(bytes(data), url), sha256, url)
    atomic_write(path, lambda f: f.write(content))
    return path


def _candidates(root: Path | None) -> list[Path]:
    folders = [root] if root is not None else []
    folders.append(SYSTEM_DIR)
    if root is not None:
        folders.append(root / "FashionMNIST" / "raw")  # torchvision's layout
    folders.append(cache_dir())
    return folders


def find_fashion_mnist(root: str | os.PathLike | None = None) -> Path | None:
    """The first folder that holds all four files (compressed or not), or None (see the module docstring)."""
    root = None if root is None else Path(check_path("root", root))
    for folder in _candidates(root):
        if all(_local_file(folder, name) is not None for pair in FILES.values() for name in pair):
            return folder
    return None


def _local_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def load_fashion_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    *,
    download_if_missing: bool = True,
    fetch: Callable[[str], bytes] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, 28, 28) float32 in [0, 1] and labels (N,) int64 of the "train" or "test" split.

    ``split="train"`` gives the 60,000 training images, ``"test"`` the official 10,000 test
    images. The files are found locally (:func:`find_fashion_mnist`) or, with
    ``download_if_missing``, downloaded into the cache over https and verified by SHA-256;
    without them and without downloading, FileNotFoundError says where to put them.
    """
    check_choice("split", split, tuple(FILES))
    folder = find_fashion_mnist(root)
    tensors = []
    for name in FILES[split]:
        path = _local_file(folder, name) if folder is not None else None
        if path is None:
            if not download_if_missing:
                raise FileNotFoundError(
                    f"Fashion-MNIST's {name} was not found (looked in {[str(f) for f in _candidates(None if root is None else Path(root))]}); "
                    "install Debian's dataset-fashion-mnist, pass root=..., or allow the download")
            path = download(URL + name, cache_dir() / name.removesuffix(".gz"), SHA256[name], fetch=fetch)
        tensors.append(read_idx(path, SHA256[name]))
    images, labels = tensors
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{split}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images.unsqueeze(1).float().div_(255), labels.long()  # (N, 1, 28, 28), (N,)
