"""Segmenting an image with a Potts prior and a Gaussian-mixture colour likelihood.

The labels ``z_i ∈ {0, …, K-1}`` have the posterior ``p(z | c) ∝ exp(-E(z))`` with
``E(z) = -Σ_i L_i(z_i) - β Σ_{i~j} [z_i = z_j]`` (Potts, R. B. (1952). Some generalized
order-disorder transformations. *Proc. Cambridge Phil. Soc.* 48, 106-109). EM alternates
inference and the colour model's M-step: mean-field EM (Zhang, J. (1992). The mean field theory
in EM procedures for Markov random fields. *IEEE Trans. Signal Processing* 40, 2570-2583) or
ICM with classification EM (Besag 1986; Celeux, G. and Govaert, G. (1992). A classification EM
algorithm for clustering. *CSDA* 14, 315-332).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from lessons_lib.core.progress import progress_bar
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    check_array,
    check_one_of,
    check_positive,
    check_seed,
)
from lessons_lib.mrf._colour_model import (
    _MAX_COLOUR,
    _colour_parameters,
    _kmeans_parameters,
    _log_likelihoods,
    _m_step,
)
from lessons_lib.mrf._free_grid import _free_colour_masks, _free_neighbour_sum
from lessons_lib.mrf._validation import (
    _MAX_ELEMENTS,
    _check_count,
    _check_iterations,
    _device_for,
    _finite_or_refuse,
    _float_tensor,
)

#: Labels of a Potts segmentation (k-means seeding costs K² passes over the pixels).
_MAX_LABELS = 1000


def potts_energy(labels: ArrayLike, log_likelihoods: ArrayLike, beta: float) -> float:
    """Posterior energy of a label image under a Potts prior and per-pixel label scores.

    ``E(z) = -Σ_i L_i(z_i) - β Σ_{i~j} [z_i = z_j]`` over 4-neighbour pairs (free boundaries),
    with ``L_i(k) = log π_k + log p(c_i | k)``.

    Parameters
    ----------
    labels : array or Tensor, shape (H, W), int
        Each in ``0..K-1``.
    log_likelihoods : array or Tensor, shape (K, H, W)
    beta : float, >= 0

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Labels out of ``0..K-1``, shapes that do not match, non-finite log-likelihoods, or an
        energy beyond float64's range (``beta`` or the log-likelihoods near 1e308: no finite
        answer exists).
    """
    check_array(labels, "labels", ndim=2, kinds="iu")
    check_array(log_likelihoods, "log_likelihoods", ndim=3, kinds="fiu")
    beta = check_positive(beta, "beta", strict=False)
    n_labels = log_likelihoods.shape[0]
    if tuple(log_likelihoods.shape[1:]) != tuple(labels.shape):
        raise ValueError(
            f"log_likelihoods must have shape (K, H, W) = (K, {labels.shape[0]}, "
            f"{labels.shape[1]}) to match labels, got shape {tuple(log_likelihoods.shape)}."
        )
    z_np = np.asarray(as_numpy(labels))
    low, high = int(z_np.min()), int(z_np.max())
    if low < 0 or high >= n_labels:
        raise ValueError(
            f"labels must be integers in 0..{n_labels - 1} (one per row of log_likelihoods, "
            f"K = {n_labels}), got values in {low}..{high}."
        )
    z = torch.as_tensor(z_np.astype(np.int64))
    scores = torch.as_tensor(as_numpy(log_likelihoods), dtype=torch.float64)
    return _finite_or_refuse(
        _potts_energy_value(z, scores, beta),
        "the energy",
        f"beta={beta!r} and log_likelihoods up to {float(scores.abs().max()):.4g} in magnitude",
    )


def _potts_energy_value(z: torch.Tensor, scores: torch.Tensor, beta: float) -> float:
    """:func:`potts_energy` of checked CPU tensors: labels ``z`` (H, W) int64, ``scores``
    (K, H, W) float64. ±inf where the energy is beyond float64 (``potts_segment`` reports the
    energies of its iterations this way rather than failing after the work is done)."""
    agree = int((z[1:] == z[:-1]).sum() + (z[:, 1:] == z[:, :-1]).sum())
    data = scores.gather(0, z[None])
    # Divide by the largest magnitude first, so that terms near 1e308 of opposite signs cannot
    # overflow to inf - inf; the result is ±inf only if the energy itself is beyond float64.
    scale = max(float(data.abs().max()), beta) or 1.0
    return scale * float(-(data / scale).sum() - (beta / scale) * agree)


def _mean_field_free_energy(scores: torch.Tensor, q: torch.Tensor, beta: float) -> float:
    """``F(q) = E_q[E(z)] - H(q)``: what mean-field inference and the M-step both lower."""
    pairs = float((q[:, 1:] * q[:, :-1]).sum() + (q[:, :, 1:] * q[:, :, :-1]).sum())
    entropy = float(-(q * torch.log(q.clamp_min(1e-300))).sum())
    data = float((q * scores).sum())
    # As in potts_energy: scale first, so that only a truly out-of-range value is ±inf.
    scale = max(abs(data), beta, entropy) or 1.0
    return scale * (-(data / scale) - (beta / scale) * pairs - entropy / scale)


def _potts_local(
    scores: torch.Tensor, beta: float, neighbours: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """``L_i(k) + β n_i(k)`` divided by ``s = max(max |L|, β)``: at most 5 in magnitude, so it
    cannot overflow whatever β is, and its argmax is the unscaled one."""
    scale = max(float(scores.abs().max()), beta) or 1.0
    return scores / scale + (beta / scale) * neighbours, scale


def _potts_softmax(scores: torch.Tensor, beta: float, neighbours: torch.Tensor) -> torch.Tensor:
    """``softmax_k(L_i(k) + β n_i(k))`` without overflow: ``s · (u - max u)`` is 0 at the best
    label and finite or -inf elsewhere, never ``inf - inf``."""
    unit, scale = _potts_local(scores, beta, neighbours)
    return torch.softmax(scale * (unit - unit.max(dim=0, keepdim=True).values), dim=0)


def _potts_mean_field(
    scores: torch.Tensor, q: torch.Tensor, beta: float, sweeps: int, masks
) -> torch.Tensor:
    """``q_i(k) ∝ exp(L_i(k) + β Σ_{j~i} q_j(k))``, one checkerboard colour at a time.

    Each update is the exact minimizer of ``F`` in ``q_i`` given the other sites, and sites of
    one colour do not interact, so ``F`` never increases.
    """
    for _ in range(sweeps):
        for mask in masks:
            q = torch.where(mask, _potts_softmax(scores, beta, _free_neighbour_sum(q)), q)
    return q


def _potts_icm(
    scores: torch.Tensor, z: torch.Tensor, beta: float, sweeps: int, masks
) -> torch.Tensor:
    """Each pixel takes the label of highest ``L_i(k) + β #{j ~ i : z_j = k}``; ties keep z_i."""
    n_labels = scores.shape[0]
    for _ in range(sweeps):
        changed = False
        for mask in masks:
            counts = _free_neighbour_sum(_one_hot(z, n_labels, scores.dtype))
            local, _ = _potts_local(scores, beta, counts)
            best = local.argmax(dim=0)
            improves = local.gather(0, best[None])[0] > local.gather(0, z[None])[0]
            new = torch.where(mask & improves, best, z)
            changed = changed or bool((new != z).any())
            z = new
        if not changed:
            break
    return z


def _one_hot(z: torch.Tensor, n_labels: int, dtype: torch.dtype) -> torch.Tensor:
    """(H, W) labels as (K, H, W) indicators."""
    return torch.nn.functional.one_hot(z, n_labels).permute(2, 0, 1).to(dtype)


def potts_segment(
    image: ArrayLike,
    n_labels: int,
    beta: float,
    colour_model: Any = None,
    *,
    method: str = "mean-field",
    n_sweeps: int = 10,
    em_iter: int = 10,
    reg_covar: float = 0.0,
    seed: int | None = None,
    return_details: bool = False,
    device: str | torch.device | None = None,
    progress: bool = False,
):
    """Segment a (colour) image with a Potts prior and a Gaussian-mixture colour likelihood.

    The labels ``z`` have the posterior ``p(z | c) ∝ exp(-E(z))`` with
    ``E(z) = -Σ_i L_i(z_i) - β Σ_{i~j} [z_i = z_j]`` and ``L_i(k) = log π_k + log N(c_i; μ_k,
    Σ_k)`` (:func:`potts_energy`): neighbouring pixels prefer the same label, and the mixture
    weights ``π`` act as a field. ``β = 0`` gives the mixture's own per-pixel classification.

    Each EM iteration runs ``n_sweeps`` sweeps of the inference method, then re-estimates the
    colour means ``μ`` and covariances ``Σ`` from the labels (``π`` stays the colour model's:
    in a Potts prior it is a field whose update would need the intractable ``Z``):

    * ``"mean-field"``: soft labels ``q_i(k) ∝ π_k N(c_i; μ_k, Σ_k) exp(β Σ_{j~i} q_j(k))``;
      the M-step weights each pixel by ``q``. Both steps lower the mean-field free energy
      ``F(q) = E_q[E(z)] - H(q)``, so ``details["objective"]`` never increases.
    * ``"icm"``: each pixel takes its best label given its neighbours; the M-step fits each
      label's pixels (classification EM). Both steps lower ``E(z)``, so
      ``details["objective"]`` never increases.

    Parameters
    ----------
    image : array or Tensor, shape (H, W, C) or (H, W)
        Pixel colours (e.g. the output of ``lessons_lib.data.load_photo``).
    n_labels : int
        Number of segments K (the colour model's number of components), 1 to 1000, with
        ``K · H · W <= 2**31``.
    beta : float, >= 0
        Strength of the Potts prior.
    colour_model : fitted mixture, optional
        Any object with ``weights_`` (K,), ``means_`` (K, C) and full ``covariances_``
        (K, C, C), fitted to the pixels: ``lessons_lib.gmm.GaussianMixture`` or scikit-learn's
        ``GaussianMixture(covariance_type="full")``. None: start from k-means (``seed``).
    method : {"mean-field", "icm"}
    n_sweeps : int
        Inference sweeps per EM iteration (1 to 10**7).
    em_iter : int
        EM iterations; 0 keeps the colour model fixed (inference only). At most 10**7.
    reg_covar : float
        Added to the covariances' diagonals in each M-step. The default 0 keeps the M-step an
        exact maximization (so the objective is monotone); an eigenvalue below 1e-9 is lifted to
        1e-9 in any case.
    seed : int, optional
        Only used for the k-means start (its draws are made with a CPU generator).
    return_details : bool
        Also return a dict with the final ``weights``, ``means``, ``covariances``, ``marginals``
        (H, W, K) soft labels, ``energy`` (``E(z)`` after each iteration) and ``objective``
        (what the method lowers, after each iteration). At a ``beta`` so large that ``β`` times
        the number of pairs is beyond float64 (about 1e308 / 2HW), these energies are ±inf: the
        labels and marginals are still exact, so the run is not refused for its diagnostics.

    Returns
    -------
    labels : array or Tensor like ``image``, shape (H, W), int64
    details : dict, only with ``return_details=True``

    Raises
    ------
    ValueError
        Colours above 1e100 in magnitude (rescale the image), a colour model whose weights are
        negative, whose covariances are not positive semi-definite, or that does not match
        ``n_labels`` and the image; an unknown method; negative ``beta``, ``reg_covar``.
    """
    n_labels, beta, n_sweeps, em_iter, reg_covar = _check_segment_args(
        image, n_labels, beta, method, n_sweeps, em_iter, reg_covar, seed
    )
    height, width = image.shape[:2]
    n_channels = 1 if image.ndim == 2 else image.shape[2]
    dev = _device_for(image, device)
    pixels = _float_tensor(image, dev, torch.float64).reshape(height * width, n_channels)
    if colour_model is None:
        params = _kmeans_parameters(pixels, n_labels, make_generator(seed))  # drawn on the CPU
    else:
        params = _colour_parameters(colour_model, n_labels, n_channels)
    settings = (beta, method, n_sweeps, em_iter, reg_covar, progress)
    scores, q, z, energies, objective = _potts_em(pixels, params, (height, width), settings)
    labels = z if isinstance(image, torch.Tensor) else z.cpu().numpy()
    if not return_details:
        return labels
    if method == "icm":  # soft labels: each pixel's conditional given its neighbours
        q = _potts_softmax(scores, beta, _free_neighbour_sum(_one_hot(z, n_labels, q.dtype)))
    marginals = q.permute(1, 2, 0)
    details = {
        **params,
        "marginals": marginals if isinstance(image, torch.Tensor) else marginals.cpu().numpy(),
        "energy": energies,
        "objective": objective,
    }
    return labels, details


def _check_segment_args(
    image: Any,
    n_labels: Any,
    beta: Any,
    method: Any,
    n_sweeps: Any,
    em_iter: Any,
    reg_covar: Any,
    seed: Any,
) -> tuple[int, float, int, int, float]:
    """Every check of :func:`potts_segment`, before any work; the checked counts and floats."""
    check_one_of(method, "method", ("mean-field", "icm"))
    check_array(image, "image", ndim=(2, 3), kinds="fiu")
    n_labels = _check_count(
        n_labels,
        "n_labels",
        min_value=1,
        max_value=_MAX_LABELS,
        why="a sanity bound: k-means seeding and every sweep scale with the number of labels",
    )
    n_pixels = math.prod(image.shape[:2])
    if n_labels * n_pixels > _MAX_ELEMENTS:
        raise ValueError(
            f"n_labels × pixels = {n_labels} × {n_pixels:,} exceeds 2**31 (the (K, H, W) label "
            "scores would not fit in memory); use fewer labels or a smaller image."
        )
    beta = check_positive(beta, "beta", strict=False)
    n_sweeps = _check_iterations(n_sweeps, "n_sweeps")
    em_iter = _check_iterations(em_iter, "em_iter", min_value=0)
    reg_covar = check_positive(reg_covar, "reg_covar", strict=False)
    if reg_covar > _MAX_COLOUR**2:
        raise ValueError(f"reg_covar must be at most {_MAX_COLOUR**2:g}, got {reg_covar!r}.")
    check_seed(seed)
    largest = float(np.abs(np.asarray(as_numpy(image), dtype=np.float64)).max())
    if largest > _MAX_COLOUR:
        raise ValueError(
            f"image values must be at most {_MAX_COLOUR:g} in magnitude (their squares enter "
            f"the Gaussian colour model), got {largest:g}; rescale the image, e.g. to [0, 1]."
        )
    return n_labels, beta, n_sweeps, em_iter, reg_covar


def _potts_em(pixels: torch.Tensor, params: dict, shape: tuple[int, int], settings: tuple):
    """EM of :func:`potts_segment`: ``max(em_iter, 1)`` rounds of ``n_sweeps`` inference
    sweeps, each followed (if ``em_iter > 0``) by the M-step, which updates ``params`` in
    place. ``settings = (beta, method, n_sweeps, em_iter, reg_covar, progress)``.

    Returns the last ``scores`` (K, H, W), soft labels ``q`` (K, H, W), labels ``z`` (H, W) and
    the per-iteration ``energies`` and ``objective``.
    """
    beta, method, n_sweeps, em_iter, reg_covar, progress = settings
    n_labels = params["means"].shape[0]
    masks = _free_colour_masks(*shape, pixels.device)
    scores = _log_likelihoods(pixels, params).reshape(n_labels, *shape)
    q = torch.softmax(scores, dim=0)
    z = scores.argmax(dim=0)
    energies, objective = [], []
    for it in progress_bar(range(max(em_iter, 1)), desc="Potts EM", enabled=bool(progress)):
        if it > 0:  # the colour model changed in the last M-step
            scores = _log_likelihoods(pixels, params).reshape(n_labels, *shape)
        if method == "mean-field":
            q = _potts_mean_field(scores, q, beta, n_sweeps, masks)
            z = q.argmax(dim=0)
            objective.append(_mean_field_free_energy(scores, q, beta))
            resp = q
        else:
            z = _potts_icm(scores, z, beta, n_sweeps, masks)
            objective.append(_potts_energy_value(z.cpu(), scores.cpu(), beta))
            resp = _one_hot(z, n_labels, scores.dtype)
        energies.append(_potts_energy_value(z.cpu(), scores.cpu(), beta))
        if em_iter > 0:
            params.update(_m_step(pixels, resp.reshape(n_labels, -1).T, reg_covar))
    return scores, q, z, energies, objective
