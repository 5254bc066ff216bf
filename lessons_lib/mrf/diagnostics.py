"""How long a Markov chain must run: autocorrelation and integrated autocorrelation time.

``τ = 1 + 2 Σ_{t ≥ 1} ρ(t)``: a chain of length T is worth about ``T / τ`` independent draws.
The sum is cut by Sokal's automatic window (Madras, N. and Sokal, A. D. (1988). The pivot
algorithm. *J. Stat. Phys.* 50, 109-186; Sokal, A. D. (1997). Monte Carlo methods in
statistical mechanics: foundations and new algorithms. In *Functional Integration*, Springer).
The autocovariance is computed by FFT with zero padding (a linear, not circular, correlation).
"""

from __future__ import annotations

import math

import numpy as np

from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    check_array,
    check_int,
    check_positive,
)


def _power_of_two_scale(values: np.ndarray) -> float:
    """``2**-e`` with ``max |values|`` in [0.5, 1) after multiplying by it (1 for all zeros):
    an exact rescaling, so it changes no digit of the data."""
    largest = float(np.abs(values).max())
    return math.ldexp(1.0, -math.frexp(largest)[1]) if largest > 0 else 1.0


def autocorrelation(series: ArrayLike, max_lag: int | None = None) -> np.ndarray:
    """Normalized autocorrelation ``ρ(t) = Cov(s_k, s_{k+t}) / Var(s_k)`` of a Markov chain's trace.

    Parameters
    ----------
    series : array or Tensor, shape (T,) or (T, n_chains)
        A statistic after burn-in (e.g. the energy per sweep), one column per chain; the
        autocovariances of the chains are averaged.
    max_lag : int, optional
        Largest lag returned, in ``0..T - 1`` (default ``T - 1``): a larger lag has no data and
        is an error, not silently clipped.

    Returns
    -------
    ndarray, shape (max_lag + 1,), with ``ρ(0) = 1``

    Raises
    ------
    ValueError
        Fewer than 2 time steps, a constant series, ``max_lag`` negative or above ``T - 1``.
    """
    check_array(series, "series", ndim=(1, 2), kinds="fiub")
    values = np.asarray(as_numpy(series), dtype=np.float64)
    values = values[:, None] if values.ndim == 1 else values
    n = values.shape[0]
    if n < 2:
        raise ValueError(f"series needs at least 2 time steps, got {n}.")
    if max_lag is None:
        max_lag = n - 1
    else:
        max_lag = check_int(max_lag, "max_lag", min_value=0)
        if max_lag > n - 1:
            raise ValueError(
                f"max_lag must be at most T - 1 = {n - 1} (series has T = {n} time steps, so "
                f"there is no data at larger lags), got {max_lag!r}; pass max_lag=None for all "
                "lags."
            )
    # ρ is scale-free: divide by the largest value first, so that values near 1e308 do not
    # overflow in the squares nor values near 1e-170 underflow to a "constant" series.
    values = values * _power_of_two_scale(values)
    centred = values - values.mean(axis=0)
    centred = centred * _power_of_two_scale(centred)
    size = 1 << (2 * n - 1).bit_length()  # zero padding: a linear, not circular, correlation
    spectrum = np.fft.rfft(centred, n=size, axis=0)
    autocovariance = np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=0)[:n].mean(axis=1)
    if autocovariance[0] <= 0:
        raise ValueError("series is constant; its autocorrelation is undefined.")
    return autocovariance[: max_lag + 1] / autocovariance[0]


def integrated_autocorrelation_time(series: ArrayLike, window_factor: float = 5.0) -> float:
    """``τ = 1 + 2 Σ_{t ≥ 1} ρ(t)``: a chain of length T is worth about ``T / τ`` independent draws.

    The sum is cut at the first lag ``M ≥ window_factor · τ(M)`` (Sokal's automatic window):
    summing all lags would add up noise.

    Parameters
    ----------
    series : array or Tensor, shape (T,) or (T, n_chains)
    window_factor : float

    Returns
    -------
    float, >= 0 (1 for independent draws)
    """
    window_factor = check_positive(window_factor, "window_factor")
    rho = autocorrelation(series)
    partial = 2.0 * np.cumsum(rho) - 1.0  # τ(M) = 1 + 2 Σ_{t=1..M} ρ(t)
    lags = np.arange(len(rho))
    stop = np.flatnonzero(lags >= window_factor * partial)
    # A short anti-correlated series can give a negative partial sum; τ itself is >= 0 (it is
    # the spectral density at frequency 0, over the variance).
    return max(0.0, float(partial[stop[0]] if stop.size else partial[-1]))
