r"""Denoising binary images with a Bernoulli VAE as the prior: posterior marginals under flip noise.

The VAE is the prior over clean images x; the noise flips each pixel independently with
probability p, as in the MRF denoising of notebook 05 (the MPM estimate of Marroquin, Mitter
& Poggio 1987). Given z the pixels are independent, so :math:`p(y \mid z)` is exact and
:math:`P(x_i = 1 \mid y) = E_{p(z \mid y)} P(x_i = 1 \mid y_i, z)` is estimated by the
adaptive importance sampling of :mod:`lessons_lib.vae.importance`. Bound as ``VAE.denoise``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch.nn import functional as F

from lessons_lib.core.loop import check_count
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import ArrayLike, check_probability, check_seed, like_input

if TYPE_CHECKING:
    from lessons_lib.vae.model import VAE

__all__ = ["denoise"]


def denoise(
    self: VAE,
    noisy: ArrayLike,
    noise_rate: float,
    labels: Any = None,
    *,
    k: int = 1000,
    n_rounds: int = 4,
    seed: int | None = None,
) -> ArrayLike:
    r"""Posterior marginals :math:`P(x_i = 1 \mid y)` of binary images seen through flip noise.

    With the decoder's :math:`\lambda_i(z)` and the flip probability :math:`p`,

    .. math::

        p(y_i \mid z) = (1-p)\,\lambda_i^{y_i} (1-\lambda_i)^{1-y_i}
            + p\,\lambda_i^{1-y_i} (1-\lambda_i)^{y_i},
        \qquad P(x_i = 1 \mid y_i, z) = \frac{\lambda_i\, p(y_i \mid x_i = 1)}
            {p(y_i \mid z)},

    and :math:`P(x_i = 1 \mid y) = E_{p(z \mid y)} P(x_i = 1 \mid y_i, z)`, estimated by
    the adaptive importance sampling of :meth:`inpaint` (``k`` draws, ``n_rounds`` rounds).
    Thresholding at 1/2 gives the restoration with the fewest expected wrong pixels under
    the model (the MPM estimate of notebook 05).

    Parameters
    ----------
    noisy : (N, C, H, W), binary 0/1
        The observed images y.
    noise_rate : float in (0, 0.5)
        The flip probability p.
    labels : int or Tensor (N,), optional
        Classes, for a conditional model (required there).
    k, n_rounds : int
    seed : int, optional
        None: a generator seeded from torch's global one.

    Returns
    -------
    (N, C, H, W) probabilities in [0, 1]; NumPy when ``noisy`` was NumPy.
    """
    if self.likelihood != "bernoulli":
        raise ValueError("denoise needs a Bernoulli VAE (binary images and flip noise).")
    p = check_probability(noise_rate, "noise_rate", low=0.0, high=0.5)
    k = check_count(k, "k", min_value=2)
    n_rounds = check_count(n_rounds, "n_rounds")
    check_seed(seed)
    y = self._images(noisy, "noisy")
    cond = self._onehot(labels, len(y))
    log_lik, marginal = _flip_noise_terms(y, p)
    gen = make_generator(seed, self.device)
    estimate, _, _ = self._adaptive_importance(y, cond, k, n_rounds, gen, log_lik, marginal)
    return like_input(estimate.clamp(0, 1), noisy)


def _flip_noise_terms(y: torch.Tensor, p: float):
    """``log_lik(out, n)``, log p(y | z) per draw, and ``marginal(out)``, P(x_i = 1 | y_i, z).

    In log space: with a tiny p, or lambda(z) rounded to exactly 0 or 1, the products
    underflow to 0 and log(0) = -inf for every draw would make every weight NaN.
    """
    log_keep, log_flip = math.log1p(-p), math.log(p)

    def pixel_terms(out: torch.Tensor, n: int):
        y_rep = y.repeat(n, 1, 1, 1) == 1
        keep = torch.full_like(out, log_keep)
        flip = torch.full_like(out, log_flip)
        log_like_one = torch.where(y_rep, keep, flip)  # log p(y_i | x_i = 1)
        log_like_zero = torch.where(y_rep, flip, keep)  # log p(y_i | x_i = 0)
        log_numerator = F.logsigmoid(out) + log_like_one  # log lambda p(y_i | x_i = 1)
        log_evidence = torch.logaddexp(log_numerator, F.logsigmoid(-out) + log_like_zero)
        return log_numerator, log_evidence  # log p(y_i | z) second

    def log_lik(out: torch.Tensor, n: int) -> torch.Tensor:
        return pixel_terms(out, n)[1].flatten(1).sum(1)

    def marginal(out: torch.Tensor) -> torch.Tensor:
        log_numerator, log_evidence = pixel_terms(out, len(out) // len(y))
        return torch.exp(log_numerator - log_evidence)

    return log_lik, marginal
