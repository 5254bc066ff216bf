"""EPLL: restore an image with a patch prior, by half-quadratic splitting (Zoran and Weiss, 2011).

The restored image maximises the **expected patch log-likelihood** under the data:

    x̂ = argmax_x  -λ/2 ‖A x - y‖²  +  Σ_i log p(P_i x),

where ``A`` is the degradation (identity, mask, blur, decimation), ``y`` the observed image,
``P_i`` extracts the i-th overlapping patch and p is the patch prior. Half-quadratic splitting
gives each patch an auxiliary copy ``z_i`` and alternates two closed-form steps, for a rising
sequence of ``β``:

* **patch step**: ``z_i = argmax_z log p(z) - β/2 ‖P_i x - z‖²``, approximated by the Wiener
  filter of the likeliest mixture component at noise variance ``1/β``
  (:meth:`PatchPrior.denoise_patches`);
* **image step**: ``(λ AᵀA + β Σ_i P_iᵀ P_i) x = λ Aᵀ y + β Σ_i P_iᵀ z_i``, solved per pixel when
  ``AᵀA`` is diagonal (denoising, inpainting), else by conjugate gradients.

As ``β → ∞`` the patches must agree with the image and the objective becomes the EPLL one.
Zoran and Weiss set ``λ = p²/σ²`` for noise of standard deviation σ and ``β = (1, 4, 8, 16,
32)/σ²`` (σ in [0, 1] units); these are the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lessons_lib.core.progress import progress_bar
from lessons_lib.core.validation import check_array, check_int, check_positive
from lessons_lib.restoration.operators import Identity, LinearOperator
from lessons_lib.restoration.patch_prior import PatchPrior
from lessons_lib.restoration.patches import extract_patches, fold_patches, patch_counts
from lessons_lib.restoration.solve import conjugate_gradient

BETA_SCHEDULE = (1.0, 4.0, 8.0, 16.0, 32.0)


def epll_objective(
    image: torch.Tensor,
    observed: torch.Tensor,
    prior: PatchPrior,
    noise_std: float,
    operator: LinearOperator | None = None,
) -> float:
    """``-λ/2 ‖A x - y‖² + Σ_i log p(P_i x)``, with λ = p²/σ² (higher is better)."""
    operator = Identity() if operator is None else operator
    x = image.to(torch.float64)
    weight = prior.size**2 / noise_std**2
    misfit = ((operator(x) - observed.to(x)) ** 2).sum()
    return float(-0.5 * weight * misfit + prior.log_prob(extract_patches(x, prior.size)).sum())


def epll_restore(
    observed: torch.Tensor,
    prior: PatchPrior,
    noise_std: float,
    operator: LinearOperator | None = None,
    *,
    betas: Sequence[float] | None = None,
    start: torch.Tensor | None = None,
    inner_iter: int = 1,
    cg_iter: int = 50,
    cg_rtol: float = 1e-6,
    progress: bool = False,
) -> torch.Tensor:
    """Restore a grey image with EPLL's half-quadratic splitting.

    Parameters
    ----------
    observed : Tensor, shape of ``operator``'s output ((H, W) for denoising and inpainting)
        The degraded image ``y``, values about [0, 1].
    prior : PatchPrior
    noise_std : float
        σ of the noise on ``y``, in [0, 1] units (σ = 25/255 ≈ 0.098 for "σ = 25").
    operator : LinearOperator, optional
        The degradation ``A`` (default: the identity, i.e. denoising).
    betas : sequence of float, optional
        The splitting weights, rising (default ``BETA_SCHEDULE / σ²``).
    start : Tensor, shape (H, W), optional
        The first image (default ``Aᵀ y``, or ``y`` for denoising).
    inner_iter : int
        Patch and image steps per β.
    cg_iter, cg_rtol : int, float
        At most ``cg_iter`` conjugate-gradient iterations per image step when ``AᵀA`` is not
        diagonal, stopping at a relative residual of ``cg_rtol``.
    progress : bool
        A progress bar over the β schedule.

    Returns
    -------
    Tensor, shape (H, W), float64
    """
    noise_std = check_positive(noise_std, "noise_std")
    operator = Identity() if operator is None else operator
    if not isinstance(operator, LinearOperator):
        raise TypeError(f"operator must be a LinearOperator, got {type(operator).__name__}.")
    check_array(observed, "observed", ndim=2, kinds="f")
    inner_iter = check_int(inner_iter, "inner_iter", min_value=1)
    y = observed.to(dtype=torch.float64, device=prior.means.device)
    x = (operator.adjoint(y) if start is None else start.to(y)).clone()
    betas = [b / noise_std**2 for b in BETA_SCHEDULE] if betas is None else list(betas)
    if not betas or any(not b > 0 for b in betas):
        raise ValueError(f"betas must be positive numbers, got {betas!r}.")
    weight = prior.size**2 / noise_std**2  # λ
    counts = patch_counts(tuple(x.shape), prior.size, dtype=x.dtype, device=x.device)
    data_rhs = weight * operator.adjoint(y)
    gram = operator.gram_diagonal(x)
    for beta in progress_bar(betas, desc="EPLL", enabled=progress):
        for _ in range(inner_iter):
            patches = prior.denoise_patches(extract_patches(x, prior.size), 1.0 / beta)
            rhs = data_rhs + beta * fold_patches(patches, tuple(x.shape), prior.size)
            if gram is not None:
                x = rhs / (weight * gram + beta * counts)
            else:
                x = conjugate_gradient(
                    lambda v, b=beta: weight * operator.adjoint(operator(v)) + b * counts * v,
                    rhs,
                    x,
                    max_iter=cg_iter,
                    rtol=cg_rtol,
                )
    return x
