"""The latent space: draws of z, the truncation trick, and paths between two latents.

* :math:`z \\sim \\mathcal N(0, I)`, drawn on the CPU from a seeded generator, so the same seed
  gives the same z on every device (Goodfellow et al., 2014).
* The truncation trick (Brock et al., 2019, BigGAN; Marchesi, 2017): every coordinate drawn
  from the standard normal conditioned on :math:`|z_j| \\le t`, exactly, by the inverse CDF.
* Spherical interpolation (slerp, White, 2016, "Sampling generative networks"), which keeps
  the norm typical of Gaussian latents, and the straight line for comparison.
"""

from __future__ import annotations

import math

import torch

from lessons_lib.core.loop import check_count
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    as_tensor,
    check_array,
    check_elements,
    check_fits_dtype,
    check_one_of,
    like_input,
)

__all__ = ["interpolate_latents"]


def _draw_latents(
    n: int, latent_dim: int, seed: int | None, truncation: float | None
) -> torch.Tensor:
    """(n, latent_dim) float32 draws on the CPU (arguments already checked)."""
    gen = make_generator(seed)
    if truncation is None:
        return torch.randn(n, latent_dim, generator=gen)
    return _truncated_normal((n, latent_dim), truncation, gen)


def _truncated_normal(shape: tuple[int, ...], limit: float, gen: torch.Generator) -> torch.Tensor:
    """Standard normal draws conditioned on ``|z| <= limit``, float32, by the inverse CDF.

    :math:`z = \\sqrt2\\,\\mathrm{erf}^{-1}(v\\,\\mathrm{erf}(t/\\sqrt2))` with
    :math:`v \\sim U(-1, 1)`: ``math.erf`` keeps full relative precision for tiny t (no
    ``Phi(t) - Phi(-t)`` cancellation), and the work is the same for every t.
    """
    mass = math.erf(limit / math.sqrt(2.0))  # P(|Z| <= t)
    v = 2.0 * torch.rand(shape, generator=gen, dtype=torch.float64) - 1.0  # [-1, 1)
    z = math.sqrt(2.0) * torch.special.erfinv(v * mass)
    # erfinv(-1) = -inf (v = -1 when t is large, probability 2**-53); float64 resolution ends
    # near |z| = 8.3 anyway, so 9 is a bound no real draw reaches.
    bound = min(limit, 9.0)
    z = z.clamp(-bound, bound).to(torch.float32)
    # The float32 rounding of a value <= t may exceed t: clamp to the largest float32 <= t.
    top = torch.tensor(bound, dtype=torch.float32)
    if float(top) > bound:
        top = torch.nextafter(top, torch.zeros((), dtype=torch.float32))
    return torch.minimum(torch.maximum(z, -top), top)


def interpolate_latents(
    z0: torch.Tensor, z1: torch.Tensor, n_steps: int, *, method: str = "slerp"
) -> torch.Tensor:
    """Points between two latent vectors, shape (n_steps, latent_dim), ends included.

    ``"slerp"`` (spherical) keeps the norm typical of :math:`\\mathcal N(0, I)` samples,
    which concentrate near the sphere of radius :math:`\\sqrt{d}`; ``"linear"`` cuts through
    the middle, where the midpoint of two independent draws has norm about
    :math:`\\sqrt{d/2}`, a latent the generator almost never saw. When one end is the zero
    vector (no direction) slerp is the straight line; when the two point in exactly opposite
    directions, no great circle is singled out and slerp raises a ``ValueError``.

    Parameters
    ----------
    z0, z1 : Tensor, shape (latent_dim,)
    n_steps : int
        At least 2.
    method : {"slerp", "linear"}
    """
    check_array(z0, "z0", ndim=1, kinds="f")
    check_array(z1, "z1", shape=(len(z0),), kinds="f")
    check_fits_dtype(z0, "z0", torch.float32)  # the path is float32
    check_fits_dtype(z1, "z1", torch.float32)
    n_steps = check_count(n_steps, "n_steps", min_value=2)
    check_elements(n_steps * len(z0), "n_steps")
    check_one_of(method, "method", ("slerp", "linear"))
    a = as_tensor(z0, dtype=torch.float64)
    b = as_tensor(z1, dtype=torch.float64, device=a.device)
    t = torch.linspace(0, 1, n_steps, dtype=torch.float64, device=a.device)[:, None]
    # float32-range values square safely in float64; a zero vector has no direction.
    norm_a, norm_b = float(a.norm()), float(b.norm())
    degenerate = norm_a == 0.0 or norm_b == 0.0
    cos = torch.clamp((a / max(norm_a, 1e-300)) @ (b / max(norm_b, 1e-300)), -1.0, 1.0)
    omega = torch.arccos(cos)
    if method == "slerp" and not degenerate and float(omega) > math.pi - 1e-6:
        raise ValueError(
            "z0 and z1 point in opposite directions: every great circle joins them, so the "
            "spherical path is undefined. Use method='linear' or another pair of latents."
        )
    if method == "linear" or degenerate or float(omega) < 1e-6:
        path = (1 - t) * a + t * b
    else:
        path = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    return like_input(path.to(torch.float32), z0)
