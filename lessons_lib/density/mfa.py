"""Mixtures of factor analyzers: Gaussian mixtures whose covariances are low rank plus
diagonal, :math:`\\Sigma_k = \\Lambda_k\\Lambda_k^\\top + \\Psi_k`, fitted by EM.

Ghahramani & Hinton (1996, "The EM algorithm for mixtures of factor analyzers") give the EM
updates; the E-step goes through the Woodbury identity, so a point costs O(D q) and 28×28
images are affordable. Richardson & Weiss (2018, "On GANs and GMMs") showed such mixtures
generate sharp images; Tipping & Bishop (1999, "Mixtures of probabilistic principal
component analyzers") motivate the start (each k-means cluster's principal axes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from lessons_lib.core.base import DensityModel
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_tensor,
    check_array,
    check_int,
    check_positive,
)
from lessons_lib.density._fast_e_step import _chunks
from lessons_lib.density._inputs import (
    _fitted_rows,
    _progress,
    _refuse_underflow,
    _store_run_settings,
    check_finite_result,
    check_representable,
    check_sample_count,
    like,
    to_model_tensor,
)
from lessons_lib.density._parameters import (
    _check_parameter_shapes,
    _component_labels,
    _store_fitted,
    _store_given,
)
from lessons_lib.density._scaling import standardize
from lessons_lib.density._scores import _centred, _mixture_scores
from lessons_lib.density.em import _TINY, _floor_lowered
from lessons_lib.density.kmeans import kmeans
from lessons_lib.density.linalg import LOG_2PI, cholesky, scaled_differences

__all__ = ["MixtureOfFactorAnalyzers"]


@dataclass
class _MFAParams:
    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, D)
    factors: torch.Tensor  # (K, D, q)   Lambda_k
    noise: torch.Tensor  # (K, D)      diagonal of Psi_k


class _FactorPrecomputed:
    """What every E-step needs of the parameters, via the Woodbury identity.

    With :math:`M_k = I + \\Lambda_k^\\top\\Psi_k^{-1}\\Lambda_k` (q × q):
    :math:`\\Sigma_k^{-1} = \\Psi_k^{-1} - \\Psi_k^{-1}\\Lambda_k M_k^{-1}\\Lambda_k^\\top
    \\Psi_k^{-1}` and :math:`\\log|\\Sigma_k| = \\log|M_k| + \\sum_d \\log\\psi_{kd}`. So the
    cost per point is O(D q), never O(D^2).
    """

    def __init__(self, params: _MFAParams) -> None:
        k, dim, q = params.factors.shape
        self.params = params
        self.inv_noise = 1.0 / params.noise  # (K, D)
        scaled = params.factors * self.inv_noise[:, :, None]  # Psi^{-1} Lambda (K, D, q)
        eye = torch.eye(q, dtype=params.means.dtype, device=params.means.device)
        self.m = eye + params.factors.transpose(1, 2) @ scaled  # (K, q, q)
        m_factor = cholesky(self.m, "I + Lambda^T Psi^-1 Lambda")
        # beta = M^{-1} Lambda^T Psi^{-1} (K, q, D): E[z | x, k] = beta (x - mu).
        self.beta = torch.cholesky_solve(scaled.transpose(1, 2), m_factor)
        self.m_inverse = torch.cholesky_inverse(m_factor)
        self.stacked_beta = self.beta.reshape(k * q, dim)
        self.beta_means = torch.einsum("kqd,kd->kq", self.beta, params.means)
        log_det = 2 * torch.log(torch.diagonal(m_factor, dim1=1, dim2=2)).sum(1)
        log_det = log_det + torch.log(params.noise).sum(1)
        self.log_norm = torch.log(params.weights) - 0.5 * (log_det + dim * LOG_2PI)
        self.mean_term = (params.means**2 * self.inv_noise).sum(1)  # (K,)

    def e_step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi_k + log N(x; mu_k, Sigma_k) (B, K) and E[z | x, k] (B, K, q) for a chunk."""
        k, _, q = self.params.factors.shape
        # (x - mu)^T Psi^{-1} (x - mu), expanded into products with all components at once.
        diagonal_term = (
            (x * x) @ self.inv_noise.T
            - 2 * x @ (self.params.means * self.inv_noise).T
            + self.mean_term
        )
        latent = (x @ self.stacked_beta.T).view(x.shape[0], k, q) - self.beta_means
        # (x-mu)^T Psi^-1 Lambda M^-1 Lambda^T Psi^-1 (x-mu) = E[z]^T M E[z].
        low_rank_term = (torch.einsum("bkq,kqr->bkr", latent, self.m) * latent).sum(-1)
        mahalanobis = (diagonal_term - low_rank_term).clamp_min(0)
        return self.log_norm - 0.5 * mahalanobis, latent


class MixtureOfFactorAnalyzers(DensityModel):
    """A mixture of factor analyzers (Ghahramani & Hinton 1996), fitted by EM.

    Component k generates :math:`x = \\mu_k + \\Lambda_k z + \\varepsilon` with
    :math:`z \\sim \\mathcal N(0, I_q)` and :math:`\\varepsilon \\sim \\mathcal N(0, \\Psi_k)`,
    :math:`\\Psi_k` diagonal: a Gaussian with covariance :math:`\\Lambda_k\\Lambda_k^\\top +
    \\Psi_k` that has only D(q + 2) parameters instead of D(D + 3)/2. Richardson & Weiss (2018,
    "On GANs and GMMs") showed such mixtures generate sharp images.

    Parameters
    ----------
    n_components : int
        K.
    n_factors : int
        q, the latent dimension of each component.
    max_iter, tol : int, float
        Stopping rule of EM, as in :class:`GaussianMixture`.
    noise_floor : float
        Smallest allowed noise variance psi (a pixel that never varies would otherwise get
        psi -> 0 and an infinite likelihood). It is a constraint of the M-step, not an
        addition, so EM stays exact and the likelihood never decreases.
    seed, device, dtype, progress
        As in :class:`GaussianMixture`.

    Attributes
    ----------
    weights_ : (K,)
    means_ : (K, D)
    factors_ : (K, D, q), the loadings Lambda_k
    noise_variances_ : (K, D), the diagonal of Psi_k
    history_ : list of float
        Mean log-likelihood after each EM iteration; it never decreases (the floor is a
        constraint, so each M-step is an exact maximisation).
    n_iter_, converged_, n_features_in_
    """

    _fitted_attributes = ("_params",)

    def __init__(
        self,
        n_components: int,
        n_factors: int,
        max_iter: int = 100,
        tol: float = 1e-3,
        noise_floor: float = 1e-4,
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
        *,
        progress: bool = False,
    ) -> None:
        self.n_components = check_int(n_components, "n_components", min_value=1)
        self.n_factors = check_int(n_factors, "n_factors", min_value=1)
        self.max_iter = check_int(max_iter, "max_iter", min_value=1)
        self.tol = check_positive(tol, "tol", strict=False)
        self.noise_floor = check_positive(noise_floor, "noise_floor")
        _store_run_settings(self, seed, device, dtype, progress)

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X: ArrayLike) -> MixtureOfFactorAnalyzers:
        """Fit by EM from a k-means start (each cluster's principal axes); returns self.

        ``X`` has shape (N, D) with ``n_factors < D`` and ``n_components <= N``.
        """
        return super().fit(X)

    def _fit(self, X: ArrayLike) -> None:
        x = self._check_fit_data(X)
        # EM on centred data divided by a power of two (exact), as in GaussianMixture.fit:
        # extreme magnitudes (1e150, 1e-200) neither overflow nor underflow.
        x, shift, scale = standardize(x, self.noise_floor, "X")
        floor = self.noise_floor / scale**2
        offset = -x.shape[1] * math.log(scale)  # log-likelihoods in the units of X
        params = self._initialize(x, make_generator(self.seed), floor)
        params, history, converged = self._run_em(x, params, floor, offset)
        params = _MFAParams(
            params.weights, params.means * scale, params.factors * scale, params.noise * scale**2
        )
        self._store(params, shift, numpy=not isinstance(X, torch.Tensor))
        self.history_, self.n_iter_, self.converged_ = history, len(history), converged

    def _check_fit_data(self, X: Any) -> torch.Tensor:
        check_array(X, "X", ndim=2, kinds="fiu")
        n, dim = X.shape
        if n < self.n_components:
            raise ValueError(
                f"n_components={self.n_components} is larger than the number of samples N={n}."
            )
        if self.n_factors >= dim:
            raise ValueError(
                f"n_factors={self.n_factors} must be below the data dimension D={dim}; with "
                "q >= D use GaussianMixture with full covariances."
            )
        return to_model_tensor(X, "X", self.dtype, self.device)

    def _run_em(self, x: torch.Tensor, params: _MFAParams, floor: float, offset: float):
        """EM from ``params`` on the scaled data: ``(params, history, converged)``."""
        log_likelihood, stats = self._statistics(x, params)
        log_likelihood += offset
        history: list[float] = []
        converged = False
        for _ in _progress(range(self.max_iter), self.progress, "MFA EM"):
            new_params = self._m_step(params, stats, floor)
            new_log_likelihood, new_stats = self._statistics(x, new_params)
            new_log_likelihood += offset
            if history and _floor_lowered(new_log_likelihood, log_likelihood):
                converged = True  # a guard only: exact EM cannot lower the likelihood
                break
            gain = new_log_likelihood - log_likelihood
            params, stats, log_likelihood = new_params, new_stats, new_log_likelihood
            history.append(log_likelihood)
            if abs(gain) < self.tol:
                converged = True
                break
        return params, history, converged

    def _initialize(self, x: torch.Tensor, generator: torch.Generator, floor: float) -> _MFAParams:
        """k-means clusters, then in each the top-q principal axes (probabilistic PCA)."""
        k, q = self.n_components, self.n_factors
        dim = x.shape[1]
        _, labels = kmeans(x, k, generator)
        counts = torch.bincount(labels, minlength=k).to(self.dtype)
        means = torch.zeros(k, dim, dtype=self.dtype, device=self.device)
        factors = torch.zeros(k, dim, q, dtype=self.dtype, device=self.device)
        noise = torch.zeros(k, dim, dtype=self.dtype, device=self.device)
        overall = x.var(0, correction=0).clamp_min(floor)
        for j in range(k):  # a loop over components, once
            members = x[labels == j]
            if len(members) < 2:  # a lone point: the data's spread, no factors yet
                means[j] = members.mean(0) if len(members) else x[0]
                noise[j] = overall
                continue
            means[j] = members.mean(0)
            centred = members - means[j]
            values, vectors = torch.linalg.eigh(centred.T @ centred / len(members))
            values, vectors = values.flip(0).clamp_min(0), vectors.flip(1)
            rest = values[q:].mean() if dim > q else values.new_zeros(())
            factors[j] = vectors[:, :q] * (values[:q] - rest).clamp_min(0).sqrt()
            residual = torch.diagonal(centred.T @ centred) / len(members) - (factors[j] ** 2).sum(1)
            noise[j] = residual.clamp_min(floor)
        weights = (counts + _TINY) / (counts + _TINY).sum()
        return _MFAParams(weights, means, factors, noise)

    def _statistics(self, x: torch.Tensor, params: _MFAParams):
        """E-step over the data in chunks; returns the mean log-likelihood and the sums
        N_k, sum r x, sum r x^2, sum r E[z], sum r E[z] E[z]^T, sum r x E[z]^T."""
        pre = _FactorPrecomputed(params)
        k, dim, q = params.factors.shape
        zeros = lambda *shape: torch.zeros(shape, dtype=x.dtype, device=x.device)
        counts, sum_x, sum_xx = zeros(k), zeros(k, dim), zeros(k, dim)
        sum_z, sum_zz, sum_xz = zeros(k, q), zeros(k, q, q), zeros(dim, k * q)
        total = 0.0
        for rows in _chunks(x.shape[0], dim + 2 * k * q):
            chunk = x[rows]
            log_joint, latent = pre.e_step(chunk)
            log_px = torch.logsumexp(log_joint, 1, keepdim=True)
            resp = torch.exp(log_joint - log_px)
            total += float(log_px.sum())
            weighted = latent * resp[:, :, None]  # (B, K, q)
            counts += resp.sum(0)
            sum_x += resp.T @ chunk
            sum_xx += resp.T @ (chunk * chunk)
            sum_z += weighted.sum(0)
            sum_zz += torch.einsum("bkq,bkr->kqr", weighted, latent)
            sum_xz += chunk.T @ weighted.reshape(len(chunk), k * q)
        sum_xz = sum_xz.view(dim, k, q).permute(1, 0, 2)
        stats = (counts, sum_x, sum_xx, sum_z, sum_zz, sum_xz, pre.m_inverse)
        return total / x.shape[0], stats

    def _m_step(self, params: _MFAParams, stats, floor: float) -> _MFAParams:
        """Joint update of [Lambda_k, mu_k] with the augmented latent [z; 1], then Psi_k."""
        counts, sum_x, sum_xx, sum_z, sum_zz, sum_xz, m_inverse = stats
        k, q = self.n_components, self.n_factors
        counts = counts + _TINY
        # A_k = sum r E[[z;1][z;1]^T] ((q+1) x (q+1)) and B_k = sum r x [E z; 1]^T (D x (q+1)).
        a = torch.zeros(k, q + 1, q + 1, dtype=self.dtype, device=self.device)
        a[:, :q, :q] = sum_zz + counts[:, None, None] * m_inverse
        a[:, :q, q] = sum_z
        a[:, q, :q] = sum_z
        a[:, q, q] = counts
        b = torch.cat([sum_xz, sum_x[:, :, None]], dim=2)
        # [Lambda, mu] = B A^{-1}; A is symmetric positive definite.
        loadings = torch.linalg.solve(a, b.transpose(1, 2)).transpose(1, 2)
        noise = (sum_xx - (loadings * b).sum(2)) / counts[:, None]
        # Psi_k maximises the expected log-likelihood coordinate by coordinate, and each
        # coordinate's objective has a single peak: under psi >= floor the best is the clamp.
        noise = noise.clamp_min(floor)
        return _MFAParams(counts / counts.sum(), loadings[:, :, q], loadings[:, :, :q], noise)

    def _store(self, params: _MFAParams, shift: torch.Tensor, numpy: bool) -> None:
        self._pre = _FactorPrecomputed(params)
        _store_fitted(
            self, params, shift, numpy, factors_=params.factors, noise_variances_=params.noise
        )

    @classmethod
    def from_parameters(
        cls,
        weights: ArrayLike,
        means: ArrayLike,
        factors: ArrayLike,
        noise_variances: ArrayLike,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> MixtureOfFactorAnalyzers:
        """A mixture with given ``weights`` (K,), ``means`` (K, D), ``factors`` (K, D, q) and
        ``noise_variances`` (K, D), without fitting.

        Raises
        ------
        TypeError, ValueError
            Wrong shapes or dtypes (bool, complex), NaN/inf, ``noise_variances`` <= 0,
            ``weights`` negative or not summing to 1.
        """
        check_array(factors, "factors", ndim=3, kinds="fiu")
        k, dim, q = factors.shape
        model = cls(k, q, device=device, dtype=dtype)
        _check_parameter_shapes(
            (
                ("weights", weights, (k,)),
                ("means", means, (k, dim)),
                ("noise_variances", noise_variances, (k, dim)),
            ),
            f"factors (K={k} components, D={dim} dimensions, q={q} factors)",
        )
        names = {"weights": "weights", "means": "means", "factors": "factors"}
        names["noise"] = "noise_variances"
        checked = {
            "weights": check_array(weights, "weights", shape=(k,), kinds="fiu"),
            "means": check_array(means, "means", shape=(k, dim), kinds="fiu"),
            "factors": factors,
            "noise": check_array(
                noise_variances, "noise_variances", shape=(k, dim), min_value=0.0, kinds="fiu"
            ),
        }
        tensors = {}
        for name, value in checked.items():
            tensors[name] = as_tensor(value, dtype=model.dtype, device=model.device)
            check_representable(tensors[name], value, names[name])
        if bool((tensors["noise"] <= 0).any()):
            raise ValueError("noise_variances must be > 0.")
        if bool((tensors["weights"] < 0).any()) or abs(float(tensors["weights"].sum()) - 1) > 1e-6:
            raise ValueError("weights must be non-negative and sum to 1.")
        return _store_given(model, _MFAParams(**tensors), means)

    # -- use ---------------------------------------------------------------------------------

    def _scores(self, X: Any, what: str) -> torch.Tensor:
        """log p (N,), "resp"onsibilities (N, K) or "best" component (N,) of the rows of X."""
        x = _centred(_fitted_rows(self, X, "X"), self._shift, "X")
        k = self.n_components
        log_joint = torch.cat(
            [
                self._pre.e_step(x[rows])[0]
                for rows in _chunks(x.shape[0], x.shape[1] + 2 * k * self.n_factors)
            ]
        )
        return _mixture_scores(log_joint, x, self._far_terms, what)

    def _far_terms(self, x: torch.Tensor):
        """As GaussianMixture._far_terms, through the Woodbury identity: half of
        (x - mu)^T Psi^-1 (x - mu) - E[z]^T M E[z], from exact, scaled differences."""
        pre = self._pre
        diff, scale = scaled_differences(x, self._params.means, careful=True)  # (K, R, D)
        diagonal = (diff * diff * pre.inv_noise[:, None, :]).sum(-1)  # (K, R)
        latent = torch.einsum("kqd,krd->krq", pre.beta, diff)
        low_rank = (torch.einsum("krq,kqs->krs", latent, pre.m) * latent).sum(-1)
        half = 0.5 * (diagonal - low_rank).clamp_min(0)
        return pre.log_norm, half.T, scale

    def score_samples(self, X: ArrayLike) -> ArrayLike:
        """Log-density of each row of ``X`` (N, D): shape (N,).

        Raises ValueError for a row so far away that its log-density is below the float range.
        """
        return like(_refuse_underflow(self._scores(X, "log_p"), "X"), X)

    def score(self, X: ArrayLike) -> float:
        """Mean log-density of the rows of ``X``."""
        return float(_refuse_underflow(self._scores(X, "log_p"), "X").mean())

    def predict_proba(self, X: ArrayLike) -> ArrayLike:
        """Responsibilities p(k | x): shape (N, K) (one-hot, rightly, far from every component)."""
        return like(self._scores(X, "resp"), X)

    def covariances(self) -> ArrayLike:
        """The full covariances Lambda_k Lambda_k^T + Psi_k: shape (K, D, D)."""
        self._check_fitted()
        p = self._params
        full = p.factors @ p.factors.transpose(1, 2) + torch.diag_embed(p.noise)
        return full.cpu().numpy() if self._numpy else full

    def sample(
        self,
        n: int,
        *,
        seed: int | None = None,
        component: int | None = None,
        add_noise: bool = True,
    ) -> tuple[ArrayLike, ArrayLike]:
        """Draw ``n`` points: k ~ pi, z ~ N(0, I_q), x = mu_k + Lambda_k z + eps.

        Parameters
        ----------
        n : int
        seed : int, optional
        component : int, optional
            Draw every point from this component.
        add_noise : bool
            Add the diagonal noise eps ~ N(0, Psi_k) (a true sample). ``False`` returns
            mu_k + Lambda_k z, the smooth part that Richardson & Weiss display.

        Returns
        -------
        X : shape (n, D)
        labels : shape (n,), int64
        """
        self._check_fitted()
        n = check_sample_count(n, self.n_features_in_)
        generator = make_generator(seed)
        p = self._params
        _, dim, q = p.factors.shape
        labels = _component_labels(p.weights, n, component, generator)
        z = torch.randn(n, q, generator=generator, dtype=self.dtype).to(self.device)
        eps = torch.randn(n, dim, generator=generator, dtype=self.dtype).to(self.device)
        labels = labels.to(self.device)
        x = p.means[labels] + self._shift
        for j in torch.unique(labels).tolist():  # a loop over components, not points
            rows = labels == j
            x[rows] += z[rows] @ p.factors[j].T
        if add_noise:
            x = x + eps * p.noise[labels].sqrt()
        check_finite_result(x, "the samples")
        if self._numpy:
            return x.cpu().numpy(), labels.cpu().numpy()
        return x, labels
