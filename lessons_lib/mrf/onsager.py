"""Onsager's exact solution of the infinite square-lattice Ising model (zero field).

* Onsager, L. (1944). Crystal statistics. I. A two-dimensional model with an order-disorder
  transition. *Physical Review* 65, 117-149: the energy per spin and the critical point
  ``β_c = ln(1 + √2) / 2`` (:data:`BETA_CRITICAL`).
* Yang, C. N. (1952). The spontaneous magnetization of a two-dimensional Ising model.
  *Physical Review* 85, 808-816: ``m(β) = (1 - sinh(2βJ)^-4)^(1/8)`` below ``T_c``.

Both are written so that they stay finite and accurate for any finite β (series near β = 0,
the complement of the elliptic integral near ``β_c``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    check_positive,
)

#: The critical inverse temperature of the square-lattice Ising model (J = 1): ln(1 + √2) / 2.
BETA_CRITICAL: float = 0.5 * math.log(1.0 + math.sqrt(2.0))


def _check_onsager_beta(beta: Any) -> np.ndarray:
    if isinstance(beta, bool | np.bool_):
        raise TypeError(f"beta must be a real number or an array of them, got {beta!r}.")
    if isinstance(beta, np.ndarray | torch.Tensor | list | tuple):
        values = as_numpy(beta) if not isinstance(beta, list | tuple) else np.asarray(beta)
    elif isinstance(beta, numbers.Real):
        values = np.asarray(beta)
    else:
        raise TypeError(f"beta must be a real number or an array of them, got {beta!r}.")
    if values.dtype.kind not in "fiu":
        raise TypeError(
            f"beta must be a real number or an array of real numbers, got dtype {values.dtype}."
        )
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"beta must be finite and > 0 (an inverse temperature), got {beta!r}.")
    return values


def _scalar_or_array(values: np.ndarray, reference: Any):
    return float(values) if np.ndim(reference) == 0 else values


def _reduced_coupling(beta: Any, J: Any) -> tuple[np.ndarray, float]:
    """``βJ`` (float64; +inf where the product overflows, which every formula below takes as its
    zero-temperature limit) and the checked ``J``."""
    J = check_positive(J, "J")
    with np.errstate(over="ignore"):
        return _check_onsager_beta(beta) * J, J


def onsager_magnetization(beta: float | ArrayLike, J: float = 1.0):
    """Onsager–Yang spontaneous magnetization of the infinite square lattice.

    ``m(β) = (1 - sinh(2βJ)^-4)^(1/8)`` below the critical temperature (``βJ > β_c``), 0 above.
    ``sinh(2βJ)^-1`` is computed as ``2 e^{-2βJ} / (1 - e^{-4βJ})``, which stays finite for any
    finite β (``m → 1`` as ``β → ∞``).

    Parameters
    ----------
    beta : float or array of shape (n,)
    J : float, > 0

    Returns
    -------
    float or ndarray of shape (n,)
    """
    b, _ = _reduced_coupling(beta, J)
    ordered = b > BETA_CRITICAL
    safe = np.where(ordered, b, 1.0)
    cosech = 2.0 * np.exp(-2.0 * safe) / -np.expm1(-4.0 * safe)
    m = np.where(ordered, np.clip(1.0 - cosech**4, 0.0, None) ** 0.125, 0.0)
    return _scalar_or_array(m, beta)


#: ``c_n² = ((2n - 1)!! / (2n)!!)²`` for n = 1, 2, …: ``(2/π) K(m) = 1 + Σ_n c_n² m^n``.
_ELLIPK_SERIES = np.cumprod([((2.0 * n - 1.0) / (2.0 * n)) ** 2 for n in range(1, 80)])


def onsager_energy(beta: float | ArrayLike, J: float = 1.0):
    """Onsager's exact mean energy per spin of the infinite square lattice (zero field).

    ``u(β) = -J coth(2βJ) [1 + (2/π) (2 tanh²(2βJ) - 1) K(k²)]``, with
    ``k = 2 sinh(2βJ) / cosh²(2βJ)`` and ``K`` the complete elliptic integral of the first kind
    (of parameter ``k²``). At ``β_c`` it equals ``-√2 J``.

    Written with ``T = tanh(2βJ)``, ``k² = 4 T² (1 - T²)`` stays finite for any β (``u → -2J`` as
    ``β → ∞``). At high temperature the bracket is a difference of nearly equal numbers (it is
    about ``T²``), so for ``T < 0.3`` it is expanded with the series of ``K``:
    ``u = -J T [2 - 4 (1 - T²)(1 - 2T²) S(k²)]``, ``S(m) = Σ_{n≥1} c_n² m^{n-1}``, exact to
    rounding however small β is (``u ≈ -2βJ²``).

    Parameters
    ----------
    beta : float or array of shape (n,)
    J : float, > 0

    Returns
    -------
    float or ndarray of shape (n,)
    """
    from scipy.special import ellipkm1

    b, J = _reduced_coupling(beta, J)
    t = np.tanh(2.0 * b)
    t2 = t * t
    m = 4.0 * t2 * (1.0 - t2)
    hot = t < 0.3
    # High temperature: the series (m < 0.33, so 80 terms reach far below rounding).
    m_hot = np.where(hot, m, 0.0)
    powers = m_hot[..., None] ** np.arange(len(_ELLIPK_SERIES))
    series = (powers * _ELLIPK_SERIES).sum(axis=-1)
    u_hot = -J * t * (2.0 - 4.0 * (1.0 - t2) * (1.0 - 2.0 * t2) * series)
    # Elsewhere the closed form. 1 - k² = (2T² - 1)² exactly, so K is evaluated from its
    # complement (ellipkm1), accurate near β_c where k² → 1. There K diverges (logarithmically)
    # while its factor vanishes, so the product's limit is 0.
    factor = 2.0 * t2 - 1.0
    at_critical = np.isclose(factor, 0.0, atol=1e-15)
    product = np.where(at_critical, 0.0, factor * ellipkm1(np.where(at_critical, 0.5, factor**2)))
    u_cold = -J / np.where(hot, 1.0, t) * (1.0 + 2.0 / np.pi * product)
    return _scalar_or_array(np.where(hot, u_hot, u_cold), beta)
