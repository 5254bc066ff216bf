"""Diagnostics of GANs on 2-D mixtures: mode coverage, densities and the optimal discriminator.

* :func:`mode_counts` and :func:`mode_coverage`: the standard numbers of the 2-D mixture toys,
  modes covered and the share of high-quality samples, with the protocol of VEEGAN
  (Srivastava et al., 2017) and PacGAN (Lin et al., 2018): 2,500 samples, a sample is of high
  quality within three standard deviations of its nearest mode, a mode is covered by at
  least 20 of them.
* :func:`mixture_log_density` and :func:`kde_log_density`: the log density of a known
  isotropic Gaussian mixture, and a Gaussian kernel density estimate of a sample's density
  (bandwidth by Scott's rule, Scott 1992).
* :func:`optimal_discriminator`: :math:`D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))`, the
  discriminator that wins the game for a fixed generator (Goodfellow et al., 2014,
  Proposition 1), from two log densities.

These evaluate a GAN's samples; they know nothing of the GAN itself (``lessons_lib.gan``
re-exports them for old imports).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    as_tensor,
    check_array,
    check_int,
    check_positive,
    like_input,
)

__all__ = [
    "COVERAGE_MIN_COUNT",
    "COVERAGE_N_SAMPLES",
    "kde_log_density",
    "mixture_log_density",
    "mode_counts",
    "mode_coverage",
    "optimal_discriminator",
]

#: The protocol of VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al., 2018): 2,500
#: samples, and a mode counts as covered when at least 20 high-quality samples fall on it.
COVERAGE_MIN_COUNT, COVERAGE_N_SAMPLES = 20, 2500


def _nearest_mode(samples: ArrayLike, centers: ArrayLike, std: float):
    check_array(samples, "samples", ndim=2, kinds="f")
    check_array(centers, "centers", ndim=2, shape=(None, samples.shape[1]), kinds="fiu")
    std = check_positive(std, "std")
    points = as_numpy(samples).astype(np.float64)
    modes = as_numpy(centers).astype(np.float64)
    # Work in units of a power of two near the data's scale: exact, and squares of 1e200
    # (or of 1e-200) neither overflow nor underflow.
    scale = _power_of_two_scale(np.abs(points).max(), np.abs(modes).max(), std)
    points, modes, radius = points / scale, modes / scale, 3.0 * std / scale
    distances = np.sqrt(((points[:, None, :] - modes[None, :, :]) ** 2).sum(-1))  # (N, K)
    nearest = distances.argmin(axis=1)
    high_quality = distances[np.arange(len(points)), nearest] <= radius
    return nearest, high_quality, len(modes)


def _power_of_two_scale(*magnitudes: float) -> float:
    """1, or a power of two near the largest magnitude when it is extreme (> 1e100 or < 1e-100).

    Dividing by a power of two is exact, so results in ordinary ranges do not change.
    """
    largest = max(float(m) for m in magnitudes)
    if largest == 0.0 or 1e-100 <= largest <= 1e100:
        return 1.0
    return math.ldexp(1.0, math.frexp(largest)[1] - 1)  # 2**(e-1) <= largest: never inf


def mode_counts(samples: ArrayLike, centers: ArrayLike, std: float) -> np.ndarray:
    """High-quality samples per mode, shape (K,).

    A sample is *high quality* when it lies within ``3 * std`` (Euclidean distance) of its
    nearest mode centre; it is then counted for that mode.
    """
    nearest, high_quality, n_modes = _nearest_mode(samples, centers, std)
    return np.bincount(nearest[high_quality], minlength=n_modes)


def mode_coverage(
    samples: ArrayLike, centers: ArrayLike, std: float, *, min_count: int | None = None
) -> tuple[int, float]:
    """Modes covered and share of high-quality samples, the standard numbers of the 2-D toys.

    Conventions (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018): a sample is *high
    quality* when it lies within three standard deviations of its nearest mode centre; a mode
    is *covered* when at least ``min_count`` high-quality samples fall on it. The papers draw
    2,500 samples and use 20; by default ``min_count`` keeps that rate, 20 per 2,500 samples
    (at least 1), so the test means the same for other sample sizes.

    Parameters
    ----------
    samples : (N, D) array or Tensor
        Generated points.
    centers : (K, D) array or Tensor
        The mode centres of the true mixture (e.g. ``lessons_lib.data.ring_centers()``).
    std : float
        The standard deviation of each (isotropic) mode.
    min_count : int, optional
        High-quality samples a mode needs to count as covered.

    Returns
    -------
    modes_covered : int
        Between 0 and K.
    high_quality_fraction : float
        In [0, 1].
    """
    counts = mode_counts(samples, centers, std)
    n = len(samples)
    if min_count is None:
        min_count = max(1, round(COVERAGE_MIN_COUNT * n / COVERAGE_N_SAMPLES))
    min_count = check_int(min_count, "min_count", min_value=1)
    return int((counts >= min_count).sum()), float(counts.sum() / n)


_MIXTURE_BLOCK_ELEMENTS = 2**21  # 16 MB of float64 per (rows, K) temporary


def mixture_log_density(
    points: ArrayLike, centers: ArrayLike, std: float, weights: ArrayLike | None = None
) -> ArrayLike:
    """Log density of a mixture of isotropic Gaussians :math:`\\sum_k \\pi_k N(x; \\mu_k, s^2 I)`.

    Parameters
    ----------
    points : (N, D)
    centers : (K, D)
        The means :math:`\\mu_k`.
    std : float
        The common standard deviation :math:`s`.
    weights : (K,), optional
        Mixture weights :math:`\\pi_k` (default equal), summing to 1.

    Returns
    -------
    (N,) log densities; numpy in, numpy out.
    """
    check_array(points, "points", ndim=2, kinds="f")
    check_array(centers, "centers", ndim=2, shape=(None, points.shape[1]), kinds="fiu")
    std = check_positive(std, "std")
    k = len(centers)
    if weights is not None:
        check_array(weights, "weights", ndim=1, shape=(k,), kinds="fiu", min_value=0.0)
    x = as_tensor(points, dtype=torch.float64)
    mu = as_tensor(centers, dtype=torch.float64, device=x.device)
    if weights is None:
        log_w = torch.full((k,), -math.log(k), dtype=torch.float64, device=x.device)
    else:
        w = as_tensor(weights, dtype=torch.float64, device=x.device)
        if abs(float(w.sum()) - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1, they sum to {float(w.sum()):.6g}.")
        log_w = torch.log(w)
    result = _blockwise_log_density(x, mu, log_w, std)
    if not bool(torch.isfinite(result).all()):
        # Only when a point lies ~1e154 standard deviations from every centre: its log
        # density is below -1e308, which float64 cannot hold.
        raise ValueError(
            f"some points lie so many standard deviations (std={std:g}) from every centre that "
            "their log density is below the float64 range; rescale points and centers, or use "
            "a larger std."
        )
    return like_input(result, points)


def _blockwise_log_density(
    x: torch.Tensor, mu: torch.Tensor, log_w: torch.Tensor, std: float
) -> torch.Tensor:
    """log sum_k w_k N(x; mu_k, std^2 I) for the float64 rows of ``x`` (N, D): shape (N,)."""
    k, d = mu.shape
    # Distances in units of std (std**2 underflows for std < 1e-154, making 0/0 at a centre),
    # without the matrix-product shortcut, which cancels catastrophically far from 0.
    # In blocks of rows: the (N, K) temporaries of a KDE over thousands of samples on a fine
    # grid would otherwise take gigabytes (more than a Binder kernel has).
    rows_per_block = max(1, _MIXTURE_BLOCK_ELEMENTS // max(k, 1))
    log_const = -d * math.log(std) - 0.5 * d * math.log(2 * math.pi)
    scaled_mu = mu / std
    return torch.cat(
        [
            torch.logsumexp(
                log_w
                - 0.5
                * torch.cdist(
                    block / std, scaled_mu, compute_mode="donot_use_mm_for_euclid_dist"
                ).square_()
                + log_const,
                dim=1,
            )
            for block in x.split(rows_per_block)
        ]
    )


def kde_log_density(
    samples: ArrayLike, bandwidth: float | None = None
) -> Callable[[ArrayLike], ArrayLike]:
    """A Gaussian kernel density estimate of the samples' density, as a log-density function.

    :math:`\\hat p(x) = \\frac1N \\sum_i N(x; x_i, h^2 I)`, with bandwidth :math:`h` by
    Scott's rule :math:`h = \\bar\\sigma N^{-1/(D+4)}` (mean per-axis std) unless given.

    Parameters
    ----------
    samples : (N, D)
    bandwidth : float, optional

    Returns
    -------
    callable
        ``log_density(points (M, D)) -> (M,)``, numpy in, numpy out. Its ``bandwidth``
        attribute holds :math:`h`.
    """
    check_array(samples, "samples", ndim=2, kinds="f")
    n, d = samples.shape
    if bandwidth is None:
        values = as_numpy(samples).astype(np.float64)
        scale = _power_of_two_scale(np.abs(values).max())  # std of 1e200s does not overflow
        spread = float((values / scale).std(axis=0).mean()) * scale
        bandwidth = max(spread, 1e-12) * n ** (-1.0 / (d + 4))
        if not math.isfinite(bandwidth) or bandwidth <= 0:
            raise ValueError(
                f"samples are too spread out for a default bandwidth (spread {spread:.3g}); "
                "pass bandwidth= or rescale the samples."
            )
    bandwidth = check_positive(bandwidth, "bandwidth")

    def log_density(points: ArrayLike) -> ArrayLike:
        check_array(points, "points", ndim=2, shape=(None, d), kinds="f")
        return mixture_log_density(points, samples, bandwidth)

    log_density.bandwidth = bandwidth
    return log_density


def optimal_discriminator(log_p_data: ArrayLike, log_p_g: ArrayLike) -> ArrayLike:
    """The optimal discriminator :math:`D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))`.

    Computed stably from log densities as :math:`\\sigma(\\log p_{data} - \\log p_g)`, so
    points where both densities underflow still get a value (1/2 when they are equal).
    A log density of ``-inf`` (density exactly 0) is allowed: :math:`D^* = 0` or 1 where the
    other is finite, and NaN where both are ``-inf``, since :math:`0/0` has no value there.

    Parameters
    ----------
    log_p_data, log_p_g : (N,) arrays or Tensors
        The two log densities at the same N points (e.g. from :func:`mixture_log_density`
        and :func:`kde_log_density`).

    Returns
    -------
    (N,) values in [0, 1]; numpy in, numpy out.
    """
    check_array(log_p_data, "log_p_data", ndim=1, kinds="f", finite=False)
    check_array(log_p_g, "log_p_g", ndim=1, kinds="f", shape=(len(log_p_data),), finite=False)
    a = as_tensor(log_p_data, dtype=torch.float64)
    b = as_tensor(log_p_g, dtype=torch.float64, device=a.device)
    for name, values in (("log_p_data", a), ("log_p_g", b)):
        if bool(torch.isnan(values).any()) or bool((values == math.inf).any()):
            raise ValueError(
                f"{name} must not hold NaN or +inf (log densities are finite or -inf)."
            )
    both_zero = torch.isneginf(a) & torch.isneginf(b)
    value = torch.sigmoid(a - b)
    value = torch.where(both_zero, torch.full_like(value, math.nan), value)
    return like_input(value, log_p_data)
