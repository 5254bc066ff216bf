"""Exact power-of-two scalings, so that extreme but finite data (1e-200, 1e150) neither
overflow nor underflow in sums of squares.

Multiplying by a power of two changes only a float's exponent, so for ordinary data the
scaled formulas give the unscaled results bit for bit (Goldberg 1991, "What every computer
scientist should know about floating-point arithmetic", on exact scalings; the same device
as LAPACK's ``dlassq`` scaled sums of squares).
"""

from __future__ import annotations

import math

import torch

__all__ = ["largest_magnitude", "power_of_two_below", "standardize"]


def power_of_two_below(values: torch.Tensor) -> torch.Tensor:
    """Elementwise the largest power of two ``<= values`` (1 where a value is 0).

    ``values / power_of_two_below(values)`` lies in [1, 2), exactly.
    """
    _, exponent = torch.frexp(values)
    powers = torch.ldexp(torch.ones_like(values), exponent - 1)
    return torch.where(values > 0, powers, torch.ones_like(values))


def largest_magnitude(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """``|x|.amax(dim)`` without a temporary the size of ``x`` (amax and amin reduce in
    place, where ``abs`` would allocate, and on a CPU fresh memory is slow)."""
    if dim is None:
        return torch.maximum(x.amax(), -x.amin())
    return torch.maximum(x.amax(dim), -x.amin(dim))


def _pow2_floor(value: float) -> float:
    """The largest power of two ``<= value`` (> 0), as a Python float."""
    return math.ldexp(1.0, math.frexp(value)[1] - 1)


def _magnitude(log2_value: float) -> str:
    """``2**log2_value`` written as a power of ten (it may be far outside the float range)."""
    return f"1e{round(log2_value * math.log10(2))}"


def standardize(
    x: torch.Tensor, floor: float, name: str = "X"
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Centre and scale the rows of ``x`` (N, D) for fitting: ``x = shift + scale * x_std``.

    ``shift`` is the column mean and ``scale`` a power of two of the size of the centred
    data (at least about ``sqrt(floor)``, the covariance floor), so ``x_std`` is of order 1
    and the floor in its units, ``floor / scale**2``, at most about 4. Computed without
    overflow for any finite ``x``.

    Returns
    -------
    x_std : Tensor (N, D), the dtype of ``x``
    shift : Tensor (D,)
    scale : float, a power of two

    Raises
    ------
    ValueError
        If covariances in the units of ``x`` cannot be represented in its dtype: the values
        spread so widely that their squares overflow (e.g. 1e160 in float64), or, without a
        floor, they vary so little that their variances underflow (e.g. 1e-200).
    """
    finfo = torch.finfo(x.dtype)
    top = float(largest_magnitude(x))
    if top * x.shape[0] < finfo.max / 4:  # no column sum can overflow: the plain formulas
        s0, shift_scaled = 1.0, x.mean(0)
        centred = x - shift_scaled
    else:
        s0 = _pow2_floor(top)
        shift_scaled = (x / s0).mean(0)
        centred = x / s0 - shift_scaled  # = (x - mean) / s0, bit for bit
    spreads = largest_magnitude(centred, 0)  # per column, in units of s0
    widest = float(spreads.max())
    log2_s0 = math.log2(s0)
    if widest > 0:
        log2_spread = math.log2(widest) + log2_s0
        # A component's covariance is at most (2 * spread)^2 (its mean lies among the data).
        if 2 * (log2_spread + 1) >= math.log2(finfo.max):
            raise ValueError(
                f"{name} spreads too widely for {x.dtype}: its values lie up to "
                f"{_magnitude(log2_spread)} from their mean, so its covariances (about "
                f"{_magnitude(2 * log2_spread)}) would exceed the largest {x.dtype} "
                f"({finfo.max:.3g}). Rescale {name} (e.g. {name} / {name}.std()) and fit again."
            )
        narrowest = float(spreads[spreads > 0].min())
        log2_narrow = math.log2(narrowest) + log2_s0
        # Variances are at least spread^2 / N: below the smallest normal float they lose
        # their digits (and a floor smaller than that cannot rescue them).
        limit = math.log2(finfo.tiny) + math.log2(x.shape[0])
        if floor < finfo.tiny / finfo.eps and 2 * log2_narrow < limit:
            raise ValueError(
                f"{name} varies too little for {x.dtype}: a column spreads only "
                f"{_magnitude(log2_narrow)} around its mean, so its variance (about "
                f"{_magnitude(2 * log2_narrow)}) underflows. Rescale {name} (e.g. "
                f"{name} / {name}.std()), or use a covariance floor (reg_covar) well above "
                f"{finfo.tiny:.3g}."
            )
        size = math.hypot(widest, math.sqrt(floor) / s0) * s0 if floor > 0 else widest * s0
        scale = _pow2_floor(size) if math.isfinite(size) and size > 0 else s0
    else:  # every row is the same point
        scale = _pow2_floor(math.sqrt(floor)) if floor > 0 else 1.0
    # Ordinary magnitudes: no sum of squares can overflow or underflow, keep the units (one
    # pass less; a power-of-two scale would give the same digits anyway).
    if s0 == 1.0 and abs(math.log2(scale)) <= math.log2(finfo.max) / 4:
        return centred, shift_scaled, 1.0
    return centred * (s0 / scale), shift_scaled * s0, scale
