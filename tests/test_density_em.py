"""lessons_lib.density: the readable EM (``em.e_step``/``em.m_step``) against scikit-learn and
against the accelerated path that GaussianMixture runs, the one Gaussian log-density, and the
DensityModel face of the models."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import blobs, relative_gap, sklearn_from
from conftest import start_from as _start_from
from scipy.stats import multivariate_normal

import lessons_lib.density._fast_e_step as fast_e_step
from lessons_lib.core.base import DensityModel
from lessons_lib.core.base import NotFittedError as CoreNotFittedError
from lessons_lib.data import load_digits, make_moons
from lessons_lib.density import (
    Gaussian,
    GaussianMixture,
    MixtureOfFactorAnalyzers,
    NotFittedError,
    e_step,
    gaussian_log_density,
    m_step,
)
from lessons_lib.density.em import full_covariances
from lessons_lib.density.linalg import cholesky


def digits(n: int = 400) -> np.ndarray:
    images, _ = load_digits("train", device="cpu", dtype=torch.float64)
    return images.reshape(len(images), -1).numpy()[:n]


def start_from(X: np.ndarray, k: int, kind: str, seed: int = 0) -> dict[str, np.ndarray]:
    """The shared EM start, with 1e-2 on the covariances' diagonal."""
    return _start_from(X, k, kind, seed, ridge=1e-2)


def readable_em(X, start, kind, n_iter, reg_covar):
    """EM as notebook 02 writes it, through the readable functions only."""
    X = torch.as_tensor(X)
    weights, means, covariances = (torch.as_tensor(start[k]) for k in start)
    for _ in range(n_iter):
        log_resp, _ = e_step(X, weights, means, covariances, kind)
        weights, means, covariances = m_step(X, log_resp.exp(), kind, reg_covar)
    _, log_likelihood = e_step(X, weights, means, covariances, kind)
    return (weights, means, covariances), log_likelihood


DATASETS = {
    # name: (X, K, reg_covar, EM iterations)
    "blobs 4-D": (blobs(600, 4, 3, seed=0), 3, 1e-6, 15),
    "blobs 20-D (pruned on a CPU)": (blobs(1500, 20, 5, seed=4), 5, 1e-6, 15),
    "moons, overlapping": (make_moons(500, seed=0, device="cpu")[0].double().numpy(), 4, 1e-6, 15),
    "digits 64-D (floor matters)": (digits(), 4, 1e-2, 8),
}


@pytest.mark.parametrize(
    ("kind", "pruning"),
    [("full", True), ("full", False), ("diag", False), ("spherical", False)],
    ids=["full-pruned", "full-dense", "diag", "spherical"],
)
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_readable_and_fast_paths_agree(name, kind, pruning, monkeypatch):
    """The textbook EM and GaussianMixture's accelerated EM give the same numbers (float64).

    "full-pruned" is the CPU path for D >= 16 (skipped pairs, truncated M-sums); "full-dense"
    is the one-product whitening a GPU runs; D < 16 is always dense.
    """
    monkeypatch.setattr(fast_e_step, "PRUNE_ON_CPU", pruning)
    X, k, reg_covar, n_iter = DATASETS[name]
    start = start_from(X, k, kind, seed=1)
    (weights, means, covariances), log_likelihood = readable_em(X, start, kind, n_iter, reg_covar)
    model = GaussianMixture(k, kind, max_iter=n_iter, tol=0, reg_covar=reg_covar, device="cpu")
    model.fit(X, initial=start)
    assert model.n_iter_ == n_iter
    assert relative_gap(model.weights_, weights) < 1e-10
    assert relative_gap(model.means_, means) < 1e-10
    assert relative_gap(model.covariances_, covariances) < 1e-10
    assert model.history_[-1] == pytest.approx(log_likelihood, rel=1e-10)


@pytest.mark.parametrize("pruning", [True, False])
def test_float32_fast_path_follows_the_readable_em(pruning, monkeypatch):
    """float32 (about twice as fast on a CPU) stays within float32 rounding of float64."""
    monkeypatch.setattr(fast_e_step, "PRUNE_ON_CPU", pruning)
    X, k, reg_covar, _ = DATASETS["blobs 20-D (pruned on a CPU)"]
    start = start_from(X, k, "full", seed=1)
    (weights, means, covariances), log_likelihood = readable_em(X, start, "full", 8, reg_covar)
    model = GaussianMixture(
        k, max_iter=8, tol=0, reg_covar=reg_covar, device="cpu", dtype=torch.float32
    )
    model.fit(torch.as_tensor(X, dtype=torch.float32), initial=start)
    assert model.means_.dtype == torch.float32
    assert relative_gap(model.weights_, weights) < 1e-4
    assert relative_gap(model.means_, means) < 1e-4
    assert relative_gap(model.covariances_, covariances) < 1e-3
    assert model.history_[-1] == pytest.approx(log_likelihood, rel=1e-5)


@pytest.mark.parametrize("kind", ["full", "tied", "diag", "spherical"])
def test_readable_em_matches_sklearn(kind):
    """Every covariance type, "tied" included (which only the readable EM offers)."""
    X, k, reg_covar, n_iter = DATASETS["blobs 4-D"]
    start = start_from(X, k, kind, seed=2)
    reference = sklearn_from(start, kind, n_iter, reg_covar)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 never "converges"
        reference.fit(X)
    (weights, means, covariances), log_likelihood = readable_em(X, start, kind, n_iter, reg_covar)
    assert relative_gap(weights, reference.weights_) < 1e-8
    assert relative_gap(means, reference.means_) < 1e-8
    assert relative_gap(covariances, reference.covariances_) < 1e-8
    assert log_likelihood == pytest.approx(reference.score(X), rel=1e-10)
    log_resp, _ = e_step(X, weights, means, covariances, kind)
    np.testing.assert_allclose(log_resp.exp().numpy(), reference.predict_proba(X), atol=1e-8)


def test_e_step_on_the_notebook_formula():
    """log r_nk = log pi_k + log N(x_n; mu_k, Sigma_k) - log p(x_n), from SciPy."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    start = start_from(X, 3, "full")
    log_resp, log_likelihood = e_step(X, *start.values())
    log_joint = np.stack(
        [
            np.log(start["weights"][k])
            + multivariate_normal(start["means"][k], start["covariances"][k]).logpdf(X)
            for k in range(3)
        ],
        axis=1,
    )
    log_px = np.logaddexp.reduce(log_joint, axis=1)
    np.testing.assert_allclose(
        log_resp.numpy(), log_joint - log_px[:, None], rtol=1e-12, atol=1e-14
    )
    assert log_likelihood == pytest.approx(log_px.mean(), rel=1e-12)


def test_m_step_with_hard_labels_gives_cluster_moments():
    X = blobs(300, 3, 3, seed=3)
    labels = np.repeat(np.arange(3), 100)
    weights, means, covariances = m_step(X, np.eye(3)[labels], "full", 0.0)
    for k in range(3):
        members = X[labels == k]
        np.testing.assert_allclose(means[k].numpy(), members.mean(0), rtol=1e-12)
        np.testing.assert_allclose(
            covariances[k].numpy(), np.cov(members.T, bias=True), rtol=1e-10, atol=1e-12
        )
    np.testing.assert_allclose(weights.numpy(), np.full(3, 1 / 3), rtol=1e-12)
    with pytest.raises(ValueError, match="covariance_type"):
        m_step(X, np.eye(3)[labels], "banded")


def test_gaussian_log_density_one_and_batched():
    rng = np.random.default_rng(1)
    X = torch.as_tensor(rng.normal(size=(40, 4)))
    means = torch.as_tensor(rng.normal(size=(3, 4)))
    a = rng.normal(size=(3, 4, 4))
    covariances = torch.as_tensor(a @ a.transpose(0, 2, 1) + np.eye(4))
    factors = cholesky(covariances)
    batched = gaussian_log_density(X, means, factors)
    assert batched.shape == (3, 40)
    for k in range(3):
        one = gaussian_log_density(X, means[k], factors[k])
        torch.testing.assert_close(batched[k], one, rtol=1e-13, atol=0)
        want = multivariate_normal(means[k].numpy(), covariances[k].numpy()).logpdf(X.numpy())
        np.testing.assert_allclose(one.numpy(), want, rtol=1e-12)
    # Astronomically far: -inf, never NaN.
    far = gaussian_log_density(torch.full((1, 4), 1e200, dtype=torch.float64), means, factors)
    assert bool(torch.isneginf(far).all())


def test_full_covariances_of_every_storage_shape():
    tied = torch.eye(2, dtype=torch.float64) * 2
    assert full_covariances(tied, "tied", 3, 2).shape == (3, 2, 2)
    torch.testing.assert_close(
        full_covariances(torch.tensor([1.0, 4.0]), "spherical", 2, 3)[1], 4.0 * torch.eye(3)
    )
    torch.testing.assert_close(
        full_covariances(torch.tensor([[1.0, 2.0]]), "diag", 1, 2)[0],
        torch.diag(torch.tensor([1.0, 2.0])),
    )


# --------------------------------------------------------------------------- the model face


def test_initial_is_the_new_name_of_init_params():
    X, k, _, _ = DATASETS["blobs 4-D"]
    start = start_from(X, k, "full")
    new = GaussianMixture(k, max_iter=5, tol=0, device="cpu").fit(X, initial=start)
    with pytest.warns(DeprecationWarning, match="initial="):
        old = GaussianMixture(k, max_iter=5, tol=0, device="cpu").fit(X, init_params=start)
    np.testing.assert_array_equal(new.means_, old.means_)
    with pytest.raises(TypeError, match="once"):
        GaussianMixture(k, device="cpu").fit(X, initial=start, init_params=start)
    with pytest.raises(ValueError, match=r"initial\['means'\] must have shape"):
        GaussianMixture(k, device="cpu").fit(X, initial={**start, "means": X[:2]})


def test_models_are_density_models():
    X = blobs(200, 3, 2, seed=5)
    models = [
        Gaussian(1e-6, device="cpu"),
        GaussianMixture(2, seed=0, device="cpu"),
        MixtureOfFactorAnalyzers(2, 1, seed=0, device="cpu"),
    ]
    assert NotFittedError is CoreNotFittedError
    for model in models:
        assert isinstance(model, DensityModel)
        assert not model.is_fitted()
        with pytest.raises(NotFittedError, match="fit"):
            model.score_samples(X)
        assert model.fit(X) is model and model.is_fitted()
        assert isinstance(model.score(X), float)
        assert model.score(X) == pytest.approx(float(np.mean(model.score_samples(X))), rel=1e-12)
