"""The multivariate Gaussian: density, maximum likelihood, sampling, conditioning.

A Gaussian :math:`\\mathcal N(\\mu, \\Sigma)` in :math:`D` dimensions is handled through the
Cholesky factor :math:`L` of its covariance, :math:`\\Sigma = L L^\\top`:

* log-density: :math:`\\log p(x) = -\\tfrac12 \\lVert L^{-1}(x-\\mu)\\rVert^2 - \\sum_i \\log
  L_{ii} - \\tfrac D2 \\log 2\\pi` (one triangular solve, no inverse);
* sampling: :math:`x = \\mu + L z` with :math:`z \\sim \\mathcal N(0, I)`;
* conditioning on observed coordinates ``o``, for the missing ``m``:
  :math:`\\mu_{m|o} = \\mu_m + \\Sigma_{mo}\\Sigma_{oo}^{-1}(x_o-\\mu_o)` and
  :math:`\\Sigma_{m|o} = \\Sigma_{mm} - \\Sigma_{mo}\\Sigma_{oo}^{-1}\\Sigma_{om}`.

Functions take NumPy arrays or torch tensors and answer in the same type (numpy in, numpy
out). :class:`Gaussian` wraps them in the scikit-learn face of the course's classical models.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.validation import (
    ArrayLike,
    _singular_matrices,
    as_tensor,
    check_array,
    check_covariance,
    check_int,
    check_positive,
    check_seed,
)

__all__ = [
    "Gaussian",
    "NotFittedError",
    "cholesky",
    "conditional_gaussian",
    "density",
    "fit_gaussian",
    "log_density",
    "make_generator",
    "sample_gaussian",
]

LOG_2PI = math.log(2 * math.pi)


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit`` (a ValueError and an AttributeError, as in sklearn)."""


# --------------------------------------------------------------------------- small helpers

#: Most values (points x dimensions) one ``sample`` call may draw: 2**33 float64 are 64 GiB,
#: beyond any machine the course runs on; a larger ``n`` is a mistake, refused up front.
MAX_SAMPLE_VALUES = 2**33


def check_sample_count(n: Any, dim: int, name: str = "n") -> int:
    """Check a number of points to draw: an integer >= 1 whose draws fit in memory."""
    n = check_int(n, name, min_value=1)
    if n * max(dim, 1) > MAX_SAMPLE_VALUES:
        raise ValueError(
            f"{name}={n} points of dimension {dim} are {n * dim:.3g} values, more than the "
            f"{MAX_SAMPLE_VALUES:.3g} one call may draw; draw them in batches."
        )
    return n


def make_generator(seed: int | None) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (``None``: drawn from torch's global RNG).

    Random numbers are drawn on the CPU and then moved, so a seed gives the same numbers on
    every device.

    Raises
    ------
    TypeError, ValueError
        ``seed`` is not None or an integer in [0, 2**63 - 1] (see ``checks.check_seed``).
    """
    seed = check_seed(seed, "seed")
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int(torch.randint(2**31, ()).item()))
    return generator


def to_model_tensor(x: Any, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Check ``x`` is a finite real (N, D) array and return it as a ``dtype`` tensor on device.

    Raises
    ------
    ValueError
        Also when a value is beyond the range of ``dtype`` (e.g. 1e200 for float32), which the
        conversion would turn into infinity.
    """
    check_array(x, name, ndim=2, kinds="fiu")
    tensor = as_tensor(x, dtype=dtype, device=device)
    check_representable(tensor, x, name)
    return tensor


def check_representable(converted: torch.Tensor, original: Any, name: str) -> None:
    """Raise if converting finite ``original`` to ``converted``'s dtype overflowed."""
    if converted.dtype == torch.float64 or converted.dtype == getattr(original, "dtype", None):
        return  # float64 holds every finite float and integer of 64 bits or less
    if not bool(torch.isfinite(converted).all()):
        top = float(
            np.abs(
                np.asarray(
                    original.detach().cpu() if _is_tensor(original) else original, dtype=np.float64
                )
            ).max()
        )
        raise ValueError(
            f"{name} has values up to {top:.3g} in magnitude, beyond the range of "
            f"{converted.dtype} (largest {torch.finfo(converted.dtype).max:.3g}). Use "
            f"dtype=torch.float64, or rescale {name}."
        )


def _is_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


# --------------------------------------------------------------------------- scaling
# Extreme but finite values (1e-200, 1e150) are handled by scaling with powers of two: such a
# scaling is exact in floating point, so for ordinary data the results are bit for bit those
# of the unscaled formulas, while sums of squares can no longer overflow or underflow.


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


def like(result: torch.Tensor, reference: Any) -> ArrayLike:
    """``result`` as NumPy when ``reference`` is not a tensor, else on ``reference``'s device."""
    if isinstance(reference, torch.Tensor):
        return result.to(reference.device)
    return result.detach().cpu().numpy()


def cholesky(cov: torch.Tensor, name: str = "cov") -> torch.Tensor:
    """Lower Cholesky factor(s) ``L`` of ``cov`` (..., D, D) with ``cov = L @ L.T``.

    ``cov`` is a floating-point tensor (a float NumPy array is converted to a tensor).

    A matrix counts as not positive definite also when the factorisation only "succeeds"
    through rounding (a pivot at rounding level, as for a component collapsed on a line).

    Raises
    ------
    ValueError
        If a matrix is not symmetric (beyond rounding) or not positive definite, naming
        which one, with the fix.
    """
    if not isinstance(cov, torch.Tensor) or not cov.dtype.is_floating_point:
        check_array(cov, name, kinds="f")
        cov = as_tensor(cov)
    if cov.ndim < 2 or cov.shape[-1] != cov.shape[-2]:
        raise ValueError(f"{name} must be square (..., D, D), got shape {tuple(cov.shape)}.")
    tolerance = max(1e-8, 100 * torch.finfo(cov.dtype).eps)
    gap = (cov - cov.transpose(-1, -2)).abs().amax(dim=(-1, -2))
    size = cov.abs().amax(dim=(-1, -2))
    symmetric = gap <= tolerance * size
    factor, singular = _singular_matrices(cov)
    # One check (one GPU sync) in the usual case; a finite size also rules out NaN and inf.
    if bool(symmetric.all() & torch.isfinite(size).all() & ~singular.any()):
        return factor
    if not bool(torch.isfinite(cov).all()):
        raise ValueError(f"{name} contains NaN or infinite values.")
    if not bool(symmetric.all()):
        raise ValueError(
            f"{name} must be symmetric positive definite, but it is not symmetric; only its "
            "lower triangle would be used. Symmetrise it, e.g. (C + C.T) / 2."
        )
    bad = torch.nonzero(singular).flatten()
    if len(bad):
        where = f" (matrix {bad[:5].tolist()} of the batch)" if cov.ndim > 2 else ""
        raise ValueError(
            f"{name} is not positive definite{where}: some direction has (almost) no "
            "variance, e.g. pixels that never change, or a mixture component that collapsed "
            "onto a few points. Add a covariance floor (reg_covar > 0, or a larger one)."
        )
    return factor


def _factor(cov: torch.Tensor, name: str) -> torch.Tensor:
    """Cholesky factor(s) of matrices already known to be symmetric positive definite (sub-
    blocks, Schur complements of checked ones): only a failed factorisation is reported."""
    factor, info = torch.linalg.cholesky_ex(cov)
    if bool(info.any()):
        raise ValueError(
            f"{name} is not positive definite: some direction has (almost) no variance. Add a "
            "covariance floor (reg_covar > 0, or a larger one)."
        )
    return factor


def _whiten(diff: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Solve ``L y = diff`` for each row of ``diff`` (N, D): returns ``y`` (N, D)."""
    return torch.linalg.solve_triangular(factor, diff.T, upper=False).T


def scaled_differences(
    x: torch.Tensor, means: torch.Tensor, *, careful: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x - mean`` divided by a power of two per row, computed without overflow.

    Rows of ordinary size keep the scale 1 unless ``careful`` (where a squared distance
    overflowed: then every row is brought below 4, so the whitened differences stay finite
    even for a tiny covariance).

    Parameters
    ----------
    x : (N, D)
    means : (D,) or (K, D); the scale of a row is common to every mean, so that the
        rows' Mahalanobis distances to different means can be compared.

    Returns
    -------
    diff : (N, D) or (K, N, D), ``(x_n - mean) / scale_n`` (entries below 4 where scaled)
    scale : (N,), powers of two (1 on the fast path)
    """
    if not careful:
        diff = x - means if means.ndim == 1 else x[None] - means[:, None, :]
        top = largest_magnitude(diff, -1)
        if top.ndim == 2:
            top = top.amax(0)
        # Up to max**(1/4), squares of whitened differences overflow only where the true
        # value is out of range anyway: no scaling needed (the usual case).
        if bool((top <= torch.finfo(x.dtype).max ** 0.25).all()):
            return diff, torch.ones_like(top)
    # Halves first: x/2 - mean/2 cannot overflow, and equals (x - mean)/2 bit for bit.
    half = x / 2 - (means / 2 if means.ndim == 1 else means[:, None, :] / 2)
    top = half.abs().amax(-1)
    if top.ndim == 2:
        top = top.amax(0)
    scale = power_of_two_below(top)
    # (x - mean) / scale = 2 (half / scale), below 4; returning 2 * scale could overflow.
    diff = 2 * (half / scale[:, None])
    return diff, scale


def _half_mahalanobis(
    x: torch.Tensor, mean: torch.Tensor, factor: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Half the squared Mahalanobis distance of each row of ``x`` (N, D) to ``mean`` under
    ``L L^T``, as ``(h, s)`` with distance / 2 = ``h * s * s`` ((N,) each; no overflow in h)."""
    diff, scale = scaled_differences(x, mean)
    y = _whiten(diff, factor)
    return 0.5 * (y * y).sum(1), scale


def _log_density_from_cholesky(
    x: torch.Tensor, mean: torch.Tensor, factor: torch.Tensor
) -> torch.Tensor:
    """log N(x; mean, L L^T) for rows of ``x`` (N, D): shape (N,).

    ``-inf`` where the value is below the float range (a point astronomically far away);
    never NaN for finite input.
    """
    half, scale = _half_mahalanobis(x, mean, factor)
    half_log_det = torch.log(torch.diagonal(factor)).sum()
    return -(half * scale) * scale - half_log_det - 0.5 * x.shape[1] * LOG_2PI


def _refuse_underflow(values: torch.Tensor, name: str) -> torch.Tensor:
    """Raise when a log-density is below the float range (``-inf`` from finite input)."""
    bad = torch.nonzero(~torch.isfinite(values)).flatten()
    if len(bad):
        raise ValueError(
            f"row {int(bad[0])} of {name} is so far from the distribution (in Mahalanobis "
            f"distance) that its log-density is below the {values.dtype} range; it cannot "
            "be represented (its density is 0 in floating point)."
        )
    return values


def _mean_cov_tensors(
    mean: Any, cov: Any, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean`` (D,) and ``cov`` (D, D) checked (cov symmetric positive definite) as tensors."""
    check_array(mean, "mean", ndim=1, kinds="fiu")
    dim = mean.shape[0]
    check_array(cov, "cov", ndim=2, kinds="fiu")
    if tuple(cov.shape) != (dim, dim):
        raise ValueError(
            f"cov must have shape ({dim}, {dim}) to match mean ({dim} entries), got shape "
            f"{tuple(cov.shape)}."
        )
    check_covariance(cov, "cov", dim=dim, batched=False)
    mean_t = as_tensor(mean, dtype=dtype, device=device)
    cov_t = as_tensor(cov, dtype=dtype, device=device)
    check_representable(mean_t, mean, "mean")
    check_representable(cov_t, cov, "cov")
    # Symmetric to 1e-8 after the check: average the two triangles (exact if symmetric).
    cov_t = 0.5 * cov_t + 0.5 * cov_t.T
    return mean_t, cov_t


def _compute_dtype(*values: Any) -> torch.dtype:
    """float64 unless every tensor given is float32 (then keep float32, e.g. on a GPU)."""
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    if tensors and len(tensors) == len(values) and all(t.dtype == torch.float32 for t in tensors):
        return torch.float32
    return torch.float64


def _compute_device(*values: Any) -> torch.device:
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
    return torch.device("cpu")


# --------------------------------------------------------------------------- functions


def log_density(X: ArrayLike, mean: ArrayLike, cov: ArrayLike) -> ArrayLike:
    """Log-density of the Gaussian N(mean, cov) at each row of ``X``.

    Parameters
    ----------
    X : array or Tensor, shape (N, D)
    mean : shape (D,)
    cov : shape (D, D), symmetric positive definite

    Returns
    -------
    shape (N,), the type of ``X``

    Raises
    ------
    ValueError
        Bad shapes, NaN/inf, ``cov`` not symmetric positive definite, or a row so far away
        that its log-density is below the float range (:func:`density` gives 0 there).
    """
    return like(_refuse_underflow(_log_density_values(X, mean, cov), "X"), X)


def _log_density_values(X: Any, mean: Any, cov: Any) -> torch.Tensor:
    check_array(X, "X", ndim=2, kinds="fiu")
    dtype, device = _compute_dtype(X, mean, cov), _compute_device(X, mean, cov)
    mean_t, cov_t = _mean_cov_tensors(mean, cov, dtype, device)
    if X.shape[1] != mean_t.shape[0]:
        raise ValueError(f"X has {X.shape[1]} columns but mean has {mean_t.shape[0]} entries.")
    x = as_tensor(X, dtype=dtype, device=device)
    check_representable(x, X, "X")
    return _log_density_from_cholesky(x, mean_t, cholesky(cov_t))


def density(X: ArrayLike, mean: ArrayLike, cov: ArrayLike) -> ArrayLike:
    """Density of N(mean, cov) at each row of ``X`` (N, D): shape (N,). See :func:`log_density`.

    A density below the smallest float is 0 (also for points astronomically far away).
    """
    return like(_log_density_values(X, mean, cov).exp(), X)


def fit_gaussian(X: ArrayLike, reg_covar: float = 0.0) -> tuple[ArrayLike, ArrayLike]:
    """Maximum-likelihood Gaussian of the rows of ``X``.

    The maximum of :math:`\\sum_n \\log \\mathcal N(x_n; \\mu, \\Sigma)` is the sample mean and
    the *biased* sample covariance (divided by N, not N - 1).

    Parameters
    ----------
    X : shape (N, D)
    reg_covar : float
        Added to the diagonal of the covariance (a floor that keeps it invertible).

    Returns
    -------
    mean : shape (D,)
    cov : shape (D, D)

    Raises
    ------
    ValueError
        Bad ``X`` or ``reg_covar``, or a covariance that the float type cannot hold (values
        spread like 1e160, or vary like 1e-200 without a floor): rescale ``X``.
    """
    check_array(X, "X", ndim=2, kinds="fiu")
    reg_covar = check_positive(reg_covar, "reg_covar", strict=False)
    dtype, device = _compute_dtype(X), _compute_device(X)
    x = as_tensor(X, dtype=dtype, device=device)
    mean, cov = _mean_and_covariance(x, reg_covar, "X")
    return like(mean, X), like(cov, X)


def _mean_and_covariance(
    x: torch.Tensor, reg_covar: float, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample mean and biased covariance (+ reg_covar I) of the rows of x, without overflow."""
    scaled, mean, scale = standardize(x, reg_covar, name)
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    # In units of the (power-of-two) scale, then back: exact scalings, so for ordinary data
    # this is bit for bit centred.T @ centred / N + reg_covar I.
    cov = (scaled.T @ scaled / x.shape[0] + (reg_covar / scale**2) * eye) * scale**2
    return mean, cov


def sample_gaussian(
    mean: ArrayLike,
    cov: ArrayLike,
    n: int,
    *,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> ArrayLike:
    """Draw ``n`` points of N(mean, cov) as ``mean + L z`` with ``L`` the Cholesky factor.

    Parameters
    ----------
    mean : shape (D,)
    cov : shape (D, D)
    n : int
    seed : int, optional
    device : torch.device or str, optional
        Where tensors are made when ``mean`` is a tensor; default ``get_device()``.

    Returns
    -------
    shape (n, D), the type of ``mean``

    Raises
    ------
    ValueError
        Bad ``n``/``seed``, ``cov`` not symmetric positive definite, or samples beyond the
        float range (a mean near the largest float).
    """
    n = check_int(n, "n", min_value=1)
    generator = make_generator(seed)
    dtype = _compute_dtype(mean, cov)
    target = resolve_device(device) if isinstance(mean, torch.Tensor) else torch.device("cpu")
    mean_t, cov_t = _mean_cov_tensors(mean, cov, dtype, target)
    n = check_sample_count(n, mean_t.shape[0])
    z = torch.randn(n, mean_t.shape[0], generator=generator, dtype=dtype).to(target)
    return like(check_finite_result(mean_t + z @ cholesky(cov_t).T, "the samples"), mean)


def check_finite_result(values: torch.Tensor, what: str) -> torch.Tensor:
    """Raise (rather than return inf/NaN) when a result left the float range."""
    if not bool(torch.isfinite(values).all()):
        raise ValueError(
            f"{what} overflow {values.dtype}: the inputs are too close to the largest float "
            f"({torch.finfo(values.dtype).max:.3g}); rescale them."
        )
    return values


def conditional_gaussian(
    mean: ArrayLike, cov: ArrayLike, observed: ArrayLike, x_observed: ArrayLike
) -> tuple[ArrayLike, ArrayLike]:
    """The Gaussian of the missing coordinates given the observed ones.

    Parameters
    ----------
    mean : shape (D,)
    cov : shape (D, D)
    observed : bool, shape (D,)
        True where a coordinate is observed (``o``), False where it is missing (``m``).
    x_observed : shape (N, |o|) or (|o|,)
        The observed values, in the order of the coordinates.

    Returns
    -------
    cond_mean : shape (N, |m|) (or (|m|,) for one point), the type of ``x_observed``
        :math:`\\mu_m + \\Sigma_{mo}\\Sigma_{oo}^{-1}(x_o-\\mu_o)`
    cond_cov : shape (|m|, |m|)
        :math:`\\Sigma_{mm} - \\Sigma_{mo}\\Sigma_{oo}^{-1}\\Sigma_{om}` (the same for every x_o)
    """
    dtype = _compute_dtype(mean, cov, x_observed)
    device = _compute_device(mean, cov, x_observed)
    mean_t, cov_t = _mean_cov_tensors(mean, cov, dtype, device)
    dim = mean_t.shape[0]
    check_array(observed, "observed", shape=(dim,), kinds="b")
    obs = as_tensor(observed, device=device).bool()
    check_array(x_observed, "x_observed", ndim=(1, 2), kinds="fiu")
    n_obs = int(obs.sum())
    if x_observed.shape[-1] != n_obs:
        raise ValueError(
            f"x_observed must have {n_obs} values per point (one per True in observed), "
            f"got shape {tuple(x_observed.shape)}."
        )
    x_o = as_tensor(x_observed, dtype=dtype, device=device)
    check_representable(x_o, x_observed, "x_observed")
    single = x_o.ndim == 1
    x_o = x_o.reshape(-1, n_obs)
    cond_mean, cond_cov = _condition(mean_t, cov_t, obs, x_o)
    check_finite_result(cond_mean, "the conditional means")
    return like(cond_mean[0] if single else cond_mean, x_observed), like(cond_cov, x_observed)


def _condition(
    mean: torch.Tensor,
    cov: torch.Tensor,
    obs: torch.Tensor,
    x_o: torch.Tensor,
    *,
    with_log_marginal: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Conditional mean (..., N, |m|) and covariance (..., |m|, |m|), batched over leading dims.

    ``mean`` (..., D), ``cov`` (..., D, D), ``obs`` bool (D,), ``x_o`` (N, |o|). With
    ``with_log_marginal`` also returns, from the same Cholesky factor, the pieces of
    log N(x_o; mean_o, cov_oo) = ``log_norm - half * scale**2`` (a mixture needs them to weigh
    its components): ``(half (..., N), log_norm (...,), scale)``. ``scale`` is None when the
    plain formulas stayed finite (the usual case: then log N = log_norm - half); where they
    overflowed (observed values like 1e300) every row's differences are divided by a power of
    two (exact) before the solves and ``scale`` (N,) holds those powers, so points
    astronomically far away still compare and the conditional means come out right, or inf
    when they are beyond the float range (never NaN); the caller checks.

    ``cov`` must already be checked: the factor of a principal block of a positive definite
    matrix needs no new singularity test (its pivots are at least those of the whole).
    """
    miss = ~obs
    cov_oo = cov[..., obs, :][..., :, obs]
    cov_om = cov[..., obs, :][..., :, miss]
    cov_mm = cov[..., miss, :][..., :, miss]
    if int(obs.sum()) == 0:  # nothing observed: the marginal of the missing part
        shape = (*mean.shape[:-1], x_o.shape[0], int(miss.sum()))
        half = torch.zeros(shape[:-1], dtype=mean.dtype, device=mean.device)
        log_norm = torch.zeros(mean.shape[:-1], dtype=mean.dtype, device=mean.device)
        result = (mean[..., None, miss].expand(shape), cov_mm)
        return (*result, (half, log_norm, None)) if with_log_marginal else result
    factor = _factor(cov_oo, "the covariance of the observed coordinates")
    # A = L^{-1} Σ_om, so Σ_mo Σ_oo^{-1} Σ_om = A^T A and the gain Σ_mo Σ_oo^{-1} = A^T L^{-1}.
    a = torch.linalg.solve_triangular(factor, cov_om, upper=False)
    cond_cov = cov_mm - a.transpose(-1, -2) @ a

    def solve(careful: bool):
        if careful:
            means_o = mean[..., obs].reshape(-1, int(obs.sum()))
            diff, scale = scaled_differences(
                x_o, means_o if mean.ndim > 1 else means_o[0], careful=True
            )
            diff = diff.reshape(*mean.shape[:-1], *diff.shape[-2:]).transpose(-1, -2)
        else:
            diff, scale = (x_o - mean[..., None, obs]).transpose(-1, -2), None  # (..., |o|, N)
        y = torch.linalg.solve_triangular(factor, diff, upper=False)
        gain_term = (a.transpose(-1, -2) @ y).transpose(-1, -2)
        if scale is not None:
            gain_term = gain_term * scale[:, None]
        half = 0.5 * (y * y).sum(-2) if with_log_marginal else None
        return mean[..., None, miss] + gain_term, half, scale

    cond_mean, half, scale = solve(careful=False)
    finite = torch.isfinite(cond_mean).all()
    if with_log_marginal:
        finite = finite & torch.isfinite(half).all()
    if not bool(finite):
        cond_mean, half, scale = solve(careful=True)
    if not with_log_marginal:
        return cond_mean, cond_cov
    half_log_det = torch.log(torch.diagonal(factor, dim1=-2, dim2=-1)).sum(-1)
    log_norm = -half_log_det - 0.5 * int(obs.sum()) * LOG_2PI
    return cond_mean, cond_cov, (half, log_norm, scale)


# --------------------------------------------------------------------------- estimator


class Gaussian:
    """One multivariate Gaussian, fitted by maximum likelihood (scikit-learn style).

    Parameters
    ----------
    reg_covar : float
        Added to the diagonal of the fitted covariance, so it stays invertible when the data
        have a direction without variance (e.g. pixels that are always 0).
    device : torch.device or str, optional
        Where the computation runs; default ``get_device()``.
    dtype : torch.dtype
        Precision of the computation (float64 by default).

    Attributes
    ----------
    mean_ : shape (D,)
    covariance_ : shape (D, D)
    n_features_in_ : int
        Attributes have the type of the data given to ``fit`` (numpy in, numpy out).

    Examples
    --------
    >>> g = Gaussian(reg_covar=1e-3).fit(X)          # X: (N, D)
    >>> new = g.sample(16, seed=0)                     # (16, D)
    >>> filled = g.inpaint(X_damaged, mask)            # conditional mean where mask is False
    """

    def __init__(
        self,
        reg_covar: float = 0.0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        self.reg_covar = check_positive(reg_covar, "reg_covar", strict=False)
        self.device = resolve_device(device)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}.")
        self.dtype = dtype

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X: ArrayLike) -> Gaussian:
        """Fit the mean and covariance of ``X`` (N, D) by maximum likelihood; returns self.

        Raises
        ------
        ValueError
            Bad ``X`` (fewer than 2 rows, NaN...), a covariance the float type cannot hold
            (values spread like 1e160, or vary like 1e-200 with no ``reg_covar``), or one that
            is singular (e.g. a pixel that never changes) without a floor ``reg_covar``.
        """
        x = to_model_tensor(X, "X", self.dtype, self.device)
        if x.shape[0] < 2:
            raise ValueError(f"X needs at least 2 rows to estimate a covariance, got {len(x)}.")
        mean, cov = _mean_and_covariance(x, self.reg_covar, "X")
        self._set(mean, cov, numpy=not isinstance(X, torch.Tensor))
        return self

    @classmethod
    def from_parameters(
        cls,
        mean: ArrayLike,
        cov: ArrayLike,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> Gaussian:
        """A Gaussian with the given mean (D,) and covariance (D, D), without fitting."""
        model = cls(device=device, dtype=dtype)
        mean_t, cov_t = _mean_cov_tensors(mean, cov, dtype, model.device)
        cholesky(cov_t)  # fail now, with a clear message, if cov is not positive definite
        model._set(mean_t, cov_t, numpy=not isinstance(mean, torch.Tensor))
        return model

    def _set(self, mean: torch.Tensor, cov: torch.Tensor, numpy: bool) -> None:
        self._numpy = numpy
        self._mean, self._cov = mean, cov
        self._factor = cholesky(cov, "the fitted covariance")
        convert = (lambda t: t.detach().cpu().numpy()) if numpy else (lambda t: t)
        self.mean_, self.covariance_ = convert(mean), convert(cov)
        self.n_features_in_ = int(mean.shape[0])

    def _check_fitted(self) -> None:
        if not hasattr(self, "_mean"):
            raise NotFittedError("This Gaussian is not fitted yet; call fit(X) first.")

    def _data(self, X: Any, name: str = "X") -> torch.Tensor:
        self._check_fitted()
        x = to_model_tensor(X, name, self.dtype, self.device)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {x.shape[1]} columns but the model was fitted on "
                f"{self.n_features_in_}."
            )
        return x

    # -- densities ---------------------------------------------------------------------------

    def score_samples(self, X: ArrayLike) -> ArrayLike:
        """Log-density of each row of ``X`` (N, D): shape (N,).

        Raises ValueError for a row so far away that its log-density is below the float range.
        """
        x = self._data(X)
        values = _log_density_from_cholesky(x, self._mean, self._factor)
        return like(_refuse_underflow(values, "X"), X)

    def score(self, X: ArrayLike) -> float:
        """Mean log-density of the rows of ``X`` (the average log-likelihood)."""
        x = self._data(X)
        return float(
            _refuse_underflow(_log_density_from_cholesky(x, self._mean, self._factor), "X").mean()
        )

    # -- sampling and conditioning -----------------------------------------------------------

    def sample(self, n: int, *, seed: int | None = None) -> ArrayLike:
        """Draw ``n`` points ``mean + L z``, ``z ~ N(0, I)``: shape (n, D)."""
        self._check_fitted()
        n = check_sample_count(n, self.n_features_in_)
        z = torch.randn(n, self.n_features_in_, generator=make_generator(seed), dtype=self.dtype)
        x = check_finite_result(self._mean + z.to(self.device) @ self._factor.T, "the samples")
        return x.cpu().numpy() if self._numpy else x

    def conditional(self, observed: ArrayLike, x_observed: ArrayLike) -> tuple[Any, Any]:
        """Mean (N, |m|) and covariance (|m|, |m|) of the missing coordinates given observed ones.

        See :func:`conditional_gaussian`; ``observed`` is a bool mask of shape (D,).
        """
        self._check_fitted()
        check_array(observed, "observed", shape=(self.n_features_in_,), kinds="b")
        check_array(x_observed, "x_observed", ndim=(1, 2), kinds="fiu")
        obs = as_tensor(observed, device=self.device).bool()
        if x_observed.shape[-1] != int(obs.sum()):
            raise ValueError(
                f"x_observed must have {int(obs.sum())} values per point, got shape "
                f"{tuple(x_observed.shape)}."
            )
        x_o = as_tensor(x_observed, dtype=self.dtype, device=self.device)
        check_representable(x_o, x_observed, "x_observed")
        single = x_o.ndim == 1
        cond_mean, cond_cov = _condition(self._mean, self._cov, obs, x_o.reshape(-1, x_o.shape[-1]))
        check_finite_result(cond_mean, "the conditional means")
        if single:
            cond_mean = cond_mean[0]
        return like(cond_mean, x_observed), like(cond_cov, x_observed)

    def inpaint(self, X: ArrayLike, mask: ArrayLike) -> ArrayLike:
        """Fill the missing values of ``X`` with their conditional mean given the observed ones.

        Parameters
        ----------
        X : shape (N, D)
            Values at missing positions are ignored (they may be NaN).
        mask : bool, shape (N, D) or (D,)
            True where a value is observed.

        Returns
        -------
        shape (N, D): ``X`` where observed, the conditional mean where missing
        """
        self._check_fitted()
        x, observed = check_inpaint_inputs(X, mask, self.n_features_in_, self.dtype, self.device)
        filled = x.clone()
        for pattern, rows in group_rows_by_mask(observed):
            if bool(pattern.all()):
                continue
            cond_mean, _ = _condition(self._mean, self._cov, pattern, x[rows][:, pattern])
            check_finite_result(cond_mean, "the conditional means")
            filled[rows[:, None], (~pattern).nonzero().flatten()[None]] = cond_mean
        return like(filled, X)

    def principal_axes(self) -> tuple[ArrayLike, ArrayLike]:
        """Eigen-decomposition of the covariance, largest variance first.

        Returns
        -------
        variances : shape (D,), descending
            The eigenvalues: variance of the data along each axis.
        directions : shape (D, D)
            Column ``j`` is the unit eigenvector of ``variances[j]`` (an "eigen-image" for images).
        """
        self._check_fitted()
        values, vectors = torch.linalg.eigh(self._cov)
        values, vectors = values.flip(0), vectors.flip(1)
        if self._numpy:
            return values.cpu().numpy(), vectors.cpu().numpy()
        return values, vectors


# --------------------------------------------------------------------------- inpainting inputs


def check_inpaint_inputs(
    X: Any, mask: Any, n_features: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check ``X`` (N, D) and ``mask`` ((N, D) or (D,), bool) before inpainting.

    Missing entries of ``X`` may hold anything (NaN included); observed ones must be finite.

    Returns
    -------
    x : Tensor (N, D), missing entries set to 0
    observed : bool Tensor (N, D)
    """
    check_array(X, "X", ndim=2, kinds="fiu", finite=False)
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} columns but the model has {n_features} features.")
    check_array(mask, "mask", ndim=(1, 2), kinds="b")
    if tuple(mask.shape) not in ((n_features,), tuple(X.shape)):
        raise ValueError(
            f"mask must have the shape of X {tuple(X.shape)} or ({n_features},) (True where a "
            f"value is observed), got shape {tuple(mask.shape)}."
        )
    x = as_tensor(X, dtype=dtype, device=device)
    observed = as_tensor(mask, device=device).bool().expand(x.shape)
    raw_observed = as_tensor(X, device=device)[observed]
    if not bool(torch.isfinite(raw_observed).all()):
        raise ValueError("X has NaN or infinite values at observed positions (where mask is True).")
    if not bool(torch.isfinite(x[observed]).all()):
        raise ValueError(
            f"X has observed values beyond the range of {dtype} (largest "
            f"{torch.finfo(dtype).max:.3g}); use dtype=torch.float64 or rescale X."
        )
    return torch.where(observed, x, torch.zeros((), dtype=dtype, device=device)), observed


def group_rows_by_mask(observed: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Group the rows of a bool (N, D) mask by pattern: [(pattern (D,), row indices), ...].

    Conditioning costs one factorisation per distinct pattern, not one per row.
    """
    patterns, inverse = torch.unique(observed, dim=0, return_inverse=True)
    return [(patterns[g], torch.nonzero(inverse == g).flatten()) for g in range(len(patterns))]
