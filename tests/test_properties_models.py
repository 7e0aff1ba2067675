"""Property-based tests (hypothesis) for the validation policy of losses, fusion, optim, plot
and widgets: every non-finite float setting raises ValueError, every wrong type TypeError,
every out-of-range target or mismatched shape ValueError; and on valid inputs the losses agree
with PyTorch and the schedule stays in its range. Tensors are tiny and every test is
derandomized with few examples, so the file runs in seconds."""

import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402

from mmtutorial.fusion import ConcatFusion, LateFusion  # noqa: E402
from mmtutorial.losses import (  # noqa: E402
    UncertaintyWeighting,
    WeightedLoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_sum_exp,
    weighted_sum,
)
from mmtutorial.optim import WarmupCosine, warmup_cosine_factor  # noqa: E402
from mmtutorial.plot import show_images  # noqa: E402
from mmtutorial.widgets import sweep_explorer, sweep_figure  # noqa: E402

FEW = settings(derandomize=True, max_examples=30, deadline=None)

# Every kind of non-finite float (NaN of either sign, +inf, -inf); the cases are generated around them.
non_finite = st.sampled_from([math.nan, -math.nan, math.inf, -math.inf])
finite_weights = st.lists(st.floats(0.0, 10.0), min_size=1, max_size=3)
# Not a number, for a knob that takes a number (int or float); bools and tensors are not numbers either.
not_a_number = st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.complex_numbers(),
                         st.just(torch.tensor([1.0, 2.0])), st.just([1.0]))
# Not an int, for a knob that takes an int; floats are not ints, even 2.0.
not_an_int = st.one_of(not_a_number, st.floats(allow_nan=False))


def with_bad(values, bad, position):
    """``values`` with ``bad`` inserted at ``position`` (modulo the length)."""
    values = list(values)
    values.insert(position % (len(values) + 1), bad)
    return values


# ------------------------------------------------------------------ non-finite settings

# Each knob: a function that builds the object or calls the function with one float setting.
FLOAT_KNOBS = {
    "WeightedLoss weight": lambda v: WeightedLoss({"image": 1.0, "tone": v}),
    "weighted_sum weight": lambda v: weighted_sum({"a": torch.tensor(1.0)}, {"a": v}),
    "init_log_var": lambda v: UncertaintyWeighting(["image", "tone"], init_log_var=v),
    "min_lr_ratio (factor)": lambda v: warmup_cosine_factor(3, 2, 10, min_lr_ratio=v),
    "min_lr_ratio (WarmupCosine)": lambda v: WarmupCosine(2, 10, min_lr_ratio=v),
    "dropout": lambda v: ConcatFusion((2, 3), 1, dropout=v),
    "LateFusion weight": lambda v: LateFusion([nn.Linear(2, 1), nn.Linear(2, 1)], weights=[1.0, v]),
    "sweep grid value": lambda v: sweep_figure({"alpha": [0.0, v]}, {"m": [1.0, 2.0]}, {"alpha": 0.0}),
    "sweep point value": lambda v: sweep_figure({"alpha": [0.0, 1.0]}, {"m": [1.0, 2.0]}, {"alpha": v}),
}


@FEW
@given(knob=st.sampled_from(sorted(FLOAT_KNOBS)), value=non_finite)
def test_non_finite_float_settings_raise_value_error(knob, value):
    with pytest.raises(ValueError, match="must be a finite number"):
        FLOAT_KNOBS[knob](value)


@FEW
@given(weights=finite_weights, bad=non_finite, position=st.integers(0, 3), as_tensor=st.booleans())
def test_a_non_finite_loss_weight_anywhere_raises(weights, bad, position, as_tensor):
    weights = with_bad(weights, torch.tensor(bad) if as_tensor else bad, position)
    names = [f"task{i}" for i in range(len(weights))]
    with pytest.raises(ValueError, match=r"weights\['task\d'\] must be a finite number"):
        WeightedLoss(dict(zip(names, weights)))


@FEW
@given(weights=finite_weights, bad=non_finite, position=st.integers(0, 3))
def test_a_non_finite_late_fusion_weight_anywhere_raises(weights, bad, position):
    weights = with_bad(weights, bad, position)
    with pytest.raises(ValueError, match=r"weights\[\d\] must be a finite number"):
        LateFusion([nn.Identity() for _ in weights], weights=weights)


@FEW
@given(values=st.lists(st.floats(-10, 10), min_size=1, max_size=3, unique=True), bad=non_finite,
       position=st.integers(0, 3))
def test_a_non_finite_grid_value_anywhere_raises(values, bad, position):
    values = with_bad(values, bad, position)
    with pytest.raises(ValueError, match=r"grid\['alpha'\]\[\d\] must be a finite number"):
        sweep_explorer({"alpha": values}, {"m": [0.0] * len(values)})


@FEW
@given(value=st.one_of(st.floats(max_value=-88.0, exclude_max=True), st.floats(min_value=88.0, exclude_min=True)))
def test_an_init_log_var_whose_exp_would_overflow_raises(value):
    with pytest.raises(ValueError, match="init_log_var must be a"):
        UncertaintyWeighting(["a"], init_log_var=value)


@FEW
@given(value=st.one_of(st.floats(max_value=0.0, exclude_max=True), st.floats(min_value=1.0)))
def test_dropout_outside_0_1_raises(value):
    with pytest.raises(ValueError, match="dropout must be a"):
        ConcatFusion((2,), 1, dropout=value)


# ------------------------------------------------------------------ out-of-range targets


@st.composite
def class_targets(draw):
    """Logits (B, C), valid targets, an ignore_index or None, and one out-of-range class."""
    n_classes, batch = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    target = draw(st.lists(st.integers(0, n_classes - 1), min_size=batch, max_size=batch))
    ignore_index = draw(st.one_of(st.none(), st.just(-100)))
    bad = draw(st.one_of(st.integers(-(2**63), -1), st.integers(n_classes, 2**63 - 1)).filter(
        lambda v: v != ignore_index))
    return n_classes, target, ignore_index, bad


@FEW
@given(case=class_targets(), position=st.integers(0, 4))
def test_cross_entropy_out_of_range_classes_raise(case, position):
    n_classes, target, ignore_index, bad = case
    target = torch.tensor(with_bad(target, bad, position))
    with pytest.raises(ValueError, match=rf"target must hold class indices in \[0, {n_classes - 1}\]"):
        cross_entropy(torch.zeros(len(target), n_classes), target, ignore_index=ignore_index)


@FEW
@given(target=st.lists(st.floats(0.0, 1.0), min_size=0, max_size=4), position=st.integers(0, 4),
       bad=st.one_of(st.floats(max_value=-1e-6), st.floats(min_value=1 + 1e-6), st.just(math.nan)))
def test_bce_targets_outside_0_1_raise(target, position, bad):
    target = torch.tensor(with_bad(target, bad, position))
    with pytest.raises(ValueError, match=r"target must hold values in \[0, 1\]"):
        binary_cross_entropy_with_logits(torch.zeros(len(target)), target)


# ------------------------------------------------------------------ mismatched shapes

shapes = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)


@FEW
@given(logits_shape=shapes, target_shape=st.lists(st.integers(0, 3), max_size=3).map(tuple))
def test_cross_entropy_mismatched_target_shape_raises(logits_shape, target_shape):
    if target_shape == logits_shape[:-1]:
        target_shape = (*target_shape, 1)
    with pytest.raises(ValueError, match="target must have shape"):
        cross_entropy(torch.zeros(logits_shape), torch.zeros(target_shape, dtype=torch.long))


@FEW
@given(logits_shape=shapes, target_shape=shapes)
def test_bce_mismatched_target_shape_raises(logits_shape, target_shape):
    if target_shape == logits_shape:
        target_shape = (*target_shape, 1)
    with pytest.raises(ValueError, match="target must have the shape of logits"):
        binary_cross_entropy_with_logits(torch.zeros(logits_shape), torch.zeros(target_shape))


@FEW
@given(in_dims=st.lists(st.integers(1, 4), min_size=1, max_size=3), widths=st.lists(st.integers(1, 4), max_size=3),
       batch=st.integers(0, 3))
def test_concat_fusion_mismatched_feature_widths_raise(in_dims, widths, batch):
    widths = (widths + in_dims)[: len(in_dims)]
    if widths == in_dims:
        widths[0] += 1
    fusion = ConcatFusion(in_dims, 2, hidden_dim=4)
    with pytest.raises(ValueError, match=r"features\[\d\] must have shape \(B, \d\)"):
        fusion(*(torch.zeros(batch, w) for w in widths))


@FEW
@given(rows=st.integers(1, 3), cols=st.integers(1, 3), shape=st.lists(st.integers(1, 4), min_size=1, max_size=2))
def test_sweep_results_of_the_wrong_shape_raise(rows, cols, shape):
    if tuple(shape) == (rows, cols):
        shape.append(1)
    grid = {"alpha": list(range(rows)), "beta": list(range(cols))}
    with pytest.raises(ValueError, match=r"results\['m'\] must have shape"):
        sweep_figure(grid, {"m": torch.zeros(shape).numpy()}, {"alpha": 0, "beta": 0})


@FEW
@given(n=st.integers(1, 3), n_captions=st.integers(0, 4))
def test_show_images_with_one_caption_per_image_missing_raises(n, n_captions):
    if n_captions == n:
        n_captions += 1
    with pytest.raises(ValueError, match="must have the same length"):
        show_images(torch.zeros(n, 2, 2), captions=["c"] * n_captions)


# ------------------------------------------------------------------ wrong types

INT_KNOBS = {
    "ConcatFusion out_dim": lambda v: ConcatFusion((2,), v),
    "ConcatFusion hidden_dim": lambda v: ConcatFusion((2,), 1, hidden_dim=v),
    "ConcatFusion in_dims entry": lambda v: ConcatFusion((2, v), 1),
    "warmup_cosine_factor step": lambda v: warmup_cosine_factor(v, 2, 10),
    "WarmupCosine total_steps": lambda v: WarmupCosine(0, v),
    "WarmupCosine warmup_steps": lambda v: WarmupCosine(v, 10),
    "log_sum_exp dim": lambda v: log_sum_exp(torch.zeros(2, 2), dim=v),
    "cross_entropy ignore_index": lambda v: cross_entropy(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long),
                                                          ignore_index=v),
    "show_images ncols": lambda v: show_images(torch.zeros(1, 2, 2), ncols=v),
}
NONE_IS_VALID = {"ConcatFusion hidden_dim", "cross_entropy ignore_index"}
NUMBER_KNOBS = {
    "WeightedLoss weight": FLOAT_KNOBS["WeightedLoss weight"],
    "init_log_var": FLOAT_KNOBS["init_log_var"],
    "min_lr_ratio": FLOAT_KNOBS["min_lr_ratio (factor)"],
    "dropout": FLOAT_KNOBS["dropout"],
    "LateFusion weight": FLOAT_KNOBS["LateFusion weight"],
    "sweep grid value": FLOAT_KNOBS["sweep grid value"],
}


@FEW
@given(knob=st.sampled_from(sorted(INT_KNOBS)), value=not_an_int)
def test_a_non_int_for_an_int_setting_raises_type_error(knob, value):
    assume(not (value is None and knob in NONE_IS_VALID))
    with pytest.raises(TypeError, match="must be an int"):
        INT_KNOBS[knob](value)


@FEW
@given(knob=st.sampled_from(sorted(NUMBER_KNOBS)), value=not_a_number)
def test_a_non_number_for_a_float_setting_raises_type_error(knob, value):
    with pytest.raises(TypeError, match="must be a number"):
        NUMBER_KNOBS[knob](value)


@FEW
@given(dtype=st.sampled_from([torch.float16, torch.float32, torch.float64, torch.bool]), batch=st.integers(0, 3))
def test_cross_entropy_targets_that_are_not_integers_raise_type_error(dtype, batch):
    with pytest.raises(TypeError, match="target must be an integer tensor"):
        cross_entropy(torch.zeros(batch, 3), torch.zeros(batch, dtype=dtype))


@FEW
@given(dtype=st.sampled_from([torch.int8, torch.uint8, torch.int32, torch.int64, torch.bool]))
def test_losses_of_integer_logits_raise_type_error(dtype):
    logits = torch.zeros(2, 3, dtype=dtype)
    with pytest.raises(TypeError, match="logits must be a floating-point tensor"):
        cross_entropy(logits, torch.zeros(2, dtype=torch.long))
    with pytest.raises(TypeError, match="logits must be a floating-point tensor"):
        binary_cross_entropy_with_logits(logits, torch.zeros(2, 3))
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        log_sum_exp(logits)


# ------------------------------------------------------------------ positive properties


@st.composite
def float_matrices(draw, bound, dtype=torch.float32, width=32):
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    values = draw(st.lists(st.floats(-bound, bound, width=width), min_size=rows * cols, max_size=rows * cols))
    return torch.tensor(values, dtype=dtype).reshape(rows, cols)


@FEW
@given(x=float_matrices(bound=2.0**100), dim=st.sampled_from([0, 1, -1]), keepdim=st.booleans())
def test_log_sum_exp_equals_torch_logsumexp_even_for_huge_magnitudes(x, dim, keepdim):
    torch.testing.assert_close(log_sum_exp(x, dim, keepdim), torch.logsumexp(x, dim, keepdim))


@st.composite
def logits_and_classes(draw):
    logits = draw(float_matrices(bound=100.0, dtype=torch.float64, width=64))
    target = draw(st.lists(st.integers(0, logits.shape[1] - 1), min_size=len(logits), max_size=len(logits)))
    return logits, torch.tensor(target)


# float64 and |z| <= 100: the loss is log_sum_exp(z) - z_y, whose rounding is that of the largest
# logit; F.cross_entropy rounds differently, so near-ties of huge float32 logits differ in the last
# bits of the (large) logits, not in the loss a reader sees.
@FEW
@given(case=logits_and_classes(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_equals_torch(case, reduction):
    logits, target = case
    torch.testing.assert_close(cross_entropy(logits, target, reduction=reduction),
                               F.cross_entropy(logits, target, reduction=reduction))


@FEW
@given(logits=float_matrices(bound=100.0, dtype=torch.float64, width=64), data=st.data())
def test_bce_equals_torch(logits, data):
    target = torch.tensor(data.draw(st.lists(st.floats(0.0, 1.0), min_size=logits.numel(),
                                             max_size=logits.numel())), dtype=torch.float64)
    target = target.reshape(logits.shape)
    torch.testing.assert_close(binary_cross_entropy_with_logits(logits, target),
                               F.binary_cross_entropy_with_logits(logits, target))


@FEW
@given(total=st.integers(1, 10**6), data=st.data())
def test_warmup_cosine_factor_stays_in_its_range(total, data):
    warmup = data.draw(st.integers(0, total))
    ratio = data.draw(st.floats(0.0, 1.0))
    step = data.draw(st.integers(1, 2 * total))
    factor = warmup_cosine_factor(step, warmup, total, ratio)
    if step <= warmup:
        assert 0.0 < factor <= 1.0  # the warmup starts above 0 and may pass below min_lr_ratio
    else:
        assert ratio <= factor <= 1.0


@FEW
@given(weights=st.lists(st.floats(0.0, 1e308), min_size=1, max_size=4).filter(any))
def test_late_fusion_weights_are_normalized_for_any_magnitude(weights):
    w = LateFusion([nn.Identity() for _ in weights], weights=weights).weights
    assert torch.isfinite(w).all() and (w >= 0).all()
    assert w.sum().item() == pytest.approx(1.0)


@FEW
@given(init_log_var=st.floats(-88.0, 88.0), loss=st.floats(0.0, 1.0))
def test_uncertainty_weighting_is_finite_over_its_whole_init_range(init_log_var, loss):
    uw = UncertaintyWeighting(["a"], init_log_var=init_log_var)
    assert torch.isfinite(uw({"a": torch.tensor(loss)}))
    assert 0 < uw.variances["a"] < math.inf and 0 < uw.weights["a"] < math.inf
