"""Tests for mmtutorial.checkpoint: random states, atomic and fingerprinted files, epoch replay."""

import os
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from mmtutorial import checkpoint
from mmtutorial.data import DeviceLoader


def draws():
    return random.random(), float(np.random.rand()), torch.rand(1).item()


def test_rng_state_round_trip_restores_every_global_generator():
    state = checkpoint.rng_state()
    first = draws()
    checkpoint.set_rng_state(state)
    assert draws() == first


def test_preserved_rng_leaves_the_generators_as_they_were():
    state = checkpoint.rng_state()
    with checkpoint.preserved_rng():
        draws()
    after = draws()
    checkpoint.set_rng_state(state)
    assert draws() == after


def test_a_malformed_random_state_is_rejected_before_anything_is_set():
    state = checkpoint.rng_state()
    before = draws()
    checkpoint.set_rng_state(state)
    with pytest.raises(ValueError, match="random state of torch"):
        checkpoint.set_rng_state({**state, "torch": torch.zeros(3, dtype=torch.uint8)})
    assert draws() == before  # Python's and NumPy's generators were not touched either


def test_loader_generators_finds_each_place_a_loader_keeps_one():
    g = torch.Generator()
    ds = TensorDataset(torch.zeros(4))
    assert checkpoint.loader_generators(DataLoader(ds, shuffle=True, generator=g)) == [g]
    sampler = BatchSampler(RandomSampler(ds, generator=g), 2, drop_last=False)
    assert checkpoint.loader_generators(DataLoader(ds, batch_size=None, sampler=sampler)) == [g]
    assert checkpoint.loader_generators(DeviceLoader(torch.zeros(4), device="cpu", generator=g)) == [g]
    assert checkpoint.loader_generators([1, 2]) == []


def test_replaying_a_longer_stop_than_the_epoch_is_an_error():
    replay = checkpoint.EpochReplay()
    loader = DataLoader(TensorDataset(torch.zeros(6)), batch_size=2, shuffle=True)
    replay.batches(loader, 0)
    replay.stop()
    with pytest.raises(ValueError, match="yields 3 batches per epoch, but 5"):
        replay.batches(loader, 5)


# ----------------------------------------------------------------------------------- files


STATE = {"format": 2, "model": {"w": torch.arange(64.0), "b": torch.zeros(3, dtype=torch.bfloat16)},
         "step": 7, "history": {"loss": [0.5, 0.25]}, "name": "run"}


def test_save_and_load_round_trip(tmp_path):
    checkpoint.save(STATE, tmp_path / "c.pt")
    loaded = checkpoint.load(tmp_path / "c.pt")
    assert loaded.keys() == STATE.keys() and loaded["step"] == 7
    assert torch.equal(loaded["model"]["w"], STATE["model"]["w"])
    assert "sha256" in torch.load(tmp_path / "c.pt", weights_only=True)  # plain torch.load reads it too


def test_a_file_without_a_fingerprint_is_not_taken_for_a_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(checkpoint.CheckpointError, match="other.pt.*no fingerprint"):
        checkpoint.load(tmp_path / "other.pt")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "c.pt"
    checkpoint.save(STATE, path)
    return path.read_bytes()


def loads_intact_or_names_the_file(data, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        loaded = checkpoint.load(path)
    except checkpoint.CheckpointError as err:
        assert name in str(err)
        return
    # Some bytes of a zip file are never read (timestamps, padding): then the content is intact.
    assert checkpoint.fingerprint(loaded) == checkpoint.fingerprint(STATE)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(position=st.floats(0, 1, exclude_max=True), mask=st.integers(1, 255))
def test_a_damaged_byte_is_detected_or_harmless(saved, tmp_path_factory, position, mask):
    data = bytearray(saved)
    data[int(position * len(data))] ^= mask
    loads_intact_or_names_the_file(bytes(data), tmp_path_factory.mktemp("flip"), "flipped.pt")


@settings(derandomize=True, max_examples=30, deadline=None)
@given(keep=st.floats(0, 1, exclude_max=True))
def test_a_truncated_file_names_the_file(saved, tmp_path_factory, keep):
    path = tmp_path_factory.mktemp("cut") / "cut.pt"
    path.write_bytes(saved[: int(keep * len(saved))])
    with pytest.raises(checkpoint.CheckpointError, match="cut.pt"):
        checkpoint.load(path)


def test_a_temporary_file_left_by_a_killed_save_is_removed_by_the_next(tmp_path):
    stale = tmp_path / ".c.pt.k1ll3d.tmp"  # what a save killed before its rename leaves
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / ".d.pt.k1ll3d.tmp"  # another checkpoint's: not ours to remove
    other.write_bytes(b"")
    checkpoint.save(STATE, tmp_path / "c.pt")
    assert sorted(os.listdir(tmp_path)) == [".d.pt.k1ll3d.tmp", "c.pt"]


def test_save_and_load_check_their_arguments(tmp_path):
    with pytest.raises(TypeError, match="state must be a dict"):
        checkpoint.save([1], tmp_path / "c.pt")
    with pytest.raises(TypeError, match="path must be a path"):
        checkpoint.save(STATE, 3)
    with pytest.raises(FileNotFoundError):
        checkpoint.load(tmp_path / "missing.pt")
