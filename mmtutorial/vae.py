"""A conditional variational autoencoder: the one-shot generator the diffusion model is compared with.

The chapter *Generating and editing images from text* trains it on the same images and
captions as its diffusion model and scores both with the same attribute classifier:

- `CVAE`: an MLP encoder q(z | x, caption) -> (mu, log variance), the reparameterized sample
  z = mu + sigma * eps, and an MLP decoder p(x | z, caption); `CVAE.generate` decodes z ~ N(0, I)
  under a caption, in one pass;
- `cvae_loss`: the negative evidence lower bound with a Gaussian likelihood of std ``sigma``,
  ||x - x_hat||^2 / (2 sigma^2) + KL(q(z | x, c) || N(0, I)), per image.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_int, check_number, check_tensor
from .diffusion import TextConditioner

__all__ = ["CVAE", "cvae_loss"]


class CVAE(nn.Module):
    """Conditional VAE on flattened (B, C, S, S) images in [-1, 1], conditioned on token ids (B, T)."""

    def __init__(self, vocab_size: int, image_size: int = 16, channels: int = 3, hidden: int = 512,
                 latent_dim: int = 16, emb_dim: int = 64) -> None:
        super().__init__()
        self.image_size = check_int("image_size", image_size, min=1)
        self.channels = check_int("channels", channels, min=1)
        hidden = check_int("hidden", hidden, min=1)
        self.latent_dim = check_int("latent_dim", latent_dim, min=1)
        d = channels * image_size * image_size
        self.text = TextConditioner(vocab_size, check_int("emb_dim", emb_dim, min=1))
        self.encoder = nn.Sequential(nn.Linear(d + emb_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                     nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim + emb_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                     nn.SiLU(), nn.Linear(hidden, d))

    def _check(self, images: torch.Tensor, tokens: torch.Tensor) -> None:
        check_tensor("images", images, "(B, C, H, W)", dtype="float")
        shape = (self.channels, self.image_size, self.image_size)
        if tuple(images.shape[1:]) != shape:
            raise ValueError(f"images must have shape (B, {', '.join(map(str, shape))}), got {tuple(images.shape)}")
        check_tensor("tokens", tokens, "(B, T)", dtype="int")
        if len(images) != len(tokens):
            raise ValueError(f"images and tokens must have the same batch size, got {len(images)} and {len(tokens)}")

    def decode(self, z: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Latents (B, latent_dim) and captions (B, T) -> images (B, C, S, S)."""
        out = self.decoder(torch.cat([z, self.text(tokens)], 1))  # (B, C*S*S)
        return out.view(len(z), self.channels, self.image_size, self.image_size)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstructions (B, C, S, S), mu and log variance (B, latent_dim)."""
        self._check(images, tokens)
        mu, logvar = self.encoder(torch.cat([images.flatten(1), self.text(tokens)], 1)).chunk(2, dim=1)
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator, device=mu.device)
        return self.decode(z, tokens), mu, logvar

    @torch.no_grad()
    def generate(self, tokens: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One image per caption, z ~ N(0, I), in one decoder pass: (B, C, S, S)."""
        tokens = check_tensor("tokens", tokens, "(B, T)", dtype="int")
        z = torch.randn(len(tokens), self.latent_dim, generator=generator, device=tokens.device)
        return self.decode(z, tokens)


def cvae_loss(recon: torch.Tensor, images: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
              sigma: float = 0.1) -> torch.Tensor:
    """Negative ELBO per image (mean over the batch): ||x - x_hat||^2 / (2 sigma^2) + KL(q || N(0, I))."""
    sigma = check_number("sigma", sigma, above=0)
    if recon.shape != images.shape:
        raise ValueError(f"recon must have the shape of images {tuple(images.shape)}, got {tuple(recon.shape)}")
    rec = (recon - images).pow(2).flatten(1).sum(1) / (2 * sigma**2)  # (B,)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)  # (B,)
    return (rec + kl).mean()
