"""Colour transfer between images through Gaussian mixtures of their colours.

Each source component's Gaussian is carried exactly onto its partner in the target by the
affine map :math:`x \\mapsto \\mu'_k + L'_k L_k^{-1} (x - \\mu_k)` (Cholesky factors), and the
maps are blended by the responsibilities. With one component this is the mean-and-covariance
colour transfer of Reinhard et al. (2001, "Color transfer between images"), in full
covariance; with several it follows the mixture-based transfer of Tai, Jia & Tang (2005,
"Local color transfer via probabilistic segmentation by expectation-maximization").
"""

from __future__ import annotations

import torch

from lessons_lib.core.validation import ArrayLike, as_tensor, check_array
from lessons_lib.density._inputs import check_finite_result, like
from lessons_lib.density.em import full_covariances
from lessons_lib.density.gmm import GaussianMixture

__all__ = ["transfer_colours"]


def _dense_covariances(model: GaussianMixture) -> torch.Tensor:
    """The fitted covariances as (K, D, D) float64, whatever ``covariance_type`` stores."""
    cov = torch.as_tensor(model.covariances_, dtype=torch.float64)
    k, dim = model.means_.shape
    return full_covariances(cov, model.covariance_type, k, dim)


def transfer_colours(
    pixels: ArrayLike, source: GaussianMixture, target: GaussianMixture, *, clip: bool = True
) -> ArrayLike:
    r"""Give ``pixels`` the colour distribution of another image, component by component.

    ``source`` is a mixture fitted to the colours of ``pixels``, ``target`` one fitted to the
    colours of the other image, with the same number of components. Components are paired by
    brightness (the sum of their mean's channels, in rank order). Each pixel is moved by the
    affine map that carries the Gaussian of a source component exactly onto its partner,
    :math:`x \mapsto \mu'_k + L'_k L_k^{-1} (x - \mu_k)` with Cholesky factors
    :math:`\Sigma_k = L_k L_k^\top`, and the maps are averaged with the pixel's
    responsibilities :math:`p(k \mid x)` under ``source``, so colours change smoothly. With one
    component this is the classic mean-and-covariance colour transfer (Reinhard et al. 2001,
    in full covariance): the output's mean and covariance are exactly the target's.

    Parameters
    ----------
    pixels : (N, D), numpy or torch
        Colours, e.g. ``photo.reshape(-1, 3)``.
    source, target : GaussianMixture
        Fitted, with the same ``n_components`` and dimension D.
    clip : bool
        Clip the result to [0, 1] (colours outside are not displayable).

    Returns
    -------
    (N, D), the type of ``pixels``
    """
    for name, model in (("source", source), ("target", target)):
        if not isinstance(model, GaussianMixture) or not hasattr(model, "means_"):
            raise TypeError(f"{name} must be a fitted lessons_lib.gmm.GaussianMixture.")
    if source.n_components != target.n_components:
        raise ValueError(
            f"source and target need the same n_components, got {source.n_components} and "
            f"{target.n_components}."
        )
    dim = source.means_.shape[1]
    check_array(pixels, "pixels", ndim=2, shape=(None, dim), kinds="fiu")
    if target.means_.shape[1] != dim:
        raise ValueError(f"target has dimension {target.means_.shape[1]}, pixels have {dim}.")
    x = as_tensor(pixels, dtype=torch.float64, device="cpu")
    mu_s = torch.as_tensor(source.means_, dtype=torch.float64)
    mu_t = torch.as_tensor(target.means_, dtype=torch.float64)
    order_s, order_t = mu_s.sum(1).argsort(), mu_t.sum(1).argsort()
    chol_s = torch.linalg.cholesky(_dense_covariances(source)[order_s])
    chol_t = torch.linalg.cholesky(_dense_covariances(target)[order_t])
    maps = chol_t @ torch.linalg.inv(chol_s)  # (K, D, D): L'_k L_k^{-1}
    resp = torch.as_tensor(source.predict_proba(x), dtype=torch.float64).cpu()[:, order_s]
    out = torch.zeros_like(x)
    for k in range(source.n_components):
        moved = mu_t[order_t[k]] + (x - mu_s[order_s[k]]) @ maps[k].T
        out += resp[:, k : k + 1] * moved
    if clip:
        out = out.clamp(0, 1)
    return like(check_finite_result(out, "the moved colours"), pixels)
