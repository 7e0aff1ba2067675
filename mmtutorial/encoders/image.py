"""Image encoders: from pixels (B, C, H, W) to vectors (B, D).

The chapter *Image encoders: from CNNs to Vision Transformers* builds each piece in plain cells
and proves these versions equal to it:

- `ConvEncoder`: a stack of 3×3 convolutions, batch normalization, ReLU and 2×2 max pooling,
  then the feature maps flattened into one vector: a small LeNet-style CNN.
- `PatchEmbedding`: cut the image into P×P patches and project each one linearly, which is
  exactly a convolution with kernel P and stride P (the chapter proves it by computation).
- `ViT`: a Vision Transformer: patch embedding, a learned class token, learned position
  embeddings, pre-norm Transformer encoder blocks; the class token's final state is the image's
  vector. `ViT.attention_maps` returns each block's attention weights, for figures.

It also holds the two small CNNs that the first chapters define in their cells, so that later
chapters can import them: `CoordCNN` (*Multimodal models: what they are and what they do*) and
`TinyCNN` (*Core concepts: heterogeneity, connections and interactions*). Their layers are built
in the same order with the same arguments, so after the same ``torch.manual_seed`` they start
from the same weights as the chapters' versions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._checks import check_int, check_tensor, check_type

__all__ = ["ConvEncoder", "CoordCNN", "PatchEmbedding", "TinyCNN", "ViT"]


def _check_images(images: torch.Tensor, channels: int, size: int | None = None) -> torch.Tensor:
    """Images (B, C, H, W) of floats with ``channels`` channels (and H = W = ``size`` if given)."""
    images = check_tensor("images", images, "(B, C, H, W)", dtype="float")
    if images.shape[1] != channels:
        raise ValueError(f"images must have {channels} channel(s) on axis 1, got shape {tuple(images.shape)}")
    if size is not None and tuple(images.shape[2:]) != (size, size):
        raise ValueError(f"images must be {size}x{size}, got shape {tuple(images.shape)}")
    return images


class ConvEncoder(nn.Module):
    """Images (B, C, S, S) -> features (B, out_dim): [conv 3×3, batch norm, ReLU, max pool 2×2] per stage, flattened.

    ``channels`` holds each stage's output channels; every stage keeps the size (padding 1)
    and then halves it, so ``image_size`` must be divisible by ``2 ** len(channels)``. The
    features are the last feature maps flattened: ``out_dim = channels[-1] * (S / 2**n)**2``.
    ``net[:4]`` is the first stage, so ``net[:k]`` gives intermediate feature maps.
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (16, 32), image_size: int = 28) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, min=1)
        self.image_size = check_int("image_size", image_size, min=1)
        check_type("channels", channels, (list, tuple), "a list or tuple of ints")
        if not channels:
            raise ValueError("channels must name at least one stage, got an empty sequence")
        channels = [check_int(f"channels[{i}]", c, min=1) for i, c in enumerate(channels)]
        if image_size % 2 ** len(channels):
            raise ValueError(f"image_size must be divisible by 2 ** {len(channels)} (one halving per stage), "
                             f"got {image_size}")
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.channels = tuple(channels)
        self.out_dim = channels[-1] * (image_size // 2 ** len(channels)) ** 2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = _check_images(images, self.in_channels, self.image_size)
        return self.net(images)  # (B, out_dim)


class PatchEmbedding(nn.Module):
    """Images (B, C, H, W) -> patch vectors (B, N, dim), N = (H/P)(W/P), in row-major patch order.

    Each P×P patch is flattened (channel, row, column) and multiplied by one weight matrix:
    a convolution with kernel P and stride P computes exactly that, so ``proj`` is one.
    H and W must be multiples of ``patch_size``.
    """

    def __init__(self, in_channels: int = 1, patch_size: int = 7, dim: int = 64) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, min=1)
        self.patch_size = check_int("patch_size", patch_size, min=1)
        self.dim = check_int("dim", dim, min=1)
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = _check_images(images, self.in_channels)
        P = self.patch_size
        if images.shape[2] % P or images.shape[3] % P:
            raise ValueError(f"images' height and width must be multiples of patch_size {P}, "
                             f"got shape {tuple(images.shape)}")
        grid = self.proj(images)                   # (B, dim, H/P, W/P)
        return grid.flatten(2).transpose(1, 2)     # (B, N, dim)


class ViT(nn.Module):
    """A Vision Transformer: images (B, C, S, S) -> the class token's final state (B, dim).

    Patch embedding (:class:`PatchEmbedding`), a learned class token in front, learned
    position embeddings added, ``depth`` pre-norm Transformer encoder blocks (each
    ``x + attention(LayerNorm(x))`` then ``x + MLP(LayerNorm(x))``, GELU, no dropout), a final
    LayerNorm. ``out_dim`` is ``dim``; put a linear layer on top to classify.
    """

    def __init__(
        self,
        image_size: int = 28,
        patch_size: int = 7,
        in_channels: int = 1,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        mlp_dim: int = 128,
    ) -> None:
        super().__init__()
        self.image_size = check_int("image_size", image_size, min=1)
        patch_size = check_int("patch_size", patch_size, min=1)
        if image_size % patch_size:
            raise ValueError(f"image_size must be a multiple of patch_size, got {image_size} and {patch_size}")
        dim, heads = check_int("dim", dim, min=1), check_int("heads", heads, min=1)
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads, got dim={dim} and heads={heads}")
        depth, mlp_dim = check_int("depth", depth, min=1), check_int("mlp_dim", mlp_dim, min=1)
        self.patches = PatchEmbedding(in_channels, patch_size, dim)
        self.num_patches = (image_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, self.num_patches + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, heads, mlp_dim, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """The input sequence of the first block: [class token, patches] plus positions, (B, 1 + N, dim)."""
        images = _check_images(images, self.patches.in_channels, self.image_size)
        x = self.patches(images)                                   # (B, N, dim)
        cls = self.cls_token.expand(x.shape[0], -1, -1)           # (B, 1, dim)
        return torch.cat([cls, x], dim=1) + self.pos_embedding     # (B, 1 + N, dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.tokens(images)                                    # (B, 1 + N, dim)
        for block in self.blocks:
            x = block(x)                                           # (B, 1 + N, dim)
        return self.norm(x[:, 0])                                  # (B, dim): the class token

    @torch.no_grad()
    def attention_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Each block's attention weights, a list of ``depth`` tensors (B, heads, 1 + N, 1 + N).

        Row ``i`` of a map is how token ``i`` (0: the class token, then the patches in
        row-major order) spreads its attention; each row sums to 1.
        """
        x = self.tokens(images)
        maps = []
        for block in self.blocks:
            h = block.norm1(x)
            _, weights = block.self_attn(h, h, h, need_weights=True, average_attn_weights=False)
            maps.append(weights)                                   # (B, heads, 1 + N, 1 + N)
            x = block(x)
        return maps


class TinyCNN(nn.Module):
    """Images (B, 3, 32, 32) -> features (B, width): three stride-2 conv stages, a max pool and a linear layer.

    The image encoder of *Core concepts: heterogeneity, connections and interactions*, layer
    for layer (the linear layer expects 32×32 inputs: 64 channels × 2 × 2 after pooling).
    """

    def __init__(self, width: int = 64):
        super().__init__()
        block = lambda c_in, c_out: [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]  # noqa: E731
        self.net = nn.Sequential(*block(3, 16), *block(16, 32), *block(32, 64),  # (B, 64, 4, 4)
                                 nn.MaxPool2d(2), nn.Flatten(),                  # (B, 64 * 2 * 2)
                                 nn.Linear(256, width), nn.ReLU())               # (B, width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = _check_images(images, 3, 32)
        return self.net(images)  # (B, width)


class CoordCNN(nn.Module):
    """Images (B, 3, H, W) -> features (B, width): a small CNN that also sees where it looks.

    Two extra input channels hold each pixel's x and y coordinate in [-1, 1] (CoordConv), so
    that after global max pooling, which discards *where* a feature fired, the features can
    still encode position. The image encoder of *Multimodal models: what they are and what
    they do*, layer for layer.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        block = lambda c_in, c_out: [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]  # noqa: E731
        self.net = nn.Sequential(*block(5, 16), nn.MaxPool2d(2),     # (B, 16, H/2, W/2)
                                 *block(16, 32), nn.MaxPool2d(2),    # (B, 32, H/4, W/4)
                                 *block(32, width))                  # (B, width, H/4, W/4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = _check_images(images, 3)
        B, _, H, W = images.shape
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, H, device=images.device),
                                torch.linspace(-1, 1, W, device=images.device), indexing="ij")
        coords = torch.stack([xs, ys]).expand(B, 2, H, W)           # (B, 2, H, W)
        features = self.net(torch.cat([images, coords], dim=1))     # (B, width, H/4, W/4)
        return features.amax(dim=(2, 3))                            # (B, width)
