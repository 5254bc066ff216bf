"""``IsingPrior``: the Ising model as a prior over binary images, with the course's model face.

The functions of :mod:`lessons_lib.mrf` work on ±1 spins of one lattice ``(H, W)``; this class
wraps them for batches of binary images in ``{0, 1}`` (ink = 1) as every other model of the
course sees them, ``(N, 1, H, W)``:

* :meth:`IsingPrior.fit` estimates ``(β, h)`` by maximum pseudo-likelihood (Besag 1975) on
  the spins ``s = 2x - 1``;
* :meth:`IsingPrior.inpaint` is the one inpainting face (:mod:`lessons_lib.core.inpainting`):
  ``mask`` True where observed, the shape of ``x`` kept, and each missing pixel filled with
  its probability of ink ``P(x_i = 1 | x_observed)``, a Monte Carlo average over independent
  Gibbs completions (Geman & Geman 1984) -- the completion with the least expected squared
  error under the prior, as the Gaussian, the GMM and the VAE return theirs;
* :meth:`IsingPrior.sample` draws images from the prior (free boundaries).

The prior is ``p(x) ∝ exp(β (Σ_{i~j} s_i s_j + h Σ_i s_i))`` over 4-neighbour pairs with free
boundaries: the parametrization of :func:`~lessons_lib.mrf.fit_pseudo_likelihood` and
:func:`~lessons_lib.mrf.inpaint`. It has no tractable likelihood (its partition function is
a sum over ``2^(H·W)`` images), so it offers no ``log_prob``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.inpainting import as_flat_rows, restore_shape
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    as_tensor,
    check_array,
    check_bool,
    check_int,
    check_one_of,
    check_seed,
    like_input,
)
from lessons_lib.mrf._validation import _check_beta, _check_iterations, _check_real
from lessons_lib.mrf.inpaint import inpaint as _inpaint_spins
from lessons_lib.mrf.learning import fit_pseudo_likelihood

__all__ = ["IsingPrior"]


def _check_binary(values: np.ndarray, name: str) -> None:
    if not np.isin(values, (0, 1)).all():
        shown = np.unique(values[~np.isin(values, (0, 1))])[:3]
        raise ValueError(
            f"{name} must be binary images with values 0 or 1 (ink = 1); found "
            f"{', '.join(f'{v:g}' for v in shown)}. Binarize with (images > 0.5), or map ±1 "
            "spins with (s + 1) / 2."
        )


def _image_batch(images: Any, name: str) -> np.ndarray:
    """(H, W), (N, H, W) or (N, 1, H, W) binary images as a float64 (N, H, W) array."""
    check_array(images, name, ndim=(2, 3, 4), kinds="iuf")
    if images.ndim == 4 and images.shape[1] != 1:
        raise ValueError(
            f"{name} must have one channel when 4-D (N, 1, H, W), got shape {tuple(images.shape)}."
        )
    values = as_numpy(images).astype(np.float64)
    _check_binary(values, name)
    return values.reshape(-1, *values.shape[-2:])


class IsingPrior:
    """An Ising prior over binary images, fitted by pseudo-likelihood.

    Parameters
    ----------
    boundary : {"free"}
        Neighbourhoods of edge pixels (inside the image only, as in drawings and photos).
    device : torch.device or str, optional
        Where the Gibbs sweeps run; default cuda > mps > cpu.

    Attributes
    ----------
    beta_ : float
        The coupling β (> 0).
    h_ : float
        The field, in units of β (``h_ > 0`` favours ink).
    image_shape_ : tuple (H, W)

    Examples
    --------
    >>> prior = IsingPrior(device="cpu").fit(binary_images)       # (N, 1, H, W) in {0, 1}
    >>> p_ink = prior.inpaint(images, mask, seed=0)              # mask True where observed
    """

    def __init__(self, boundary: str = "free", *, device: torch.device | str | None = None):
        self.boundary = check_one_of(boundary, "boundary", ("free",))
        self.device = resolve_device(device)

    @classmethod
    def from_parameters(
        cls,
        beta: float,
        h: float = 0.0,
        *,
        image_shape: tuple[int, int],
        device: torch.device | str | None = None,
    ) -> IsingPrior:
        """A prior with the given ``beta`` (> 0), ``h`` and ``image_shape`` (H, W), unfitted."""
        model = cls(device=device)
        if not isinstance(image_shape, tuple | list) or len(image_shape) != 2:
            raise ValueError(f"image_shape must be (H, W), got {image_shape!r}.")
        height, width = (check_int(v, "image_shape", min_value=1) for v in image_shape)
        model._set(_check_beta(beta), _check_real(h, "h"), (height, width))
        return model

    def _set(self, beta: float, h: float, image_shape: tuple[int, int]) -> None:
        self.beta_, self.h_, self.image_shape_ = beta, h, image_shape

    def _check_fitted(self) -> None:
        if not hasattr(self, "beta_"):
            raise RuntimeError(
                "This IsingPrior is not fitted yet: call fit(images) or build it with "
                "IsingPrior.from_parameters(beta, h, image_shape=(H, W))."
            )

    def fit(self, images: ArrayLike) -> IsingPrior:
        """Estimate ``(β, h)`` by maximum pseudo-likelihood.

        Parameters
        ----------
        images : array or Tensor, shape (N, 1, H, W), (N, H, W) or (H, W), values 0 or 1

        Returns
        -------
        self
        """
        batch = _image_batch(images, "images")
        beta, h = fit_pseudo_likelihood(2.0 * batch - 1.0, boundary=self.boundary)
        self._set(beta, h, tuple(batch.shape[-2:]))
        return self

    def inpaint(
        self,
        x: ArrayLike,
        mask: ArrayLike,
        *,
        n_sweeps: int = 100,
        n_samples: int = 50,
        seed: int | None = None,
        progress: bool = False,
    ) -> ArrayLike:
        """The probability of ink at every missing pixel, given the observed ones.

        Parameters
        ----------
        x : array or Tensor, shape (N, 1, H, W), (N, H, W) or flat (N, H·W)
            0 or 1 where observed; values at missing pixels are ignored (NaN allowed).
        mask : bool, the shape of ``x`` or of one image
            True where a pixel is observed.
        n_sweeps : int
            Gibbs sweeps per completion, from a random fill.
        n_samples : int
            Independent completions averaged per image.
        seed : int, optional
            One seed for the whole batch (each image gets its own stream from it).

        Returns
        -------
        array or Tensor like ``x`` (float32, same shape)
            ``x`` where observed; ``P(x_i = 1 | x_observed)`` where missing.
        """
        self._check_fitted()
        height, width = self.image_shape_
        rows, mask_rows = as_flat_rows(x, mask, height * width, name="x")
        n_sweeps = _check_iterations(n_sweeps, "n_sweeps")
        n_samples = check_int(n_samples, "n_samples", min_value=1)
        check_seed(seed)
        check_bool(progress, "progress")
        values = as_numpy(rows).astype(np.float64)
        observed = np.broadcast_to(as_numpy(mask_rows), values.shape)
        _check_binary(values[observed], "x (at observed pixels, where mask is True)")
        image_seeds = torch.randint(2**62, (len(values),), generator=make_generator(seed))
        filled = np.where(observed, values, 0.0)
        for i, (row, seen) in enumerate(zip(values, observed, strict=True)):
            if seen.all():
                continue  # nothing to fill: no sweeps
            spins = np.where(seen, 2.0 * row - 1.0, 0.0).reshape(height, width)
            fills = _inpaint_spins(
                spins,
                ~seen.reshape(height, width),
                self.beta_,
                self.h_,
                n_sweeps=n_sweeps,
                n_samples=n_samples,
                seed=int(image_seeds[i]),
                device=self.device,
                progress=progress,
            )
            ink = ((as_numpy(fills) + 1.0) / 2.0).mean(0).reshape(-1)
            filled[i] = np.where(seen, row, ink)
        result = torch.from_numpy(filled.astype(np.float32))
        if isinstance(x, torch.Tensor):
            result = result.to(x.device)
        return restore_shape(like_input(result, x), x)

    def sample(self, n: int, *, n_sweeps: int = 200, seed: int | None = None) -> torch.Tensor:
        """``n`` images drawn from the prior by Gibbs sampling, shape (n, 1, H, W), values 0/1.

        Each image starts from random pixels and runs ``n_sweeps`` sweeps: near and above the
        critical coupling, far more sweeps are needed to mix (see notebook 04).
        """
        self._check_fitted()
        height, width = self.image_shape_
        n = check_int(n, "n", min_value=1)
        if n * height * width > 2**31:
            raise ValueError(f"n = {n} images of {height}×{width} exceed 2**31 pixels.")
        spins = _inpaint_spins(
            np.zeros((height, width)),
            np.ones((height, width), dtype=bool),
            self.beta_,
            self.h_,
            n_sweeps=_check_iterations(n_sweeps, "n_sweeps"),
            n_samples=n,
            seed=check_seed(seed),
            device=self.device,
        )
        images = (as_tensor(spins, dtype=torch.float32, device=self.device) + 1.0) / 2.0
        return images.reshape(n, 1, height, width)

    def __repr__(self) -> str:
        if not hasattr(self, "beta_"):
            return f"IsingPrior(boundary={self.boundary!r}) (not fitted)"
        return (
            f"IsingPrior(beta={self.beta_:.4g}, h={self.h_:.4g}, "
            f"image_shape={self.image_shape_}, device={self.device})"
        )
