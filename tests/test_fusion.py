"""Tests for mmtutorial.fusion: ConcatFusion (early/joint) and LateFusion (chapter *Core concepts*)."""

import pytest
import torch
from torch import nn

from mmtutorial.fusion import ConcatFusion, LateFusion

B = 5


def features(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, 3, generator=g), torch.randn(B, 4, generator=g)  # (B, 3), (B, 4)


def interaction_contrast(f, x1, x1b, x2, x2b):
    """f(x1, x2) - f(x1', x2) - f(x1, x2') + f(x1', x2'): zero for every additive f."""
    return f(x1, x2) - f(x1b, x2) - f(x1, x2b) + f(x1b, x2b)


# ----- ConcatFusion --------------------------------------------------------------------------
def test_concat_fusion_shape_and_equals_mlp_on_concatenation():
    torch.manual_seed(0)
    fusion = ConcatFusion((3, 4), out_dim=2, hidden_dim=8)
    x1, x2 = features()
    out = fusion(x1, x2)
    assert out.shape == (B, 2)
    lin1, lin2 = fusion.net[0], fusion.net[3]
    expected = lin2(torch.relu(lin1(torch.cat([x1, x2], dim=1))))
    torch.testing.assert_close(out, expected)


def test_concat_fusion_single_modality_and_three_modalities():
    torch.manual_seed(0)
    assert ConcatFusion((3,), 2)(torch.randn(B, 3)).shape == (B, 2)
    assert ConcatFusion((3, 4, 5), 6)(torch.randn(B, 3), torch.randn(B, 4), torch.randn(B, 5)).shape == (B, 6)


def test_linear_concat_fusion_is_additive_but_hidden_layer_is_not():
    torch.manual_seed(0)
    x1, x2 = features(0)
    x1b, x2b = features(1)
    linear = ConcatFusion((3, 4), 2, hidden_dim=None)
    assert isinstance(linear.net, nn.Linear)
    torch.testing.assert_close(interaction_contrast(linear, x1, x1b, x2, x2b), torch.zeros(B, 2),
                               atol=1e-5, rtol=0)
    mlp = ConcatFusion((3, 4), 2, hidden_dim=32)
    assert interaction_contrast(mlp, x1, x1b, x2, x2b).abs().max() > 1e-3


def test_concat_fusion_can_compute_xor():
    a = torch.tensor([0.0, 0.0, 1.0, 1.0])[:, None]
    b = torch.tensor([0.0, 1.0, 0.0, 1.0])[:, None]
    fusion = ConcatFusion((1, 1), 1, hidden_dim=2)
    with torch.no_grad():
        fusion.net[0].weight.copy_(torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
        fusion.net[0].bias.copy_(torch.tensor([0.0, -1.0]))
        fusion.net[3].weight.copy_(torch.tensor([[1.0, -2.0]]))
        fusion.net[3].bias.fill_(-0.5)
    z = fusion(a, b).squeeze(1)
    assert torch.equal((z > 0).float(), torch.tensor([0.0, 1.0, 1.0, 0.0]))


def test_concat_fusion_dropout_only_in_training():
    torch.manual_seed(0)
    fusion = ConcatFusion((3, 4), 2, hidden_dim=16, dropout=0.5)
    x1, x2 = features()
    fusion.eval()
    torch.testing.assert_close(fusion(x1, x2), fusion(x1, x2))
    fusion.train()
    assert not torch.equal(fusion(x1, x2), fusion(x1, x2))


def test_concat_fusion_rejects_a_non_sequence_of_in_dims():
    with pytest.raises(TypeError, match="in_dims must be a sequence of ints"):
        ConcatFusion(in_dims=3, out_dim=2)


def test_concat_fusion_rejects_empty_in_dims():
    with pytest.raises(ValueError, match="in_dims must name at least one modality"):
        ConcatFusion(in_dims=(), out_dim=2)


def test_concat_fusion_rejects_non_int_sizes():
    with pytest.raises(TypeError, match=r"in_dims\[1\] must be an int, got 2.0"):
        ConcatFusion(in_dims=(3, 2.0), out_dim=2)


def test_concat_fusion_rejects_zero_sizes():
    with pytest.raises(ValueError, match="hidden_dim must be an int >= 1, got 0"):
        ConcatFusion(in_dims=(3,), out_dim=2, hidden_dim=0)


def test_concat_fusion_rejects_dropout_of_one():
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1.0"):
        ConcatFusion(in_dims=(3,), out_dim=2, dropout=1.0)


def test_concat_fusion_rejects_nan_dropout():
    with pytest.raises(ValueError, match="dropout must be a finite number"):
        ConcatFusion(in_dims=(3,), out_dim=2, dropout=float("nan"))


def test_concat_fusion_rejects_dropout_without_a_hidden_layer():
    with pytest.raises(ValueError, match="dropout needs a hidden layer"):
        ConcatFusion(in_dims=(3,), out_dim=2, hidden_dim=None, dropout=0.5)


def test_concat_fusion_rejects_the_wrong_number_of_features():
    with pytest.raises(ValueError, match="features must be 2 tensors"):
        ConcatFusion((3, 4), 2)(features()[0])


def test_concat_fusion_rejects_swapped_modalities():
    # (B, 4) then (B, 3) has the right total width: only the per-modality check catches it
    x1, x2 = features()
    with pytest.raises(ValueError, match=r"features\[0\] must have shape \(B, 3\), got \(5, 4\)"):
        ConcatFusion((3, 4), 2)(x2, x1)


def test_concat_fusion_rejects_features_that_are_not_2d():
    with pytest.raises(ValueError, match=r"features\[0\] must be a tensor of shape \(B, 3\)"):
        ConcatFusion((3, 4), 2)(torch.randn(B, 2, 3), features()[1])


def test_concat_fusion_rejects_non_tensor_features():
    with pytest.raises(TypeError, match=r"features\[1\] must be a tensor"):
        ConcatFusion((3, 4), 2)(features()[0], [[0.0] * 4])


def test_concat_fusion_leaves_unequal_batch_sizes_to_torch():
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        ConcatFusion((3, 4), 2)(features()[0], torch.randn(B + 1, 4))


# ----- LateFusion ----------------------------------------------------------------------------
def branches(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(3, 2), nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def test_late_fusion_averages_branch_logits():
    f1, f2 = branches()
    x1, x2 = features()
    late = LateFusion([f1, f2])
    torch.testing.assert_close(late(x1, x2), (f1(x1) + f2(x2)) / 2)
    weighted = LateFusion([f1, f2], weights=[3, 1])
    torch.testing.assert_close(weighted(x1, x2), 0.75 * f1(x1) + 0.25 * f2(x2))
    torch.testing.assert_close(LateFusion([f1, f2], weights=[1, 0])(x1, x2), f1(x1))


def test_late_fusion_is_additive():
    late = LateFusion(list(branches()))
    x1, x2 = features(0)
    x1b, x2b = features(1)
    torch.testing.assert_close(interaction_contrast(late, x1, x1b, x2, x2b), torch.zeros(B, 2),
                               atol=1e-5, rtol=0)


def test_late_fusion_weights_follow_the_module_and_train_end_to_end():
    late = LateFusion(list(branches())).double()
    x1, x2 = features()
    out = late(x1.double(), x2.double())
    assert out.dtype == torch.float64
    out.sum().backward()
    assert all(p.grad is not None for p in late.parameters())
    assert "weights" not in late.state_dict()  # derived from the constructor, not a parameter


def test_late_fusion_accepts_a_module_list_and_huge_or_tiny_weights():
    f1, f2 = branches()
    x1, x2 = features()
    torch.testing.assert_close(LateFusion(nn.ModuleList([f1, f2]))(x1, x2), (f1(x1) + f2(x2)) / 2)
    for scale in (1e300, 1e-300):  # their sum overflows, or their float32 values underflow
        late = LateFusion([f1, f2], weights=[3 * scale, scale])
        torch.testing.assert_close(late.weights, torch.tensor([0.75, 0.25]))


def test_late_fusion_rejects_a_single_module():
    f1, _ = branches()
    with pytest.raises(TypeError, match="branches must be a list of nn.Module"):
        LateFusion(f1)


def test_late_fusion_rejects_no_branches():
    with pytest.raises(ValueError, match="branches must hold at least one nn.Module"):
        LateFusion([])


def test_late_fusion_rejects_a_branch_that_is_not_a_module():
    f1, _ = branches()
    with pytest.raises(TypeError, match=r"branches\[1\] must be an nn.Module, got function"):
        LateFusion([f1, lambda x: x])


def test_late_fusion_rejects_one_weight_per_branch_missing():
    with pytest.raises(ValueError, match=r"weights must have one entry per branch \(2\), got 1"):
        LateFusion(list(branches()), weights=[1])


def test_late_fusion_rejects_a_string_of_weights():
    with pytest.raises(TypeError, match="weights must be a sequence of 2 numbers"):
        LateFusion(list(branches()), weights="ab")


def test_late_fusion_rejects_negative_weights():
    with pytest.raises(ValueError, match=r"weights\[1\] must be a finite number >= 0, got -1.0"):
        LateFusion(list(branches()), weights=[1, -1])


def test_late_fusion_rejects_nan_weights():
    with pytest.raises(ValueError, match=r"weights\[1\] must be a finite number"):
        LateFusion(list(branches()), weights=[1, float("nan")])


def test_late_fusion_rejects_bool_weights():
    with pytest.raises(TypeError, match=r"weights\[0\] must be a number, got True"):
        LateFusion(list(branches()), weights=[True, 1])


def test_late_fusion_rejects_all_zero_weights():
    with pytest.raises(ValueError, match="weights must not all be 0"):
        LateFusion(list(branches()), weights=[0, 0])


def test_late_fusion_rejects_the_wrong_number_of_inputs():
    with pytest.raises(ValueError, match="inputs must be 2"):
        LateFusion(list(branches()))(features()[0])


def test_late_fusion_rejects_integer_branch_outputs():
    # predicted classes instead of logits: the weights cast to int would be 0, the output 0
    class Argmax(nn.Module):
        def forward(self, x):
            return x.argmax(dim=1)

    with pytest.raises(TypeError, match="the branches' outputs must be a floating-point tensor"):
        LateFusion([Argmax(), Argmax()])(*features())


def test_late_fusion_leaves_outputs_of_different_shapes_to_torch():
    f1, _ = branches()
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        LateFusion([f1, nn.Linear(4, 3)])(*features())
