"""Tests for mmtutorial.fusion: ConcatFusion (early/joint) and LateFusion (Chapter 02)."""

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


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(in_dims=(), out_dim=2), "in_dims"),
        (dict(in_dims=3, out_dim=2), "in_dims"),
        (dict(in_dims="ab", out_dim=2), "in_dims"),
        (dict(in_dims=(3, 0), out_dim=2), r"in_dims\[1\]"),
        (dict(in_dims=(3, 2.0), out_dim=2), r"in_dims\[1\]"),
        (dict(in_dims=(3,), out_dim=0), "out_dim"),
        (dict(in_dims=(3,), out_dim=True), "out_dim"),
        (dict(in_dims=(3,), out_dim=2, hidden_dim=0), "hidden_dim"),
        (dict(in_dims=(3,), out_dim=2, dropout=1.0), "dropout"),
        (dict(in_dims=(3,), out_dim=2, dropout=-0.1), "dropout"),
    ],
)
def test_concat_fusion_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConcatFusion(**kwargs)


def test_concat_fusion_forward_errors():
    fusion = ConcatFusion((3, 4), 2)
    x1, x2 = features()
    with pytest.raises(ValueError, match="features must be 2 tensors"):
        fusion(x1)
    with pytest.raises(ValueError, match=r"features\[1\] must have shape \(B, 4\)"):
        fusion(x1, torch.randn(B, 5))
    with pytest.raises(ValueError, match=r"features\[0\] must have shape \(B, 3\)"):
        fusion(torch.randn(B, 2, 3), x2)
    with pytest.raises(ValueError, match=r"features\[1\] must have shape"):
        fusion(x1, [[0.0] * 4])
    with pytest.raises(ValueError, match="batch size"):
        fusion(x1, torch.randn(B + 1, 4))


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


def test_late_fusion_errors():
    f1, f2 = branches()
    with pytest.raises(ValueError, match="branches must be a non-empty"):
        LateFusion([])
    with pytest.raises(ValueError, match="branches must be a non-empty"):
        LateFusion(f1)
    with pytest.raises(ValueError, match=r"branches\[1\] must be an nn.Module"):
        LateFusion([f1, lambda x: x])
    for bad in ([1], [1, -1], [0, 0], [1, float("nan")], "ab", [True, 1]):
        with pytest.raises(ValueError, match="weights"):
            LateFusion([f1, f2], weights=bad)
    late = LateFusion([f1, f2])
    x1, x2 = features()
    with pytest.raises(ValueError, match="inputs must be 2"):
        late(x1)
    with pytest.raises(ValueError, match=r"branches\[1\] must return a tensor of shape \(5, 2\)"):
        LateFusion([f1, nn.Linear(4, 3)])(x1, x2)
