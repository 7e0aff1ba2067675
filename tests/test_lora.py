"""Low-rank adaptation (mmtutorial.lora), and its parity with the peft library's LoRA."""

import copy

import pytest
import torch
from torch import nn

from mmtutorial.lora import LoRALinear, apply_lora, count_parameters, merge_lora
from gradients import assert_every_parameter_gets_a_gradient


class TwoLayers(nn.Module):
    """A stand-in with named linear layers, like a Transformer block's projections."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.ModuleDict({"q": nn.Linear(8, 8), "v": nn.Linear(8, 8)})
        self.mlp = nn.Linear(8, 6)
        self.norm = nn.LayerNorm(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.attn["q"](self.norm(x)) + self.attn["v"](x))


def test_lora_linear_starts_as_the_base_layer_exactly():
    torch.manual_seed(0)
    base = nn.Linear(8, 5)
    lora = LoRALinear(base, r=2, alpha=4)
    x = torch.randn(3, 7, 8)
    assert torch.equal(lora(x), base(x))
    assert lora.A.shape == (2, 8) and lora.B.shape == (5, 2) and lora.scaling == 2.0
    assert not base.weight.requires_grad and lora.A.requires_grad and lora.B.requires_grad


def test_lora_linear_computes_w_x_plus_scaled_b_a_x():
    torch.manual_seed(0)
    lora = LoRALinear(nn.Linear(8, 5), r=3, alpha=6)
    with torch.no_grad():
        lora.B.normal_()
    x = torch.randn(4, 8)
    expected = x @ lora.base.weight.T + lora.base.bias + 2.0 * x @ lora.A.T @ lora.B.T
    torch.testing.assert_close(lora(x), expected)


def test_gradients_reach_a_and_b_only():
    torch.manual_seed(0)
    lora = LoRALinear(nn.Linear(8, 5), r=2)
    with torch.no_grad():
        lora.B.normal_()  # with B = 0 exactly, A's gradient is zero at the first step
    lora(torch.randn(4, 8)).pow(2).sum().backward()
    trainable = nn.ParameterDict({"A": lora.A, "B": lora.B})
    assert_every_parameter_gets_a_gradient(trainable)
    assert lora.base.weight.grad is None


def test_apply_lora_wraps_matching_layers_and_freezes_the_rest():
    torch.manual_seed(0)
    model = TwoLayers()
    names = apply_lora(model, ["q", "v"], r=2, alpha=4)
    assert names == ["attn.q", "attn.v"]
    assert isinstance(model.attn["q"], LoRALinear) and isinstance(model.mlp, nn.Linear)
    assert count_parameters(model) == 2 * 2 * (8 + 8)
    assert count_parameters(model, trainable=False) == 2 * (8 * 8 + 8) + 8 * 6 + 6 + 16 + 2 * 2 * 16
    assert all(not p.requires_grad for n, p in model.named_parameters() if not n.endswith((".A", ".B")))


def test_merge_lora_gives_plain_linear_layers_with_the_same_outputs():
    torch.manual_seed(0)
    model = TwoLayers()
    apply_lora(model, ["q", "v", "mlp"], r=2)
    for m in model.modules():
        if isinstance(m, LoRALinear):
            nn.init.normal_(m.B)
    x = torch.randn(5, 8)
    before = model(x)
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert type(model.mlp) is nn.Linear
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-5)


def test_input_checks():
    with pytest.raises(TypeError, match="base must be a torch.nn.Linear"):
        LoRALinear(nn.Conv2d(1, 1, 1))
    with pytest.raises(ValueError, match="r must be an int >= 1"):
        LoRALinear(nn.Linear(2, 2), r=0)
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        LoRALinear(nn.Linear(2, 2), alpha=0)
    with pytest.raises(ValueError, match="match no nn.Linear"):
        apply_lora(TwoLayers(), ["query"])
    with pytest.raises(TypeError, match="targets must be a non-empty list"):
        apply_lora(TwoLayers(), "q")
    with pytest.raises(TypeError, match="call its merged"):
        merge_lora(LoRALinear(nn.Linear(2, 2)))


def test_matches_peft_lora_on_the_same_weights():
    # a few seconds, nearly all of it importing peft (which imports transformers)
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    ours = TwoLayers()
    theirs = peft.get_peft_model(copy.deepcopy(ours), peft.LoraConfig(
        r=3, lora_alpha=6, target_modules=["q", "v"], lora_dropout=0.0, bias="none"))
    apply_lora(ours, ["q", "v"], r=3, alpha=6)
    inner = theirs.base_model.model
    for name in ("q", "v"):
        mine, layer = ours.attn[name], inner.attn[name]
        with torch.no_grad():  # the same A, and a nonzero B so the update shows
            mine.B.normal_()
            layer.lora_A["default"].weight.copy_(mine.A)
            layer.lora_B["default"].weight.copy_(mine.B)
        assert layer.scaling["default"] == mine.scaling
    x = torch.randn(4, 8)
    torch.testing.assert_close(ours(x), theirs(x))
    # the same trainable parameters (A and B of each wrapped layer), and the same merged weights
    assert count_parameters(ours) == sum(p.numel() for p in theirs.parameters() if p.requires_grad)
    merged = theirs.merge_and_unload()
    merge_lora(ours)
    for name in ("q", "v"):
        torch.testing.assert_close(ours.attn[name].weight, merged.attn[name].weight)
