"""lessons_lib.gaussian: densities, maximum likelihood, sampling and conditioning, checked
against SciPy, NumPy and closed forms computed another way (through the precision matrix)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_raised_by_our_checks
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


# =========================================================================== regressions
# Found by an adversarial pass over the public API: each test below failed before the fix.

NON_SYMMETRIC = np.array([[1.0, 5.0], [0.0, 1.0]])  # its lower triangle is the identity's


class TestNonSymmetricCovariance:
    """A non-symmetric cov was silently used as its lower triangle."""

    @pytest.mark.parametrize(
        "call",
        [
            lambda c: log_density(np.zeros((1, 2)), np.zeros(2), c),
            lambda c: density(np.zeros((1, 2)), np.zeros(2), c),
            lambda c: sample_gaussian(np.zeros(2), c, 3, seed=0),
            lambda c: conditional_gaussian(np.zeros(2), c, np.array([True, False]), np.ones(1)),
            lambda c: Gaussian.from_parameters(np.zeros(2), c),
            lambda c: Gaussian.from_parameters(torch.zeros(2), torch.as_tensor(c), device="cpu"),
        ],
        ids=["log_density", "density", "sample", "conditional", "from_parameters", "torch"],
    )
    def test_rejected_naming_cov(self, call):
        with pytest.raises(ValueError, match="cov must be symmetric positive definite"):
            call(NON_SYMMETRIC)

    def test_cholesky_rejects_it_too(self):
        with pytest.raises(ValueError, match="not symmetric"):
            cholesky(torch.as_tensor(NON_SYMMETRIC))

    def test_rounding_asymmetry_is_accepted_and_both_triangles_count(self):
        mean, cov = random_gaussian(3)
        nudged = cov.copy()
        nudged[0, 2] *= 1 + 1e-12
        X = np.random.default_rng(0).normal(size=(5, 3))
        expected = multivariate_normal(mean, 0.5 * (nudged + nudged.T)).logpdf(X)
        np.testing.assert_allclose(log_density(X, mean, nudged), expected, rtol=1e-12)


class TestCholesky:
    def test_rounding_level_pivot_is_not_positive_definite(self):
        """The covariance of a component collapsed on a line factors "successfully" on some
        BLAS, by rounding (this made test_covariance_floor_prevents_the_collapse fail)."""
        v = np.array([1.0, 2.0])
        collapsed = 1.6544e-24 * np.outer(v, v)
        collapsed[1, 1] *= 1 + 2e-16
        with pytest.raises(ValueError, match=r"not positive definite.*reg_covar"):
            cholesky(torch.as_tensor(collapsed))

    def test_scale_free(self):
        for scale in (1e-300, 1.0, 1e300):
            cov = torch.as_tensor(np.diag([1.0, 1e-20]) * scale)
            torch.testing.assert_close(cholesky(cov) ** 2, torch.diag(torch.diagonal(cov)))

    def test_types(self):
        torch.testing.assert_close(cholesky(np.eye(2)), torch.eye(2, dtype=torch.float64))
        with pytest.raises(TypeError, match="cov must have a floating-point dtype"):
            cholesky(torch.eye(2, dtype=torch.int64))
        with pytest.raises(ValueError, match="square"):
            cholesky(torch.ones(2, 3))
        with pytest.raises(ValueError, match="NaN"):
            cholesky(torch.tensor([[float("nan"), 0.0], [0.0, 1.0]]))
        with pytest.raises(ValueError, match="infinite"):  # above the diagonal: unread
            cholesky(torch.tensor([[1.0, float("inf")], [0.0, 1.0]]))


class TestSeeds:
    @pytest.mark.parametrize(
        ("bad", "error"),
        [(-1, ValueError), (1.9, TypeError), (True, TypeError), (2**63, ValueError)],
    )
    def test_bad_seeds_are_refused(self, bad, error):
        """1.9 acted as 1 and -1 was accepted."""
        from lessons_lib.gaussian import make_generator

        with pytest.raises(error, match="seed"):
            make_generator(bad)
        with pytest.raises(error, match="seed"):
            sample_gaussian(np.zeros(2), np.eye(2), 3, seed=bad)
        with pytest.raises(error, match="seed"):
            Gaussian.from_parameters(np.zeros(2), np.eye(2)).sample(3, seed=bad)

    def test_largest_seed_and_numpy_integers(self):
        from lessons_lib.gaussian import make_generator

        assert make_generator(2**63 - 1).initial_seed() == 2**63 - 1
        a = sample_gaussian(np.zeros(2), np.eye(2), 3, seed=np.int64(4))
        np.testing.assert_array_equal(a, sample_gaussian(np.zeros(2), np.eye(2), 3, seed=4))


def _data(n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)) @ np.array([[1.0, 0.4, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.5]])


class TestExtremeMagnitudes:
    """Finite but extreme values: the right answer where one is representable, else a clear
    ValueError before any work (never NaN, never an error from inside torch)."""

    @pytest.mark.parametrize("scale", [1e150, 1e-150, 1e100])
    def test_fit_is_scale_equivariant(self, scale):
        X = _data()
        model = Gaussian().fit(X * scale)
        reference = Gaussian().fit(X)
        np.testing.assert_allclose(model.mean_ / scale, reference.mean_, rtol=1e-12)
        np.testing.assert_allclose(model.covariance_ / scale**2, reference.covariance_, rtol=1e-12)
        _, cov = fit_gaussian(X * scale)
        np.testing.assert_allclose(cov / scale**2, reference.covariance_, rtol=1e-12)
        # log p(s x) = log p(x) - D log s
        np.testing.assert_allclose(
            model.score_samples(X * scale) + 3 * np.log(scale),
            reference.score_samples(X),
            rtol=1e-9,
        )

    @pytest.mark.parametrize("fit", [lambda X: Gaussian().fit(X), fit_gaussian])
    def test_covariance_beyond_float64_is_refused(self, fit):
        with pytest.raises(ValueError, match="X spreads too widely"):
            fit(_data() * 1e160)  # covariances ~1e320 > 1.8e308
        with pytest.raises(ValueError, match="X varies too little"):
            fit(_data() * 1e-200)  # variances ~1e-400 underflow, and no floor

    def test_a_floor_makes_tiny_data_fine(self):
        model = Gaussian(reg_covar=1e-3).fit(_data() * 1e-200)
        np.testing.assert_allclose(model.covariance_, 1e-3 * np.eye(3), rtol=1e-12)

    def test_float32_range_is_checked(self):
        with pytest.raises(ValueError, match=r"beyond the range of torch\.float32"):
            Gaussian(dtype=torch.float32, device="cpu").fit(_data() * 1e200)
        model = Gaussian(dtype=torch.float32, device="cpu").fit(_data() * 1e10)
        np.testing.assert_allclose(model.mean_ / 1e10, _data().mean(0), rtol=1e-4, atol=1e-5)

    def test_far_points(self):
        X = np.array([[1e200, 1e200]])
        with pytest.raises(ValueError, match=r"row 0 of X .* below the torch\.float64 range"):
            log_density(X, np.zeros(2), np.eye(2))  # the true value, -1e400, has no float
        assert density(X, np.zeros(2), np.eye(2))[0] == 0.0
        model = Gaussian.from_parameters(np.zeros(2), np.eye(2))
        with pytest.raises(ValueError, match="row 0 of X"):
            model.score_samples(X)
        exact = -1e200 - np.log(2 * np.pi)  # |x|^2 / 2 = 1e200
        assert log_density(X * 1e-100, np.zeros(2), np.eye(2))[0] == pytest.approx(exact)
        # x - mean overflows: still a clear error (the value, -4.5e316, has no float), no NaN.
        with pytest.raises(ValueError, match="row 0 of X"):
            log_density(np.array([[1.5e308]]), np.array([-1.5e308]), np.array([[1e300]]))

    def test_conditioning_on_huge_observed_values(self):
        """inpaint with an observed value of 1e300 filled NaN."""
        mean, cov = np.zeros(2), np.array([[1.0, 0.5], [0.5, 2.0]])
        model = Gaussian.from_parameters(mean, cov)
        filled = model.inpaint(np.array([[1e300, np.nan]]), np.array([True, False]))
        assert filled[0, 0] == 1e300 and filled[0, 1] == pytest.approx(0.5e300, rel=1e-12)
        cond_mean, _ = conditional_gaussian(mean, cov, np.array([True, False]), np.array([1e300]))
        assert cond_mean[0] == pytest.approx(0.5e300, rel=1e-12)
        tiny = Gaussian.from_parameters(np.zeros(2), np.array([[1e-300, 0.0], [0.0, 1.0]]))
        filled = tiny.inpaint(np.array([[1e200, np.nan]]), np.array([True, False]))
        assert filled[0, 1] == 0.0  # y = L^-1 x would overflow; the gain is 0
        steep = Gaussian.from_parameters(np.zeros(2), np.array([[1.0, 3.0], [3.0, 10.0]]))
        with pytest.raises(ValueError, match="conditional means overflow"):
            steep.inpaint(np.array([[1e308, np.nan]]), np.array([True, False]))  # 3e308
        # x_o - mean_o overflows (3e308), the conditional mean (gain 1e-10) does not.
        cov = np.array([[1e300, 1e290], [1e290, 1e290]])
        cond_mean, _ = conditional_gaussian(
            np.array([-1.5e308, 0.0]), cov, np.array([True, False]), np.array([1.5e308])
        )
        assert cond_mean[0] == pytest.approx(3e298, rel=1e-12)


BAD_CALLS = {
    # name: (call, error, words the message must contain)
    "X complex": (
        lambda: log_density(np.zeros((2, 2)) + 0j, np.zeros(2), np.eye(2)),
        TypeError,
        "X",
    ),
    "X bool": (lambda: Gaussian().fit(np.ones((4, 2), dtype=bool)), TypeError, "X"),
    "X object": (lambda: fit_gaussian(np.ones((4, 2)).astype(object)), TypeError, "X"),
    "X empty rows": (lambda: Gaussian().fit(np.zeros((0, 2))), ValueError, "X"),
    "X empty cols": (lambda: fit_gaussian(np.zeros((4, 0))), ValueError, "X"),
    "X 1-D": (lambda: Gaussian().fit(np.zeros(4)), ValueError, "X"),
    "X inf": (lambda: Gaussian().fit(np.array([[0.0, np.inf], [1.0, 2.0]])), ValueError, "X"),
    "X one row": (lambda: Gaussian().fit(np.zeros((1, 2))), ValueError, "X"),
    "X list": (lambda: log_density([[0.0, 0.0]], np.zeros(2), np.eye(2)), TypeError, "X"),
    "mean NaN": (
        lambda: log_density(np.zeros((1, 2)), np.array([np.nan, 0.0]), np.eye(2)),
        ValueError,
        "mean",
    ),
    "mean 2-D": (lambda: sample_gaussian(np.zeros((1, 2)), np.eye(2), 2), ValueError, "mean"),
    "cov shape": (lambda: sample_gaussian(np.zeros(1), np.eye(2), 2), ValueError, "mean"),
    "cov not PD": (
        lambda: log_density(np.zeros((1, 2)), np.zeros(2), -np.eye(2)),
        ValueError,
        "cov",
    ),
    "cov inf": (
        lambda: Gaussian.from_parameters(np.zeros(2), np.diag([np.inf, 1.0])),
        ValueError,
        "cov",
    ),
    "cov bool": (
        lambda: Gaussian.from_parameters(np.zeros(2), np.eye(2, dtype=bool)),
        TypeError,
        "cov",
    ),
    "n = 0": (lambda: sample_gaussian(np.zeros(2), np.eye(2), 0), ValueError, "n"),
    "n float": (lambda: sample_gaussian(np.zeros(2), np.eye(2), 2.0), TypeError, "n"),
    "n huge": (lambda: sample_gaussian(np.zeros(2), np.eye(2), 10**20), ValueError, "n"),
    "n huge (method)": (
        lambda: Gaussian.from_parameters(np.zeros(2), np.eye(2)).sample(10**20),
        ValueError,
        "n",
    ),
    "reg_covar < 0": (
        lambda: fit_gaussian(np.zeros((3, 2)), reg_covar=-1e-3),
        ValueError,
        "reg_covar",
    ),
    "reg_covar NaN": (lambda: Gaussian(reg_covar=float("nan")), TypeError, "reg_covar"),
    "dtype int": (lambda: Gaussian(dtype=torch.int64), ValueError, "dtype"),
    "device": (lambda: Gaussian(device="banana"), ValueError, "device"),
    "observed not bool": (
        lambda: Gaussian.from_parameters(np.zeros(2), np.eye(2)).conditional(
            np.ones(2), np.ones(1)
        ),
        TypeError,
        "observed",
    ),
    "x_observed NaN": (
        lambda: conditional_gaussian(
            np.zeros(2), np.eye(2), np.array([True, False]), np.array([np.nan])
        ),
        ValueError,
        "x_observed",
    ),
    "mask shape": (
        lambda: Gaussian.from_parameters(np.zeros(2), np.eye(2)).inpaint(
            np.zeros((2, 2)), np.ones(3, dtype=bool)
        ),
        ValueError,
        "mask",
    ),
    "inpaint X float32 range": (
        lambda: Gaussian.from_parameters(
            torch.zeros(2), torch.eye(2), dtype=torch.float32, device="cpu"
        ).inpaint(np.full((1, 2), 1e200), np.ones(2, dtype=bool)),
        ValueError,
        "X",
    ),
    "unfitted": (lambda: Gaussian().sample(2), NotFittedError, "fit"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_input_table(case):
    """Every bad input: a ValueError/TypeError naming the argument, raised by our checks."""
    assert_raised_by_our_checks(*BAD_CALLS[case])
