"""lessons_lib.restoration: patches and operators against their definitions, the patch prior
against scipy's Gaussian, EPLL and the Gaussian MRF against dense linear algebra."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import sparse
from scipy.sparse.linalg import spsolve
from scipy.stats import multivariate_normal

from lessons_lib.density.gmm import GaussianMixture
from lessons_lib.restoration import (
    Blur,
    Downsample,
    Identity,
    Mask,
    PatchPrior,
    conjugate_gradient,
    epll_objective,
    epll_restore,
    extract_patches,
    fit_patch_prior,
    fold_patches,
    gaussian_kernel,
    gaussian_mrf_denoise,
    grid_laplacian,
    patch_counts,
)

CPU = "cpu"


def _image(shape=(12, 14), seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _dense_patch_matrix(shape, size):
    """P (N·p², H·W): row block i extracts patch i, built by hand from the definition."""
    height, width = shape
    rows = []
    for top in range(height - size + 1):
        for left in range(width - size + 1):
            for dy in range(size):
                for dx in range(size):
                    row = np.zeros(height * width)
                    row[(top + dy) * width + left + dx] = 1.0
                    rows.append(row)
    return np.array(rows)


def test_extract_patches_matches_the_definition_and_fold_is_its_adjoint():
    x = _image()
    patches = extract_patches(x, 3)
    dense = _dense_patch_matrix(tuple(x.shape), 3)
    assert torch.equal(patches.flatten(), torch.as_tensor(dense @ x.flatten().numpy()))
    z = torch.randn(patches.shape, dtype=torch.float64)
    folded = fold_patches(z, tuple(x.shape), 3)
    assert torch.allclose(folded.flatten(), torch.as_tensor(dense.T @ z.flatten().numpy()))
    counts = patch_counts(tuple(x.shape), 3)
    assert torch.allclose(counts.flatten(), torch.as_tensor(dense.T @ dense).diagonal())
    assert counts[5, 5] == 9 and counts[0, 0] == 1


def test_patches_reject_bad_input():
    with pytest.raises(ValueError, match="size"):
        extract_patches(_image((4, 5)), 6)
    with pytest.raises(ValueError, match="image"):
        extract_patches(torch.zeros(2, 3, 4), 2)
    with pytest.raises(ValueError, match="patches"):
        fold_patches(torch.zeros(5, 9), (12, 14), 3)


@pytest.mark.parametrize(
    "operator",
    [
        Identity(),
        Mask(torch.rand(12, 14, generator=torch.Generator().manual_seed(1)) > 0.4),
        Blur(gaussian_kernel(1.2)),
        Downsample(2),
    ],
    ids=["identity", "mask", "blur", "downsample"],
)
def test_each_operator_adjoint_passes_the_dot_product_test(operator):
    x = _image()
    y = torch.randn(operator(x).shape, dtype=torch.float64)
    assert torch.allclose((operator(x) * y).sum(), (x * operator.adjoint(y)).sum(), rtol=1e-12)
    gram = operator.gram_diagonal(x)
    if gram is not None:  # A^T A is diagonal: applying it is a product with that image
        assert torch.allclose(operator.adjoint(operator(x)), gram * x)


def test_blur_is_a_convolution_and_downsample_keeps_every_other_pixel():
    kernel = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    x = _image()
    shifted = Blur(kernel)(x)  # convolving with a delta one step right shifts the image right
    assert torch.equal(shifted[:, 1:], x[:, :-1]) and torch.equal(shifted[:, 0], torch.zeros(12))
    assert tuple(Downsample(2)(x).shape) == (6, 7)
    assert abs(float(gaussian_kernel(1.5).sum()) - 1) < 1e-12
    with pytest.raises(ValueError, match="multiples"):
        Downsample(5)(x)


def test_conjugate_gradient_solves_an_spd_system():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(30, 30, generator=generator, dtype=torch.float64)
    matrix = a @ a.T + 30 * torch.eye(30, dtype=torch.float64)
    rhs = torch.randn(5, 6, generator=generator, dtype=torch.float64)
    solved = conjugate_gradient(
        lambda v: (matrix @ v.flatten()).reshape(5, 6), rhs, torch.zeros(5, 6, dtype=torch.float64),
        max_iter=100, rtol=1e-12,
    )  # fmt: skip
    exact = torch.linalg.solve(matrix, rhs.flatten()).reshape(5, 6)
    assert torch.allclose(solved, exact, atol=1e-10)


def _prior(n_components=2, size=3, seed=0):
    patches = extract_patches(_image((20, 20), seed), size)
    centred = patches - patches.mean(1, keepdim=True)
    mixture = GaussianMixture(n_components, seed=seed, device=CPU, reg_covar=1e-3).fit(centred)
    return PatchPrior(mixture, size), mixture


def test_patch_prior_log_likelihoods_match_scipy():
    prior, mixture = _prior()
    z = extract_patches(_image((6, 6), 3), 3)
    centred = (z - z.mean(1, keepdim=True)).numpy()
    noise = 0.01
    got = prior.component_log_likelihoods(z, noise).numpy()
    for k in range(2):
        cov = np.asarray(mixture.covariances_[k]) + noise * np.eye(9)
        want = np.log(float(mixture.weights_[k])) + multivariate_normal(
            np.asarray(mixture.means_[k]), cov
        ).logpdf(centred)
        np.testing.assert_allclose(got[k], want, rtol=1e-9)


def test_denoise_patches_is_the_wiener_filter_of_the_likeliest_component():
    prior, mixture = _prior()
    z = extract_patches(_image((6, 6), 4), 3)
    noise = 0.02
    best = prior.component_log_likelihoods(z, noise).argmax(0)
    out = prior.denoise_patches(z, noise)
    for i in range(len(z)):
        k = int(best[i])
        mean, cov = torch.as_tensor(mixture.means_[k]), torch.as_tensor(mixture.covariances_[k])
        dc = z[i].mean()
        wiener = mean + cov @ torch.linalg.solve(cov + noise * torch.eye(9, dtype=cov.dtype),
                                                 z[i] - dc - mean)  # fmt: skip
        assert torch.allclose(out[i], dc + wiener, atol=1e-9)


def _dense_epll(y, prior, sigma, a, betas):
    """EPLL's splitting by dense algebra: A (M, HW) and P built from their definitions."""
    shape, size = tuple(y.shape), prior.size
    p = torch.as_tensor(_dense_patch_matrix(shape, size))
    weight = size**2 / sigma**2
    x = (a.T @ y.flatten()).clone()
    for beta in betas:
        z = prior.denoise_patches((p @ x).reshape(-1, size * size), 1 / beta).flatten()
        lhs = weight * a.T @ a + beta * p.T @ p
        x = torch.linalg.solve(lhs, weight * a.T @ y.flatten() + beta * p.T @ z)
    return x.reshape(shape)


@pytest.mark.parametrize("kind", ["denoise", "inpaint", "deblur"])
def test_epll_restore_equals_the_dense_splitting(kind):
    prior, _ = _prior()
    clean = _image((8, 9), 5)
    sigma, betas = 0.05, [20.0, 80.0, 320.0]
    n = clean.numel()
    if kind == "denoise":
        operator, dense = Identity(), torch.eye(n, dtype=torch.float64)
    elif kind == "inpaint":
        observed = torch.rand(8, 9, generator=torch.Generator().manual_seed(2)) > 0.3
        operator = Mask(observed)
        dense = torch.diag(observed.flatten().to(torch.float64))
    else:
        operator = Blur(gaussian_kernel(0.8))
        basis = torch.eye(n, dtype=torch.float64)
        dense = torch.stack([operator(e.reshape(8, 9)).flatten() for e in basis], dim=1)
    y = operator(clean)
    got = epll_restore(y, prior, sigma, operator, betas=betas, cg_iter=500, cg_rtol=1e-13)
    want = _dense_epll(y, prior, sigma, dense, betas)
    assert torch.allclose(got, want, atol=1e-6)


def test_epll_denoises_a_photo_crop_and_raises_its_objective():
    from lessons_lib.data import load_photo

    grey = torch.as_tensor(load_photo("china", downscale=4).mean(axis=2), dtype=torch.float64)
    train, test = grey[:, :80], grey[:64, 80:144]
    prior = fit_patch_prior([train], size=6, n_components=5, n_patches=4000, seed=0, device=CPU)
    sigma = 25 / 255
    noisy = test + sigma * torch.randn(test.shape, generator=torch.Generator().manual_seed(0),
                                       dtype=torch.float64)  # fmt: skip
    restored = epll_restore(noisy, prior, sigma)

    def psnr(x):
        return float(10 * torch.log10(1 / ((x - test) ** 2).mean()))

    assert psnr(restored) > psnr(noisy) + 5  # measured +11.0 dB (20.2 -> 31.2)
    # the best Gaussian MRF over a grid of smoothness (3 to 300) reaches 28.9 dB here
    best_mrf = max(psnr(torch.as_tensor(gaussian_mrf_denoise(noisy, sigma, lam)))
                   for lam in (3, 10, 30, 100, 300))  # fmt: skip
    assert psnr(restored) > best_mrf + 1
    objective = {name: epll_objective(x, noisy, prior, sigma) for name, x in
                 (("restored", restored), ("noisy", noisy))}  # fmt: skip
    assert objective["restored"] > objective["noisy"]


def test_gaussian_mrf_denoise_solves_the_posterior_system():
    y = _image((7, 9), 6).numpy()
    sigma, lam = 0.1, 30.0
    got = gaussian_mrf_denoise(y, sigma, lam)
    system = sparse.identity(63) + sigma**2 * lam * grid_laplacian((7, 9))
    np.testing.assert_allclose(got.flatten(), spsolve(system.tocsc(), y.flatten()), atol=1e-12)
    laplacian = grid_laplacian((3, 4)).toarray()  # the 4-neighbour graph, free boundary
    assert laplacian[0, 0] == 2 and laplacian[5, 5] == 4 and laplacian[0, 1] == -1
    assert np.allclose(laplacian.sum(1), 0)


def test_bad_input_gets_a_clear_error_before_any_work():
    prior, mixture = _prior()
    y = _image((8, 9), 7)
    with pytest.raises(ValueError, match="noise_std"):
        epll_restore(y, prior, 0.0)
    with pytest.raises(TypeError, match="operator"):
        epll_restore(y, prior, 0.1, operator="blur")
    with pytest.raises(ValueError, match="betas"):
        epll_restore(y, prior, 0.1, betas=[1.0, -2.0])
    with pytest.raises(ValueError, match="observed"):
        epll_restore(torch.full((8, 9), float("nan"), dtype=torch.float64), prior, 0.1)
    with pytest.raises(ValueError, match="size"):
        PatchPrior(mixture, 4)  # the mixture models 3×3 patches
    with pytest.raises(ValueError, match="patches"):
        prior.denoise_patches(torch.zeros(5, 16, dtype=torch.float64), 0.1)
    with pytest.raises(ValueError, match="n_components"):
        fit_patch_prior([_image((4, 4))], size=3, n_components=5, device=CPU)
    with pytest.raises(ValueError, match="noisy"):
        gaussian_mrf_denoise(np.full((4, 4), np.nan), 0.1, 1.0)
    with pytest.raises(ValueError, match="smoothness"):
        gaussian_mrf_denoise(np.zeros((4, 4)), 0.1, -1.0)
    with pytest.raises(ValueError, match="kernel"):
        Blur(torch.ones(2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="observed"):
        Mask(torch.ones(3, 3))  # not boolean
