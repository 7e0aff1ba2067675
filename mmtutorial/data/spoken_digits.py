"""Spoken digits: real synthetic speech from eSpeak NG, and a loader for recorded digits.

eSpeak NG is a formant speech synthesizer: it turns text into speech with rules, no recordings
and no network. Each of its voice *variants* (the files in ``espeak-ng-data/voices/!v``, such as
``Alex``, ``Annie`` or ``klatt``) changes the formants, pitch contour, breathiness and roughness
of the voice; each English *accent* (``en-us``, ``en-gb-scotland``, ...) changes the
pronunciation. Here a **voice** is one variant, our stand-in for a speaker: it says each digit
"zero" .. "nine" once in each accent, at a random speed and pitch, so every clip differs. Test
voices are variants never heard in training (:func:`voice_split`).

eSpeak NG is found in this order: the PyPI wheel ``espeakng-loader`` (``pip install
mmtutorial[audio]``), which carries the library and its voices, then the system library of
Debian's ``espeak-ng`` package (``apt-get install espeak-ng``). Speech is synthesized in
process through the library's C API (ctypes), about a millisecond per word, resampled from
eSpeak's 22,050 Hz, and cached in one ``.npz`` file per set of generation parameters
(:func:`default_cache_dir`), written atomically so that parallel processes may ask at once.
eSpeak carries a little state from one word to the next (the phase of its pitch flutter, its
noise generator), so a word said twice differs slightly in its samples though not in how it
sounds; the cache keeps a generated set fixed.

:func:`load_digit_recordings` reads recorded digits in the layout of the Free Spoken Digit
Dataset (``{digit}_{speaker}_{index}.wav``) into the same :class:`SpokenDigits` container, so a
model trained here runs unchanged on real speech.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import json
import os
import random
import re
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._checks import check_int, check_number, check_path, check_type
from .._files import atomic_write

__all__ = [
    "DIGIT_WORDS",
    "ENGLISH_ACCENTS",
    "ESpeak",
    "SpokenDigits",
    "default_cache_dir",
    "espeak",
    "fit_length",
    "load_digit_recordings",
    "make_spoken_digits",
    "resample",
    "voice_split",
]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ENGLISH_ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                   "en-029", "en-us-nyc")  # British, American, Scottish, Lancaster, RP, West Midlands, Caribbean, NYC
CACHE_ENV = "MMTUTORIAL_CACHE"  # a folder; the spoken digits go to its subfolder spoken_digits/
_FORMAT = 1  # bump when the generation code changes what it writes
_INSTALL_HINT = ("install Debian's espeak-ng (apt-get install espeak-ng) or the wheel that carries it "
                 "(pip install 'mmtutorial[audio]', i.e. espeakng-loader)")

# eSpeak NG's C API (speak_lib.h): the few constants we use.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_RATE, _PITCH = 1, 3  # espeak_PARAMETER
_RATE_RANGE = (80, 450)  # words per minute that eSpeak accepts
_PITCH_RANGE = (0, 100)


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def _find_library() -> tuple[str, str | None]:
    """(library path, data path or None for the library's own default), or RuntimeError with the fix."""
    try:
        import espeakng_loader  # the PyPI wheel: library and voices in one package

        return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except (ImportError, RuntimeError, OSError):
        pass
    name = ctypes.util.find_library("espeak-ng")  # Debian: libespeak-ng1, pulled in by espeak-ng
    if name is None:
        raise RuntimeError(f"eSpeak NG was not found: {_INSTALL_HINT}")
    return name, None


class ESpeak:
    """eSpeak NG through its C library: list voices, and say a word as int16 samples at 22,050 Hz.

    The library keeps global state, so a process needs only one instance (see :func:`espeak`).
    ``library`` / ``data_path`` default to what :func:`espeak` finds.
    """

    def __init__(self, library: str | None = None, data_path: str | None = None) -> None:
        if library is None:
            library, data_path = _find_library()
        self.library = library
        self._lib = ctypes.CDLL(library)
        lib, c = self._lib, ctypes  # the C signatures (speak_lib.h), so that ctypes passes size_t and pointers right
        lib.espeak_Initialize.argtypes, lib.espeak_Initialize.restype = [c.c_int, c.c_int, c.c_char_p, c.c_int], c.c_int
        lib.espeak_Info.argtypes, lib.espeak_Info.restype = [c.c_void_p], c.c_char_p
        lib.espeak_ListVoices.argtypes = [c.c_void_p]
        lib.espeak_ListVoices.restype = c.POINTER(c.POINTER(_Voice))
        lib.espeak_SetVoiceByName.argtypes, lib.espeak_SetVoiceByName.restype = [c.c_char_p], c.c_int
        lib.espeak_SetParameter.argtypes = [c.c_int, c.c_int, c.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_Synth.argtypes = [c.c_void_p, c.c_size_t, c.c_uint, c.c_int, c.c_uint, c.c_uint,
                                     c.POINTER(c.c_uint), c.c_void_p]
        path = None if data_path is None else str(data_path).encode()
        self.sample_rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, path, 0)
        if self.sample_rate <= 0:
            raise RuntimeError(f"eSpeak NG ({library}) failed to initialize with data {data_path}: {_INSTALL_HINT}")
        self.version = self._lib.espeak_Info(None).decode()
        self._chunks: list[np.ndarray] = []
        self._callback = _Callback(self._collect)  # kept alive as long as the instance
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, samples, n: int, events) -> int:
        if samples and n > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, (n,)).copy())
        return 0  # 0 = go on

    def _list(self, languages: bytes | None) -> list[_Voice]:
        spec, buffer = None, None
        if languages is not None:
            spec, buffer = _Voice(), ctypes.create_string_buffer(languages)
            spec.languages = ctypes.addressof(buffer)
        found = self._lib.espeak_ListVoices(None if spec is None else ctypes.byref(spec))
        voices, i = [], 0
        while found[i]:
            voices.append(found[i].contents)
            i += 1
        return voices

    @functools.cached_property
    def variants(self) -> tuple[str, ...]:
        """The voice variants eSpeak reports (``!v/<name>`` files), sorted."""
        return tuple(sorted({v.identifier.decode().split("/")[-1] for v in self._list(b"variant")}))

    @functools.cached_property
    def languages(self) -> tuple[str, ...]:
        """Every language code that one of eSpeak's voices speaks (``en-us``, ``en-gb-scotland``, ...), sorted."""
        codes = set()
        for v in self._list(None):
            # `languages` holds (priority byte, code, NUL) groups, ended by a zero priority byte
            raw, k = v.languages, 0
            while raw and ctypes.string_at(raw + k, 1) != b"\0":
                code = ctypes.string_at(raw + k + 1)
                codes.add(code.decode())
                k += len(code) + 2
        return tuple(sorted(codes))

    def say(self, text: str, accent: str = "en", variant: str | None = None, rate: int = 175,
            pitch: int = 50) -> np.ndarray:
        """``text`` spoken by ``accent``+``variant`` at ``rate`` words per minute and ``pitch`` (0-100),
        int16 samples (n,) at :attr:`sample_rate`. Names are not checked here (eSpeak silently
        falls back to its default voice on a misspelt one): :func:`make_spoken_digits` checks them."""
        name = accent if variant is None else f"{accent}+{variant}"
        if self._lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {name!r}")
        self._lib.espeak_SetParameter(_RATE, int(rate), 0)
        self._lib.espeak_SetParameter(_PITCH, int(pitch), 0)
        self._chunks = []
        data = text.encode()
        self._lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None)
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)


@functools.lru_cache(maxsize=1)
def espeak() -> ESpeak:
    """The process's eSpeak NG (created on first use); RuntimeError saying how to install it if absent."""
    return ESpeak()


def resample(wave: np.ndarray | torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited resampling along the last axis by the FFT, (..., L) -> (..., round(L * new / orig)).

    The spectrum is cut (or zero-padded) at the lower Nyquist frequency and transformed back, so
    nothing above half the new rate aliases. It treats the clip as periodic: fine for clips that
    begin and end in silence, as speech clips do.
    """
    orig_rate = check_int("orig_rate", orig_rate, min=1)
    new_rate = check_int("new_rate", new_rate, min=1)
    x = torch.as_tensor(wave, dtype=torch.float32)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"wave must have shape (..., L) with L > 0, got {tuple(x.shape)}")
    if orig_rate == new_rate:
        return x
    n_old = x.shape[-1]
    n_new = max(1, round(n_old * new_rate / orig_rate))
    spectrum = torch.fft.rfft(x)  # (..., n_old // 2 + 1)
    keep = min(spectrum.shape[-1], n_new // 2 + 1)
    y = torch.fft.irfft(spectrum[..., :keep], n=n_new) * (n_new / n_old)  # (..., n_new)
    return y


def fit_length(wave: np.ndarray, length: int, threshold: float = 0.02) -> np.ndarray:
    """Trim the silence at both ends of ``wave`` (n,) and center what is left in ``length`` samples.

    Silence is every sample below ``threshold`` times the clip's peak; a clip longer than
    ``length`` keeps its middle ``length`` samples.
    """
    out = np.zeros(length, dtype=wave.dtype)
    magnitude = np.abs(wave.astype(np.float64))  # (n,)
    loud = np.flatnonzero(magnitude > threshold * magnitude.max()) if len(wave) else []
    if len(loud) == 0:
        return out  # silence (or nothing) stays silence
    clip = wave[loud[0]: loud[-1] + 1]
    if len(clip) > length:
        start = (len(clip) - length) // 2
        return clip[start: start + length].copy()
    start = (length - len(clip)) // 2
    out[start: start + len(clip)] = clip
    return out


@dataclass
class SpokenDigits:
    """Spoken digits as tensors: clips, digits and who spoke them.

    ``speakers[i]`` indexes ``speaker_names`` (an eSpeak voice variant, or a recorded speaker);
    ``accents[i]`` indexes ``accent_names`` (empty for recordings, whose accents are unknown:
    then ``accents`` is all -1).
    """

    audio: torch.Tensor  # (N, L) float32 in [-1, 1]
    labels: torch.Tensor  # (N,) int64 digit 0..9
    speakers: torch.Tensor  # (N,) int64 index into speaker_names
    accents: torch.Tensor  # (N,) int64 index into accent_names, -1 if unknown
    speaker_names: tuple[str, ...]
    accent_names: tuple[str, ...]
    sample_rate: int

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, index: torch.Tensor) -> SpokenDigits:
        """The clips at ``index`` (indices or a boolean mask (N,)), with the same name lists."""
        return SpokenDigits(self.audio[index], self.labels[index], self.speakers[index], self.accents[index],
                            self.speaker_names, self.accent_names, self.sample_rate)

    def of_speakers(self, names: Sequence[str]) -> SpokenDigits:
        """The clips spoken by the speakers ``names``; ValueError for a name this set does not hold."""
        unknown = [n for n in names if n not in self.speaker_names]
        if unknown:
            raise ValueError(f"names must be speakers of this set, got unknown {unknown[:5]} "
                             f"(the set has {len(self.speaker_names)} speakers, e.g. {list(self.speaker_names[:5])})")
        wanted = torch.tensor([self.speaker_names.index(n) for n in names], dtype=torch.long)
        return self.select(torch.isin(self.speakers, wanted))


def default_cache_dir() -> Path:
    """Where spoken digits are cached: ``$MMTUTORIAL_CACHE/spoken_digits`` if that variable is set,
    else ``~/.cache/mmtutorial/spoken_digits``."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "mmtutorial") / "spoken_digits"


def voice_split(n_test: int = 20, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split eSpeak's voice variants into (training voices, test voices), ``n_test`` of them for testing.

    The training voices come in a fixed random order, so ``train[:k]`` are nested: the first 5
    voices of a run with 10 are the 5 of a run with 5. Test voices are sorted by name.
    """
    variants = list(espeak().variants)
    n_test = check_int("n_test", n_test, min=1, max=len(variants) - 1)
    order = sorted(variants)
    random.Random(check_int("seed", seed)).shuffle(order)
    return order[n_test:], sorted(order[:n_test])


def _draw(seed: int, voice: str, accent: str, digit: int, rate: tuple[int, int], pitch: tuple[int, int]) -> tuple[int, int]:
    """The speed and pitch of one utterance: random, but fixed by the utterance itself, not by the other clips."""
    key = hashlib.sha256(f"{seed}|{voice}|{accent}|{digit}".encode()).digest()
    rng = random.Random(int.from_bytes(key[:8], "little"))
    return rng.randint(*rate), rng.randint(*pitch)


def _synthesize(jobs: list[tuple[str, str, int, int, int]], sample_rate: int, length: int) -> np.ndarray:
    """Say every (variant, accent, digit, rate, pitch) job; int16 clips (n, length) at ``sample_rate``."""
    engine = espeak()
    native_length = round(length * engine.sample_rate / sample_rate)
    clips = np.stack([fit_length(engine.say(DIGIT_WORDS[d], accent, variant, r, p), native_length)
                      for variant, accent, d, r, p in jobs])  # (n, native_length) at 22,050 Hz
    if len(clips) == 0:
        return np.zeros((0, length), np.int16)
    out = resample(clips.astype(np.float32), engine.sample_rate, sample_rate).numpy()  # (n, length)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def _range(name: str, value: object, limits: tuple[int, int]) -> tuple[int, int]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise TypeError(f"{name} must be a (low, high) pair of ints, got {value!r}")
    low, high = (check_int(name, v, min=limits[0], max=limits[1]) for v in value)
    if low > high:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {tuple(value)}")
    return low, high


def make_spoken_digits(
    voices: Sequence[str] | None = None,
    accents: Sequence[str] = ENGLISH_ACCENTS,
    *,
    sample_rate: int = 8000,
    duration: float = 1.0,
    rate: tuple[int, int] = (140, 220),
    pitch: tuple[int, int] = (30, 70),
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> SpokenDigits:
    """Every digit said by every voice in every accent: ``len(voices) * len(accents) * 10`` clips.

    Arguments:
        voices: eSpeak voice variants (``ESpeak.variants``; default all of them); each one is a
            speaker. A misspelt name raises ValueError (eSpeak itself would silently use its
            default voice).
        accents: eSpeak language codes; the default is its eight English accents.
        sample_rate, duration: the clips' rate in Hz and length in seconds; each word is
            trimmed of silence and centered.
        rate, pitch: ranges of the speed (words per minute) and pitch (eSpeak's 0-100 scale,
            default 50) drawn for each clip; the draw depends only on ``seed`` and the clip's
            voice, accent and digit, so a clip is the same in every subset of voices.
        cache_dir: where the clips are cached (default :func:`default_cache_dir`); the file
            name is a hash of all the arguments above and eSpeak's version.
    """
    engine = espeak()
    voices = list(engine.variants if voices is None else check_type("voices", voices, (list, tuple), "a list of names"))
    accents = list(check_type("accents", accents, (list, tuple), "a list of language codes"))
    if not voices or not accents:
        raise ValueError(f"voices and accents must not be empty, got {len(voices)} voices and {len(accents)} accents")
    for v in voices:
        if v not in engine.variants:
            raise ValueError(f"voices: eSpeak NG {engine.version} has no voice variant {v!r}; it has "
                             f"{len(engine.variants)}, e.g. {list(engine.variants[:6])} (see ESpeak.variants)")
    for a in accents:
        if a not in engine.languages:
            raise ValueError(f"accents: eSpeak NG {engine.version} has no language {a!r}; English ones: "
                             f"{[c for c in engine.languages if c.startswith('en')]}")
    if len(set(voices)) < len(voices) or len(set(accents)) < len(accents):
        raise ValueError("voices and accents must not repeat a name")
    sample_rate = check_int("sample_rate", sample_rate, min=1000, max=engine.sample_rate)
    duration = check_number("duration", duration, above=0, max=10)
    rate, pitch = _range("rate", rate, _RATE_RANGE), _range("pitch", pitch, _PITCH_RANGE)
    seed = check_int("seed", seed)
    length = round(duration * sample_rate)

    settings = dict(format=_FORMAT, espeak=engine.version, voices=voices, accents=accents, sample_rate=sample_rate,
                    length=length, rate=rate, pitch=pitch, seed=seed)
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]
    folder = Path(check_path("cache_dir", cache_dir)) if cache_dir is not None else default_cache_dir()
    path = folder / f"spoken_digits_{key}.npz"
    grid = [(s, a, d) for s in range(len(voices)) for a in range(len(accents)) for d in range(10)]
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            clips = stored["audio"]
    else:
        jobs = [(voices[s], accents[a], d, *_draw(seed, voices[s], accents[a], d, rate, pitch)) for s, a, d in grid]
        clips = _synthesize(jobs, sample_rate, length)
        # Processes that generate at once write the same clips; each renames a whole file.
        atomic_write(path, lambda f: np.savez(f, audio=clips, settings=np.array(json.dumps(settings))),
                     mode=0o644)  # a cache may be shared
    index = torch.tensor(grid, dtype=torch.long).reshape(-1, 3)  # (N, 3): voice, accent, digit
    audio = torch.from_numpy(clips.astype(np.float32) / 32768.0)  # (N, L)
    return SpokenDigits(audio, index[:, 2].clone(), index[:, 0].clone(), index[:, 1].clone(),
                        tuple(voices), tuple(accents), sample_rate)


_RECORDING = re.compile(r"^(\d)_([^_]+)_(\d+)\.wav$")


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A mono 16-bit PCM wav file as (int16 samples (n,), sample rate), with the standard library."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path.name}: only 16-bit PCM wav files are read, got {8 * w.getsampwidth()}-bit")
        rate, channels = w.getframerate(), w.getnchannels()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return samples.reshape(-1, channels).mean(axis=1).astype(np.int16), rate


def load_digit_recordings(root: str | os.PathLike, sample_rate: int = 8000, duration: float = 1.0) -> SpokenDigits:
    """Recorded spoken digits in the layout of the Free Spoken Digit Dataset.

    ``root`` holds wav files named ``{digit}_{speaker}_{index}.wav`` (16-bit PCM; the dataset's
    ``recordings/`` folder). Each clip is resampled to ``sample_rate``, trimmed of silence and
    centered in ``duration`` seconds, like :func:`make_spoken_digits`. Speakers are sorted by
    name; files of other names are ignored.
    """
    folder = Path(check_path("root", root))
    if not folder.is_dir():
        raise FileNotFoundError(f"root: no folder {folder}")
    sample_rate = check_int("sample_rate", sample_rate, min=1000)
    length = round(check_number("duration", duration, above=0, max=10) * sample_rate)
    matches = [(_RECORDING.match(p.name), p) for p in sorted(folder.iterdir())]
    found = [(m.group(2), int(m.group(1)), int(m.group(3)), p) for m, p in matches if m]  # speaker, digit, index
    if not found:
        raise ValueError(f"root: no files named {{digit}}_{{speaker}}_{{index}}.wav in {folder}")
    names = tuple(sorted({speaker for speaker, *_ in found}))
    clips, labels, speakers = [], [], []
    for speaker, digit, _, path in found:
        samples, rate = _read_wav(path)
        clip = resample(samples.astype(np.float32), rate, sample_rate).numpy() if rate != sample_rate else samples
        clips.append(fit_length(clip.astype(np.float32), length))
        labels.append(digit)
        speakers.append(names.index(speaker))
    audio = torch.from_numpy(np.stack(clips) / 32768.0).float()  # (N, L)
    n = len(labels)
    return SpokenDigits(audio, torch.tensor(labels), torch.tensor(speakers), torch.full((n,), -1), names, (),
                        sample_rate)
