"""Tests for mmtutorial.metrics: accuracy, top-k accuracy and the running mean."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtutorial.metrics import RunningMean, accuracy, topk_accuracy

LOGITS = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 0.0]])  # argmax 0, 1, 2, 0


def test_accuracy_from_logits_is_a_tensor_on_the_inputs_device():
    acc = accuracy(LOGITS, torch.tensor([0, 1, 1, 0]))
    assert isinstance(acc, torch.Tensor) and acc.ndim == 0 and acc.device == LOGITS.device
    assert float(acc) == 0.75


def test_accuracy_from_labels():
    assert float(accuracy(torch.tensor([1, 0, 1]), torch.tensor([1, 1, 1]))) == pytest.approx(2 / 3)
    assert float(accuracy(torch.tensor([True, False]), torch.tensor([1, 0]))) == 1.0  # thresholded logits


def test_accuracy_over_sequences():
    out = torch.zeros(2, 3, 4)
    out[..., 2] = 1.0  # predicts class 2 everywhere
    target = torch.tensor([[2, 2, 0], [2, 1, 2]])
    assert float(accuracy(out, target)) == pytest.approx(4 / 6)


def test_accuracy_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="out must be logits of shape"):
        accuracy(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))


def test_accuracy_rejects_a_single_logit_per_example():
    with pytest.raises(ValueError, match="binary classifier"):
        accuracy(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long))  # argmax would always say 0


def test_accuracy_rejects_float_predictions_of_the_targets_shape():
    with pytest.raises(TypeError, match="threshold first"):
        accuracy(torch.tensor([0.3, -2.0]), torch.tensor([1, 0]))


def test_accuracy_rejects_non_tensors_and_float_targets():
    with pytest.raises(TypeError, match="target must be an integer tensor"):
        accuracy(LOGITS, [0, 1, 1, 0])
    with pytest.raises(TypeError, match="target must be an integer tensor"):
        accuracy(LOGITS, torch.zeros(4))
    with pytest.raises(ValueError, match="B > 0"):
        accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))


@settings(derandomize=True, max_examples=40, deadline=None)
@given(bad=st.one_of(st.integers(-2**62, -1), st.integers(3, 2**62)), where=st.integers(0, 3))
def test_a_label_outside_the_classes_makes_accuracy_nan(bad, where):
    target = torch.tensor([0, 1, 2, 0])
    target[where] = bad
    assert math.isnan(float(accuracy(LOGITS, target)))
    assert math.isnan(float(topk_accuracy(LOGITS, target, k=2)))


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=1, max_size=12), st.integers(0, 2**31 - 1))
def test_accuracy_equals_the_fraction_of_correct_argmax(labels, seed):
    target = torch.tensor(labels)
    logits = torch.randn(len(labels), 3, generator=torch.Generator().manual_seed(seed))
    expected = sum(int(logits[i].argmax()) == y for i, y in enumerate(labels)) / len(labels)
    assert float(accuracy(logits, target)) == pytest.approx(expected)


def test_topk_accuracy():
    target = torch.tensor([1, 0, 0, 2])
    assert float(topk_accuracy(LOGITS, target, k=1)) == float(accuracy(LOGITS, target)) == 0.0
    assert float(topk_accuracy(LOGITS, target, k=2)) == 0.5
    assert float(topk_accuracy(LOGITS, target, k=3)) == 1.0


def test_topk_accuracy_checks_k_and_shapes():
    with pytest.raises(ValueError, match="k must be an int >= 1 and <= 3"):
        topk_accuracy(LOGITS, torch.tensor([1, 0, 0, 2]), k=4)
    with pytest.raises(TypeError, match="k must be an int"):
        topk_accuracy(LOGITS, torch.tensor([1, 0, 0, 2]), k=1.0)
    with pytest.raises(ValueError, match="target must have shape"):
        topk_accuracy(LOGITS, torch.tensor([1, 0]), k=1)


def test_running_mean_weights_by_batch_size():
    m = RunningMean()
    assert math.isnan(m.value)
    m.update(torch.tensor(1.0), 3)  # three items with mean 1
    m.update(0.0, 1)  # one item with mean 0
    assert m.value == pytest.approx(0.75) and m.count == 4
    m.reset()
    assert m.count == 0


def test_running_mean_keeps_tensors_on_their_device_until_read():
    m = RunningMean()
    m.update(torch.tensor(2.0), 2)
    m.update(torch.tensor(4.0, dtype=torch.bfloat16), 2)
    assert isinstance(m.total, torch.Tensor) and m.total.dtype == torch.float32
    assert m.value == pytest.approx(3.0)


def test_running_mean_state_round_trip():
    m = RunningMean()
    m.update(torch.tensor(2.0), 5)
    other = RunningMean()
    other.load_state_dict(m.state_dict())
    assert other.value == m.value and other.count == 5


def test_running_mean_rejects_bad_updates_and_states():
    m = RunningMean()
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        m.update(1.0, 0)
    with pytest.raises(TypeError, match="value must be a number"):
        m.update("1")
    with pytest.raises(ValueError, match="one-element tensor"):
        m.update(torch.ones(2))
    with pytest.raises(ValueError, match="'total' and 'count'"):
        m.load_state_dict({"total": 1.0})
