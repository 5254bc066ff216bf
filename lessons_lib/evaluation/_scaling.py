"""Exact power-of-two scaling and the distance dtype, shared by the distance-based metrics.

Scaling by powers of two is exact (barring underflow of values far below the largest), so
distance-based metrics can bring any finite input to magnitude ~1 without changing a single
comparison: squares of 1e200 overflow float64 and squares of 1e-200 underflow to 0. No paper.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from lessons_lib.core.validation import ArrayLike, as_tensor


def _flat(images: ArrayLike, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    """Images as an (N, C*H*W) tensor on ``device``."""
    return as_tensor(images, dtype=dtype, device=device).reshape(len(images), -1)


def _float_dtype(device: torch.device) -> torch.dtype:
    # Apple's MPS has no float64; everywhere else distances are computed in double precision.
    return torch.float32 if device.type == "mps" else torch.float64


def _max_abs(x: Any) -> float:
    """The largest |value| of an array or tensor, as a Python float (0.0 when empty)."""
    if isinstance(x, torch.Tensor):
        if x.numel() == 0:
            return 0.0
        # Integers go through float64 first: abs(int64 min) overflows in its own dtype.
        values = x if x.is_floating_point() else x.double()
        return float(values.abs().max())
    array = np.asarray(x)
    if array.size == 0:
        return 0.0
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    return float(np.abs(array).max())


def _pow2_exponent(*arrays: Any) -> int:
    """e with max |value| / 2**e in [0.5, 1) over all ``arrays``; 0 when they are all zero."""
    largest = max(_max_abs(a) for a in arrays)
    return 0 if largest == 0.0 else math.frexp(largest)[1]


def _times_pow2(x: torch.Tensor, exponent: int) -> torch.Tensor:
    """``x * 2**exponent``, exact; in two factors so that 2**exponent itself cannot overflow."""
    if exponent == 0:
        return x
    half = exponent // 2
    return x * 2.0**half * 2.0 ** (exponent - half)
