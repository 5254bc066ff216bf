"""Inpainting: sampling the missing pixels of a binary image given the observed ones.

By the Markov property (Besag, J. (1974). Spatial interaction and the statistical analysis of
lattice systems. *JRSS B* 36, 192-236), a missing pixel depends on the rest only through its
neighbours, so Gibbs sweeps over the missing pixels with the observed ones held fixed sample
``p(x_missing | x_observed)`` (Geman & Geman 1984).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    check_array,
    check_binary_spins,
    check_seed,
)
from lessons_lib.mrf._free_grid import _gibbs_free
from lessons_lib.mrf._validation import (
    _check_beta,
    _check_copies,
    _check_iterations,
    _check_real,
    _check_spins,
    _device_for,
    _float_tensor,
    _is_bool,
    _like,
)


def inpaint(
    image: ArrayLike,
    mask: ArrayLike,
    beta: float,
    h: float = 0.0,
    n_sweeps: int = 200,
    n_samples: int | None = None,
    seed: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> ArrayLike:
    """Fill the masked pixels by sampling the Ising prior conditioned on the observed ones.

    The prior is ``p(x) ∝ exp(β (Σ_{i~j} x_i x_j + h Σ_i x_i))`` with free boundaries (the
    parametrization of :func:`fit_pseudo_likelihood`). By the Markov property, a missing pixel
    depends on the rest only through its neighbours, so Gibbs sweeps over the missing pixels,
    with the observed ones held fixed, sample ``p(x_missing | x_observed)``.

    Parameters
    ----------
    image : array or Tensor, shape (H, W)
        ±1 where observed; values under ``mask`` are ignored (anything, NaN included: they are
        the pixels to fill). NaN or any value other than ±1 outside the mask is an error.
    mask : array or Tensor of bool, shape (H, W)
        True where the pixel is missing.
    beta : float, > 0
    h : float
        Field (in units of β).
    n_sweeps : int
        Gibbs sweeps from a random fill (1 to 10**7).
    n_samples : int, optional
        None: one image (H, W); an int: a batch (n_samples, H, W) of independent fills, with
        ``n_samples · H · W <= 2**31``.
    seed : int, optional

    Returns
    -------
    array or Tensor like ``image``, shape (H, W) or (n_samples, H, W)
    """
    if isinstance(image, np.ndarray | torch.Tensor) and _is_bool(image):
        _check_spins(image, "image")  # the error that explains how to map a boolean image
    # Non-finite values are allowed under the mask (they are what is filled), so finiteness is
    # checked on the observed pixels only.
    check_array(image, "image", ndim=2, kinds="fiu", finite=False)
    check_array(mask, "mask", shape=tuple(image.shape), kinds="b")
    beta = _check_beta(beta)
    h = _check_real(h, "h")
    n_sweeps = _check_iterations(n_sweeps, "n_sweeps")
    count = 1 if n_samples is None else _check_copies(n_samples, "n_samples", math.prod(mask.shape))
    check_seed(seed)
    missing_np = as_numpy(mask).astype(bool)
    _check_observed(as_numpy(image)[~missing_np])
    dev = _device_for(image, device)
    gen = make_generator(seed, dev)
    missing = torch.as_tensor(missing_np, device=dev)
    observed = torch.where(missing, 0.0, _float_tensor(image, dev))
    random_fill = torch.randint(0, 2, (count, *observed.shape), generator=gen, device=dev) * 2 - 1
    x = torch.where(missing, random_fill.float(), observed)
    # Local field β (n_i + h): passed as scale β on (1, h), so that β·h cannot overflow.
    field = torch.full(observed.shape, h, dtype=torch.float64, device=dev)
    temperatures = [1.0] * n_sweeps
    x, _ = _gibbs_free(
        x, field, 1.0, temperatures, gen, scale=beta, free=missing, progress=progress
    )
    return _like(x[0] if n_samples is None else x, image)


def _check_observed(observed_values: np.ndarray) -> None:
    """The observed pixels (where ``mask`` is False) must be finite ±1 spins."""
    if not observed_values.size:  # an all-missing image samples the prior: nothing to check
        return
    if not np.isfinite(observed_values).all():
        raise ValueError(
            "image has NaN or infinite values at observed pixels (where mask is False); "
            "only the pixels to fill (mask True) may hold NaN."
        )
    check_binary_spins(observed_values, "image (observed pixels, where mask is False)")
