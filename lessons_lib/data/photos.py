"""scikit-learn's two sample photos ("china", "flower") as float arrays in [0, 1]."""

from __future__ import annotations

import numpy as np

from lessons_lib.core.validation import check_int, check_one_of

PHOTOS = {"china": "china.jpg", "flower": "flower.jpg"}
_PHOTO_SIZE = (427, 640)  # both of scikit-learn's sample photos


def load_photo(name: str, *, downscale: int = 1) -> np.ndarray:
    """One of scikit-learn's two sample photos as floats in [0, 1].

    Parameters
    ----------
    name : {"china", "flower"}
    downscale : int
        Average non-overlapping ``downscale × downscale`` blocks (1 keeps the full
        427 × 640 photo); useful to keep a per-pixel model fast.

    Returns
    -------
    ndarray, shape (H // downscale, W // downscale, 3), float32

    Raises
    ------
    ValueError
        An unknown ``name``, or ``downscale`` larger than the photo (it would leave no pixel).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {tuple(PHOTOS)}; got {name!r}.")
    check_one_of(name, "name", tuple(PHOTOS))
    factor = check_int(downscale, "downscale", min_value=1)
    if factor > min(_PHOTO_SIZE):
        raise ValueError(
            f"downscale must be at most {min(_PHOTO_SIZE)} (the photos are "
            f"{_PHOTO_SIZE[0]} × {_PHOTO_SIZE[1]}), got {factor}: it would leave no pixel."
        )
    from sklearn.datasets import load_sample_image

    photo = load_sample_image(PHOTOS[name]).astype(np.float32) / 255.0
    if factor > 1:
        h, w = (photo.shape[0] // factor) * factor, (photo.shape[1] // factor) * factor
        photo = photo[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean((1, 3))
    return photo
