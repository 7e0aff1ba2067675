"""Tests for mmtutorial.metrics: accuracy, top-k accuracy and the running mean."""

import math

import numpy as np
import pytest
import torch

from mmtutorial.metrics import RunningMean, accuracy, topk_accuracy

LOGITS = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.5, 1.0, 5.0], [0.2, 0.1, 0.0]])  # (B=4, C=3)
TARGET = torch.tensor([0, 1, 1, 2])  # (B,)


def test_accuracy_from_logits():
    assert accuracy(LOGITS, TARGET) == pytest.approx(0.5)


def test_accuracy_from_labels_and_array_likes():
    assert accuracy(torch.tensor([0, 1, 2, 2]), TARGET) == pytest.approx(0.75)
    assert accuracy([1, 1, 0], np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy(torch.tensor([0.3, -1.0]) > 0, torch.tensor([1, 0])) == 1.0


def test_accuracy_over_sequences():
    logits = torch.zeros(2, 3, 4)  # (B, T, C)
    logits[..., 1] = 1.0
    target = torch.tensor([[1, 1, 0], [1, 2, 3]])  # (B, T)
    assert accuracy(logits, target) == pytest.approx(3 / 6)


@pytest.mark.parametrize(
    "out, target",
    [
        (torch.zeros(4, 3), torch.zeros(5, dtype=torch.long)),  # batch mismatch
        (torch.zeros(4), torch.zeros(5, dtype=torch.long)),
        (torch.zeros(4, 3, 2), torch.zeros(4, dtype=torch.long)),  # too many dims
        (torch.zeros(3), torch.tensor(1)),  # 0-d target
        (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)),  # empty
    ],
)
def test_accuracy_rejects_mismatched_shapes(out, target):
    with pytest.raises(ValueError, match="out|target"):
        accuracy(out, target)


def test_accuracy_rejects_non_tensors():
    with pytest.raises(ValueError, match="out"):
        accuracy(object(), TARGET)


def test_topk_accuracy():
    assert topk_accuracy(LOGITS, TARGET, k=1) == pytest.approx(accuracy(LOGITS, TARGET))
    assert topk_accuracy(LOGITS, TARGET, k=2) == pytest.approx(0.75)
    assert topk_accuracy(LOGITS, TARGET, k=3) == 1.0


@pytest.mark.parametrize("k", [0, 4, 1.0, True, "2"])
def test_topk_accuracy_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k must"):
        topk_accuracy(LOGITS, TARGET, k)


@pytest.mark.parametrize(
    "out, target, match",
    [(torch.zeros(4), TARGET, "out"), (torch.zeros(0, 3), TARGET[:0], "out"), (LOGITS, TARGET[:3], "target")],
)
def test_topk_accuracy_rejects_bad_shapes(out, target, match):
    with pytest.raises(ValueError, match=match):
        topk_accuracy(out, target, 1)


def test_running_mean_weights_by_batch_size():
    m = RunningMean()
    assert math.isnan(m.value)
    m.update(1.0, n=3)
    m.update(torch.tensor(0.0), n=1)  # a smaller last batch
    assert m.value == pytest.approx(0.75)  # not (1 + 0) / 2
    assert m.count == 4
    m.update(torch.tensor([2.0]), n=4)
    assert m.value == pytest.approx((3 + 0 + 8) / 8)
    m.reset()
    assert m.count == 0 and math.isnan(m.value)


def test_running_mean_state_round_trip():
    m = RunningMean()
    m.update(torch.tensor(0.5), 10)
    m2 = RunningMean()
    m2.load_state_dict(m.state_dict())
    m.update(1.0, 10)
    m2.update(1.0, 10)
    assert m2.value == m.value == pytest.approx(0.75)
    assert "RunningMean" in repr(m2)


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_running_mean_rejects_bad_n(n):
    with pytest.raises(ValueError, match="n must"):
        RunningMean().update(1.0, n)


@pytest.mark.parametrize("value", [torch.ones(2), "1", None, True])
def test_running_mean_rejects_bad_values(value):
    with pytest.raises(ValueError, match="value must"):
        RunningMean().update(value, 1)


def test_running_mean_rejects_bad_state():
    with pytest.raises(ValueError, match="state"):
        RunningMean().load_state_dict({"total": 1.0})
