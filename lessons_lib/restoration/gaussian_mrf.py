"""The Gaussian MRF denoiser, the grey-level counterpart of the binary lessons, in closed form.

Prior: a Gaussian Markov random field on the 4-neighbour grid, ``p(x) ∝ exp(-α/2 Σ_{i~j}
(x_i - x_j)²)`` (improper along the constant image). Likelihood: ``y = x + ε``, ``ε ~ N(0, σ²
I)``. The posterior is Gaussian, so its MAP equals its mean (MPM and MAP agree, unlike the
Ising model's), the solution of the linear system

    (I + σ² α L) x = y,

with L the grid graph's Laplacian (free boundary). The two-dimensional DCT-II diagonalises L,
with eigenvalues ``(2 - 2 cos(π a / H)) + (2 - 2 cos(π b / W))``, so the solve is one DCT, a
division and the inverse DCT: ``O(HW log HW)``, no iteration.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, sparse

from lessons_lib.core.validation import ArrayLike, check_array, check_positive


def grid_laplacian_eigenvalues(shape: tuple[int, int]) -> np.ndarray:
    """Eigenvalues of the free-boundary 4-neighbour Laplacian in the DCT-II basis, (H, W)."""
    height, width = shape
    rows = 2.0 - 2.0 * np.cos(np.pi * np.arange(height) / height)
    cols = 2.0 - 2.0 * np.cos(np.pi * np.arange(width) / width)
    return rows[:, None] + cols[None, :]


def grid_laplacian(shape: tuple[int, int]) -> sparse.csr_matrix:
    """The free-boundary 4-neighbour Laplacian as a sparse (HW, HW) matrix (row-major pixels)."""
    height, width = shape

    def path(n: int) -> sparse.csr_matrix:
        ones = np.ones(n - 1)
        degree = np.r_[1.0, 2.0 * np.ones(n - 2), 1.0] if n > 1 else np.zeros(1)
        return sparse.diags([degree, -ones, -ones], [0, -1, 1], format="csr")

    return (
        sparse.kron(path(height), sparse.identity(width))
        + sparse.kron(sparse.identity(height), path(width))
    ).tocsr()


def gaussian_mrf_denoise(noisy: ArrayLike, noise_std: float, smoothness: float) -> np.ndarray:
    """The posterior mean (= MAP) of a grey image under a Gaussian MRF prior.

    Parameters
    ----------
    noisy : ndarray or Tensor, shape (H, W)
        ``y = x + ε``, values about [0, 1].
    noise_std : float
        σ of ε, in the units of ``noisy``.
    smoothness : float
        α > 0, the prior's precision on each neighbour difference.

    Returns
    -------
    ndarray, shape (H, W), float64
        The solution of ``(I + σ² α L) x = y``.
    """
    check_array(noisy, "noisy", ndim=2, kinds="f")
    sigma = check_positive(noise_std, "noise_std")
    lam = check_positive(smoothness, "smoothness")
    y = np.asarray(noisy.cpu() if hasattr(noisy, "cpu") else noisy, dtype=np.float64)
    spectrum = 1.0 + sigma**2 * lam * grid_laplacian_eigenvalues(y.shape)
    return fft.idctn(fft.dctn(y, type=2, norm="ortho") / spectrum, type=2, norm="ortho")


def fit_gaussian_mrf(image: ArrayLike) -> float:
    """The maximum-likelihood smoothness α of a Gaussian MRF, from one clean grey image.

    ``p(x) ∝ α^((N-1)/2) exp(-α/2 Σ_{i~j} (x_i - x_j)²)`` (the density on the N - 1 directions
    orthogonal to the constant image, whose precision matrix αL has rank N - 1), so setting
    the derivative of the log-likelihood in α to zero gives ``α̂ = (N - 1) / Σ_{i~j} (x_i -
    x_j)²``: one over the mean squared neighbour difference, up to the edge count. Unlike
    the Ising model's, this partition function is known in closed form.

    Parameters
    ----------
    image : ndarray or Tensor, shape (H, W)

    Returns
    -------
    float
    """
    check_array(image, "image", ndim=2, kinds="f")
    x = np.asarray(image.cpu() if hasattr(image, "cpu") else image, dtype=np.float64)
    squared = (np.diff(x, axis=0) ** 2).sum() + (np.diff(x, axis=1) ** 2).sum()
    if squared == 0:
        raise ValueError("image is constant: a Gaussian MRF's α would be infinite.")
    return float((x.size - 1) / squared)
