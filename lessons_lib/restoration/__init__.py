"""Restoring grey photos: patch priors (EPLL), their degradations, and the Gaussian MRF.

- :mod:`~lessons_lib.restoration.patches`: every overlapping patch, and the adjoint;
- :mod:`~lessons_lib.restoration.operators`: the degradations with exact adjoints (identity,
  mask, blur, blur-and-decimate);
- :mod:`~lessons_lib.restoration.patch_prior`: a GMM on mean-removed patches and its Wiener
  step (:class:`PatchPrior`, :func:`fit_patch_prior`);
- :mod:`~lessons_lib.restoration.epll`: half-quadratic splitting (:func:`epll_restore`);
- :mod:`~lessons_lib.restoration.gaussian_mrf`: the Gaussian MRF's posterior mean by DCT;
- :mod:`~lessons_lib.restoration.solve`: conjugate gradients.
"""

from lessons_lib.restoration.epll import BETA_SCHEDULE, epll_objective, epll_restore
from lessons_lib.restoration.gaussian_mrf import (
    gaussian_mrf_denoise,
    grid_laplacian,
    grid_laplacian_eigenvalues,
)
from lessons_lib.restoration.operators import (
    Blur,
    Downsample,
    Identity,
    LinearOperator,
    Mask,
    gaussian_kernel,
)
from lessons_lib.restoration.patch_prior import PatchPrior, fit_patch_prior
from lessons_lib.restoration.patches import extract_patches, fold_patches, patch_counts
from lessons_lib.restoration.solve import conjugate_gradient

__all__ = [
    "BETA_SCHEDULE",
    "Blur",
    "Downsample",
    "Identity",
    "LinearOperator",
    "Mask",
    "PatchPrior",
    "conjugate_gradient",
    "epll_objective",
    "epll_restore",
    "extract_patches",
    "fit_patch_prior",
    "fold_patches",
    "gaussian_kernel",
    "gaussian_mrf_denoise",
    "grid_laplacian",
    "grid_laplacian_eigenvalues",
    "patch_counts",
]
