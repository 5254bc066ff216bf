"""Conditioning a Gaussian on observed coordinates: the closed form behind inpainting.

For observed coordinates ``o`` and missing ones ``m``,

.. math::

    \\mu_{m|o} = \\mu_m + \\Sigma_{mo}\\Sigma_{oo}^{-1}(x_o-\\mu_o), \\qquad
    \\Sigma_{m|o} = \\Sigma_{mm} - \\Sigma_{mo}\\Sigma_{oo}^{-1}\\Sigma_{om}

(the Schur complement; Bishop, *Pattern Recognition and Machine Learning*, 2006, §2.3.1),
computed from one Cholesky factor of :math:`\\Sigma_{oo}`. A mixture conditions each
component and re-weighs it by the marginal likelihood of ``x_o``, which the same factor gives.
"""

from __future__ import annotations

from typing import Any

import torch

from lessons_lib.core.inpainting import as_flat_rows
from lessons_lib.core.validation import ArrayLike, as_tensor, check_array
from lessons_lib.density._inputs import (
    _compute_device,
    _compute_dtype,
    _mean_cov_tensors,
    check_finite_result,
    check_representable,
    like,
)
from lessons_lib.density.linalg import LOG_2PI, _factor, scaled_differences

__all__ = ["check_inpaint_inputs", "conditional_gaussian", "group_rows_by_mask"]


def conditional_gaussian(
    mean: ArrayLike, cov: ArrayLike, observed: ArrayLike, x_observed: ArrayLike
) -> tuple[ArrayLike, ArrayLike]:
    """The Gaussian of the missing coordinates given the observed ones.

    Parameters
    ----------
    mean : shape (D,)
    cov : shape (D, D)
    observed : bool, shape (D,)
        True where a coordinate is observed (``o``), False where it is missing (``m``).
    x_observed : shape (N, |o|) or (|o|,)
        The observed values, in the order of the coordinates.

    Returns
    -------
    cond_mean : shape (N, |m|) (or (|m|,) for one point), the type of ``x_observed``
        :math:`\\mu_m + \\Sigma_{mo}\\Sigma_{oo}^{-1}(x_o-\\mu_o)`
    cond_cov : shape (|m|, |m|)
        :math:`\\Sigma_{mm} - \\Sigma_{mo}\\Sigma_{oo}^{-1}\\Sigma_{om}` (the same for every x_o)
    """
    dtype = _compute_dtype(mean, cov, x_observed)
    device = _compute_device(mean, cov, x_observed)
    mean_t, cov_t = _mean_cov_tensors(mean, cov, dtype, device)
    dim = mean_t.shape[0]
    check_array(observed, "observed", shape=(dim,), kinds="b")
    obs = as_tensor(observed, device=device).bool()
    check_array(x_observed, "x_observed", ndim=(1, 2), kinds="fiu")
    n_obs = int(obs.sum())
    if x_observed.shape[-1] != n_obs:
        raise ValueError(
            f"x_observed must have {n_obs} values per point (one per True in observed), "
            f"got shape {tuple(x_observed.shape)}."
        )
    x_o = as_tensor(x_observed, dtype=dtype, device=device)
    check_representable(x_o, x_observed, "x_observed")
    single = x_o.ndim == 1
    x_o = x_o.reshape(-1, n_obs)
    cond_mean, cond_cov = _condition(mean_t, cov_t, obs, x_o)
    check_finite_result(cond_mean, "the conditional means")
    return like(cond_mean[0] if single else cond_mean, x_observed), like(cond_cov, x_observed)


def _condition(
    mean: torch.Tensor,
    cov: torch.Tensor,
    obs: torch.Tensor,
    x_o: torch.Tensor,
    *,
    with_log_marginal: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Conditional mean (..., N, |m|) and covariance (..., |m|, |m|), batched over leading dims.

    ``mean`` (..., D), ``cov`` (..., D, D), ``obs`` bool (D,), ``x_o`` (N, |o|). With
    ``with_log_marginal`` also returns, from the same Cholesky factor, the pieces of
    log N(x_o; mean_o, cov_oo) = ``log_norm - half * scale**2`` (a mixture needs them to weigh
    its components): ``(half (..., N), log_norm (...,), scale)``. ``scale`` is None when the
    plain formulas stayed finite (the usual case: then log N = log_norm - half); where they
    overflowed (observed values like 1e300) every row's differences are divided by a power of
    two (exact) before the solves and ``scale`` (N,) holds those powers, so points
    astronomically far away still compare and the conditional means come out right, or inf
    when they are beyond the float range (never NaN); the caller checks.

    ``cov`` must already be checked: the factor of a principal block of a positive definite
    matrix needs no new singularity test (its pivots are at least those of the whole).
    """
    miss = ~obs
    cov_oo = cov[..., obs, :][..., :, obs]
    cov_om = cov[..., obs, :][..., :, miss]
    cov_mm = cov[..., miss, :][..., :, miss]
    if int(obs.sum()) == 0:  # nothing observed: the marginal of the missing part
        shape = (*mean.shape[:-1], x_o.shape[0], int(miss.sum()))
        half = torch.zeros(shape[:-1], dtype=mean.dtype, device=mean.device)
        log_norm = torch.zeros(mean.shape[:-1], dtype=mean.dtype, device=mean.device)
        result = (mean[..., None, miss].expand(shape), cov_mm)
        return (*result, (half, log_norm, None)) if with_log_marginal else result
    factor = _factor(cov_oo, "the covariance of the observed coordinates")
    # A = L^{-1} Σ_om, so Σ_mo Σ_oo^{-1} Σ_om = A^T A and the gain Σ_mo Σ_oo^{-1} = A^T L^{-1}.
    a = torch.linalg.solve_triangular(factor, cov_om, upper=False)
    cond_cov = cov_mm - a.transpose(-1, -2) @ a

    def solve(careful: bool):
        if careful:
            means_o = mean[..., obs].reshape(-1, int(obs.sum()))
            diff, scale = scaled_differences(
                x_o, means_o if mean.ndim > 1 else means_o[0], careful=True
            )
            diff = diff.reshape(*mean.shape[:-1], *diff.shape[-2:]).transpose(-1, -2)
        else:
            diff, scale = (x_o - mean[..., None, obs]).transpose(-1, -2), None  # (..., |o|, N)
        y = torch.linalg.solve_triangular(factor, diff, upper=False)
        gain_term = (a.transpose(-1, -2) @ y).transpose(-1, -2)
        if scale is not None:
            gain_term = gain_term * scale[:, None]
        half = 0.5 * (y * y).sum(-2) if with_log_marginal else None
        return mean[..., None, miss] + gain_term, half, scale

    cond_mean, half, scale = solve(careful=False)
    finite = torch.isfinite(cond_mean).all()
    if with_log_marginal:
        finite = finite & torch.isfinite(half).all()
    if not bool(finite):
        cond_mean, half, scale = solve(careful=True)
    if not with_log_marginal:
        return cond_mean, cond_cov
    half_log_det = torch.log(torch.diagonal(factor, dim1=-2, dim2=-1)).sum(-1)
    log_norm = -half_log_det - 0.5 * int(obs.sum()) * LOG_2PI
    return cond_mean, cond_cov, (half, log_norm, scale)


def check_inpaint_inputs(
    X: Any, mask: Any, n_features: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check ``X`` (N, D) and ``mask`` ((N, D) or (D,), bool) before inpainting.

    Missing entries of ``X`` may hold anything (NaN included); observed ones must be finite.

    Images ``(N, C, H, W)`` (any trailing shape with ``C·H·W = D``) are taken as flat rows,
    with a mask of their shape or of one image (:mod:`lessons_lib.core.inpainting`); the
    caller reshapes the result with :func:`~lessons_lib.core.inpainting.restore_shape`.

    Returns
    -------
    x : Tensor (N, D), missing entries set to 0
    observed : bool Tensor (N, D)
    """
    if getattr(X, "ndim", 2) > 2:
        X, mask = as_flat_rows(X, mask, n_features, name="X")
    check_array(X, "X", ndim=2, kinds="fiu", finite=False)
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} columns but the model has {n_features} features.")
    check_array(mask, "mask", ndim=(1, 2), kinds="b")
    if tuple(mask.shape) not in ((n_features,), tuple(X.shape)):
        raise ValueError(
            f"mask must have the shape of X {tuple(X.shape)} or ({n_features},) (True where a "
            f"value is observed), got shape {tuple(mask.shape)}."
        )
    x = as_tensor(X, dtype=dtype, device=device)
    observed = as_tensor(mask, device=device).bool().expand(x.shape)
    raw_observed = as_tensor(X, device=device)[observed]
    if not bool(torch.isfinite(raw_observed).all()):
        raise ValueError("X has NaN or infinite values at observed positions (where mask is True).")
    if not bool(torch.isfinite(x[observed]).all()):
        raise ValueError(
            f"X has observed values beyond the range of {dtype} (largest "
            f"{torch.finfo(dtype).max:.3g}); use dtype=torch.float64 or rescale X."
        )
    return torch.where(observed, x, torch.zeros((), dtype=dtype, device=device)), observed


def group_rows_by_mask(observed: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Group the rows of a bool (N, D) mask by pattern: [(pattern (D,), row indices), ...].

    Conditioning costs one factorisation per distinct pattern, not one per row.
    """
    patterns, inverse = torch.unique(observed, dim=0, return_inverse=True)
    return [(patterns[g], torch.nonzero(inverse == g).flatten()) for g in range(len(patterns))]
