"""scikit-learn's bundled 8×8 handwritten digits (1,797 images, no download) as tensors."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.data.splits import (
    _check_binarize,
    _check_float_dtype,
    _check_split,
    _split_indices,
    _to_tensors,
)

DIGIT_CLASSES = tuple(str(d) for d in range(10))


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    return bunch.images.astype(np.uint8), bunch.target.astype(np.int64)


def load_digits(
    split: str = "train",
    *,
    binarize: bool | str = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 handwritten digits, scaled to [0, 1].

    The split is stratified and fixed: 70% train (1,259), 10% val (179), 20% test (359).

    Parameters
    ----------
    split : {"train", "val", "test", "all"}
    binarize : bool or "stochastic"
        ``True`` thresholds at 0.5; ``"stochastic"`` draws each pixel from a Bernoulli with
        the grey level as probability (with a fixed seed, so always the same images).
    device : torch.device or str, optional
        Where the tensors go; default ``get_device()``.
    dtype : torch.dtype
        Floating dtype of the images (``torch.float32``, ``torch.float64``, ...). Integer
        dtypes are refused: they would truncate the grey levels to 0 or 1. The raw grey
        levels 0..16 are ``(images * 16).round()``.

    Returns
    -------
    images : Tensor, shape (N, 1, 8, 8), values in [0, 1]
    labels : Tensor, shape (N,), int64 in 0..9

    Raises
    ------
    TypeError, ValueError
        A bad ``split``, ``binarize``, ``device`` or ``dtype``, before any work.
    """
    _check_split(split)
    binarize = _check_binarize(binarize)
    dtype = _check_float_dtype(dtype)
    target = resolve_device(device)
    images, labels = _digits_arrays()
    idx = _split_indices(labels, split, (0.10, 0.20))
    # The digits' grey levels run from 0 to 16.
    return _to_tensors(
        images[idx], labels[idx], scale=16.0, binarize=binarize, device=target, dtype=dtype
    )
