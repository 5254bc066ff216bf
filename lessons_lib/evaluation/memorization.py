"""A memorization check: the pixel distance of each sample to its nearest training image.

A model that copies its training set scores like a perfect model on the sample metrics (FD,
precision and recall, NDB); only the distance to the nearest training image gives it away
(the nearest-neighbour check of Theis et al. 2016, "A note on the evaluation of generative
models", who also show how little a small distance alone proves).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.validation import ArrayLike, like_input
from lessons_lib.evaluation._inputs import (
    _check_batch_size,
    _check_same_image_shape,
    _checked_images,
)
from lessons_lib.evaluation._scaling import _flat, _float_dtype, _pow2_exponent, _times_pow2

__all__ = ["NearestTrain", "nearest_train_distance"]


class NearestTrain(NamedTuple):
    """Per sample: the L2 distance to its nearest training image, and that image's index."""

    distance: ArrayLike
    index: ArrayLike


def _nearest_rows(
    query: torch.Tensor, bank: torch.Tensor, bank_sq: torch.Tensor, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest row of ``bank`` (M, D) for each row of ``query`` (N, D): distances and indices.

    ``bank_sq`` is ``(bank ** 2).sum(1)``, passed in so a fixed bank pays for it once.
    """
    # |x - t|² up to the constant |x|² is enough to find the nearest t...
    buffer = torch.empty(
        (min(batch_size, len(query)), len(bank)), dtype=bank.dtype, device=bank.device
    )
    indices = []
    for chunk in query.split(batch_size):
        block = torch.mm(chunk, bank.T, out=buffer[: len(chunk)])
        indices.append(block.mul_(-2.0).add_(bank_sq).argmin(1))
    index = torch.cat(indices)
    # ...whose distance is then computed exactly, so a copy gives 0, not rounding noise
    # (the difference in the wider dtype: float32 - float32 can round, float64 - float64 of
    # float32 values cannot).
    wide = _float_dtype(query.device)
    difference = query.to(wide) - bank[index].to(wide)
    distance = difference.pow(2).sum(1).sqrt()
    return distance, index


def nearest_train_distance(
    samples: ArrayLike,
    train: ArrayLike,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 256,
) -> NearestTrain:
    """A memorization check: how far is each sample from its nearest training image?

    Distances are in pixel space, ``sqrt(sum((x - t)²))`` over all C·H·W values, exact for
    the nearest image (a copy of a training image gives exactly 0). The search runs in
    float32, or in float64 when either input is float64 (and the device has it).

    Parameters
    ----------
    samples : Tensor or ndarray, shape (N, C, H, W), values in [0, 1]
    train : Tensor or ndarray, shape (M, C, H, W), values in [0, 1]

    Returns
    -------
    NearestTrain(distance, index)
        ``distance``: (N,) float, ``index``: (N,) int64 into ``train``. NumPy arrays when
        ``samples`` is a NumPy array, else tensors on the computing device. Compare them with
        the distances of held-out test images (:func:`calibration_table`): a model whose
        samples sit much closer to the training set than test images do is copying.
    """
    _checked_images(samples, "samples")
    _checked_images(train, "train")
    _check_same_image_shape(samples, "samples", train, "train")
    batch_size = _check_batch_size(batch_size)
    target = resolve_device(device)
    double = any(str(x.dtype) in ("float64", "torch.float64") for x in (samples, train))
    dtype = _float_dtype(target) if double else torch.float32
    query, bank = _flat(samples, target, dtype), _flat(train, target, dtype)
    # Pixels below ~1e-18 would square to float32 underflow (0): scale by a power of two
    # (exact, and the nearest image does not change), then scale the distances back.
    exponent = _pow2_exponent(query, bank)
    exponent = exponent if exponent < -60 else 0
    query, bank = _times_pow2(query, -exponent), _times_pow2(bank, -exponent)
    distance, index = _nearest_rows(query, bank, (bank * bank).sum(1), batch_size)
    distance = _times_pow2(distance, exponent)
    return NearestTrain(like_input(distance, samples), like_input(index, samples))
