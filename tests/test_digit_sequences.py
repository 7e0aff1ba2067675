"""Spoken digit sequences: joining clips with exact spans, the French numbers, and recorded digits."""

import wave

import numpy as np
import pytest
import torch

from mmtutorial.data.digit_sequences import (DigitSequences, french_number, french_tokens, join_french_tokens,
                                             make_digit_sequences, trim_bounds)
from mmtutorial.data.spoken_digits import SpokenDigits, load_digit_recordings


def toy_digits(n_speakers=2, length=400, sample_rate=1000):
    """Clips whose loud part is a constant equal to (digit + 1) / 20, centered in silence."""
    audio, labels, speakers = [], [], []
    for s in range(n_speakers):
        for d in range(10):
            clip = torch.zeros(length)
            clip[150: 150 + 50 + 10 * d] = (d + 1) / 20  # digit d lasts 50 + 10 d samples
            audio.append(clip)
            labels.append(d)
            speakers.append(s)
    n = len(labels)
    return SpokenDigits(torch.stack(audio), torch.tensor(labels), torch.tensor(speakers), torch.full((n,), -1),
                        tuple(f"s{s}" for s in range(n_speakers)), (), sample_rate)


def test_trim_bounds_finds_the_loud_part():
    audio = torch.zeros(3, 10)
    audio[0, 2:5] = 1.0
    audio[1, 7] = -0.5
    assert trim_bounds(audio).tolist() == [[2, 5], [7, 8], [0, 0]]


def test_sequences_hold_the_digits_at_their_spans():
    source = toy_digits()
    seqs = make_digit_sequences(source, 20, n_digits=(1, 4), gap=(0.01, 0.05), seed=3)
    assert isinstance(seqs, DigitSequences) and len(seqs) == 20
    assert seqs.audio.shape == (20, int(seqs.lengths.max()))
    assert 1 <= int(seqs.n_digits.min()) and int(seqs.n_digits.max()) <= 4
    for i, digits in enumerate(seqs.transcripts()):
        for k, d in enumerate(digits):
            start, end = seqs.spans[i, k].tolist()
            assert end - start == 50 + 10 * d  # the whole trimmed clip, nothing else
            torch.testing.assert_close(seqs.audio[i, start:end], torch.full((end - start,), (d + 1) / 20))
        loud = (seqs.audio[i] != 0).sum()
        assert loud == sum(50 + 10 * d for d in digits)  # the rest is silence
        assert torch.all(seqs.audio[i, int(seqs.lengths[i]):] == 0)
        assert (seqs.spans[i, 1:len(digits), 0] >= seqs.spans[i, :len(digits) - 1, 1] + 10).all()  # a pause between


def test_given_sequences_and_words():
    seqs = make_digit_sequences(toy_digits(), sequences=[[3, 1, 4], [0]], seed=0)
    assert seqs.transcripts() == [[3, 1, 4], [0]]
    assert seqs.words() == ["three one four", "zero"]
    assert seqs.digits[1].tolist() == [0, -1, -1]


def test_same_seed_same_sequences():
    a = make_digit_sequences(toy_digits(), 5, seed=1)
    b = make_digit_sequences(toy_digits(), 5, seed=1)
    assert torch.equal(a.audio, b.audio) and torch.equal(a.digits, b.digits)


def test_input_checks():
    source = toy_digits()
    with pytest.raises(TypeError, match="source must be"):
        make_digit_sequences(source.audio, 3)
    with pytest.raises(ValueError, match="n_digits must be"):
        make_digit_sequences(source, 3, n_digits=(3, 1))
    with pytest.raises(ValueError, match="digits 0-9"):
        make_digit_sequences(source, sequences=[[1, 12]])
    with pytest.raises(ValueError, match="n must be None or"):
        make_digit_sequences(source, 2, sequences=[[1]])
    missing = source.select(source.labels != 7)
    with pytest.raises(ValueError, match="all ten digits"):
        make_digit_sequences(missing, 3)


@pytest.mark.parametrize("n, words", [
    (0, "zéro"), (1, "un"), (16, "seize"), (17, "dix-sept"), (21, "vingt et un"), (22, "vingt-deux"),
    (70, "soixante-dix"), (71, "soixante et onze"), (77, "soixante-dix-sept"), (80, "quatre-vingts"),
    (81, "quatre-vingt-un"), (91, "quatre-vingt-onze"), (99, "quatre-vingt-dix-neuf"), (100, "cent"),
    (101, "cent un"), (200, "deux cents"), (280, "deux cent quatre-vingts"), (314, "trois cent quatorze"),
    (999, "neuf cent quatre-vingt-dix-neuf"),
])
def test_french_numbers(n, words):
    assert french_number(n) == words
    assert join_french_tokens(french_tokens(words)) == words


def test_french_tokens_keep_hyphens_on_the_word_before():
    assert french_tokens("quatre-vingt-dix sept") == ["quatre-", "vingt-", "dix", "sept"]
    assert len({french_number(n) for n in range(1000)}) == 1000
    with pytest.raises(ValueError, match="n must be"):
        french_number(1000)


def write_wav(path, samples, rate):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def test_recorded_digits_in_the_free_spoken_digit_layout_join_into_sequences(tmp_path):
    # a tiny fixture in the Free Spoken Digit Dataset's layout: {digit}_{speaker}_{index}.wav
    rng = np.random.default_rng(0)
    for speaker in ("jackson", "theo"):
        for digit in range(10):
            for index in range(2):
                burst = (4000 * rng.standard_normal(800 + 100 * digit)).clip(-3e4, 3e4)
                write_wav(tmp_path / f"{digit}_{speaker}_{index}.wav", np.concatenate([np.zeros(300), burst,
                                                                                        np.zeros(300)]), 8000)
    recorded = load_digit_recordings(tmp_path, sample_rate=8000, duration=0.5)
    seqs = make_digit_sequences(recorded, 6, n_digits=(2, 3), seed=0)
    assert seqs.speaker_names == ("jackson", "theo") and torch.all(seqs.accents == -1)
    for i, digits in enumerate(seqs.transcripts()):
        for k, d in enumerate(digits):
            start, end = seqs.spans[i, k].tolist()
            assert abs((end - start) - (800 + 100 * d)) <= 40  # the burst, its silence trimmed
