"""Learning an MRF's parameters from images: pseudo-likelihood, and the noise rate by EM.

* Besag, J. (1975). Statistical analysis of non-lattice data. *The Statistician* 24, 179-195:
  the pseudo-likelihood, the product of each site's conditional given its neighbours, replaces
  the intractable likelihood; it is concave in the Ising parameters and consistent.
* Dempster, A. P., Laird, N. M. and Rubin, D. B. (1977). Maximum likelihood from incomplete data
  via the EM algorithm. *JRSS B* 39, 1-38, with a Monte-Carlo E-step (Wei, G. C. G. and Tanner,
  M. A. (1990). *JASA* 85, 699-704): the noise rate from the noisy image alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lessons_lib.core.progress import progress_bar
from lessons_lib.core.validation import (
    ArrayLike,
    check_array,
    check_one_of,
    check_positive,
    check_probability,
    check_seed,
)
from lessons_lib.mrf._free_grid import _free_neighbour_sum
from lessons_lib.mrf._validation import (
    _check_iterations,
    _check_spins,
    _device_for,
    _float_tensor,
)
from lessons_lib.mrf.denoise import mean_field_marginals, posterior_marginals
from lessons_lib.mrf.posterior import _check_denoise_args


def _as_spin_batch(images: Any) -> torch.Tensor:
    """(H, W), (N, H, W) or (N, 1, H, W) ±1 images as a float64 (N, H, W) CPU tensor."""
    check_array(images, "images", ndim=(2, 3, 4))
    if images.ndim == 4 and images.shape[1] != 1:
        raise ValueError(
            f"images must have one channel when 4-D (N, 1, H, W), got shape {tuple(images.shape)}."
        )
    _check_spins(images, "images")
    x = _float_tensor(images, torch.device("cpu"), torch.float64)
    if x.ndim == 2:
        x = x[None]
    return x.reshape(-1, *x.shape[-2:])


def fit_pseudo_likelihood(
    images: ArrayLike, boundary: str = "free", max_iter: int = 100, tol: float = 1e-10
) -> tuple[float, float]:
    """Fit an Ising prior ``p(x) ∝ exp(β (Σ_{i~j} x_i x_j + h Σ_i x_i))`` by maximum
    pseudo-likelihood.

    The likelihood needs the intractable ``Z(β, h)``; the pseudo-likelihood replaces it by the
    product of each pixel's conditional given its Markov blanket,
    ``p(x_i | x_{-i}) = σ(2 x_i (β n_i + β h))`` with ``n_i = Σ_{j~i} x_j``. Its logarithm is
    concave in ``(β, βh)`` (a logistic regression on the features ``x_i n_i`` and ``x_i``), and
    only the counts of the pairs ``(x_i, n_i)`` enter it, so Newton's method on those counts
    finds the maximum in a few steps. The estimator is consistent: it recovers the true
    parameters from enough samples of the model.

    Parameters
    ----------
    images : array or Tensor, shape (H, W), (N, H, W) or (N, 1, H, W), values ±1
        Clean images (or samples of a model).
    boundary : {"free", "periodic"}
        Neighbourhoods of edge pixels: inside the image only (``"free"``, for photos and
        drawings) or wrapping around (``"periodic"``, for samples of :func:`ising_gibbs`).
    max_iter : int
        Newton iterations (1 to 10**7).
    tol : float
        Stop when the Newton step is smaller.

    Returns
    -------
    beta : float
        Coupling (> 0 for images whose neighbours tend to agree).
    h : float
        Field in the convention of :func:`ising_gibbs` (the model is ``exp(β h Σ x_i)`` in it).

    Raises
    ------
    ValueError
        Non-binary images; images where the maximum is at infinity (e.g. constant images, or
        neighbours that never disagree), or a fitted coupling that is not positive.
    """
    check_one_of(boundary, "boundary", ("free", "periodic"))
    max_iter = _check_iterations(max_iter, "max_iter")
    tol = check_positive(tol, "tol", strict=False)
    counts = _blanket_counts(_as_spin_batch(images), boundary)
    beta, field = _newton_pseudo_likelihood(counts, max_iter, tol)
    if beta <= 0:
        raise ValueError(
            f"the fitted coupling is {beta:.4g} <= 0: neighbouring pixels of these images do not "
            "tend to agree, so an Ising prior with beta > 0 does not describe them."
        )
    return beta, field / beta


def _blanket_counts(x: torch.Tensor, boundary: str) -> np.ndarray:
    """How often each pair (x_i, n_i) occurs: ``counts[x_i > 0, n_i + 4]``, shape (2, 9)."""
    if boundary == "periodic":
        neighbours = sum(torch.roll(x, s, d) for s in (1, -1) for d in (-2, -1))
    else:
        neighbours = _free_neighbour_sum(x)
    counts = np.zeros((2, 9))  # [x_i = -1 or +1, n_i + 4]
    np.add.at(counts, ((x.ravel() > 0).long().numpy(), (neighbours.ravel() + 4).long().numpy()), 1)
    return counts


def _newton_pseudo_likelihood(counts: np.ndarray, max_iter: int, tol: float) -> tuple[float, float]:
    """Maximize the log pseudo-likelihood over θ = (β, βh) by damped Newton steps.

    It is the log-likelihood of a logistic regression of x_i on the features ``x_i n_i`` and
    ``x_i``, summed with weights ``counts``: concave, so Newton converges in a few steps.
    """
    spin = np.array([-1.0, 1.0])[:, None]
    n_values = np.arange(-4.0, 5.0)[None, :]
    features = np.stack([spin * n_values, spin * np.ones_like(n_values)], axis=-1)  # (2, 9, 2)

    def log_pl(theta: np.ndarray) -> float:
        return float(-(counts * np.logaddexp(0.0, -2.0 * features @ theta)).sum())

    theta = np.zeros(2)
    for _ in range(max_iter):
        score = 2.0 * features @ theta  # log-odds of the observed value
        prob = 1.0 / (1.0 + np.exp(score))  # 1 - σ(score)
        grad = np.einsum("ab,abk->k", counts * 2.0 * prob, features)
        weights = counts * 4.0 * prob * (1.0 - prob)
        hessian = -np.einsum("ab,abk,abl->kl", weights, features, features)
        try:
            step = -np.linalg.solve(hessian, grad)
        except np.linalg.LinAlgError:
            step = np.full(2, np.inf)
        if not np.all(np.isfinite(step)) or np.abs(theta + step).max() > 50:
            raise ValueError(
                "the pseudo-likelihood has no finite maximum for these images (are they "
                "constant, or do neighbouring pixels never disagree?)."
            )
        # Newton's step on a concave function; halve it in the rare case it overshoots.
        current = log_pl(theta)
        while log_pl(theta + step) < current - 1e-12 and np.abs(step).max() > tol:
            step = step / 2.0
        theta = theta + step
        if np.abs(step).max() < tol:
            break
    return float(theta[0]), float(theta[1])


def estimate_noise_rate(
    noisy: ArrayLike,
    beta: float,
    init: float = 0.25,
    n_iter: int = 15,
    method: str = "gibbs",
    n_sweeps: int = 60,
    burn_in: int = 20,
    tol: float = 1e-4,
    seed: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> tuple[float, list[float]]:
    """Estimate the flip-noise rate ``p`` from the noisy image alone, by EM.

    The clean image ``x`` is the hidden variable. E-step: the posterior marginals
    ``q_i = P(x_i = +1 | y; β, p_t)``. M-step: ``p_{t+1}`` maximizes the expected complete
    log-likelihood ``E[#disagreements] log p + E[#agreements] log(1 - p)``, so it is the expected
    fraction of flipped pixels, ``(1/N) Σ_i (1 - (2q_i - 1) y_i) / 2``.

    Parameters
    ----------
    noisy : array or Tensor, shape (H, W), values ±1
    beta : float, > 0
        Prior coupling (e.g. from :func:`fit_pseudo_likelihood` on clean images).
    init : float in (0, 0.5)
        Starting noise rate.
    n_iter : int
        Maximum EM iterations (1 to 10**7).
    method : {"gibbs", "mean-field"}
        How the E-step computes the marginals (Gibbs: Monte-Carlo EM).
    n_sweeps, burn_in : int
        Gibbs sweeps per E-step (at most 10**7 each).
    tol : float
        Stop when ``p`` moves less than this.

    Returns
    -------
    noise_rate : float
    history : list of float
        ``p`` after each iteration (the first entry is ``init``).
    """
    check_one_of(method, "method", ("gibbs", "mean-field"))
    beta, _ = _check_denoise_args(noisy, beta, 0.25)
    init = check_probability(init, "init", low=0.0, high=0.5)
    n_iter = _check_iterations(n_iter, "n_iter")
    n_sweeps = _check_iterations(n_sweeps, "n_sweeps")
    burn_in = _check_iterations(burn_in, "burn_in", min_value=0)
    tol = check_positive(tol, "tol", strict=False)
    seed = check_seed(seed)
    dev = _device_for(noisy, device)
    y = _float_tensor(noisy, dev, torch.float64)
    rate, history = init, [init]
    seeds = np.random.default_rng(seed).integers(0, 2**31, size=n_iter)
    for it in progress_bar(range(n_iter), desc="EM", enabled=bool(progress)):
        if method == "gibbs":
            q = posterior_marginals(
                y.float(), beta, rate, n_sweeps, burn_in, seed=int(seeds[it]), device=dev
            ).double()
        else:
            q = mean_field_marginals(y, beta, rate, device=dev)
        new_rate = float(((1.0 - (2.0 * q - 1.0) * y) / 2.0).mean())
        new_rate = min(max(new_rate, 1e-4), 0.5 - 1e-4)
        history.append(new_rate)
        converged = abs(new_rate - rate) < tol
        rate = new_rate
        if converged:
            break
    return rate, history
