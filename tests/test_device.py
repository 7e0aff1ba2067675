"""Tests for mmtutorial.device: device choice, seeding, autocast and batch moving."""

import contextlib
import random
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
import torch

from mmtutorial.device import amp_dtype, as_device, autocast, get_device, map_tensors, seed_everything, to_device

CUDA = torch.cuda.is_available()
MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


# ----------------------------------------------------------------------------- get_device


def test_get_device_picks_the_best_available():
    device = get_device()
    assert isinstance(device, torch.device)
    expected = "cuda" if CUDA else "mps" if MPS else "cpu"
    assert device.type == expected


def test_get_device_prefer_cpu():
    assert get_device("cpu") == torch.device("cpu")


def test_get_device_rejects_an_unknown_name():
    with pytest.raises(ValueError, match=r"prefer must be one of \('cpu', 'cuda', 'mps'\) or None, got 'tpu'"):
        get_device("tpu")


def test_get_device_rejects_a_non_string():
    with pytest.raises(TypeError, match="prefer must be a str or None, got int"):
        get_device(3)


@pytest.mark.skipif(CUDA, reason="CUDA is available here")
def test_get_device_prefer_unavailable_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        get_device("cuda")


@pytest.mark.skipif(MPS, reason="MPS is available here")
def test_get_device_prefer_unavailable_mps():
    with pytest.raises(ValueError, match="MPS is not available"):
        get_device("mps")


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_get_device_prefer_cuda():
    assert get_device("cuda").type == "cuda"


# ----------------------------------------------------------------------------- seeding


def _draw():
    return random.random(), np.random.rand(), torch.rand(1).item()


def test_seed_everything_repeats_every_generator():
    seed_everything(123)
    first = _draw()
    seed_everything(123)
    assert _draw() == first
    seed_everything(124)
    assert _draw() != first


@pytest.fixture
def restore_determinism():
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[1], before[2]


def test_seed_everything_deterministic(restore_determinism):
    seed_everything(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark


def test_seed_everything_rejects_a_negative_seed():
    with pytest.raises(ValueError, match="seed must be an int >= 0 .*, got -1"):
        seed_everything(-1)


def test_seed_everything_rejects_a_seed_beyond_32_bits():
    with pytest.raises(ValueError, match="seed must be an int"):
        seed_everything(2**32)


def test_seed_everything_rejects_a_non_int_seed():
    with pytest.raises(TypeError, match="seed must be an int, got '1'"):
        seed_everything("1")


def test_seed_everything_rejects_non_bool_deterministic():
    with pytest.raises(TypeError, match="deterministic must be True or False, got 'yes'"):
        seed_everything(0, deterministic="yes")


# ----------------------------------------------------------------------------- autocast


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_autocast_is_a_no_op_on_cpu(device):
    ctx = autocast(device)
    assert isinstance(ctx, contextlib.nullcontext)
    with ctx:
        y = torch.randn(4, 4) @ torch.randn(4, 4)
    assert y.dtype == torch.float32


def test_autocast_disabled_is_a_no_op():
    assert isinstance(autocast("cpu", enabled=False), contextlib.nullcontext)


def test_amp_dtype_off_the_gpu():
    assert amp_dtype("cpu") is None
    assert amp_dtype(torch.device("cpu")) is None


def test_as_device_converts_names_and_keeps_devices():
    assert as_device("cpu") == torch.device("cpu")
    device = torch.device("cpu")
    assert as_device(device) is device


def test_as_device_rejects_a_non_device():
    with pytest.raises(TypeError, match="device must be a torch.device or a device string like 'cpu', got int"):
        as_device(7)


def test_as_device_rejects_an_unknown_name():
    with pytest.raises(ValueError, match="device must name a device such as 'cpu' or 'cuda:0', got 'nonsense'"):
        as_device("nonsense")


def test_as_device_names_the_argument_in_its_errors():
    with pytest.raises(TypeError, match="target must be a torch.device"):
        as_device(None, name="target")


def test_autocast_rejects_a_non_bool_enabled():
    with pytest.raises(TypeError, match="enabled must be True or False, got 'yes'"):
        autocast("cpu", enabled="yes")


def test_autocast_rejects_a_full_precision_dtype():
    with pytest.raises(ValueError, match="dtype must be torch.float16, torch.bfloat16 or None"):
        autocast("cpu", dtype=torch.float32)


def test_autocast_and_amp_dtype_check_the_device():
    with pytest.raises(TypeError, match="device must be a torch.device"):
        autocast(3)
    with pytest.raises(ValueError, match="device must name a device"):
        amp_dtype("gpu0")


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_autocast_on_cuda_uses_half_precision():
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    assert amp_dtype("cuda") == expected
    a = torch.randn(8, 8, device="cuda")
    with autocast("cuda"):
        assert (a @ a).dtype == expected
    with autocast("cuda", dtype=torch.float16):
        assert (a @ a).dtype == torch.float16
    with autocast("cuda", enabled=False):
        assert (a @ a).dtype == torch.float32


# ----------------------------------------------------------------------------- to_device

Pair = namedtuple("Pair", "x y")


def test_to_device_keeps_structure_and_non_tensors():
    batch = {
        "image": torch.zeros(2, 3),
        "caption": ["a red square", "a blue circle"],
        "meta": (torch.ones(2), 7, None),
        "pair": Pair(torch.ones(1), "s"),
        "ordered": OrderedDict(a=torch.ones(1)),
    }
    moved = to_device(batch, "cpu")
    assert set(moved) == set(batch)
    assert moved["caption"] == ["a red square", "a blue circle"]
    assert isinstance(moved["meta"], tuple) and moved["meta"][1:] == (7, None)
    assert isinstance(moved["pair"], Pair) and moved["pair"].y == "s"
    assert isinstance(moved["ordered"], OrderedDict)
    assert torch.equal(moved["image"], batch["image"])


def test_to_device_on_a_bare_tensor_and_a_list():
    x = torch.arange(3)
    assert to_device(x, torch.device("cpu")).device.type == "cpu"
    out = to_device([x, [x, "t"]], "cpu")
    assert isinstance(out, list) and out[1][1] == "t"


def test_to_device_rejects_a_non_device():
    with pytest.raises(TypeError, match="device must be a torch.device"):
        to_device(torch.zeros(1), 5)


def test_to_device_rejects_a_non_bool_non_blocking():
    with pytest.raises(TypeError, match="non_blocking must be True or False, got 1"):
        to_device(torch.zeros(1), "cpu", non_blocking=1)


def test_map_tensors_applies_to_every_tensor():
    out = map_tensors({"a": torch.ones(2), "b": [torch.zeros(1), "s"]}, lambda t: t + 1)
    assert torch.equal(out["a"], torch.full((2,), 2.0)) and torch.equal(out["b"][0], torch.ones(1))
    assert out["b"][1] == "s"


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_to_device_moves_to_cuda():
    moved = to_device({"x": torch.zeros(2).pin_memory(), "n": 1}, "cuda")
    assert moved["x"].device.type == "cuda" and moved["n"] == 1


def test_deterministic_switches_torch_to_deterministic_kernels_inside_the_block_only(restore_determinism):
    from mmtutorial.device import deterministic

    torch.use_deterministic_algorithms(False)
    with deterministic():
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    assert not torch.are_deterministic_algorithms_enabled()


def test_amp_dtype_can_be_forced_for_cuda_only(monkeypatch):
    monkeypatch.setenv("MMTUTORIAL_AMP_DTYPE", "float16")
    assert amp_dtype("cpu") is None  # the CPU trains in float32 whatever is asked
    if CUDA:
        assert amp_dtype("cuda") == torch.float16
        monkeypatch.setenv("MMTUTORIAL_AMP_DTYPE", "fp8")
        with pytest.raises(ValueError, match="MMTUTORIAL_AMP_DTYPE"):
            amp_dtype("cuda")
