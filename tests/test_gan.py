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
