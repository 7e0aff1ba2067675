"""Tests for mmtutorial.losses: agreement with PyTorch (extreme logits included), gradients,
multi-task weighting and the input checks (one case per rule; tests/test_properties_models.py
generates more)."""

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


def test_log_sum_exp_propagates_nan_like_torch():
    x = torch.tensor([[0.0, math.nan], [1.0, 2.0]])
    out = log_sum_exp(x)
    assert math.isnan(out[0]) and out[1] == torch.logsumexp(x[1], 0)


def test_log_sum_exp_rejects_integer_tensors():
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        log_sum_exp(torch.tensor([1, 2]))


def test_log_sum_exp_rejects_a_0d_tensor():
    with pytest.raises(ValueError, match="x must have at least one dimension"):
        log_sum_exp(torch.tensor(1.0))


def test_log_sum_exp_rejects_a_non_int_dim():
    with pytest.raises(TypeError, match="dim must be an int"):
        log_sum_exp(torch.zeros(2, 3), dim=1.0)


def test_log_sum_exp_rejects_an_out_of_range_dim():
    with pytest.raises(ValueError, match=r"dim must be an int >= -2 and <= 1, got 2"):
        log_sum_exp(torch.zeros(2, 3), dim=2)


def test_log_sum_exp_rejects_an_empty_dim():
    with pytest.raises(ValueError, match="at least one element along dim=-1"):
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


def test_cross_entropy_accepts_int32_and_uint8_targets():
    logits = torch.randn(4, 3, generator=gen(12))
    target = torch.tensor([0, 1, 2, 0])
    for dtype in (torch.int32, torch.uint8):
        torch.testing.assert_close(cross_entropy(logits, target.to(dtype)), F.cross_entropy(logits, target))


def test_cross_entropy_empty_batch_sums_to_zero_and_every_target_ignored_is_nan_like_torch():
    assert cross_entropy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), reduction="sum").item() == 0.0
    assert cross_entropy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), reduction="none").shape == (0,)
    logits, target = torch.zeros(2, 3), torch.full((2,), -100)
    assert math.isnan(cross_entropy(logits, target, ignore_index=-100))
    assert math.isnan(F.cross_entropy(logits, target, ignore_index=-100))


LOGITS, TARGET = torch.zeros(4, 3), torch.tensor([0, 1, 2, 0])


def test_cross_entropy_rejects_integer_logits():
    with pytest.raises(TypeError, match="logits must be a floating-point tensor"):
        cross_entropy(LOGITS.long(), TARGET)


def test_cross_entropy_rejects_logits_without_classes():
    with pytest.raises(ValueError, match=r"logits must have shape \(\.\.\., C\) with C >= 1"):
        cross_entropy(torch.zeros(4, 0), TARGET)


def test_cross_entropy_rejects_float_targets():
    with pytest.raises(TypeError, match="target must be an integer tensor"):
        cross_entropy(LOGITS, TARGET.float())


def test_cross_entropy_rejects_a_mismatched_target_shape():
    with pytest.raises(ValueError, match=r"target must have shape \(4,\) to match logits \(4, 3\), got \(3,\)"):
        cross_entropy(LOGITS, TARGET[:3])


def test_cross_entropy_rejects_out_of_range_classes():
    # the message the chapter shows, word for word
    with pytest.raises(ValueError, match=r"^target must hold class indices in \[0, 2\], got values in \[0, 5\]$"):
        cross_entropy(torch.randn(2, 3), torch.tensor([0, 5]))


def test_cross_entropy_rejects_out_of_range_classes_beside_ignored_ones():
    with pytest.raises(ValueError, match=r"in \[0, 2\] or ignore_index=-100, got values in \[-1, 1\]"):
        cross_entropy(LOGITS, torch.tensor([0, -100, -1, 1]), ignore_index=-100)


def test_cross_entropy_rejects_a_non_int_ignore_index():
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        cross_entropy(LOGITS, TARGET, ignore_index=1.5)


def test_cross_entropy_rejects_an_unknown_reduction():
    with pytest.raises(ValueError, match="reduction must be one of"):
        cross_entropy(LOGITS, TARGET, reduction="avg")


def test_cross_entropy_rejects_the_mean_of_an_empty_batch():
    with pytest.raises(ValueError, match="target must not be empty with reduction='mean'"):
        cross_entropy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))


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


def test_bce_accepts_bool_targets():
    logits, target = torch.randn(5, generator=gen(13)), torch.tensor([True, False, True, True, False])
    torch.testing.assert_close(binary_cross_entropy_with_logits(logits, target),
                               F.binary_cross_entropy_with_logits(logits, target.float()))


def test_bce_rejects_a_non_tensor_target():
    with pytest.raises(TypeError, match="target must be a tensor"):
        binary_cross_entropy_with_logits(torch.zeros(4), [0, 1, 0, 1])


def test_bce_rejects_a_target_that_would_broadcast():
    with pytest.raises(ValueError, match=r"target must have the shape of logits \(4,\), got \(4, 1\)"):
        binary_cross_entropy_with_logits(torch.zeros(4), torch.zeros(4, 1))


def test_bce_rejects_targets_outside_0_1():
    with pytest.raises(ValueError, match=r"target must hold values in \[0, 1\], got values in \[0.0, 2.0\]"):
        binary_cross_entropy_with_logits(torch.zeros(4), torch.tensor([0.0, 1.0, 2.0, 0.0]))


def test_bce_rejects_nan_targets():
    with pytest.raises(ValueError, match=r"target must hold values in \[0, 1\]"):
        binary_cross_entropy_with_logits(torch.zeros(4), torch.tensor([0.0, math.nan, 1.0, 0.0]))


def test_bce_rejects_an_unknown_reduction():
    with pytest.raises(ValueError, match="reduction must be one of"):
        binary_cross_entropy_with_logits(torch.zeros(4), torch.zeros(4), reduction=None)


# ------------------------------------------------------------------------------ weighting


LOSSES = {"image": torch.tensor(2.0), "tone": torch.tensor(0.5), "fused": torch.tensor(1.0)}


def test_weighted_sum_and_module():
    weights = {"image": 0.5, "tone": 2, "fused": 1.0}
    assert weighted_sum(LOSSES, weights).item() == pytest.approx(0.5 * 2 + 2 * 0.5 + 1)
    module = WeightedLoss(weights)
    assert module(LOSSES).item() == pytest.approx(3.0)
    assert "image=0.5" in repr(module)
    assert weighted_sum(LOSSES, {"image": torch.tensor(1.0), "tone": 0, "fused": 0}).item() == 2.0


ONES = {"image": 1, "tone": 1, "fused": 1}


def test_weighted_sum_rejects_empty_weights():
    with pytest.raises(ValueError, match="weights must name at least one loss"):
        weighted_sum(LOSSES, {})


def test_weighted_sum_rejects_a_non_dict_of_weights():
    with pytest.raises(TypeError, match="weights must be a dict"):
        weighted_sum(LOSSES, [1, 1, 1])


def test_weighted_sum_rejects_negative_weights():
    with pytest.raises(ValueError, match=r"weights\['tone'\] must be a finite number >= 0, got -1.0"):
        weighted_sum(LOSSES, {**ONES, "tone": -1})


def test_weighted_sum_rejects_infinite_weights():
    with pytest.raises(ValueError, match=r"weights\['tone'\] must be a finite number"):
        WeightedLoss({**ONES, "tone": math.inf})


def test_weighted_sum_rejects_non_number_weights():
    with pytest.raises(TypeError, match=r"weights\['tone'\] must be a number, got '1'"):
        weighted_sum(LOSSES, {**ONES, "tone": "1"})


def test_weighted_sum_rejects_all_zero_weights():
    with pytest.raises(ValueError, match="weights must not all be 0"):
        WeightedLoss({"image": 0, "tone": 0.0, "fused": 0})


def test_weighted_sum_rejects_mismatched_keys():
    with pytest.raises(ValueError, match=r"missing \['text'\], unexpected \[\]"):
        weighted_sum(LOSSES, {**ONES, "text": 1})
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['fused'\]"):
        WeightedLoss({"image": 1, "tone": 1})(LOSSES)


def test_weighted_sum_rejects_a_loss_that_is_not_a_scalar():
    with pytest.raises(ValueError, match=r"losses\['image'\] must be a tensor of shape \(\)"):
        weighted_sum({**LOSSES, "image": torch.ones(3)}, ONES)


def test_weighted_sum_rejects_a_non_dict_of_losses():
    with pytest.raises(TypeError, match="losses must be a dict"):
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


def test_uncertainty_weighting_rejects_a_single_string_of_names():
    with pytest.raises(TypeError, match="names must be a list of task names, got str"):
        UncertaintyWeighting("image")


def test_uncertainty_weighting_rejects_non_string_names():
    with pytest.raises(TypeError, match=r"names\[1\] must be a str"):
        UncertaintyWeighting(["image", 2])


def test_uncertainty_weighting_rejects_empty_or_repeated_names():
    with pytest.raises(ValueError, match="names must be one or more distinct non-empty strings"):
        UncertaintyWeighting([])
    with pytest.raises(ValueError, match="names must be one or more distinct non-empty strings"):
        UncertaintyWeighting(["a", "a"])


def test_uncertainty_weighting_rejects_infinite_init_log_var():
    with pytest.raises(ValueError, match="init_log_var must be a finite number"):
        UncertaintyWeighting(["a"], init_log_var=math.inf)


def test_uncertainty_weighting_rejects_an_init_log_var_whose_exp_overflows():
    # exp(100) is inf in float32: the first loss would be inf, the first gradient NaN
    with pytest.raises(ValueError, match="init_log_var must be a finite number >= -88 and <= 88, got -100.0"):
        UncertaintyWeighting(["a"], init_log_var=-100)
    assert UncertaintyWeighting(["a"], init_log_var=80)({"a": torch.tensor(1.0)}).isfinite()


def test_uncertainty_weighting_rejects_mismatched_losses():
    uw = UncertaintyWeighting(["image", "tone"])
    with pytest.raises(ValueError, match=r"missing \['tone'\], unexpected \['fused'\]"):
        uw({"image": torch.tensor(1.0), "fused": torch.tensor(1.0)})
