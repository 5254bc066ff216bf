"""lessons_lib.gaussian: densities, maximum likelihood, sampling and conditioning, checked
against SciPy, NumPy and closed forms computed another way (through the precision matrix)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

from lessons_lib.gaussian import (
    Gaussian,
    NotFittedError,
    cholesky,
    conditional_gaussian,
    density,
    fit_gaussian,
    log_density,
    sample_gaussian,
)


def random_gaussian(dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dim, dim))
    return rng.normal(size=dim), a @ a.T + 0.5 * np.eye(dim)


def conditional_by_precision(mean, cov, observed, x_o):
    """The conditional through the precision matrix P = cov^-1, a different route:
    mean_m - P_mm^-1 P_mo (x_o - mean_o) and cov P_mm^-1."""
    precision = np.linalg.inv(cov)
    m = ~observed
    p_mm = precision[np.ix_(m, m)]
    p_mo = precision[np.ix_(m, observed)]
    cond_cov = np.linalg.inv(p_mm)
    cond_mean = mean[m] - (cond_cov @ p_mo @ (x_o - mean[observed]).T).T
    return cond_mean, cond_cov


# --------------------------------------------------------------------------- densities


def test_log_density_matches_scipy():
    mean, cov = random_gaussian(5)
    X = np.random.default_rng(1).normal(size=(200, 5)) * 2
    expected = multivariate_normal(mean, cov).logpdf(X)
    np.testing.assert_allclose(log_density(X, mean, cov), expected, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(density(X, mean, cov), np.exp(expected), rtol=1e-10)


def test_log_density_torch_in_torch_out():
    mean, cov = random_gaussian(3)
    X = torch.randn(10, 3, dtype=torch.float64)
    out = log_density(X, torch.as_tensor(mean), torch.as_tensor(cov))
    assert isinstance(out, torch.Tensor) and out.shape == (10,)
    expected = multivariate_normal(mean, cov).logpdf(X.numpy())
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_cholesky_error_names_the_fix():
    with pytest.raises(ValueError, match=r"not positive definite.*reg_covar"):
        cholesky(torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64))


def test_bad_inputs_are_rejected():
    mean, cov = random_gaussian(3)
    X = np.zeros((4, 3))
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        log_density(X, mean, cov)
    with pytest.raises(ValueError, match="columns"):
        log_density(np.zeros((4, 2)), mean, cov)
    with pytest.raises(ValueError, match="cov must have shape"):
        log_density(np.zeros((4, 3)), mean, cov[:2])
    with pytest.raises(ValueError, match="dimensions"):
        fit_gaussian(np.zeros(5))
    with pytest.raises(ValueError, match="reg_covar"):
        fit_gaussian(np.zeros((5, 2)), reg_covar=-1.0)


# --------------------------------------------------------------------------- maximum likelihood


def test_fit_gaussian_is_the_biased_sample_covariance():
    X = np.random.default_rng(0).normal(size=(300, 4)) @ np.diag([1, 2, 3, 4])
    mean, cov = fit_gaussian(X, reg_covar=0.1)
    np.testing.assert_allclose(mean, X.mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(X.T, bias=True) + 0.1 * np.eye(4), rtol=1e-10)


def test_maximum_likelihood_beats_perturbed_parameters():
    X = np.random.default_rng(2).normal(size=(500, 3)) @ np.array(
        [[1, 0.5, 0], [0, 1, 0.3], [0, 0, 1]]
    )
    model = Gaussian().fit(X)
    best = model.score(X)
    rng = np.random.default_rng(3)
    for _ in range(5):
        other = Gaussian.from_parameters(
            model.mean_ + 0.05 * rng.normal(size=3), model.covariance_ * 1.05
        )
        assert other.score(X) < best


# --------------------------------------------------------------------------- sampling


def test_sample_moments_match_within_monte_carlo_error():
    mean, cov = random_gaussian(4, seed=5)
    n = 40_000
    X = sample_gaussian(mean, cov, n, seed=0)
    assert X.shape == (n, 4) and isinstance(X, np.ndarray)
    standard_error = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(X.mean(0) - mean) < 5 * standard_error)
    centred = X - mean
    products = centred[:, :, None] * centred[:, None, :]
    cov_error = products.std(0) / np.sqrt(n)
    assert np.all(np.abs(products.mean(0) - cov) < 5 * cov_error)


def test_sample_is_reproducible_and_uses_the_cholesky_factor():
    mean, cov = random_gaussian(3)
    a = sample_gaussian(mean, cov, 5, seed=7)
    b = sample_gaussian(mean, cov, 5, seed=7)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, sample_gaussian(mean, cov, 5, seed=8))
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    expected = mean + z.numpy() @ np.linalg.cholesky(cov).T
    np.testing.assert_allclose(a, expected, rtol=1e-12)


def test_sample_torch_in_torch_out():
    mean, cov = random_gaussian(2)
    X = sample_gaussian(torch.as_tensor(mean), torch.as_tensor(cov), 3, seed=0, device="cpu")
    assert isinstance(X, torch.Tensor) and X.shape == (3, 2)


# --------------------------------------------------------------------------- conditioning


def test_conditional_matches_the_precision_route():
    mean, cov = random_gaussian(6, seed=4)
    observed = np.array([True, False, True, True, False, False])
    x_o = np.random.default_rng(0).normal(size=(7, 3))
    cond_mean, cond_cov = conditional_gaussian(mean, cov, observed, x_o)
    ref_mean, ref_cov = conditional_by_precision(mean, cov, observed, x_o)
    np.testing.assert_allclose(cond_mean, ref_mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cond_cov, ref_cov, rtol=1e-10, atol=1e-12)
    single, _ = conditional_gaussian(mean, cov, observed, x_o[0])
    np.testing.assert_allclose(single, ref_mean[0], rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(
    dim=st.integers(2, 7),
    seed=st.integers(0, 10_000),
    data=st.data(),
)
def test_conditional_property(dim, seed, data):
    mean, cov = random_gaussian(dim, seed)
    observed = np.array(data.draw(st.lists(st.booleans(), min_size=dim, max_size=dim)))
    if observed.all() or not observed.any():
        observed[0], observed[-1] = True, False
    x_o = np.random.default_rng(seed).normal(size=(3, int(observed.sum())))
    cond_mean, cond_cov = conditional_gaussian(mean, cov, observed, x_o)
    ref_mean, ref_cov = conditional_by_precision(mean, cov, observed, x_o)
    np.testing.assert_allclose(cond_mean, ref_mean, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(cond_cov, ref_cov, rtol=1e-8, atol=1e-9)


def test_conditional_checks_its_inputs():
    mean, cov = random_gaussian(3)
    with pytest.raises(ValueError, match="2 values per point"):
        conditional_gaussian(mean, cov, np.array([True, True, False]), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="observed must have shape"):
        conditional_gaussian(mean, cov, np.array([True, False]), np.zeros((4, 1)))
    with pytest.raises(TypeError, match="boolean"):
        conditional_gaussian(mean, cov, np.array([1.0, 0.0, 1.0]), np.zeros((4, 2)))


# --------------------------------------------------------------------------- the estimator


def test_estimator_fit_score_sample_numpy_in_numpy_out():
    X = np.random.default_rng(0).normal(size=(400, 3)) @ np.array(
        [[2.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 0.2]]
    )
    model = Gaussian(reg_covar=1e-3, device="cpu").fit(X)
    assert isinstance(model.mean_, np.ndarray) and model.covariance_.shape == (3, 3)
    ref = multivariate_normal(X.mean(0), np.cov(X.T, bias=True) + 1e-3 * np.eye(3))
    np.testing.assert_allclose(model.score_samples(X), ref.logpdf(X), rtol=1e-10)
    assert model.score(X) == pytest.approx(ref.logpdf(X).mean(), rel=1e-10)
    samples = model.sample(10, seed=0)
    assert isinstance(samples, np.ndarray) and samples.shape == (10, 3)
    np.testing.assert_array_equal(samples, model.sample(10, seed=0))


def test_estimator_torch_in_torch_out():
    X = torch.randn(50, 4, dtype=torch.float32)
    model = Gaussian(device="cpu").fit(X)
    assert isinstance(model.mean_, torch.Tensor)
    assert isinstance(model.score_samples(X), torch.Tensor)
    assert isinstance(model.sample(3, seed=1), torch.Tensor)
    mask = torch.ones(50, 4, dtype=torch.bool)
    mask[:, 0] = False
    assert isinstance(model.inpaint(X, mask), torch.Tensor)


def test_estimator_inpaint_is_the_conditional_mean():
    mean, cov = random_gaussian(5, seed=9)
    model = Gaussian.from_parameters(mean, cov)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 5))
    mask = rng.random((20, 5)) < 0.5
    mask[0] = True  # a row with nothing missing comes back unchanged
    X_damaged = np.where(mask, X, np.nan)  # missing entries may be NaN
    filled = model.inpaint(X_damaged, mask)
    np.testing.assert_array_equal(filled[mask], X[mask])
    for n in range(1, 20):
        if mask[n].all():
            continue
        expected, _ = conditional_by_precision(mean, cov, mask[n], X[n, mask[n]][None])
        np.testing.assert_allclose(filled[n, ~mask[n]], expected[0], rtol=1e-9, atol=1e-10)
    cond_mean, cond_cov = model.conditional(mask[1], X[1, mask[1]])
    np.testing.assert_allclose(cond_mean, filled[1, ~mask[1]], rtol=1e-10)
    assert cond_cov.shape == (int((~mask[1]).sum()),) * 2


def test_estimator_principal_axes_are_sorted_eigenvectors():
    mean, cov = random_gaussian(4, seed=2)
    values, vectors = Gaussian.from_parameters(mean, cov).principal_axes()
    assert np.all(np.diff(values) <= 0)
    np.testing.assert_allclose(cov @ vectors, vectors * values, atol=1e-10)
    np.testing.assert_allclose(np.sort(values), np.linalg.eigvalsh(cov), rtol=1e-10)


def test_estimator_errors():
    model = Gaussian(device="cpu")
    with pytest.raises(NotFittedError, match="fit"):
        model.score_samples(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        model.fit(np.zeros((1, 3)))
    X = np.random.default_rng(0).normal(size=(10, 3))
    model.fit(X)
    with pytest.raises(ValueError, match="fitted on 3"):
        model.score_samples(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="mask must have the shape"):
        model.inpaint(X, np.ones((10, 2), dtype=bool))
    with pytest.raises(ValueError, match="observed positions"):
        bad = X.copy()
        bad[0, 0] = np.inf
        model.inpaint(bad, np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="not positive definite"):
        Gaussian.from_parameters(np.zeros(2), np.array([[1.0, 3.0], [3.0, 1.0]]))
    with pytest.raises(ValueError, match="reg_covar"):
        Gaussian(reg_covar=-0.1)
