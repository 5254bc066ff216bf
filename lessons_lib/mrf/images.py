"""Binary test images for the denoising lessons, and the length of a segmentation's boundary.

:func:`make_shapes` draws random discs and rectangles (no paper: a plain test pattern);
:func:`boundary_length` counts the 4-neighbour pairs whose labels differ, the quantity a Potts
or Ising prior penalizes.
"""

from __future__ import annotations

import numpy as np

from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    check_array,
    check_seed,
)
from lessons_lib.mrf._validation import _check_count

#: Pixels of a :func:`make_shapes` image (it builds several float64 arrays of this size).
_MAX_IMAGE_PIXELS = 2**28


#: Shapes drawn by :func:`make_shapes` (each one costs a pass over the whole image).
_MAX_SHAPES = 10**5


def boundary_length(labels: ArrayLike) -> int:
    """Number of 4-neighbour pairs whose labels differ (free boundaries).

    Parameters
    ----------
    labels : array or Tensor, shape (H, W), integers or ±1 spins

    Returns
    -------
    int
    """
    check_array(labels, "labels", ndim=2, kinds="fiu")
    z = np.asarray(as_numpy(labels))
    return int((z[1:] != z[:-1]).sum() + (z[:, 1:] != z[:, :-1]).sum())


def make_shapes(
    height: int = 64, width: int = 64, n_shapes: int = 6, seed: int | None = None
) -> np.ndarray:
    """A binary test image: random discs and rectangles (+1) on a background (-1).

    Parameters
    ----------
    height, width : int
        At least 2, with ``height · width <= 2**28`` pixels.
    n_shapes : int
        0 to 10**5.
    seed : int, optional

    Returns
    -------
    ndarray, shape (height, width), float32, values ±1
    """
    # The other side is at least 2, so each side is at most 2**27 (caught here, naming it).
    side_why = "the image may have at most 2**28 pixels: it builds float64 arrays of that size"
    side_max = _MAX_IMAGE_PIXELS // 2
    height = _check_count(height, "height", min_value=2, max_value=side_max, why=side_why)
    width = _check_count(width, "width", min_value=2, max_value=side_max, why=side_why)
    if height * width > _MAX_IMAGE_PIXELS:
        raise ValueError(
            f"height × width must be at most 2**28 pixels (make_shapes builds float64 arrays of "
            f"that size), got {height} × {width} = {height * width:,}."
        )
    n_shapes = _check_count(
        n_shapes,
        "n_shapes",
        min_value=0,
        max_value=_MAX_SHAPES,
        why="a sanity bound: each shape costs a pass over the image, and far fewer already "
        "cover it",
    )
    rng = np.random.default_rng(check_seed(seed))
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width), dtype=bool)
    size = min(height, width)
    for k in range(n_shapes):
        ci, cj = rng.uniform(0, height), rng.uniform(0, width)
        if k % 2 == 0:
            radius = rng.uniform(0.08, 0.22) * size
            image |= (rows - ci) ** 2 + (cols - cj) ** 2 <= radius**2
        else:
            hi, hj = rng.uniform(0.05, 0.2, size=2) * size
            image |= (np.abs(rows - ci) <= hi) & (np.abs(cols - cj) <= hj)
    return np.where(image, 1.0, -1.0).astype(np.float32)
