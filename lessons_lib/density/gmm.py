"""The Gaussian mixture model, fitted by EM (scikit-learn's face).

A Gaussian mixture has density :math:`p(x) = \\sum_k \\pi_k \\mathcal N(x; \\mu_k, \\Sigma_k)`
(Bishop, *Pattern Recognition and Machine Learning*, 2006, §9.2; Dempster, Laird & Rubin
1977). The EM updates are written plainly in :mod:`lessons_lib.density.em`; this class runs
the same updates through the accelerated pass of :mod:`lessons_lib.density._fast_e_step`
(dense whitening, or pruned pairs on a CPU), chosen automatically, and adds what a user of
the model needs: several starts (k-means++, Arthur & Vassilvitskii 2007), a covariance floor,
exact rescaling of extreme data, BIC/AIC (Schwarz 1978; Akaike 1974), sampling, and
completion of missing coordinates by conditioning each component.

Both paths give scikit-learn's results to rounding (Pedregosa et al. 2011; see the tests).

This file is about 500 lines because it is one class's public face (constructor checks, the
multi-start ``fit``, ``sample``, scores, BIC/AIC); the maths already lives beside it (``em``,
``_fast_e_step``, ``_completion``, ``_parameters``, ``_scaling``, ``kmeans``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch

from lessons_lib.core.base import DensityModel
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    check_array,
    check_int,
    check_one_of,
    check_positive,
)
from lessons_lib.density._completion import _MixtureCompletion
from lessons_lib.density._fast_e_step import (
    _chunks,
    _Params,
    _Whitener,
    m_step,
    m_step_from_responsibilities,
    statistics,
)
from lessons_lib.density._inputs import (
    _fitted_rows,
    _progress,
    _refuse_underflow,
    _store_run_settings,
    check_finite_result,
    check_sample_count,
    like,
    to_model_tensor,
)
from lessons_lib.density._parameters import (
    _check_parameter_shapes,
    _component_labels,
    _store_fitted,
    _store_given,
    check_parameters,
    scaled_start,
)
from lessons_lib.density._scaling import standardize
from lessons_lib.density._scores import _centred, _mixture_scores
from lessons_lib.density.em import ConvergenceWarning, _floor_lowered
from lessons_lib.density.kmeans import kmeans
from lessons_lib.density.linalg import scaled_differences

__all__ = ["COVARIANCE_TYPES", "INITS", "ConvergenceWarning", "GaussianMixture"]

#: The covariance types of GaussianMixture (the readable EM also has "tied").
COVARIANCE_TYPES = ("full", "diag", "spherical")
INITS = ("kmeans++", "random")


class GaussianMixture(_MixtureCompletion, DensityModel):
    """A Gaussian mixture model fitted by expectation-maximisation (scikit-learn's face).

    Parameters
    ----------
    n_components : int
        Number of Gaussians K.
    covariance_type : {"full", "diag", "spherical"}
        Each component's covariance: a full matrix, a diagonal, or one variance.
    max_iter : int
        Most EM iterations per run.
    tol : float
        Stop when the mean log-likelihood gains less than ``tol`` in one iteration.
    reg_covar : float
        Added to the diagonal of every covariance after each M-step (a covariance floor):
        without it a component can collapse on one point, where the likelihood is infinite.
    init : {"kmeans++", "random"}
        Starting parameters: "kmeans++" runs a few k-means iterations from k-means++ seeds and
        takes each cluster's weight, mean and covariance; "random" puts the means on K random
        data points, every covariance equal to the data's, equal weights.
    n_init : int
        Runs from different starts; the one with the highest final log-likelihood is kept.
    seed : int, optional
        Seeds the initialisation (same seed, same fit on the same device).
    device : torch.device or str, optional
        Where EM runs; default ``get_device()``.
    dtype : torch.dtype
        float64 (default) or float32 (faster on a GPU, less accurate).
    progress : bool
        Show a progress bar over the EM iterations.

    Attributes
    ----------
    weights_ : (K,)
    means_ : (K, D)
    covariances_ : (K, D, D) full, (K, D) diag, (K,) spherical
    converged_ : bool
    n_iter_ : int
        EM iterations of the kept run.
    history_ : list of float
        Mean log-likelihood of the data after each iteration; ``history_[-1]`` is
        ``score(X)`` of the fitted model. It never decreases (beyond rounding): a step that
        the covariance floor would make lower the likelihood ends EM (``converged_`` True)
        with the better parameters kept.
    lower_bound_ : float
        ``history_[-1]``.
    n_features_in_ : int

    Fitted attributes and every returned array have the type of the data given to ``fit``
    (numpy in, numpy out; a tensor in, tensors out).

    Examples
    --------
    >>> gmm = GaussianMixture(3, seed=0).fit(X)          # X: (N, 2)
    >>> new_points, components = gmm.sample(100, seed=1)
    >>> filled = gmm.inpaint(X_damaged, mask)             # mask True where observed
    """

    _fitted_attributes = ("_params",)

    def __init__(
        self,
        n_components: int,
        covariance_type: str = "full",
        max_iter: int = 100,
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        init: str = "kmeans++",
        n_init: int = 1,
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
        *,
        progress: bool = False,
    ) -> None:
        self.n_components = check_int(n_components, "n_components", min_value=1)
        self.covariance_type = check_one_of(covariance_type, "covariance_type", COVARIANCE_TYPES)
        self.max_iter = check_int(max_iter, "max_iter", min_value=1)
        self.tol = check_positive(tol, "tol", strict=False)
        self.reg_covar = check_positive(reg_covar, "reg_covar", strict=False)
        self.init = check_one_of(init, "init", INITS)
        self.n_init = check_int(n_init, "n_init", min_value=1)
        _store_run_settings(self, seed, device, dtype, progress)

    # -- checks ------------------------------------------------------------------------------

    def _check_fit_data(self, X: Any) -> torch.Tensor:
        check_array(X, "X", ndim=2, kinds="fiu")
        if X.shape[0] < self.n_components:
            raise ValueError(
                f"n_components={self.n_components} is larger than the number of samples "
                f"N={X.shape[0]}; use at most N components."
            )
        return to_model_tensor(X, "X", self.dtype, self.device)

    def _data(self, X: Any, name: str = "X") -> torch.Tensor:
        """``X`` checked against the fitted model, as a tensor centred like the parameters."""
        return _centred(_fitted_rows(self, X, name), self._shift, name)

    # -- fitting -----------------------------------------------------------------------------

    def fit(
        self,
        X: ArrayLike,
        initial: Mapping[str, ArrayLike] | None = None,
        *,
        callback: Callable[[int, dict[str, Any]], None] | None = None,
        init_params: Mapping[str, ArrayLike] | None = None,
    ) -> GaussianMixture:
        """Fit the mixture to the rows of ``X`` by EM.

        Parameters
        ----------
        X : array or Tensor, shape (N, D)
        initial : dict, optional
            Starting values: ``weights`` (K,), ``means`` (K, D) and ``covariances`` (storage
            shape of ``covariance_type``), used instead of the ``init`` method (then
            ``n_init`` is 1).
        callback : callable, optional
            ``callback(iteration, state)`` after the start (iteration 0) and after every EM
            iteration of every run; ``state`` holds NumPy copies of ``weights``, ``means``,
            ``covariances``, ``responsibilities`` (N, K) and the mean ``log_likelihood``, all
            of the parameters at that iteration. Used to draw EM step by step.
        init_params : dict, optional
            Deprecated name of ``initial`` (in scikit-learn ``init_params`` names a *method*,
            here it held starting *values*); it still works, with a DeprecationWarning.

        Returns
        -------
        self

        Raises
        ------
        TypeError, ValueError
            Bad ``X`` (NaN, wrong shape, fewer rows than components, values whose
            covariances the float type cannot hold, e.g. 1e160), bad ``initial`` (a
            covariance not symmetric positive definite, weights not summing to 1, unknown
            keys) or a ``callback`` that is not callable: all before any work. During EM, a
            component that collapses without a floor (``reg_covar`` = 0).
        """
        prefix = "initial"
        if init_params is not None:
            if initial is not None:
                raise TypeError(
                    "give the starting values once: initial= (init_params= is its old name)."
                )
            warnings.warn(
                "fit(X, init_params=...) is deprecated: the starting values are now passed as "
                "fit(X, initial=...).",
                DeprecationWarning,
                stacklevel=2,
            )
            initial, prefix = init_params, "init_params"
        return super().fit(X, initial, callback=callback, prefix=prefix)

    def _fit(self, X: ArrayLike, initial: Any, *, callback: Any, prefix: str) -> None:
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None, got {type(callback).__name__}.")
        x = self._check_fit_data(X)
        start = None
        if initial is not None:
            start = check_parameters(
                initial,
                self.n_components,
                x.shape[1],
                self.covariance_type,
                self.dtype,
                self.device,
                prefix,
            )
        # EM runs on centred data divided by a power of two (exact): products like
        # x @ L^{-T} then lose no digits when the data sit far from the origin, and no sum of
        # squares overflows or underflows for extreme magnitudes (1e150, 1e-200).
        x, shift, scale = standardize(x, self.reg_covar, "X")
        reg = self.reg_covar / scale**2
        units = (shift, scale, -x.shape[1] * math.log(scale))
        if start is not None:
            start = scaled_start(start, shift, scale, self.covariance_type, prefix)
        params, history, converged = self._best_run(x, start, units, callback, reg)
        params = _Params(params.weights, params.means * scale, params.covariances * scale**2)
        if not converged and self.tol > 0:
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations (tol={self.tol}); "
                "raise max_iter or tol.",
                ConvergenceWarning,
                stacklevel=4,  # the caller of fit (through DensityModel.fit)
            )
        self._store(params, shift, numpy=not isinstance(X, torch.Tensor))
        self.history_ = history
        self.lower_bound_ = history[-1]
        self.n_iter_ = len(history)
        self.converged_ = converged

    def _best_run(self, x, start, units, callback, reg):
        """EM from ``start``, or from ``n_init`` starts of the ``init`` method: the run with
        the highest final log-likelihood, as ``(params, history, converged)``."""
        generator = make_generator(self.seed)
        best = None
        for _ in range(1 if start is not None else self.n_init):
            params = start if start is not None else self._initialize(x, generator, reg)
            params, history, converged = self._run_em(x, params, units, callback, reg)
            if best is None or history[-1] > best[1][-1]:
                best = (params, history, converged)
        return best

    def _initialize(self, x: torch.Tensor, generator: torch.Generator, reg: float) -> _Params:
        n, dim = x.shape
        k = self.n_components
        if self.init == "random":
            picks = torch.randperm(n, generator=generator)[:k].to(self.device)
            cov = x.T @ x / n + reg * torch.eye(dim, dtype=x.dtype, device=x.device)
            covariances = {
                "full": cov.expand(k, dim, dim).clone(),
                "diag": torch.diagonal(cov).expand(k, dim).clone(),
                "spherical": torch.diagonal(cov).mean().expand(k).clone(),
            }[self.covariance_type]
            weights = torch.full((k,), 1.0 / k, dtype=x.dtype, device=x.device)
            return _Params(weights, x[picks].clone(), covariances)
        _, labels = kmeans(x, k, generator)
        resp = torch.nn.functional.one_hot(labels, k).to(x.dtype)
        return m_step_from_responsibilities(x, resp, self.covariance_type, reg)

    def _run_em(self, x, params, units, callback, reg):
        """EM from ``params`` on the scaled data ``x``; ``units = (shift, scale, offset)``
        map back to the units of X (the log-likelihood there is the scaled one + offset)."""
        keep_resp = callback is not None
        offset = units[2]
        log_likelihood, stats, resp = statistics(x, params, self.covariance_type, keep_resp)
        log_likelihood += offset
        if callback is not None:
            callback(0, self._state(params, units, resp, log_likelihood))
        history: list[float] = []
        converged = False
        for iteration in _progress(range(1, self.max_iter + 1), self.progress, "EM"):
            new_params = m_step(params, stats, self.covariance_type, reg)
            new_log_likelihood, new_stats, resp = statistics(
                x, new_params, self.covariance_type, keep_resp
            )
            new_log_likelihood += offset
            if history and _floor_lowered(new_log_likelihood, log_likelihood):
                converged = True  # the covariance floor's fixed point: keep the better fit
                break
            gain = new_log_likelihood - log_likelihood
            params, stats, log_likelihood = new_params, new_stats, new_log_likelihood
            history.append(log_likelihood)
            if callback is not None:
                callback(iteration, self._state(params, units, resp, log_likelihood))
            if abs(gain) < self.tol:
                converged = True
                break
        return params, history, converged

    @staticmethod
    def _state(params: _Params, units, resp, log_likelihood) -> dict[str, Any]:
        shift, scale, _ = units
        return {
            "weights": params.weights.cpu().numpy().copy(),
            "means": (params.means * scale + shift).cpu().numpy(),
            "covariances": (params.covariances * scale**2).cpu().numpy().copy(),
            "responsibilities": None if resp is None else resp.cpu().numpy(),
            "log_likelihood": log_likelihood,
        }

    def _store(self, params: _Params, shift: torch.Tensor, numpy: bool) -> None:
        self._whitener = _Whitener(params, self.covariance_type)
        _store_fitted(self, params, shift, numpy, covariances_=params.covariances)

    @classmethod
    def from_parameters(
        cls,
        weights: ArrayLike,
        means: ArrayLike,
        covariances: ArrayLike,
        covariance_type: str = "full",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> GaussianMixture:
        """A mixture with given parameters, without fitting (e.g. a known "true" mixture).

        ``weights`` (K,), ``means`` (K, D), ``covariances`` in the storage shape of
        ``covariance_type``; attributes and outputs take the type of ``means``.
        """
        check_array(means, "means", ndim=2, kinds="fiu")
        k, dim = means.shape
        model = cls(k, covariance_type, device=device, dtype=dtype)
        expected = {"full": (k, dim, dim), "diag": (k, dim), "spherical": (k,)}
        _check_parameter_shapes(
            (
                ("weights", weights, (k,)),
                ("covariances", covariances, expected[model.covariance_type]),
            ),
            f"means (K={k} components in D={dim} dimensions, "
            f"covariance_type={model.covariance_type!r})",
        )
        params = check_parameters(
            {"weights": weights, "means": means, "covariances": covariances},
            k,
            dim,
            model.covariance_type,
            model.dtype,
            model.device,
            prefix="",
        )
        return _store_given(model, params, means)

    # -- densities and assignments -----------------------------------------------------------

    def _log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """log pi_k + log N(x_n; mu_k, Sigma_k) for centred rows x: (N, K)."""
        k, dim = self._params.means.shape
        per_row = k + 2 * dim if self._whitener.expand else k * (dim + 1)
        parts = [self._whitener.log_joint(x[rows]) for rows in _chunks(x.shape[0], per_row)]
        return torch.cat(parts)

    def _far_terms(self, x: torch.Tensor):
        """(offset (K,), half (R, K), scale (R,)) of centred rows x (R, D), for _combine: the
        Mahalanobis distances from exact differences scaled by a power of two per row."""
        whitener = self._whitener
        diff, scale = scaled_differences(x, self._params.means, careful=True)  # (K, R, D)
        if self.covariance_type == "full":
            y = torch.linalg.solve_triangular(whitener.factor, diff.transpose(1, 2), upper=False)
            half = 0.5 * (y * y).sum(1).T
        else:
            y = diff / whitener.std[:, None, :]
            half = 0.5 * (y * y).sum(-1).T
        return whitener.log_weights + whitener.log_norm, half, scale

    def _scores(self, X: Any, what: str) -> torch.Tensor:
        """log p (N,), "resp"onsibilities (N, K) or "best" component (N,) of the rows of X."""
        x = self._data(X)
        return _mixture_scores(self._log_joint(x), x, self._far_terms, what)

    def score_samples(self, X: ArrayLike) -> ArrayLike:
        """Log-density log p(x) of each row of ``X`` (N, D): shape (N,).

        Raises ValueError for a row so far from every component that its log-density is
        below the float range.
        """
        return like(_refuse_underflow(self._scores(X, "log_p"), "X"), X)

    def score(self, X: ArrayLike) -> float:
        """Mean log-density of the rows of ``X`` (the average log-likelihood)."""
        return float(_refuse_underflow(self._scores(X, "log_p"), "X").mean())

    def predict_proba(self, X: ArrayLike) -> ArrayLike:
        """Responsibilities p(k | x) of each component for each row: shape (N, K).

        Right (and one-hot) also for points astronomically far from every component.
        """
        return like(self._scores(X, "resp"), X)

    def predict(self, X: ArrayLike) -> ArrayLike:
        """The most responsible component of each row: shape (N,), int64."""
        return like(self._scores(X, "best"), X)

    def _n_parameters(self) -> int:
        k, dim = self.n_components, self.n_features_in_
        per_covariance = {"full": dim * (dim + 1) // 2, "diag": dim, "spherical": 1}
        return k * per_covariance[self.covariance_type] + k * dim + k - 1

    def bic(self, X: ArrayLike) -> float:
        """Bayesian information criterion ``-2 log L + p log N`` (lower is better)."""
        n = self._data(X).shape[0]
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X: ArrayLike) -> float:
        """Akaike information criterion ``-2 log L + 2 p`` (lower is better)."""
        n = self._data(X).shape[0]
        return -2 * self.score(X) * n + 2 * self._n_parameters()

    # -- generation --------------------------------------------------------------------------

    def sample(
        self, n: int, *, seed: int | None = None, component: int | None = None
    ) -> tuple[ArrayLike, ArrayLike]:
        """Draw ``n`` points: a component k with probability pi_k, then x ~ N(mu_k, Sigma_k).

        Parameters
        ----------
        n : int
        seed : int, optional
        component : int, optional
            Draw every point from this one component instead.

        Returns
        -------
        X : shape (n, D)
        labels : shape (n,), int64: the component of each point
        """
        self._check_fitted()
        n = check_sample_count(n, self.n_features_in_)
        generator = make_generator(seed)
        params = self._params
        dim = params.means.shape[1]
        labels = _component_labels(params.weights, n, component, generator)
        z = torch.randn(n, dim, generator=generator, dtype=self.dtype).to(self.device)
        labels = labels.to(self.device)
        x = params.means[labels] + self._shift
        if self.covariance_type == "full":
            for j in torch.unique(labels).tolist():  # a loop over components, not points
                rows = labels == j
                x[rows] += z[rows] @ self._whitener.factor[j].T
        else:
            x += z * self._whitener.std[labels]
        check_finite_result(x, "the samples")
        if self._numpy:
            return x.cpu().numpy(), labels.cpu().numpy()
        return x, labels
