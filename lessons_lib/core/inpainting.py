"""The one inpainting face: ``model.inpaint(x, mask)`` for every model of the course.

Every model that completes partly observed data (``Gaussian``, ``GaussianMixture``,
``mrf.IsingPrior``, ``VAE``) takes the same two arguments:

* ``x``: a batch, either images ``(N, C, H, W)`` (any trailing shape) or flat rows ``(N, D)``.
  Values at missing positions are ignored; they may be anything, NaN included.
* ``mask``: bool, **True where a value is observed**, of the shape of ``x`` or of one item
  (``x.shape[1:]``, or ``(H, W)`` for one-channel images: the same pattern for every item).

and returns an array of the shape of ``x`` (NumPy in, NumPy out), observed values unchanged and
missing ones filled with the model's estimate of ``E[x_missing | x_observed]``.

This module only moves between the two layouts; each model validates the values itself.
"""

from __future__ import annotations

import math
from typing import Any

from lessons_lib.core.validation import check_array

__all__ = ["as_flat_rows", "restore_shape"]


def as_flat_rows(x: Any, mask: Any, n_features: int, *, name: str = "x") -> tuple[Any, Any]:
    """View a batch and its mask as flat rows ``(N, n_features)``.

    Parameters
    ----------
    x : array or Tensor, shape (N, D) or (N, *item_shape) with ``prod(item_shape) == D``
    mask : bool array or Tensor, shape of ``x``, of one item (``x.shape[1:]``, leading 1s
        optional) or (D,)
    n_features : int
        D, the number of values the model describes per item.

    Returns
    -------
    x_rows : shape (N, D)
    mask_rows : shape (N, D) or (D,)
    """
    check_array(x, name, kinds="fiu", finite=False)
    if x.ndim < 2 or math.prod(x.shape[1:]) != n_features:
        raise ValueError(
            f"{name} must be a batch of items with {n_features} values each: flat rows "
            f"(N, {n_features}) or images (N, C, H, W) with C·H·W = {n_features}; got shape "
            f"{tuple(x.shape)}."
        )
    check_array(mask, "mask", kinds="b")
    item_shape = tuple(x.shape[1:])
    if tuple(mask.shape) == tuple(x.shape):
        mask_rows = mask.reshape(len(x), n_features)
    elif tuple(mask.shape) == (n_features,) or _is_one_item(tuple(mask.shape), item_shape):
        mask_rows = mask.reshape(n_features)
    else:
        raise ValueError(
            f"mask must have the shape of {name} {tuple(x.shape)} or of one item {item_shape} "
            f"(True where a value is observed); got shape {tuple(mask.shape)}."
        )
    return x.reshape(len(x), n_features), mask_rows


def _is_one_item(shape: tuple[int, ...], item_shape: tuple[int, ...]) -> bool:
    """``shape`` is ``item_shape`` less some leading 1s: (H, W) for items (1, H, W)."""
    return (
        len(shape) <= len(item_shape)
        and item_shape[len(item_shape) - len(shape) :] == shape
        and all(size == 1 for size in item_shape[: len(item_shape) - len(shape)])
    )


def restore_shape(filled: Any, x: Any) -> Any:
    """``filled`` (N, D) back in the shape of the caller's ``x``."""
    return filled if tuple(filled.shape) == tuple(x.shape) else filled.reshape(x.shape)
