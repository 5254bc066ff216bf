r"""The linear-Gaussian VAE: a VAE whose exact likelihood and posterior are known.

Its decoder is probabilistic PCA (Tipping & Bishop 1999; Roweis 1998), so :math:`\log p(x)`
and :math:`p(z \mid x)` are closed-form, and its ELBO is closed-form too: the check of the
ELBO ≤ IWAE ≤ log p(x) chain (Kingma & Welling 2014; Burda et al. 2016) against the truth,
and of how a diagonal posterior restricts the solution (Lucas et al. 2019, "Don't blame the
ELBO!", study exactly this model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lessons_lib.core.loop import check_count
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_tensor,
    check_array,
    check_bool,
    check_elements,
    check_fits_dtype,
    check_one_of,
    check_seed,
    like_input,
)
from lessons_lib.vae.kl import LOG_2PI, log_standard_normal
from lessons_lib.vae.numerics import BLOCK_ELEMENTS, finite_result, randn
from lessons_lib.vae.objective import ELBOModule
from lessons_lib.vae.ppca import ppca_log_likelihood
from lessons_lib.vae.settings import Settings

__all__ = ["LinearGaussianVAE"]

_UNCONDITIONAL = "LinearGaussianVAE is unconditional; pass labels=None."


class LinearGaussianVAE(ELBOModule):
    r"""A VAE whose exact marginal likelihood is known: probabilistic PCA.

    Decoder :math:`p(x \mid z) = \mathcal N(W z + b, \sigma^2 I_D)`, prior
    :math:`\mathcal N(0, I_L)`, so :math:`p(x) = \mathcal N(b, W W^\top + \sigma^2 I)`
    exactly, and the exact posterior is :math:`p(z \mid x) = \mathcal N(M^{-1} W^\top
    (x - b),\ \sigma^2 M^{-1})` with :math:`M = W^\top W + \sigma^2 I`.

    Encoder :math:`q(z \mid x) = \mathcal N(\mu, \Sigma_q)`, :math:`\mu = V x + c`, with
    one covariance :math:`\Sigma_q = S S^\top` for every x (the true posterior's covariance
    does not depend on x either): ``posterior="full"`` (S lower triangular) can match the
    true posterior for any W; ``posterior="diagonal"`` (the usual VAE) only when the columns
    of W are orthogonal, which training reaches slowly. The ELBO is computed in closed form:

    .. math::

        \mathcal L(x) = \log\mathcal N(x; W\mu + b, \sigma^2 I)
        - \frac{\operatorname{tr}(W \Sigma_q W^\top)}{2\sigma^2}
        - \mathrm{KL}(\mathcal N(\mu, \Sigma_q) \| \mathcal N(0, I)).

    Parameters
    ----------
    data_dim : int
        D.
    latent_dim : int
        L < D.
    posterior : {"full", "diagonal"}
    seed : int, optional
        Seeds the initial weights (None: a generator seeded by torch's global one).
    """

    def __init__(
        self,
        data_dim: int,
        latent_dim: int,
        *,
        posterior: str = "full",
        seed: int | None = None,
    ) -> None:
        data_dim = check_count(data_dim, "data_dim", min_value=2)
        latent_dim = check_count(latent_dim, "latent_dim")
        if latent_dim >= data_dim:
            raise ValueError(f"latent_dim must be < data_dim={data_dim}, got {latent_dim}.")
        check_one_of(posterior, "posterior", ("full", "diagonal"))
        check_seed(seed)
        if 2 * data_dim * latent_dim + latent_dim**2 > 2**30:
            raise ValueError(
                f"this LinearGaussianVAE would not fit in memory: reduce data_dim={data_dim} or "
                f"latent_dim={latent_dim}."
            )
        super().__init__()
        gen = make_generator(seed)
        self.data_dim, self.latent_dim, self.posterior = data_dim, latent_dim, posterior
        self.settings = Settings(data_dim=data_dim, latent_dim=latent_dim, posterior=posterior)
        self.W = nn.Parameter(0.1 * torch.randn(data_dim, latent_dim, generator=gen))
        self.b = nn.Parameter(torch.zeros(data_dim))
        self.log_sigma2 = nn.Parameter(torch.zeros(()))
        self.V = nn.Parameter(0.1 * torch.randn(latent_dim, data_dim, generator=gen))
        self.c = nn.Parameter(torch.zeros(latent_dim))
        self.log_s2 = nn.Parameter(torch.zeros(latent_dim))  # log of diag(S)**2
        if posterior == "full":
            self.S_lower = nn.Parameter(torch.zeros(latent_dim, latent_dim))

    # -- inputs --------------------------------------------------------------------------

    def _data(self, x: Any, name: str = "x") -> torch.Tensor:
        check_array(x, name, ndim=2, kinds="f", shape=(None, self.data_dim))
        check_fits_dtype(x, name, self.W.dtype)
        return as_tensor(x, dtype=self.W.dtype, device=self.device)

    def check_training_data(
        self, data: Any, labels: Any = None, *, names: tuple[str, str] = ("data", "labels")
    ) -> None:
        """Raise a clear error unless ``data`` (N, D) can train this model (no labels)."""
        self._data(data, names[0])
        if labels is not None:
            raise ValueError(f"LinearGaussianVAE is unconditional; pass {names[1]}=None.")

    # -- encoder and the true posterior --------------------------------------------------

    def posterior_scale(self) -> torch.Tensor:
        """S, the lower-triangular square root of the encoder's covariance, shape (L, L)."""
        scale = torch.diag((0.5 * self.log_s2).exp())
        if self.posterior == "full":
            scale = scale + torch.tril(self.S_lower, -1)
        return scale

    def encode(self, x: ArrayLike, labels: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x): means (N, L) and the shared covariance S Sᵀ (L, L)."""
        if labels is not None:
            raise ValueError(_UNCONDITIONAL)
        x = self._data(x)
        scale = self.posterior_scale()
        return x @ self.V.T + self.c, scale @ scale.T

    def true_posterior(self, x: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact p(z | x): means (N, L) and the shared covariance σ² M⁻¹ (L, L)."""
        x = self._data(x)
        with torch.no_grad():
            sigma2 = self.log_sigma2.exp()
            M = self.W.T @ self.W + sigma2 * torch.eye(self.latent_dim, device=self.device)
            mean = torch.linalg.solve(M, self.W.T @ (x - self.b).T).T
            return mean, sigma2 * torch.linalg.inv(M)

    def posterior_kl(self, x: ArrayLike) -> torch.Tensor:
        """KL(q(z | x) ‖ p(z | x)) per example, shape (N,): exactly log p(x) − ELBO."""
        with torch.no_grad():
            mu_q, cov_q = self.encode(x)
            mu_p, cov_p = self.true_posterior(x)
            finite_result(self, mu_q, "x", x)
            finite_result(self, mu_p, "x", x)
            q = torch.distributions.MultivariateNormal(mu_q, cov_q, validate_args=False)
            p = torch.distributions.MultivariateNormal(mu_p, cov_p, validate_args=False)
            return finite_result(self, torch.distributions.kl_divergence(q, p), "x", x)

    # -- the ELBO in closed form ---------------------------------------------------------

    def elbo_terms(self, x: ArrayLike, labels: Any = None, **_: Any):
        """Closed-form expected log-likelihood (N,) and KL to the prior (N,), nats."""
        if labels is not None:
            raise ValueError(_UNCONDITIONAL)
        recon, kl = self._elbo_terms(self._data(x))
        finite_result(self, recon, "x", x)
        return recon, finite_result(self, kl, "x", x)

    def _elbo_terms(self, x: torch.Tensor):
        """The closed-form terms of a checked batch (the training loss calls this)."""
        mu = x @ self.V.T + self.c
        scale = self.posterior_scale()
        sigma2 = self.log_sigma2.exp()
        resid = ((x - mu @ self.W.T - self.b) ** 2).sum(1)
        trace = ((self.W @ scale) ** 2).sum()
        recon = -0.5 * self.data_dim * (LOG_2PI + self.log_sigma2) - (resid + trace) / (2 * sigma2)
        # KL(N(mu, S Sᵀ) ‖ N(0, I)); log det(S Sᵀ) = Σ log_s2.
        kl = 0.5 * ((scale**2).sum() + (mu**2).sum(1) - self.latent_dim - self.log_s2.sum())
        return recon, kl

    def _batch_elbo_terms(self, batch: Sequence[torch.Tensor]):
        if len(batch) > 1:
            raise ValueError(_UNCONDITIONAL)
        return self._elbo_terms(batch[0].to(self.W.dtype))

    def elbo(self, x: ArrayLike, labels: Any = None, **_: Any) -> torch.Tensor:
        """The ELBO per example in closed form (exact, not estimated), shape (N,), nats."""
        recon, kl = self.elbo_terms(x, labels)
        return finite_result(self, recon - kl, "x", x)

    # -- the likelihood: exact, and its IWAE estimate ------------------------------------

    def exact_log_likelihood(self, x: ArrayLike) -> ArrayLike:
        r""":math:`\log \mathcal N(x; b, W W^\top + \sigma^2 I)` per example, shape (N,)."""
        with torch.no_grad():
            values = ppca_log_likelihood(self._data(x), self.W, self.b, self.log_sigma2.exp())
            return like_input(finite_result(self, values, "x", x), x)

    def log_prob(self, x: ArrayLike, labels: Any = None) -> ArrayLike:
        """log p(x) per example, shape (N,): exact (:meth:`exact_log_likelihood`)."""
        if labels is not None:
            raise ValueError(_UNCONDITIONAL)
        return self.exact_log_likelihood(x)

    def log_likelihood(
        self, x: ArrayLike, labels: Any = None, *, k: int = 1000, seed: int | None = None
    ) -> torch.Tensor:
        """Importance-weighted (IWAE) estimate of log p(x) per example, shape (N,), nats.

        ``seed=None`` draws from a generator seeded by torch's global one.
        """
        k = check_count(k, "k")
        check_seed(seed)
        mu, _ = self.encode(x, labels)
        x = self._data(x)
        gen = make_generator(seed, self.device)
        with torch.no_grad():
            mu = mu.detach()
            scale = self.posterior_scale()
            log_det = 0.5 * self.log_s2.sum()
            sigma2 = self.log_sigma2.exp()
            n_k = max(1, min(k, BLOCK_ELEMENTS // (self.data_dim * len(x))))
            logws = []
            for done in range(0, k, n_k):
                eps = randn((min(n_k, k - done), *mu.shape), gen, self.device, mu.dtype)
                z = mu + eps @ scale.T
                resid = ((x - z @ self.W.T - self.b) ** 2).sum(-1)
                log_px = -0.5 * self.data_dim * (LOG_2PI + self.log_sigma2) - resid / (2 * sigma2)
                log_q = log_standard_normal(eps) - log_det
                logws.append(log_px + log_standard_normal(z) - log_q)
            estimate = torch.logsumexp(torch.cat(logws), 0) - math.log(k)
            return finite_result(self, estimate, "x", x)

    # -- generating ----------------------------------------------------------------------

    def sample(
        self, n: int, labels: Any = None, seed: int | None = None, *, noise: bool = True
    ) -> torch.Tensor:
        """Draw n points from the model, shape (n, D): z ~ N(0, I), then x ~ N(W z + b, σ² I).

        ``noise=False`` gives the decoder means W z + b at the same z instead, exactly
        :meth:`decoder_means`: they lie on the L-dimensional subspace, so they are not samples
        of the D-dimensional Gaussian. ``seed=None`` draws from a generator seeded by torch's
        global one.
        """
        noise = check_bool(noise, "noise")
        return self._generate(n, labels, seed, noise)

    def decoder_means(self, n: int, labels: Any = None, seed: int | None = None) -> torch.Tensor:
        """The decoder means W z + b at z ~ N(0, I), shape (n, D): the z of :meth:`sample`.

        Not samples: the model adds N(0, σ² I) noise to each (see :meth:`sample`).
        """
        return self._generate(n, labels, seed, False)

    def _generate(self, n: int, labels: Any, seed: int | None, noise: bool) -> torch.Tensor:
        n = check_count(n, "n")
        check_elements(n * self.data_dim, "n")
        check_seed(seed)
        if labels is not None:
            raise ValueError(_UNCONDITIONAL)
        gen = make_generator(seed, self.device)
        with torch.no_grad():
            dtype = self.W.dtype
            x = randn((n, self.latent_dim), gen, self.device, dtype) @ self.W.T + self.b
            if noise:
                x = x + self.log_sigma2.exp().sqrt() * randn(x.shape, gen, self.device, dtype)
            return x
