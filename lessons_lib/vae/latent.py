r"""The latent space of a VAE: reconstructions, paths between codes, and the rate per unit.

* :func:`reconstruct`: encode then decode (the autoencoder of Kingma & Welling 2014).
* :func:`interpolate`: decode a path between the codes of two images, straight or along a
  great circle (spherical interpolation, Shoemake 1985, as White 2016 recommends for a
  Gaussian prior, whose typical codes lie near a sphere).
* :func:`kl_per_dimension`: the KL of each latent unit, the *rate* per unit; a unit with
  KL ≈ 0 is *collapsed* (it carries no information about x; Burda et al. 2016 call such
  units inactive, and β > 1 collapses more of them, Higgins et al. 2017).

The functions taking ``self`` are bound as methods of :class:`~lessons_lib.vae.model.VAE`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from lessons_lib.core.loop import check_count
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    check_array,
    check_bool,
    check_elements,
    check_images,
    check_labels,
    check_one_of,
    check_seed,
    like_input,
)
from lessons_lib.vae.kl import standard_normal_kl
from lessons_lib.vae.numerics import randn

if TYPE_CHECKING:
    from lessons_lib.vae.model import VAE

__all__ = ["interpolate", "kl_per_dimension", "reconstruct", "slerp"]


def reconstruct(
    self: VAE,
    x: ArrayLike,
    labels: Any = None,
    *,
    sample_latent: bool = False,
    seed: int | None = None,
) -> ArrayLike:
    """Encode then decode: the decoder's mean at the encoder's mean (or a draw) of z.

    Parameters
    ----------
    x : (N, C, H, W) in [0, 1]
    labels : int or Tensor (N,), for a conditional model
    sample_latent : bool
        Decode a draw z ~ q(z | x) instead of its mean.
    seed : int, optional
        Seeds the draw of z (None: a generator seeded from torch's global one).

    Returns
    -------
    (N, C, H, W) in [0, 1], NumPy when ``x`` was NumPy
    """
    check_seed(seed)
    sample_latent = check_bool(sample_latent, "sample_latent")
    with torch.no_grad():
        xt = self._images(x, binary_check=False)
        cond = self._onehot(labels, len(xt))
        mu, logvar = self._encode(xt, cond)
        if sample_latent:
            gen = make_generator(seed, self.device)
            mu = mu + (0.5 * logvar).exp() * randn(mu.shape, gen, self.device)
        return like_input(torch.sigmoid(self._decode_out(mu, cond)), x)


def interpolate(
    self: VAE,
    x_start: ArrayLike,
    x_end: ArrayLike,
    n_steps: int = 8,
    labels: Any = None,
    *,
    method: str = "slerp",
) -> torch.Tensor:
    """Decode a path between the encoder means of two images.

    ``"linear"`` walks the straight line; ``"slerp"`` (default) follows a great circle,
    keeping the norm of z typical for the Gaussian prior (a straight line between two
    typical codes passes through the unusually small norms near 0).

    Parameters
    ----------
    x_start, x_end : (1, C, H, W) or (C, H, W)
    n_steps : int
    labels : int or (1,) ints, optional (conditional model: the class of the path)

    Returns
    -------
    Tensor, shape (n_steps, C, H, W)
    """
    n_steps = check_count(n_steps, "n_steps", min_value=2)
    check_elements(n_steps * self.n_pixels, "n_steps")
    check_one_of(method, "method", ("linear", "slerp"))
    if isinstance(labels, torch.Tensor | np.ndarray):
        check_labels(labels, "labels", n=1, n_classes=self.n_classes)
        labels = int(labels[0])  # one class for the whole path
    a, b = (
        _code_of_one(self, x, name, labels) for name, x in (("x_start", x_start), ("x_end", x_end))
    )
    t = torch.linspace(0, 1, n_steps, device=self.device, dtype=self.dtype)[:, None]
    # A zero code has no direction: slerp is then the straight line.
    if method == "linear" or float(a.norm()) == 0.0 or float(b.norm()) == 0.0:
        z = (1 - t) * a + t * b
    else:
        z = slerp(a, b, t)
    with torch.no_grad():
        return self.decode(z, self.sample_labels(n_steps) if labels is None else labels)


def _code_of_one(self: VAE, x: ArrayLike, name: str, labels: Any) -> torch.Tensor:
    """The encoder mean of one image given as (C, H, W) or (1, C, H, W), shape (L,)."""
    check_array(x, name, ndim=(3, 4), kinds="f")
    x = x[None] if x.ndim == 3 else x
    if len(x) != 1:
        raise ValueError(f"{name} must be one image, got a batch of {len(x)}.")
    if tuple(x.shape[1:]) != self.data_shape:
        raise ValueError(
            f"{name} must be one ({', '.join(map(str, self.data_shape))}) image for "
            f"this model, got shape {tuple(x.shape)}."
        )
    check_images(x, name)
    return self.encode(x, labels)[0][0]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from ``a`` to ``b`` (L,) at times ``t`` (T, 1), norms linear."""
    omega = torch.arccos(F.cosine_similarity(a, b, dim=0).clamp(-1 + 1e-6, 1 - 1e-6))
    norms = (1 - t) * a.norm() + t * b.norm()
    unit = torch.sin((1 - t) * omega) * a / a.norm() + torch.sin(t * omega) * b / b.norm()
    return norms * unit / torch.sin(omega)


def kl_per_dimension(self: VAE, x: ArrayLike, labels: Any = None) -> torch.Tensor:
    """Mean KL of each latent dimension over the batch, shape (L,): the *rate* per unit.

    A dimension with KL ≈ 0 carries no information about x (it is *collapsed*).
    """
    with torch.no_grad():
        mu, logvar = self.encode(x, labels)
        return standard_normal_kl(mu, logvar).mean(0)
