"""The pixel grid with free (non-periodic) boundaries, and Gibbs sweeps on it.

Denoising, inpainting, learning and segmentation all work on an image's 4-neighbour grid
without wrap-around: neighbour sums, the two checkerboard colours, and checkerboard Gibbs sweeps
of ``exp(-E(x) / T)`` with a Rao–Blackwellized marginal estimate (Geman & Geman 1984; Gelfand,
A. E. and Smith, A. F. M. (1990). Sampling-based approaches to calculating marginal densities.
*JASA* 85, 398-409).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from lessons_lib.core.progress import progress_bar


def _free_pairs_sum(x: torch.Tensor) -> torch.Tensor:
    """Σ_{i~j} x_i x_j over 4-neighbour pairs inside the image (free boundaries), per image."""
    vertical = (x[..., 1:, :] * x[..., :-1, :]).sum(dim=(-2, -1))
    horizontal = (x[..., :, 1:] * x[..., :, :-1]).sum(dim=(-2, -1))
    return vertical + horizontal


def _free_neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """Σ_{j~i} x_j for every pixel, free boundaries (edge pixels have fewer neighbours)."""
    total = torch.zeros_like(x)
    total[..., 1:, :] += x[..., :-1, :]
    total[..., :-1, :] += x[..., 1:, :]
    total[..., :, 1:] += x[..., :, :-1]
    total[..., :, :-1] += x[..., :, 1:]
    return total


def _free_colour_masks(height: int, width: int, device: torch.device) -> list[torch.Tensor]:
    """The two checkerboard colours (a proper colouring of the grid with free boundaries)."""
    parity = torch.as_tensor(np.add.outer(np.arange(height), np.arange(width)) % 2, device=device)
    return [parity == 0, parity == 1]


def _unit_scale(pair: float, field: torch.Tensor) -> tuple[float, float, torch.Tensor]:
    """``(s, pair / s, field / s)`` with ``s = max(|pair|, max |field|)`` (1 if both are 0).

    The local field ``pair · n_i + f_i`` is then ``s`` times a float64 number of magnitude at
    most 5, computed without overflow whatever β and η are: its sign is what ICM needs, and the
    Gibbs logit multiplies it by ``2s / T`` with an exact zero kept as zero (the limit ½).
    """
    field = field.to(torch.float64)
    scale = max(abs(pair), float(field.abs().max())) if field.numel() else abs(pair)
    scale = scale or 1.0
    return scale, pair / scale, field / scale


def _gibbs_free(
    x: torch.Tensor,
    field: torch.Tensor,
    beta: float,
    temperatures: Sequence[float],
    gen: torch.Generator,
    *,
    scale: float = 1.0,
    free: torch.Tensor | None = None,
    accumulate: bool = False,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Checkerboard Gibbs sweeps of ``exp(-E(x) / T)`` on a free-boundary grid, one per T.

    ``E(x) = -scale · (β Σ x_i x_j + Σ_i f_i x_i)`` with ``f = field``. Only sites where ``free``
    is true change. With ``accumulate``, also returns the Rao–Blackwellized estimate of
    ``P(x_i = +1)``: the mean over sweeps of each site's conditional probability.

    The conditional ``σ(2 scale (β n_i + f_i) / T)`` is computed from the unit-scaled local field
    (:func:`_unit_scale`) times ``2 · scale · s / T`` (in log space, +inf when it overflows): a
    huge β or scale gives the exact limits 0, 1, or ½ for a zero local field.
    """
    s, pair, unit_field = _unit_scale(beta, field)
    log_gain = math.log(2.0 * s) + math.log(scale)
    masks = _free_colour_masks(x.shape[-2], x.shape[-1], x.device)
    if free is not None:
        masks = [mask & free for mask in masks]
    total = torch.zeros_like(x) if accumulate else None
    for temperature in progress_bar(temperatures, desc="Gibbs sweeps", enabled=bool(progress)):
        exponent = log_gain - math.log(temperature)
        gain = math.exp(exponent) if exponent < 700.0 else math.inf
        for mask in masks:
            local = pair * _free_neighbour_sum(x).to(torch.float64) + unit_field
            logit = torch.where(local == 0, 0.0, local * gain)
            prob_plus = torch.sigmoid(logit).to(x.dtype)
            uniform = torch.rand(x.shape, generator=gen, device=x.device)
            x = torch.where(mask, torch.where(uniform < prob_plus, 1.0, -1.0), x).to(x.dtype)
            if total is not None:
                total += torch.where(mask, prob_plus, 0.0)
    if total is not None:
        total /= max(len(temperatures), 1)
    return x, total
