"""Padding, masks and the multimodal collate (mmtutorial.preprocess.collate)."""

import functools

import pytest
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

from mmtutorial.data import DictDataset
from mmtutorial.preprocess.collate import DEFAULT_PAD, collate_multimodal, lengths_to_mask, pad_sequences


def samples(n=5):
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        t, a = 3 + i, 100 + 37 * i
        out.append({"tokens": torch.randint(4, 30, (t,), generator=g), "audio": torch.randn(a, generator=g),
                    "image": torch.rand(3, 8, 8, generator=g), "label": i % 3, "caption": f"caption {i}",
                    "weight": torch.tensor(0.5 * i)})
    return out


def test_lengths_to_mask():
    m = lengths_to_mask(torch.tensor([2, 0, 3]))
    assert m.tolist() == [[True, True, False], [False, False, False], [True, True, True]]
    assert lengths_to_mask(torch.tensor([1]), max_len=4).tolist() == [[True, False, False, False]]


def test_pad_sequences_matches_torch_pad_sequence():
    seqs = [torch.randn(n, 2) for n in (4, 1, 6)]
    padded, lengths = pad_sequences(seqs, padding_value=-1.0)
    torch.testing.assert_close(padded, pad_sequence(seqs, batch_first=True, padding_value=-1.0))
    assert lengths.tolist() == [4, 1, 6]
    padded, _ = pad_sequences(seqs, max_len=8)
    assert padded.shape == (3, 8, 2) and padded[:, 6:].abs().sum() == 0


def test_collate_pads_stacks_and_lists():
    batch = samples()
    out = collate_multimodal(batch)
    assert set(out) == {"tokens", "tokens_mask", "tokens_lengths", "audio", "audio_mask", "audio_lengths",
                        "image", "label", "caption", "weight"}
    assert out["tokens"].shape == (5, 7) and out["audio"].shape == (5, 248)
    assert out["tokens_lengths"].tolist() == [3, 4, 5, 6, 7]
    assert torch.equal(out["tokens_mask"].sum(1), out["tokens_lengths"])
    assert torch.equal(out["audio_mask"].sum(1), out["audio_lengths"])
    for i, s in enumerate(batch):
        assert torch.equal(out["tokens"][i, : len(s["tokens"])], s["tokens"])
        assert (out["tokens"][i, len(s["tokens"]):] == DEFAULT_PAD["tokens"]).all()
        assert torch.equal(out["audio"][i][out["audio_mask"][i]], s["audio"])
    assert out["image"].shape == (5, 3, 8, 8) and out["label"].tolist() == [0, 1, 2, 0, 1]
    assert out["caption"] == [f"caption {i}" for i in range(5)] and out["weight"].shape == (5,)


def test_collate_with_custom_pad_in_a_dataloader():
    data = samples(6)
    ds = DictDataset(**{k: [s[k] for s in data] for k in data[0]})
    assert len(ds) == 6 and ds[2]["label"] == 2
    loader = DataLoader(ds, batch_size=4, collate_fn=functools.partial(collate_multimodal, pad={"tokens": 0}))
    with pytest.raises(ValueError, match="'audio'.*pad"):
        next(iter(loader))  # audio has different lengths but is not padded
    loader = DataLoader(ds, batch_size=4, collate_fn=functools.partial(collate_multimodal,
                                                                        pad={"tokens": 0, "audio": -1.0}))
    first, second = list(loader)
    assert first["audio"].shape == (4, 211) and second["audio"].shape == (2, 285)
    assert (first["audio"][~first["audio_mask"]] == -1.0).all()


def test_dict_dataset_transform():
    ds = DictDataset(transform=lambda s: {**s, "x2": s["x"] * 2}, x=torch.arange(5))
    assert ds[3] == {"x": torch.tensor(3), "x2": torch.tensor(6)}


def test_lengths_to_mask_checks_lengths_and_max_len():
    with pytest.raises(ValueError, match=r"lengths must be an integer tensor of shape \(B,\)"):
        lengths_to_mask(torch.tensor([[1, 2]]))
    with pytest.raises(TypeError, match="lengths must be an integer tensor"):
        lengths_to_mask(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="lengths must be >= 0"):
        lengths_to_mask(torch.tensor([-1]))
    with pytest.raises(ValueError, match="max_len must be an int >= 3, got 2"):
        lengths_to_mask(torch.tensor([3]), max_len=2)


def test_pad_sequences_needs_a_list_of_compatible_tensors():
    with pytest.raises(TypeError, match="seqs must be a list of tensors"):
        pad_sequences(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="seqs must hold at least one tensor"):
        pad_sequences([])
    with pytest.raises(ValueError, match=r"seqs\[1\] is a torch.float32 tensor of shape \(2, 4\)"):
        pad_sequences([torch.zeros(2, 3), torch.zeros(2, 4)])
    with pytest.raises(ValueError, match=r"seqs\[0\]"):
        pad_sequences([torch.tensor(1.0)])
    with pytest.raises(ValueError, match="max_len must be an int >= 5"):
        pad_sequences([torch.zeros(5)], max_len=3)


def test_collate_needs_a_list_of_dicts_with_the_same_keys():
    with pytest.raises(ValueError, match="at least one sample"):
        collate_multimodal([])
    with pytest.raises(ValueError, match=r"batch\[1\] must have the keys of batch\[0\]"):
        collate_multimodal([{"a": 1}, {"b": 2}])
    with pytest.raises(TypeError, match=r"batch\[1\] must be a dict sample"):
        collate_multimodal([{"a": 1}, 2])
    with pytest.raises(TypeError, match="pad must be a dict"):
        collate_multimodal([{"a": torch.zeros(2)}], pad=["a"])


def test_dict_dataset_errors_name_the_argument():
    with pytest.raises(ValueError, match="column"):
        DictDataset()
    with pytest.raises(ValueError, match="a, b must have the same length, got a 2, b 1"):
        DictDataset(a=[1, 2], b=[1])
    with pytest.raises(TypeError, match="transform must be callable"):
        DictDataset(transform=3, a=[1])
