r"""The decoder's pixel likelihoods :math:`p_\theta(x \mid z)`: Bernoulli and Gaussian.

Given z the pixels are independent (Kingma & Welling 2014, Appendix C):

* ``"bernoulli"``: :math:`x_i \sim \mathrm{Bernoulli}(\sigma(o_i))` for binary images, a
  probability *mass* (its log is ≤ 0), computed from the logits :math:`o` with
  ``binary_cross_entropy_with_logits`` so that it never takes the log of 0;
* ``"gaussian"``: :math:`x_i \sim \mathcal N(\sigma(o_i), s_i^2)` for grey levels, a
  *density*, with a learned per-pixel standard deviation
  :math:`s_i = s_{\min} + \mathrm{softplus}(r_i)` whose floor stops it collapsing on pixels
  that are always 0 (a Gaussian density on such a pixel is unbounded).

Because the pixels are independent given z, the likelihood of the observed pixels alone is
the product over them: what exact completion and denoising use.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from lessons_lib.vae.kl import LOG_2PI

__all__ = [
    "LIKELIHOODS",
    "draw_pixels",
    "initial_raw_std",
    "pixel_log_prob",
    "pixel_std",
]

LIKELIHOODS = ("bernoulli", "gaussian")


def initial_raw_std(min_std: float) -> float:
    """The unconstrained parameter r that starts the Gaussian's std near s = 0.1."""
    return math.log(math.expm1(max(0.1 - min_std, 1e-3)))


def pixel_std(raw_std: torch.Tensor, min_std: float) -> torch.Tensor:
    """The Gaussian likelihood's per-pixel standard deviation ``min_std + softplus(raw)``."""
    return min_std + F.softplus(raw_std)


def pixel_log_prob(
    likelihood: str, x: torch.Tensor, out: torch.Tensor, std: torch.Tensor | None
) -> torch.Tensor:
    """log p(x_i | z) of every pixel from the decoder's logits ``out``, shape of ``x``.

    ``std`` is the Gaussian's per-pixel standard deviation (None for a Bernoulli).
    """
    if likelihood == "bernoulli":
        return -F.binary_cross_entropy_with_logits(out, x, reduction="none")
    return -0.5 * ((x - torch.sigmoid(out)) / std) ** 2 - std.log() - 0.5 * LOG_2PI


def draw_pixels(
    likelihood: str,
    out: torch.Tensor,
    std: torch.Tensor | None,
    noise: bool,
    gen: torch.Generator | None,
) -> torch.Tensor:
    """Decoder logits → image: the mean :math:`E[x \\mid z]`, or a draw from the likelihood."""
    mean = torch.sigmoid(out)
    if not noise:
        return mean
    if likelihood == "bernoulli":
        return torch.bernoulli(mean, generator=gen)
    draw = mean + std * torch.randn(mean.shape, generator=gen, device=mean.device)
    # The Gaussian puts some mass outside [0, 1]; clip so the result is a valid image.
    return draw.clamp(0.0, 1.0)
