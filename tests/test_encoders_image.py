"""Tests for mmtutorial.encoders.image: shapes, parameter counts, input checks, and parity."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmtutorial.encoders.image import ConvEncoder, CoordCNN, PatchEmbedding, TinyCNN, ViT


def test_conv_encoder_shapes_and_parameter_count():
    enc = ConvEncoder(in_channels=1, channels=(16, 32), image_size=28)
    out = enc(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 32 * 7 * 7) and enc.out_dim == 1568
    # conv: k*k*c_in*c_out + c_out; batch norm: 2 * c_out (scale and shift)
    expected = (9 * 1 * 16 + 16) + 2 * 16 + (9 * 16 * 32 + 32) + 2 * 32
    assert sum(p.numel() for p in enc.parameters()) == expected


def test_conv_encoder_checks_its_arguments_and_input():
    with pytest.raises(ValueError, match="image_size must be divisible by 2 \\*\\* 3"):
        ConvEncoder(channels=(8, 8, 8), image_size=28)
    with pytest.raises(ValueError, match="channels must name at least one stage"):
        ConvEncoder(channels=())
    with pytest.raises(TypeError, match="channels must be a list or tuple"):
        ConvEncoder(channels=16)
    enc = ConvEncoder()
    with pytest.raises(ValueError, match="images must have 1 channel"):
        enc(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="images must be 28x28"):
        enc(torch.rand(2, 1, 32, 32))
    with pytest.raises(TypeError, match="images must be a floating-point tensor"):
        enc(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


def test_patch_embedding_is_a_linear_map_of_flattened_patches():
    torch.manual_seed(0)
    emb = PatchEmbedding(in_channels=3, patch_size=4, dim=10)
    x = torch.randn(2, 3, 8, 12)
    out = emb(x)
    assert out.shape == (2, (8 // 4) * (12 // 4), 10)
    # cut into patches by hand: (B, C, H/P, P, W/P, P) -> (B, N, C*P*P), rows then columns
    patches = x.reshape(2, 3, 2, 4, 3, 4).permute(0, 2, 4, 1, 3, 5).reshape(2, 6, 3 * 16)
    by_hand = patches @ emb.proj.weight.reshape(10, -1).T + emb.proj.bias
    torch.testing.assert_close(out, by_hand)
    with pytest.raises(ValueError, match="multiples of patch_size 4"):
        emb(torch.randn(1, 3, 9, 12))


def test_vit_shapes_parameters_and_attention_maps():
    torch.manual_seed(0)
    vit = ViT(image_size=28, patch_size=7, in_channels=1, dim=32, depth=2, heads=4, mlp_dim=64).eval()
    x = torch.rand(3, 1, 28, 28)
    assert vit.num_patches == 16 and vit.tokens(x).shape == (3, 17, 32)
    assert vit(x).shape == (3, 32) and vit.out_dim == 32
    block = 2 * (2 * 32) + (3 * 32 * 32 + 3 * 32) + (32 * 32 + 32) + (32 * 64 + 64) + (64 * 32 + 32)
    expected = (49 * 32 + 32) + 32 + 17 * 32 + 2 * block + 2 * 32
    assert sum(p.numel() for p in vit.parameters()) == expected
    maps = vit.attention_maps(x)
    assert len(maps) == 2 and maps[0].shape == (3, 4, 17, 17)
    torch.testing.assert_close(maps[1].sum(-1), torch.ones(3, 4, 17))


def test_vit_block_is_prenorm_attention_then_mlp():
    torch.manual_seed(0)
    vit = ViT(dim=16, depth=1, heads=2, mlp_dim=32).eval()
    x = vit.tokens(torch.rand(2, 1, 28, 28))
    blk = vit.blocks[0]
    h = blk.norm1(x)
    x1 = x + blk.self_attn(h, h, h, need_weights=False)[0]
    x2 = x1 + blk.linear2(F.gelu(blk.linear1(blk.norm2(x1))))
    torch.testing.assert_close(blk(x), x2, rtol=1e-5, atol=1e-5)


def test_vit_checks_its_arguments():
    with pytest.raises(ValueError, match="dim must be divisible by heads"):
        ViT(dim=30, heads=4)
    with pytest.raises(ValueError, match="image_size must be a multiple of patch_size"):
        ViT(image_size=28, patch_size=5)
    with pytest.raises(ValueError, match="images must be 28x28"):
        ViT()(torch.rand(1, 1, 14, 14))


# The two CNNs of the first chapters, exactly as their cells define them (chapter *Core concepts*,
# cell c011, and chapter *Multimodal models*, cell c020g): the package must build the same layers.
class _NotebookTinyCNN(nn.Module):
    def __init__(self, width: int = 64):
        super().__init__()
        block = lambda c_in, c_out: [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]  # noqa: E731
        self.net = nn.Sequential(*block(3, 16), *block(16, 32), *block(32, 64),
                                 nn.MaxPool2d(2), nn.Flatten(),
                                 nn.Linear(256, width), nn.ReLU())

    def forward(self, images):
        return self.net(images)


class _NotebookCoordCNN(nn.Module):
    def __init__(self, width: int = 64):
        super().__init__()
        block = lambda c_in, c_out: [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]  # noqa: E731
        self.net = nn.Sequential(*block(5, 16), nn.MaxPool2d(2),
                                 *block(16, 32), nn.MaxPool2d(2),
                                 *block(32, width))

    def forward(self, images):
        B, _, H, W = images.shape
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, H, device=images.device),
                                torch.linspace(-1, 1, W, device=images.device), indexing="ij")
        coords = torch.stack([xs, ys]).expand(B, 2, H, W)
        features = self.net(torch.cat([images, coords], dim=1))
        return features.amax(dim=(2, 3))


@pytest.mark.parametrize("package_cls, notebook_cls", [(TinyCNN, _NotebookTinyCNN), (CoordCNN, _NotebookCoordCNN)])
@pytest.mark.parametrize("width", [64, 48])
def test_part_one_cnns_start_from_the_same_weights_as_the_chapters(package_cls, notebook_cls, width):
    torch.manual_seed(7)
    ours = package_cls(width)
    torch.manual_seed(7)
    theirs = notebook_cls(width)
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(ref)
    for key in ref:
        assert torch.equal(mine[key], ref[key]), key
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(ours.eval()(x), theirs.eval()(x))
    assert ours(x).shape == (4, width)


def test_part_one_cnns_check_their_input():
    with pytest.raises(ValueError, match="images must have 3 channel"):
        CoordCNN()(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="images must be 32x32"):
        TinyCNN()(torch.rand(2, 3, 28, 28))
