"""Tests for the conditional VAE of the chapter *Generating and editing images from text* (mmtutorial.vae)."""

import pytest
import torch

from mmtutorial.vae import CVAE, cvae_loss
from gradients import assert_every_parameter_gets_a_gradient


def test_cvae_shapes_gradients_and_generation():
    torch.manual_seed(0)
    model = CVAE(12, image_size=4, hidden=16, latent_dim=3, emb_dim=5)
    x, tok = torch.randn(6, 3, 4, 4), torch.randint(1, 12, (6, 4))
    recon, mu, logvar = model(x, tok)
    assert recon.shape == x.shape and mu.shape == logvar.shape == (6, 3)
    cvae_loss(recon, x, mu, logvar).backward()
    assert_every_parameter_gets_a_gradient(model)
    assert model.generate(tok).shape == (6, 3, 4, 4)


def test_cvae_loss_is_the_negative_elbo():
    x = torch.zeros(2, 1, 2, 2)
    recon = torch.full((2, 1, 2, 2), 0.1)
    mu, logvar = torch.zeros(2, 3), torch.zeros(2, 3)
    # reconstruction: 4 pixels * 0.01 / (2 * 0.01) = 2; KL of N(0, I) to itself is 0
    torch.testing.assert_close(cvae_loss(recon, x, mu, logvar, sigma=0.1), torch.tensor(2.0))
    mu = torch.ones(2, 3)  # KL = 0.5 * 3 * 1 = 1.5
    torch.testing.assert_close(cvae_loss(x, x, mu, logvar), torch.tensor(1.5))


def test_cvae_checks():
    model = CVAE(12, image_size=4, hidden=8, latent_dim=2, emb_dim=4)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 3, 4, 4\)"):
        model(torch.zeros(2, 3, 5, 5), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="same batch size"):
        model(torch.zeros(2, 3, 4, 4), torch.ones(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="recon must have the shape"):
        cvae_loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 1), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="sigma"):
        cvae_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 1), torch.zeros(2, 1), sigma=0)
