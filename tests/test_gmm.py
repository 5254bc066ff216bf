"""lessons_lib.gmm: EM checked against scikit-learn, the likelihood never falls, samples and
completions checked against exact values, bad inputs refused before any work."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import assert_raised_by_our_checks, blobs, relative_gap, sklearn_from, start_from
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import lessons_lib.density._fast_e_step as fast_e_step
import lessons_lib.density.gmm as density_gmm
import lessons_lib.density.mfa as density_mfa
import lessons_lib.gmm as gmm_module
from lessons_lib.data import MIXTURE_2D, load_digits, make_mixture_2d, make_moons, make_ring
from lessons_lib.gmm import (
    ConvergenceWarning,
    GaussianMixture,
    MixtureOfFactorAnalyzers,
    NotFittedError,
)

COVARIANCE_TYPES = ["full", "diag", "spherical"]


# --------------------------------------------------------------------------- against sklearn


@pytest.mark.parametrize("kind", COVARIANCE_TYPES)
@pytest.mark.parametrize("data_seed", [0, 1])
def test_agrees_with_sklearn_from_the_same_start(kind, data_seed):
    X = blobs(seed=data_seed)
    start = start_from(X, 3, kind, seed=data_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = sklearn_from(start, kind, max_iter=12).fit(X)
    ours = GaussianMixture(3, kind, max_iter=12, tol=0, device="cpu").fit(X, initial=start)
    assert ours.n_iter_ == 12 and not ours.converged_
    for name in ("weights_", "means_", "covariances_"):
        assert relative_gap(getattr(ours, name), getattr(reference, name)) < 1e-6, name
    assert ours.score(X) == pytest.approx(reference.score(X), rel=1e-6)
    assert ours.history_[-1] == pytest.approx(reference.score(X), rel=1e-6)
    assert relative_gap(ours.score_samples(X), reference.score_samples(X)) < 1e-6
    np.testing.assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(ours.predict(X), reference.predict(X))
    assert ours.bic(X) == pytest.approx(reference.bic(X), rel=1e-6)
    assert ours.aic(X) == pytest.approx(reference.aic(X), rel=1e-6)


@pytest.mark.parametrize("pruning", [True, False])
@pytest.mark.parametrize("kind", COVARIANCE_TYPES)
def test_agrees_with_sklearn_in_20_dimensions(kind, pruning, monkeypatch):
    """D >= 16: the CPU path that skips negligible (point, component) pairs, and the dense
    path (what a GPU runs), both match scikit-learn."""
    monkeypatch.setattr(fast_e_step, "PRUNE_ON_CPU", pruning)
    X = blobs(1500, dim=20, k=5, seed=4)
    start = start_from(X, 5, kind, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = sklearn_from(start, kind, max_iter=15).fit(X)
    ours = GaussianMixture(5, kind, max_iter=15, tol=0, device="cpu").fit(X, initial=start)
    for name in ("weights_", "means_", "covariances_"):
        assert relative_gap(getattr(ours, name), getattr(reference, name)) < 1e-6, name
    assert ours.history_[-1] == pytest.approx(reference.score(X), rel=1e-6)


def test_pruned_e_step_equals_dense_whitening():
    """The skipped pairs are provably > 40 nats below each point's best; the rest are exact."""
    rng = np.random.default_rng(0)
    k, dim = 6, 24
    for spread in (0.5, 3.0, 20.0):  # overlapping to well separated components
        centres = spread * rng.normal(size=(k, dim))
        X = torch.as_tensor(centres[rng.integers(k, size=3000)] + rng.normal(size=(3000, dim)))
        a = rng.normal(size=(k, dim, dim)) / np.sqrt(dim)
        params = gmm_module._Params(
            torch.as_tensor(rng.dirichlet(np.ones(k))),
            torch.as_tensor(centres),
            torch.as_tensor(a @ a.transpose(0, 2, 1) + 0.3 * np.eye(dim)),
        )
        pruned = gmm_module._Pruner(params).log_joint(X)
        dense = gmm_module._Whitener(params, "full").log_joint(X)
        kept = torch.isfinite(pruned)
        torch.testing.assert_close(pruned[kept], dense[kept], rtol=1e-10, atol=1e-8)
        best = dense.max(1, keepdim=True).values
        assert bool((dense[~kept] < (best - 40).expand_as(dense)[~kept]).all())
        if spread > 10:  # separated components: most pairs are skipped
            assert float(kept.double().mean()) < 0.3


def test_agrees_with_sklearn_on_digits_pixels():
    """64-D digits with constant pixels: the covariance floor matters, results still agree."""
    images, _ = load_digits("train", device="cpu", dtype=torch.float64)
    X = images.reshape(len(images), -1).numpy()[:500]
    start = start_from(X, 4, "full", seed=3)
    start["covariances"] = start["covariances"] + 1e-2 * np.eye(64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = sklearn_from(start, "full", max_iter=5, reg_covar=1e-3).fit(X)
    ours = GaussianMixture(4, max_iter=5, tol=0, reg_covar=1e-3, device="cpu")
    ours.fit(X, initial=start)
    assert relative_gap(ours.means_, reference.means_) < 1e-6
    assert relative_gap(ours.covariances_, reference.covariances_) < 1e-6
    assert ours.score(X) == pytest.approx(reference.score(X), rel=1e-6)


# --------------------------------------------------------------------------- EM never falls


def _datasets():
    digits, _ = load_digits("train", device="cpu", dtype=torch.float64)
    return {
        "mixture_2d": make_mixture_2d(800, seed=0, device="cpu")[0],
        "ring": make_ring(800, std=0.1, seed=0, device="cpu")[0],
        "moons": make_moons(800, seed=0, device="cpu")[0],
        "blobs_5d": torch.as_tensor(blobs(900, dim=5)),
        "digits_8d": digits.reshape(len(digits), -1)[:, 20:28],
    }


DATASETS = _datasets()


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("kind", COVARIANCE_TYPES)
def test_log_likelihood_never_decreases(name, kind):
    X = DATASETS[name]
    for seed in range(3):
        model = GaussianMixture(5, kind, max_iter=40, tol=0, seed=seed, device="cpu")
        for init in ("kmeans++", "random"):
            model.init = init
            history = np.asarray(model.fit(X).history_)
            assert np.all(np.diff(history) >= -1e-9 * max(1.0, abs(history[-1]))), (seed, init)
            assert history[-1] == pytest.approx(model.score(X), rel=1e-9, abs=1e-9)


def test_a_step_lowered_by_the_floor_ends_em():
    """On digits pixels components sit on the covariance floor and scikit-learn's EM (the same
    updates) drifts down by ~1e-6 per step; ours stops at the better parameters instead."""
    X = DATASETS["digits_8d"].numpy()
    states = []
    model = GaussianMixture(5, max_iter=40, tol=0, seed=2, init="random", device="cpu")
    model.fit(X, callback=lambda it, state: states.append(state))
    assert model.converged_ and model.n_iter_ < 40
    start = states[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = SkGaussianMixture(
            5,
            max_iter=40,
            tol=0,
            weights_init=start["weights"],
            means_init=start["means"],
            precisions_init=np.linalg.inv(start["covariances"]),
        ).fit(X)
    # scikit-learn went on, and ended lower.
    assert reference.score(X) < model.history_[-1]
    assert model.history_ == [state["log_likelihood"] for state in states[1:]]


def test_recovers_the_known_mixture():
    X, _ = make_mixture_2d(6000, seed=1, device="cpu")
    model = GaussianMixture(3, seed=0, n_init=2, device="cpu").fit(X.numpy())
    order = np.argsort(-model.weights_)  # the truth is sorted by weight: 0.5, 0.3, 0.2
    np.testing.assert_allclose(model.weights_[order], MIXTURE_2D["weights"], atol=0.03)
    np.testing.assert_allclose(model.means_[order], MIXTURE_2D["means"], atol=0.1)
    np.testing.assert_allclose(model.covariances_[order], MIXTURE_2D["covariances"], atol=0.1)
    assert model.converged_


def test_more_restarts_never_end_lower():
    X = DATASETS["ring"]
    one = GaussianMixture(6, seed=4, device="cpu").fit(X)
    several = GaussianMixture(6, seed=4, n_init=4, device="cpu").fit(X)
    assert several.history_[-1] >= one.history_[-1] - 1e-12


def test_same_seed_same_fit_and_callback_sees_every_step():
    X = DATASETS["mixture_2d"]
    states = []
    a = GaussianMixture(3, max_iter=7, tol=0, seed=11, device="cpu")
    a.fit(X, callback=lambda it, state: states.append((it, state)))
    b = GaussianMixture(3, max_iter=7, tol=0, seed=11, device="cpu").fit(X)
    torch.testing.assert_close(a.means_, b.means_, rtol=0, atol=0)
    assert [it for it, _ in states] == list(range(8))
    assert states[-1][1]["log_likelihood"] == pytest.approx(a.history_[-1])
    assert states[0][1]["responsibilities"].shape == (len(X), 3)
    np.testing.assert_allclose(states[-1][1]["means"], a.means_.numpy())


def test_covariance_floor_prevents_the_collapse():
    """A component on one repeated point has zero variance: without a floor the likelihood
    is unbounded and the covariance cannot be factored; the floor keeps it finite."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(200, 2)), np.repeat([[5.0, 5.0]], 10, axis=0)])
    start = {
        "weights": np.array([0.9, 0.1]),
        "means": np.array([[0.0, 0.0], [5.0, 5.0]]),
        "covariances": np.array([np.eye(2), np.eye(2)]),
    }
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianMixture(2, max_iter=5, tol=0, reg_covar=0.0, device="cpu").fit(X, initial=start)
    floored = GaussianMixture(2, max_iter=5, tol=0, reg_covar=1e-3, device="cpu")
    floored.fit(X, initial=start)
    np.testing.assert_allclose(floored.covariances_[1], 1e-3 * np.eye(2), rtol=1e-6)
    assert np.isfinite(floored.score(X))


def test_convergence_warning_only_with_a_tolerance():
    X = DATASETS["moons"]
    with pytest.warns(ConvergenceWarning):
        GaussianMixture(4, max_iter=2, tol=1e-12, seed=0, device="cpu").fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GaussianMixture(4, max_iter=2, tol=0, seed=0, device="cpu").fit(X)


def test_float32_is_close_to_float64():
    X = DATASETS["mixture_2d"]
    a = GaussianMixture(3, seed=0, max_iter=20, tol=0, device="cpu").fit(X)
    b = GaussianMixture(3, seed=0, max_iter=20, tol=0, device="cpu", dtype=torch.float32)
    b.fit(X.float())
    assert b.means_.dtype == torch.float32
    assert abs(a.history_[-1] - b.history_[-1]) < 1e-3


# --------------------------------------------------------------------------- samples


def test_sample_moments_match_the_known_mixture():
    weights, means, covs = (MIXTURE_2D[k] for k in ("weights", "means", "covariances"))
    model = GaussianMixture.from_parameters(weights, means, covs, device="cpu")
    n = 200_000
    X, labels = model.sample(n, seed=0)
    assert X.shape == (n, 2) and labels.dtype == np.int64
    mean = weights @ means
    cov = np.einsum("k,kij->ij", weights, covs + means[:, :, None] * means[:, None, :])
    cov -= np.outer(mean, mean)
    assert np.all(np.abs(X.mean(0) - mean) < 5 * np.sqrt(np.diag(cov) / n))
    centred = X - mean
    products = centred[:, :, None] * centred[:, None, :]
    assert np.all(np.abs(products.mean(0) - cov) < 5 * products.std(0) / np.sqrt(n))
    frequencies = np.bincount(labels, minlength=3) / n
    assert np.all(np.abs(frequencies - weights) < 5 * np.sqrt(weights * (1 - weights) / n))
    for k in range(3):  # each component's own samples have its mean and covariance
        own = X[labels == k]
        assert np.abs(own.mean(0) - means[k]).max() < 5 * np.sqrt(covs[k].max() / len(own))
        np.testing.assert_allclose(np.cov(own.T), covs[k], atol=0.03)


def test_sample_seed_and_component():
    model = GaussianMixture.from_parameters(
        MIXTURE_2D["weights"], MIXTURE_2D["means"], MIXTURE_2D["covariances"], device="cpu"
    )
    a, la = model.sample(50, seed=3)
    b, lb = model.sample(50, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    X, labels = model.sample(20_000, seed=1, component=2)
    assert np.all(labels == 2)
    np.testing.assert_allclose(X.mean(0), MIXTURE_2D["means"][2], atol=0.02)
    with pytest.raises(ValueError, match="component"):
        model.sample(5, component=3)


@pytest.mark.parametrize("kind", ["diag", "spherical"])
def test_sample_other_covariance_types(kind):
    covariances = np.array([[0.5, 2.0], [1.0, 0.1]]) if kind == "diag" else np.array([0.5, 2.0])
    model = GaussianMixture.from_parameters(
        np.array([0.4, 0.6]), np.array([[0.0, 0.0], [5.0, -5.0]]), covariances, kind
    )
    X, labels = model.sample(50_000, seed=0)
    for k in range(2):
        variance = np.var(X[labels == k], axis=0)
        np.testing.assert_allclose(variance, np.broadcast_to(covariances[k], (2,)), rtol=0.05)


# --------------------------------------------------------------------------- completion


def test_inpaint_one_component_is_the_exact_conditional_expectation():
    rng = np.random.default_rng(0)
    dim = 6
    a = rng.normal(size=(dim, dim))
    cov, mean = a @ a.T + np.eye(dim), rng.normal(size=dim)
    X = rng.multivariate_normal(mean, cov, size=400)
    model = GaussianMixture(1, device="cpu").fit(X)
    mu, sigma = model.means_[0], model.covariances_[0]
    mask = rng.random(X.shape) < 0.6
    mask[0] = True
    mask[1] = False
    filled = model.inpaint(np.where(mask, X, np.nan), mask)
    np.testing.assert_array_equal(filled[mask], X[mask])
    for n in range(len(X)):
        o, m = mask[n], ~mask[n]
        if not m.any():
            continue
        gain = sigma[np.ix_(m, o)] @ np.linalg.inv(sigma[np.ix_(o, o)])
        expected = mu[m] + gain @ (X[n, o] - mu[o])
        np.testing.assert_allclose(filled[n, m], expected, rtol=1e-9, atol=1e-9)


def test_inpaint_mixture_weighs_components_by_the_observed_part():
    weights = np.array([0.3, 0.7])
    means = np.array([[0.0, 0.0, 0.0], [3.0, -1.0, 2.0]])
    covs = np.array([[[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]], 0.5 * np.eye(3)])
    model = GaussianMixture.from_parameters(weights, means, covs)
    X = np.array([[1.0, 0.5, 0.0], [2.0, -0.5, 0.0]])
    mask = np.array([True, True, False])
    filled, posterior = model.inpaint(X, mask, return_posterior=True)
    for n in range(2):
        log_marginal = np.array(
            [multivariate_normal(means[k, :2], covs[k][:2, :2]).logpdf(X[n, :2]) for k in range(2)]
        )
        post = weights * np.exp(log_marginal)
        post /= post.sum()
        cond = [
            means[k, 2] + covs[k][2, :2] @ np.linalg.solve(covs[k][:2, :2], X[n, :2] - means[k, :2])
            for k in range(2)
        ]
        np.testing.assert_allclose(posterior[n], post, rtol=1e-10)
        assert filled[n, 2] == pytest.approx(post @ np.array(cond), rel=1e-10)


def test_sample_conditional_averages_to_the_inpainting():
    model = GaussianMixture.from_parameters(
        MIXTURE_2D["weights"], MIXTURE_2D["means"], MIXTURE_2D["covariances"]
    )
    X = np.tile([[0.3, np.nan]], (40_000, 1))
    mask = np.array([True, False])
    draws = model.sample_conditional(X, mask, seed=0)
    assert np.all(draws[:, 0] == 0.3)
    expected = model.inpaint(X[:1], mask)[0, 1]
    assert abs(draws[:, 1].mean() - expected) < 5 * draws[:, 1].std() / np.sqrt(len(X))


def test_inpaint_torch_in_torch_out_and_shared_mask():
    X, _ = make_mixture_2d(500, seed=0, device="cpu")
    model = GaussianMixture(3, seed=0, device="cpu").fit(X)
    filled = model.inpaint(X, torch.tensor([True, False]))
    assert isinstance(filled, torch.Tensor) and filled.shape == X.shape
    torch.testing.assert_close(filled[:, 0], X[:, 0], rtol=0, atol=0)


# --------------------------------------------------------------------------- types and errors


def test_numpy_in_numpy_out_torch_in_torch_out():
    X = DATASETS["mixture_2d"]
    for data, kind in ((X.numpy(), np.ndarray), (X, torch.Tensor)):
        model = GaussianMixture(3, seed=0, device="cpu").fit(data)
        outputs = [
            model.weights_,
            model.means_,
            model.covariances_,
            model.score_samples(data),
            model.predict_proba(data),
            model.predict(data),
            *model.sample(4, seed=0),
            model.inpaint(
                data,
                np.ones(2, dtype=bool) if kind is np.ndarray else torch.ones(2, dtype=torch.bool),
            ),
        ]
        assert all(isinstance(o, kind) for o in outputs)
        assert isinstance(model.score(data), float)


def test_bad_inputs_fail_before_any_work(monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("EM started before the inputs were checked")

    monkeypatch.setattr(density_gmm, "kmeans", no_work)
    model = GaussianMixture(3, device="cpu")
    X = np.random.default_rng(0).normal(size=(20, 2))
    for value in (np.nan, np.inf):
        bad = X.copy()
        bad[3, 1] = value
        with pytest.raises(ValueError, match="NaN or infinite"):
            model.fit(bad)
    with pytest.raises(ValueError, match="n_components=3 is larger than the number of samples"):
        model.fit(X[:2])
    with pytest.raises(ValueError, match="2 dimensions"):
        model.fit(X[:, 0])
    with pytest.raises(ValueError, match="2 dimensions"):
        model.fit(X[None])
    with pytest.raises(TypeError, match="NumPy array or a torch tensor"):
        model.fit([[1.0, 2.0]] * 5)
    with pytest.raises(ValueError, match="initial\\['means'\\] must have shape"):
        model.fit(X, initial={"weights": np.ones(3) / 3, "means": X[:2], "covariances": 0})
    with pytest.raises(ValueError, match="sum to 1"):
        model.fit(
            X,
            initial={
                "weights": np.ones(3),
                "means": X[:3],
                "covariances": np.repeat(np.eye(2)[None], 3, axis=0),
            },
        )
    with pytest.raises(ValueError, match="not positive definite"):
        model.fit(
            X,
            initial={
                "weights": np.ones(3) / 3,
                "means": X[:3],
                "covariances": np.repeat(np.array([[[1.0, 2.0], [2.0, 1.0]]]), 3, axis=0),
            },
        )


def test_bad_arguments_and_unfitted_use():
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianMixture(2, "tied")
    with pytest.raises(ValueError, match="init"):
        GaussianMixture(2, init="kmeans")
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(0)
    with pytest.raises(ValueError, match="dtype"):
        GaussianMixture(2, dtype=torch.float16)
    with pytest.raises(NotFittedError):
        GaussianMixture(2).score_samples(np.zeros((3, 2)))
    model = GaussianMixture(2, seed=0, device="cpu").fit(DATASETS["mixture_2d"])
    with pytest.raises(ValueError, match="fitted on 2 features"):
        model.score_samples(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="mask must have the shape of X"):
        model.inpaint(np.zeros((3, 2)), np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="mask must have the shape of X"):
        model.inpaint(np.zeros((3, 2)), np.ones((2, 2), dtype=bool))
    with pytest.raises(TypeError, match="boolean"):
        model.inpaint(np.zeros((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="observed positions"):
        model.inpaint(np.array([[np.nan, 0.0]]), np.array([True, False]))


# --------------------------------------------------------------------------- factor analyzers


def known_mfa(seed: int = 0, dim: int = 12, k: int = 3, q: int = 2):
    rng = np.random.default_rng(seed)
    return (
        np.array([0.5, 0.3, 0.2]),
        5 * rng.normal(size=(k, dim)),
        rng.normal(size=(k, dim, q)),
        rng.uniform(0.05, 0.3, size=(k, dim)),
    )


def test_mfa_density_is_the_full_gaussian_mixture():
    weights, means, factors, noise = known_mfa()
    mfa = MixtureOfFactorAnalyzers.from_parameters(weights, means, factors, noise)
    covariances = factors @ factors.transpose(0, 2, 1) + np.stack([np.diag(p) for p in noise])
    np.testing.assert_allclose(mfa.covariances(), covariances, rtol=1e-12)
    full = GaussianMixture.from_parameters(weights, means, covariances)
    X, _ = mfa.sample(300, seed=0)
    np.testing.assert_allclose(mfa.score_samples(X), full.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(mfa.predict_proba(X), full.predict_proba(X), atol=1e-10)


def test_mfa_samples_have_the_low_rank_plus_diagonal_covariance():
    weights, means, factors, noise = known_mfa(seed=1)
    mfa = MixtureOfFactorAnalyzers.from_parameters(weights, means, factors, noise)
    X, labels = mfa.sample(60_000, seed=2)
    for k in range(3):
        own = X[labels == k]
        expected = factors[k] @ factors[k].T + np.diag(noise[k])
        centred = own - means[k]
        products = centred[:, :, None] * centred[:, None, :]
        error = products.std(0) / np.sqrt(len(own))
        assert np.all(np.abs(products.mean(0) - expected) < 6 * error + 1e-12)
    smooth, smooth_labels = mfa.sample(60_000, seed=2, add_noise=False)
    own = smooth[smooth_labels == 0] - means[0]
    # Without the noise the samples live in the q-dimensional span of the factors.
    assert np.linalg.matrix_rank(own[:500], tol=1e-8) == factors.shape[2]


def test_mfa_fit_increases_likelihood_and_recovers_the_covariances():
    weights, means, factors, noise = known_mfa(seed=3)
    truth = MixtureOfFactorAnalyzers.from_parameters(weights, means, factors, noise)
    X, _ = truth.sample(8000, seed=4)
    model = MixtureOfFactorAnalyzers(3, 2, max_iter=200, tol=1e-7, seed=0, device="cpu").fit(X)
    history = np.asarray(model.history_)
    assert len(history) > 2 and history[-1] > history[0]
    assert np.all(np.diff(history) >= -1e-9 * abs(history[-1]))
    assert model.score(X) >= truth.score(X) - 0.01  # the fit is as good as the truth
    order = [int(np.argmin(np.abs(model.means_ - m).sum(1))) for m in means]
    np.testing.assert_allclose(model.weights_[order], weights, atol=0.03)
    fitted = model.covariances()[order]
    expected = truth.covariances()
    gap = np.abs(fitted - expected).max(axis=(1, 2)) / np.abs(expected).max(axis=(1, 2))
    assert np.all(gap < 0.15)


def test_mfa_types_and_errors():
    X = torch.as_tensor(blobs(300, dim=6))
    model = MixtureOfFactorAnalyzers(2, 2, max_iter=5, seed=0, device="cpu").fit(X)
    assert isinstance(model.means_, torch.Tensor) and model.factors_.shape == (2, 6, 2)
    assert isinstance(model.score_samples(X), torch.Tensor)
    samples, _ = model.sample(4, seed=0)
    assert isinstance(samples, torch.Tensor) and samples.shape == (4, 6)
    numpy_model = MixtureOfFactorAnalyzers(2, 2, max_iter=5, seed=0, device="cpu").fit(X.numpy())
    assert isinstance(numpy_model.score_samples(X.numpy()), np.ndarray)
    with pytest.raises(ValueError, match="n_factors=6 must be below"):
        MixtureOfFactorAnalyzers(2, 6, device="cpu").fit(X)
    with pytest.raises(ValueError, match="larger than the number of samples"):
        MixtureOfFactorAnalyzers(400, 2, device="cpu").fit(X)
    bad = X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        MixtureOfFactorAnalyzers(2, 2, device="cpu").fit(bad)
    with pytest.raises(ValueError, match="fitted on 6"):
        model.score_samples(torch.zeros(2, 5, dtype=torch.float64))
    with pytest.raises(NotFittedError):
        MixtureOfFactorAnalyzers(2, 2).sample(3)


# --------------------------------------------------------------------------- GPU


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit_matches_cpu():
    X = DATASETS["blobs_5d"]
    start = start_from(X.numpy(), 3, "full")
    cpu = GaussianMixture(3, max_iter=10, tol=0, device="cpu").fit(X, initial=start)
    gpu = GaussianMixture(3, max_iter=10, tol=0, device="cuda").fit(X.cuda(), initial=start)
    assert gpu.means_.device.type == "cuda"
    np.testing.assert_allclose(gpu.means_.cpu().numpy(), cpu.means_.numpy(), rtol=1e-8)
    samples, _ = gpu.sample(10, seed=0)
    torch.testing.assert_close(samples.cpu(), cpu.sample(10, seed=0)[0], rtol=1e-8, atol=1e-8)


def test_mfa_noise_floor_is_a_constraint():
    """Pixels that never vary would drive psi to 0; the floor holds them and EM stays exact."""
    images, _ = load_digits("train", device="cpu", dtype=torch.float64)
    X = images.reshape(len(images), -1).numpy()[:600]
    model = MixtureOfFactorAnalyzers(4, 3, noise_floor=1e-2, max_iter=60, seed=1).fit(X)
    assert model.noise_variances_.min() >= 1e-2 - 1e-15
    assert np.isclose(model.noise_variances_.min(), 1e-2)  # some pixels sit on the floor
    assert np.all(np.diff(model.history_) >= -1e-9 * abs(model.history_[-1]))
    with pytest.raises(ValueError, match="noise_floor"):
        MixtureOfFactorAnalyzers(2, 2, noise_floor=0.0)


def test_plot_mixture_2d_labels_its_axes():
    from lessons_lib.plotting import plot_mixture_2d

    X = DATASETS["mixture_2d"].numpy()
    model = GaussianMixture(3, seed=0, device="cpu").fit(X)
    fig = plot_mixture_2d(
        X, model.weights_, model.means_, model.covariances_, responsibilities=model.predict_proba(X)
    )
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and len(ax.patches) == 3
    diag = GaussianMixture(3, "spherical", seed=0, device="cpu").fit(X)
    plot_mixture_2d(X, diag.weights_, diag.means_, diag.covariances_)
    with pytest.raises(ValueError, match="responsibilities"):
        plot_mixture_2d(X, model.weights_, model.means_, model.covariances_, responsibilities=X)


def test_transfer_colours_with_one_component_matches_the_target_moments_exactly():
    from lessons_lib.gmm import transfer_colours

    rng = np.random.default_rng(0)
    source_pixels = rng.normal(size=(4000, 3)) @ np.array(
        [[0.2, 0, 0], [0.05, 0.1, 0], [0, 0.02, 0.1]]
    )
    target_pixels = rng.normal(size=(3000, 3)) @ np.array(
        [[0.1, 0.03, 0], [0, 0.2, 0], [0.01, 0, 0.05]]
    )
    target_pixels += np.array([0.6, 0.3, 0.2])
    source = GaussianMixture(1, reg_covar=0.0, device="cpu").fit(source_pixels)
    target = GaussianMixture(1, reg_covar=0.0, device="cpu").fit(target_pixels)
    moved = transfer_colours(source_pixels, source, target, clip=False)
    assert isinstance(moved, np.ndarray) and moved.shape == source_pixels.shape
    np.testing.assert_allclose(moved.mean(0), target.means_[0], atol=1e-10)
    np.testing.assert_allclose(np.cov(moved.T, bias=True), target.covariances_[0], atol=1e-10)


def test_transfer_colours_pairs_components_by_brightness_and_checks_inputs():
    from lessons_lib.gmm import transfer_colours

    rng = np.random.default_rng(1)
    dark, light = rng.normal(0.2, 0.02, (500, 3)), rng.normal(0.8, 0.02, (500, 3))
    source = GaussianMixture(2, seed=0, device="cpu").fit(np.vstack([dark, light]))
    # The target's dark colours are bluish, its light ones reddish.
    blue, red = (
        rng.normal([0.1, 0.1, 0.4], 0.02, (500, 3)),
        rng.normal([0.9, 0.6, 0.5], 0.02, (500, 3)),
    )
    target = GaussianMixture(2, seed=0, device="cpu").fit(np.vstack([red, blue]))
    moved = transfer_colours(np.vstack([dark, light]), source, target)
    np.testing.assert_allclose(moved[:500].mean(0), [0.1, 0.1, 0.4], atol=0.01)
    np.testing.assert_allclose(moved[500:].mean(0), [0.9, 0.6, 0.5], atol=0.01)
    assert 0 <= moved.min() and moved.max() <= 1
    with pytest.raises(ValueError, match="n_components"):
        transfer_colours(dark, source, GaussianMixture(1, device="cpu").fit(blue))
    with pytest.raises(ValueError, match="pixels"):
        transfer_colours(dark[:, :2], source, target)
    with pytest.raises(TypeError, match="fitted"):
        transfer_colours(dark, source, GaussianMixture(2))


# =========================================================================== regressions
# Found by an adversarial pass over the public API: each test below failed before the fix.

NON_SYMMETRIC = np.array([[1.0, 5.0], [0.0, 1.0]])  # its lower triangle is the identity's


def two_blobs(n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 2)) @ np.array([[1.0, 0.3], [0.0, 0.5]])
    return np.concatenate([a, rng.normal(size=(n, 2)) + np.array([6.0, 2.0])])


def start(kind: str = "full") -> dict[str, np.ndarray]:
    covariances = {
        "full": np.stack([np.eye(2), 2 * np.eye(2)]),
        "diag": np.array([[1.0, 1.0], [2.0, 2.0]]),
        "spherical": np.array([1.0, 2.0]),
    }[kind]
    return {
        "weights": np.array([0.5, 0.5]),
        "means": np.array([[0.0, 0.0], [6.0, 2.0]]),
        "covariances": covariances,
    }


class TestCovarianceValidation:
    """Non-symmetric covariances were used as their lower triangle."""

    def test_from_parameters_names_the_component(self):
        with pytest.raises(
            ValueError,
            match=r"covariances must be symmetric positive definite, "
            r"but component 1 \(covariances\[1\]\) is not symmetric",
        ):
            GaussianMixture.from_parameters(
                np.array([0.5, 0.5]), np.zeros((2, 2)), np.stack([np.eye(2), NON_SYMMETRIC])
            )

    def test_initial_names_the_component(self):
        bad = {**start(), "covariances": np.stack([NON_SYMMETRIC, np.eye(2)])}
        with pytest.raises(
            ValueError,
            match=r"initial\['covariances'\] must be symmetric "
            r"positive definite, but component 0",
        ):
            GaussianMixture(2, device="cpu").fit(two_blobs(), initial=bad)

    def test_non_positive_variances_name_the_component(self):
        bad = {**start("diag"), "covariances": np.array([[1.0, 1.0], [2.0, 0.0]])}
        with pytest.raises(ValueError, match=r"initial\['covariances'\] must be > 0.*component 1"):
            GaussianMixture(2, "diag", device="cpu").fit(two_blobs(), initial=bad)
        with pytest.raises(ValueError, match=r"covariances must be > 0.*component 0"):
            GaussianMixture.from_parameters(
                np.array([0.5, 0.5]), np.zeros((2, 2)), np.array([-1.0, 1.0]), "spherical"
            )

    def test_unknown_initial_keys_are_refused(self):
        """'precisions' (sklearn's name) used to be silently ignored."""
        with pytest.raises(ValueError, match=r"unknown keys.*precisions"):
            GaussianMixture(2, device="cpu").fit(
                two_blobs(), initial={**start(), "precisions": np.stack([np.eye(2)] * 2)}
            )

    def test_rounding_asymmetry_is_accepted(self):
        nudged = start()
        nudged["covariances"] = nudged["covariances"].copy()
        nudged["covariances"][1, 0, 1] = 1e-14
        model = GaussianMixture(2, max_iter=3, tol=0, device="cpu")
        reference = GaussianMixture(2, max_iter=3, tol=0, device="cpu")
        model.fit(two_blobs(), initial=nudged)
        reference.fit(two_blobs(), initial=start())
        np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-10)

    def test_a_collapsed_component_is_detected_on_every_blas(self):
        """A covariance singular up to rounding could pass Cholesky and end EM as
        'converged' (test_covariance_floor_prevents_the_collapse failed on some machines)."""
        v = torch.tensor([1.0, 2.0], dtype=torch.float64)
        collapsed = 1.6544e-24 * torch.outer(v, v)
        collapsed[1, 1] *= 1 + 2e-16
        params = gmm_module._Params(
            torch.tensor([0.5, 0.5], dtype=torch.float64),
            torch.zeros(2, 2, dtype=torch.float64),
            torch.stack([torch.eye(2, dtype=torch.float64), collapsed]),
        )
        with pytest.raises(ValueError, match=r"not positive definite \(matrix \[1\].*reg_covar"):
            gmm_module._Whitener(params, "full")


class TestSeeds:
    @pytest.mark.parametrize(
        ("bad", "error"),
        [(-1, ValueError), (1.9, TypeError), (True, TypeError), (2**63, ValueError)],
    )
    def test_bad_seeds_are_refused_at_construction(self, bad, error):
        """seed=1.9 acted as seed=1, seed=-1 was accepted."""
        for make in (
            lambda: GaussianMixture(2, seed=bad),
            lambda: MixtureOfFactorAnalyzers(2, 1, seed=bad),
        ):
            with pytest.raises(error, match="seed"):
                make()
        model = GaussianMixture.from_parameters(**start())
        with pytest.raises(error, match="seed"):
            model.sample(3, seed=bad)
        with pytest.raises(error, match="seed"):
            model.sample_conditional(np.zeros((1, 2)), np.array([True, False]), seed=bad)

    def test_largest_seed_works(self):
        GaussianMixture(2, seed=2**63 - 1, max_iter=2, device="cpu").fit(two_blobs())


class TestKMeans:
    def generator(self):
        return gmm_module.make_generator(0)

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"n_clusters": 0}, ValueError, "n_clusters must be >= 1"),
            ({"n_clusters": 81}, ValueError, "K larger than N"),
            ({"n_clusters": 2.0}, TypeError, "n_clusters"),
            ({"n_iter": 0}, ValueError, "n_iter"),
            ({"generator": 0}, TypeError, "generator"),
            ({"X": np.zeros(3)}, ValueError, "X"),
            ({"X": np.full((4, 2), np.nan)}, ValueError, "X"),
            ({"X": np.ones((4, 2), dtype=bool)}, TypeError, "X"),
        ],
    )
    def test_bad_arguments(self, kwargs, error, match):
        """n_clusters=0 returned one centre."""
        call = {
            "X": torch.as_tensor(two_blobs()),
            "n_clusters": 2,
            "generator": self.generator(),
            **kwargs,
        }
        with pytest.raises(error, match=match):
            gmm_module.kmeans(**call)
        if "n_iter" not in kwargs:
            call.pop("n_iter", None)
            with pytest.raises(error, match=match):
                gmm_module.kmeans_plusplus(**call)

    @pytest.mark.parametrize("scale", [1e160, 1e-200, 1.0])
    def test_any_magnitude(self, scale):
        """X * 1e160 failed inside torch.multinomial (squared distances overflowed)."""
        X = torch.as_tensor(two_blobs())
        centres, labels = gmm_module.kmeans(X * scale, 2, self.generator())
        ref_centres, ref_labels = gmm_module.kmeans(X, 2, self.generator())
        torch.testing.assert_close(labels, ref_labels, rtol=0, atol=0)
        torch.testing.assert_close(centres / scale, ref_centres, rtol=1e-12, atol=0)

    def test_far_from_the_origin(self):
        """|x|^2 - 2 x.c + |c|^2 cancelled catastrophically for data around 1e9."""
        X = torch.as_tensor(two_blobs())
        _, labels = gmm_module.kmeans(X + 1e9, 2, self.generator())
        _, ref_labels = gmm_module.kmeans(X, 2, self.generator())
        assert bool((labels == ref_labels).all() or (labels != ref_labels).all())

    def test_numpy_and_integer_input(self):
        centres, labels = gmm_module.kmeans(
            np.round(two_blobs() * 10).astype(int), 2, self.generator()
        )
        assert centres.dtype == torch.float64 and labels.shape == (80,)
        picks = gmm_module.kmeans_plusplus(two_blobs(), 2, self.generator())
        assert all(any(np.array_equal(p, row) for row in two_blobs()) for p in picks.numpy())


class TestExtremeMagnitudes:
    """Finite but extreme values: right where representable, else a clear early ValueError."""

    @pytest.mark.parametrize("kind", COVARIANCE_TYPES)
    @pytest.mark.parametrize("scale", [1e150, 1e-150])
    def test_fit_is_scale_equivariant(self, kind, scale):
        """EM runs on data scaled by a power of two: fitting s X (with the floor s^2 reg)
        gives s times the fit of X."""
        X = two_blobs()
        model = GaussianMixture(
            2, kind, reg_covar=1e-6 * scale**2, seed=0, max_iter=10, device="cpu"
        ).fit(X * scale)
        reference = GaussianMixture(2, kind, seed=0, max_iter=10, device="cpu").fit(X)
        np.testing.assert_allclose(model.means_ / scale, reference.means_, rtol=1e-9)
        np.testing.assert_allclose(model.covariances_ / scale**2, reference.covariances_, rtol=1e-9)
        log_scale = 2 * np.log(scale)
        np.testing.assert_allclose(
            np.array(model.history_) + log_scale, reference.history_, rtol=1e-9
        )
        np.testing.assert_allclose(
            model.predict_proba(X * scale), reference.predict_proba(X), atol=1e-9
        )

    def test_mfa_is_scale_equivariant(self):
        X = np.hstack([two_blobs(), two_blobs(seed=1)])
        for scale in (1e150, 1e-150):
            model = MixtureOfFactorAnalyzers(
                2, 1, noise_floor=1e-4 * scale**2, max_iter=5, seed=0, device="cpu"
            ).fit(X * scale)
            reference = MixtureOfFactorAnalyzers(2, 1, max_iter=5, seed=0, device="cpu").fit(X)
            np.testing.assert_allclose(model.means_ / scale, reference.means_, rtol=1e-9)
            np.testing.assert_allclose(
                model.noise_variances_ / scale**2, reference.noise_variances_, rtol=1e-9
            )

    @pytest.mark.parametrize(
        "make",
        [
            lambda: GaussianMixture(2, device="cpu"),
            lambda: GaussianMixture(2, "diag", device="cpu"),
            lambda: MixtureOfFactorAnalyzers(2, 1, device="cpu"),
        ],
    )
    def test_covariances_beyond_float64_are_refused_before_any_work(self, make, monkeypatch):
        """GaussianMixture.fit(X * 1e160) failed inside torch.multinomial."""
        for module in (density_gmm, density_mfa):
            monkeypatch.setattr(module, "kmeans", lambda *a, **k: pytest.fail("work started"))
        X = np.hstack([two_blobs(), two_blobs(seed=1)[:, :1]]) * 1e160
        with pytest.raises(ValueError, match="X spreads too widely"):
            make().fit(X)

    def test_tiny_data_under_the_floor(self):
        """Variances of 1e-400 underflow; with the floor (reg_covar) the fit is right."""
        model = GaussianMixture(2, seed=0, device="cpu").fit(two_blobs() * 1e-200)
        np.testing.assert_allclose(model.covariances_, np.stack([1e-6 * np.eye(2)] * 2), rtol=1e-9)
        with pytest.raises(ValueError, match="X varies too little"):
            GaussianMixture(2, reg_covar=0.0, device="cpu").fit(two_blobs() * 1e-200)

    def test_float32_range(self):
        with pytest.raises(ValueError, match=r"X spreads too widely for torch\.float32"):
            GaussianMixture(2, dtype=torch.float32, device="cpu").fit(two_blobs() * 1e30)
        with pytest.raises(ValueError, match=r"beyond the range of torch\.float32"):
            GaussianMixture(2, dtype=torch.float32, device="cpu").fit(two_blobs() * 1e200)

    def mixture(self):
        return GaussianMixture.from_parameters(
            np.array([0.3, 0.7]),
            np.array([[0.0, 0.0], [3.0, 1.0]]),
            np.array([[[1.0, 0.5], [0.5, 3.0]], [[4.0, -1.0], [-1.0, 1.0]]]),
        )

    def test_inpaint_with_huge_observed_values(self):
        """An observed 1e300 gave NaN: the posterior is one-hot on the component with the
        largest observed variance (the smallest Mahalanobis distance), exactly."""
        model = self.mixture()
        X = np.array([[1e300, np.nan], [-1e300, np.nan], [np.nan, 1e300]])
        mask = ~np.isnan(X)
        filled, posterior = model.inpaint(X, mask, return_posterior=True)
        np.testing.assert_array_equal(posterior, [[0, 1], [0, 1], [1, 0]])
        np.testing.assert_allclose(filled[:, 1][:2], [-0.25e300, 0.25e300], rtol=1e-12)
        assert filled[2, 0] == pytest.approx(0.5e300 / 3, rel=1e-12)
        draws = model.sample_conditional(X, mask, seed=0)
        assert np.isfinite(draws).all()

    def test_scores_of_far_points(self):
        model = self.mixture()
        # (Directions where two components have the same variance are ties to rounding:
        # their difference, ~1e200 against ~1e400, is below what a float can resolve.)
        far = np.array([[1e200, 0.0], [0.0, 1e200], [1e-300, 0.0]])
        np.testing.assert_array_equal(model.predict_proba(far)[:2], [[0, 1], [1, 0]])
        np.testing.assert_array_equal(model.predict(far)[:2], [1, 0])
        with pytest.raises(ValueError, match="row 0 of X"):
            model.score_samples(far)  # log p ~ -1e399: no float holds it
        mfa = MixtureOfFactorAnalyzers.from_parameters(
            np.array([0.5, 0.5]),
            np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]),
            np.array([[[1.0], [0.0], [0.0]], [[0.0], [0.0], [0.0]]]),
            np.ones((2, 3)),
        )
        np.testing.assert_array_equal(mfa.predict_proba(np.array([[1e200, 0.0, 0.0]])), [[1, 0]])
        with pytest.raises(ValueError, match="row 0 of X"):
            mfa.score(np.array([[1e200, 0.0, 0.0]]))


FITTED = GaussianMixture.from_parameters(**start())

BAD_CALLS = {
    # name: (call, error, word the message must contain)
    "K = 0": (lambda: GaussianMixture(0), ValueError, "n_components"),
    "K float": (lambda: GaussianMixture(2.0), TypeError, "n_components"),
    "K > N": (
        lambda: GaussianMixture(5, device="cpu").fit(two_blobs()[:4]),
        ValueError,
        "n_components",
    ),
    "reg_covar < 0": (lambda: GaussianMixture(2, reg_covar=-1e-6), ValueError, "reg_covar"),
    "max_iter = 0": (lambda: GaussianMixture(2, max_iter=0), ValueError, "max_iter"),
    "tol < 0": (lambda: GaussianMixture(2, tol=-1.0), ValueError, "tol"),
    "tol inf": (lambda: GaussianMixture(2, tol=float("inf")), TypeError, "tol"),
    "n_init = 0": (lambda: GaussianMixture(2, n_init=0), ValueError, "n_init"),
    "covariance_type": (lambda: GaussianMixture(2, "tied"), ValueError, "covariance_type"),
    "covariance_type list": (lambda: GaussianMixture(2, ["full"]), ValueError, "covariance_type"),
    "init": (lambda: GaussianMixture(2, init="k-means"), ValueError, "init"),
    "dtype": (lambda: GaussianMixture(2, dtype=torch.int32), ValueError, "dtype"),
    "device": (lambda: GaussianMixture(2, device="gpu7"), ValueError, "device"),
    "X complex": (lambda: GaussianMixture(2).fit(two_blobs() + 0j), TypeError, "X"),
    "X object": (lambda: GaussianMixture(2).fit(two_blobs().astype(object)), TypeError, "X"),
    "X bool": (lambda: GaussianMixture(2).fit(two_blobs() > 0), TypeError, "X"),
    "X empty": (lambda: GaussianMixture(1).fit(np.zeros((0, 2))), ValueError, "X"),
    "X no columns": (lambda: GaussianMixture(1).fit(np.zeros((5, 0))), ValueError, "X"),
    "X 3-D": (lambda: GaussianMixture(1).fit(np.zeros((5, 2, 1))), ValueError, "X"),
    "X -inf": (lambda: GaussianMixture(1).fit(np.array([[0.0, -np.inf], [1, 1]])), ValueError, "X"),
    "callback": (lambda: GaussianMixture(2).fit(two_blobs(), callback=3), TypeError, "callback"),
    "initial list": (
        lambda: GaussianMixture(2).fit(two_blobs(), initial=[1]),
        TypeError,
        "initial",
    ),
    "init weights complex": (
        lambda: GaussianMixture(2).fit(
            two_blobs(), initial={**start(), "weights": np.array([0.5, 0.5]) + 0j}
        ),
        TypeError,
        "weights",
    ),
    "init weights sum": (
        lambda: GaussianMixture(2).fit(
            two_blobs(), initial={**start(), "weights": np.array([0.5, 0.6])}
        ),
        ValueError,
        "weights",
    ),
    "init means NaN": (
        lambda: GaussianMixture(2).fit(
            two_blobs(), initial={**start(), "means": np.full((2, 2), np.nan)}
        ),
        ValueError,
        "means",
    ),
    "from_parameters weights shape": (
        lambda: GaussianMixture.from_parameters(
            np.ones(3) / 3, np.zeros((2, 2)), np.stack([np.eye(2)] * 2)
        ),
        ValueError,
        "means",
    ),
    "from_parameters covariances shape": (
        lambda: GaussianMixture.from_parameters(
            np.ones(2) / 2, np.zeros((2, 1)), np.stack([np.eye(2)] * 2)
        ),
        ValueError,
        "means",
    ),
    "score columns": (lambda: FITTED.score_samples(np.zeros((2, 3))), ValueError, "X"),
    "score NaN": (lambda: FITTED.score(np.array([[np.nan, 0.0]])), ValueError, "X"),
    "predict bool": (lambda: FITTED.predict(np.ones((2, 2), dtype=bool)), TypeError, "X"),
    "sample n = 0": (lambda: FITTED.sample(0), ValueError, "n"),
    "sample n huge": (lambda: FITTED.sample(10**20), ValueError, "n"),
    "sample component": (lambda: FITTED.sample(2, component=2), ValueError, "component"),
    "sample component bool": (lambda: FITTED.sample(2, component=True), TypeError, "component"),
    "inpaint mask dtype": (lambda: FITTED.inpaint(np.zeros((1, 2)), np.ones(2)), TypeError, "mask"),
    "inpaint X observed inf": (
        lambda: FITTED.inpaint(np.array([[np.inf, 0.0]]), np.ones(2, dtype=bool)),
        ValueError,
        "X",
    ),
    "MFA n_factors = 0": (lambda: MixtureOfFactorAnalyzers(2, 0), ValueError, "n_factors"),
    "MFA noise_floor": (
        lambda: MixtureOfFactorAnalyzers(2, 1, noise_floor=-1.0),
        ValueError,
        "noise_floor",
    ),
    "MFA factors complex": (
        lambda: MixtureOfFactorAnalyzers.from_parameters(
            np.ones(2) / 2, np.zeros((2, 3)), np.ones((2, 3, 1)) + 0j, np.ones((2, 3))
        ),
        TypeError,
        "factors",
    ),
    "MFA weights shape": (
        lambda: MixtureOfFactorAnalyzers.from_parameters(
            np.ones(1), np.zeros((2, 3)), np.ones((2, 3, 1)), np.ones((2, 3))
        ),
        ValueError,
        "factors",
    ),
    "MFA sample n huge": (
        lambda: MixtureOfFactorAnalyzers.from_parameters(
            np.ones(2) / 2, np.zeros((2, 3)), np.ones((2, 3, 1)), np.ones((2, 3))
        ).sample(10**20),
        ValueError,
        "n",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_input_table(case):
    """Every bad input: a ValueError/TypeError naming the argument, raised by our checks."""
    assert_raised_by_our_checks(*BAD_CALLS[case])
