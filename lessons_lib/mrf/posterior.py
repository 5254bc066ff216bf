"""The denoising posterior: flip noise, its energy, and its exact enumeration.

A binary image ``y`` observed through flip noise of rate ``p`` under an Ising prior has the
posterior ``p(x | y) ∝ exp(-E(x))`` with::

    E(x) = -β Σ_{i~j} x_i x_j - η Σ_i x_i y_i,      η = ½ ln((1 - p) / p)

over 4-neighbour pairs with free boundaries (Geman & Geman 1984; Besag, J. (1986). On the
statistical analysis of dirty pictures. *JRSS B* 48, 259-302; Greig, Porteous & Seheult 1989).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    check_probability,
    check_seed,
)
from lessons_lib.mrf._free_grid import _free_pairs_sum
from lessons_lib.mrf._validation import (
    _MAX_EXACT_SITES,
    _check_beta,
    _check_image,
    _check_spins,
    _finite_or_refuse,
    _float_tensor,
    _like,
)
from lessons_lib.mrf.ising import _exact_summary, _to_float, spin_configurations


def noise_coupling(noise_rate: float) -> float:
    """``η = ½ ln((1 - p) / p)``: how strongly a pixel of flip noise of rate ``p`` is trusted.

    Under flip noise, ``p(y_i | x_i) = (1 - p)`` if ``y_i = x_i`` else ``p``, which equals
    ``exp(η x_i y_i) / (2 cosh η)``.
    """
    p = check_probability(noise_rate, "noise_rate", low=0.0, high=0.5)
    # (1 - p) / p overflows for a subnormal p, and the log of a ratio near 1 loses digits as
    # p → ½: use ½ (log1p(-p) - log p) for small p and atanh(1 - 2p) (1 - 2p is exact there).
    if p < 0.25:
        return 0.5 * (math.log1p(-p) - math.log(p))
    return math.atanh(1.0 - 2.0 * p)


def _check_denoise_args(noisy: Any, beta: Any, noise_rate: Any) -> tuple[float, float]:
    _check_image(noisy, "noisy")
    return _check_beta(beta), noise_coupling(noise_rate)


def denoise_energy(x: ArrayLike, noisy: ArrayLike, beta: float, noise_rate: float) -> float:
    """The posterior energy every denoising method minimizes.

    ``E(x) = -β Σ_{i~j} x_i x_j - η Σ_i x_i y_i`` over 4-neighbour pairs with free (non-periodic)
    boundaries, ``η = ½ ln((1 - p) / p)``; ``p(x | y) ∝ exp(-E(x))``.

    Parameters
    ----------
    x, noisy : array or Tensor, shape (H, W)
        ±1 images (a candidate clean image and the observation ``y``).
    beta : float, > 0
    noise_rate : float in (0, 0.5)

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Non-binary images of different shapes, ``beta <= 0``, ``noise_rate`` outside (0, 0.5),
        or an energy beyond float64's range (``beta`` near 1e308 times the number of pairs:
        no finite answer exists).
    """
    beta, eta = _check_denoise_args(noisy, beta, noise_rate)
    _check_image(x, "x")
    if tuple(x.shape) != tuple(noisy.shape):
        raise ValueError(f"x has shape {tuple(x.shape)} but noisy has {tuple(noisy.shape)}.")
    x_t = _float_tensor(x, torch.device("cpu"), torch.float64)
    y_t = _float_tensor(noisy, torch.device("cpu"), torch.float64)
    scale = max(beta, eta)  # scaled first: it overflows only if the energy is beyond float64
    pairs, agreement = float(_free_pairs_sum(x_t)), float((x_t * y_t).sum())
    energy = scale * (-(beta / scale) * pairs - (eta / scale) * agreement)
    return _finite_or_refuse(energy, "the energy", f"beta={beta!r} (η = {eta:.4g})")


def flip_noise(image: ArrayLike, noise_rate: float, seed: int | None = None) -> ArrayLike:
    """Flip each pixel of a ±1 image independently with probability ``noise_rate``.

    Parameters
    ----------
    image : array or Tensor, shape (..., H, W), values ±1
    noise_rate : float in [0, 1]
    seed : int, optional

    Returns
    -------
    The noisy image, same type, shape and dtype.

    Raises
    ------
    TypeError
        A boolean image (map it with ``2 * x - 1``), a non-numeric rate, a float seed.
    ValueError
        Fewer than 2 dimensions, values other than ±1, ``noise_rate`` outside [0, 1].
    """
    _check_spins(image, "image")
    if image.ndim < 2:  # a 1-D "image" is most likely a flattened one: refuse, do not guess
        raise ValueError(
            f"image must have shape (..., H, W) (at least 2 dimensions), got shape "
            f"{tuple(image.shape)}; reshape a flattened image to (H, W) first."
        )
    p = check_probability(noise_rate, "noise_rate", inclusive=True)
    check_seed(seed)
    dev = image.device if isinstance(image, torch.Tensor) else torch.device("cpu")
    gen = make_generator(seed, dev)
    x = _float_tensor(image, dev)
    flips = torch.rand(x.shape, generator=gen, device=dev) < p
    return _like(torch.where(flips, -x, x), image)


def denoise_exact(noisy: ArrayLike, beta: float, noise_rate: float) -> dict[str, Any]:
    """Exact posterior of a tiny noisy image (at most 20 pixels), by enumeration.

    Returns
    -------
    dict with ``map`` (H, W) the minimum-energy image, ``min_energy``, ``marginals`` (H, W)
    ``P(x_i = +1 | y)``, ``log_partition`` and ``probabilities`` (2**N,) over
    ``spin_configurations(N)``.

    Raises
    ------
    ValueError
        Over 20 pixels, a non-binary image, ``beta <= 0``, ``noise_rate`` outside (0, 0.5), or
        ``log_partition`` / ``min_energy`` beyond float64's range (``beta`` near 1e308 times
        the number of pairs: no finite answer exists).
    """
    beta, eta = _check_denoise_args(noisy, beta, noise_rate)
    height, width = noisy.shape
    if height * width > _MAX_EXACT_SITES:
        raise ValueError(
            f"noisy has {height * width} pixels; exact enumeration is limited to "
            f"{_MAX_EXACT_SITES} (use min_cut_map for the exact MAP of a larger image)."
        )
    states = spin_configurations(height * width).reshape(-1, height, width)
    y = np.where(as_numpy(noisy) > 0, 1, -1).astype(np.int64)
    # -E(x) = β P + η S with integer P = Σ_{i~j} x_i x_j and S = Σ_i x_i y_i.
    pairs = (states[:, 1:] * states[:, :-1]).sum(axis=(-2, -1), dtype=np.int64)
    pairs += (states[:, :, 1:] * states[:, :, :-1]).sum(axis=(-2, -1), dtype=np.int64)
    agreement = (states * y).sum(axis=(-2, -1), dtype=np.int64)
    summary, values, level = _exact_summary(
        states, np.stack([pairs, agreement], axis=1), [Fraction(beta), Fraction(eta)]
    )
    best_level = max(range(len(values)), key=values.__getitem__)
    best = int(np.flatnonzero(level == best_level)[0])  # the first minimum-energy state
    culprits = f"beta={beta!r} (η = {eta:.4g})"
    _finite_or_refuse(summary["log_partition"], "log_partition (log Z)", culprits)
    min_energy = _finite_or_refuse(_to_float(-values[best_level]), "min_energy", culprits)
    summary.update(map=states[best].astype(np.float64), min_energy=min_energy)
    return summary
