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

from lessons_lib.checks import ArrayLike, as_tensor, check_array, check_int, check_positive
from lessons_lib.device import resolve_device

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


def make_generator(seed: int | None) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (``None``: drawn from torch's global RNG).

    Random numbers are drawn on the CPU and then moved, so a seed gives the same numbers on
    every device.
    """
    if seed is not None:
        seed = check_int(seed, "seed", min_value=0)
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int(torch.randint(2**31, ()).item()))
    return generator


def to_model_tensor(x: Any, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Check ``x`` is a finite real (N, D) array and return it as a ``dtype`` tensor on device."""
    check_array(x, name, ndim=2, kinds="fiu")
    return as_tensor(x, dtype=dtype, device=device)


def like(result: torch.Tensor, reference: Any) -> ArrayLike:
    """``result`` as NumPy when ``reference`` is not a tensor, else on ``reference``'s device."""
    if isinstance(reference, torch.Tensor):
        return result.to(reference.device)
    return result.detach().cpu().numpy()


def cholesky(cov: torch.Tensor, name: str = "cov") -> torch.Tensor:
    """Lower Cholesky factor(s) ``L`` of ``cov`` (..., D, D) with ``cov = L @ L.T``.

    Raises
    ------
    ValueError
        If a matrix is not symmetric positive definite, naming which one, with the fix.
    """
    factor, info = torch.linalg.cholesky_ex(cov)
    bad = torch.nonzero(info.reshape(-1)).flatten()
    if len(bad):
        where = f" (matrix {bad[:5].tolist()} of the batch)" if cov.ndim > 2 else ""
        raise ValueError(
            f"{name} is not positive definite{where}: some direction has (almost) no "
            "variance, e.g. pixels that never change, or a mixture component that collapsed "
            "onto a few points. Add a covariance floor (reg_covar > 0, or a larger one)."
        )
    return factor


def _whiten(diff: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Solve ``L y = diff`` for each row of ``diff`` (N, D): returns ``y`` (N, D)."""
    return torch.linalg.solve_triangular(factor, diff.T, upper=False).T


def _log_density_from_cholesky(
    x: torch.Tensor, mean: torch.Tensor, factor: torch.Tensor
) -> torch.Tensor:
    """log N(x; mean, L L^T) for rows of ``x`` (N, D): shape (N,)."""
    y = _whiten(x - mean, factor)
    half_log_det = torch.log(torch.diagonal(factor)).sum()
    return -0.5 * (y * y).sum(1) - half_log_det - 0.5 * x.shape[1] * LOG_2PI


def _mean_cov_tensors(
    mean: Any, cov: Any, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    check_array(mean, "mean", ndim=1, kinds="fiu")
    dim = mean.shape[0]
    check_array(cov, "cov", shape=(dim, dim), kinds="fiu")
    return as_tensor(mean, dtype=dtype, device=device), as_tensor(cov, dtype=dtype, device=device)


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
    """
    check_array(X, "X", ndim=2, kinds="fiu")
    dtype, device = _compute_dtype(X, mean, cov), _compute_device(X, mean, cov)
    mean_t, cov_t = _mean_cov_tensors(mean, cov, dtype, device)
    if X.shape[1] != mean_t.shape[0]:
        raise ValueError(f"X has {X.shape[1]} columns but mean has {mean_t.shape[0]} entries.")
    x = as_tensor(X, dtype=dtype, device=device)
    return like(_log_density_from_cholesky(x, mean_t, cholesky(cov_t)), X)


def density(X: ArrayLike, mean: ArrayLike, cov: ArrayLike) -> ArrayLike:
    """Density of N(mean, cov) at each row of ``X`` (N, D): shape (N,). See :func:`log_density`."""
    values = log_density(X, mean, cov)
    return values.exp() if isinstance(values, torch.Tensor) else np.exp(values)


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
    """
    check_array(X, "X", ndim=2, kinds="fiu")
    reg_covar = check_positive(reg_covar, "reg_covar", strict=False)
    dtype, device = _compute_dtype(X), _compute_device(X)
    x = as_tensor(X, dtype=dtype, device=device)
    mean = x.mean(0)
    centred = x - mean
    cov = centred.T @ centred / x.shape[0]
    cov = cov + reg_covar * torch.eye(x.shape[1], dtype=dtype, device=device)
    return like(mean, X), like(cov, X)


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
    """
    n = check_int(n, "n", min_value=1)
    generator = make_generator(seed)
    dtype = _compute_dtype(mean, cov)
    target = resolve_device(device) if isinstance(mean, torch.Tensor) else torch.device("cpu")
    mean_t, cov_t = _mean_cov_tensors(mean, cov, dtype, target)
    z = torch.randn(n, mean_t.shape[0], generator=generator, dtype=dtype).to(target)
    return like(mean_t + z @ cholesky(cov_t).T, mean)


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
    single = x_o.ndim == 1
    x_o = x_o.reshape(-1, n_obs)
    cond_mean, cond_cov = _condition(mean_t, cov_t, obs, x_o)
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
    ``with_log_marginal`` also returns log N(x_o; mean_o, cov_oo), shape (..., N), from the same
    Cholesky factor (a mixture needs it to weigh its components).
    """
    miss = ~obs
    cov_oo = cov[..., obs, :][..., :, obs]
    cov_om = cov[..., obs, :][..., :, miss]
    cov_mm = cov[..., miss, :][..., :, miss]
    if int(obs.sum()) == 0:  # nothing observed: the marginal of the missing part
        shape = (*mean.shape[:-1], x_o.shape[0], int(miss.sum()))
        log_marginal = torch.zeros(shape[:-1], dtype=mean.dtype, device=mean.device)
        result = (mean[..., None, miss].expand(shape), cov_mm)
        return (*result, log_marginal) if with_log_marginal else result
    factor = cholesky(cov_oo, "the covariance of the observed coordinates")
    # A = L^{-1} Σ_om, so Σ_mo Σ_oo^{-1} Σ_om = A^T A and the gain Σ_mo Σ_oo^{-1} = A^T L^{-1}.
    a = torch.linalg.solve_triangular(factor, cov_om, upper=False)
    diff = (x_o - mean[..., None, obs]).transpose(-1, -2)  # (..., |o|, N)
    y = torch.linalg.solve_triangular(factor, diff, upper=False)
    cond_mean = mean[..., None, miss] + (a.transpose(-1, -2) @ y).transpose(-1, -2)
    cond_cov = cov_mm - a.transpose(-1, -2) @ a
    if not with_log_marginal:
        return cond_mean, cond_cov
    half_log_det = torch.log(torch.diagonal(factor, dim1=-2, dim2=-1)).sum(-1)
    log_marginal = -0.5 * (y * y).sum(-2) - half_log_det[..., None] - 0.5 * int(obs.sum()) * LOG_2PI
    return cond_mean, cond_cov, log_marginal


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
        """Fit the mean and covariance of ``X`` (N, D) by maximum likelihood; returns self."""
        x = to_model_tensor(X, "X", self.dtype, self.device)
        if x.shape[0] < 2:
            raise ValueError(f"X needs at least 2 rows to estimate a covariance, got {len(x)}.")
        mean = x.mean(0)
        centred = x - mean
        cov = centred.T @ centred / x.shape[0]
        cov = cov + self.reg_covar * torch.eye(x.shape[1], dtype=self.dtype, device=self.device)
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
        """Log-density of each row of ``X`` (N, D): shape (N,)."""
        x = self._data(X)
        return like(_log_density_from_cholesky(x, self._mean, self._factor), X)

    def score(self, X: ArrayLike) -> float:
        """Mean log-density of the rows of ``X`` (the average log-likelihood)."""
        x = self._data(X)
        return float(_log_density_from_cholesky(x, self._mean, self._factor).mean())

    # -- sampling and conditioning -----------------------------------------------------------

    def sample(self, n: int, *, seed: int | None = None) -> ArrayLike:
        """Draw ``n`` points ``mean + L z``, ``z ~ N(0, I)``: shape (n, D)."""
        self._check_fitted()
        n = check_int(n, "n", min_value=1)
        z = torch.randn(n, self.n_features_in_, generator=make_generator(seed), dtype=self.dtype)
        x = self._mean + z.to(self.device) @ self._factor.T
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
        single = x_o.ndim == 1
        cond_mean, cond_cov = _condition(self._mean, self._cov, obs, x_o.reshape(-1, x_o.shape[-1]))
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
    if not bool(torch.isfinite(x[observed]).all()):
        raise ValueError("X has NaN or infinite values at observed positions (where mask is True).")
    return torch.where(observed, x, torch.zeros((), dtype=dtype, device=device)), observed


def group_rows_by_mask(observed: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Group the rows of a bool (N, D) mask by pattern: [(pattern (D,), row indices), ...].

    Conditioning costs one factorisation per distinct pattern, not one per row.
    """
    patterns, inverse = torch.unique(observed, dim=0, return_inverse=True)
    return [(patterns[g], torch.nonzero(inverse == g).flatten()) for g in range(len(patterns))]
