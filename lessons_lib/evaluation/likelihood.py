"""Log-likelihoods in the units papers use: nats, bits, bits per dimension.

Bits per dimension, -log2 p(x) / D, compares likelihoods across image sizes (Theis et al.
2016, "A note on the evaluation of generative models"); a continuous density on grey levels
is made discrete by uniform dequantization, which adds D log L (Theis et al. 2016; Uria et
al. 2013). Every conversion refuses inputs whose result would leave float64's range.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from lessons_lib.core.validation import ArrayLike, check_array, check_int
from lessons_lib.evaluation._inputs import _check_count
from lessons_lib.evaluation._scaling import _max_abs

__all__ = ["bits_per_dim", "dequantized_bits_per_dim", "likelihood_report", "nats_to_bits"]

_LN2 = math.log(2.0)


def _as_float_values(x: Any, name: str):
    if isinstance(x, torch.Tensor | np.ndarray):
        check_array(x, name, kinds="fiu")
        if isinstance(x, np.ndarray):
            return x.astype(np.float64)
        return x.float() if x.device.type == "mps" else x.double()  # MPS has no float64
    if isinstance(x, int | float | np.floating | np.integer) and not isinstance(x, bool):
        try:
            value = float(x)
        except OverflowError:  # a Python int beyond float64
            raise ValueError(
                f"{name} must fit in a float64 (|x| < 1.8e308), got an integer of "
                f"{len(str(abs(int(x))))} digits."
            ) from None
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {x!r}.")
        return value
    raise TypeError(f"{name} must be a number, an array or a tensor, got {type(x).__name__}.")


def _finite_result(value: Any, name: str):
    """``value`` unchanged; a ValueError if converting a finite ``name`` overflowed float64."""
    if isinstance(value, torch.Tensor):
        finite = bool(torch.isfinite(value).all())
    else:
        finite = bool(np.isfinite(value).all())
    if not finite:
        raise ValueError(
            f"{name} is so large that the result exceeds float64's range (1.8e308); no finite "
            "answer exists. Check the units (nats per image, not a product of likelihoods)."
        )
    return value


def _robust_mean(values: Any) -> float:
    """Mean of finite values without the overflow of their sum (1e308 + 1e308 = inf)."""
    largest = _max_abs(values)
    if largest == 0.0:
        return 0.0
    return float((values / largest).mean()) * largest


def nats_to_bits(nats: float | ArrayLike) -> float | ArrayLike:
    """Convert nats (natural log) to bits (log base 2): divide by ln 2."""
    return _finite_result(_as_float_values(nats, "nats") / _LN2, "nats")


def bits_per_dim(nll_nats: float | ArrayLike, n_dims: int) -> float | ArrayLike:
    """Negative log-likelihood per image in nats → bits per dimension: nll / (D ln 2).

    Parameters
    ----------
    nll_nats : float, ndarray or Tensor
        -log p(x) in nats, per image (any shape; converted element-wise).
    n_dims : int
        D, the number of values per image (C·H·W: 64 for digits, 784 for Fashion-MNIST).

    Returns
    -------
    Same type as ``nll_nats``, float64.

    Notes
    -----
    Bits per dim compares likelihoods across image sizes. Only compare *discrete* likelihoods
    (a Bernoulli on binarized pixels, or :func:`dequantized_bits_per_dim` for a density on
    grey levels); a continuous density on [0, 1] pixels can exceed 1, so its "bits per dim"
    can be negative and is not comparable.
    """
    n_dims = _check_count(n_dims, "n_dims", min_value=1)
    values = _as_float_values(nll_nats, "nll_nats")
    return _finite_result(values / (n_dims * _LN2), "nll_nats")


def dequantized_bits_per_dim(
    nll_nats: float | ArrayLike, n_dims: int, n_levels: int = 256
) -> float | ArrayLike:
    """Bits per dim of a continuous density on pixels in [0, 1] with ``n_levels`` grey levels.

    A pixel stored with L levels occupies a cell of width 1/L in [0, 1], so the probability of
    the discrete image is about p(x) / L^D: the discrete NLL is ``nll + D ln L``. With uniform
    dequantization (training on x + u/L) this is an upper bound on the discrete NLL.
    Use L = 256 for Fashion-MNIST and L = 17 for the digits (grey levels 0..16).
    """
    n_dims = _check_count(n_dims, "n_dims", min_value=1)
    n_levels = check_int(n_levels, "n_levels", min_value=2)
    nll = _as_float_values(nll_nats, "nll_nats")
    # (nll + D ln L) / (D ln 2) split in two terms, so nll near 1e308 cannot overflow the sum.
    return _finite_result(nll / (n_dims * _LN2) + math.log2(n_levels), "nll_nats")


def likelihood_report(
    nll_nats: float | ArrayLike, n_dims: int, *, n_levels: int | None = None
) -> dict[str, float]:
    """The average NLL in the units papers use.

    Parameters
    ----------
    nll_nats : float or array of shape (N,)
        Per-image negative log-likelihood(s) in nats; averaged.
    n_dims : int
        D, values per image.
    n_levels : int, optional
        For a continuous density on grey levels: adds the ``D ln L`` discretization term
        (:func:`dequantized_bits_per_dim`). Leave None for discrete models (e.g. Bernoulli).

    Returns
    -------
    dict
        ``nll_nats`` (per image), ``nll_bits`` (per image), ``nats_per_dim``,
        ``bits_per_dim``.
    """
    n_dims = _check_count(n_dims, "n_dims", min_value=1)
    if n_levels is not None:
        n_levels = check_int(n_levels, "n_levels", min_value=2)
    values = _as_float_values(nll_nats, "nll_nats")
    mean = values if isinstance(values, float) else _robust_mean(values)
    if n_levels is not None:
        mean += n_dims * math.log(n_levels)
    report = {
        "nll_nats": mean,
        "nll_bits": mean / _LN2,
        "nats_per_dim": mean / n_dims,
        "bits_per_dim": mean / (n_dims * _LN2),
    }
    _finite_result(np.array(list(report.values())), "nll_nats")
    return report
