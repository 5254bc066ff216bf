"""lessons_lib.gmm: EM checked against scikit-learn, the likelihood never falls, samples and
completions checked against exact values, bad inputs refused before any work."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import lessons_lib.gmm as gmm_module
from lessons_lib.data import MIXTURE_2D, load_digits, make_mixture_2d, make_moons, make_ring
from lessons_lib.gmm import (
    ConvergenceWarning,
    GaussianMixture,
    MixtureOfFactorAnalyzers,
    NotFittedError,
)

COVARIANCE_TYPES = ["full", "diag", "spherical"]


def blobs(n: int = 600, dim: int = 4, k: int = 3, seed: int = 0) -> np.ndarray:
    """Correlated Gaussian blobs, away from the origin (so centring matters)."""
    rng = np.random.default_rng(seed)
    parts = [
        rng.normal(size=(n // k, dim)) @ rng.normal(size=(dim, dim)) + 6 * rng.normal(size=dim) + 10
        for _ in range(k)
    ]
    return np.concatenate(parts)


def start_from(X: np.ndarray, k: int, kind: str, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    cov = np.cov(X.T, bias=True)
    covariances = {
        "full": np.repeat(cov[None], k, axis=0),
        "diag": np.repeat(np.diag(cov)[None], k, axis=0),
        "spherical": np.full(k, np.diag(cov).mean()),
    }[kind]
    return {
        "weights": rng.dirichlet(np.full(k, 5.0)),
        "means": X[rng.choice(len(X), k, replace=False)],
        "covariances": covariances,
    }


def sklearn_from(start: dict, kind: str, max_iter: int, reg_covar: float = 1e-6):
    covariances = start["covariances"]
    precisions = np.linalg.inv(covariances) if kind == "full" else 1.0 / covariances
    return SkGaussianMixture(
        len(start["weights"]),
        covariance_type=kind,
        max_iter=max_iter,
        tol=0.0,
        reg_covar=reg_covar,
        weights_init=start["weights"],
        means_init=start["means"],
        precisions_init=precisions,
    )


def relative_gap(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# --------------------------------------------------------------------------- against sklearn


@pytest.mark.parametrize("kind", COVARIANCE_TYPES)
@pytest.mark.parametrize("data_seed", [0, 1])
def test_agrees_with_sklearn_from_the_same_start(kind, data_seed):
    X = blobs(seed=data_seed)
    start = start_from(X, 3, kind, seed=data_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = sklearn_from(start, kind, max_iter=12).fit(X)
    ours = GaussianMixture(3, kind, max_iter=12, tol=0, device="cpu").fit(X, init_params=start)
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
    monkeypatch.setattr(gmm_module, "PRUNE_ON_CPU", pruning)
    X = blobs(1500, dim=20, k=5, seed=4)
    start = start_from(X, 5, kind, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = sklearn_from(start, kind, max_iter=15).fit(X)
    ours = GaussianMixture(5, kind, max_iter=15, tol=0, device="cpu").fit(X, init_params=start)
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
    ours.fit(X, init_params=start)
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
        GaussianMixture(2, max_iter=5, tol=0, reg_covar=0.0, device="cpu").fit(X, init_params=start)
    floored = GaussianMixture(2, max_iter=5, tol=0, reg_covar=1e-3, device="cpu")
    floored.fit(X, init_params=start)
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

    monkeypatch.setattr(gmm_module, "kmeans", no_work)
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
    with pytest.raises(ValueError, match="init_params\\['means'\\] must have shape"):
        model.fit(X, init_params={"weights": np.ones(3) / 3, "means": X[:2], "covariances": 0})
    with pytest.raises(ValueError, match="sum to 1"):
        model.fit(
            X,
            init_params={
                "weights": np.ones(3),
                "means": X[:3],
                "covariances": np.repeat(np.eye(2)[None], 3, axis=0),
            },
        )
    with pytest.raises(ValueError, match="not positive definite"):
        model.fit(
            X,
            init_params={
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
    cpu = GaussianMixture(3, max_iter=10, tol=0, device="cpu").fit(X, init_params=start)
    gpu = GaussianMixture(3, max_iter=10, tol=0, device="cuda").fit(X.cuda(), init_params=start)
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
