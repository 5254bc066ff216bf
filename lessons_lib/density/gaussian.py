"""The multivariate Gaussian: density, maximum likelihood, sampling, conditioning.

A Gaussian :math:`\\mathcal N(\\mu, \\Sigma)` in :math:`D` dimensions is handled through the
Cholesky factor :math:`L` of its covariance, :math:`\\Sigma = L L^\\top`:

* log-density: :math:`\\log p(x) = -\\tfrac12 \\lVert L^{-1}(x-\\mu)\\rVert^2 - \\sum_i \\log
  L_{ii} - \\tfrac D2 \\log 2\\pi` (one triangular solve, no inverse; see
  :mod:`lessons_lib.density.linalg`);
* maximum likelihood: the sample mean and the *biased* sample covariance;
* sampling: :math:`x = \\mu + L z` with :math:`z \\sim \\mathcal N(0, I)`;
* conditioning on observed coordinates (see :mod:`lessons_lib.density.conditioning`).

Sources: Bishop, *Pattern Recognition and Machine Learning* (2006), §2.3; Murphy,
*Probabilistic Machine Learning: An Introduction* (2022), §3.2.

Functions take NumPy arrays or torch tensors and answer in the same type (numpy in, numpy
out). :class:`Gaussian` wraps them in the scikit-learn face of the course's classical models
(:class:`lessons_lib.core.base.DensityModel`).
"""

from __future__ import annotations

from typing import Any

import torch

from lessons_lib.core.base import DensityModel
from lessons_lib.core.device import resolve_device
from lessons_lib.core.inpainting import restore_shape
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import ArrayLike, as_tensor, check_array, check_int, check_positive
from lessons_lib.density._inputs import (
    _check_dtype,
    _compute_device,
    _compute_dtype,
    _fitted_rows,
    _mean_cov_tensors,
    _refuse_underflow,
    check_finite_result,
    check_representable,
    check_sample_count,
    like,
    to_model_tensor,
)
from lessons_lib.density._scaling import standardize
from lessons_lib.density.conditioning import (
    _condition,
    check_inpaint_inputs,
    conditional_gaussian,
    group_rows_by_mask,
)
from lessons_lib.density.linalg import _log_density_from_cholesky, cholesky

__all__ = [
    "Gaussian",
    "conditional_gaussian",
    "density",
    "fit_gaussian",
    "log_density",
    "sample_gaussian",
]


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


# --------------------------------------------------------------------------- estimator


class Gaussian(DensityModel):
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

    _fitted_attributes = ("mean_", "covariance_")

    def __init__(
        self,
        reg_covar: float = 0.0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        self.reg_covar = check_positive(reg_covar, "reg_covar", strict=False)
        self.device = resolve_device(device)
        self.dtype = _check_dtype(dtype)

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
        return super().fit(X)

    def _fit(self, X: ArrayLike) -> None:
        x = to_model_tensor(X, "X", self.dtype, self.device)
        if x.shape[0] < 2:
            raise ValueError(f"X needs at least 2 rows to estimate a covariance, got {len(x)}.")
        mean, cov = _mean_and_covariance(x, self.reg_covar, "X")
        self._set(mean, cov, numpy=not isinstance(X, torch.Tensor))

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

    def _data(self, X: Any, name: str = "X") -> torch.Tensor:
        return _fitted_rows(self, X, name, unit="")

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
        X : shape (N, D), or images (N, C, H, W) with C·H·W = D
            Values at missing positions are ignored (they may be NaN).
        mask : bool, the shape of ``X`` or of one row or image
            True where a value is observed (the course's one inpainting face,
            :mod:`lessons_lib.core.inpainting`).

        Returns
        -------
        the shape of ``X``: ``X`` where observed, the conditional mean where missing
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
        return restore_shape(like(filled, X), X)

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
