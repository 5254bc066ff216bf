r"""Gaussian densities and KL divergences: the closed-form half of the ELBO.

The VAE's KL term :math:`\mathrm{KL}(q_\phi(z \mid x) \| p(z))` between a diagonal Gaussian
encoder and the standard normal prior has the closed form of Kingma & Welling (2014),
Appendix B; :func:`gaussian_kl` is the general diagonal case, written so that neither
variance over- or underflows on its own. The log-densities are those of the importance
weights of the IWAE bound (Burda et al. 2016).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from lessons_lib.core.validation import (
    as_tensor,
    check_array,
    check_fits_dtype,
    like_input,
)

__all__ = [
    "LOG_2PI",
    "gaussian_kl",
    "log_diag_normal",
    "log_standard_normal",
    "standard_normal_kl",
]

LOG_2PI = math.log(2 * math.pi)


def standard_normal_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathrm{KL}(\mathcal N(\mu, \sigma^2) \| \mathcal N(0, 1))` per coordinate.

    The hot path of training: no input checks (:func:`gaussian_kl` has them). Sum over the
    last axis for the KL of the diagonal Gaussian.
    """
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last axis."""
    return -0.5 * (z**2 + LOG_2PI).sum(-1)


def log_diag_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last axis."""
    return -0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + LOG_2PI).sum(-1)


def gaussian_kl(
    mu_q: torch.Tensor,
    logvar_q: torch.Tensor,
    mu_p: torch.Tensor | float = 0.0,
    logvar_p: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    r"""Closed-form :math:`\mathrm{KL}(\mathcal N(\mu_q, \sigma_q^2) \| \mathcal N(\mu_p,
    \sigma_p^2))` between diagonal Gaussians, summed over the last axis.

    .. math::

        \mathrm{KL} = \tfrac12 \sum_j \Big[\log\sigma_{p,j}^2 - \log\sigma_{q,j}^2
        + \frac{\sigma_{q,j}^2 + (\mu_{q,j} - \mu_{p,j})^2}{\sigma_{p,j}^2} - 1\Big]

    With the defaults (:math:`\mu_p = 0`, :math:`\log\sigma_p^2 = 0`) it is the VAE's KL to
    the standard normal prior, :math:`\tfrac12\sum_j(\mu_j^2 + \sigma_j^2 - 1 - \log
    \sigma_j^2)`.

    Parameters
    ----------
    mu_q, logvar_q : Tensor, shape (..., L)
        Mean and log-variance of q.
    mu_p, logvar_p : Tensor broadcastable to (..., L), or float
        Mean and log-variance of p (default the standard normal).

    Returns
    -------
    Tensor, shape (...)
        KL in nats.
    """
    check_array(mu_q, "mu_q", kinds="f")
    check_array(logvar_q, "logvar_q", kinds="f")
    if mu_q.shape != logvar_q.shape:
        raise ValueError(
            f"mu_q and logvar_q must have the same shape, got {tuple(mu_q.shape)} and "
            f"{tuple(logvar_q.shape)}."
        )
    mq = as_tensor(mu_q)
    lq = as_tensor(logvar_q, dtype=mq.dtype, device=mq.device)
    mp, lp = _prior_parameters(mq, mu_p, logvar_p)
    # In ratios and logs, so that neither exp(logvar) over- or underflows on its own:
    # sigma_q^2 / sigma_p^2 = exp(lq - lp) and (mu_q - mu_p)^2 / sigma_p^2 = exp(2 log|d| - lp)
    # (0 where d = 0); exp(r) - 1 - r as expm1(r) - r, which is >= 0 also when rounded.
    diff = mq - mp
    log_ratio = lq - lp
    zero = diff == 0
    safe = torch.where(zero, torch.ones_like(diff), diff)
    mean_term = torch.where(zero, torch.zeros_like(diff), torch.exp(2 * torch.log(safe.abs()) - lp))
    kl = 0.5 * (torch.expm1(log_ratio) - log_ratio + mean_term).sum(-1)
    if not bool(torch.isfinite(kl).all()):
        raise ValueError(
            f"the KL overflows {mq.dtype}: mu_q, logvar_q, mu_p and logvar_p are too far apart "
            f"(largest |mu_q - mu_p| = {float(diff.abs().max()):.3g}, largest |logvar_q - "
            f"logvar_p| = {float(log_ratio.abs().max()):.3g}). Use float64 or rescale."
        )
    return like_input(kl, mu_q)


def _prior_parameters(
    mq: torch.Tensor, mu_p: Any, logvar_p: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """``mu_p`` and ``logvar_p`` checked and as tensors of ``mq``'s dtype and device."""
    params = []
    for name, value in (("mu_p", mu_p), ("logvar_p", logvar_p)):
        if isinstance(value, np.ndarray | torch.Tensor):
            check_array(value, name, kinds="fiu")
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a float or an array/tensor, got {value!r}.")
        elif not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}.")
        elif abs(value) > float(torch.finfo(mq.dtype).max):
            raise ValueError(f"{name}={value:g} is beyond the range of {mq.dtype}.")
        if isinstance(value, np.ndarray | torch.Tensor):
            check_fits_dtype(value, name, mq.dtype)
        params.append(as_tensor(value, dtype=mq.dtype, device=mq.device))
    mp, lp = params
    try:
        torch.broadcast_shapes(mq.shape, mp.shape, lp.shape)
    except RuntimeError as err:
        raise ValueError(
            f"mu_p {tuple(mp.shape)} and logvar_p {tuple(lp.shape)} must broadcast to the "
            f"shape of mu_q, {tuple(mq.shape)}."
        ) from err
    return mp, lp
