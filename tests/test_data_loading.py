"""Tests for mmtutorial.data.loading.DeviceLoader: batches of in-memory tensors on the device."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from mmtutorial.data import DeviceLoader

X = torch.arange(10.0).unsqueeze(1)  # (10, 1): the value is the sample's index
Y = torch.arange(10)


def test_in_order_the_batches_are_views_of_the_data():
    loader = DeviceLoader((X, Y), batch_size=4, device="cpu")
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].data_ptr() == loader._columns["0"].data_ptr()  # no copy


def test_drop_last_drops_the_short_batch_like_dataloader():
    loader = DeviceLoader((X, Y), batch_size=4, shuffle=True, drop_last=True, device="cpu")
    assert len(loader) == len(DataLoader(TensorDataset(X, Y), batch_size=4, drop_last=True)) == 2
    assert [len(b[1]) for b in loader] == [4, 4]


@settings(derandomize=True, max_examples=30, deadline=None)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 16), seed=st.integers(0, 1000))
def test_a_shuffled_epoch_serves_every_sample_once(n, batch_size, seed):
    torch.manual_seed(seed)
    loader = DeviceLoader(torch.arange(n), batch_size=batch_size, shuffle=True, device="cpu")
    first = torch.cat(list(loader))
    assert sorted(first.tolist()) == list(range(n))
    assert all(len(b) == batch_size for b in list(loader)[:-1])


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_the_same_batches_and_random_stream_as_dataloader_on_the_cpu(shuffle, drop_last):
    def epochs(loader):
        torch.manual_seed(3)
        out = [[b[1].tolist() for b in loader] for _ in range(2)]
        return out, torch.rand(1).item()  # where the global generator stands afterwards

    reference = DataLoader(TensorDataset(X, Y), batch_size=3, shuffle=shuffle, drop_last=drop_last)
    ours = DeviceLoader((X, Y), batch_size=3, shuffle=shuffle, drop_last=drop_last, device="cpu")
    assert epochs(ours) == epochs(reference)


@pytest.mark.parametrize("shuffle", [False, True])
def test_with_a_generator_the_same_batches_as_dataloader_with_it(shuffle):
    def epochs(make):
        torch.manual_seed(0)
        loader = make(torch.Generator().manual_seed(5))
        return [[b[1].tolist() for b in loader] for _ in range(2)], torch.rand(1).item()

    reference = epochs(lambda g: DataLoader(TensorDataset(X, Y), batch_size=4, shuffle=shuffle, generator=g))
    assert epochs(lambda g: DeviceLoader((X, Y), batch_size=4, shuffle=shuffle, device="cpu", generator=g)) == reference


def test_with_a_generator_the_order_depends_on_it_alone():
    def order(seed):
        loader = DeviceLoader(Y, batch_size=10, shuffle=True, device="cpu",
                              generator=torch.Generator().manual_seed(seed))
        torch.manual_seed(seed + 1)  # the global generator plays no part in the order
        return next(iter(loader)).tolist()

    assert order(0) == order(0) != order(1)


def test_dicts_and_single_tensors_keep_their_structure():
    batch = next(iter(DeviceLoader({"image": X, "label": Y}, batch_size=2, device="cpu")))
    assert set(batch) == {"image", "label"} and batch["label"].tolist() == [0, 1]
    assert next(iter(DeviceLoader(Y, batch_size=2, device="cpu"))).tolist() == [0, 1]


def test_it_rejects_what_would_go_wrong_later():
    with pytest.raises(ValueError, match="same length"):
        DeviceLoader((X, Y[:5]), device="cpu")
    with pytest.raises(ValueError, match="at least one sample"):
        DeviceLoader((X[:0], Y[:0]), device="cpu")
    with pytest.raises(ValueError, match="leaves no batch"):
        DeviceLoader((X, Y), batch_size=11, drop_last=True, device="cpu")
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        DeviceLoader((X, Y), batch_size=0, device="cpu")
    with pytest.raises(TypeError, match="must be a tensor"):
        DeviceLoader((X, [0] * 10), device="cpu")
    with pytest.raises(TypeError, match="tensors must be a tensor, a tuple"):
        DeviceLoader("images", device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_data_and_the_shuffle_stay_on_the_gpu():
    loader = DeviceLoader((X, Y), batch_size=4, shuffle=True, device="cuda",
                          generator=torch.Generator(device="cuda").manual_seed(0))
    batches = list(loader)
    assert all(t.is_cuda for b in batches for t in b)
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="generator must be on the loader's device"):
        DeviceLoader((X, Y), shuffle=True, device="cuda", generator=torch.Generator())
