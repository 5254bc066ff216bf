"""Tests of lessons_lib.gan: shapes, ranges, seeds, labels, losses, measures, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch.nn import functional as F

from lessons_lib import gan
from lessons_lib.data import ring_centers
from lessons_lib.gan import (
    GAN,
    ImageTranslator,
    corrupt_images,
    interpolate_latents,
    kde_log_density,
    mixture_log_density,
    mode_counts,
    mode_coverage,
    optimal_discriminator,
    train_gan,
    train_translator,
    within_class_diversity,
)

CPU = "cpu"


def _gaussian_blob(n: int, center=(2.0, 2.0), std: float = 0.1, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.tensor(center) + std * torch.randn(n, 2, generator=gen)


def _train_tiny_gan(**settings):
    """``train_gan`` of an 8-unit GAN on 8 points, one epoch unless ``settings`` say more."""
    settings = {"epochs": 1, "progress": False, **settings}
    return train_gan(GAN((2,), 2, width=8), _gaussian_blob(8), **settings)


def _train_tiny_translator(side: int, n: int, **settings):
    """``train_translator`` of a 4-channel translator on ``n`` random ``side``² image pairs."""
    images = (torch.rand(n, 1, side, side), torch.rand(n, 1, side, side))
    return train_translator(ImageTranslator((1, side, side), width=4), *images, **settings)


# --------------------------------------------------------------------------- the model


@pytest.mark.parametrize(
    ("shape", "arch", "n_classes"),
    [
        ((2,), "mlp", None),
        ((2,), "mlp", 3),
        ((1, 8, 8), "mlp", None),
        ((1, 8, 8), "dcgan", 10),
        ((1, 28, 28), "dcgan", None),
        ((3, 16, 16), "dcgan", 4),
    ],
)
def test_sample_shapes_and_ranges(shape, arch, n_classes):
    model = GAN(shape, latent_dim=6, n_classes=n_classes, arch=arch, width=8, seed=0)
    samples = model.sample(5, seed=1)
    assert samples.shape == (5, *shape)
    assert samples.dtype == torch.float32
    assert torch.isfinite(samples).all()
    if len(shape) == 3:  # images live in [0, 1]
        assert samples.min() >= 0 and samples.max() <= 1
    logits = model.discriminate(samples, labels=0 if n_classes else None)
    assert logits.shape == (5,)


def test_points_are_unbounded_and_images_bounded_by_default():
    assert not GAN((2,), 4).bounded
    assert GAN((1, 8, 8), 4).bounded
    model = GAN((2,), 4, width=8, seed=0)
    with torch.no_grad():
        model.generator.body[-1].bias.fill_(5.0)  # push outputs far beyond [0, 1]
    assert model.sample(10, seed=0).min() > 1.0


def test_same_seed_same_weights_and_samples():
    a = GAN((1, 8, 8), 8, n_classes=10, arch="dcgan", width=8, seed=3)
    b = GAN((1, 8, 8), 8, n_classes=10, arch="dcgan", width=8, seed=3)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert torch.equal(a.sample(6, seed=4), b.sample(6, seed=4))
    assert not torch.equal(a.sample(6, seed=4), a.sample(6, seed=5))
    c = GAN((1, 8, 8), 8, n_classes=10, arch="dcgan", width=8, seed=4)
    assert not torch.equal(a.sample(6, seed=4), c.sample(6, seed=4))


def test_init_seed_leaves_global_state_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    GAN((2,), 4, seed=123)
    assert torch.equal(torch.rand(3), expected)


def test_sample_does_not_change_training_mode():
    model = GAN((1, 8, 8), 4, arch="dcgan", width=8, seed=0)
    model.train()
    model.sample(3, seed=0)
    assert model.training
    model.eval()
    model.sample(3, seed=0)
    assert not model.training


def test_truncation_limits_latents_and_keeps_seed_determinism():
    model = GAN((2,), latent_dim=16, width=8, seed=0)
    z = model.latent(500, seed=1, truncation=0.5)
    assert z.abs().max() <= 0.5
    assert torch.equal(z, model.latent(500, seed=1, truncation=0.5))
    free = model.latent(500, seed=1)
    assert free.abs().max() > 2.0  # untruncated draws do leave the interval
    assert z.std() < free.std()
    samples = model.sample(7, seed=2, truncation=1.0)
    assert samples.shape == (7, 2)


def test_conditional_labels_forms():
    model = GAN((1, 8, 8), 4, n_classes=10, arch="dcgan", width=8, seed=0)
    one = model.sample(4, labels=7, seed=0)
    same = model.sample(4, labels=torch.full((4,), 7), seed=0)
    assert torch.equal(one, same)
    assert torch.equal(same, model.sample(4, labels=np.full(4, 7), seed=0))
    other = model.sample(4, labels=3, seed=0)
    assert not torch.equal(one, other)  # the label changes the image for the same z
    z = model.latent(4, seed=0)
    assert torch.equal(model.generate(z, 7), one)


def test_class_embedding_blends_between_classes():
    model = GAN((1, 8, 8), 4, n_classes=10, arch="dcgan", width=8, seed=0)
    z = model.latent(3, seed=0)
    e = model.class_embedding(torch.tensor([2, 2, 5]))
    assert e.shape == (3, 4)
    assert torch.equal(model.generate(z, embedding=e), model.generate(z, torch.tensor([2, 2, 5])))
    with pytest.raises(ValueError, match="embedding"):
        model.generate(z, 2, embedding=e)
    with pytest.raises(ValueError, match="not conditional"):
        GAN((2,), 4).class_embedding(torch.tensor([0]))


def test_pacgan_packs_samples_for_the_discriminator():
    model = GAN((2,), latent_dim=2, width=8, pack=4, seed=0)
    assert model.discriminate(torch.zeros(8, 2)).shape == (2,)  # one logit per pack
    with pytest.raises(ValueError, match="packs"):
        model.discriminate(torch.zeros(6, 2))
    history = train_gan(model, _gaussian_blob(64), epochs=2, batch_size=16, progress=False)
    assert np.isfinite(history["d_loss"]).all()
    with pytest.raises(ValueError, match="multiple"):
        train_gan(model, _gaussian_blob(64), epochs=1, batch_size=18, progress=False)
    with pytest.raises(ValueError, match="pack"):
        GAN((1, 8, 8), 4, arch="dcgan", pack=2)
    with pytest.raises(ValueError, match="pack"):
        GAN((2,), 4, n_classes=3, pack=2)


def test_gradient_penalty_can_join_any_loss():
    model = GAN((2,), latent_dim=2, width=8, seed=0)
    history = train_gan(
        model, _gaussian_blob(64), epochs=2, loss="hinge", gp_weight=1.0, progress=False
    )
    assert "grad_penalty" in history
    plain = train_gan(GAN((2,), 2, width=8, seed=0), _gaussian_blob(64), epochs=1, progress=False)
    assert "grad_penalty" not in plain


def test_conditional_gan_honours_labels():
    """Class 0 lives at (-2, 0), class 1 at (+2, 0): samples must follow the asked class."""
    n = 1024
    labels = torch.arange(n) % 2
    points = torch.stack([4.0 * labels - 2.0, torch.zeros(n)], dim=1)
    points = points + 0.1 * torch.randn(n, 2, generator=torch.Generator().manual_seed(0))
    model = GAN((2,), latent_dim=2, n_classes=2, width=32, seed=0)
    train_gan(model, points, labels=labels, epochs=40, seed=0, device=CPU, progress=False)
    left = model.sample(200, labels=0, seed=1)
    right = model.sample(200, labels=1, seed=1)
    assert (left[:, 0] < 0).float().mean() > 0.95
    assert (right[:, 0] > 0).float().mean() > 0.95
    mixed = model.sample(400, seed=2)  # labels=None: both classes appear
    assert 0.2 < (mixed[:, 0] > 0).float().mean() < 0.8


# --------------------------------------------------------------------------- losses


def test_loss_formulas_match_their_definitions():
    real = torch.tensor([2.0, -1.0, 0.5])
    fake = torch.tensor([-3.0, 0.2, 1.0])
    ones, zeros = torch.ones(3), torch.zeros(3)
    bce = F.binary_cross_entropy_with_logits
    d_ref = bce(real, ones) + bce(fake, zeros)
    for loss in ("minimax", "non-saturating"):
        assert torch.allclose(gan._discriminator_loss(loss, real, fake), d_ref)
    d_fake = torch.sigmoid(fake)
    assert torch.allclose(gan._generator_loss("minimax", fake), torch.log(1 - d_fake).mean())
    assert torch.allclose(gan._generator_loss("non-saturating", fake), -torch.log(d_fake).mean())
    hinge = torch.clamp(1 - real, min=0).mean() + torch.clamp(1 + fake, min=0).mean()
    assert torch.allclose(gan._discriminator_loss("hinge", real, fake), hinge)
    assert torch.allclose(gan._discriminator_loss("wgan-gp", real, fake), fake.mean() - real.mean())
    assert torch.allclose(gan._generator_loss("hinge", fake), -fake.mean())


def test_minimax_saturates_where_non_saturating_does_not():
    """When D confidently rejects a fake (logit -8), log(1 - D) has almost no gradient."""
    logit = torch.tensor([-8.0], requires_grad=True)
    (g_minimax,) = torch.autograd.grad(gan._generator_loss("minimax", logit), logit)
    (g_ns,) = torch.autograd.grad(gan._generator_loss("non-saturating", logit), logit)
    assert abs(float(g_minimax)) < 1e-3 < 0.9 < abs(float(g_ns))


def test_gradient_penalty_is_zero_for_unit_slope_critic():
    class Slope(torch.nn.Module):
        def forward(self, x, labels=None):
            return x[:, 0] * 1.0 + x[:, 1] * 0.0  # gradient (1, 0) everywhere: norm 1

    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    assert float(gan._gradient_penalty(Slope(), real, fake, None)) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("loss", gan.LOSSES)
def test_each_loss_moves_the_generator_onto_the_data(loss):
    data = _gaussian_blob(512, center=(2.0, 2.0))
    model = GAN((2,), latent_dim=2, width=32, seed=0)
    before = float((model.sample(256, seed=0).mean(0) - 2.0).norm())
    # WGAN-GP makes 5 critic steps per generator step: give it fewer, larger ones
    d_steps = 2 if loss == "wgan-gp" else None
    history = train_gan(
        model,
        data,
        epochs=25,
        loss=loss,
        batch_size=64,
        d_steps=d_steps,
        seed=0,
        device=CPU,
        progress=False,
    )
    after = float((model.sample(256, seed=0).mean(0) - 2.0).norm())
    assert before > 2.0 and after < 0.5 * before, (loss, before, after)
    expected = {"d_loss", "g_loss", "d_real", "d_fake", "epoch_seconds"}
    if loss == "wgan-gp":
        expected.add("grad_penalty")
    assert set(history) == expected
    assert all(len(v) == 25 and np.isfinite(v).all() for v in history.values())
    if loss in ("minimax", "non-saturating"):  # D outputs are probabilities
        assert all(0 <= v <= 1 for v in history["d_real"] + history["d_fake"])
        assert history["d_loss"][-1] < 2 * math.log(2) + 0.3  # near or below chance level


def test_training_is_reproducible_with_a_seed():
    data = _gaussian_blob(256)
    runs = []
    for _ in range(2):
        model = GAN((2,), latent_dim=2, width=16, seed=0)
        history = train_gan(model, data, epochs=3, seed=7, device=CPU, progress=False)
        runs.append((history["g_loss"], model.sample(5, seed=0)))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])


def test_default_epochs_follow_the_recommended_number_of_steps():
    steps = gan.recommended_settings("dcgan", "non-saturating")["steps"]
    digits = GAN((1, 8, 8), 32, n_classes=10, arch="dcgan")
    assert gan.recommended_epochs(digits, 1259) == math.ceil(steps / (1259 // 64))
    assert gan.recommended_epochs(digits, 10, batch_size=64) == steps  # one batch per epoch
    points = GAN((2,), 4)
    settings_ = gan.recommended_settings("mlp", "wgan-gp")
    assert settings_["d_steps"] == 5 and settings_["betas"] == (0.5, 0.9)
    assert gan.recommended_epochs(points, 256 * 30, "wgan-gp") == math.ceil(settings_["steps"] / 30)
    with pytest.raises(ValueError, match="loss"):
        gan.recommended_settings("mlp", "wasserstein")


def test_on_epoch_end_sees_every_epoch():
    seen = []
    model = GAN((2,), latent_dim=2, width=8, seed=0)
    train_gan(
        model,
        _gaussian_blob(64),
        epochs=3,
        device=CPU,
        progress=False,
        on_epoch_end=lambda epoch, history: seen.append((epoch, len(history["d_loss"]))),
    )
    assert seen == [(0, 1), (1, 2), (2, 3)]


def test_dcgan_step_runs_with_wgan_gp_and_conditional_labels():
    images = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(32) % 10
    model = GAN((1, 8, 8), 8, n_classes=10, arch="dcgan", width=8, seed=0)
    history = train_gan(
        model, images, labels, epochs=1, loss="wgan-gp", batch_size=16, device=CPU, progress=False
    )
    assert history["grad_penalty"][0] >= 0


def test_minibatch_std_exposes_a_collapsed_batch():
    layer = gan.MinibatchStd()
    same = torch.ones(4, 3, 2, 2)
    varied = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    assert layer(same).shape == (4, 4, 2, 2)
    assert float(layer(same)[0, -1, 0, 0]) == 0.0
    assert float(layer(varied)[0, -1, 0, 0]) > 0.3


# --------------------------------------------------------------------------- 2-D measures


def test_mode_coverage_known_answer():
    centers = ring_centers(8)
    std = 0.02
    # 300 exact hits on each of modes 0..6, 19 on mode 7 (below the 20 needed), 381 far away
    points = [centers[k].repeat(300, 1) for k in range(7)]
    points += [centers[7].repeat(19, 1), torch.zeros(381, 2)]
    samples = torch.cat(points)
    assert len(samples) == 2500
    covered, quality = mode_coverage(samples, centers, std)
    assert covered == 7
    assert quality == pytest.approx((2100 + 19) / 2500)
    assert mode_counts(samples, centers, std).tolist() == [300] * 7 + [19]
    assert mode_coverage(samples, centers, std, min_count=19)[0] == 8


def test_mode_coverage_three_std_boundary_and_scaling():
    centers = np.array([[0.0, 0.0], [10.0, 0.0]])
    inside = np.array([[0.0, 2.9]] * 10)  # 2.9 std away with std = 1
    outside = np.array([[0.0, 3.1]] * 10)
    assert mode_coverage(np.vstack([inside, outside]), centers, 1.0) == (1, 0.5)
    # 250 samples: the 20-per-2,500 rule asks for 2 high-quality samples per mode
    one_hit = np.vstack([[[10.0, 0.0]], np.zeros((249, 2))])
    assert mode_coverage(one_hit, centers, 1.0)[0] == 1
    two_hits = np.vstack([[[10.0, 0.0]] * 2, np.zeros((248, 2))])
    assert mode_coverage(two_hits, centers, 1.0)[0] == 2


def test_mode_coverage_of_real_ring_data_is_perfect():
    from lessons_lib.data import make_ring

    points, _ = make_ring(2500, seed=0, device=CPU)
    covered, quality = mode_coverage(points, ring_centers(), 0.02)
    assert covered == 8
    assert quality > 0.98  # P(r < 3 std) = 1 - exp(-4.5) = 0.989 for a 2-D Gaussian


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.integers(0, 2**16))
def test_mode_coverage_bounds(n, seed):
    rng = np.random.default_rng(seed)
    samples = rng.normal(size=(n, 2)) * 2
    covered, quality = mode_coverage(samples, ring_centers(8).numpy(), 0.3)
    assert 0 <= covered <= 8 and 0.0 <= quality <= 1.0


def test_mixture_log_density_matches_scipy():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 2))
    weights = np.array([0.2, 0.5, 0.3])
    points = rng.normal(size=(50, 2)) * 2
    expected = np.log(
        sum(
            w * stats.multivariate_normal(c, 0.7**2 * np.eye(2)).pdf(points)
            for w, c in zip(weights, centers)
        )
    )
    got = mixture_log_density(points, centers, 0.7, weights)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    equal = mixture_log_density(torch.as_tensor(points), torch.as_tensor(centers), 0.7)
    assert isinstance(equal, torch.Tensor)


def test_kde_matches_scikit_learn():
    from sklearn.neighbors import KernelDensity

    rng = np.random.default_rng(1)
    samples = rng.normal(size=(200, 2))
    points = rng.normal(size=(30, 2))
    log_density = kde_log_density(samples, bandwidth=0.4)
    reference = KernelDensity(bandwidth=0.4).fit(samples).score_samples(points)
    np.testing.assert_allclose(log_density(points), reference, rtol=1e-8)
    scott = kde_log_density(samples)
    assert scott.bandwidth == pytest.approx(samples.std(axis=0).mean() * 200 ** (-1 / 6))


def test_optimal_discriminator_on_known_densities():
    points = np.linspace(-4, 4, 41)[:, None] * np.array([[1.0, 0.5]])
    p_data = stats.multivariate_normal([0, 0], np.eye(2)).pdf(points)
    p_g = stats.multivariate_normal([1, 0], np.eye(2)).pdf(points)
    d_star = optimal_discriminator(np.log(p_data), np.log(p_g))
    np.testing.assert_allclose(d_star, p_data / (p_data + p_g), rtol=1e-12)
    # equal densities: D* = 1/2 everywhere; swapping the roles gives 1 - D*
    np.testing.assert_allclose(optimal_discriminator(np.log(p_g), np.log(p_g)), 0.5)
    np.testing.assert_allclose(optimal_discriminator(np.log(p_g), np.log(p_data)), 1 - d_star)
    # far in the tails both densities underflow, the log form still answers
    tail = optimal_discriminator(np.array([-2000.0]), np.array([-2001.0]))
    assert tail[0] == pytest.approx(1 / (1 + math.exp(-1)))


def test_optimal_discriminator_value_is_jensen_shannon():
    """V(D*, G) = -log 4 + 2 JS(p_data, p_g), checked by quadrature on a 1-D grid."""
    x = np.linspace(-12, 12, 24001)[:, None]
    dx = x[1, 0] - x[0, 0]
    log_p = mixture_log_density(x, np.array([[0.0]]), 1.0)
    log_q = mixture_log_density(x, np.array([[-2.0], [2.0]]), 0.5)
    p, q = np.exp(log_p), np.exp(log_q)
    d_star = optimal_discriminator(log_p, log_q)
    log_sum = np.logaddexp(log_p, log_q)
    np.testing.assert_allclose(d_star, np.exp(log_p - log_sum), rtol=1e-12)
    # log D* and log(1 - D*) in log space: in the tails D* rounds to exactly 0 or 1
    value = np.sum(p * (log_p - log_sum) + q * (log_q - log_sum)) * dx
    m = 0.5 * (p + q)
    js = 0.5 * np.sum(p * np.log(p / m)) * dx + 0.5 * np.sum(q * np.log(q / m)) * dx
    assert value == pytest.approx(-math.log(4) + 2 * js, abs=1e-6)


# --------------------------------------------------------------------------- image helpers


def test_interpolate_latents_ends_and_norms():
    gen = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(64, generator=gen), torch.randn(64, generator=gen)
    z1 = z1 / z1.norm() * z0.norm()
    for method in ("slerp", "linear"):
        path = interpolate_latents(z0, z1, 9, method=method)
        assert path.shape == (9, 64)
        assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    slerp_norms = interpolate_latents(z0, z1, 9).norm(dim=1)
    assert torch.allclose(slerp_norms, z0.norm().expand(9), rtol=1e-4)
    linear_mid = interpolate_latents(z0, z1, 9, method="linear")[4].norm()
    assert linear_mid < 0.85 * z0.norm()  # nearly orthogonal ends: the chord dips inside


def test_within_class_diversity_known_value():
    images = np.zeros((4, 1, 1, 2), dtype=np.float32)
    images[1, 0, 0] = [3.0, 4.0]  # class 0: distance 5
    images[3, 0, 0] = [1.0, 0.0]  # class 1: distance 1
    labels = np.array([0, 0, 1, 1])
    assert within_class_diversity(images, labels) == pytest.approx(3.0)
    assert within_class_diversity(np.repeat(images[:1], 4, 0), labels) == 0.0
    with pytest.raises(ValueError, match="two images"):
        within_class_diversity(images[:2], np.array([0, 1]))


def test_corrupt_images():
    images = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    masked = corrupt_images(images, "mask")
    assert torch.equal(masked[:, :, :4], images[:, :, :4])
    assert (masked[:, :, 4:] == 0).all()
    noisy = corrupt_images(images.numpy(), "noise", seed=1)
    assert isinstance(noisy, np.ndarray) and noisy.min() >= 0 and noisy.max() <= 1
    np.testing.assert_array_equal(noisy, corrupt_images(images.numpy(), "noise", seed=1))
    assert not np.array_equal(noisy, corrupt_images(images.numpy(), "noise", seed=2))
    assert torch.equal(images, torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28)])
def test_image_translator_shapes(shape):
    model = ImageTranslator(shape, width=4, seed=0)
    x = torch.rand(3, *shape)
    out = model.translate(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert model.patch_logits(x, out).shape == (3, 1, shape[1] // 2, shape[2] // 2)
    assert isinstance(model.translate(x.numpy()), np.ndarray)


def test_translator_l1_and_adversarial_training():
    images = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    inputs = corrupt_images(images, "noise", noise_std=0.1, seed=0)
    plain = ImageTranslator((1, 8, 8), width=8, seed=0)
    start = float((plain.translate(inputs) - images).abs().mean())
    history = train_translator(
        plain,
        inputs,
        images,
        epochs=20,
        adversarial=False,
        batch_size=16,
        lr=3e-3,
        seed=0,
        device=CPU,
        progress=False,
    )
    assert set(history) == {"l1", "epoch_seconds"}
    assert history["l1"][-1] < 0.5 * start
    adv = ImageTranslator((1, 8, 8), width=8, seed=0)
    history = train_translator(adv, inputs, images, epochs=2, seed=0, device=CPU, progress=False)
    assert {"l1", "g_adv", "d_loss", "d_real", "d_fake"} <= set(history)


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"data_shape": (1, 7, 7), "arch": "dcgan"}, ValueError, "even"),
        ({"data_shape": (2,), "arch": "dcgan"}, ValueError, "C, H, W"),
        ({"data_shape": (2,), "arch": "cnn"}, ValueError, "arch"),
        ({"data_shape": (2, 3)}, ValueError, "data_shape"),
        ({"data_shape": 2}, TypeError, "data_shape"),
        ({"data_shape": (2,), "latent_dim": 0}, ValueError, "latent_dim"),
        ({"data_shape": (2,), "n_classes": 1}, ValueError, "n_classes"),
    ],
)
def test_gan_bad_arguments(kwargs, error, match):
    kwargs = {"latent_dim": 4, **kwargs}
    with pytest.raises(error, match=match):
        GAN(**kwargs)


def test_bad_sampling_and_training_inputs():
    points = GAN((2,), 4, width=8)
    images = GAN((1, 8, 8), 4, n_classes=10, arch="dcgan", width=8)
    with pytest.raises(ValueError, match="labels"):
        points.sample(3, labels=1)
    with pytest.raises(ValueError, match="labels"):
        images.sample(3, labels=10)
    with pytest.raises(ValueError, match="labels"):
        images.sample(3, labels=torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="n"):
        images.sample(0)
    with pytest.raises(ValueError, match="truncation"):
        images.sample(3, truncation=-1.0)
    with pytest.raises(ValueError, match="loss"):
        train_gan(points, torch.zeros(8, 2), loss="lsgan", progress=False)
    with pytest.raises(ValueError, match="data"):
        train_gan(points, torch.zeros(8, 3), progress=False)
    with pytest.raises(ValueError, match="labels="):
        train_gan(images, torch.rand(8, 1, 8, 8), progress=False)
    with pytest.raises(ValueError, match="<= 1"):
        train_gan(images, 2 * torch.ones(8, 1, 8, 8), torch.zeros(8, dtype=torch.int64))
    with pytest.raises(ValueError, match="not conditional"):
        train_gan(points, torch.zeros(8, 2), labels=torch.zeros(8, dtype=torch.int64))
    with pytest.raises(TypeError, match="GAN"):
        train_gan(torch.nn.Linear(2, 2), torch.zeros(8, 2))
    with pytest.raises(ValueError, match="lr_d"):
        train_gan(points, torch.zeros(8, 2), lr_d=-1.0)


def test_bad_measure_inputs():
    centers = ring_centers(8)
    with pytest.raises(ValueError, match="std"):
        mode_coverage(torch.zeros(5, 2), centers, 0.0)
    with pytest.raises(ValueError, match="centers"):
        mode_coverage(torch.zeros(5, 2), torch.zeros(8, 3), 0.1)
    with pytest.raises(ValueError, match="samples"):
        mode_coverage(torch.zeros(5), centers, 0.1)
    with pytest.raises(ValueError, match="log_p_g"):
        optimal_discriminator(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="sum to 1"):
        mixture_log_density(np.zeros((2, 2)), np.zeros((2, 2)), 1.0, np.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="kind"):
        corrupt_images(torch.rand(2, 1, 8, 8), "blur")
    with pytest.raises(ValueError, match="pair up"):
        train_translator(ImageTranslator((1, 8, 8)), torch.rand(3, 1, 8, 8), torch.rand(4, 1, 8, 8))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_sampling_matches_seed_and_range():
    model = GAN((1, 8, 8), 8, n_classes=10, arch="dcgan", width=8, seed=0).to("cuda")
    samples = model.sample(16, labels=3, seed=0)
    assert samples.device.type == "cuda"
    assert torch.equal(samples, model.sample(16, labels=3, seed=0))
    history = train_gan(
        model,
        torch.rand(32, 1, 8, 8),
        torch.zeros(32, dtype=torch.int64),
        epochs=1,
        device="cuda",
        progress=False,
    )
    assert np.isfinite(history["g_loss"]).all()


# --------------------------------------------------------------------------- robustness


class TestTruncationRegressions:
    """Truncated latents: bounded time for any t > 0, exact truncated normal."""

    @pytest.mark.parametrize("t", [1e-300, 1e-7, 0.01, 0.5, 2.0, 40.0, 1e300])
    def test_any_positive_truncation_returns_at_once_inside_the_interval(self, t):
        model = GAN((2,), latent_dim=4, width=8, seed=0)
        z = model.latent(64, seed=0, truncation=t)
        assert z.shape == (64, 4) and torch.isfinite(z).all()
        assert float(z.abs().max()) <= t
        if 1e-30 < t < 1.0:  # nearly uniform on [-t, t]: its spread reaches the ends
            assert float(z.abs().max()) > 0.5 * t

    def test_truncated_draws_follow_the_truncated_normal(self):
        model = GAN((2,), latent_dim=50, width=8, seed=0)
        z = model.latent(200, seed=3, truncation=1.0).flatten().double().numpy()
        reference = stats.truncnorm(-1.0, 1.0)
        assert stats.kstest(z, reference.cdf).pvalue > 1e-3

    @pytest.mark.parametrize(
        ("t", "error"),
        [
            (0.0, ValueError),
            (-1.0, ValueError),
            (math.nan, TypeError),
            (math.inf, TypeError),
            ("1", TypeError),
            (True, TypeError),
        ],
    )
    def test_bad_truncation_is_refused(self, t, error):
        model = GAN((2,), latent_dim=4, width=8, seed=0)
        with pytest.raises(error, match="truncation"):
            model.latent(3, truncation=t)
        with pytest.raises(error, match="truncation"):
            model.sample(3, truncation=t)


class TestGANInputRegressions:
    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"data_shape": None}, TypeError, "data_shape"),
            ({"data_shape": "22"}, TypeError, "data_shape"),
            ({"data_shape": (True, 2)}, TypeError, "data_shape"),
            ({"data_shape": (2,), "seed": -1}, ValueError, "seed"),
            ({"data_shape": (2,), "seed": 1.0}, TypeError, "seed"),
            ({"data_shape": (2,), "seed": True}, TypeError, "seed"),
            ({"data_shape": (2,), "bounded": "no"}, TypeError, "bounded"),
            ({"data_shape": (2,), "batch_norm": 0}, TypeError, "batch_norm"),
            ({"data_shape": (2,), "width": 1}, ValueError, "width"),
            ({"data_shape": (2,), "pack": 0}, ValueError, "pack"),
            ({"data_shape": (1, 4096, 4096)}, ValueError, "parameters"),
        ],
    )
    def test_bad_constructor_arguments(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            GAN(**{"latent_dim": 4, **kwargs})

    def test_huge_latents_are_refused_not_turned_into_nan(self):
        model = GAN((1, 8, 8), latent_dim=4, arch="dcgan", width=8, seed=0)
        with pytest.raises(ValueError, match="z has values up to 1e"):
            model.generate(torch.full((2, 4), 1e39, dtype=torch.float64))
        with pytest.raises(ValueError, match="NaN"):
            model.generate(torch.full((2, 4), math.nan))
        points = GAN((2,), latent_dim=4, width=8, seed=0)
        with torch.no_grad():
            for p in points.generator.parameters():
                p.fill_(1e5)  # activations overflow float32 for z of 1e30
        with pytest.raises(ValueError, match="overflowed"):
            points.generate(torch.full((2, 4), 1e30))

    def test_discriminator_inputs_beyond_float32_are_refused(self):
        model = GAN((2,), latent_dim=4, width=8, seed=0)
        with pytest.raises(ValueError, match="x has values up to"):
            model.discriminate(np.full((2, 2), 1e39))
        with pytest.raises(ValueError, match="data has values up to"):
            train_gan(model, np.full((8, 2), 1e39), epochs=1, progress=False)

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"betas": (0.5,)}, ValueError, "betas"),
            ({"betas": (0.5, 1.0)}, ValueError, r"betas\[1\]"),
            ({"betas": 0.5}, TypeError, "betas"),
            ({"betas": (0.5, "x")}, TypeError, r"betas\[1\]"),
            ({"lr_g": 0.0}, ValueError, "lr_g"),
            ({"lr_d": math.nan}, TypeError, "lr_d"),
            ({"epochs": 0}, ValueError, "epochs"),
            ({"batch_size": 0}, ValueError, "batch_size"),
            ({"d_steps": 0}, ValueError, "d_steps"),
            ({"ema_decay": 1.0}, ValueError, "ema_decay"),
            ({"lr_decay": "yes"}, TypeError, "lr_decay"),
            ({"seed": -1}, ValueError, "seed"),
            ({"seed": 2**40}, ValueError, "seed"),
            ({"seed": 0.5}, TypeError, "seed"),
            ({"progress": None}, TypeError, "progress"),
            ({"on_epoch_end": "print"}, TypeError, "on_epoch_end"),
        ],
    )
    def test_bad_training_settings_fail_before_training(self, kwargs, error, match):
        model = GAN((2,), latent_dim=4, width=8, seed=0)
        before = [p.clone() for p in model.parameters()]
        with pytest.raises(error, match=match):
            train_gan(model, _gaussian_blob(16), **{"epochs": 1, "progress": False, **kwargs})
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))

    def test_diverging_training_raises_instead_of_logging_nan(self):
        model = GAN((2,), latent_dim=4, width=8, seed=0)
        with pytest.raises(ValueError, match="diverged"):
            train_gan(
                model,
                _gaussian_blob(64),
                epochs=3,
                batch_size=32,
                lr_g=1e35,
                lr_d=1e35,
                seed=0,
                device=CPU,
                progress=False,
            )

    @pytest.mark.parametrize(
        ("call", "error", "match"),
        [
            (lambda m: m.sample(3, labels=True), TypeError, "labels"),
            (lambda m: m.sample(3, labels=-1), ValueError, "labels"),
            (lambda m: m.sample(3, seed=-2), ValueError, "seed"),
            (lambda m: m.sample(3, seed="1"), TypeError, "seed"),
            (lambda m: m.latent(3, seed=1.5), TypeError, "seed"),
            (lambda m: m.class_embedding([1, 2]), TypeError, "labels"),
            (lambda m: m.class_embedding(torch.tensor([0, 3])), ValueError, "labels"),
            (lambda m: m.class_embedding(5), ValueError, "labels"),
        ],
    )
    def test_bad_sampling_arguments(self, call, error, match):
        model = GAN((2,), latent_dim=4, n_classes=3, width=8, seed=0)
        with pytest.raises(error, match=match):
            call(model)

    def test_recommended_epochs_checks_its_arguments(self):
        model = GAN((2,), latent_dim=4, width=8)
        with pytest.raises(ValueError, match="batch_size"):
            gan.recommended_epochs(model, 100, batch_size=0)
        with pytest.raises(TypeError, match="GAN"):
            gan.recommended_epochs("mlp", 100)


class TestMeasureRegressions:
    @pytest.mark.parametrize("scale", [1e-200, 1.0, 1e200])
    def test_mode_coverage_is_scale_free(self, scale):
        centers = ring_centers(8)
        samples = centers.repeat(4, 1) + 0.01 * torch.randn(
            32, 2, generator=torch.Generator().manual_seed(0)
        )
        got = mode_coverage(
            samples.double() * scale, centers.double() * scale, 0.02 * scale, min_count=1
        )
        assert got == mode_coverage(samples, centers, 0.02, min_count=1) == (8, 1.0)

    def test_mixture_log_density_with_tiny_or_huge_std_has_no_nan(self):
        x = np.array([[0.0, 0.0], [1e-300, 0.0]])
        got = mixture_log_density(x, np.zeros((1, 2)), 1e-200)
        assert np.isfinite(got[0]) and got[0] == pytest.approx(
            -2 * math.log(1e-200) - math.log(2 * math.pi)
        )
        far = mixture_log_density(np.array([[1e200, 0.0]]), np.zeros((1, 2)), 1e199)
        assert far[0] == pytest.approx(-50.0 - 2 * math.log(1e199) - math.log(2 * math.pi))

    def test_mixture_log_density_far_from_the_origin_keeps_precision(self):
        # The matrix-product shortcut of cdist cancels to noise here.
        centers = np.full((30, 2), 1e8)
        points = np.full((30, 2), 1e8) + np.array([0.001, 0.0])
        got = mixture_log_density(points, centers, 0.001)
        assert got == pytest.approx(np.full(30, -0.5 - 2 * math.log(0.001) - math.log(2 * math.pi)))

    def test_kde_default_bandwidth_for_huge_samples(self):
        samples = np.random.default_rng(0).normal(size=(50, 2)) * 1e200
        log_density = kde_log_density(samples)
        assert 1e199 < log_density.bandwidth < 1e201

    def test_optimal_discriminator_names_the_bad_argument(self):
        with pytest.raises(ValueError, match="log_p_g"):
            optimal_discriminator(np.zeros(2), np.array([0.0, np.inf]))
        with pytest.raises(ValueError, match="log_p_data"):
            optimal_discriminator(np.array([np.nan, 0.0]), np.zeros(2))

    def test_interpolate_latents_extremes(self):
        z0 = torch.tensor([1e30, 0.0], dtype=torch.float64)
        z1 = torch.tensor([0.0, 1e30], dtype=torch.float64)
        path = interpolate_latents(z0, z1, 3)
        assert torch.isfinite(path).all()
        assert float(path[1].double().norm()) == pytest.approx(1e30, rel=1e-5)
        with pytest.raises(ValueError, match="z0 has values up to"):
            interpolate_latents(torch.tensor([1e39, 0.0], dtype=torch.float64), z1, 3)
        with pytest.raises(ValueError, match="opposite"):
            interpolate_latents(torch.tensor([1.0, 2.0]), torch.tensor([-1.0, -2.0]), 3)
        zero = interpolate_latents(torch.zeros(2), torch.tensor([2.0, 0.0]), 3)
        assert torch.allclose(zero[1], torch.tensor([1.0, 0.0]))

    def test_within_class_diversity_of_huge_values(self):
        x = np.array([[0.0], [3e200], [0.0], [4e200]])
        assert within_class_diversity(x, np.array([0, 0, 1, 1])) == pytest.approx(3.5e200)

    @pytest.mark.parametrize(
        ("call", "error", "match"),
        [
            (lambda: corrupt_images(torch.rand(2, 1, 8, 8), "noise", seed=-1), ValueError, "seed"),
            (lambda: ImageTranslator(8), ValueError, "image_shape"),
            (lambda: ImageTranslator((1, 8, 8), seed=1.5), TypeError, "seed"),
            (
                lambda: _train_tiny_translator(8, 4, betas=(0.5,)),
                ValueError,
                "betas",
            ),
            (
                lambda: _train_tiny_translator(8, 4, batch_size=0),
                ValueError,
                "batch_size",
            ),
        ],
    )
    def test_bad_translator_and_corruption_arguments(self, call, error, match):
        with pytest.raises(error, match=match):
            call()

    def test_corrupt_images_with_huge_noise_stays_in_range(self):
        out = corrupt_images(torch.rand(2, 1, 8, 8), "noise", noise_std=1e300, seed=0)
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


class TestSizeAndModuleRegressions:
    """Huge counts fail at once naming the argument; raw modules check their batches."""

    @pytest.mark.parametrize(
        ("call", "match"),
        [
            (lambda: GAN((2,), 2, width=8).latent(10**20), r"\bn\b"),
            (lambda: GAN((2,), 2, width=8).sample(10**20), r"\bn\b"),
            (lambda: GAN((2,), 2, n_classes=10**20, width=8), "n_classes"),
            (lambda: GAN((2,), 2, width=8, pack=10**20), "pack"),
            (lambda: interpolate_latents(torch.ones(2), torch.zeros(2) + 0.5, 10**20), "n_steps"),
            (lambda: _train_tiny_gan(epochs=10**20), "epochs"),
            (lambda: _train_tiny_gan(d_steps=10**20), "d_steps"),
            (lambda: _train_tiny_gan(batch_size=10**20), "batch_size"),
            (lambda: _train_tiny_gan(lr_g=1e300), "lr_g"),
            (lambda: _train_tiny_translator(4, 2, lr=1e300, progress=False), r"\blr\b"),
            (lambda: ImageTranslator((1, 7, 8)), "image_shape"),
        ],
    )
    def test_huge_or_bad_sizes_name_the_argument(self, call, match):
        with pytest.raises(ValueError, match=match):
            call()

    def test_divergence_names_the_training_settings(self):
        with pytest.raises(ValueError, match="gp_weight=1e"):
            train_gan(
                GAN((2,), 2, width=8, seed=0),
                _gaussian_blob(16),
                epochs=1,
                gp_weight=1e300,
                seed=0,
                device=CPU,
                progress=False,
            )

    def test_minibatch_std_handles_huge_features_and_any_labels(self):
        layer = gan.MinibatchStd()
        h = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
        labels = torch.tensor([0, 0, 1, 1])
        base = layer(h, labels)[:, -1]
        big = layer(h * 1e30, labels)[:, -1]
        assert torch.isfinite(big).all() and torch.allclose(big / 1e30, base, rtol=1e-5)
        relabelled = layer(h, torch.tensor([-7, -7, 10**12, 10**12]))[:, -1]
        assert torch.allclose(relabelled, base)
        assert torch.isfinite(layer(h * 1e30)).all()
        grad_input = torch.zeros(4, 3, requires_grad=True)
        layer(grad_input, labels).sum().backward()
        assert torch.isfinite(grad_input.grad).all()  # the variance floor keeps sqrt smooth

    @pytest.mark.parametrize(
        ("args", "error", "match"),
        [
            ((torch.full((2, 3), math.nan),), ValueError, r"\bh\b"),
            ((torch.zeros(3),), ValueError, r"\bh\b"),
            ((np.zeros((2, 3)),), TypeError, r"\bh\b"),
            ((torch.zeros(2, 3), torch.zeros(2)), TypeError, "labels"),
            ((torch.zeros(2, 3), torch.zeros(3, dtype=torch.int64)), ValueError, "labels"),
        ],
    )
    def test_minibatch_std_checks_its_inputs(self, args, error, match):
        with pytest.raises(error, match=match):
            gan.MinibatchStd()(*args)

    def test_translator_modules_check_their_batches(self):
        model = ImageTranslator((1, 4, 4), width=4, seed=0)
        good = torch.rand(2, 1, 4, 4)
        assert model(good).shape == (2, 1, 4, 4)
        assert model.patch_logits(good, good).shape == (2, 1, 2, 2)
        with pytest.raises(ValueError, match="inputs"):
            model(torch.full((2, 1, 4, 4), math.nan))
        with pytest.raises(ValueError, match="inputs"):
            model(torch.rand(2, 1, 4, 5))
        with pytest.raises(TypeError, match="inputs"):
            model(good.long())
        with pytest.raises(ValueError, match="outputs"):
            model.patch_logits(good, good[:1])

    def test_measures_at_the_ends_of_float64(self):
        assert mode_counts(POINTS_FAR, np.zeros((1, 2)), 1e308).tolist() == [2]
        with pytest.raises(ValueError, match="std"):
            mixture_log_density(np.array([[1.0, 0.0]]), np.zeros((1, 2)), 1e-300)


POINTS_FAR = np.array([[1e300, 0.0], [0.0, -1e300]])
