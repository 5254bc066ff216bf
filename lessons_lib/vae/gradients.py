r"""Why the reparameterization trick: two unbiased gradient estimators and their variances.

The gradient of :math:`\mathbb E_{z \sim \mathcal N(\mu, \sigma^2)}[f(z)]` with respect to
:math:`(\mu, \sigma)` has two Monte Carlo estimators: the score function (REINFORCE,
Williams 1992), which needs only values of f, and the reparameterization
:math:`z = \mu + \sigma\varepsilon` (Kingma & Welling 2014; Rezende, Mohamed & Wierstra
2014), which differentiates f and has a far smaller variance for smooth f. Mohamed et al.
(2020) survey both.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.loop import check_count
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_tensor,
    check_array,
    check_elements,
    check_fits_dtype,
    check_seed,
)

__all__ = ["gradient_estimator_variance"]


def gradient_estimator_variance(
    f: Callable[[torch.Tensor], torch.Tensor],
    mu: ArrayLike,
    sigma: ArrayLike,
    *,
    n_samples: int = 1,
    n_trials: int = 2000,
    baseline: float | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> dict[str, dict[str, torch.Tensor]]:
    r"""Compare two unbiased estimators of :math:`\nabla_{\mu,\sigma}\,
    \mathbb E_{z\sim\mathcal N(\mu, \sigma^2)}[f(z)]`.

    * reparameterization: :math:`z = \mu + \sigma\varepsilon`, gradient
      :math:`(f'(z),\ f'(z)\,\varepsilon)`;
    * score function (REINFORCE): :math:`(f(z) - b)\,\nabla\log\mathcal N(z;\mu,\sigma^2)
      = (f(z) - b)\big(\frac{z-\mu}{\sigma^2},\ \frac{(z-\mu)^2 - \sigma^2}{\sigma^3}\big)`,
      with an optional constant baseline b (a control variate; unbiased for any constant).

    Each estimate averages ``n_samples`` draws; it is repeated ``n_trials`` times to measure
    its mean and variance.

    Parameters
    ----------
    f : callable
        Maps z of shape (..., D) to (...): a differentiable torch function.
    mu, sigma : (D,)
        Mean and standard deviation (> 0) of the diagonal Gaussian.
    n_samples, n_trials : int
    baseline : float, optional
    seed : int, optional
        None: a generator seeded by torch's global one.
    device : optional

    Returns
    -------
    dict
        ``{"reparameterization": {"mean", "variance"}, "score_function": {"mean",
        "variance"}}``; each value a tensor of shape (2, D): row 0 the gradient with respect
        to μ, row 1 with respect to σ.
    """
    n_samples, n_trials, target, mu_t, sigma_t = _check_arguments(
        f, mu, sigma, n_samples, n_trials, baseline, seed, device
    )
    gen = make_generator(seed, target)
    eps = torch.randn(
        (n_trials, n_samples, len(mu_t)), generator=gen, dtype=mu_t.dtype, device=target
    )
    z = (mu_t + sigma_t * eps).requires_grad_(True)
    values = f(z)
    if values.shape != z.shape[:-1]:
        raise ValueError(
            f"f must map z of shape (..., D) to shape (...); got {tuple(values.shape)} for z of "
            f"shape {tuple(z.shape)}."
        )
    (fprime,) = torch.autograd.grad(values.sum(), z)
    reparam = torch.stack([fprime, fprime * eps]).mean(2)  # (2, trials, D)
    centred = (values.detach() - (baseline or 0.0))[..., None]
    # (z - mu) / sigma^2 = eps / sigma and ((z - mu)^2 - sigma^2) / sigma^3 = (eps^2 - 1) / sigma:
    # the same scores without sigma^2, which underflows (0/0) for sigma < 1e-154.
    score_mu = eps / sigma_t
    score_sigma = (eps**2 - 1.0) / sigma_t
    score = torch.stack([centred * score_mu, centred * score_sigma]).mean(2)
    result = {
        name: {"mean": g.mean(1), "variance": g.var(1)}
        for name, g in (("reparameterization", reparam), ("score_function", score))
    }
    if not all(bool(torch.isfinite(v).all()) for r in result.values() for v in r.values()):
        raise ValueError(
            "the gradient estimates overflow: f's values minus the baseline "
            f"(largest |f - baseline| = {float(centred.abs().max()):.3g}) or its gradient are "
            "too large for their variance to be represented; rescale f or the baseline."
        )
    return result


def _check_arguments(f, mu, sigma, n_samples, n_trials, baseline, seed, device):
    """The checked counts, the device, and ``mu``, ``sigma`` as float64 (float32 on MPS)."""
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}.")
    n_samples = check_count(n_samples, "n_samples")
    n_trials = check_count(n_trials, "n_trials", min_value=2)
    check_seed(seed)
    if baseline is not None:
        if isinstance(baseline, bool) or not isinstance(baseline, numbers.Real):
            raise TypeError(f"baseline must be a float or None, got {baseline!r}.")
        if not math.isfinite(baseline):
            raise ValueError(f"baseline must be finite, got {baseline!r}.")
    target = resolve_device(device)
    check_array(mu, "mu", ndim=1, kinds="f")
    check_array(sigma, "sigma", ndim=1, kinds="f", shape=mu.shape, min_value=0.0)
    dtype = torch.float32 if target.type == "mps" else torch.float64  # MPS has no float64
    check_fits_dtype(mu, "mu", dtype)
    check_fits_dtype(sigma, "sigma", dtype)
    check_elements(n_trials * n_samples * len(mu), "n_trials and n_samples")
    mu_t = as_tensor(mu, dtype=dtype, device=target)
    sigma_t = as_tensor(sigma, dtype=dtype, device=target)
    if bool((sigma_t <= 0).any()):
        raise ValueError("sigma must be > 0 everywhere.")
    return n_samples, n_trials, target, mu_t, sigma_t
