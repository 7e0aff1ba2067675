"""Words rendered into images, and the word-crop reader (mmtutorial.data.words)."""

import numpy as np
import pytest
import torch

from mmtutorial.data.words import (
    ALPHABET,
    BLANK,
    WordImages,
    decode_ids,
    encode_words,
    font_path,
    load_word_crops,
    make_words,
    render_words,
)


def test_font_is_matplotlibs_dejavu():
    path = font_path()
    assert path is not None and path.name == "DejaVuSans.ttf" and path.is_file()


def test_encode_decode_roundtrip():
    ids, lengths = encode_words(["cab", "z"])
    assert ids.tolist() == [[3, 1, 2], [26, BLANK, BLANK]] and lengths.tolist() == [3, 1]
    assert [decode_ids(row) for row in ids.tolist()] == ["cab", "z"]
    with pytest.raises(ValueError, match=r"words\[1\] must be a non-empty string of lowercase"):
        encode_words(["ok", "No"])
    with pytest.raises(TypeError, match="single str"):
        encode_words("abc")


def test_render_words_range_shape_and_ink():
    rng = np.random.default_rng(0)
    images = render_words(["hello", "a"], height=16, width=64, noise=0.0, rng=rng)
    assert images.shape == (2, 1, 16, 64) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    dark = images < images.amax(dim=(2, 3), keepdim=True) - 0.2  # ink pixels
    assert dark[0].sum() > dark[1].sum() > 0  # a longer word uses more ink
    with pytest.raises(TypeError, match="single str"):
        render_words("hello")
    with pytest.raises(ValueError, match="height"):
        render_words(["a"], height=4)


def test_make_words_is_deterministic_and_in_range():
    a, b = make_words(50, seed=3), make_words(50, seed=3)
    assert isinstance(a, WordImages) and len(a) == 50
    assert torch.equal(a.images, b.images) and a.words == b.words
    assert a.words != make_words(50, seed=4).words
    assert all(3 <= len(w) <= 6 and set(w) <= set(ALPHABET) for w in a.words)
    assert a.labels.shape == (50, max(len(w) for w in a.words)) and a.lengths.tolist() == [len(w) for w in a.words]
    with pytest.raises(ValueError, match="max_len"):
        make_words(5, min_len=4, max_len=3)


# ----- word crops, on a tiny fixture in the ICDAR layout ----------------------------------------------
def write_crops(root):
    from PIL import Image

    for i, shade in enumerate((30, 120, 200)):
        Image.fromarray(np.full((20, 50, 3), shade, dtype=np.uint8)).save(root / f"word_{i + 1}.png")
    (root / "gt.txt").write_text('\ufeffword_1.png, "Tired"\nword_2.png, "A1"\n\nword_3.png, "ness"\n',
                                 encoding="utf-8")


def test_load_word_crops_reads_the_layout(tmp_path):
    write_crops(tmp_path)
    crops = load_word_crops(tmp_path, height=16, width=32)
    assert crops.words == ["tired", "ness"]  # lower-cased; "A1" has a digit and is skipped
    assert crops.images.shape == (2, 1, 16, 32)
    torch.testing.assert_close(crops.images[0].mean(), torch.tensor(30 / 255))
    torch.testing.assert_close(crops.images[1].mean(), torch.tensor(200 / 255))
    assert crops.labels.tolist()[1] == [14, 5, 19, 19, 0] and crops.lengths.tolist() == [5, 4]
    assert load_word_crops(tmp_path, max_words=1).words == ["tired"]


def test_load_word_crops_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="gt.txt"):
        load_word_crops(tmp_path)
    (tmp_path / "gt.txt").write_text("word_1.png Tired\n")
    with pytest.raises(ValueError, match="line 1"):
        load_word_crops(tmp_path)
