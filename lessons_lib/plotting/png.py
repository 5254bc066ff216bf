"""PNG bytes for a browser: a rendered figure, or an image array encoded without a figure."""

from __future__ import annotations

import io

import numpy as np
from matplotlib import image as mpl_image
from matplotlib.figure import Figure

from lessons_lib.core.validation import ArrayLike, as_numpy, check_array, check_bool, check_int
from lessons_lib.plotting._checks import _cmap, _pixels_ok


def figure_to_png(fig: Figure, *, dpi: int = 80, close: bool = True) -> bytes:
    """Render a figure to PNG bytes (and close it, so notebooks do not show it twice)."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}.")
    dpi = check_int(dpi, "dpi", min_value=1)
    close = check_bool(close, "close")
    width, height = fig.get_size_inches()
    _pixels_ok(width * height * dpi**2, f"the PNG at dpi={dpi}", "use a smaller dpi")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buffer.getvalue()


def array_to_png(image: ArrayLike, *, cmap: str = "gray") -> bytes:
    """Encode an (H, W) grey or (H, W, 3) colour image with values in [0, 1] as PNG bytes.

    Values outside [0, 1], NaN and inf are refused (clip first to show such an image). An
    (H, W, 4) array is taken as RGBA. Fast (a few ms for a 500 × 500 grid): no figure is made.
    """
    source = as_numpy(image)
    if source.dtype.kind not in "fiu":
        raise TypeError(f"image must hold real numbers, got an array of dtype {source.dtype}.")
    check_array(source, "image", ndim=(2, 3), min_value=0.0, max_value=1.0)
    if source.ndim == 3 and source.shape[-1] not in (3, 4):
        raise ValueError(
            f"image must be (H, W) grey or (H, W, 3) colour, got shape {tuple(source.shape)}."
        )
    _pixels_ok(source.shape[0] * source.shape[1], "the image", "pass a smaller image")
    cmap = _cmap(cmap)
    array = source.astype(np.float32)
    buffer = io.BytesIO()
    if array.ndim == 2:
        mpl_image.imsave(buffer, array, cmap=cmap, vmin=0.0, vmax=1.0, format="png")
    else:
        mpl_image.imsave(buffer, array, format="png")
    return buffer.getvalue()
