"""The shared linear algebra of Gaussians: Cholesky factors, whitening, and THE Gaussian
log-density.

A Gaussian :math:`\\mathcal N(\\mu, \\Sigma)` in :math:`D` dimensions is handled through the
lower Cholesky factor :math:`L` of its covariance, :math:`\\Sigma = L L^\\top`. Whitening a
point solves one triangular system, :math:`y = L^{-1}(x - \\mu)`, and

.. math::

    \\log \\mathcal N(x; \\mu, \\Sigma) = -\\tfrac12 \\lVert y \\rVert^2
    - \\sum_i \\log L_{ii} - \\tfrac D2 \\log 2\\pi

needs no inverse and no determinant (Golub & Van Loan, *Matrix Computations*, 4th ed.,
§4.2; Bishop, *Pattern Recognition and Machine Learning*, 2006, §2.3).
:func:`gaussian_log_density` is the one implementation of this formula that the Gaussian,
the mixtures' readable EM (:mod:`lessons_lib.density.em`) and the MRF colour models use.
Differences are divided by a power of two where their squares would overflow
(:func:`scaled_differences`), so points astronomically far away get ``-inf``, never NaN.
"""

from __future__ import annotations

import math

import torch

from lessons_lib.core.validation import _singular_matrices, as_tensor, check_array
from lessons_lib.density._scaling import largest_magnitude, power_of_two_below

__all__ = ["LOG_2PI", "cholesky", "gaussian_log_density", "scaled_differences", "whiten"]

LOG_2PI = math.log(2 * math.pi)


def cholesky(cov: torch.Tensor, name: str = "cov") -> torch.Tensor:
    """Lower Cholesky factor(s) ``L`` of ``cov`` (..., D, D) with ``cov = L @ L.T``.

    ``cov`` is a floating-point tensor (a float NumPy array is converted to a tensor).

    A matrix counts as not positive definite also when the factorisation only "succeeds"
    through rounding (a pivot at rounding level, as for a component collapsed on a line).

    Raises
    ------
    ValueError
        If a matrix is not symmetric (beyond rounding) or not positive definite, naming
        which one, with the fix.
    """
    if not isinstance(cov, torch.Tensor) or not cov.dtype.is_floating_point:
        check_array(cov, name, kinds="f")
        cov = as_tensor(cov)
    if cov.ndim < 2 or cov.shape[-1] != cov.shape[-2]:
        raise ValueError(f"{name} must be square (..., D, D), got shape {tuple(cov.shape)}.")
    tolerance = max(1e-8, 100 * torch.finfo(cov.dtype).eps)
    gap = (cov - cov.transpose(-1, -2)).abs().amax(dim=(-1, -2))
    size = cov.abs().amax(dim=(-1, -2))
    symmetric = gap <= tolerance * size
    factor, singular = _singular_matrices(cov)
    # One check (one GPU sync) in the usual case; a finite size also rules out NaN and inf.
    if bool(symmetric.all() & torch.isfinite(size).all() & ~singular.any()):
        return factor
    if not bool(torch.isfinite(cov).all()):
        raise ValueError(f"{name} contains NaN or infinite values.")
    if not bool(symmetric.all()):
        raise ValueError(
            f"{name} must be symmetric positive definite, but it is not symmetric; only its "
            "lower triangle would be used. Symmetrise it, e.g. (C + C.T) / 2."
        )
    bad = torch.nonzero(singular).flatten()
    if len(bad):
        where = f" (matrix {bad[:5].tolist()} of the batch)" if cov.ndim > 2 else ""
        raise ValueError(
            f"{name} is not positive definite{where}: some direction has (almost) no "
            "variance, e.g. pixels that never change, or a mixture component that collapsed "
            "onto a few points. Add a covariance floor (reg_covar > 0, or a larger one)."
        )
    return factor


def _factor(cov: torch.Tensor, name: str) -> torch.Tensor:
    """Cholesky factor(s) of matrices already known to be symmetric positive definite (sub-
    blocks, Schur complements of checked ones): only a failed factorisation is reported."""
    factor, info = torch.linalg.cholesky_ex(cov)
    if bool(info.any()):
        raise ValueError(
            f"{name} is not positive definite: some direction has (almost) no variance. Add a "
            "covariance floor (reg_covar > 0, or a larger one)."
        )
    return factor


def whiten(diff: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Solve ``L y = diff`` for each row of ``diff`` (N, D): returns ``y`` (N, D)."""
    return torch.linalg.solve_triangular(factor, diff.T, upper=False).T


def scaled_differences(
    x: torch.Tensor, means: torch.Tensor, *, careful: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x - mean`` divided by a power of two per row, computed without overflow.

    Rows of ordinary size keep the scale 1 unless ``careful`` (where a squared distance
    overflowed: then every row is brought below 4, so the whitened differences stay finite
    even for a tiny covariance).

    Parameters
    ----------
    x : (N, D)
    means : (D,) or (K, D); the scale of a row is common to every mean, so that the
        rows' Mahalanobis distances to different means can be compared.

    Returns
    -------
    diff : (N, D) or (K, N, D), ``(x_n - mean) / scale_n`` (entries below 4 where scaled)
    scale : (N,), powers of two (1 on the fast path)
    """
    if not careful:
        diff = x - means if means.ndim == 1 else x[None] - means[:, None, :]
        top = largest_magnitude(diff, -1)
        if top.ndim == 2:
            top = top.amax(0)
        # Up to max**(1/4), squares of whitened differences overflow only where the true
        # value is out of range anyway: no scaling needed (the usual case).
        if bool((top <= torch.finfo(x.dtype).max ** 0.25).all()):
            return diff, torch.ones_like(top)
    # Halves first: x/2 - mean/2 cannot overflow, and equals (x - mean)/2 bit for bit.
    half = x / 2 - (means / 2 if means.ndim == 1 else means[:, None, :] / 2)
    top = half.abs().amax(-1)
    if top.ndim == 2:
        top = top.amax(0)
    scale = power_of_two_below(top)
    # (x - mean) / scale = 2 (half / scale), below 4; returning 2 * scale could overflow.
    diff = 2 * (half / scale[:, None])
    return diff, scale


def _half_mahalanobis(
    x: torch.Tensor, mean: torch.Tensor, factor: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Half the squared Mahalanobis distance of each row of ``x`` (N, D) to ``mean`` under
    ``L L^T``, as ``(h, s)`` with distance / 2 = ``h * s * s`` ((N,) each; no overflow in h)."""
    diff, scale = scaled_differences(x, mean)
    y = whiten(diff, factor)
    return 0.5 * (y * y).sum(1), scale


def _log_density_from_cholesky(
    x: torch.Tensor, mean: torch.Tensor, factor: torch.Tensor
) -> torch.Tensor:
    """log N(x; mean, L L^T) for rows of ``x`` (N, D): shape (N,) (see gaussian_log_density)."""
    half, scale = _half_mahalanobis(x, mean, factor)
    half_log_det = torch.log(torch.diagonal(factor)).sum()
    return -(half * scale) * scale - half_log_det - 0.5 * x.shape[1] * LOG_2PI


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``log N(x_n; mean, L L^T)`` for each row of ``x``, from the Cholesky factor ``L``.

    Parameters
    ----------
    x : Tensor (N, D)
    mean : Tensor (D,), or (K, D) for K Gaussians at once
    factor : Tensor (D, D), or (K, D, D): lower Cholesky factors (see :func:`cholesky`)

    Returns
    -------
    Tensor (N,), or (K, N) for K Gaussians: ``-inf`` where the value is below the float
    range (a point astronomically far away); never NaN for finite input.
    """
    if mean.ndim == 1:
        return _log_density_from_cholesky(x, mean, factor)
    diff, scale = scaled_differences(x, mean)  # (K, N, D), (N,)
    y = torch.linalg.solve_triangular(factor, diff.transpose(1, 2), upper=False)  # (K, D, N)
    half = 0.5 * (y * y).sum(1)
    half_log_det = torch.log(torch.diagonal(factor, dim1=1, dim2=2)).sum(1)
    return -(half * scale) * scale - half_log_det[:, None] - 0.5 * x.shape[1] * LOG_2PI
