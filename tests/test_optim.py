"""Tests for mmtutorial.optim: the warmup-cosine schedule and the global gradient norm."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from mmtutorial.optim import WarmupCosine, global_grad_norm, warmup_cosine, warmup_cosine_factor
from mmtutorial.train import Trainer

W, T, R = 10, 50, 0.1


def lrs_of(scheduler, optimizer, steps):
    """The learning rate each of `steps` optimizer steps uses."""
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def sgd(lr=1.0):
    return torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=lr)


# ------------------------------------------------------------------ the factor


def test_factor_at_key_steps():
    f = lambda s: warmup_cosine_factor(s, W, T, R)  # noqa: E731
    assert f(1) == pytest.approx(1 / W)
    assert f(W // 2) == pytest.approx(0.5)
    assert f(W) == pytest.approx(1.0)
    assert f((W + T) // 2) == pytest.approx(R + (1 - R) / 2)  # half way through the decay
    assert f(T) == pytest.approx(R)
    assert f(T + 1) == f(10 * T) == pytest.approx(R)


def test_factor_is_increasing_then_decreasing_and_continuous_at_the_peak():
    values = [warmup_cosine_factor(s, W, T, R) for s in range(1, T + 1)]
    assert all(a < b for a, b in zip(values[: W - 1], values[1:W]))
    assert all(a > b for a, b in zip(values[W - 1 : -1], values[W:]))
    assert values[W] == pytest.approx(1.0, abs=1e-2)  # the first decay step is just below the peak
    assert min(values) >= R


def test_factor_without_warmup_and_with_warmup_only():
    assert warmup_cosine_factor(1, 0, 4) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert warmup_cosine_factor(4, 0, 4) == 0.0
    assert [warmup_cosine_factor(s, 4, 4, 0.2) for s in (1, 4, 5)] == pytest.approx([0.25, 1.0, 0.2])


# ------------------------------------------------------------------ the scheduler


def test_scheduler_gives_each_step_its_factor():
    opt = sgd(lr=0.3)
    sched = warmup_cosine(opt, W, T, R)
    lrs = lrs_of(sched, opt, T + 5)
    expected = [0.3 * warmup_cosine_factor(s, W, T, R) for s in range(1, T + 6)]
    assert lrs == pytest.approx(expected)


def test_scheduler_state_round_trips():
    opt = sgd()
    sched = warmup_cosine(opt, W, T, R)
    lrs_of(sched, opt, 7)
    state = sched.state_dict()
    assert state["lr_lambdas"][0] == {"warmup_steps": W, "total_steps": T, "min_lr_ratio": R}
    opt2 = sgd()
    sched2 = warmup_cosine(opt2, 1, 2)  # different settings: the state restores them
    sched2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    assert lrs_of(sched2, opt2, 10) == pytest.approx(lrs_of(sched, opt, 10))


def test_trainer_checkpoint_with_the_schedule(tmp_path):
    torch.manual_seed(0)
    X, y = torch.randn(32, 3), torch.randint(2, (32,))
    loader = [(X[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]

    def trainer():
        torch.manual_seed(0)
        model = nn.Linear(3, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        return Trainer(model, opt, nn.CrossEntropyLoss(), scheduler=warmup_cosine(opt, 2, 8),
                       device="cpu")

    straight = trainer()
    straight.fit(loader, epochs=2)
    first = trainer()
    first.fit(loader, epochs=1, checkpoint_path=tmp_path / "ckpt.pt")
    resumed = trainer()
    resumed.load_checkpoint(tmp_path / "ckpt.pt")
    resumed.fit(loader, epochs=2)
    assert resumed.history["lr"] == straight.history["lr"]
    assert straight.history["lr"][:3] == pytest.approx([0.05, 0.1, 0.1 * warmup_cosine_factor(3, 2, 8)])


def test_lambda_repr_and_call():
    fn = WarmupCosine(W, T, R)
    assert fn(0) == warmup_cosine_factor(1, W, T, R)
    assert "warmup_steps=10" in repr(fn)


# ------------------------------------------------------------------ input checks


def test_schedule_rejects_zero_total_steps():
    with pytest.raises(ValueError, match="total_steps must be an int >= 1, got 0"):
        warmup_cosine(sgd(), warmup_steps=0, total_steps=0)


def test_schedule_rejects_a_float_step_count():
    with pytest.raises(TypeError, match="total_steps must be an int, got 2.0"):
        WarmupCosine(warmup_steps=0, total_steps=2.0)


def test_schedule_rejects_a_warmup_longer_than_the_schedule():
    with pytest.raises(ValueError, match="warmup_steps must be an int >= 0 and <= 5, got 6"):
        warmup_cosine_factor(1, warmup_steps=6, total_steps=5)


def test_schedule_rejects_a_bool_warmup():
    with pytest.raises(TypeError, match="warmup_steps must be an int, got True"):
        warmup_cosine(sgd(), warmup_steps=True, total_steps=5)


def test_schedule_rejects_min_lr_ratio_above_one():
    with pytest.raises(ValueError, match=r"min_lr_ratio must be a finite number >= 0 and <= 1, got 1.5"):
        WarmupCosine(1, 5, min_lr_ratio=1.5)


def test_schedule_rejects_nan_min_lr_ratio():
    with pytest.raises(ValueError, match="min_lr_ratio must be a finite number"):
        warmup_cosine_factor(1, 1, 5, min_lr_ratio=math.nan)


def test_schedule_rejects_a_string_min_lr_ratio():
    with pytest.raises(TypeError, match="min_lr_ratio must be a number, got '0'"):
        warmup_cosine(sgd(), 1, 5, min_lr_ratio="0")


def test_schedule_accepts_numpy_integers_and_stores_python_numbers():
    fn = WarmupCosine(np.int64(2), np.int64(8), np.float32(0.5))
    assert (type(fn.warmup_steps), type(fn.total_steps), type(fn.min_lr_ratio)) == (int, int, float)


def test_factor_rejects_step_zero():
    with pytest.raises(ValueError, match="step must be an int >= 1, got 0"):
        warmup_cosine_factor(0, W, T)


def test_factor_rejects_a_float_step():
    with pytest.raises(TypeError, match="step must be an int, got 1.0"):
        warmup_cosine_factor(1.0, W, T)


def test_warmup_cosine_rejects_a_non_optimizer():
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer, got list"):
        warmup_cosine([nn.Parameter(torch.zeros(1))], W, T)


# ------------------------------------------------------------------ gradient norm


def test_global_grad_norm_matches_clip_grad_norm():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    model(torch.randn(5, 4)).pow(2).sum().backward()
    norm = global_grad_norm(model.parameters())
    by_hand = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    torch.testing.assert_close(norm, by_hand)
    torch.testing.assert_close(norm, nn.utils.clip_grad_norm_(model.parameters(), float("inf")))


def test_global_grad_norm_skips_missing_gradients_and_takes_a_tensor():
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3))
    assert global_grad_norm([a, b]).item() == 0.0
    a.grad = torch.tensor([3.0, 4.0])
    assert global_grad_norm([a, b]).item() == pytest.approx(5.0)
    assert global_grad_norm(a).item() == pytest.approx(5.0)
    h = nn.Parameter(torch.zeros(2, dtype=torch.float16))
    h.grad = torch.tensor([3.0, 4.0], dtype=torch.float16)
    assert global_grad_norm([h]).dtype == torch.float32


def test_global_grad_norm_reports_a_non_finite_gradient_as_its_value():
    a = nn.Parameter(torch.zeros(2))
    a.grad = torch.tensor([math.inf, 1.0])
    assert global_grad_norm(a).item() == math.inf
    a.grad = torch.tensor([math.nan, 1.0])
    assert math.isnan(global_grad_norm(a).item())


def test_global_grad_norm_rejects_a_non_tensor_entry():
    with pytest.raises(TypeError, match=r"parameters\[1\] must be a tensor, got str"):
        global_grad_norm([torch.zeros(1), "w"])


def test_global_grad_norm_leaves_a_non_iterable_to_python():
    with pytest.raises(TypeError, match="not iterable"):
        global_grad_norm(3)
