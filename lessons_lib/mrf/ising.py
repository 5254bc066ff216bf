"""The Ising model's statistics, and exact answers on tiny lattices by enumeration.

On an ``H × W`` torus of spins ``x_i ∈ {-1, +1}`` (Ising 1925, after Lenz 1920)::

    p(x) = exp(-β E(x)) / Z,     E(x) = -J Σ_{i~j} x_i x_j - h Σ_i x_i

:func:`ising_energy` and :func:`magnetization` are the per-spin statistics every sampler is
checked with; :func:`ising_exact` sums over all ``2**N`` states of a lattice of at most 20 sites.
The sum is exact for any finite β: log-weights are linear in integer features, so they are
computed exactly (``fractions.Fraction``) and shifted by the largest before exponentiating.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from lessons_lib.core.validation import (
    ArrayLike,
    check_int,
)
from lessons_lib.mrf._validation import (
    _MAX_EXACT_SITES,
    _check_beta,
    _check_couplings,
    _check_lattice,
    _check_real,
    _check_shape,
    _finite_or_refuse,
    _float_tensor,
    _largest_magnitude,
    _per_lattice,
)


def ising_energy(spins: ArrayLike, J: float | tuple[float, float] = 1.0, h: float = 0.0):
    """Mean energy per spin on a periodic lattice, ``E(x) / N``.

    ``E(x) = -J Σ_{i~j} x_i x_j - h Σ_i x_i`` over nearest-neighbour pairs of the torus (each
    spin has two bonds: right and down).

    Parameters
    ----------
    spins : array or Tensor, shape (..., H, W)
        ±1 spins; leading axes index independent lattices.
    J : float or (float, float)
        Coupling, or (vertical, horizontal) couplings.
    h : float
        External field.

    Returns
    -------
    float for one lattice; array (numpy in) or tensor of shape ``spins.shape[:-2]`` otherwise.

    Raises
    ------
    ValueError
        Non-binary spins, non-finite ``J`` or ``h``, or an energy per spin beyond float64's
        range (``|J|`` and ``|h|`` near 1e308: no finite answer exists).
    """
    _check_lattice(spins)
    j_vertical, j_horizontal = _check_couplings(J)
    h = _check_real(h, "h")
    x = _float_tensor(spins, None, torch.float64)
    down = (x * torch.roll(x, -1, dims=-2)).mean(dim=(-2, -1))
    right = (x * torch.roll(x, -1, dims=-1)).mean(dim=(-2, -1))
    # Divide the couplings by the largest first: a sum of terms near 1e308 cannot overflow on
    # the way (the result overflows only where the energy itself is beyond float64).
    scale = _largest_magnitude(j_vertical, j_horizontal, h) or 1.0
    energy = -(j_vertical / scale) * down - (j_horizontal / scale) * right
    energy = scale * (energy - (h / scale) * x.mean(dim=(-2, -1)))
    _finite_or_refuse(float(energy.abs().max()), "the energy per spin", f"J={J!r}, h={h!r}")
    return _per_lattice(energy, spins)


def magnetization(spins: ArrayLike):
    """Mean spin ``m = (1/N) Σ_i x_i`` of each lattice.

    Parameters
    ----------
    spins : array or Tensor, shape (..., H, W)

    Returns
    -------
    float for one lattice; array or tensor of shape ``spins.shape[:-2]`` otherwise.
    """
    _check_lattice(spins)
    return _per_lattice(_float_tensor(spins, None, torch.float64).mean(dim=(-2, -1)), spins)


def spin_configurations(n_sites: int) -> np.ndarray:
    """Every configuration of ``n_sites`` ±1 spins.

    Parameters
    ----------
    n_sites : int, at most 20

    Returns
    -------
    ndarray, shape (2**n_sites, n_sites), int8
        Row ``k`` holds the binary digits of ``k`` (most significant first) as -1/+1.
    """
    n_sites = check_int(n_sites, "n_sites", min_value=1)
    if n_sites > _MAX_EXACT_SITES:
        raise ValueError(
            f"n_sites={n_sites} gives 2**{n_sites} configurations; exact enumeration is limited "
            f"to {_MAX_EXACT_SITES} sites."
        )
    codes = np.arange(2**n_sites, dtype=np.int64)[:, None]
    bits = (codes >> np.arange(n_sites - 1, -1, -1)) & 1
    return (2 * bits - 1).astype(np.int8)


def _to_float(value: Fraction) -> float:
    """A Fraction as the nearest float, ±inf where it is beyond float64's range."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _log_abs(value: Fraction) -> float:
    """``ln |value|`` of a non-zero Fraction, for any magnitude (no float overflow)."""
    return math.log(abs(value.numerator)) - math.log(value.denominator)


#: Log-weights more than this below the largest are exp(-1e4) = 0 in float64.
_LOG_WEIGHT_FLOOR = Fraction(10_000)


def _exact_summary(
    states: np.ndarray, features: np.ndarray, coefficients: Sequence[Fraction]
) -> tuple[dict[str, Any], list[Fraction], np.ndarray]:
    """Normalize ``w_k = exp(Σ_j c_j F_kj)`` over ``states`` (K, H, W) and return the moments.

    The log-weights are linear in integer features ``F`` (K, n_features) with float
    coefficients, so the states fall into few *levels* of equal weight. Each level's log-weight
    is computed exactly (Fractions) and shifted by the largest before exponentiating: however
    large β is, probabilities sum to 1 and exact ties (the two ground states at h = 0) share the
    mass equally, with no rounding that loses the field's tie-break nor any ``inf - inf``.

    Returns
    -------
    summary : dict with ``log_partition``, ``probabilities``, ``marginals``, ``correlations``
    values : list of Fraction, the log-weight of each level
    level : ndarray (K,), the level of each state
    """
    features = features.astype(np.int64)
    low = features.min(axis=0)
    spans = features.max(axis=0) - low + 1
    radix = np.concatenate([[1], np.cumprod(spans[:-1])])
    keys = (features - low) @ radix
    _, first, level = np.unique(keys, return_index=True, return_inverse=True)
    values = [
        sum((c * int(f) for c, f in zip(coefficients, features[k], strict=True)), Fraction(0))
        for k in first
    ]
    top = max(values)
    shifted = np.array([_to_float(max(v - top, -_LOG_WEIGHT_FLOOR)) for v in values])
    weights = np.exp(shifted)  # 1 for the largest level, so the sum is >= 1
    total = float(np.bincount(level, minlength=len(values)) @ weights)
    probs = weights[level] / total
    flat = states.reshape(len(states), -1).astype(np.float64)
    summary = {
        "log_partition": _to_float(top) + math.log(total),
        "probabilities": probs,
        "marginals": (probs @ (flat > 0)).reshape(states.shape[1:]),
        "correlations": flat.T @ (probs[:, None] * flat),
    }
    return summary, values, level.ravel()


def _level_average(probs: np.ndarray, level: np.ndarray, per_level: np.ndarray) -> float:
    """``Σ_k p_k v(level_k)``, skipping levels of probability 0 (whose value may be ±inf)."""
    mass = np.bincount(level, weights=probs, minlength=len(per_level))
    used = mass > 0
    return float(mass[used] @ per_level[used])


def ising_exact(
    shape: tuple[int, int], beta: float, h: float = 0.0, J: float | tuple[float, float] = 1.0
) -> dict[str, Any]:
    """Exact Ising expectations on a tiny periodic lattice, by summing over all ``2**N`` states.

    Parameters
    ----------
    shape : (int, int)
        (H, W) with H·W <= 20, each side >= 2 (a side of 2 counts its wrap-around bond twice, as
        the sampler does).
    beta, h, J
        As in :func:`ising_gibbs`.

    The sum is exact for any finite β, h and J (log-weights of states are computed exactly
    and shifted by the largest): as ``β → ∞`` at ``h = 0``, the energy per spin tends to
    ``-2J`` and ``abs_magnetization`` to 1, with the two ground states equally likely.
    Where ``log_partition`` or ``energy`` is itself beyond float64's range (``β · (2|J| + |h|)
    · N`` above about 1.8e308), a ValueError says so: no finite answer exists.

    Returns
    -------
    dict with
        ``states`` (2**N, H, W) int8; ``probabilities`` (2**N,); ``log_partition`` (float);
        ``energy`` (mean energy per spin), ``magnetization`` (E[m]), ``abs_magnetization``
        (E[|m|]), ``magnetization_squared`` (E[m²]); ``marginals`` (H, W) P(x_i = +1);
        ``correlations`` (N, N) E[x_i x_j] with sites in row-major order.
    """
    height, width = _check_shape(shape, "shape")[-2:]
    if len(shape) != 2:
        raise ValueError(f"shape must be (H, W), got {shape!r}.")
    if height * width > _MAX_EXACT_SITES:
        raise ValueError(
            f"shape {tuple(shape)} has {height * width} sites; exact enumeration is limited to "
            f"H·W <= {_MAX_EXACT_SITES}."
        )
    beta = _check_beta(beta)
    j_vertical, j_horizontal = _check_couplings(J)
    h = _check_real(h, "h")
    states = spin_configurations(height * width).reshape(-1, height, width)
    # -β E(x) = β (J_v D + J_h R + h M) with integer bond sums D, R and spin sum M.
    down = (states * np.roll(states, -1, axis=-2)).sum(axis=(-2, -1), dtype=np.int64)
    right = (states * np.roll(states, -1, axis=-1)).sum(axis=(-2, -1), dtype=np.int64)
    spin_sum = states.sum(axis=(-2, -1), dtype=np.int64)
    couplings = [Fraction(beta) * Fraction(c) for c in (j_vertical, j_horizontal, h)]
    summary, values, level = _exact_summary(
        states, np.stack([down, right, spin_sum], axis=1), couplings
    )
    probs = summary["probabilities"]
    n_sites = height * width
    energy_per_level = np.array([_to_float(-v / (Fraction(beta) * n_sites)) for v in values])
    m = spin_sum / n_sites
    culprits = f"beta={beta!r}, J={J!r}, h={h!r}"
    _finite_or_refuse(summary["log_partition"], "log_partition (log Z)", culprits)
    summary.update(
        states=states,
        energy=_finite_or_refuse(
            _level_average(probs, level, energy_per_level), "the mean energy per spin", culprits
        ),
        magnetization=float(probs @ m),
        abs_magnetization=float(probs @ np.abs(m)),
        magnetization_squared=float(probs @ m**2),
    )
    return summary
