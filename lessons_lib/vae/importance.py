r"""Adaptive importance sampling of a VAE's posterior given partial or noisy evidence.

Given z the pixels are independent, so the likelihood :math:`p(e \mid z)` of evidence e (the
observed pixels of an image, or a noisy copy of it) is exact, and posterior expectations

.. math::

    E[f \mid e] = \frac{\int f(z)\, p(e \mid z)\, p(z)\, dz}{\int p(e \mid z)\, p(z)\, dz}

are estimated by self-normalised importance sampling. The proposal starts from the encoder
and is refitted each round to the weighted draws (a Gaussian matched to their moments, as in
population Monte Carlo, Cappé et al. 2004); the weights use the exact likelihood, as in the
importance-weighted imputation of Mattei & Frellsen (2019, MIWAE). Bound as
``VAE._adaptive_importance``; used by completion and denoising.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from lessons_lib.vae.kl import log_diag_normal, log_standard_normal
from lessons_lib.vae.numerics import BLOCK_ELEMENTS, randn

if TYPE_CHECKING:
    from lessons_lib.vae.model import VAE

__all__ = ["adaptive_importance"]

LogLik = Callable[[torch.Tensor, int], torch.Tensor]


def adaptive_importance(
    self: VAE,
    start: torch.Tensor,
    cond: torch.Tensor | None,
    k: int,
    n_rounds: int,
    gen: torch.Generator | None,
    log_lik: LogLik,
    value: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Self-normalised importance sampling of the posterior p(z | evidence), adapted.

    ``log_lik(out, n)`` is the log-likelihood of the evidence given the decoder outputs of
    ``n`` draws for each image, shape (n·N,); ``value(out)`` is the quantity averaged
    under the posterior, shape (n·N, C, H, W). Round 0 proposes from the encoder on
    ``start`` with its variance doubled; each later round proposes from a Gaussian
    matched to the previous round's weighted draws (variance doubled again, so the
    proposal stays wider than the target). The last round's weights give the estimates.

    Returns
    -------
    estimate : (N, C, H, W), log_evidence : (N,), ess : (N,)
    """
    n_images = len(start)
    with torch.no_grad():
        mu, logvar = self._encode(start, cond)
        logvar = logvar + math.log(2.0)
        n_k = max(1, min(k, BLOCK_ELEMENTS // (self.n_pixels * n_images)))
        for _ in range(n_rounds):
            logw, z, values = _weighted_draws(self, mu, logvar, cond, k, n_k, gen, log_lik, value)
            weights = torch.softmax(logw, dim=0)
            mu = (weights[..., None] * z).sum(0)
            var = (weights[..., None] * (z - mu) ** 2).sum(0)
            logvar = (2.0 * var + 1e-6).log()
        estimate = (weights[..., None, None, None] * values).sum(0)  # (N, C, H, W)
        log_evidence = torch.logsumexp(logw, 0) - math.log(k)
        ess = 1.0 / (weights**2).sum(0)
    return estimate, log_evidence, ess


def _weighted_draws(
    self: VAE,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    cond: torch.Tensor | None,
    k: int,
    n_k: int,
    gen: torch.Generator | None,
    log_lik: LogLik,
    value: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """k draws z ~ N(mu, exp(logvar)), in blocks of n_k.

    Returns the log-weights (k, N), the draws (k, N, L) and the values (k, N, C, H, W).
    """
    logws, values, zs = [], [], []
    for done in range(0, k, n_k):
        n = min(n_k, k - done)
        z = mu + (0.5 * logvar).exp() * randn((n, *mu.shape), gen, self.device)
        cond_rep = None if cond is None else cond.repeat(n, 1)
        out = self._decode_out(z.reshape(-1, self.latent_dim), cond_rep)
        logws.append(
            log_lik(out, n).view(n, -1) + log_standard_normal(z) - log_diag_normal(z, mu, logvar)
        )
        values.append(value(out).view(n, len(mu), *out.shape[1:]))
        zs.append(z)
    return torch.cat(logws), torch.cat(zs), torch.cat(values)
