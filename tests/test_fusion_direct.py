"""Tests for the direct fusion modules of mmtutorial.fusion and the AV-MNIST pairing helpers.

Chapter *Direct fusion: concatenation, products and tensors*: SumFusion, ProductFusion,
TensorFusion, LowRankFusion, FusionClassifier, unregistered_tensors; mmtutorial.data.av_mnist.
"""

import gzip
import struct

import pytest
import torch
from torch import nn

from mmtutorial.data.av_mnist import find_mnist, pair_by_label, read_mnist
from mmtutorial.fusion import (ConcatFusion, FusionClassifier, LateFusion, LowRankFusion, ProductFusion, SumFusion,
                               TensorFusion, unregistered_tensors)
from gradients import assert_every_parameter_gets_a_gradient

B = 6


def features(dims=(3, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, d, generator=g) for d in dims)  # (B, D_m) each


def interaction_contrast(f, x1, x1b, x2, x2b):
    """f(x1, x2) - f(x1', x2) - f(x1, x2') + f(x1', x2'): zero for every additive f."""
    return f(x1, x2) - f(x1b, x2) - f(x1, x2b) + f(x1b, x2b)


def assert_every_parameter_trains(module, *inputs):
    """The reusable check: every tensor that requires grad is registered, and a backward pass
    gives every registered parameter a gradient that is not all zero."""
    missing = unregistered_tensors(module)
    assert not missing, f"tensors that require grad but are not registered parameters: {missing}"
    module.zero_grad(set_to_none=True)
    out = module(*inputs)
    g = torch.Generator().manual_seed(1)
    (out * torch.randn(out.shape, generator=g)).sum().backward()  # a random direction: no gradient cancels
    assert_every_parameter_gets_a_gradient(module)


class BuggyLowRankFusion(nn.Module):
    """The classic mistake: the factors sit in a plain Python list, so nn.Module never registers them."""

    def __init__(self, in_dims, out_dim, rank=2):
        super().__init__()
        self.factors = [nn.Parameter(0.5 * torch.randn(rank, d + 1, out_dim)) for d in in_dims]  # NOT registered
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, *xs):
        z = 1
        for x, f in zip(xs, self.factors):
            z = z * torch.einsum("bi,rio->rbo", torch.cat([x, torch.ones(len(x), 1)], 1), f)
        return z.sum(0) + self.bias


def direct_modules(dims=(3, 4), out_dim=5):
    torch.manual_seed(0)
    return {"sum": SumFusion(dims, out_dim), "product": ProductFusion(dims, out_dim),
            "tensor": TensorFusion(dims, out_dim), "low-rank": LowRankFusion(dims, out_dim, rank=3)}


# ----- shapes and parameter counts -----------------------------------------------------------
@pytest.mark.parametrize("dims", [(3,), (3, 4), (3, 4, 2)])
def test_every_direct_fusion_maps_features_to_out_dim(dims):
    for name, module in direct_modules(dims, 5).items():
        assert module(*features(dims)).shape == (B, 5), name


def test_parameter_counts_follow_the_formulas():
    (d1, d2), o, r = (3, 4), 5, 3
    m = direct_modules((d1, d2), o)
    count = lambda mod: sum(p.numel() for p in mod.parameters())  # noqa: E731
    assert count(m["sum"]) == count(m["product"]) == (d1 + 1) * o + (d2 + 1) * o
    assert count(m["tensor"]) == o * (d1 + 1) * (d2 + 1)
    assert count(m["low-rank"]) == r * o * ((d1 + 1) + (d2 + 1))
    assert m["tensor"].fused_dim == (d1 + 1) * (d2 + 1)


# ----- what each module computes -------------------------------------------------------------
def test_sum_fusion_equals_a_linear_layer_on_the_concatenation():
    torch.manual_seed(0)
    s = SumFusion((3, 4), 5)
    c = ConcatFusion((3, 4), 5, hidden_dim=None)
    with torch.no_grad():
        c.net.weight.copy_(torch.cat([p.weight for p in s.projections], dim=1))
        c.net.bias.copy_(sum(p.bias for p in s.projections))
    x1, x2 = features()
    torch.testing.assert_close(s(x1, x2), c(x1, x2))


def test_sum_is_additive_and_product_tensor_low_rank_are_not():
    (x1, x2), (x1b, x2b) = features(seed=0), features(seed=1)
    for name, module in direct_modules().items():
        contrast = interaction_contrast(module, x1, x1b, x2, x2b).abs().max()
        if name == "sum":
            assert contrast < 1e-5
        else:
            assert contrast > 1e-2, name


def test_product_fusion_multiplies_the_projections():
    torch.manual_seed(0)
    f = ProductFusion((3, 4, 2), 5)
    xs = features((3, 4, 2))
    expected = f.projections[0](xs[0]) * f.projections[1](xs[1]) * f.projections[2](xs[2])
    torch.testing.assert_close(f(*xs), expected)


def test_product_fusion_with_a_linear_head_computes_xor():
    a = torch.tensor([0.0, 0.0, 1.0, 1.0])[:, None]
    b = torch.tensor([0.0, 1.0, 0.0, 1.0])[:, None]
    f = ProductFusion((1, 1), 1)
    with torch.no_grad():  # one product unit: (a - 1/2)(b - 1/2)
        for projection in f.projections:
            projection.weight.fill_(1.0)
            projection.bias.fill_(-0.5)
    z = -f(a, b).squeeze(1)  # -(a - 1/2)(b - 1/2): positive exactly when a != b
    assert torch.equal((z > 0).float(), torch.tensor([0.0, 1.0, 1.0, 0.0]))


def test_tensor_fusion_outer_product_holds_the_features_their_products_and_one():
    torch.manual_seed(0)
    f = TensorFusion((3, 4), 5)
    x1, x2 = features()
    outer = f.outer(x1, x2).view(B, 4, 5)  # (B, D1 + 1, D2 + 1)
    torch.testing.assert_close(outer[:, :3, :4], x1[:, :, None] * x2[:, None, :])  # bimodal products
    torch.testing.assert_close(outer[:, :3, 4], x1)  # x1 times the appended 1
    torch.testing.assert_close(outer[:, 3, :4], x2)
    torch.testing.assert_close(outer[:, 3, 4], torch.ones(B))
    torch.testing.assert_close(f(x1, x2), outer.flatten(1) @ f.linear.weight.T)


@pytest.mark.parametrize("dims", [(3, 4), (2, 3, 2)])
def test_low_rank_fusion_equals_tensor_fusion_with_its_full_weight(dims):
    torch.manual_seed(0)
    low = LowRankFusion(dims, 5, rank=3)
    full = TensorFusion(dims, 5)
    with torch.no_grad():
        full.linear.weight.copy_(low.full_weight())
    xs = features(dims)
    torch.testing.assert_close(low(*xs), full(*xs), rtol=1e-4, atol=1e-5)


def test_low_rank_factors_are_saved_in_the_state_dict():
    low = LowRankFusion((3, 4), 5, rank=2)
    assert sorted(low.state_dict()) == ["factors.0", "factors.1"]
    assert low.state_dict()["factors.0"].shape == (2, 4, 5)


def test_low_rank_fusion_starts_with_outputs_of_about_unit_variance():
    torch.manual_seed(0)
    low = LowRankFusion((64, 64), 32, rank=4)
    x = torch.randn(2000, 64), torch.randn(2000, 64)
    assert 0.3 < low(*x).var().item() < 3.0


# ----- gradients reach every parameter; the unregistered-list mistake is caught ----------------
@pytest.mark.parametrize("name", ["sum", "product", "tensor", "low-rank"])
def test_gradients_reach_every_parameter(name):
    assert_every_parameter_trains(direct_modules()[name], *features())


def test_gradients_reach_every_parameter_of_a_fusion_classifier():
    torch.manual_seed(0)
    model = FusionClassifier([nn.Sequential(nn.Linear(3, 8), nn.ReLU()), nn.Sequential(nn.Linear(4, 8), nn.ReLU())],
                             LowRankFusion((8, 8), 6, rank=2), nn.Linear(6, 10))
    assert_every_parameter_trains(model, *features())


def test_the_check_fails_for_factors_kept_in_a_python_list():
    torch.manual_seed(0)
    buggy = BuggyLowRankFusion((3, 4), 5)
    assert unregistered_tensors(buggy) == ["factors[0]", "factors[1]"]
    assert [n for n, _ in buggy.named_parameters()] == ["bias"]  # the factors are invisible
    with pytest.raises(AssertionError, match="not registered"):
        assert_every_parameter_trains(buggy, *features())


def test_factors_in_a_python_list_are_never_trained():
    torch.manual_seed(0)
    buggy = BuggyLowRankFusion((3, 4), 5)
    before = [f.detach().clone() for f in buggy.factors]
    opt = torch.optim.SGD(buggy.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        buggy(*features()).pow(2).mean().backward()
        opt.step()
    assert all(torch.equal(b, f) for b, f in zip(before, buggy.factors))  # unchanged: not in the optimizer
    assert all(f.grad is not None for f in buggy.factors)  # although gradients did reach them


def test_unregistered_tensors_looks_into_submodules_and_dicts():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = {"w": torch.zeros(2, requires_grad=True), "frozen": torch.zeros(2)}

    outer = nn.Sequential(nn.Linear(2, 2), Holder())
    assert unregistered_tensors(outer) == ["1.table['w']"]
    assert unregistered_tensors(LowRankFusion((3, 4), 5)) == []
    with pytest.raises(TypeError, match="module must be an nn.Module"):
        unregistered_tensors([torch.zeros(1)])


# ----- FusionClassifier ----------------------------------------------------------------------
def test_fusion_classifier_routes_each_input_to_its_encoder():
    torch.manual_seed(0)
    e1, e2 = nn.Linear(3, 8), nn.Linear(4, 8)
    fusion, head = SumFusion((8, 8), 6), nn.Linear(6, 2)
    model = FusionClassifier([e1, e2], fusion, head)
    x1, x2 = features()
    torch.testing.assert_close(model(x1, x2), head(fusion(e1(x1), e2(x2))))
    torch.testing.assert_close(FusionClassifier([e1, e2], fusion)(x1, x2), fusion(e1(x1), e2(x2)))


def test_fusion_classifier_checks_its_arguments():
    with pytest.raises(TypeError, match="encoders must be a list of nn.Module"):
        FusionClassifier(nn.Linear(3, 3), SumFusion((3,), 2))
    with pytest.raises(ValueError, match="encoders must hold at least one"):
        FusionClassifier([], SumFusion((3,), 2))
    with pytest.raises(TypeError, match=r"encoders\[1\] must be an nn.Module"):
        FusionClassifier([nn.Linear(3, 3), "text"], SumFusion((3, 3), 2))
    with pytest.raises(TypeError, match="head must be an nn.Module or None"):
        FusionClassifier([nn.Linear(3, 3)], SumFusion((3,), 2), head=lambda z: z)
    model = FusionClassifier([nn.Linear(3, 3), nn.Linear(4, 4)], SumFusion((3, 4), 2))
    with pytest.raises(ValueError, match="inputs must be 2"):
        model(torch.randn(B, 3))


# ----- input checks --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [SumFusion, ProductFusion, TensorFusion, LowRankFusion])
def test_constructors_check_in_dims_and_out_dim(cls):
    with pytest.raises(TypeError, match="in_dims must be a sequence of ints"):
        cls(3, 5)
    with pytest.raises(ValueError, match="in_dims must name at least one modality"):
        cls((), 5)
    with pytest.raises(ValueError, match=r"in_dims\[1\] must be an int >= 1"):
        cls((3, 0), 5)
    with pytest.raises(TypeError, match="out_dim must be an int"):
        cls((3, 4), 5.0)
    with pytest.raises(ValueError, match="out_dim must be an int >= 1"):
        cls((3, 4), 0)


def test_low_rank_checks_its_rank():
    with pytest.raises(ValueError, match="rank must be an int >= 1"):
        LowRankFusion((3, 4), 5, rank=0)
    with pytest.raises(TypeError, match="rank must be an int"):
        LowRankFusion((3, 4), 5, rank=2.5)


@pytest.mark.parametrize("name", ["sum", "product", "tensor", "low-rank"])
def test_forward_checks_the_features(name):
    module = direct_modules()[name]
    x1, x2 = features()
    with pytest.raises(ValueError, match="features must be 2 tensors"):
        module(x1)
    with pytest.raises(ValueError, match=r"features\[0\] must have shape \(B, 3\), got \(6, 4\)"):
        module(x2, x2)  # a swapped or wrong modality
    with pytest.raises(ValueError, match=r"features\[1\] must be a floating-point tensor of shape \(B, 4\)"):
        module(x1, x2[None])
    with pytest.raises(TypeError, match=r"features\[1\] must be a floating-point tensor"):
        module(x1, x2.long())
    with pytest.raises(TypeError, match=r"features\[0\] must be a floating-point tensor"):
        module(x1.tolist(), x2)


def test_late_fusion_of_the_chapter_still_averages_logits():
    torch.manual_seed(0)
    g, h = nn.Linear(3, 2), nn.Linear(4, 2)
    x1, x2 = features()
    torch.testing.assert_close(LateFusion([g, h])(x1, x2), (g(x1) + h(x2)) / 2)


# ----- AV-MNIST: reading MNIST and pairing by label --------------------------------------------
def write_idx(path, array: torch.Tensor, compress: bool) -> None:
    """An IDX file of unsigned bytes, as MNIST stores them."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    content = header + array.to(torch.uint8).numpy().tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        content = gzip.compress(content)
    path.write_bytes(content)


def write_fake_mnist(folder, n_train=12, n_test=5, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    data = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), generator=g)
        labels = torch.arange(n) % 10
        write_idx(folder / f"{split}-images-idx3-ubyte", images, compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, compress)
        data[split] = images, labels
    return data


@pytest.mark.parametrize("compress", [True, False])
def test_read_mnist_reads_the_idx_files_it_is_given(tmp_path, compress):
    data = write_fake_mnist(tmp_path, compress=compress)
    images, labels = read_mnist(tmp_path, "train")
    assert images.shape == (12, 1, 28, 28) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and torch.equal(labels, data["train"][1])
    torch.testing.assert_close(images[:, 0] * 255, data["train"][0].float())
    assert read_mnist(tmp_path, "test")[0].shape == (5, 1, 28, 28)


def test_read_mnist_finds_torchvisions_layout(tmp_path):
    write_fake_mnist(tmp_path / "MNIST" / "raw")
    assert find_mnist(tmp_path) == tmp_path / "MNIST" / "raw"
    assert read_mnist(tmp_path, "test")[1].tolist() == [0, 1, 2, 3, 4]


def test_read_mnist_reports_missing_files_and_a_wrong_split(tmp_path):
    assert find_mnist(tmp_path) is None
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        read_mnist(tmp_path)
    write_fake_mnist(tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        read_mnist(tmp_path, "validation")


def test_read_mnist_rejects_images_and_labels_that_do_not_match(tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", torch.arange(4), compress=True)  # 5 images, 4 labels
    with pytest.raises(ValueError, match="do not match labels"):
        read_mnist(tmp_path, "test")


def test_pair_by_label_pairs_same_digits_deterministically():
    labels = torch.tensor([0, 1, 2, 1, 0, 2, 2])
    partner_labels = torch.tensor([2, 2, 1, 0, 0, 1, 0, 2])
    idx = pair_by_label(labels, partner_labels, seed=3)
    assert idx.shape == labels.shape and idx.dtype == torch.int64
    assert torch.equal(partner_labels[idx], labels)
    assert torch.equal(idx, pair_by_label(labels, partner_labels, seed=3))
    many = pair_by_label(torch.zeros(400, dtype=torch.long), partner_labels, seed=0)
    assert set(many.tolist()) == {3, 4, 6}  # every partner of the label is drawn


def test_pair_by_label_checks_its_inputs():
    with pytest.raises(ValueError, match="partner_labels has no sample of label 2"):
        pair_by_label(torch.tensor([0, 2]), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        pair_by_label(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="partner_labels must not be empty"):
        pair_by_label(torch.tensor([0]), torch.tensor([], dtype=torch.long))
