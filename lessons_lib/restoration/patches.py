"""All overlapping square patches of a grey image, and their adjoint: summing patches back.

EPLL (Zoran and Weiss, 2011) scores *every* overlapping ``p × p`` patch of an image, so a pixel
away from the border lies in ``p²`` patches. :func:`extract_patches` is the linear map
``x ↦ (P_i x)_i`` and :func:`fold_patches` its adjoint ``(z_i)_i ↦ Σ_i P_iᵀ z_i``; the number of
patches that cover each pixel, :func:`patch_counts`, is ``Σ_i P_iᵀ P_i``, a diagonal.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from lessons_lib.core.validation import check_array, check_int


def _check_size(size: int, shape: tuple[int, int]) -> int:
    size = check_int(size, "size", min_value=1)
    if size > min(shape):
        raise ValueError(
            f"size must be at most the image's smaller side ({min(shape)}), got {size}."
        )
    return size


def extract_patches(image: torch.Tensor, size: int) -> torch.Tensor:
    """Every ``size × size`` patch of a grey image, one per row.

    Parameters
    ----------
    image : Tensor, shape (H, W), floating
    size : int
        Side p of the patches, at most min(H, W).

    Returns
    -------
    Tensor, shape ((H - p + 1)(W - p + 1), p²)
        Row ``i`` is the patch whose top-left corner is the i-th position in raster order,
        flattened row by row.
    """
    check_array(image, "image", ndim=2, kinds="f")
    size = _check_size(size, tuple(image.shape))
    return F.unfold(image[None, None], size)[0].T


def fold_patches(patches: torch.Tensor, shape: tuple[int, int], size: int) -> torch.Tensor:
    """The adjoint of :func:`extract_patches`: each patch added back at its place.

    Parameters
    ----------
    patches : Tensor, shape ((H - p + 1)(W - p + 1), p²)
    shape : (int, int)
        (H, W) of the image the patches came from.
    size : int

    Returns
    -------
    Tensor, shape (H, W)
        ``Σ_i P_iᵀ z_i``: at each pixel, the sum of the values all patches give it.
    """
    height, width = (check_int(s, "shape", min_value=1) for s in shape)
    size = _check_size(size, (height, width))
    n = (height - size + 1) * (width - size + 1)
    check_array(patches, "patches", shape=(n, size * size), kinds="f")
    return F.fold(patches.T[None], (height, width), size)[0, 0]


def patch_counts(
    shape: tuple[int, int], size: int, *, dtype=torch.float64, device=None
) -> torch.Tensor:
    """How many ``size × size`` patches cover each pixel: ``Σ_i P_iᵀ P_i``, shape (H, W)."""
    height, width = (check_int(s, "shape", min_value=1) for s in shape)
    size = _check_size(size, (height, width))
    ones = torch.ones(height, width, dtype=dtype, device=device)
    return fold_patches(extract_patches(ones, size), (height, width), size)
