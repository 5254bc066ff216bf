"""The Gaussian-mixture colour likelihood of Potts segmentation.

``L_i(k) = log π_k + log N(c_i; μ_k, Σ_k)`` for every pixel and label: from a fitted mixture
(:func:`_colour_parameters`), or started by k-means (Lloyd 1982; k-means++ seeding, Arthur &
Vassilvitskii 2007), and re-estimated by the mixture M-step (Dempster, Laird & Rubin 1977).

The maths is the shared one of :mod:`lessons_lib.density`: ``density.kmeans.kmeans``, the
mixture M-step ``density.em.m_step`` and ``density.linalg.gaussian_log_density``. What is
Potts-specific stays here: the check of a user's fitted mixture, the covariance floor, and the
smoothed label frequencies of the k-means start.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lessons_lib.core.validation import as_numpy
from lessons_lib.density.em import m_step
from lessons_lib.density.kmeans import kmeans
from lessons_lib.density.linalg import gaussian_log_density

#: The smallest eigenvalue a label's colour covariance may have (a label whose pixels are all
#: one colour would have a singular Gaussian).
_COVARIANCE_FLOOR = 1e-9
#: Largest colour magnitude potts_segment takes: squared distances divided by the covariance
#: floor must stay far from float64's range (1e100² / 1e-9 = 1e209).
_MAX_COLOUR = 1e100


def _colour_parameters(colour_model: Any, n_labels: int, n_channels: int) -> dict:
    """The ``weights``, ``means`` and ``covariances`` of a fitted mixture as float64 arrays,
    checked against ``n_labels`` and the image; a covariance eigenvalue below the floor is
    lifted to it, as in the M-step."""
    weights, means, covariances = _fitted_arrays(colour_model)
    _check_parameter_shapes(weights, means, covariances, n_labels, n_channels)
    for name, values in (("weights_", weights), ("means_", means), ("covariances_", covariances)):
        if not np.isfinite(values).all():
            raise ValueError(f"colour_model.{name} contains NaN or infinite values.")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"colour_model.weights_ must be >= 0 with a positive sum, got {weights[:5]}."
        )
    if np.abs(means).max() > _MAX_COLOUR:
        raise ValueError(f"colour_model.means_ must be at most {_MAX_COLOUR:g} in magnitude.")
    return {"weights": weights, "means": means, "covariances": _lifted_covariances(covariances)}


def _fitted_arrays(colour_model: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``weights_``, ``means_``, ``covariances_`` as float64 arrays (TypeError if missing)."""
    names = ("weights_", "means_", "covariances_")
    missing = [name for name in names if not hasattr(colour_model, name)]
    if missing:
        raise TypeError(
            f"colour_model must be a fitted mixture with attributes {', '.join(names)} (e.g. a "
            f"GaussianMixture after fit); it lacks {', '.join(missing)}."
        )
    return tuple(
        np.asarray(as_numpy(getattr(colour_model, name)), dtype=np.float64) for name in names
    )


def _check_parameter_shapes(
    weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, n_labels: int, n_channels: int
) -> None:
    if weights.shape != (n_labels,):
        raise ValueError(
            f"colour_model has weights_ of shape {weights.shape} but n_labels={n_labels}; fit "
            f"it with n_components={n_labels}."
        )
    if means.shape != (n_labels, n_channels):
        raise ValueError(
            f"colour_model.means_ has shape {means.shape}; expected ({n_labels}, {n_channels}) "
            "for this image."
        )
    if covariances.shape != (n_labels, n_channels, n_channels):
        raise ValueError(
            f"colour_model.covariances_ has shape {covariances.shape}; expected full "
            f"covariances ({n_labels}, {n_channels}, {n_channels}) (covariance_type='full')."
        )


def _lifted_covariances(covariances: np.ndarray) -> np.ndarray:
    """Symmetric positive semi-definite matrices (checked), each smallest eigenvalue lifted to
    at least the floor so that the Gaussian is defined."""
    if not np.allclose(covariances, covariances.transpose(0, 2, 1), rtol=1e-6, atol=0.0):
        raise ValueError("colour_model.covariances_ must be symmetric matrices.")
    covariances = (covariances + covariances.transpose(0, 2, 1)) / 2.0
    eigenvalues = np.linalg.eigvalsh(covariances)
    size = np.abs(eigenvalues).max(axis=1)
    if (eigenvalues[:, 0] < -1e-8 * size).any() or (size > _MAX_COLOUR**2).any():
        raise ValueError(
            "colour_model.covariances_ must be positive semi-definite (and below "
            f"{_MAX_COLOUR**2:g}); the smallest eigenvalues are {eigenvalues[:, 0]}."
        )
    lift = np.clip(_COVARIANCE_FLOOR - eigenvalues[:, 0], 0.0, None)
    return covariances + lift[:, None, None] * np.eye(covariances.shape[-1])


def _kmeans_parameters(pixels: torch.Tensor, n_labels: int, gen: torch.Generator) -> dict:
    """A starting colour model when none is given: the labels of 20 Lloyd iterations from
    k-means++ seeds (``density.kmeans``, drawing with the CPU generator ``gen``), then the
    M-step on them; the weights are the label frequencies, smoothed by 1e-3.

    With more labels than pixels, only ``n_pixels`` clusters are drawn: the other labels start
    empty (mean 0, covariance ``1e-4 I``), as k-means would leave them.
    """
    _, labels = kmeans(pixels, min(n_labels, pixels.shape[0]), gen, n_iter=20)
    resp = torch.nn.functional.one_hot(labels, n_labels).to(pixels.dtype)
    params = _m_step(pixels, resp, 1e-4)
    params["weights"] = (resp.mean(dim=0) + 1e-3).cpu().numpy()
    params["weights"] /= params["weights"].sum()
    return params


def _m_step(pixels: torch.Tensor, resp: torch.Tensor, reg_covar: float) -> dict:
    """Means and full covariances from (soft or hard) labels ``resp`` of shape (P, K): the
    shared mixture M-step (``density.em.m_step``; its weights are not used, since in a Potts
    prior ``π`` is a field), then each smallest eigenvalue lifted to the floor."""
    _, means, covariances = m_step(pixels, resp, "full", reg_covar)
    # A label whose pixels are (nearly) all one colour has a singular covariance: lift its
    # smallest eigenvalue to a floor so that the Gaussian stays defined.
    eye = torch.eye(pixels.shape[1], dtype=pixels.dtype, device=pixels.device)
    smallest = torch.linalg.eigvalsh(covariances)[:, 0]
    lift = (_COVARIANCE_FLOOR - smallest).clamp_min(0.0)
    covariances = covariances + lift[:, None, None] * eye
    return {"means": means.cpu().numpy(), "covariances": covariances.cpu().numpy()}


def _log_likelihoods(pixels: torch.Tensor, params: dict) -> torch.Tensor:
    """``L_i(k) = log π_k + log N(c_i; μ_k, Σ_k)`` for every label and pixel: shape (K, P).

    The Gaussian term is the shared ``density.linalg.gaussian_log_density``. Its factor comes
    from ``torch.linalg.cholesky`` directly (not the checked ``density.linalg.cholesky``): the
    covariances were already checked and lifted to the floor by :func:`_colour_parameters` or
    :func:`_m_step`, and a second, stricter check would change which models are accepted.
    """
    dev, dtype = pixels.device, pixels.dtype
    means = torch.as_tensor(params["means"], device=dev, dtype=dtype)
    chol = torch.linalg.cholesky(torch.as_tensor(params["covariances"], device=dev, dtype=dtype))
    weights = torch.as_tensor(params["weights"], device=dev, dtype=dtype)
    return torch.log(weights.clamp_min(1e-300))[:, None] + gaussian_log_density(pixels, means, chol)
