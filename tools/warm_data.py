#!/usr/bin/env python3
"""Generate the data the chapters would otherwise create on first use, so that their first run
is not slower than the others (`make install` runs it; running it again costs nothing).

- Spoken digits (chapter *Audio encoders: hearing*): the clips of its CPU preset, spoken by
  eSpeak NG and cached by `mmtutorial.data.make_spoken_digits`. Keep the voices in step with the
  chapter's `preset(cpu=dict(n_train_voices=..., n_test_voices=...))`.

Where eSpeak NG is absent it says so and exits 0: the chapter then explains how to install it.
"""
from __future__ import annotations

import sys
import time

from mmtutorial.data.spoken_digits import ENGLISH_ACCENTS, make_spoken_digits, voice_split

N_TRAIN_VOICES, N_TEST_VOICES = 24, 12  # the chapter's CPU preset


def main() -> int:
    start = time.perf_counter()
    try:
        train_voices, test_voices = voice_split(n_test=N_TEST_VOICES, seed=0)
        data = make_spoken_digits(train_voices[:N_TRAIN_VOICES] + test_voices, ENGLISH_ACCENTS)
    except RuntimeError as error:  # no eSpeak NG on this machine
        print(f"spoken digits not generated: {error}", file=sys.stderr)
        return 0
    print(f"spoken digits: {len(data)} clips ready in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
