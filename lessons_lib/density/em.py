"""EM for a Gaussian mixture, written as the textbook writes it (readable beside notebook 02).

A mixture has density :math:`p(x) = \\sum_k \\pi_k \\mathcal N(x; \\mu_k, \\Sigma_k)`; EM
(Dempster, Laird & Rubin 1977, "Maximum likelihood from incomplete data via the EM
algorithm"; Bishop, *Pattern Recognition and Machine Learning*, 2006, §9.2) alternates

* **E-step** (:func:`e_step`): responsibilities
  :math:`r_{nk} = \\pi_k \\mathcal N(x_n;\\mu_k,\\Sigma_k) / p(x_n)`, in log space;
* **M-step** (:func:`m_step`): :math:`N_k = \\sum_n r_{nk}`, :math:`\\pi_k = N_k / N`,
  :math:`\\mu_k = \\frac1{N_k}\\sum_n r_{nk} x_n`,
  :math:`\\Sigma_k = \\frac1{N_k}\\sum_n r_{nk}(x_n-\\mu_k)(x_n-\\mu_k)^\\top + \\epsilon I`
  (:math:`\\epsilon` = ``reg_covar``, a floor that stops a component collapsing on a point).

Covariances are stored as scikit-learn stores them (``covariance_type``): ``"full"`` (K, D, D),
``"tied"`` (D, D) shared by every component, ``"diag"`` (K, D) and ``"spherical"`` (K,).

These functions are the reference. :class:`lessons_lib.density.gmm.GaussianMixture` computes
the same updates faster (:mod:`lessons_lib.density._fast_e_step`: whitening by matrix
products, skipping pairs whose responsibility is below rounding), and the tests check that
both give the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lessons_lib.density.linalg import cholesky, gaussian_log_density

__all__ = ["COVARIANCE_TYPES", "ConvergenceWarning", "e_step", "full_covariances", "m_step"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

#: Added to every N_k (as scikit-learn does) so an empty component never divides by zero.
_TINY = 10 * float(np.finfo(np.float64).eps)

#: Relative size of a log-likelihood drop that is more than rounding.
_ROUNDING = 1e-12


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the log-likelihood gain fell below ``tol``."""


def full_covariances(
    covariances: torch.Tensor, covariance_type: str, n_components: int, dim: int
) -> torch.Tensor:
    """Covariances in any storage shape as K full (K, D, D) matrices."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return covariances.expand(n_components, dim, dim)
    if covariance_type == "diag":
        return torch.diag_embed(covariances)
    if covariance_type == "spherical":
        eye = torch.eye(dim, dtype=covariances.dtype, device=covariances.device)
        return covariances[:, None, None] * eye
    raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}.")


def e_step(
    X: Any, weights: Any, means: Any, covariances: Any, covariance_type: str = "full"
) -> tuple[torch.Tensor, float]:
    """The E-step: log-responsibilities, and the mean log-likelihood of the parameters.

    Parameters
    ----------
    X : Tensor (N, D)
        The data (a NumPy array is converted).
    weights : (K,)
    means : (K, D)
    covariances : storage shape of ``covariance_type`` (see the module)
    covariance_type : {"full", "tied", "diag", "spherical"}

    Returns
    -------
    log_resp : Tensor (N, K)
        :math:`\\log r_{nk}`; ``log_resp.exp()`` are the responsibilities (rows sum to 1).
    log_likelihood : float
        :math:`\\frac1N \\sum_n \\log p(x_n)`, the mean log-likelihood.
    """
    X = torch.as_tensor(X)
    weights, means, covariances = (
        torch.as_tensor(v, dtype=X.dtype, device=X.device) for v in (weights, means, covariances)
    )
    n_components, dim = means.shape
    # L_k with Sigma_k = L_k L_k^T, then log pi_k + log N(x_n; mu_k, Sigma_k) for every k, n.
    factors = cholesky(full_covariances(covariances, covariance_type, n_components, dim))
    log_joint = torch.log(weights)[:, None] + gaussian_log_density(X, means, factors)  # (K, N)
    log_px = torch.logsumexp(log_joint, 0)  # (N,)  log p(x_n) = log sum_k pi_k N(x_n; ...)
    log_resp = (log_joint - log_px).T  # (N, K)  log r_nk
    return log_resp, float(log_px.mean())


def m_step(
    X: Any, resp: Any, covariance_type: str = "full", reg_covar: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The M-step: the weights, means and covariances that maximise the expected
    log-likelihood under the responsibilities ``resp``.

    Parameters
    ----------
    X : Tensor (N, D)
        The data (a NumPy array is converted).
    resp : (N, K)
        Responsibilities (soft), or one-hot labels (hard, as k-means gives).
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        The covariance floor :math:`\\epsilon`, added to every variance.

    Returns
    -------
    weights : Tensor (K,)
    means : Tensor (K, D)
    covariances : Tensor in the storage shape of ``covariance_type``
    """
    X = torch.as_tensor(X)
    resp = torch.as_tensor(resp, dtype=X.dtype, device=X.device)
    dim = X.shape[1]
    N_k = resp.sum(0) + _TINY  # (K,)  effective number of points of each component
    weights = N_k / N_k.sum()  # pi_k = N_k / N
    means = resp.T @ X / N_k[:, None]  # (K, D)  mu_k = sum_n r_nk x_n / N_k
    diff = X[None, :, :] - means[:, None, :]  # (K, N, D)  x_n - mu_k
    weighted = resp.T[:, :, None] * diff  # (K, N, D)  r_nk (x_n - mu_k)
    eye = torch.eye(dim, dtype=X.dtype, device=X.device)
    if covariance_type in ("full", "tied"):
        scatter = weighted.transpose(1, 2) @ diff  # (K, D, D)  sum_n r_nk (x_n-mu_k)(x_n-mu_k)^T
        if covariance_type == "full":
            covariances = scatter / N_k[:, None, None] + reg_covar * eye
        else:  # one covariance for all: the scatters of every component, over all points
            covariances = scatter.sum(0) / N_k.sum() + reg_covar * eye
    elif covariance_type in ("diag", "spherical"):
        variances = (weighted * diff).sum(1) / N_k[:, None]  # (K, D)  the diagonal of the above
        covariances = variances + reg_covar
        if covariance_type == "spherical":  # one variance: the mean of the diagonal
            covariances = covariances.mean(1)
    else:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}."
        )
    return weights, means, covariances


def _floor_lowered(new: float, old: float) -> bool:
    """True when an EM step lowered the mean log-likelihood by more than rounding.

    Exact EM never does. With a covariance floor it can: once a component sits on the floor
    (e.g. digits pixels that are nearly constant within a cluster), ``S_k / N_k + reg I`` is no
    longer the maximiser of the expected log-likelihood, and the likelihood may drift down by
    amounts of the order of ``reg_covar`` per step (scikit-learn's EM drifts the same way).
    EM then stops and keeps the better parameters, so ``history_`` never decreases.
    """
    return new < old - _ROUNDING * max(1.0, abs(old))
