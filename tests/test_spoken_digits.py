"""Spoken digits from eSpeak NG and the loader of recorded digits (mmtutorial.data.spoken_digits)."""

import math
import wave

import numpy as np
import pytest
import torch

from mmtutorial.data import spoken_digits as sd
from mmtutorial.data.spoken_digits import (DIGIT_WORDS, ENGLISH_ACCENTS, SpokenDigits, fit_length,
                                           load_digit_recordings, make_spoken_digits, resample, voice_split)


@pytest.fixture(scope="module")
def engine():
    try:
        return sd.espeak()
    except RuntimeError as err:  # neither the wheel nor Debian's package: the generator cannot run
        pytest.skip(str(err))


def small(tmp_path, **kw):
    args = dict(voices=["Alex", "Annie"], accents=["en-us", "en"], cache_dir=tmp_path)
    return make_spoken_digits(**{**args, **kw})


def test_engine_lists_variants_and_the_english_accents(engine):
    assert engine.sample_rate == 22050
    assert len(engine.variants) >= 90 and {"Alex", "Annie", "klatt"} <= set(engine.variants)
    assert set(ENGLISH_ACCENTS) <= set(engine.languages)


def test_every_digit_by_every_voice_and_accent(tmp_path, engine):
    d = small(tmp_path)
    assert len(d) == 2 * 2 * 10 and d.audio.shape == (40, 8000) and d.audio.dtype == torch.float32
    assert d.labels.tolist() == list(range(10)) * 4
    assert torch.bincount(d.speakers).tolist() == [20, 20] and torch.bincount(d.accents).tolist() == [20, 20]
    assert d.speaker_names == ("Alex", "Annie") and d.accent_names == ("en-us", "en") and d.sample_rate == 8000
    loudness = d.audio.abs().amax(dim=1)
    assert (loudness > 0.05).all() and (loudness <= 1).all()  # speech, in range, in every clip
    # centered: the first and last 20 ms are silent after trimming
    assert d.audio[:, :160].abs().max() < 0.02 and d.audio[:, -160:].abs().max() < 0.02
    assert not torch.equal(d.audio[0], d.audio[1])  # "zero" is not "one"


def test_cache_is_reused_and_keyed_by_the_parameters(tmp_path, engine, monkeypatch):
    d = small(tmp_path)
    files = sorted(tmp_path.glob("*"))
    assert len(files) == 1 and files[0].suffix == ".npz"  # atomic write: no temporary file left
    monkeypatch.setattr(sd, "_synthesize", lambda *a: pytest.fail("the cache was not used"))
    torch.testing.assert_close(small(tmp_path).audio, d.audio, rtol=0, atol=0)
    monkeypatch.undo()
    small(tmp_path, seed=1)  # another draw of speeds and pitches: another file
    small(tmp_path, sample_rate=16000)
    assert len(list(tmp_path.glob("*.npz"))) == 3 and not list(tmp_path.glob("*.tmp"))


def test_a_voice_sounds_the_same_whatever_the_other_voices(tmp_path, engine):
    # eSpeak's state (pitch flutter, noise) moves the samples a little from one call to the
    # next, so compare what is heard: each clip's spectrum, averaged over time.
    def spectra(d):
        s = torch.stft(d.audio, 256, 128, window=torch.hann_window(256), return_complex=True).abs()
        return torch.nn.functional.normalize(s.square().mean(dim=-1).sqrt(), dim=1)  # (N, 129)

    both = spectra(small(tmp_path).of_speakers(["Annie"]))
    alone = spectra(small(tmp_path, voices=["Annie"]))
    same = (both * alone).sum(dim=1)  # cosine similarity of the same clip, (20,)
    other = (both * alone.roll(1, dims=0)).sum(dim=1)  # ... of different digits
    assert same.min() > 0.98 and other.mean() < same.min() - 0.05


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch, engine):
    monkeypatch.setenv(sd.CACHE_ENV, str(tmp_path))
    assert sd.default_cache_dir() == tmp_path / "spoken_digits"
    make_spoken_digits(voices=["Alex"], accents=["en"])
    assert len(list((tmp_path / "spoken_digits").glob("*.npz"))) == 1
    monkeypatch.delenv(sd.CACHE_ENV)
    assert sd.default_cache_dir().parts[-3:] == (".cache", "mmtutorial", "spoken_digits")


def test_misspelt_names_are_rejected_not_replaced_by_the_default_voice(tmp_path, engine):
    with pytest.raises(ValueError, match="no voice variant 'Alexx'"):
        small(tmp_path, voices=["Alex", "Alexx"])
    with pytest.raises(ValueError, match="no language 'en-uss'"):
        small(tmp_path, accents=["en-uss"])
    with pytest.raises(ValueError, match="must not repeat"):
        small(tmp_path, voices=["Alex", "Alex"])
    with pytest.raises(ValueError, match="must not be empty"):
        small(tmp_path, voices=[])
    with pytest.raises(TypeError, match="rate must be a"):
        small(tmp_path, rate=150)
    with pytest.raises(ValueError, match="low <= high"):
        small(tmp_path, pitch=(70, 30))
    with pytest.raises(ValueError, match="pitch must be an int"):
        small(tmp_path, pitch=(0, 101))
    assert not list(tmp_path.glob("*"))  # nothing generated, nothing cached


def test_missing_espeak_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "espeakng_loader", None)  # the wheel is absent
    monkeypatch.setattr(sd.ctypes.util, "find_library", lambda name: None)  # and so is Debian's library
    with pytest.raises(RuntimeError, match=r"apt-get install espeak-ng.*pip install 'mmtutorial\[audio\]'"):
        sd._find_library()


def test_voice_split_is_disjoint_and_nested(engine):
    train, test = voice_split(n_test=20, seed=0)
    assert len(test) == 20 and len(train) == len(engine.variants) - 20 and not set(train) & set(test)
    assert test == sorted(test) and voice_split(n_test=20, seed=0) == (train, test)
    assert voice_split(n_test=20, seed=1)[1] != test
    with pytest.raises(ValueError, match="n_test"):
        voice_split(n_test=0)


def test_resample_keeps_a_tone_and_fit_length_centers_the_word():
    n22, n8 = 22050, 8000
    tone = lambda n, rate: torch.sin(2 * math.pi * 500 * torch.arange(n) / rate)  # 500 whole periods in 1 s
    torch.testing.assert_close(resample(tone(n22, 22050), 22050, 8000), tone(n8, 8000), rtol=0, atol=1e-3)  # float32 FFTs
    assert resample(np.zeros((3, 441)), 22050, 8000).shape == (3, 160)
    with pytest.raises(ValueError, match="L > 0"):
        resample(np.zeros(0), 22050, 8000)
    word = np.r_[np.zeros(50), np.ones(10), np.zeros(5)].astype(np.float32)
    out = fit_length(word, 30)
    assert out.shape == (30,) and out[10:20].tolist() == [1.0] * 10 and out.sum() == 10  # centered
    assert fit_length(np.ones(40, np.float32), 30).shape == (30,)  # too long: the middle
    assert not fit_length(np.zeros(40, np.float32), 30).any()  # silence stays silence


def write_wav(path, samples, rate):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def test_recordings_in_the_free_spoken_digit_layout(tmp_path):
    rng = np.random.default_rng(0)
    for digit, speaker, index in [(3, "jackson", 0), (3, "nicolas", 1), (7, "jackson", 12), (0, "theo", 4)]:
        n = 3000 + 100 * digit  # recordings differ in length
        write_wav(tmp_path / f"{digit}_{speaker}_{index}.wav", (8000 * rng.standard_normal(n)).clip(-3e4, 3e4), 8000)
    write_wav(tmp_path / "5_yweweler_2.wav", 0.5 * 2 ** 15 * np.sin(2 * np.pi * 400 * np.arange(16000) / 16000), 16000)  # 1 s at 16 kHz
    (tmp_path / "README.md").write_text("not a recording")
    d = load_digit_recordings(tmp_path)
    assert isinstance(d, SpokenDigits) and len(d) == 5 and d.audio.shape == (5, 8000) and d.sample_rate == 8000
    assert d.speaker_names == ("jackson", "nicolas", "theo", "yweweler")
    names = [d.speaker_names[s] for s in d.speakers]
    assert sorted(zip(d.labels.tolist(), names)) == [(0, "theo"), (3, "jackson"), (3, "nicolas"), (5, "yweweler"),
                                                     (7, "jackson")]
    assert (d.accents == -1).all() and d.accent_names == ()
    i = names.index("yweweler")  # resampled from 16 kHz: 8000 samples of the sine, amplitude kept
    assert abs(float(d.audio[i].abs().max()) - 0.5) < 0.02
    assert len(d.of_speakers(["jackson"])) == 2
    with pytest.raises(ValueError, match="unknown"):
        d.of_speakers(["nobody"])


def test_recordings_loader_checks_its_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder"):
        load_digit_recordings(tmp_path / "missing")
    with pytest.raises(ValueError, match="no files named"):
        load_digit_recordings(tmp_path)
    with wave.open(str(tmp_path / "1_a_0.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(1), w.setframerate(8000)
        w.writeframes(bytes(100))
    with pytest.raises(ValueError, match="16-bit"):
        load_digit_recordings(tmp_path)


def test_digit_words():
    assert DIGIT_WORDS[0] == "zero" and DIGIT_WORDS[9] == "nine" and len(DIGIT_WORDS) == 10
