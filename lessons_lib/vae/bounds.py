r"""Bounds on :math:`\log p_\theta(x)`: the ELBO and the importance-weighted (IWAE) bound.

The evidence lower bound of Kingma & Welling (2014) and Rezende, Mohamed & Wierstra (2014),

.. math::

    \mathcal L(x) = \mathbb E_{q_\phi(z\mid x)}[\log p_\theta(x\mid z)]
                   - \mathrm{KL}(q_\phi(z\mid x)\,\|\,p(z)) \le \log p_\theta(x),

with the reparameterization :math:`z = \mu + \sigma \odot \varepsilon`, and the bound of
Burda, Grosse & Salakhutdinov (2016) with k importance samples, which grows with k and tends
to :math:`\log p_\theta(x)`: the honest number to report. The functions taking ``self`` are
bound as methods of :class:`~lessons_lib.vae.model.VAE`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from lessons_lib.core.loop import check_count
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import ArrayLike, check_bool, check_elements, check_seed
from lessons_lib.vae.kl import log_diag_normal, log_standard_normal, standard_normal_kl
from lessons_lib.vae.numerics import BLOCK_ELEMENTS, randn

if TYPE_CHECKING:
    from lessons_lib.vae.model import VAE

__all__ = ["batch_elbo_terms", "elbo", "elbo_terms", "log_likelihood", "log_weights"]


def elbo_terms(
    self: VAE,
    x: ArrayLike,
    labels: Any = None,
    *,
    n_samples: int = 1,
    seed: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The two terms of the ELBO, per example.

    ``seed=None`` draws from a generator seeded by torch's global one (reproducible after
    ``torch.manual_seed``); an integer seed gives the same numbers on the same device.

    Returns
    -------
    reconstruction : Tensor, shape (N,)
        Monte Carlo estimate of :math:`\mathbb E_q[\log p(x \mid z)]` (``n_samples``
        reparameterized draws of z per example), nats.
    kl : Tensor, shape (N,)
        :math:`\mathrm{KL}(q(z \mid x) \| p(z))` in closed form, nats.
    """
    n_samples = check_count(n_samples, "n_samples")
    check_seed(seed)
    x = self._images(x)
    check_elements(n_samples * len(x) * max(self.n_pixels, self.latent_dim), "n_samples")
    cond = self._onehot(labels, len(x))
    return self._elbo_terms(x, cond, n_samples, make_generator(seed, self.device))


def batch_elbo_terms(
    self: VAE,
    x: torch.Tensor,
    cond: torch.Tensor | None,
    n_samples: int = 1,
    gen: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ELBO terms of checked inputs (the training loss calls this directly; no checks).

    ``gen=None`` draws from torch's global generator, which the training loop seeds.
    """
    mu, logvar = self._encode(x, cond)
    # The KL to N(0, I) in closed form (gaussian_kl without its input checks: hot path).
    kl = standard_normal_kl(mu, logvar).sum(1)
    eps = randn((n_samples, *mu.shape), gen, self.device, mu.dtype)
    z = mu + (0.5 * logvar).exp() * eps
    if n_samples == 1:
        return self._log_px(x, self._decode_out(z[0], cond)), kl
    rep = lambda t: t.repeat(n_samples, *([1] * (t.dim() - 1)))
    cond_rep = None if cond is None else rep(cond)
    out = self._decode_out(z.reshape(-1, self.latent_dim), cond_rep)
    return self._log_px(rep(x), out).view(n_samples, -1).mean(0), kl


def elbo(
    self: VAE, x: ArrayLike, labels: Any = None, *, n_samples: int = 1, seed: int | None = None
) -> torch.Tensor:
    """The evidence lower bound per example, in nats (≤ log p(x) in expectation).

    Parameters
    ----------
    x : Tensor, shape (N, C, H, W), values in [0, 1] (binary for a Bernoulli likelihood)
    labels : int or Tensor (N,), for a conditional model
    n_samples : int
        Draws of z averaged in the reconstruction term (more: less Monte Carlo noise).
    seed : int, optional
        None: a generator seeded from torch's global one.

    Returns
    -------
    Tensor, shape (N,)
        Differentiable when gradients are enabled.
    """
    recon, kl = self.elbo_terms(x, labels, n_samples=n_samples, seed=seed)
    return recon - kl


def log_likelihood(
    self: VAE,
    x: ArrayLike,
    labels: Any = None,
    *,
    k: int = 1000,
    seed: int | None = None,
    progress: bool = False,
) -> torch.Tensor:
    r"""Importance-weighted estimate of :math:`\log p(x)` per example (IWAE bound), nats.

    .. math::

        \log p(x) \ge \mathcal L_k(x) = \mathbb E\Big[\log \frac1k \sum_{j=1}^k
        \frac{p(x \mid z_j)\, p(z_j)}{q(z_j \mid x)}\Big], \quad z_j \sim q(z \mid x)

    :math:`\mathcal L_1` is the ELBO, :math:`\mathcal L_k` grows with k and tends to
    :math:`\log p(x)` (Burda et al. 2016). Computed in blocks of samples and examples so
    memory stays bounded whatever k.

    Parameters
    ----------
    x : Tensor, shape (N, C, H, W)
    labels : int or Tensor (N,), for a conditional model
    k : int
        Importance samples per example (≥ 1000 for a number worth reporting).
    seed : int, optional
        None: a generator seeded from torch's global one.
    progress : bool
        A progress bar over blocks of examples.

    Returns
    -------
    Tensor, shape (N,)
    """
    k = check_count(k, "k")
    check_seed(seed)
    progress = check_bool(progress, "progress")
    x = self._images(x)
    cond = self._onehot(labels, len(x))
    gen = make_generator(seed, self.device)
    n_ex = max(1, min(len(x), 256, BLOCK_ELEMENTS // (self.n_pixels * min(k, 64))))
    n_k = max(1, min(k, BLOCK_ELEMENTS // (self.n_pixels * n_ex)))
    from lessons_lib.core.progress import progress_bar

    out = []
    with torch.no_grad():
        for first in progress_bar(range(0, len(x), n_ex), desc="IWAE", enabled=progress):
            xb = x[first : first + n_ex]
            cb = None if cond is None else cond[first : first + n_ex]
            mu, logvar = self._encode(xb, cb)
            logw = [
                self._log_weights(xb, cb, mu, logvar, min(n_k, k - done), gen)
                for done in range(0, k, n_k)
            ]
            out.append(torch.logsumexp(torch.cat(logw), dim=0) - math.log(k))
    return torch.cat(out)


def log_weights(
    self: VAE,
    x: torch.Tensor,
    cond: torch.Tensor | None,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    n: int,
    gen: torch.Generator | None,
) -> torch.Tensor:
    """log p(x|z) + log p(z) − log q(z|x) for n draws z ~ q, shape (n, B)."""
    eps = randn((n, *mu.shape), gen, self.device)
    z = mu + (0.5 * logvar).exp() * eps  # (n, B, L)
    flat = z.reshape(-1, self.latent_dim)
    cond_rep = None if cond is None else cond.repeat(n, 1)
    out = self._decode_out(flat, cond_rep)
    log_px = self._log_px(x.repeat(n, 1, 1, 1), out).view(n, -1)
    return log_px + log_standard_normal(z) - log_diag_normal(z, mu, logvar)
