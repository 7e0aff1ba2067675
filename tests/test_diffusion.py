"""Tests for text-to-image diffusion (chapter *Generating and editing images from text*):
mmtutorial.diffusion (schedules, the forward process, denoisers, samplers, guidance, editing,
the attribute classifier, the generation data and the captioned-image reader)."""

import math

import pytest
import torch
from PIL import Image

from mmtutorial.diffusion import (AttributeClassifier, MLPDenoiser, TextConditioner, UNet, alpha_bars,
                                  attribute_accuracy, cosine_alpha_bars, ddim_sample, ddpm_sample, diffusion_loss,
                                  guided_eps, linear_betas, load_captioned_images, make_generation_data, q_sample,
                                  sdedit, timestep_embedding)
from gradients import assert_every_parameter_gets_a_gradient

T = 50


@pytest.fixture(scope="module")
def abar():
    return alpha_bars(linear_betas(T, 1e-3, 0.2))


@pytest.fixture(scope="module")
def data():
    return make_generation_data(12, image_size=8, seed=0)


class PointMass(torch.nn.Module):
    """The exact noise predictor when every image equals ``c``: eps = (x_t - sqrt(abar_t) c) / sqrt(1 - abar_t)."""

    def __init__(self, abar, c):
        super().__init__()
        self.abar, self.c = abar, c

    def forward(self, x, t, tokens):
        a = self.abar[t].view(-1, 1, 1, 1)
        return (x - a.sqrt() * self.c) / (1 - a).sqrt()


# ----- schedules and the forward process -------------------------------------------------------------
def test_schedules_decrease_from_one_to_zero(abar):
    assert abar.shape == (T,) and torch.all(abar[1:] < abar[:-1])
    assert math.isclose(float(abar[0]), 1 - 1e-3, rel_tol=1e-6)
    cos = cosine_alpha_bars(1000)
    assert cos[0] > 0.999 and cos[-1] < 1e-6 and torch.all(cos[1:] < cos[:-1])


def test_q_sample_matches_stepwise_noising(abar):
    torch.manual_seed(0)
    betas = 1 - abar / torch.cat([torch.ones(1), abar[:-1]])
    x0 = torch.full((20_000, 1), 0.7)
    x = x0.clone()
    for b in betas[:30]:
        x = (1 - b).sqrt() * x + b.sqrt() * torch.randn_like(x)
    t = torch.full((20_000,), 29)
    y = q_sample(x0, t, torch.randn_like(x0), abar)
    for z in (x, y):
        assert abs(float(z.mean()) - 0.7 * float(abar[29].sqrt())) < 0.02
        assert abs(float(z.std()) - float((1 - abar[29]).sqrt())) < 0.02


def test_schedule_and_q_sample_checks(abar):
    with pytest.raises(ValueError, match="beta_end"):
        linear_betas(10, 0.1, 0.01)
    with pytest.raises(ValueError, match="betas must lie"):
        alpha_bars(torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="noise must have the shape"):
        q_sample(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), torch.zeros(2, 4), abar)
    with pytest.raises(ValueError, match="one step per image"):
        q_sample(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long), torch.zeros(2, 3), abar)
    with pytest.raises(TypeError, match="t must be an integer"):
        q_sample(torch.zeros(2, 3), torch.zeros(2), torch.zeros(2, 3), abar)
    with pytest.raises(ValueError, match="dim must be even"):
        timestep_embedding(torch.zeros(2, dtype=torch.long), 5)


def test_timestep_embedding_shape_and_values():
    e = timestep_embedding(torch.tensor([0, 3]), 8)
    assert e.shape == (2, 8)
    torch.testing.assert_close(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))


# ----- denoisers ---------------------------------------------------------------------------------------
def test_mlp_denoiser_shapes_gradients_and_residual(abar, data):
    torch.manual_seed(0)
    model = MLPDenoiser(abar, len(data.vocab), image_size=8, hidden=32, depth=2, emb_dim=16)
    x, t = torch.randn(4, 3, 8, 8), torch.tensor([0, 10, 20, 49])
    out = model(x, t, data.tokens[:4])
    assert out.shape == x.shape
    out.pow(2).mean().backward()
    assert_every_parameter_gets_a_gradient(model)
    # the global residual with mean 0 and var 1 is sqrt(1 - abar_t) x_t
    torch.testing.assert_close(model.linear_guess(x, t), (1 - abar[t]).sqrt().view(-1, 1, 1, 1) * x)
    plain = MLPDenoiser(abar, len(data.vocab), image_size=8, hidden=32, depth=2, emb_dim=16, residual=False)
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        diff = model(x, t, data.tokens[:4]) - plain(x, t, data.tokens[:4])
        torch.testing.assert_close(diff, model.linear_guess(x, t))


def test_mlp_denoiser_residual_with_data_statistics(abar):
    mean, var = torch.rand(3, 4, 4), torch.rand(3, 4, 4) + 0.1
    model = MLPDenoiser(abar, 10, image_size=4, hidden=8, depth=1, emb_dim=4, mean=mean, var=var)
    x, t = torch.randn(2, 3, 4, 4), torch.tensor([5, 40])
    a = abar[t].view(-1, 1, 1, 1)
    torch.testing.assert_close(model.linear_guess(x, t), (1 - a).sqrt() * (x - a.sqrt() * mean) / (a * var + 1 - a))
    with pytest.raises(ValueError, match="var must be positive"):
        MLPDenoiser(abar, 10, image_size=4, var=torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="mean must be a number or a tensor of shape"):
        MLPDenoiser(abar, 10, image_size=4, mean=torch.zeros(3, 5, 5))


def test_unet_shapes_and_gradients(data):
    torch.manual_seed(0)
    model = UNet(len(data.vocab), image_size=8, width=8, emb_dim=16)
    x = torch.randn(3, 3, 8, 8)
    out = model(x, torch.tensor([1, 2, 3]), data.tokens[:3])
    assert out.shape == x.shape
    out.pow(2).mean().backward()
    assert_every_parameter_gets_a_gradient(model)
    with pytest.raises(ValueError, match="image_size must be even"):
        UNet(10, image_size=7)


def test_denoiser_input_checks(abar, data):
    model = MLPDenoiser(abar, len(data.vocab), image_size=8, hidden=8, depth=1, emb_dim=4)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3, 8, 8\)"):
        model(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), data.tokens[:2])
    with pytest.raises(ValueError, match="same batch size"):
        model(torch.zeros(2, 3, 8, 8), torch.zeros(3, dtype=torch.long), data.tokens[:2])
    with pytest.raises(TypeError, match="tokens must be an integer"):
        model(torch.zeros(2, 3, 8, 8), torch.zeros(2, dtype=torch.long), torch.zeros(2, 4))


def test_text_conditioner_null_caption_is_the_bias():
    cond = TextConditioner(10, 6)
    torch.testing.assert_close(cond(torch.zeros(2, 5, dtype=torch.long)), cond.proj.bias.expand(2, 6))


def test_diffusion_loss_is_scalar_and_reaches_every_parameter(abar, data):
    torch.manual_seed(0)
    model = MLPDenoiser(abar, len(data.vocab), image_size=8, hidden=16, depth=1, emb_dim=8)
    loss = diffusion_loss(model, data.images * 2 - 1, data.tokens, abar, p_uncond=0.0)
    assert loss.ndim == 0 and loss > 0
    loss.backward()
    assert_every_parameter_gets_a_gradient(model)
    with pytest.raises(ValueError, match="p_uncond"):
        diffusion_loss(model, data.images, data.tokens, abar, p_uncond=1.5)


# ----- sampling ----------------------------------------------------------------------------------------
def test_guidance_formula(abar, data):
    torch.manual_seed(0)
    model = MLPDenoiser(abar, len(data.vocab), image_size=8, hidden=16, depth=1, emb_dim=8)
    x, t, tok = torch.randn(4, 3, 8, 8), torch.tensor([3, 4, 5, 6]), data.tokens[:4]
    with torch.no_grad():
        eps_c, eps_u = model(x, t, tok), model(x, t, torch.zeros_like(tok))
        torch.testing.assert_close(guided_eps(model, x, t, tok, 0.0), eps_u)
        torch.testing.assert_close(guided_eps(model, x, t, tok, 1.0), eps_c)
        torch.testing.assert_close(guided_eps(model, x, t, tok, 3.0), eps_u + 3 * (eps_c - eps_u))
    with pytest.raises(ValueError, match="guidance"):
        guided_eps(model, x, t, tok, -1.0)


def test_samplers_recover_a_point_mass(abar):
    c = torch.rand(3, 4, 4) * 2 - 1
    oracle = PointMass(abar, c)
    tok = torch.ones(5, 2, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    for out in (ddim_sample(oracle, abar, tok, (5, 3, 4, 4), steps=7, generator=g),
                ddim_sample(oracle, abar, tok, (5, 3, 4, 4), steps=7, eta=1.0, generator=g),
                ddpm_sample(oracle, abar, tok, (5, 3, 4, 4), generator=g)):
        torch.testing.assert_close(out, c.expand(5, 3, 4, 4), atol=1e-4, rtol=1e-4)


def test_ddim_with_eta_one_and_every_step_is_ddpm(abar):
    torch.manual_seed(0)
    model = lambda x, t, tok: 0.3 * x + 0.1  # noqa: E731  any deterministic predictor
    tok = torch.ones(4, 2, dtype=torch.long)
    x_T = torch.randn(4, 3, 4, 4)
    a = ddpm_sample(model, abar, tok, (4, 3, 4, 4), x_T=x_T, generator=torch.Generator().manual_seed(1), clip=False)
    b = ddim_sample(model, abar, tok, (4, 3, 4, 4), steps=T, eta=1.0, x_T=x_T,
                    generator=torch.Generator().manual_seed(1), clip=False)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_sdedit_keeps_the_image_at_small_strength_and_checks(abar):
    c = torch.rand(3, 4, 4) * 2 - 1
    oracle = PointMass(abar, c)
    images = c.expand(2, 3, 4, 4).clone()
    out = sdedit(oracle, abar, images, torch.ones(2, 2, dtype=torch.long), strength=0.5, steps=5,
                 generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, images, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="strength"):
        sdedit(oracle, abar, images, torch.ones(2, 2, dtype=torch.long), strength=0.0)
    with pytest.raises(ValueError, match="x_T must have shape"):
        ddim_sample(oracle, abar, torch.ones(2, 2, dtype=torch.long), (2, 3, 4, 4), x_T=torch.zeros(2, 3, 5, 5))
    with pytest.raises(ValueError, match="t_start"):
        ddim_sample(oracle, abar, torch.ones(2, 2, dtype=torch.long), (2, 3, 4, 4), t_start=T)


# ----- classifier and data ---------------------------------------------------------------------------------
def test_attribute_classifier_heads(data):
    clf = AttributeClassifier({"color": 6, "shape": 3}, image_size=8, channels=(4, 8))
    out = clf(data.images)
    assert {k: v.shape for k, v in out.items()} == {"color": (12, 6), "shape": (12, 3)}
    sum(v.sum() for v in out.values()).backward()
    assert_every_parameter_gets_a_gradient(clf)
    with pytest.raises(ValueError, match="at least one attribute"):
        AttributeClassifier({})


def test_make_generation_data(data):
    assert data.images.shape == (12, 3, 8, 8) and data.tokens.shape[0] == 12
    assert set(data.labels["shape"].tolist()) <= {0, 1, 2} and data.shapes == ("circle", "square", "triangle")
    words = {0: ("red", "crimson", "scarlet"), 2: ("blue", "azure", "navy")}
    for caption, c in zip(data.captions, data.labels["color"].tolist()):
        assert c not in words or any(w in caption.split() for w in words[c]), caption
    free = make_generation_data(200, image_size=16, placement="free", shapes=("cross",), seed=1)
    assert set(free.labels["shape"].tolist()) == {0}
    assert all("cross" in caption or "plus" in caption for caption in free.captions)
    with pytest.raises(ValueError, match="placement"):
        make_generation_data(4, placement="corner")
    with pytest.raises(ValueError, match="shapes"):
        make_generation_data(4, shapes=("circle", "circle"))


def test_make_generation_data_with_several_sizes():
    one = make_generation_data(300, image_size=16, seed=5)
    assert "size" not in one.labels and one.sizes == ("large",)
    torch.testing.assert_close(one.images, make_generation_data(300, image_size=16, size="large", seed=5).images)
    two = make_generation_data(300, image_size=16, size=("medium", "large"), seed=5)
    assert two.sizes == ("medium", "large") and set(two.labels["size"].tolist()) == {0, 1}
    # a large shape covers more pixels than a medium one (the background is grey, the shape saturated)
    ink = (two.images.std(1) > 0.1).float().mean((1, 2))                       # (N,) share of coloured pixels
    assert ink[two.labels["size"] == 1].mean() > 1.3 * ink[two.labels["size"] == 0].mean()
    words = {0: ("medium", "medium-sized", "average"), 1: ("large", "big", "huge")}
    for caption, z in zip(two.captions, two.labels["size"].tolist()):  # a named size is the right one
        named = [k for k, ws in words.items() if any(w in caption.split() for w in ws)]
        assert named in ([], [z]), caption
    with pytest.raises(ValueError, match="size"):
        make_generation_data(4, size=("large", "large"))
    with pytest.raises(ValueError, match="size"):
        make_generation_data(4, size="enormous")
    with pytest.raises(TypeError, match="size"):
        make_generation_data(4, size={"large"})


def test_load_captioned_images_reads_a_flickr_style_folder(tmp_path):
    (tmp_path / "Images").mkdir()
    for name, color in (("a.jpg", (255, 0, 0)), ("b.jpg", (0, 0, 255))):
        Image.new("RGB", (20, 10), color).save(tmp_path / "Images" / name)
    (tmp_path / "captions.txt").write_text(
        'image,caption\na.jpg,"a red wall, bright"\na.jpg,a red thing\nb.jpg,a blue sky\n', encoding="utf-8")
    images, captions = load_captioned_images(tmp_path, image_size=8)
    assert images.shape == (2, 3, 8, 8) and captions == ["a red wall, bright", "a blue sky"]
    assert images[0, 0].mean() > 0.9 and images[1, 2].mean() > 0.9
    images, captions = load_captioned_images(tmp_path, image_size=8, max_images=1)
    assert len(images) == 1
    with pytest.raises(ValueError, match="root must be a folder"):
        load_captioned_images(tmp_path / "missing")


def test_x0_prediction_is_consistent_with_the_noise_it_returns(abar, data):
    torch.manual_seed(0)
    mean, var = torch.rand(3, 8, 8), torch.rand(3, 8, 8) + 0.1
    model = MLPDenoiser(abar, len(data.vocab), image_size=8, hidden=16, depth=1, emb_dim=8, mean=mean, var=var,
                        predict="x0")
    x, t, tok = torch.randn(4, 3, 8, 8), torch.tensor([0, 10, 30, 49]), data.tokens[:4]
    a = abar[t].view(-1, 1, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(a.sqrt() * model.predict_x0(x, t, tok) + (1 - a).sqrt() * model(x, t, tok), x,
                                   atol=1e-4, rtol=1e-4)
        # with the correction zeroed, x0_hat is the linear (Wiener) guess
        model.out.weight.zero_(), model.out.bias.zero_()
        torch.testing.assert_close(model.predict_x0(x, t, tok), mean + a.sqrt() * var * (x - a.sqrt() * mean)
                                   / (a * var + 1 - a))
    loss = diffusion_loss(model, data.images[:4] * 2 - 1, tok, abar, target="x0")
    assert loss.ndim == 0
    with pytest.raises(TypeError, match="predict_x0"):
        diffusion_loss(UNet(len(data.vocab), image_size=8, width=8, emb_dim=8), data.images[:4], tok, abar, target="x0")
    with pytest.raises(ValueError, match="predict"):
        MLPDenoiser(abar, 10, image_size=8, predict="v")


def test_attribute_accuracy_counts_matches():
    class Fixed(torch.nn.Module):
        def forward(self, images):
            return {"color": torch.eye(3)[[0, 1, 2, 0]], "shape": torch.eye(2)[[1, 1, 1, 1]]}

    acc = attribute_accuracy(Fixed(), torch.zeros(4, 3, 2, 2),
                             {"color": torch.tensor([0, 1, 0, 0]), "shape": torch.tensor([1, 0, 1, 1])})
    assert acc == {"color": 0.75, "shape": 0.75}
    with pytest.raises(ValueError, match="one label per image"):
        attribute_accuracy(Fixed(), torch.zeros(4, 3, 2, 2), {"color": torch.tensor([0, 1])})
