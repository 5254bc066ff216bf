"""Restoring grey photos: patch priors (EPLL), their degradations, and the Gaussian MRF.

- :mod:`~lessons_lib.restoration.patches`: every overlapping patch, and the adjoint;
- :mod:`~lessons_lib.restoration.operators`: the degradations with exact adjoints (identity,
  mask, blur, blur-and-decimate);
- :mod:`~lessons_lib.restoration.patch_prior`: a GMM on mean-removed patches and its Wiener
  step (:class:`PatchPrior`, :func:`fit_patch_prior`);
- :mod:`~lessons_lib.restoration.epll`: half-quadratic splitting (:func:`epll_restore`);
- :mod:`~lessons_lib.restoration.gaussian_mrf`: the Gaussian MRF's posterior mean by DCT, and
  its smoothness by maximum likelihood;
- :mod:`~lessons_lib.restoration.baselines`: PSNR, SSIM and classical denoisers (scikit-image,
  scipy), tuned on the truth;
- :mod:`~lessons_lib.restoration.masks`: scratches to inpaint;
- :mod:`~lessons_lib.restoration.compare`: one denoising experiment, every method scored;
- :mod:`~lessons_lib.restoration.solve`: conjugate gradients.
"""

from lessons_lib.restoration.baselines import denoising_baselines, image_scores, tune_on_truth
from lessons_lib.restoration.compare import compare_denoisers, restoration_row, restoration_table
from lessons_lib.restoration.epll import BETA_SCHEDULE, epll_objective, epll_restore
from lessons_lib.restoration.gaussian_mrf import (
    fit_gaussian_mrf,
    gaussian_mrf_denoise,
    grid_laplacian,
    grid_laplacian_eigenvalues,
)
from lessons_lib.restoration.masks import scratch_mask
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
    "compare_denoisers",
    "conjugate_gradient",
    "denoising_baselines",
    "epll_objective",
    "epll_restore",
    "extract_patches",
    "fit_gaussian_mrf",
    "fit_patch_prior",
    "fold_patches",
    "gaussian_kernel",
    "gaussian_mrf_denoise",
    "grid_laplacian",
    "grid_laplacian_eigenvalues",
    "image_scores",
    "patch_counts",
    "restoration_row",
    "restoration_table",
    "scratch_mask",
    "tune_on_truth",
]
