"""Tests of lessons_lib.vae: shapes, the ELBO ≤ IWAE ≤ log p(x) chain against exact answers
(probabilistic PCA in closed form, a 1-D latent integrated on a grid), the closed-form KL,
seeds, labels, completion and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lessons_lib.vae import (
    VAE,
    LinearGaussianVAE,
    dequantize,
    discrete_log_likelihood,
    gaussian_kl,
    gradient_estimator_variance,
    ppca_log_likelihood,
    ppca_mle,
    train_vae,
)

CPU = "cpu"


def binary_images(n=12, shape=(1, 8, 8), seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, *shape, generator=gen) > 0.6).float()


def grey_images(n=12, shape=(1, 8, 8), seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=gen)


def ppca_data(n=600, seed=0):
    """Data drawn from a known pPCA model: D = 6, L = 2, noise std 0.5."""
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(6, 2, generator=gen, dtype=torch.float64) * torch.tensor([2.0, 1.0])
    b = torch.randn(6, generator=gen, dtype=torch.float64)
    z = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    return z @ W.T + b + 0.5 * torch.randn(n, 6, generator=gen, dtype=torch.float64)


def linear_vae_at(X, W, b, sigma2, posterior="full"):
    """A LinearGaussianVAE (float64) with decoder (W, b, σ²) and the exact posterior."""
    model = LinearGaussianVAE(X.shape[1], W.shape[1], posterior=posterior, seed=0).double()
    with torch.no_grad():
        model.W.copy_(W)
        model.b.copy_(b)
        model.log_sigma2.fill_(math.log(sigma2))
        M = W.T @ W + sigma2 * torch.eye(W.shape[1], dtype=W.dtype)
        V = torch.linalg.solve(M, W.T)
        model.V.copy_(V)
        model.c.copy_(-V @ b)
        chol = torch.linalg.cholesky(sigma2 * torch.linalg.inv(M))
        model.log_s2.copy_(2 * torch.diagonal(chol).log())
        if posterior == "full":
            model.S_lower.copy_(torch.tril(chol, -1))
    return model


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("n_classes", [None, 3])
def test_shapes(arch, likelihood, n_classes):
    shape = (1, 8, 8)
    model = VAE(
        shape, 4, likelihood, n_classes, arch, hidden=None if arch == "conv" else 32, seed=0
    )
    x = binary_images(5) if likelihood == "bernoulli" else grey_images(5)
    labels = None if n_classes is None else torch.tensor([0, 1, 2, 0, 1])
    mu, logvar = model.encode(x, labels)
    assert mu.shape == logvar.shape == (5, 4)
    assert model.decode(mu, labels).shape == (5, *shape)
    assert model.elbo(x, labels).shape == (5,)
    assert model.log_likelihood(x, labels, k=7).shape == (5,)
    samples = model.sample(6, seed=0)
    assert samples.shape == (6, *shape)
    assert 0 <= float(samples.min()) and float(samples.max()) <= 1
    assert model.reconstruct(x, labels).shape == (5, *shape)
    assert model.kl_per_dimension(x, labels).shape == (4,)
    path = model.interpolate(x[0], x[1], 5, labels=None if n_classes is None else 1)
    assert path.shape == (5, *shape)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 5, 9), (1, 15, 15)])
def test_conv_handles_odd_sizes(shape):
    model = VAE(shape, 3, "gaussian", arch="conv", channels=4, hidden=16, seed=0)
    x = grey_images(2, shape)
    assert model.reconstruct(x).shape == (2, *shape)
    assert model.sample(3, seed=1).shape == (3, *shape)


def test_numpy_in_numpy_out_and_default_widths():
    model = VAE((1, 8, 8), 2, seed=0)
    assert model.settings["hidden"] == (256, 256)
    assert VAE((1, 28, 28), 2).settings["hidden"] == (512, 256)
    x = binary_images(3).numpy()
    assert isinstance(model.reconstruct(x), np.ndarray)
    mask = np.ones((1, 8, 8), dtype=bool)
    assert isinstance(model.inpaint(x, mask, k=4, n_iter=2, seed=0), np.ndarray)


# --------------------------------------------------------------------------- KL, gradients


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(-3, 3), min_size=3, max_size=3),
    st.lists(st.floats(-2, 2), min_size=3, max_size=3),
    st.lists(st.floats(-2, 2), min_size=3, max_size=3),
    st.lists(st.floats(-2, 2), min_size=3, max_size=3),
)
def test_gaussian_kl_matches_torch_distributions(mu_q, logvar_q, mu_p, logvar_p):
    t = lambda v: torch.tensor(v, dtype=torch.float64)
    ours = gaussian_kl(t(mu_q), t(logvar_q), t(mu_p), t(logvar_p))
    q = torch.distributions.Normal(t(mu_q), (0.5 * t(logvar_q)).exp())
    p = torch.distributions.Normal(t(mu_p), (0.5 * t(logvar_p)).exp())
    assert torch.allclose(ours, torch.distributions.kl_divergence(q, p).sum(), atol=1e-10)
    assert float(ours) >= 0


def test_gaussian_kl_matches_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([[-1.0, 0.3, 0.0]])
    z = mu + (0.5 * logvar).exp() * torch.randn(400_000, 3, generator=gen)
    log_q = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    mc = (log_q - log_p).mean()
    stderr = (log_q - log_p).std() / math.sqrt(len(z))
    assert abs(float(gaussian_kl(mu, logvar)[0] - mc)) < 4 * float(stderr)
    assert float(gaussian_kl(mu * 0, logvar * 0)[0]) == 0.0


def test_gradient_estimators_are_unbiased_and_reparameterization_has_less_variance():
    mu, sigma = torch.tensor([0.5, -1.0]), torch.tensor([1.0, 0.5])
    result = gradient_estimator_variance(
        lambda z: (z**2).sum(-1), mu, sigma, n_trials=20_000, seed=0, device=CPU
    )
    exact = torch.stack([2 * mu, 2 * sigma]).double()  # d/dμ, d/dσ of E[z²] = μ² + σ²
    for name in ("reparameterization", "score_function"):
        est = result[name]
        stderr = (est["variance"] / 20_000).sqrt()
        assert torch.all((est["mean"] - exact).abs() < 5 * stderr + 1e-9), name
    assert torch.all(
        result["reparameterization"]["variance"] < result["score_function"]["variance"]
    )
    again = gradient_estimator_variance(
        lambda z: (z**2).sum(-1), mu, sigma, n_trials=100, seed=3, device=CPU
    )
    twice = gradient_estimator_variance(
        lambda z: (z**2).sum(-1), mu, sigma, n_trials=100, seed=3, device=CPU
    )
    assert torch.equal(again["score_function"]["mean"], twice["score_function"]["mean"])


# --------------------------------------------------------------------------- pPCA: the truth


def test_ppca_mle_matches_scikit_learn():
    from sklearn.decomposition import PCA

    X = ppca_data().numpy()
    n = len(X)
    W, b, sigma2 = ppca_mle(X, 2)
    pca = PCA(2).fit(X)
    # scikit-learn divides the covariance by N − 1, the maximum-likelihood estimate by N.
    np.testing.assert_allclose(W @ W.T + sigma2 * np.eye(6), pca.get_covariance() * (n - 1) / n,
                               atol=1e-10)  # fmt: skip
    np.testing.assert_allclose(b, pca.mean_)
    ours = ppca_log_likelihood(X, W, b, sigma2)
    assert isinstance(ours, np.ndarray)
    # The MLE's likelihood beats scikit-learn's (N − 1) estimate, by very little.
    theirs = pca.score_samples(X)
    assert 0 <= ours.mean() - theirs.mean() < 1e-2


def test_ppca_log_likelihood_matches_scipy():
    from scipy.stats import multivariate_normal

    X = ppca_data(50).numpy()
    W = np.arange(12.0).reshape(6, 2) / 10
    b = np.linspace(-1, 1, 6)
    expected = multivariate_normal(b, W @ W.T + 0.3 * np.eye(6)).logpdf(X)
    np.testing.assert_allclose(ppca_log_likelihood(X, W, b, 0.3), expected, rtol=1e-10)


def test_linear_vae_at_the_mle_has_elbo_equal_to_the_exact_likelihood():
    X = ppca_data()
    W, b, sigma2 = ppca_mle(X, 2)
    model = linear_vae_at(X, W, b, sigma2)
    exact = ppca_log_likelihood(X, W, b, sigma2)
    torch.testing.assert_close(model.exact_log_likelihood(X), exact)
    torch.testing.assert_close(model.elbo(X).detach(), exact, atol=1e-9, rtol=0)
    torch.testing.assert_close(model.log_likelihood(X, k=10, seed=0), exact, atol=1e-9, rtol=0)


def test_elbo_below_iwae_below_exact_likelihood_off_the_optimum():
    X = ppca_data(200)
    W, b, sigma2 = ppca_mle(X, 2)
    gen = torch.Generator().manual_seed(1)
    model = linear_vae_at(X, W, b, sigma2, posterior="diagonal")
    with torch.no_grad():  # a worse encoder: the bounds become strict
        model.V.mul_(0.8)
        model.V.add_(0.05 * torch.randn(model.V.shape, generator=gen, dtype=torch.float64))
        model.log_s2.add_(0.7)
    elbo = model.elbo(X).detach()
    exact = model.exact_log_likelihood(X)
    # Two derivations of the ELBO agree: log p(x) − ELBO = KL(q(z|x) ‖ p(z|x)).
    torch.testing.assert_close(exact - elbo, model.posterior_kl(X), atol=1e-8, rtol=1e-6)
    assert torch.all(elbo < exact)
    iwae = {k: model.log_likelihood(X, k=k, seed=0).mean() for k in (1, 10, 1000)}
    assert abs(float(iwae[1] - elbo.mean())) < 0.1  # k = 1 is an ELBO estimate
    assert float(elbo.mean()) < float(iwae[10]) < float(iwae[1000]) <= float(exact.mean()) + 1e-3
    assert float(exact.mean() - iwae[1000]) < 0.2 * float(exact.mean() - elbo.mean())


def test_training_the_linear_vae_approaches_the_exact_likelihood_from_below():
    X = ppca_data(400).float()
    W, b, sigma2 = ppca_mle(X, 2)
    best = float(ppca_log_likelihood(X.double(), W.double(), b.double(), sigma2).mean())
    model = LinearGaussianVAE(6, 2, seed=0)
    history = train_vae(model, X, epochs=150, batch_size=50, lr=2e-2, seed=0, device=CPU,
                        progress=False)  # fmt: skip
    elbo = float(model.elbo(X).detach().mean())
    assert history["elbo"][-1] > history["elbo"][0]
    assert elbo <= float(model.exact_log_likelihood(X).mean()) + 1e-4 <= best + 1e-3
    assert best - elbo < 0.02 * abs(best)
    from scipy.linalg import subspace_angles

    angles = subspace_angles(model.W.detach().double().numpy(), W.double().numpy())
    assert np.degrees(angles).max() < 2.0


# --------------------------------------------------------------------------- exact 1-D latent


def exact_log_px(model, x, grid=4001):
    """log p(x) by integrating the 1-D latent on a grid (the model is tiny)."""
    z = torch.linspace(-9, 9, grid)[:, None]
    with torch.no_grad():
        out = model._decode_out(z, None)
        log_px_z = model._log_px(x[:, None].expand(-1, grid, -1, -1, -1).flatten(0, 1),
                                 out.repeat(len(x), 1, 1, 1)).view(len(x), grid)  # fmt: skip
        log_joint = log_px_z + torch.distributions.Normal(0, 1).log_prob(z[:, 0])
        return torch.logsumexp(log_joint, 1) + math.log(float(z[1] - z[0])), log_joint, out


@pytest.fixture(scope="module")
def tiny_trained():
    """A 1-latent Bernoulli VAE trained a little on a few binary images."""
    x = binary_images(64, seed=3)
    x[:32, :, :4] = 1.0  # two kinds of image, so the latent has something to say
    model = VAE((1, 8, 8), 1, hidden=16, seed=0)
    train_vae(model, x, epochs=40, batch_size=32, seed=0, device=CPU, progress=False)
    return model, x


def test_iwae_converges_to_the_exact_likelihood_of_a_1d_latent(tiny_trained):
    model, x = tiny_trained
    x = x[:8]
    exact, _, _ = exact_log_px(model, x)
    with torch.no_grad():
        elbo = model.elbo(x, n_samples=2000, seed=0)
    iwae = model.log_likelihood(x, k=5000, seed=0)
    assert torch.all(elbo <= iwae + 1e-3)
    assert torch.all(iwae <= exact + 0.02)
    assert float((exact - iwae).abs().max()) < 0.05


def test_importance_inpainting_matches_the_exact_conditional_mean(tiny_trained):
    model, x = tiny_trained
    x = x[:6]
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[:, :, 4:] = True  # the right half is observed
    filled, ess = model.inpaint(x, mask, k=2000, n_rounds=4, seed=0, return_ess=True)
    assert ess.shape == (6,) and torch.all((ess >= 1) & (ess <= 2000))
    # Exact: E[x_m | x_o] = Σ_z p(z | x_o) E[x_m | z] on the grid.
    z = torch.linspace(-9, 9, 4001)[:, None]
    with torch.no_grad():
        out = model._decode_out(z, None)
        log_obs = model._log_px_observed(x[:, None].expand(-1, len(z), -1, -1, -1).flatten(0, 1),
                                         out.repeat(len(x), 1, 1, 1),
                                         mask.expand(len(x) * len(z), -1, -1, -1))  # fmt: skip
        log_post = log_obs.view(len(x), -1) + torch.distributions.Normal(0, 1).log_prob(z[:, 0])
        weights = torch.softmax(log_post, 1)
        exact = torch.einsum("nz,zchw->nchw", weights, torch.sigmoid(out))
    missing = ~mask.expand_as(x)
    assert float((filled - exact)[missing].abs().max()) < 0.03


# --------------------------------------------------------------------------- completion


@pytest.mark.parametrize("method", ["importance", "gibbs", "optimize"])
def test_inpaint_keeps_observed_pixels(method):
    model = VAE((1, 8, 8), 3, "gaussian", hidden=16, seed=0)
    x = grey_images(4)
    mask = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5
    filled = model.inpaint(x, mask, method=method, n_iter=4, k=16, n_rounds=2, seed=0)
    assert filled.shape == x.shape
    assert torch.equal(filled[mask], x[mask])
    assert not torch.equal(filled[~mask], x[~mask])
    assert 0 <= float(filled.min()) and float(filled.max()) <= 1
    again = model.inpaint(x, mask, method=method, n_iter=4, k=16, n_rounds=2, seed=0)
    assert torch.equal(filled, again)


def test_conditional_inpaint_sums_over_an_unknown_class():
    model = VAE((1, 8, 8), 2, "gaussian", n_classes=3, hidden=16, seed=0)
    x = grey_images(2)
    mask = torch.ones(1, 8, 8, dtype=torch.bool)
    mask[..., 4:, :] = False
    filled = model.inpaint(x, mask, k=8, n_rounds=2, n_iter=2, seed=0)
    assert torch.equal(filled[:, :, :4], x[:, :, :4])
    with pytest.raises(ValueError, match="needs labels"):
        model.inpaint(x, mask, method="gibbs")
    given = model.inpaint(x, mask, labels=torch.tensor([0, 2]), k=8, n_rounds=2, n_iter=2, seed=0)
    assert given.shape == x.shape


# --------------------------------------------------------------------------- seeds, labels


def test_same_seed_same_numbers():
    x = binary_images(20)

    def run():
        model = VAE((1, 8, 8), 2, hidden=16, seed=5)
        history = train_vae(model, x, epochs=3, batch_size=8, seed=1, device=CPU, progress=False)
        return model, history

    (m1, h1), (m2, h2) = run(), run()
    assert h1["loss"] == h2["loss"]
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)
    assert torch.equal(m1.sample(4, seed=2), m2.sample(4, seed=2))
    assert torch.equal(m1.sample(4, seed=2, noise=True), m1.sample(4, seed=2, noise=True))
    assert not torch.equal(m1.sample(4, seed=2), m1.sample(4, seed=3))
    assert torch.equal(m1.elbo(x, seed=0), m1.elbo(x, seed=0))
    assert torch.equal(m1.log_likelihood(x, k=50, seed=0), m1.log_likelihood(x, k=50, seed=0))


def test_samples_mean_versus_noise():
    model = VAE((1, 8, 8), 2, hidden=16, seed=0)
    mean = model.decoder_means(50, seed=0)
    drawn = model.sample(50, seed=0)  # the default draws x ~ p(x | z)
    assert set(torch.unique(drawn).tolist()) <= {0.0, 1.0}
    assert torch.equal(drawn, model.sample(50, seed=0, noise=True))
    assert len(torch.unique(mean)) > 50  # the mean is a grey probability image
    assert torch.equal(mean, model.sample(50, seed=0, noise=False))
    cold = model.decoder_means(3, temperature=0.0)
    assert torch.equal(cold, model.decoder_means(3, temperature=0.0, seed=9))
    assert torch.allclose(cold, cold[:1].expand_as(cold))  # tau = 0 decodes z = 0: one image
    gaussian = VAE((1, 8, 8), 2, "gaussian", hidden=16, seed=0)
    noisy = gaussian.sample(20, seed=0)
    assert 0 <= float(noisy.min()) and float(noisy.max()) <= 1
    assert not torch.equal(noisy, gaussian.decoder_means(20, seed=0))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("n_classes", [None, 3])
def test_decoder_means_are_the_decoded_prior_draws_of_sample(likelihood, n_classes):
    """decoder_means(n, seed=s) is sigmoid(decoder(z)) at sample's z: the old default."""
    model = VAE((1, 8, 8), 3, likelihood, n_classes, hidden=16, seed=0)
    labels = None if n_classes is None else torch.arange(6) % n_classes
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(4))
    expected = model.decode(0.5 * z, labels)
    got = model.decoder_means(6, seed=4, temperature=0.5)
    assert torch.equal(got, expected)
    # The draws are made around those means from the same z (the same generator goes on).
    drawn = model.sample(6, seed=4, temperature=0.5)
    if likelihood == "bernoulli":
        assert set(torch.unique(drawn).tolist()) <= {0.0, 1.0}
    else:
        assert float((drawn - got).abs().max()) < 1.0 and not torch.equal(drawn, got)
    # seed=None: both draw their seed from torch's global generator, in the same way.
    torch.manual_seed(11)
    first = model.decoder_means(6)
    torch.manual_seed(11)
    assert torch.equal(first, model.sample(6, noise=False))


def test_bernoulli_samples_are_binary_with_the_means_as_frequencies():
    model = VAE((1, 4, 4), 2, hidden=8, seed=1)
    means = model.decoder_means(1, seed=0, temperature=0.0)  # z = 0 for every draw
    draws = model.sample(20_000, seed=0, temperature=0.0)
    assert set(torch.unique(draws).tolist()) == {0.0, 1.0}
    torch.testing.assert_close(draws.mean(0, keepdim=True), means, atol=0.015, rtol=0)


def test_linear_vae_samples_carry_the_noise_and_decoder_means_do_not():
    model = LinearGaussianVAE(6, 2, seed=0)
    with torch.no_grad():
        model.log_sigma2.fill_(math.log(0.25))
    means = model.decoder_means(4000, seed=3)
    drawn = model.sample(4000, seed=3)  # the default draws x ~ N(W z + b, sigma^2 I)
    assert torch.equal(means, model.sample(4000, seed=3, noise=False))
    assert torch.linalg.matrix_rank(means - model.b.detach()) == 2  # means lie on a plane
    # The draws' covariance is W W^T + sigma^2 I; the means' lacks the sigma^2 I.
    W = model.W.detach()
    torch.testing.assert_close(torch.cov(drawn.T), W @ W.T + 0.25 * torch.eye(6), atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(means.T), W @ W.T, atol=0.03, rtol=0)
    with pytest.raises(ValueError, match="unconditional"):
        model.decoder_means(3, labels=1)
    with pytest.raises(ValueError, match=r"\bn\b"):
        model.decoder_means(0)


def test_decoder_means_bad_input():
    model = VAE((1, 8, 8), 2, hidden=16, seed=0)
    with pytest.raises(ValueError, match=r"\bn\b"):
        model.decoder_means(0)
    with pytest.raises(ValueError, match="temperature"):
        model.decoder_means(3, temperature=-1.0)
    with pytest.raises(ValueError, match="seed"):
        model.decoder_means(3, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        model.decoder_means(3, seed=1.5)
    with pytest.raises(TypeError):
        model.decoder_means(3, noise=True)  # a mean has no noise: use sample()
    with pytest.raises(ValueError, match="labels"):
        VAE((1, 8, 8), 2, n_classes=3, hidden=16, seed=0).decoder_means(3, labels=5)


def test_labels_are_honoured():
    model = VAE((1, 8, 8), 2, "gaussian", n_classes=4, hidden=16, seed=0)
    z = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    by_label = [model.decode(z, c) for c in range(4)]
    assert not torch.allclose(by_label[0], by_label[1])
    mixed = model.decode(z, torch.tensor([0, 1, 3]))
    for row, c in enumerate([0, 1, 3]):
        torch.testing.assert_close(mixed[row], by_label[c][row])
    # sample(labels=c) decodes the prior draw with class c
    gen = torch.Generator().manual_seed(7)
    z7 = torch.randn(5, 2, generator=gen)
    torch.testing.assert_close(model.decoder_means(5, labels=2, seed=7), model.decode(z7, 2))
    x = grey_images(3)
    assert not torch.allclose(model.elbo(x, 0, seed=0), model.elbo(x, 3, seed=0))
    # labels=None draws every class in turn
    torch.testing.assert_close(
        model.sample(8, seed=1), model.sample(8, torch.arange(8) % 4, seed=1)
    )


# --------------------------------------------------------------------------- training


def test_train_vae_improves_the_elbo_and_validates():
    x = binary_images(96, seed=4)
    x[:48, :, :, :3] = 1.0
    model = VAE((1, 8, 8), 2, hidden=32, seed=0)
    history = train_vae(model, x[:80], epochs=15, batch_size=16, validation=(x[80:],), seed=0,
                        device=CPU, progress=False)  # fmt: skip
    for key in ("loss", "elbo", "reconstruction", "kl", "beta", "val_elbo", "val_loss"):
        assert len(history[key]) == 15, key
    assert history["elbo"][-1] > history["elbo"][0] + 3
    assert history["beta"][0] < 1.0 == history["beta"][-1]  # KL warm-up, then β = 1
    stopped = train_vae(VAE((1, 8, 8), 2, hidden=32, seed=0), x[:80], epochs=200,
                        validation=(x[80:],), patience=2, lr=0.05, seed=0, device=CPU,
                        progress=False)  # fmt: skip
    assert stopped.stopped_early and len(stopped["loss"]) < 200


def test_beta_weights_the_kl():
    x = binary_images(64, seed=4)
    x[:32, :, :, :3] = 1.0
    kls = []
    for beta in (0.2, 8.0):
        model = VAE((1, 8, 8), 2, hidden=32, seed=0)
        h = train_vae(model, x, epochs=20, beta=beta, batch_size=16, seed=0, device=CPU,
                      progress=False)  # fmt: skip
        kls.append(h["kl"][-1])
    assert kls[0] > kls[1]


def test_dequantize_puts_each_pixel_in_its_cell():
    x = binary_images(5)
    y = dequantize(x, 2, copies=3, seed=0)
    assert y.shape == (15, 1, 8, 8)
    assert torch.equal((y * 2).floor(), x.repeat(3, 1, 1, 1))
    assert torch.equal(y, dequantize(x, 2, copies=3, seed=0))
    grey = torch.randint(0, 17, (4, 1, 8, 8), generator=torch.Generator().manual_seed(0)) / 16
    assert torch.equal((dequantize(grey, 17, seed=1) * 17).floor(), (grey * 16).round())
    with pytest.raises(ValueError, match="n_levels=2"):
        dequantize(grey, 2)


def test_discrete_log_likelihood_of_a_factorised_gaussian_is_exact():
    # Independent N(m, s²) pixels: the probability of a cell is a product of normal CDFs.
    from scipy.stats import norm

    x = binary_images(6, (1, 2, 3))
    m, s = 0.4, 0.3

    def log_density(y):
        return torch.distributions.Normal(m, s).log_prob(y).sum(1)

    cells = norm.cdf((x.numpy() + 1) / 2, m, s) - norm.cdf(x.numpy() / 2, m, s)
    exact = np.log(cells).reshape(6, -1).sum(1)
    estimate = discrete_log_likelihood(log_density, x, 2, k=20_000, seed=0).numpy()
    np.testing.assert_allclose(estimate, exact, atol=0.02)
    jensen = discrete_log_likelihood(log_density, x, 2, k=1, seed=0).numpy()
    assert np.all(estimate <= 0)
    assert jensen.mean() < estimate.mean()


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"data_shape": (8, 8)}, ValueError, "data_shape"),
        ({"latent_dim": 0}, ValueError, "latent_dim"),
        ({"likelihood": "poisson"}, ValueError, "likelihood"),
        ({"arch": "rnn"}, ValueError, "arch"),
        ({"n_classes": 1}, ValueError, "n_classes"),
        ({"min_std": 0.0}, ValueError, "min_std"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    args = {"data_shape": (1, 8, 8), "latent_dim": 2, **kwargs}
    with pytest.raises(error, match=match):
        VAE(**args)


def test_bad_inputs_give_clear_errors():
    model = VAE((1, 8, 8), 2, hidden=16, seed=0)
    x = binary_images(4)
    with pytest.raises(ValueError, match="shape"):
        model.elbo(binary_images(4, (1, 7, 7)))
    with pytest.raises(ValueError, match="binary"):
        model.elbo(grey_images(4))
    with pytest.raises(ValueError, match=r"<= 1"):
        model.reconstruct(x * 2)
    with pytest.raises(ValueError, match="NaN"):
        model.elbo(x * float("nan"))
    with pytest.raises(TypeError, match="NumPy array or a torch tensor"):
        model.elbo(x.tolist())
    with pytest.raises(ValueError, match="unconditional"):
        model.elbo(x, torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="k must be"):
        model.log_likelihood(x, k=0)
    with pytest.raises(ValueError, match="temperature"):
        model.sample(3, temperature=-1.0)
    with pytest.raises(ValueError, match="seed"):
        model.sample(3, seed=-1)
    with pytest.raises(TypeError, match="boolean"):
        model.inpaint(x, torch.ones(1, 8, 8))
    with pytest.raises(ValueError, match="mask"):
        model.inpaint(x, torch.ones(1, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="method"):
        model.inpaint(x, torch.ones(1, 8, 8, dtype=torch.bool), method="magic")
    with pytest.raises(ValueError, match="return_ess"):
        model.inpaint(x, torch.ones(1, 8, 8, dtype=torch.bool), method="gibbs", return_ess=True)
    with pytest.raises(ValueError, match="z must have shape"):
        model.decode(torch.zeros(3, 5))
    cond = VAE((1, 8, 8), 2, n_classes=10, hidden=16, seed=0)
    with pytest.raises(ValueError, match="conditional"):
        cond.elbo(x)
    with pytest.raises(ValueError, match="labels"):
        cond.elbo(x, torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="labels must have shape"):
        cond.elbo(x, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer"):
        cond.elbo(x, torch.zeros(4))


def test_bad_training_arguments():
    model = VAE((1, 8, 8), 2, hidden=16, seed=0)
    x = binary_images(8)
    with pytest.raises(TypeError, match="model must be"):
        train_vae(torch.nn.Linear(2, 2), x)
    with pytest.raises(ValueError, match="beta"):
        train_vae(model, x, beta=-1.0)
    with pytest.raises(ValueError, match="binary"):
        train_vae(model, grey_images(8))
    with pytest.raises(ValueError, match="patience"):
        train_vae(model, x, patience=2)
    with pytest.raises(ValueError, match="conditional"):
        train_vae(VAE((1, 8, 8), 2, n_classes=3, hidden=16), x)
    with pytest.raises(ValueError, match="epochs"):
        train_vae(model, x, epochs=0)
    with pytest.raises(ValueError, match="latent_dim"):
        LinearGaussianVAE(3, 3)
    with pytest.raises(ValueError, match="sigma2"):
        ppca_log_likelihood(np.zeros((2, 3)), np.zeros((3, 1)), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="sigma"):
        gradient_estimator_variance(lambda z: z.sum(-1), torch.zeros(2), torch.tensor([1.0, 0.0]))


def _constant_decoder(model: VAE, pixel_probs: torch.Tensor) -> None:
    """Make the decoder ignore z: its last layer outputs the logits of ``pixel_probs``."""
    last = model.decoder.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.logit(pixel_probs).flatten())


def test_denoise_matches_the_closed_form_when_the_prior_ignores_z():
    """With λ(z) = λ for every z, the posterior over z is the prior, and
    P(x_i = 1 | y_i) = λ(1-p) / (λ(1-p) + (1-λ)p) for y_i = 1, λp / (λp + (1-λ)(1-p)) for 0."""
    model = VAE((1, 4, 4), 2, hidden=8, seed=0)
    lam = torch.linspace(0.05, 0.95, 16).view(1, 4, 4)
    _constant_decoder(model, lam)
    noisy = binary_images(3, (1, 4, 4))
    p = 0.2
    got = model.denoise(noisy, p, k=64, n_rounds=2, seed=0)
    on = lam * (1 - p) / (lam * (1 - p) + (1 - lam) * p)
    off = lam * p / (lam * p + (1 - lam) * (1 - p))
    assert torch.allclose(got, torch.where(noisy == 1, on, off), atol=1e-5)


def test_denoise_checks_its_inputs():
    model = VAE((1, 4, 4), 2, hidden=8, seed=0)
    with pytest.raises(ValueError, match="noise_rate"):
        model.denoise(binary_images(2, (1, 4, 4)), 0.5)
    with pytest.raises(ValueError, match="binary"):
        model.denoise(grey_images(2, (1, 4, 4)), 0.1)
    with pytest.raises(ValueError, match="Bernoulli"):
        VAE((1, 4, 4), 2, "gaussian", hidden=8).denoise(binary_images(2, (1, 4, 4)), 0.1)
    again = model.denoise(binary_images(2, (1, 4, 4)), 0.1, k=16, seed=3)
    assert torch.equal(again, model.denoise(binary_images(2, (1, 4, 4)), 0.1, k=16, seed=3))


# --------------------------------------------------------------------------- robustness


class TestExtremeInputRegressions:
    """Finite but extreme inputs: a finite right answer or a clear error, never NaN."""

    def test_decode_refuses_latents_beyond_float32(self):
        model = VAE((1, 8, 8), 2, hidden=16, seed=0)
        with pytest.raises(ValueError, match="z has values up to 1e"):
            model.decode(torch.full((2, 2), 1e39, dtype=torch.float64))
        with pytest.raises(ValueError, match="NaN"):
            model.decode(torch.tensor([[math.nan, 0.0]]))
        big = model.decode(torch.full((2, 2), 1e30, dtype=torch.float64))
        assert torch.isfinite(big).all() and big.min() >= 0 and big.max() <= 1

    def test_decode_overflow_inside_the_network_is_an_error_not_nan(self):
        model = VAE((1, 4, 4), 2, hidden=8, seed=0)
        with torch.no_grad():  # the first layer overflows to inf, the second adds inf - inf
            model.decoder.net[0].weight.fill_(1e20)
            w = model.decoder.net[2].weight
            w.copy_(torch.tensor([1.0, -1.0]).repeat(w.shape[1] // 2).expand_as(w))
        with pytest.raises(ValueError, match="overflowed"):
            model.decode(torch.tensor([[1e20, 1e20]]))

    def test_sample_temperature_too_large_for_float32(self):
        model = VAE((1, 8, 8), 2, hidden=16, seed=0)
        with pytest.raises(ValueError, match="temperature"):
            model.sample(4, seed=0, temperature=1e39)
        cold = model.decoder_means(2, temperature=0.0)
        assert torch.equal(cold, model.decoder_means(2, temperature=0.0))

    def test_gaussian_kl_extreme_log_variances(self):
        mu = torch.zeros(1, 2, dtype=torch.float64)
        same = torch.full((1, 2), 1000.0, dtype=torch.float64)
        assert float(gaussian_kl(mu, same, 0.0, same)) == 0.0  # exp(1000) / exp(1000)
        tiny = torch.full((1, 2), -1000.0, dtype=torch.float64)
        assert float(gaussian_kl(mu, tiny, 0.0, tiny)) == 0.0  # 0 / 0 before
        shifted = gaussian_kl(mu + 1e-300, tiny, 0.0, tiny)
        assert torch.isfinite(shifted).all() and float(shifted) > 0
        with pytest.raises(ValueError, match="broadcast"):
            gaussian_kl(mu, mu, torch.zeros(3), 0.0)
        with pytest.raises(ValueError, match="mu_p"):
            gaussian_kl(mu, mu, math.nan)

    def test_ppca_mle_of_huge_data_and_degenerate_data(self):
        X = ppca_data(200)
        # 1e153: the sum of 200 squares overflows float64, sigma2 itself (~1e305) does not.
        W, mean, sigma2 = ppca_mle(X * 1e153, 2)
        W1, mean1, sigma2_1 = ppca_mle(X, 2)
        assert sigma2 == pytest.approx(sigma2_1 * 1e306)
        assert torch.allclose(mean, mean1 * 1e153)
        assert torch.allclose(W.abs(), W1.abs() * 1e153)
        with pytest.raises(ValueError, match="too large"):
            ppca_mle(X * 1e200, 2)  # sigma2 ~ 1e400 has no float64 value
        with pytest.raises(ValueError, match="sigma2"):
            ppca_mle(X[:2], 2)  # two points span one direction: sigma2 would be 0

    def test_ppca_log_likelihood_tiny_sigma2_in_float32(self):
        X = torch.zeros(2, 3)
        W = torch.tensor([[1.0], [0.0], [0.0]])
        got = ppca_log_likelihood(X, W, torch.zeros(3), 1e-50)
        assert torch.isfinite(got).all()
        with pytest.raises(TypeError, match="sigma2"):
            ppca_log_likelihood(X, W, torch.zeros(3), "1")
        with pytest.raises(ValueError, match="sigma2"):
            ppca_log_likelihood(X, W, torch.zeros(3), math.inf)

    def test_score_function_with_tiny_sigma_has_no_nan(self):
        # sigma**3 = 1e-360 underflows to 0: the textbook formulas divide 0 by 0.
        result = gradient_estimator_variance(
            lambda z: z.sum(-1),
            torch.tensor([1.0], dtype=torch.float64),
            torch.tensor([1e-120], dtype=torch.float64),
            n_trials=8,
            seed=0,
        )
        for estimator in result.values():
            assert all(torch.isfinite(v).all() for v in estimator.values())
        # At sigma = 1e-200 the score's variance (~1e400) has no float64 value: refused.
        with pytest.raises(ValueError, match="baseline"):
            gradient_estimator_variance(
                lambda z: z.sum(-1),
                torch.tensor([1.0], dtype=torch.float64),
                torch.tensor([1e-200], dtype=torch.float64),
                n_trials=8,
                seed=0,
            )
        with pytest.raises(ValueError, match="baseline"):
            gradient_estimator_variance(
                lambda z: z.sum(-1), torch.zeros(1), torch.ones(1), baseline=math.nan
            )

    def test_dequantize_stays_below_one(self, monkeypatch):
        # (1 + u) / 2 with u = 1 - 2**-24, the largest float32 draw, rounds up to 1.0.
        monkeypatch.setattr(
            torch, "rand", lambda shape, **kw: torch.full(shape, 1 - 2**-24, dtype=kw["dtype"])
        )
        y = dequantize(torch.ones(1, 1, 2, 2), 2, seed=0)
        assert float(y.max()) < 1.0 and y.dtype == torch.float32
        assert float(y.max()) == pytest.approx(1.0, abs=1e-7)
        monkeypatch.undo()
        many = torch.arange(0, 100_001, dtype=torch.float32)[None, None, None] / 100_000
        assert dequantize(many, 100_001).shape == many.shape  # float32 rounding allowed

    def test_discrete_log_likelihood_checks_every_image_and_the_density(self):
        good = binary_images(3, (1, 4, 4))
        off_grid = good.clone()
        off_grid[2, 0, 0, 0] = 0.5
        density = lambda y: torch.zeros(len(y))
        with pytest.raises(ValueError, match="k / 1"):
            discrete_log_likelihood(density, off_grid, 2, k=2)
        with pytest.raises(ValueError, match="shape"):
            discrete_log_likelihood(lambda y: torch.zeros(3), good, 2, k=2)
        with pytest.raises(ValueError, match="NaN"):
            discrete_log_likelihood(lambda y: torch.full((len(y),), math.nan), good, 2, k=2)

    def test_denoise_with_a_tiny_flip_rate_and_saturated_decoder(self):
        model = VAE((1, 4, 4), 2, hidden=8, seed=0)
        _constant_decoder(model, torch.full((16,), 0.5))
        with torch.no_grad():
            model.decoder.net[-1].bias.fill_(200.0)  # lambda = 1 exactly in float32
        noisy = binary_images(2, (1, 4, 4))
        got = model.denoise(noisy, 1e-300, k=8, n_rounds=1, seed=0)
        assert torch.isfinite(got).all()
        # 1 - lambda = e^-200 still dwarfs p = e^-690: the observation wins, got = y exactly.
        assert torch.equal(got, noisy)


class TestInpaintNaNContract:
    def test_nan_under_missing_pixels_is_ignored(self):
        model = VAE((1, 8, 8), 2, hidden=16, seed=0)
        x = binary_images(3)
        mask = torch.ones(1, 8, 8, dtype=torch.bool)
        mask[:, 4:] = False
        holes = x.clone()
        holes[:, :, 4:] = math.nan
        for method in ("importance", "gibbs", "optimize"):
            filled = model.inpaint(holes, mask, method=method, n_iter=4, k=16, n_rounds=2, seed=0)
            assert torch.isfinite(filled).all()
            assert torch.equal(filled[:, :, :4], x[:, :, :4])
            again = model.inpaint(x, mask, method=method, n_iter=4, k=16, n_rounds=2, seed=0)
            assert torch.allclose(filled, again)  # what was under the holes did not matter
        numpy_in = model.inpaint(holes.numpy(), mask.numpy(), k=16, n_rounds=1, seed=0)
        assert isinstance(numpy_in, np.ndarray) and np.isfinite(numpy_in).all()

    def test_nan_or_bad_values_at_observed_pixels_are_refused(self):
        model = VAE((1, 8, 8), 2, hidden=16, seed=0)
        mask = torch.ones(1, 8, 8, dtype=torch.bool)
        mask[:, 4:] = False
        x = binary_images(2)
        bad = x.clone()
        bad[0, 0, 0, 0] = math.nan
        with pytest.raises(ValueError, match="observed pixels"):
            model.inpaint(bad, mask)
        bad[0, 0, 0, 0] = 2.0
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            model.inpaint(bad, mask)
        bad[0, 0, 0, 0] = 0.5
        with pytest.raises(ValueError, match="binary"):
            model.inpaint(bad, mask)
        with pytest.raises(ValueError, match="shape"):
            model.inpaint(binary_images(2, (1, 4, 4)), mask)


class TestArgumentRegressions:
    @pytest.mark.parametrize(
        ("call", "error", "match"),
        [
            (lambda m, x: m.sample(0), ValueError, "n"),
            (lambda m, x: m.sample(2, seed=True), TypeError, "seed"),
            (lambda m, x: m.sample(2, seed=1.0), TypeError, "seed"),
            (lambda m, x: m.sample(2, noise="yes"), TypeError, "noise"),
            (lambda m, x: m.decoder_means(0), ValueError, "n"),
            (lambda m, x: m.decoder_means(2, temperature=math.inf), TypeError, "temperature"),
            (lambda m, x: m.sample(2, temperature=math.inf), TypeError, "temperature"),
            (lambda m, x: m.log_likelihood(x, k=0), ValueError, "k"),
            (lambda m, x: m.log_likelihood(x, progress=1), TypeError, "progress"),
            (lambda m, x: m.elbo(x, n_samples=0), ValueError, "n_samples"),
            (lambda m, x: m.elbo(x, seed=-1), ValueError, "seed"),
            (lambda m, x: m.reconstruct(x, sample_latent="no"), TypeError, "sample_latent"),
            (
                lambda m, x: m.inpaint(x, torch.ones(1, 8, 8, dtype=torch.bool), k=1),
                ValueError,
                "k",
            ),
            (
                lambda m, x: m.inpaint(x, torch.ones(1, 8, 8, dtype=torch.bool), n_iter=0),
                ValueError,
                "n_iter",
            ),
            (lambda m, x: m.denoise(x, 0.0), ValueError, "noise_rate"),
            (lambda m, x: m.denoise(x, 0.1, n_rounds=0), ValueError, "n_rounds"),
            (lambda m, x: m.interpolate(x[:1], x[1:2], n_steps=1), ValueError, "n_steps"),
            (lambda m, x: m.interpolate(x[:2], x[1:2]), ValueError, "one image"),
        ],
    )
    def test_bad_model_arguments(self, call, error, match):
        model = VAE((1, 8, 8), 2, hidden=16, seed=0)
        with pytest.raises(error, match=match):
            call(model, binary_images(3))

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"seed": -1}, ValueError, "seed"),
            ({"seed": 1.5}, TypeError, "seed"),
            ({"hidden": 3.5}, TypeError, "hidden"),
            ({"hidden": (16, 0)}, ValueError, "hidden"),
            ({"data_shape": "abc"}, ValueError, "data_shape"),
            ({"data_shape": (1, 4096, 4096)}, ValueError, "weights"),
        ],
    )
    def test_bad_constructor_arguments(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            VAE(**{"data_shape": (1, 8, 8), "latent_dim": 2, **kwargs})

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"seed": -1}, ValueError, "seed"),
            ({"seed": 2**40}, ValueError, "seed"),
            ({"batch_size": 0}, ValueError, "batch_size"),
            ({"lr": 0.0}, ValueError, "lr"),
            ({"warmup_epochs": -1}, ValueError, "warmup_epochs"),
            ({"patience": 0, "validation": (binary_images(4),)}, ValueError, "patience"),
            ({"validation": (binary_images(4), None, None)}, ValueError, "validation"),
            ({"progress": "no"}, TypeError, "progress"),
            ({"on_epoch_end": 1}, TypeError, "on_epoch_end"),
        ],
    )
    def test_bad_training_arguments_fail_before_training(self, kwargs, error, match):
        model = VAE((1, 8, 8), 2, hidden=16, seed=0)
        before = [p.clone() for p in model.parameters()]
        with pytest.raises(error, match=match):
            train_vae(model, binary_images(8), **{"epochs": 1, "progress": False, **kwargs})
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))

    def test_linear_vae_refuses_data_beyond_its_dtype(self):
        model = LinearGaussianVAE(3, 1, seed=0)
        with pytest.raises(ValueError, match="x has values up to"):
            model.elbo(torch.full((2, 3), 1e39, dtype=torch.float64))
        with pytest.raises(ValueError, match="seed"):
            LinearGaussianVAE(3, 1, seed=-1)


class TestSizeAndOverflowRegressions:
    @pytest.mark.parametrize(
        ("call", "match"),
        [
            (lambda m, x: m.sample(10**20), r"\bn\b"),
            (lambda m, x: m.decoder_means(10**20), r"\bn\b"),
            (lambda m, x: m.sample(2, labels=10**20), "labels"),
            (lambda m, x: m.elbo(x, n_samples=10**20), "n_samples"),
            (lambda m, x: m.log_likelihood(x, k=10**20), r"\bk\b"),
            (
                lambda m, x: m.inpaint(x, torch.ones(1, 4, 4, dtype=torch.bool), n_iter=10**20),
                "n_iter",
            ),
            (
                lambda m, x: m.inpaint(x, torch.ones(1, 4, 4, dtype=torch.bool), n_rounds=10**20),
                "n_rounds",
            ),
            (lambda m, x: m.denoise(x, 0.1, k=10**20), r"\bk\b"),
            (lambda m, x: m.interpolate(x[:1], x[1:2], n_steps=10**20), "n_steps"),
            (lambda m, x: m.interpolate(x[:1, :, :3], x[1:2]), "x_start"),
            (lambda m, x: m.interpolate(x[:1], x[1:2] * 2), "x_end"),
            (lambda m, x: VAE((1, 4, 4), 2, n_classes=10**20), "n_classes"),
            (lambda m, x: LinearGaussianVAE(10**20, 1), "data_dim"),
            (lambda m, x: dequantize(x, 10**20), "n_levels"),
            (lambda m, x: dequantize(x, 2, copies=10**20), "copies"),
            (lambda m, x: train_vae(m, x, epochs=10**20, progress=False), "epochs"),
            (lambda m, x: train_vae(m, x, epochs=1, lr=1e300, progress=False), r"\blr\b"),
            (
                lambda m, x: train_vae(m, x, epochs=1, validation=(x * math.nan,), progress=False),
                "validation",
            ),
            (
                lambda m, x: train_vae(
                    m,
                    x,
                    epochs=1,
                    beta=1e300,
                    warmup_epochs=0,
                    seed=0,
                    device=CPU,
                    progress=False,
                ),
                "beta",
            ),
        ],
    )
    def test_huge_sizes_and_settings_name_the_argument(self, call, match):
        model = VAE((1, 4, 4), 2, hidden=8, seed=0)
        with pytest.raises(ValueError, match=match):
            call(model, binary_images(4, (1, 4, 4)))

    def test_dequantize_refuses_text_before_converting(self):
        with pytest.raises(TypeError, match="images"):
            dequantize(np.zeros((1, 1, 2, 2)).astype(str), 2)

    def test_gaussian_kl_overflow_of_float32_is_refused(self):
        with pytest.raises(ValueError, match="mu_q"):
            gaussian_kl(torch.full((1, 2), 1e30), torch.zeros(1, 2))
        with pytest.raises(ValueError, match="logvar_p"):
            gaussian_kl(torch.zeros(1, 2), torch.zeros(1, 2), 0.0, -1e6)
        with pytest.raises(ValueError, match="mu_p"):
            gaussian_kl(torch.zeros(1, 2), torch.zeros(1, 2), 1e300)
        as_double = gaussian_kl(
            torch.full((1, 2), 1e30, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64)
        )
        assert float(as_double) == pytest.approx(1e60)

    @pytest.mark.parametrize(
        "method", ["elbo", "elbo_terms", "exact_log_likelihood", "log_likelihood", "posterior_kl"]
    )
    def test_linear_vae_overflow_of_float32_is_refused(self, method):
        model = LinearGaussianVAE(3, 1, seed=0)
        with pytest.raises(ValueError, match=r"\bx\b"):
            getattr(model, method)(torch.full((2, 3), 1e30))
        fine = getattr(model.double(), method)(torch.full((2, 3), 1e30, dtype=torch.float64))
        values = fine if isinstance(fine, torch.Tensor) else torch.stack(fine)
        assert torch.isfinite(values).all()


# --------------------------------------------------------------------------- flat rows, the face


class TestInpaintFlatRows:
    """``inpaint`` takes flat rows (N, C·H·W) with a mask of the same shape, and gives rows."""

    @pytest.mark.parametrize("method", ["importance", "gibbs", "optimize"])
    def test_flat_rows_give_the_numbers_of_images(self, method):
        model = VAE((1, 8, 8), 2, "gaussian", hidden=16, seed=0)
        x = grey_images(4)
        mask = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5
        kw = {"method": method, "n_iter": 4, "k": 16, "n_rounds": 2, "seed": 0}
        images = model.inpaint(x, mask, **kw)
        rows = model.inpaint(x.flatten(1), mask.flatten(1), **kw)
        assert rows.shape == (4, 64)
        assert torch.equal(rows, images.flatten(1))
        assert torch.equal(rows[mask.flatten(1)], x.flatten(1)[mask.flatten(1)])

    def test_one_flat_mask_numpy_and_ess(self):
        model = VAE((1, 8, 8), 2, hidden=16, seed=0)
        x = binary_images(3)
        mask = torch.ones(1, 8, 8, dtype=torch.bool)
        mask[:, 4:] = False
        images, ess = model.inpaint(x, mask, k=8, n_rounds=1, seed=0, return_ess=True)
        rows, ess_rows = model.inpaint(
            x.flatten(1), mask.flatten(), k=8, n_rounds=1, seed=0, return_ess=True
        )
        assert torch.equal(rows, images.flatten(1)) and torch.equal(ess, ess_rows)
        numpy_rows = model.inpaint(x.flatten(1).numpy(), mask.flatten().numpy(), k=8, seed=0)
        assert isinstance(numpy_rows, np.ndarray) and numpy_rows.shape == (3, 64)
        holes = x.flatten(1).clone()
        holes[:, ~mask.flatten()] = math.nan  # NaN under the missing pixels is ignored
        assert torch.equal(model.inpaint(holes, mask.flatten(), k=8, seed=0),
                           model.inpaint(x.flatten(1), mask.flatten(), k=8, seed=0))  # fmt: skip

    def test_flat_rows_of_the_wrong_size_or_mask_are_refused(self):
        model = VAE((1, 8, 8), 2, hidden=16, seed=0)
        x = binary_images(3).flatten(1)
        with pytest.raises(ValueError, match=r"\(N, 64\)"):
            model.inpaint(x[:, :60], torch.ones(60, dtype=torch.bool))
        with pytest.raises(ValueError, match="mask"):
            model.inpaint(x, torch.ones(1, 8, 8, dtype=torch.bool))  # an image mask for rows
        with pytest.raises(ValueError, match="mask"):
            model.inpaint(x, torch.ones(2, 64, dtype=torch.bool))  # one row too few
        with pytest.raises(TypeError, match="mask"):
            model.inpaint(x, torch.ones(64))
        with pytest.raises(ValueError, match="x must have 2 or 4 dimensions"):
            model.inpaint(x[0], torch.ones(64, dtype=torch.bool))


class TestGenerativeModuleFace:
    """VAE and LinearGaussianVAE are GenerativeModules: loss, log_prob, settings()."""

    def test_loss_names_the_terms_of_the_training_step(self):
        from lessons_lib.core.base import GenerativeModule

        model = VAE((1, 8, 8), 2, n_classes=3, hidden=16, seed=0)
        assert isinstance(model, GenerativeModule) and model.conditional
        x, y = binary_images(6), torch.tensor([0, 1, 2, 0, 1, 2])
        torch.manual_seed(0)
        terms = model.loss([x, y], beta=0.5)
        assert list(terms) == ["loss", "elbo", "reconstruction", "kl", "beta"]
        assert float(terms["beta"]) == 0.5
        torch.manual_seed(0)
        recon, kl = model._elbo_terms(x, torch.nn.functional.one_hot(y, 3).float())
        assert torch.equal(terms["loss"], -(recon - 0.5 * kl).mean())
        with pytest.raises(ValueError, match="conditional"):
            model.loss([x])
        with pytest.raises(ValueError, match="unconditional"):
            VAE((1, 8, 8), 2, hidden=16).loss([x, y])

    def test_log_prob_settings_and_training_data(self):
        model = VAE((1, 8, 8), 2, hidden=16, seed=0)
        x = binary_images(4)
        assert torch.equal(model.log_prob(x, k=20, seed=1), model.log_likelihood(x, k=20, seed=1))
        assert model.settings() == dict(model.settings) and type(model.settings()) is dict
        assert VAE(**model.settings()).settings == model.settings
        with pytest.raises(ValueError, match="binary"):
            model.check_training_data(grey_images(4))
        linear = LinearGaussianVAE(3, 1, seed=0)
        points = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
        assert torch.equal(linear.log_prob(points), linear.exact_log_likelihood(points))
        assert linear.settings() == {"data_dim": 3, "latent_dim": 1, "posterior": "full"}
        with pytest.raises(ValueError, match="unconditional"):
            linear.check_training_data(points, torch.zeros(5, dtype=torch.int64))

    def test_fit_model_trains_a_vae_with_the_plain_elbo(self):
        from lessons_lib.core.fit import fit_model

        model = VAE((1, 8, 8), 2, hidden=16, seed=0)
        history = fit_model(model, binary_images(32), epochs=2, batch_size=16, seed=0,
                            device=CPU, progress=False)  # fmt: skip
        assert history["beta"] == [1.0, 1.0] and len(history["elbo"]) == 2
