"""Text-to-image generation with a denoising diffusion model, and editing by text.

The chapter *Generating and editing images from text* builds each piece in plain cells and
proves these versions equal to it:

- the forward (noising) process: `linear_betas` (DDPM's schedule), `cosine_alpha_bars` (the
  cosine schedule, kinder to small images), `alpha_bars` and `q_sample`, the closed form
  ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``;
- denoisers of ``(x_t, t, caption)`` that return the predicted noise: `MLPDenoiser` (flattened
  pixels, with a *global residual*, the best linear guess of the noise given the data's
  per-pixel mean and variance; with ``predict="x0"`` the MLP corrects the linear guess of the
  clean image instead, see `MLPDenoiser.predict_x0`) and `UNet` (a small convolutional U-Net),
  both conditioned on a bag of words through `TextConditioner`; `timestep_embedding` says which
  noise level;
- training: `diffusion_loss` (the noise-prediction objective, or the same regression measured
  on the clean image with ``target="x0"``, with the caption dropped at rate ``p_uncond`` so that
  the same network is also unconditional);
- sampling: `guided_eps` (classifier-free guidance ``eps_u + w (eps_c - eps_u)``),
  `ddpm_sample` (ancestral, every step) and `ddim_sample` (few steps, deterministic at
  ``eta = 0``, from any starting step), and `sdedit`, which edits an image by text: noise it
  partway, then denoise it under the new caption;
- evaluation and data: `AttributeClassifier` and `attribute_accuracy` (a judge trained on real
  images scores what generated images show), `make_generation_data` (ShapesWorld scenes of one
  shape, of one size or several, near the centre or freely placed) and `load_captioned_images`
  (a captioned image folder such as Flickr8k, for the chapter's section on real data).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_int, check_number, check_path, check_tensor, check_type
from .clip import read_caption_file, read_images
from .data.shapesworld import (
    COLOR_NAMES,
    HELDOUT_PAIRS,
    SHAPES,
    SIZES,
    render_images,
    sample_scenes,
    shapesworld_vocab,
    write_captions,
)
from .data.splits import torch_generator
from .data.text import Vocab
from .encoders.image import ConvEncoder
from .encoders.text import BagOfWords
from .models import _linear_heads

__all__ = [
    "AttributeClassifier",
    "GenerationData",
    "MLPDenoiser",
    "TextConditioner",
    "UNet",
    "alpha_bars",
    "attribute_accuracy",
    "cosine_alpha_bars",
    "ddim_sample",
    "ddpm_sample",
    "diffusion_loss",
    "guided_eps",
    "linear_betas",
    "load_captioned_images",
    "make_generation_data",
    "q_sample",
    "sdedit",
    "timestep_embedding",
]


# ----- the forward process ------------------------------------------------------------------------
def linear_betas(steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """The noise variances beta_1..beta_T of DDPM, evenly spaced, float64, shape (T,)."""
    steps = check_int("steps", steps, min=1)
    beta_start = check_number("beta_start", beta_start, above=0, max=1)
    beta_end = check_number("beta_end", beta_end, min=beta_start, max=1)
    return torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)


def alpha_bars(betas: torch.Tensor) -> torch.Tensor:
    """abar_t = prod_{s <= t} (1 - beta_s), float32, shape (T,): the share of signal variance left at step t."""
    betas = check_tensor("betas", betas, "(T,)", dtype="float", nonempty=True)
    if bool((betas <= 0).any() | (betas >= 1).any()):
        raise ValueError("betas must lie in (0, 1)")
    return torch.cumprod(1 - betas.double(), 0).float()


def cosine_alpha_bars(steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """The cosine schedule of Nichol and Dhariwal: abar_t = f(t) / f(0), f(t) = cos^2(pi/2 (t/T + s) / (1 + s)).

    It destroys the signal more evenly over t than `linear_betas`, which leaves small images
    almost pure noise for the last half of the steps. Steps run t = 1..T (index t - 1);
    each beta is capped at ``max_beta``. float32, shape (T,).
    """
    steps = check_int("steps", steps, min=1)
    s = check_number("s", s, min=0)
    max_beta = check_number("max_beta", max_beta, above=0, max=1)
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2  # (T + 1,)
    betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
    return alpha_bars(betas)


def _check_abar(abar: torch.Tensor) -> torch.Tensor:
    abar = check_tensor("abar", abar, "(T,)", dtype="float", nonempty=True)
    if bool((abar <= 0).any() | (abar >= 1).any()):
        raise ValueError("abar must lie in (0, 1), as alpha_bars returns")
    return abar


def _gather(values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """values[t] shaped (B, 1, ..., 1) to broadcast over a batch of ``ndim`` axes."""
    return values.to(t.device)[t].view(-1, *([1] * (ndim - 1)))


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """Noise clean images to step ``t`` in one jump: sqrt(abar_t) x0 + sqrt(1 - abar_t) noise.

    ``x0`` and ``noise``: (B, ...) of the same shape; ``t``: (B,) integer steps in [0, T).
    """
    check_tensor("x0", x0, dtype="float", nonempty=True)
    t = check_tensor("t", t, "(B,)", dtype="int")
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    if len(t) != len(x0):
        raise ValueError(f"t must hold one step per image ({len(x0)}), got {len(t)}")
    a = _gather(_check_abar(abar), t, x0.ndim)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer steps (B,) -> (B, dim), as a Transformer embeds positions."""
    t = check_tensor("t", t, "(B,)")
    dim = check_int("dim", dim, min=2)
    if dim % 2:
        raise ValueError(f"dim must be even (a sine and a cosine per frequency), got {dim}")
    freqs = torch.exp(-math.log(max_period) * torch.arange(dim // 2, device=t.device) / (dim // 2))  # (dim/2,)
    angles = t.float()[:, None] * freqs[None]  # (B, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, dim)


# ----- conditioning and denoisers ------------------------------------------------------------------
class TextConditioner(nn.Module):
    """Token ids (B, T) -> a caption vector (B, dim): a bag of words and a linear layer.

    A row of padding only (the empty caption "") gives the layer's bias alone: that is the
    *null* caption of classifier-free guidance.
    """

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.bow = BagOfWords(vocab_size)
        self.proj = nn.Linear(vocab_size, check_int("dim", dim, min=1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.proj(self.bow(tokens))  # (B, dim)


def _check_step_inputs(x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, shape: tuple[int, ...]) -> None:
    check_tensor("x", x, "(B, C, H, W)", dtype="float")
    if tuple(x.shape[1:]) != shape:
        raise ValueError(f"x must have shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
    check_tensor("t", t, "(B,)", dtype="int")
    check_tensor("tokens", tokens, "(B, T)", dtype="int")
    if not len(x) == len(t) == len(tokens):
        raise ValueError(f"x, t and tokens must have the same batch size, got {len(x)}, {len(t)}, {len(tokens)}")


class MLPDenoiser(nn.Module):
    """Predict the noise of (B, C, S, S) images with an MLP on the flattened pixels.

    eps_hat = r_t(x_t) + MLP([x_t, time, caption]) with ``residual=True``, where the *global
    residual* r_t(x_t) = sqrt(1 - abar_t) (x_t - sqrt(abar_t) mean) / (abar_t var + 1 - abar_t)
    is the best linear guess of the noise if every pixel were Gaussian with the data's ``mean``
    and ``var`` (per pixel, shape (C, S, S), or numbers; the defaults 0 and 1 give
    sqrt(1 - abar_t) x_t). Near t = T it is x_t itself, which an MLP with fewer hidden units
    than pixels could not copy; the MLP only learns the correction. With ``predict="x0"`` the
    MLP's output corrects the linear guess of the clean image instead (`predict_x0`), and the
    forward pass returns the noise it implies, r_t(x_t) - sqrt(abar_t / (1 - abar_t)) MLP(...).
    The time and caption vectors are added to every hidden layer.
    """

    def __init__(self, abar: torch.Tensor, vocab_size: int, image_size: int = 16, channels: int = 3,
                 hidden: int = 512, depth: int = 3, emb_dim: int = 128, residual: bool = True,
                 mean: float | torch.Tensor = 0.0, var: float | torch.Tensor = 1.0, predict: str = "eps") -> None:
        super().__init__()
        self.predict = check_choice("predict", predict, ("eps", "x0"))
        self.register_buffer("abar", _check_abar(abar).clone().float())
        self.image_size = check_int("image_size", image_size, min=1)
        self.channels = check_int("channels", channels, min=1)
        shape = (channels, image_size, image_size)
        for name, value in (("mean", mean), ("var", var)):
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(check_number(name, value))
            if value.ndim and tuple(value.shape) != shape:
                raise ValueError(f"{name} must be a number or a tensor of shape {shape}, got {tuple(value.shape)}")
            self.register_buffer(name, value.float().expand(shape).clone())
        if bool((self.var <= 0).any()):
            raise ValueError("var must be positive")
        hidden = check_int("hidden", hidden, min=1)
        depth = check_int("depth", depth, min=1)
        self.emb_dim = check_int("emb_dim", emb_dim, min=2)
        check_type("residual", residual, bool, "True or False")
        self.residual = residual
        d = channels * image_size * image_size
        self.text = TextConditioner(vocab_size, emb_dim)
        self.time = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.inp = nn.Linear(d, hidden)
        self.layers = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.cond = nn.ModuleList(nn.Linear(emb_dim, hidden) for _ in range(depth + 1))
        self.out = nn.Linear(hidden, d)

    def _mlp(self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The MLP's output (B, C, S, S): the correction of the linear guess."""
        _check_step_inputs(x, t, tokens, (self.channels, self.image_size, self.image_size))
        e = F.silu(self.time(timestep_embedding(t, self.emb_dim)) + self.text(tokens))  # (B, E)
        h = F.silu(self.inp(x.flatten(1)) + self.cond[0](e))  # (B, hidden)
        for layer, cond in zip(self.layers, self.cond[1:]):
            h = F.silu(layer(h) + cond(e))  # (B, hidden)
        return self.out(h).view_as(x)  # (B, C, S, S)

    def forward(self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        out = self._mlp(x, t, tokens)
        if not self.residual:
            return out
        if self.predict == "x0":  # out corrects the linear guess of x0; return the noise it implies
            a = _gather(self.abar, t, x.ndim)
            return self.linear_guess(x, t) - (a / (1 - a)).sqrt() * out
        return self.linear_guess(x, t) + out

    def predict_x0(self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The clean image the model predicts, (B, C, S, S); exact (no division by sqrt(abar_t)) with predict="x0"."""
        if self.predict == "x0" and self.residual:
            out = self._mlp(x, t, tokens)
            a = _gather(self.abar, t, x.ndim)
            linear_x0 = self.mean + a.sqrt() * self.var * (x - a.sqrt() * self.mean) / (a * self.var + 1 - a)
            return linear_x0 + out
        a = _gather(self.abar, t, x.ndim)
        return (x - (1 - a).sqrt() * self(x, t, tokens)) / a.sqrt()

    def linear_guess(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The global residual r_t(x_t): the best linear prediction of the noise, (B, C, S, S)."""
        a = _gather(self.abar, t, x.ndim)  # (B, 1, 1, 1)
        return (1 - a).sqrt() * (x - a.sqrt() * self.mean) / (a * self.var + 1 - a)


class _ResBlock(nn.Module):
    """GroupNorm, SiLU, conv, plus the (time + caption) vector per channel, twice, with a skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(min(8, c_in), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(min(8, c_out), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
        h = h + self.emb(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    """A small U-Net that predicts the noise of (B, C, S, S) images.

    Two resolutions: a residual block at S, one at S/2 (after a stride-2 conv), one in the
    middle, then up again, each decoder block reading the encoder's output at its resolution
    (the skip connections). Time and caption vectors enter every block.
    """

    def __init__(self, vocab_size: int, image_size: int = 32, channels: int = 3, width: int = 32,
                 emb_dim: int = 128) -> None:
        super().__init__()
        self.image_size = check_int("image_size", image_size, min=2)
        if image_size % 2:
            raise ValueError(f"image_size must be even (the U-Net halves it once), got {image_size}")
        self.channels = check_int("channels", channels, min=1)
        w = check_int("width", width, min=1)
        self.emb_dim = check_int("emb_dim", emb_dim, min=2)
        self.text = TextConditioner(vocab_size, emb_dim)
        self.time = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.inp = nn.Conv2d(channels, w, 3, padding=1)
        self.down1 = _ResBlock(w, w, emb_dim)  # S
        self.pool = nn.Conv2d(w, w, 3, stride=2, padding=1)  # S -> S/2
        self.down2 = _ResBlock(w, 2 * w, emb_dim)  # S/2
        self.mid = _ResBlock(2 * w, 2 * w, emb_dim)
        self.up2 = _ResBlock(4 * w, 2 * w, emb_dim)  # S/2, with the skip from down2
        self.unpool = nn.Upsample(scale_factor=2, mode="nearest")
        self.up1 = _ResBlock(3 * w, w, emb_dim)  # S, with the skip from down1
        self.out = nn.Sequential(nn.GroupNorm(min(8, w), w), nn.SiLU(), nn.Conv2d(w, channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        _check_step_inputs(x, t, tokens, (self.channels, self.image_size, self.image_size))
        e = F.silu(self.time(timestep_embedding(t, self.emb_dim)) + self.text(tokens))  # (B, E)
        h1 = self.down1(self.inp(x), e)  # (B, w, S, S)
        h2 = self.down2(self.pool(h1), e)  # (B, 2w, S/2, S/2)
        h = self.mid(h2, e)
        h = self.up2(torch.cat([h, h2], 1), e)  # (B, 2w, S/2, S/2)
        h = self.up1(torch.cat([self.unpool(h), h1], 1), e)  # (B, w, S, S)
        return self.out(h)  # (B, C, S, S)


# ----- training --------------------------------------------------------------------------------------
def diffusion_loss(model: nn.Module, x0: torch.Tensor, tokens: torch.Tensor, abar: torch.Tensor,
                   p_uncond: float = 0.1, generator: torch.Generator | None = None,
                   target: str = "eps") -> torch.Tensor:
    """The noise-prediction objective: mean ||eps - model(x_t, t, caption)||^2 per pixel.

    ``target="x0"``: the same regression measured on the clean image instead, mean
    ||x0 - x0_hat||^2 with x0_hat from ``model.predict_x0`` (the noise objective weighted by
    (1 - abar_t) / abar_t, which stresses the noisy steps where content is decided).

    A random step t per image, x_t by `q_sample`, and with probability ``p_uncond`` the caption
    replaced by the empty one (all padding), so the model also learns p(x) for guidance.
    """
    check_tensor("x0", x0, "(B, C, H, W)", dtype="float", nonempty=True)
    tokens = check_tensor("tokens", tokens, "(B, T)", dtype="int")
    p_uncond = check_number("p_uncond", p_uncond, min=0, max=1)
    check_choice("target", target, ("eps", "x0"))
    if target == "x0" and not hasattr(model, "predict_x0"):
        raise TypeError("target='x0' needs a model with a predict_x0 method, such as MLPDenoiser")
    abar = _check_abar(abar)
    B, dev = len(x0), x0.device
    t = torch.randint(0, len(abar), (B,), generator=generator, device=dev)  # (B,)
    noise = torch.randn(x0.shape, generator=generator, device=dev)
    drop = torch.rand(B, generator=generator, device=dev) < p_uncond  # (B,) True: no caption
    tokens = tokens.masked_fill(drop[:, None], 0)
    x_t = q_sample(x0, t, noise, abar.to(dev))
    if target == "x0":
        return F.mse_loss(model.predict_x0(x_t, t, tokens), x0)
    return F.mse_loss(model(x_t, t, tokens), noise)


# ----- sampling -------------------------------------------------------------------------------------
def guided_eps(model: nn.Module, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor,
               guidance: float) -> torch.Tensor:
    """Classifier-free guidance: eps_u + w (eps_c - eps_u), with eps_u from the empty caption.

    w = 0 is the unconditional model, w = 1 the plain conditional one, w > 1 pushes further in
    the direction the caption adds. One batched call evaluates both.
    """
    guidance = check_number("guidance", guidance, min=0)
    if guidance == 1.0:
        return model(x, t, tokens)
    both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([tokens, torch.zeros_like(tokens)]))
    eps_c, eps_u = both.chunk(2)
    return eps_u + guidance * (eps_c - eps_u)


def _start(shape: tuple[int, ...], x_T: torch.Tensor | None, generator: torch.Generator | None,
           device: torch.device) -> torch.Tensor:
    if x_T is not None:
        if tuple(x_T.shape) != tuple(shape):
            raise ValueError(f"x_T must have shape {tuple(shape)}, got {tuple(x_T.shape)}")
        return x_T.to(device)
    return torch.randn(shape, generator=generator, device=device)


@torch.no_grad()
def ddpm_sample(model: nn.Module, abar: torch.Tensor, tokens: torch.Tensor, shape: Sequence[int], *,
                guidance: float = 1.0, generator: torch.Generator | None = None,
                x_T: torch.Tensor | None = None, clip: bool = True) -> torch.Tensor:
    """Ancestral sampling through all T steps (DDPM): x_{t-1} = mean(x_t, x0_hat) + sigma_t z.

    The mean is the posterior mean of q(x_{t-1} | x_t, x0) at the predicted x0_hat (clipped to
    [-1, 1] with ``clip``); sigma_t^2 is the posterior variance. ``shape``: (B, C, H, W).
    """
    abar = _check_abar(abar)
    tokens = check_tensor("tokens", tokens, "(B, T)", dtype="int")
    dev = tokens.device
    x = _start(tuple(shape), x_T, generator, dev)
    a = abar.to(dev)
    for t in range(len(a) - 1, -1, -1):
        tt = torch.full((len(x),), t, dtype=torch.long, device=dev)
        eps = guided_eps(model, x, tt, tokens, guidance)
        x0 = (x - (1 - a[t]).sqrt() * eps) / a[t].sqrt()
        if clip:
            x0 = x0.clamp(-1, 1)
        if t == 0:
            return x0
        a_prev = a[t - 1]
        beta = 1 - a[t] / a_prev
        mean = (a_prev.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - a_prev) * x) / (1 - a[t])
        var = beta * (1 - a_prev) / (1 - a[t])
        x = mean + var.sqrt() * torch.randn(x.shape, generator=generator, device=dev)
    return x


def _ddim_steps(t_start: int, steps: int) -> list[int]:
    """At most ``steps`` distinct steps from t_start down to 0 (the last), evenly spaced."""
    return sorted({round(float(v)) for v in np.linspace(t_start, 0, steps)}, reverse=True)


@torch.no_grad()
def ddim_sample(model: nn.Module, abar: torch.Tensor, tokens: torch.Tensor, shape: Sequence[int], *,
                steps: int = 20, guidance: float = 1.0, eta: float = 0.0, t_start: int | None = None,
                generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
                clip: bool = True) -> torch.Tensor:
    """DDIM: jump between ``steps`` of the T noise levels, deterministic at ``eta=0``.

    From x_t: x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), then
    x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps + sigma z, with
    sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s) (eta = 1 with every
    step is DDPM). ``t_start`` (default T - 1) starts from a partly noised ``x_T`` instead, as
    `sdedit` does. Returns x0_hat of the last step, shape ``shape`` = (B, C, H, W).
    """
    abar = _check_abar(abar)
    tokens = check_tensor("tokens", tokens, "(B, T)", dtype="int")
    eta = check_number("eta", eta, min=0)
    T = len(abar)
    t_start = T - 1 if t_start is None else check_int("t_start", t_start, min=0, max=T - 1)
    steps = check_int("steps", steps, min=1)
    dev = tokens.device
    x = _start(tuple(shape), x_T, generator, dev)
    a = abar.to(dev)
    ts = _ddim_steps(t_start, steps)
    x0 = x
    for i, t in enumerate(ts):
        tt = torch.full((len(x),), t, dtype=torch.long, device=dev)
        eps = guided_eps(model, x, tt, tokens, guidance)
        x0 = (x - (1 - a[t]).sqrt() * eps) / a[t].sqrt()
        if clip:
            x0 = x0.clamp(-1, 1)
            eps = (x - a[t].sqrt() * x0) / (1 - a[t]).sqrt()  # the noise that fits the clipped x0
        if i == len(ts) - 1:
            break
        a_s = a[ts[i + 1]]
        sigma = eta * ((1 - a_s) / (1 - a[t])).sqrt() * (1 - a[t] / a_s).sqrt()
        x = a_s.sqrt() * x0 + (1 - a_s - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0:
            x = x + sigma * torch.randn(x.shape, generator=generator, device=dev)
    return x0


@torch.no_grad()
def sdedit(model: nn.Module, abar: torch.Tensor, images: torch.Tensor, tokens: torch.Tensor, *,
           strength: float = 0.5, steps: int = 20, guidance: float = 3.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Edit images by text (SDEdit): noise them to step strength * T, denoise under ``tokens``.

    ``images`` in [-1, 1], (B, C, H, W). A small ``strength`` keeps the image and ignores the
    caption; a large one follows the caption and forgets the image.
    """
    check_tensor("images", images, "(B, C, H, W)", dtype="float", nonempty=True)
    strength = check_number("strength", strength, above=0, max=1)
    abar = _check_abar(abar)
    t0 = max(1, round(strength * len(abar))) - 1
    t = torch.full((len(images),), t0, dtype=torch.long, device=images.device)
    noise = torch.randn(images.shape, generator=generator, device=images.device)
    x_t = q_sample(images, t, noise, abar.to(images.device))
    n_steps = max(1, round(steps * strength))
    return ddim_sample(model, abar, tokens, images.shape, steps=n_steps, guidance=guidance, t_start=t0, x_T=x_t)


# ----- evaluation -------------------------------------------------------------------------------------
class AttributeClassifier(nn.Module):
    """Images (B, 3, S, S) in [0, 1] -> logits per attribute: ``{name: (B, n_classes)}``.

    A `ConvEncoder` (two conv stages) and one linear head per attribute; trained on real
    rendered images, it scores what generated images show.
    """

    def __init__(self, classes: Mapping[str, int], image_size: int = 16, channels: Sequence[int] = (32, 64)) -> None:
        super().__init__()
        self.encoder = ConvEncoder(3, channels, image_size)
        self.heads = _linear_heads("classes", classes, self.encoder.out_dim, "attribute")

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.encoder(images)  # (B, out_dim)
        return {name: head(h) for name, head in self.heads.items()}


@torch.no_grad()
def attribute_accuracy(classifier: nn.Module, images: torch.Tensor, labels: Mapping[str, torch.Tensor],
                       batch_size: int = 512) -> dict[str, float]:
    """The share of ``images`` (N, 3, S, S) in [0, 1] whose predicted attribute equals ``labels[name]`` (N,)."""
    check_tensor("images", images, "(N, C, H, W)", dtype="float", nonempty=True)
    check_type("labels", labels, Mapping, "a dict of attribute name -> (N,) labels")
    batch_size = check_int("batch_size", batch_size, min=1)
    hits: dict[str, float] = {name: 0.0 for name in labels}
    for lo in range(0, len(images), batch_size):
        out = classifier(images[lo:lo + batch_size])
        for name, y in labels.items():
            if len(y) != len(images):
                raise ValueError(f"labels[{name!r}] must hold one label per image ({len(images)}), got {len(y)}")
            hits[name] += float((out[name].argmax(1) == y[lo:lo + batch_size].to(images.device)).sum())
    return {name: h / len(images) for name, h in hits.items()}


# ----- data ---------------------------------------------------------------------------------------------
@dataclass
class GenerationData:
    """ShapesWorld samples for generation: images in [0, 1], captions, tokens and labels."""

    images: torch.Tensor  # (N, 3, S, S) float32 in [0, 1]
    captions: list[str]
    tokens: torch.Tensor  # (N, T) int64, padded with 0
    labels: dict[str, torch.Tensor]  # "color", "shape" (and "size" for several sizes): (N,) int64
    shapes: tuple[str, ...]  # what labels["shape"] indexes
    vocab: Vocab
    sizes: tuple[str, ...] = ("large",)  # what labels["size"] indexes, when there are several

    def __len__(self) -> int:
        return len(self.captions)


def make_generation_data(n: int, *, image_size: int = 16, placement: str = "center",
                         shapes: Sequence[str] = ("circle", "square", "triangle"),
                         size: str | Sequence[str] = "large", seed: int = 0, noise: float = 0.02,
                         max_len: int = 12) -> GenerationData:
    """``n`` ShapesWorld scenes of one shape each, of one ``size`` or several, with their captions.

    ``placement="center"``: the shape sits within 0.1 (image units, [-1, 1] across) of the
    centre; ``"free"``: ShapesWorld's own left / centre / right and upper / lower positions.
    Colours are all six; ``shapes`` is a subset of SHAPES (the labels index it). Captions
    come from ShapesWorld's templates (size and position words stay true). ``size`` is one
    of SIZES, or several (e.g. ``("medium", "large")``): then each scene draws one uniformly and
    ``labels["size"]`` indexes that list.
    """
    n = check_int("n", n, min=1)
    check_choice("placement", placement, ("center", "free"))
    check_type("shapes", shapes, (list, tuple), "a list of shape names")
    if not shapes or len(set(shapes)) != len(shapes):
        raise ValueError(f"shapes must name at least one shape, without repeats, got {shapes!r}")
    for s in shapes:
        check_choice("shapes", s, SHAPES)
    if isinstance(size, str):
        sizes: tuple[str, ...] = (size,)
    else:
        sizes = tuple(check_type("size", size, (list, tuple), "a size name or a list of size names"))
    if not sizes or len(set(sizes)) != len(sizes):
        raise ValueError(f"size must name at least one size, without repeats, got {size!r}")
    size_ids = np.array([SIZES.index(check_choice("size", z, SIZES)) for z in sizes])
    rng = np.random.default_rng(check_int("seed", seed, min=0))
    excluded = [(c, s) for c in COLOR_NAMES for s in SHAPES if s not in shapes]
    scenes = sample_scenes(n, rng, split="train" if excluded else "all", heldout_pairs=excluded or HELDOUT_PAIRS)
    size_label = rng.integers(0, len(sizes), n) if len(sizes) > 1 else np.zeros(n, dtype=np.int64)
    scenes = dataclasses.replace(scenes, size=size_ids[size_label])
    if placement == "center":
        scenes = dataclasses.replace(scenes, position=np.full(n, 1), cx=rng.uniform(-0.1, 0.1, n),
                                     cy=rng.uniform(-0.1, 0.1, n))
    gen = torch_generator(np.random.SeedSequence(seed))
    images = render_images(scenes, image_size, noise=noise, generator=gen)
    captions, _ = write_captions(scenes, rng)
    vocab = shapesworld_vocab()
    tokens, _ = vocab.encode(captions, max_len=max_len)
    shape_ids = torch.as_tensor([shapes.index(SHAPES[s]) for s in scenes.shape.tolist()])
    labels = {"color": torch.as_tensor(scenes.color, dtype=torch.long), "shape": shape_ids}
    if len(sizes) > 1:
        labels["size"] = torch.as_tensor(size_label, dtype=torch.long)
    return GenerationData(images, captions, tokens, labels, tuple(shapes), vocab, sizes)


def load_captioned_images(root: str | os.PathLike, captions_file: str = "captions.txt", images_dir: str = "Images",
                          *, image_size: int = 32, max_images: int | None = None) -> tuple[torch.Tensor, list[str]]:
    """A captioned image folder in the Flickr8k layout: ``root/captions_file`` and ``root/images_dir/``.

    The caption file is read by `mmtutorial.clip.read_caption_file` (the Kaggle CSV
    ``image,caption`` or the original ``image#k<TAB>caption``); each image keeps its first
    caption. Returns images (N, 3, S, S) in [0, 1] and N captions.
    """
    root = os.fspath(check_path("root", root))
    if not os.path.isdir(root):
        raise ValueError(f"root must be a folder, there is no {root!r}")
    captions = read_caption_file(os.path.join(root, captions_file), limit=max_images)
    names = list(captions)
    images = read_images(os.path.join(root, images_dir), names, image_size)
    return images, [captions[name][0] for name in names]
