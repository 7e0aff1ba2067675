"""Tests for mmtutorial.presets: the CPU/GPU size switch and the headline line gpu-check reads."""

import pathlib
import sys

import pytest

from mmtutorial import preset
from mmtutorial.presets import PRESET_ENV, choose_preset

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tools"))
import gpu_check  # noqa: E402

SIZES = dict(cpu=dict(n_train=4_000, epochs=6, width=64), gpu=dict(n_train=40_000, epochs=20, width=64))


@pytest.fixture(autouse=True)
def no_override(monkeypatch):
    monkeypatch.delenv(PRESET_ENV, raising=False)


def test_the_device_chooses_the_preset():
    assert choose_preset("cpu") == "cpu"
    assert choose_preset("cuda") == "gpu"
    assert choose_preset("mps") == "cpu"  # sized for CUDA GPUs; MPS readers opt in


def test_the_environment_variable_overrides_the_device(monkeypatch):
    monkeypatch.setenv(PRESET_ENV, "gpu")
    P = preset(**SIZES, device="cpu")
    assert P.name == "gpu" and P.n_train == 40_000 and P["epochs"] == 20
    monkeypatch.setenv(PRESET_ENV, "tpu")
    with pytest.raises(ValueError, match=PRESET_ENV):
        preset(**SIZES, device="cpu")


def test_a_preset_reads_like_a_dict_and_shows_what_the_other_changes():
    P = preset(**SIZES, device="cpu")
    assert dict(P) == SIZES["cpu"] and P.width == 64
    text = repr(P)
    assert text.startswith("CPU preset") and "n_train  4000   (gpu: 40000)" in text
    assert "width    64\n" in text + "\n"  # equal at both presets: nothing to show
    with pytest.raises(AttributeError, match="no size 'batch'"):
        P.batch


def test_both_presets_must_name_the_same_sizes():
    with pytest.raises(ValueError, match="only in cpu: \\['epochs'\\]"):
        preset(cpu=dict(n=1, epochs=2), gpu=dict(n=1), device="cpu")
    with pytest.raises(TypeError, match="cpu must be a dict"):
        preset(cpu=[("n", 1)], gpu=dict(n=1), device="cpu")


def test_the_headline_line_round_trips_through_gpu_check(capsys):
    P = preset(**SIZES, device="cpu")
    P.headline(fused_acc=0.93456, late_acc=0.5, steps=30)
    line = capsys.readouterr().out
    assert line == "headline (cpu preset): fused_acc 0.9346 | late_acc 0.5 | steps 30\n"
    assert gpu_check.headlines(line) == ("cpu", {"fused_acc": 0.9346, "late_acc": 0.5, "steps": 30.0})
    with pytest.raises(ValueError, match="at least one number"):
        P.headline()
