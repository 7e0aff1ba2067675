"""Tests for mmtutorial.data.fashion_mnist: the IDX format, the checked downloader, the real files."""

import gzip
import hashlib

import pytest
import torch

from mmtutorial.data import fashion_mnist as fm


def idx_bytes(values: torch.Tensor) -> bytes:
    """An IDX file of unsigned bytes: 0, 0, type 0x08, number of axes, big-endian sizes, values."""
    header = bytes([0, 0, 0x08, values.ndim]) + b"".join(s.to_bytes(4, "big") for s in values.shape)
    return header + values.to(torch.uint8).numpy().tobytes()


def test_read_idx_parses_a_tiny_fixture_compressed_or_not(tmp_path):
    images = torch.arange(2 * 3 * 4, dtype=torch.uint8).reshape(2, 3, 4)
    raw = idx_bytes(images)
    assert raw[:4] == b"\x00\x00\x08\x03" and len(raw) == 4 + 3 * 4 + 24
    (tmp_path / "a-idx3-ubyte").write_bytes(raw)
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        got = fm.read_idx(tmp_path / name, sha256=hashlib.sha256(raw).hexdigest())
        assert got.dtype == torch.uint8 and torch.equal(got, images)
    labels = torch.tensor([3, 1, 4], dtype=torch.uint8)
    assert torch.equal(fm.parse_idx(idx_bytes(labels)), labels)


def test_parse_idx_rejects_malformed_data():
    with pytest.raises(ValueError, match="not an IDX file"):
        fm.parse_idx(b"\x01\x00\x08\x01")
    with pytest.raises(ValueError, match="type code 0x0d is not supported"):
        fm.parse_idx(b"\x00\x00\x0d\x01" + (1).to_bytes(4, "big") + bytes(4))
    with pytest.raises(ValueError, match=r"announces shape \(5,\) \(5 values\), the file holds 3"):
        fm.parse_idx(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(3))


def test_read_idx_raises_on_a_hash_mismatch(tmp_path):
    raw = idx_bytes(torch.zeros(4, dtype=torch.uint8))
    (tmp_path / "x.gz").write_bytes(gzip.compress(raw))
    with pytest.raises(fm.ChecksumError, match="SHA-256 of the content is"):
        fm.read_idx(tmp_path / "x.gz", sha256="0" * 64)


def test_download_verifies_caches_and_writes_atomically(tmp_path):
    raw = idx_bytes(torch.arange(10, dtype=torch.uint8))
    digest = hashlib.sha256(raw).hexdigest()
    calls = []

    def fake_fetch(url):
        calls.append(url)
        return gzip.compress(raw)  # what a mirror serves: the gzip file

    url = "https://example.org/data/labels-idx1-ubyte.gz"
    path = fm.download(url, tmp_path / "cache" / "labels-idx1-ubyte", digest, fetch=fake_fetch)
    assert path.read_bytes() == raw and calls == [url]  # stored decompressed, verified
    fm.download(url, path, digest, fetch=fake_fetch)
    assert calls == [url]  # cached: no second fetch
    path.write_bytes(raw[:-1])  # a damaged cache is fetched again
    fm.download(url, path, digest, fetch=fake_fetch)
    assert path.read_bytes() == raw and len(calls) == 2
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_download_refuses_a_wrong_hash_and_writes_nothing(tmp_path):
    target = tmp_path / "f"
    with pytest.raises(fm.ChecksumError, match="expected " + "1" * 64):
        fm.download("https://example.org/f.gz", target, "1" * 64, fetch=lambda url: b"\x00\x00\x08\x00")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_download_accepts_only_https_and_a_real_hash(tmp_path):
    with pytest.raises(ValueError, match="url must be an https:// address"):
        fm.download("http://example.org/f.gz", tmp_path / "f", "0" * 64, fetch=lambda url: b"")
    with pytest.raises(ValueError, match="url must be an https:// address"):
        fm.download("file:///etc/passwd", tmp_path / "f", "0" * 64, fetch=lambda url: b"")
    with pytest.raises(ValueError, match="sha256 must be 64 lowercase hex digits"):
        fm.download("https://example.org/f.gz", tmp_path / "f", "abc", fetch=lambda url: b"")


def test_load_fashion_mnist_downloads_missing_files_into_the_cache(tmp_path, monkeypatch):
    # Four tiny stand-in files served by a fake fetch; their hashes replace the real ones.
    contents = {
        "train-images-idx3-ubyte.gz": idx_bytes(torch.full((3, 28, 28), 255, dtype=torch.uint8)),
        "train-labels-idx1-ubyte.gz": idx_bytes(torch.tensor([0, 9, 4], dtype=torch.uint8)),
        "t10k-images-idx3-ubyte.gz": idx_bytes(torch.zeros(2, 28, 28, dtype=torch.uint8)),
        "t10k-labels-idx1-ubyte.gz": idx_bytes(torch.tensor([1, 2], dtype=torch.uint8)),
    }
    monkeypatch.setattr(fm, "SHA256", {k: hashlib.sha256(v).hexdigest() for k, v in contents.items()})
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("MMTUTORIAL_CACHE", str(tmp_path / "cache"))
    fetched = []

    def fake_fetch(url):
        assert url.startswith(fm.URL)
        fetched.append(url.rsplit("/", 1)[1])
        return gzip.compress(contents[fetched[-1]])

    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        fm.load_fashion_mnist("test", download_if_missing=False)
    images, labels = fm.load_fashion_mnist("train", fetch=fake_fetch)
    assert images.shape == (3, 1, 28, 28) and images.dtype == torch.float32 and images.max() == 1.0
    assert labels.tolist() == [0, 9, 4] and labels.dtype == torch.int64
    assert sorted(fetched) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    images, labels = fm.load_fashion_mnist("test", fetch=fake_fetch)
    assert images.shape == (2, 1, 28, 28) and len(fetched) == 4
    fm.load_fashion_mnist("train", fetch=fake_fetch)
    assert len(fetched) == 4  # now found in the cache
    assert fm.find_fashion_mnist() == tmp_path / "cache" / "fashion-mnist"
    with pytest.raises(ValueError, match="split must be one of"):
        fm.load_fashion_mnist("valid")


@pytest.mark.skipif(fm.find_fashion_mnist() is None, reason="Fashion-MNIST's files are not installed "
                    "(Debian: apt install dataset-fashion-mnist)")
def test_the_real_files_load_with_the_right_shapes_and_classes():
    images, labels = fm.load_fashion_mnist("test")
    assert images.shape == (10_000, 1, 28, 28) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert torch.equal(labels.bincount(), torch.full((10,), 1000))  # the official test set is balanced
    assert len(fm.CLASSES) == 10
