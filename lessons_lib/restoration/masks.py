"""Masks of missing pixels for inpainting: scratches drawn at random, reproducible by seed."""

from __future__ import annotations

import numpy as np

from lessons_lib.core.validation import check_int, check_seed


def scratch_mask(
    shape: tuple[int, int], n_scratches: int = 25, *, width: int = 2, seed: int = 0
) -> np.ndarray:
    """Straight scratches across an image, as a mask of the pixels that survive.

    Each scratch is a segment of random position, angle and length (20 to 80 pixels), drawn
    ``width`` pixels thick, the kind of damage an old print or a scanned photo shows.

    Parameters
    ----------
    shape : (H, W)
    n_scratches : int
    width : int
        Thickness of each scratch in pixels (≥ 1).
    seed : int

    Returns
    -------
    ndarray of bool, shape (H, W)
        True where the pixel is observed, False on a scratch.
    """
    from skimage.draw import line

    if not (isinstance(shape, tuple | list) and len(shape) == 2):
        raise TypeError(f"shape must be (H, W), got {shape!r}.")
    height = check_int(shape[0], "shape[0]", min_value=1)
    wide = check_int(shape[1], "shape[1]", min_value=1)
    n_scratches = check_int(n_scratches, "n_scratches", min_value=0)
    width = check_int(width, "width", min_value=1)
    rng = np.random.default_rng(check_seed(seed))
    observed = np.ones((height, wide), dtype=bool)
    for _ in range(n_scratches):
        r0, c0 = rng.integers(0, height), rng.integers(0, wide)
        angle, length = rng.uniform(0, np.pi), rng.integers(20, 81)
        r1 = int(np.clip(r0 + length * np.sin(angle), 0, height - 1))
        c1 = int(np.clip(c0 + length * np.cos(angle), 0, wide - 1))
        rows, cols = line(int(r0), int(c0), r1, c1)
        for dr in range(width):
            for dc in range(width):
                observed[np.clip(rows + dr, 0, height - 1), np.clip(cols + dc, 0, wide - 1)] = False
    return observed
