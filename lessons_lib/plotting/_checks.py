"""Argument checks shared by the figures, and the size limits they enforce.

Each check raises a ``TypeError`` or ``ValueError`` that names the argument, before any
drawing starts. The limits stop an upscale factor, a dpi or a coordinate typed with a zero too
many at once, instead of exhausting memory or overflowing matplotlib's axis arithmetic.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from lessons_lib.core.validation import as_numpy, check_array

#: Most pixels an image array or a rendered PNG may have (a 16k × 8k picture): an upscale
#: factor or a dpi typed with a zero too many fails at once instead of exhausting memory.
MAX_PIXELS = 2**27
#: Largest coordinate matplotlib can place: beyond it, its axis arithmetic overflows to inf.
MAX_COORDINATE = 1e300
#: Largest figure side in inches (Agg renders at most 2**16 pixels a side).
MAX_INCHES = 300.0


class _KeyValueError(KeyError, ValueError):
    """A missing key: a ``KeyError`` that is also a ``ValueError``, with a readable message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _real(value: Any, name: str, *, positive: bool = False) -> float:
    """A finite real number (not a bool), > 0 when ``positive``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}.")
    return value


def _numeric(values: Any, name: str, **checks: Any) -> np.ndarray:
    """``values`` (array, tensor or nested list of numbers) as a float64 array, checked."""
    array = as_numpy(values)
    if array.dtype.kind not in "fiu":  # a bool array is a mask, not numbers to plot
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {array.dtype}.")
    check_array(array, name, **checks)
    return array.astype(np.float64)


def _coordinates(values: Any, name: str, **checks: Any) -> np.ndarray:
    """Plot coordinates: numbers, finite, and small enough for matplotlib's axis arithmetic."""
    array = _numeric(values, name, **checks)
    if array.size and float(np.abs(array).max()) > MAX_COORDINATE:
        raise ValueError(
            f"{name} has values up to {float(np.abs(array).max()):.3g}; matplotlib cannot place "
            f"points beyond about {MAX_COORDINATE:g}. Rescale {name}."
        )
    return array


def _cmap(cmap: Any) -> Any:
    import matplotlib as mpl
    from matplotlib.colors import Colormap

    if isinstance(cmap, Colormap):
        return cmap
    if not isinstance(cmap, str) or cmap not in mpl.colormaps:
        raise ValueError(
            f"cmap must be a matplotlib colour map name such as 'gray' or 'viridis', got {cmap!r}."
        )
    return cmap


def _axes(ax: Any) -> None:
    from matplotlib.axes import Axes

    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes (or None), got {type(ax).__name__}.")


def _title(title: Any, name: str = "title") -> None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"{name} must be a str, got {type(title).__name__}.")


def _figsize_ok(width: float, height: float, name: str = "scale") -> tuple[float, float]:
    if not (width <= MAX_INCHES and height <= MAX_INCHES):
        raise ValueError(
            f"the figure would be {width:.3g} × {height:.3g} inches (at most {MAX_INCHES:g} a "
            f"side): use a smaller {name} or fewer images."
        )
    return width, height


def _pixels_ok(n_pixels: float, what: str, fix: str) -> None:
    if n_pixels > MAX_PIXELS:
        raise ValueError(
            f"{what} would have {n_pixels:.3g} pixels (at most {MAX_PIXELS:.3g}); {fix}."
        )
