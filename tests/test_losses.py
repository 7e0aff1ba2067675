"""Tests for mmtutorial.losses: agreement with PyTorch (extreme logits included), gradients,
multi-task weighting and the input checks."""

import math

import pytest
import torch
import torch.nn.functional as F

from mmtutorial.losses import (
    UncertaintyWeighting,
    WeightedLoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_sum_exp,
    weighted_sum,
)

EXTREME = torch.tensor([-1e30, -1e4, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e4, 1e30])


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------ log_sum_exp


@pytest.mark.parametrize("scale", [1.0, 100.0, 1e4])
@pytest.mark.parametrize("dim,keepdim", [(-1, False), (0, True), (1, False)])
def test_log_sum_exp_matches_torch(scale, dim, keepdim):
    x = scale * torch.randn(3, 5, 4, generator=gen())
    torch.testing.assert_close(log_sum_exp(x, dim, keepdim), torch.logsumexp(x, dim, keepdim))


def test_log_sum_exp_special_rows():
    x = torch.tensor([[-math.inf, -math.inf], [math.inf, 0.0], [1e38, 1e38], [-1e38, -1e38]])
    torch.testing.assert_close(log_sum_exp(x), torch.logsumexp(x, -1))
    assert log_sum_exp(x)[0] == -math.inf and log_sum_exp(x)[1] == math.inf


def test_log_sum_exp_gradient_is_softmax():
    x = (100 * torch.randn(4, 6, generator=gen(1))).requires_grad_()
    log_sum_exp(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.softmax(x.detach(), -1))


def test_log_sum_exp_checks():
    with pytest.raises(ValueError, match="x must be a floating-point"):
        log_sum_exp(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="x must have at least one dimension"):
        log_sum_exp(torch.tensor(1.0))
    with pytest.raises(ValueError, match="dim must be"):
        log_sum_exp(torch.zeros(2, 3), dim=2)
    with pytest.raises(ValueError, match="at least one element"):
        log_sum_exp(torch.zeros(2, 0))


# ------------------------------------------------------------------------------ cross_entropy


@pytest.mark.parametrize("scale", [1.0, 50.0, 1e4, 1e30])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(scale, reduction):
    logits = scale * torch.randn(16, 7, generator=gen())
    target = torch.randint(0, 7, (16,), generator=gen(1))
    ours = cross_entropy(logits, target, reduction=reduction)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, F.cross_entropy(logits, target, reduction=reduction))


def test_cross_entropy_extreme_logits_and_gradient():
    logits = EXTREME.repeat(3, 1).clone().requires_grad_()  # (3, 11)
    target = torch.tensor([0, 5, 10])
    ref_logits = logits.detach().clone().requires_grad_()
    loss = cross_entropy(logits, target)
    ref = F.cross_entropy(ref_logits, target)
    torch.testing.assert_close(loss, ref)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(logits.grad, ref_logits.grad)
    # the gradient is (softmax - one_hot) / B
    expected = (torch.softmax(logits.detach(), -1) - F.one_hot(target, 11)) / 3
    torch.testing.assert_close(logits.grad, expected)


def test_cross_entropy_gradcheck_float64():
    logits = torch.randn(4, 5, dtype=torch.float64, generator=gen(2), requires_grad=True)
    target = torch.tensor([0, 4, 2, 2])
    assert torch.autograd.gradcheck(lambda z: cross_entropy(z, target), (logits,))


def test_cross_entropy_sequences_classes_last_and_ignore_index():
    logits = torch.randn(2, 5, 9, generator=gen(3))  # (B, T, V)
    target = torch.randint(0, 9, (2, 5), generator=gen(4))
    target[0, 3:] = -100  # padding
    for reduction in ("mean", "sum", "none"):
        ours = cross_entropy(logits, target, ignore_index=-100, reduction=reduction)
        ref = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=-100, reduction=reduction)
        torch.testing.assert_close(ours, ref.reshape(ours.shape))


def test_cross_entropy_contrastive_use():
    sim = torch.randn(6, 6, generator=gen(5))  # (B, B) similarity matrix, matches on the diagonal
    torch.testing.assert_close(cross_entropy(sim, torch.arange(6)), F.cross_entropy(sim, torch.arange(6)))


def test_cross_entropy_half_precision_is_computed_in_float32():
    logits = torch.randn(8, 4, generator=gen(6))
    target = torch.randint(0, 4, (8,), generator=gen(7))
    out = cross_entropy(logits.half(), target)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, F.cross_entropy(logits.half().float(), target))


def test_cross_entropy_checks():
    logits, target = torch.zeros(4, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="logits must be a floating-point"):
        cross_entropy(torch.zeros(4, 3, dtype=torch.long), target)
    with pytest.raises(ValueError, match=r"logits must have shape \(\.\.\., C\)"):
        cross_entropy(torch.zeros(4, 0), target)
    with pytest.raises(ValueError, match="target must be an integer tensor"):
        cross_entropy(logits, target.float())
    with pytest.raises(ValueError, match="target must be an integer tensor"):
        cross_entropy(logits, [0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"target must have shape \(4,\)"):
        cross_entropy(logits, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"target must hold class indices in \[0, 2\]"):
        cross_entropy(logits, torch.tensor([0, 1, 3, 0]))
    with pytest.raises(ValueError, match=r"target must hold class indices"):
        cross_entropy(logits, torch.tensor([0, -1, 2, 0]))
    with pytest.raises(ValueError, match="ignore_index must be"):
        cross_entropy(logits, target, ignore_index=1.5)
    with pytest.raises(ValueError, match="reduction must be one of"):
        cross_entropy(logits, target, reduction="avg")


# ------------------------------------------------------------------------------ binary cross-entropy


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_matches_torch_on_extreme_logits(reduction):
    logits = EXTREME.repeat(3)  # (33,)
    target = torch.cat([torch.zeros(11), torch.ones(11), torch.full((11,), 0.3)])
    ours = binary_cross_entropy_with_logits(logits, target, reduction=reduction)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, F.binary_cross_entropy_with_logits(logits, target, reduction=reduction))


def test_bce_matches_torch_on_random_2d_and_integer_targets():
    logits = 5 * torch.randn(8, 3, generator=gen(8))
    target = torch.randint(0, 2, (8, 3), generator=gen(9))
    torch.testing.assert_close(
        binary_cross_entropy_with_logits(logits, target), F.binary_cross_entropy_with_logits(logits, target.float())
    )


def test_bce_gradient_is_sigmoid_minus_target_even_at_zero():
    logits = torch.cat([EXTREME, torch.zeros(1)]).requires_grad_()
    target = torch.rand(12, generator=gen(10))
    binary_cross_entropy_with_logits(logits, target, reduction="sum").backward()
    torch.testing.assert_close(logits.grad, torch.sigmoid(logits.detach()) - target)


def test_bce_gradcheck_float64():
    logits = torch.randn(6, dtype=torch.float64, generator=gen(11), requires_grad=True)
    target = torch.tensor([0.0, 1.0, 0.5, 1.0, 0.0, 0.2], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda z: binary_cross_entropy_with_logits(z, target), (logits,))


def test_bce_checks():
    logits = torch.zeros(4)
    with pytest.raises(ValueError, match="logits must be a floating-point"):
        binary_cross_entropy_with_logits(torch.zeros(4, dtype=torch.long), torch.zeros(4))
    with pytest.raises(ValueError, match="target must be a tensor"):
        binary_cross_entropy_with_logits(logits, [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"target must have the shape of logits \(4,\)"):
        binary_cross_entropy_with_logits(logits, torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"target must hold values in \[0, 1\]"):
        binary_cross_entropy_with_logits(logits, torch.tensor([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match=r"target must hold values in \[0, 1\]"):
        binary_cross_entropy_with_logits(logits, torch.tensor([0.0, math.nan, 1.0, 0.0]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        binary_cross_entropy_with_logits(logits, torch.zeros(4), reduction=None)


# ------------------------------------------------------------------------------ weighting


LOSSES = {"image": torch.tensor(2.0), "tone": torch.tensor(0.5), "fused": torch.tensor(1.0)}


def test_weighted_sum_and_module():
    weights = {"image": 0.5, "tone": 2, "fused": 1.0}
    assert weighted_sum(LOSSES, weights).item() == pytest.approx(0.5 * 2 + 2 * 0.5 + 1)
    module = WeightedLoss(weights)
    assert module(LOSSES).item() == pytest.approx(3.0)
    assert "image=0.5" in repr(module)
    assert weighted_sum(LOSSES, {"image": torch.tensor(1.0), "tone": 0, "fused": 0}).item() == 2.0


def test_weighted_sum_checks():
    with pytest.raises(ValueError, match="weights must be a non-empty dict"):
        weighted_sum(LOSSES, {})
    with pytest.raises(ValueError, match=r"weights\['tone'\] must be a finite number >= 0"):
        weighted_sum(LOSSES, {"image": 1, "tone": -1, "fused": 1})
    with pytest.raises(ValueError, match=r"weights\['tone'\]"):
        weighted_sum(LOSSES, {"image": 1, "tone": math.nan, "fused": 1})
    with pytest.raises(ValueError, match=r"missing \['text'\], unexpected \[\]"):
        weighted_sum(LOSSES, {"image": 1, "tone": 1, "fused": 1, "text": 1})
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['fused'\]"):
        WeightedLoss({"image": 1, "tone": 1})(LOSSES)
    with pytest.raises(ValueError, match=r"losses\['image'\] must be a 0-d tensor"):
        weighted_sum({**LOSSES, "image": torch.ones(3)}, {"image": 1, "tone": 1, "fused": 1})
    with pytest.raises(ValueError, match="losses must be a dict"):
        weighted_sum([1.0], {"image": 1})


def test_uncertainty_weighting_formula_and_weights():
    uw = UncertaintyWeighting(["image", "tone", "fused"], init_log_var=math.log(2.0))
    assert uw.log_vars.shape == (3,) and uw.log_vars.requires_grad
    total = uw(LOSSES)
    expected = sum(v.item() / (2 * 2.0) + 0.5 * math.log(2.0) for v in LOSSES.values())
    assert total.item() == pytest.approx(expected)
    assert uw.variances == pytest.approx({"image": 2.0, "tone": 2.0, "fused": 2.0})
    assert uw.weights == pytest.approx({"image": 0.25, "tone": 0.25, "fused": 0.25})


def test_uncertainty_weighting_learns_sigma2_equal_to_the_losses():
    uw = UncertaintyWeighting(["image", "tone", "fused"])
    opt = torch.optim.SGD(uw.parameters(), lr=1.0)
    for _ in range(100):
        opt.zero_grad()
        uw(LOSSES).backward()
        opt.step()
    assert uw.variances == pytest.approx({k: v.item() for k, v in LOSSES.items()}, rel=1e-2)


def test_uncertainty_weighting_checks():
    with pytest.raises(ValueError, match="names must be a non-empty list"):
        UncertaintyWeighting("image")
    with pytest.raises(ValueError, match="names must be a non-empty list"):
        UncertaintyWeighting([])
    with pytest.raises(ValueError, match="names must be distinct"):
        UncertaintyWeighting(["a", "a"])
    with pytest.raises(ValueError, match="init_log_var must be a finite number"):
        UncertaintyWeighting(["a"], init_log_var=math.inf)
    uw = UncertaintyWeighting(["image", "tone"])
    with pytest.raises(ValueError, match=r"missing \['tone'\], unexpected \['fused'\]"):
        uw({"image": torch.tensor(1.0), "fused": torch.tensor(1.0)})
