"""Input checks shared by every module.

Each check raises *before any work*, with a message that names the argument, says what was
expected and what came instead. They accept NumPy arrays and torch tensors alike and return
their input unchanged, so they can be chained::

    X = check_array(X, "X", ndim=2, finite=True)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "ArrayLike",
    "as_numpy",
    "as_tensor",
    "check_array",
    "check_binary_spins",
    "check_images",
    "check_int",
    "check_labels",
    "check_one_of",
    "check_positive",
    "check_probability",
    "like_input",
]

ArrayLike = np.ndarray | torch.Tensor

_KIND_NAMES = {"f": "floating-point", "i": "integer", "b": "boolean", "u": "unsigned integer"}


def _kind(x: ArrayLike) -> str:
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.bool:
            return "b"
        if x.dtype.is_floating_point:
            return "f"
        if x.dtype.is_complex:
            return "c"
        return "u" if x.dtype == torch.uint8 else "i"
    return x.dtype.kind


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor | np.ndarray):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__}"


def check_array(
    x: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    kinds: str | None = None,
    finite: bool = True,
    min_value: float | None = None,
    max_value: float | None = None,
    allow_empty: bool = False,
) -> ArrayLike:
    """Check a NumPy array or torch tensor and return it unchanged.

    Parameters
    ----------
    x : ndarray or Tensor
        The value to check.
    name : str
        The argument's name, used in the error message.
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions.
    shape : sequence of int or None, optional
        Expected shape; ``None`` entries match any size.
    kinds : str, optional
        Allowed dtype kinds: any of ``"f"`` (float), ``"i"`` (signed int), ``"u"``
        (unsigned int), ``"b"`` (bool).
    finite : bool
        Reject NaN and infinite values.
    min_value, max_value : float, optional
        Inclusive bounds on every value.
    allow_empty : bool
        Accept an array with no elements.

    Raises
    ------
    TypeError
        ``x`` is not an array or tensor, or has a dtype of the wrong kind.
    ValueError
        Wrong dimensions or shape, empty, non-finite values, values out of bounds.
    """
    if not isinstance(x, np.ndarray | torch.Tensor):
        raise TypeError(
            f"{name} must be a NumPy array or a torch tensor, got {_describe(x)}. "
            f"Convert it with np.asarray({name}) or torch.as_tensor({name})."
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            wanted = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {wanted} dimensions, got {_describe(x)}.")
    if shape is not None:
        expected = tuple(shape)
        if len(expected) != x.ndim or any(
            e is not None and e != s for e, s in zip(expected, x.shape)
        ):
            pretty = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
            raise ValueError(f"{name} must have shape {pretty}, got {_describe(x)}.")
    if kinds is not None and _kind(x) not in kinds:
        wanted = " or ".join(_KIND_NAMES.get(k, k) for k in kinds)
        raise TypeError(f"{name} must have a {wanted} dtype, got {_describe(x)}.")
    n_elements = x.numel() if isinstance(x, torch.Tensor) else x.size
    if n_elements == 0:
        if allow_empty:
            return x
        raise ValueError(f"{name} is empty ({_describe(x)}); it needs at least one value.")
    is_float = _kind(x) in "fc"
    if finite and is_float:
        all_finite = (
            bool(torch.isfinite(x).all())
            if isinstance(x, torch.Tensor)
            else bool(np.isfinite(x).all())
        )
        if not all_finite:
            raise ValueError(
                f"{name} contains NaN or infinite values; clean or impute them before calling."
            )
    if min_value is not None or max_value is not None:
        low, high = (float(v) for v in ((x.min(), x.max())))
        if min_value is not None and low < min_value:
            raise ValueError(f"{name} must be >= {min_value}, but its minimum is {low:g}.")
        if max_value is not None and high > max_value:
            raise ValueError(f"{name} must be <= {max_value}, but its maximum is {high:g}.")
    return x


def check_images(
    images: Any,
    name: str = "images",
    *,
    channels: int | Sequence[int] | None = None,
    size: tuple[int, int] | None = None,
) -> ArrayLike:
    """Check a batch of images: shape (N, C, H, W), floating point, finite, values in [0, 1].

    Parameters
    ----------
    images : ndarray or Tensor, shape (N, C, H, W)
    name : str
        The argument's name, for the error message.
    channels : int or sequence of int, optional
        Allowed channel counts (1 for grey, 3 for colour).
    size : (int, int), optional
        Expected (H, W).
    """
    check_array(images, name, ndim=4, kinds="f")
    if channels is not None:
        allowed = (channels,) if isinstance(channels, int) else tuple(channels)
        if images.shape[1] not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} channel(s) in axis 1 "
                f"(layout N, C, H, W), got {_describe(images)}."
            )
    if size is not None and tuple(images.shape[2:]) != tuple(size):
        raise ValueError(f"{name} must be {size[0]}×{size[1]} images, got {_describe(images)}.")
    return check_array(images, name, min_value=0.0, max_value=1.0)


def check_labels(
    labels: Any, name: str = "labels", *, n: int | None = None, n_classes: int | None = None
) -> ArrayLike:
    """Check integer class labels of shape (N,), each in ``[0, n_classes)``."""
    check_array(labels, name, ndim=1, kinds="iu", shape=None if n is None else (n,))
    if n_classes is not None:
        check_array(labels, name, min_value=0, max_value=n_classes - 1)
    return labels


def check_binary_spins(x: Any, name: str = "spins") -> ArrayLike:
    """Check that every value is -1 or +1 (the course's convention for binary MRF images)."""
    check_array(x, name, kinds="fiu")
    values = torch.unique(x) if isinstance(x, torch.Tensor) else np.unique(x)
    bad = [float(v) for v in values if float(v) not in (-1.0, 1.0)]
    if bad:
        raise ValueError(
            f"{name} must contain only -1 and +1 (a binary image as spins), but it also holds "
            f"{bad[:5]}. Map a {{0, 1}} image with 2 * x - 1."
        )
    return x


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive(value: Any, name: str, *, strict: bool = True) -> float:
    """Check a real scalar is > 0 (``strict``) or >= 0 and finite; return it as a float."""
    if not _is_real(value) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}.")
    if (strict and value <= 0) or (not strict and value < 0):
        sign = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be {sign}, got {value!r}.")
    return float(value)


def check_probability(
    value: Any, name: str, *, low: float = 0.0, high: float = 1.0, inclusive: bool = False
) -> float:
    """Check a real scalar lies in ``(low, high)`` (or ``[low, high]``); return it as a float."""
    if not _is_real(value) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}.")
    inside = low <= value <= high if inclusive else low < value < high
    if not inside:
        interval = f"[{low}, {high}]" if inclusive else f"({low}, {high})"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}.")
    return float(value)


def check_int(value: Any, name: str, *, min_value: int | None = None) -> int:
    """Check ``value`` is an integer (not a bool), at least ``min_value``; return it as int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}.")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value!r}.")
    return int(value)


def check_one_of(value: Any, name: str, options: Sequence[Any]) -> Any:
    """Check ``value`` is one of ``options``; the error lists them."""
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {listed}; got {value!r}.")
    return value


def as_numpy(x: Any) -> np.ndarray:
    """A NumPy view or copy of ``x`` (a tensor on any device, an array, or a sequence)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def as_tensor(
    x: Any, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """A torch tensor from ``x``; avoids a copy when dtype and device already match."""
    if isinstance(x, torch.Tensor):
        return x.to(device=device if device is not None else x.device, dtype=dtype or x.dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def like_input(result: torch.Tensor, reference: Any) -> ArrayLike:
    """Return ``result`` as NumPy when ``reference`` was NumPy (numpy in, numpy out)."""
    if isinstance(reference, torch.Tensor):
        return result
    return result.detach().cpu().numpy()
