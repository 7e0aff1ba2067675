"""Moving ShapesWorld clips, their events, answers and captions, and the real-clip reader (mmtutorial.data.video)."""

import numpy as np
import pytest
import torch

from mmtutorial.data.video import (
    CAPTION_MAX_LEN,
    COLOR_PAIRS,
    QUESTION_CLASSES,
    QUESTIONS,
    VideoClips,
    load_video_folders,
    make_video_clips,
    render_video,
    sample_video_scripts,
    video_vocab,
    write_video_captions,
)


@pytest.fixture(scope="module")
def clips() -> VideoClips:
    return make_video_clips(300, seed=0)


def test_shapes_and_ranges(clips):
    assert clips.frames.shape == (300, 10, 3, 24, 24) and clips.frames.dtype == torch.float32
    assert 0.0 <= float(clips.frames.min()) and float(clips.frames.max()) <= 1.0
    assert clips.keyframes.shape == (300, 10) and clips.keyframes.dtype == torch.bool
    assert clips.tokens.shape == (300, CAPTION_MAX_LEN)
    assert set(clips.answers) == set(QUESTIONS) == set(QUESTION_CLASSES)
    for q, a in clips.answers.items():
        assert a.shape == (300,) and 0 <= int(a.min()) and int(a.max()) < QUESTION_CLASSES[q]
    facts = clips.frame_labels
    assert {k: v.shape for k, v in facts.items()} == {k: (300, 10) for k in ("color", "visible", "touching")}


def test_same_seed_same_clips_and_other_seed_other_clips(clips):
    again = make_video_clips(300, seed=0)
    assert torch.equal(again.frames, clips.frames) and again.captions == clips.captions
    other = make_video_clips(300, seed=1)
    assert not torch.equal(other.frames, clips.frames)


def test_events_are_two_frames_apart_and_match_the_frame_facts(clips):
    s = clips.scripts
    T = s.n_frames
    for i, ev in enumerate(s.events()):
        frames = [f for f, _ in ev]
        assert frames == sorted(frames) and all(b - a >= 2 for a, b in zip(frames, frames[1:]))
        assert all(0 <= f < T for f in frames)
        assert clips.keyframes[i].nonzero()[:, 0].tolist() == frames
        kinds = {kind for _, kind in ev}
        assert ("collide" in kinds) == bool(s.collide[i])
        assert ("appear" in kinds) != ("leave" in kinds)
    t = np.arange(T)
    for i in range(len(s)):
        assert np.array_equal(s.frame_color[i], np.where(t < s.t_change[i], s.color_before[i], s.color_after[i]))
        seen = t >= s.t_other[i] if s.appears[i] else t < s.t_other[i]
        assert np.array_equal(s.visible[i], seen)
        assert s.touching[i].sum() == int(s.collide[i])
        if s.collide[i]:
            assert s.touching[i, s.t_collide[i]] and s.visible[i, s.t_collide[i]]
    assert (s.color_before != s.color_after).all() and (s.shape_actor != s.shape_other).all()


def test_the_visitor_stays_in_the_frame_while_visible(clips):
    s = clips.scripts
    x_visitor = s.x[:, :, 1][s.visible]
    assert np.abs(x_visitor).max() <= 0.9 and np.abs(s.x[:, :, 0]).max() <= 0.6


def test_answers_follow_the_script_and_flip_under_reversal(clips):
    s = clips.scripts
    a = {k: v.numpy() for k, v in clips.answers.items()}
    assert np.array_equal(a["appear_or_leave"], (~s.reversed).astype(np.int64))
    assert np.array_equal(a["color_order"], (s.color_before < s.color_after).astype(np.int64))
    assert np.array_equal(a["change_first"], (s.t_change < s.t_other).astype(np.int64))
    pairs = [COLOR_PAIRS[k] for k in a["colors"]]
    assert all(set(p) == {b, c} for p, b, c in zip(pairs, s.color_before, s.color_after))


def test_reversal_is_exactly_a_time_flip():
    """A reversed clip's script is the forward script played backwards, event for event."""
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    s = sample_video_scripts(400, rng())
    T = s.n_frames
    for i in np.flatnonzero(s.reversed)[:50]:
        # Backwards, the visitor leaves at T - t_appear and the colour changes back at T - t_change.
        assert s.visible[i, : s.t_other[i]].all() and not s.visible[i, s.t_other[i]:].any()
        assert s.frame_color[i, s.t_change[i] - 1] == s.color_before[i]
        if s.collide[i]:
            x_b = s.x[i, :, 1]
            gap = np.abs(x_b - s.x[i, :, 0])
            visible = s.visible[i]
            assert np.argmin(np.where(visible, gap, np.inf)) == s.t_collide[i]  # contact is the closest approach
    assert 0.4 < s.reversed.mean() < 0.6 and 0.4 < s.collide.mean() < 0.6
    assert T == 10


def test_captions_are_the_template_of_the_events(clips):
    s = clips.scripts
    vocab = video_vocab()
    for i in range(20):
        caption = clips.captions[i]
        assert caption.count(" then ") == len(s.events()[i]) - 1
        assert vocab.decode(clips.tokens[i]) == caption
        row = clips.tokens[i].tolist()
        assert row[len(caption.split())] == vocab.eos_id
    assert write_video_captions(s) == clips.captions
    assert max(len(c.split()) for c in clips.captions) + 1 <= CAPTION_MAX_LEN


def test_flicker_changes_the_light_of_each_frame_only():
    s = sample_video_scripts(4, np.random.default_rng(0))
    steady = render_video(s, np.random.default_rng(1), noise=0.0, flicker=0.0)
    lit = render_video(s, np.random.default_rng(1), noise=0.0, flicker=0.04)
    shift = (lit - steady).abs().amax(dim=(2, 3, 4))  # (N, T): at most the flicker (clamping can only shrink it)
    assert float(shift.max()) <= 0.04 + 1e-6 and float(shift.max()) > 0


def test_input_checks():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n must be an int >= 0"):
        make_video_clips(-1)
    with pytest.raises(ValueError, match="n_frames must be an int >= 8"):
        sample_video_scripts(3, rng, n_frames=4)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        sample_video_scripts(3, 0)
    with pytest.raises(TypeError, match="scripts must be a VideoScripts"):
        render_video("clips", rng)
    with pytest.raises(ValueError, match="flicker must be a finite number"):
        render_video(sample_video_scripts(2, rng), rng, flicker=0.9)


# ----- real clips -------------------------------------------------------------------------------------
def _write_fixture(root):
    """Two classes: 'jump' holds a folder of 6 PNG frames, 'wave' an .npz of 4 frames; frame k has gray level 40 k."""
    from PIL import Image

    clip = root / "jump" / "v_jump_01"
    clip.mkdir(parents=True)
    for k in range(6):
        Image.fromarray(np.full((12, 16, 3), 40 * k, dtype=np.uint8)).save(clip / f"{k + 1:05d}.png")
    (root / "wave").mkdir()
    frames = np.stack([np.full((10, 10, 3), 40 * k, dtype=np.uint8) for k in range(4)])
    np.savez(root / "wave" / "v_wave_01.npz", frames=frames)


def test_load_video_folders_reads_frame_folders_and_npz(tmp_path):
    _write_fixture(tmp_path)
    real = load_video_folders(tmp_path, n_frames=3, image_size=8)
    assert real.frames.shape == (2, 3, 3, 8, 8) and real.classes == ["jump", "wave"]
    assert real.labels.tolist() == [0, 1] and real.names == ["jump/v_jump_01", "wave/v_wave_01.npz"]
    # Frames spread evenly: of 6 frames the 3 segment centres are frames 1, 3, 5; of 4, frames 0, 2, 3.
    levels = (real.frames.mean(dim=(2, 3, 4)) * 255).round()
    assert levels[0].tolist() == [40.0, 120.0, 200.0] and levels[1].tolist() == [0.0, 80.0, 120.0]


def test_load_video_folders_input_checks(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_video_folders(tmp_path / "missing")
    with pytest.raises(ValueError, match="holds no class folders"):
        load_video_folders(tmp_path)
    (tmp_path / "empty" / "clip").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no frame images"):
        load_video_folders(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    np.savez(tmp_path / "bad" / "x.npz", video=np.zeros((2, 4, 4, 3), np.uint8))
    (tmp_path / "empty" / "clip").rmdir()
    with pytest.raises(ValueError, match="must hold an array 'frames'"):
        load_video_folders(tmp_path)
    with pytest.raises(TypeError, match="root must be a path"):
        load_video_folders(3)
