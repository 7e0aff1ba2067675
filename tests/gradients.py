"""A check the module tests share: after a backward pass, every parameter has a gradient."""

from torch import nn


def assert_every_parameter_gets_a_gradient(module: nn.Module) -> None:
    """Call after ``loss.backward()``: every parameter got a gradient, and not an all-zero one."""
    for name, p in module.named_parameters():
        assert p.grad is not None, f"{name} received no gradient"
        assert p.grad.abs().sum() > 0, f"{name} received an all-zero gradient"
