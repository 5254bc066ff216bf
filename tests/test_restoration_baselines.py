"""lessons_lib.restoration's baselines and scores against their definitions, and the Gaussian
MRF's maximum-likelihood smoothness against a numerical maximisation of the exact likelihood."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft, optimize

from lessons_lib.data import load_photo
from lessons_lib.restoration import (
    denoising_baselines,
    fit_gaussian_mrf,
    grid_laplacian,
    grid_laplacian_eigenvalues,
    image_scores,
    tune_on_truth,
)


def _crop(size=48):
    return load_photo("flower", downscale=2).mean(axis=2)[40 : 40 + size, 100 : 100 + size]


def test_image_scores_psnr_is_the_definition_and_ssim_is_one_for_the_truth():
    truth = _crop().astype(np.float64)
    estimate = truth + 0.05 * np.random.default_rng(0).standard_normal(truth.shape)
    mse = np.mean((np.clip(estimate, 0, 1) - truth) ** 2)
    scores = image_scores(estimate, truth)
    assert scores["psnr"] == pytest.approx(10 * np.log10(1 / mse), abs=1e-9)
    assert image_scores(truth, truth)["ssim"] == pytest.approx(1.0)
    assert 0 < scores["ssim"] < 1


def test_tune_on_truth_returns_the_best_parameter_and_its_image():
    truth = np.zeros((8, 8))
    value, image = tune_on_truth(lambda c: np.full((8, 8), c), [0.5, 0.1, 0.3], truth)
    assert value == 0.1 and np.all(image == 0.1)
    with pytest.raises(ValueError, match="grid is empty"):
        tune_on_truth(lambda c: truth, [], truth)


def test_denoising_baselines_all_improve_on_the_noisy_image():
    truth = _crop().astype(np.float64)
    sigma = 25 / 255
    noisy = truth + sigma * np.random.default_rng(1).standard_normal(truth.shape)
    noisy_psnr = image_scores(noisy, truth)["psnr"]
    results = denoising_baselines(noisy, sigma, truth)
    assert set(results) == {
        "Gaussian filter",
        "Wiener filter",
        "Gaussian MRF",
        "total variation",
        "non-local means",
    }
    for name, (image, setting) in results.items():
        assert image.shape == truth.shape and isinstance(setting, str)
        assert image_scores(image, truth)["psnr"] > noisy_psnr + 3, name


def _gaussian_mrf_log_likelihood(x, lam):
    # the exact density on the N - 1 non-constant directions: eigenvalues λ μ_j, μ_0 = 0 dropped
    mu = grid_laplacian_eigenvalues(x.shape).ravel()[1:]
    quadratic = x.ravel() @ (grid_laplacian(x.shape) @ x.ravel())
    return 0.5 * np.log(lam * mu).sum() - 0.5 * lam * quadratic - 0.5 * mu.size * np.log(2 * np.pi)


def test_fit_gaussian_mrf_maximises_the_exact_likelihood():
    x = _crop(20).astype(np.float64)
    lam = fit_gaussian_mrf(x)
    best = optimize.minimize_scalar(
        lambda log_lam: -_gaussian_mrf_log_likelihood(x, np.exp(log_lam)),
        bounds=(-5, 15),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert lam == pytest.approx(np.exp(best.x), rel=1e-6)


def test_fit_gaussian_mrf_recovers_the_smoothness_of_its_own_samples():
    shape, lam = (128, 128), 40.0
    rng = np.random.default_rng(0)
    mu = grid_laplacian_eigenvalues(shape)
    coefficients = rng.standard_normal(shape) / np.sqrt(lam * np.where(mu > 0, mu, np.inf))
    sample = fft.idctn(coefficients, type=2, norm="ortho")  # DCT-II diagonalises the Laplacian
    assert fit_gaussian_mrf(sample) == pytest.approx(lam, rel=0.04)  # relative sd √(2/N) ≈ 1.1%


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="constant"):
        fit_gaussian_mrf(np.ones((5, 5)))
    with pytest.raises(ValueError, match="estimate"):
        image_scores(np.zeros((4, 4, 3)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="differ"):
        image_scores(np.zeros((4, 5)), np.zeros((4, 4)))
