r"""Probabilistic PCA in closed form: the maximum-likelihood solution and its exact likelihood.

Tipping & Bishop (1999) show that the maximum-likelihood linear-Gaussian latent model
:math:`x = W z + b + \varepsilon`, :math:`z \sim \mathcal N(0, I_L)`,
:math:`\varepsilon \sim \mathcal N(0, \sigma^2 I_D)`, is read off the eigendecomposition of
the sample covariance. It is the ground truth that the
:class:`~lessons_lib.vae.linear.LinearGaussianVAE` is checked against.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from lessons_lib.core.loop import check_count
from lessons_lib.core.validation import ArrayLike, as_numpy, as_tensor, check_array, like_input

__all__ = ["ppca_log_likelihood", "ppca_mle"]


def ppca_mle(X: ArrayLike, latent_dim: int) -> tuple[ArrayLike, ArrayLike, float]:
    r"""The maximum-likelihood probabilistic PCA in closed form (Tipping & Bishop 1999).

    With :math:`\lambda_1 \ge \dots \ge \lambda_D` the eigenvalues of the sample
    covariance (divided by N) and :math:`U_L` the top-L eigenvectors:
    :math:`b = \bar x`, :math:`\sigma^2 = \frac{1}{D-L}\sum_{j>L}\lambda_j`,
    :math:`W = U_L(\Lambda_L - \sigma^2 I)^{1/2}` (up to a rotation).

    Parameters
    ----------
    X : (N, D)
    latent_dim : int

    Returns
    -------
    W : (D, L)
    mean : (D,)
    sigma2 : float
    """
    check_array(X, "X", ndim=2, kinds="f")
    latent_dim = check_count(latent_dim, "latent_dim")
    n, d = X.shape
    if latent_dim >= d:
        raise ValueError(f"latent_dim must be < the data dimension {d}, got {latent_dim}.")
    Xt = torch.as_tensor(as_numpy(X), dtype=torch.float64)
    # In units of a power of two near the data's size (exact): squares of 1e200 stay finite.
    largest = float(Xt.abs().max())
    scale = 1.0 if largest == 0 else math.ldexp(1.0, math.frexp(largest)[1] - 1)
    Xs = Xt / scale
    mean = Xs.mean(0)
    cov = (Xs - mean).T @ (Xs - mean) / n
    evals, evecs = torch.linalg.eigh(cov)
    evals, evecs = evals.flip(0), evecs.flip(1)
    sigma2_scaled = float(evals[latent_dim:].mean())
    if not sigma2_scaled > 64 * np.finfo(np.float64).eps * max(float(evals[0]), 1e-300):
        raise ValueError(
            f"X varies in at most latent_dim={latent_dim} directions ({n} points): the noise "
            "variance sigma2 of the pPCA MLE would be 0 and the likelihood unbounded. Use more "
            "points, a smaller latent_dim, or add noise."
        )
    W = evecs[:, :latent_dim] * (evals[:latent_dim] - sigma2_scaled).clamp_min(0).sqrt() * scale
    mean = mean * scale
    sigma2 = sigma2_scaled * scale * scale  # inf, not OverflowError, when too large
    if not math.isfinite(sigma2):
        raise ValueError(
            f"X is too large (max |X| = {largest:.3g}): its variance overflows float64; rescale X."
        )
    if isinstance(X, torch.Tensor):
        return W.to(X.device, X.dtype), mean.to(X.device, X.dtype), sigma2
    return W.numpy(), mean.numpy(), sigma2


def ppca_log_likelihood(
    X: ArrayLike, W: ArrayLike, mean: ArrayLike, sigma2: float | ArrayLike
) -> ArrayLike:
    r"""Exact :math:`\log\mathcal N(x; \text{mean}, W W^\top + \sigma^2 I)` per row.

    Parameters
    ----------
    X : (N, D)
    W : (D, L)
    mean : (D,)
    sigma2 : float or 0-d tensor, > 0

    Returns
    -------
    (N,) log-densities in nats; NumPy when X is NumPy.
    """
    check_array(X, "X", ndim=2, kinds="f")
    d = X.shape[1]
    check_array(W, "W", ndim=2, kinds="f", shape=(d, None))
    check_array(mean, "mean", ndim=1, kinds="f", shape=(d,))
    if isinstance(sigma2, np.ndarray | torch.Tensor):
        check_array(sigma2, "sigma2", ndim=0, kinds="f", finite=False)
        sigma2 = float(sigma2)
    if isinstance(sigma2, bool) or not isinstance(sigma2, numbers.Real):
        raise TypeError(f"sigma2 must be a positive float or a 0-d tensor, got {sigma2!r}.")
    if not sigma2 > 0:
        raise ValueError(f"sigma2 must be > 0, got {float(sigma2)}.")
    if not math.isfinite(sigma2):
        raise ValueError(f"sigma2 must be finite, got {sigma2}.")
    Xt = as_tensor(X)
    dev, dtype = Xt.device, Xt.dtype
    # float64 whatever the input: a float32 sigma2 of 1e-300 would be 0 (a singular matrix).
    wide = torch.float32 if dev.type == "mps" else torch.float64
    Wt = as_tensor(W, dtype=wide, device=dev)
    cov = Wt @ Wt.T + sigma2 * torch.eye(d, dtype=wide, device=dev)
    chol, info = torch.linalg.cholesky_ex(cov)
    if int(info) != 0 or not bool(torch.isfinite(chol).all()):
        raise ValueError(
            f"W W^T + sigma2 I is not numerically positive definite (sigma2 = {sigma2:.3g}, "
            f"max |W| = {float(Wt.abs().max()):.3g}); use a larger sigma2 or a smaller W."
        )
    dist = torch.distributions.MultivariateNormal(
        as_tensor(mean, dtype=wide, device=dev), scale_tril=chol, validate_args=False
    )
    return like_input(dist.log_prob(Xt.to(wide)).to(dtype), X)
