"""Image grids: tiling a batch into one picture, showing and comparing batches, enlarging pixels.

Images are shown with nearest-neighbour pixels (``interpolation="nearest"``) and enlarged by
pixel repetition (:func:`upscale_nearest`), so an 8×8 digit is never blurred.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from lessons_lib.core.validation import ArrayLike, as_numpy, check_array, check_int
from lessons_lib.plotting._checks import _axes, _cmap, _figsize_ok, _pixels_ok, _real, _title
from lessons_lib.plotting._figure import _new_figure


def _as_grid_batch(images: ArrayLike) -> tuple[np.ndarray, int | None]:
    """Bring any accepted layout to (N, H, W, C) floats and a row length if the layout has one.

    Accepted: (H, W), (H, W, 3) one colour photo, (N, H, W), (N, C, H, W), (R, K, C, H, W).
    """
    source = as_numpy(images)
    if source.dtype.kind not in "fiu":  # a bool array is a mask: convert it with .float()
        raise TypeError(f"images must hold real numbers, got an array of dtype {source.dtype}.")
    check_array(source, "images", ndim=(2, 3, 4, 5))
    if source.dtype.kind == "f" and float(np.abs(source).max()) > float(np.finfo(np.float32).max):
        raise ValueError(
            f"images has values up to {float(np.abs(source).max()):.3g}; images hold grey "
            "levels in [0, 1] (float32). Rescale them."
        )
    array = source.astype(np.float32, copy=False)
    nrow = None
    if array.ndim == 2:
        array = array[None, None]
    elif array.ndim == 3 and array.shape[-1] in (3, 4) and array.shape[0] > 4:
        array = array.transpose(2, 0, 1)[None]
    elif array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 5:
        nrow = array.shape[1]
        array = array.reshape(-1, *array.shape[2:])
    if array.shape[1] not in (1, 3):
        raise ValueError(
            f"images must have 1 or 3 channels in the layout (N, C, H, W), got shape "
            f"{tuple(source.shape)}."
        )
    return array.transpose(0, 2, 3, 1), nrow


def _grid_layout(n: int, nrow: int | None, layout_nrow: int | None) -> tuple[int, int]:
    """Images per row and number of rows for ``n`` images (default: about a square)."""
    per_row = min(nrow or layout_nrow or math.ceil(math.sqrt(n)), n)
    return per_row, math.ceil(n / per_row)


def upscale_nearest(image: ArrayLike, factor: int) -> np.ndarray:
    """Enlarge an (H, W) or (H, W, C) image by repeating each pixel ``factor`` times per axis."""
    factor = check_int(factor, "factor", min_value=1)
    array = as_numpy(image)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"image must hold real numbers, got an array of dtype {array.dtype}.")
    check_array(array, "image", ndim=(2, 3))
    _pixels_ok(
        array.shape[0] * array.shape[1] * factor**2, "the enlarged image", "use a smaller factor"
    )
    return array.repeat(factor, axis=0).repeat(factor, axis=1)


def _auto_upscale(size: int, target: int = 64) -> int:
    return max(1, math.ceil(target / size))


def _check_upscale(upscale: Any) -> int | str:
    if isinstance(upscale, str):
        if upscale != "auto":
            raise ValueError(f"upscale must be a positive int or 'auto', got {upscale!r}.")
        return upscale
    return check_int(upscale, "upscale", min_value=1)


def tile_images(
    images: ArrayLike,
    nrow: int | None = None,
    *,
    padding: int = 1,
    pad_value: float = 0.5,
    upscale: int | str = 1,
) -> np.ndarray:
    """Tile a batch of images into one array (what a widget sends to the browser).

    Parameters
    ----------
    images : array or Tensor
        (N, C, H, W), (N, H, W), (H, W), (H, W, 3) or (R, K, C, H, W); C is 1 or 3.
    nrow : int, optional
        Images per row (>= 1); default: the layout's own rows, else about a square.
    padding : int
        Pixels between images (before enlarging), >= 0.
    pad_value : float
        Grey level of the padding; the default mid grey 0.5 stays visible between black and
        white tiles alike (binary images included), on the usual [0, 1] grey scale.
    upscale : int or "auto"
        Nearest-neighbour enlargement factor; ``"auto"`` makes small images at least 64 px.

    Returns
    -------
    ndarray, shape (H', W') for grey images or (H', W', 3) for colour, float32 in the input range
    """
    if nrow is not None:
        nrow = check_int(nrow, "nrow", min_value=1)
    padding = check_int(padding, "padding", min_value=0)
    pad_value = _real(pad_value, "pad_value")
    if abs(pad_value) > float(np.finfo(np.float32).max):
        raise ValueError(f"pad_value={pad_value:g} is beyond the float32 range of the picture.")
    upscale = _check_upscale(upscale)
    batch, layout_nrow = _as_grid_batch(images)
    n, h, w, c = batch.shape
    per_row, n_rows = _grid_layout(n, nrow, layout_nrow)
    shape = (n_rows * (h + padding) + padding, per_row * (w + padding) + padding)
    factor = _auto_upscale(min(h, w)) if upscale == "auto" else upscale
    _pixels_ok(
        shape[0] * shape[1] * factor**2,
        "the tiled picture",
        f"use fewer images, a smaller padding (padding={padding}) or upscale (upscale={upscale})",
    )
    grid = np.full((*shape, c), pad_value, dtype=np.float32)
    for k in range(n):
        r, col = divmod(k, per_row)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = batch[k]
    grid = upscale_nearest(grid, factor)
    return grid[..., 0] if c == 1 else grid


def show_images(
    images: ArrayLike,
    nrow: int | None = None,
    *,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    cmap: str = "gray",
    vmin: float = 0.0,
    vmax: float = 1.0,
    scale: float = 1.0,
    ax=None,
    pad_value: float | None = None,
) -> Figure:
    """Show a batch of images as a grid.

    Parameters
    ----------
    images : array or Tensor
        Any layout that :func:`tile_images` accepts, values in [vmin, vmax] (others are
        refused rather than clipped silently).
    nrow : int, optional
        Images per row.
    titles : sequence of str, optional
        One title per image (then each image gets its own small axes).
    title : str, optional
        Title of the whole grid.
    cmap, vmin, vmax
        Colour map and range for grey images (``vmin < vmax``).
    scale : float
        Inches per image row/column, relative to the default size (> 0).
    ax : matplotlib Axes, optional
        Draw into this axes (only without ``titles``).
    pad_value : float, optional
        Grey level of the lines between the images (default: halfway between vmin and vmax, a
        mid grey that separates black and white images alike).

    Returns
    -------
    Figure
    """
    nrow, cmap, vmin, vmax, scale = _check_show_options(nrow, title, cmap, vmin, vmax, scale, ax)
    batch, layout_nrow = _as_grid_batch(images)
    _check_in_range(batch, vmin, vmax)
    pad_value = (vmin + vmax) / 2 if pad_value is None else _real(pad_value, "pad_value")
    per_row, n_rows = _grid_layout(len(batch), nrow, layout_nrow)
    shade = (cmap, vmin, vmax)
    if titles is not None:
        _check_titles(titles, len(batch), ax)
        return _show_titled(batch, titles, (per_row, n_rows), shade, title=title, scale=scale)
    grid = tile_images(images, per_row, padding=1, pad_value=pad_value)
    if ax is None:
        fig = _new_figure(
            _figsize_ok(min(12.0, 0.9 * scale * per_row + 0.5), 0.9 * scale * n_rows + 0.5)
        )
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    _imshow(ax, grid, *shade)
    ax.set_title(title or f"{len(batch)} image(s)")
    return fig


def _check_show_options(
    nrow: Any, title: Any, cmap: Any, vmin: Any, vmax: Any, scale: Any, ax: Any
) -> tuple[int | None, Any, float, float, float]:
    """The options of :func:`show_images`, checked in the order of its signature."""
    if nrow is not None:
        nrow = check_int(nrow, "nrow", min_value=1)
    _title(title)
    cmap = _cmap(cmap)
    vmin, vmax = _real(vmin, "vmin"), _real(vmax, "vmax")
    if not vmin < vmax:
        raise ValueError(f"vmin must be < vmax, got vmin={vmin:g}, vmax={vmax:g}.")
    scale = _real(scale, "scale", positive=True)
    _axes(ax)
    return nrow, cmap, vmin, vmax, scale


def _check_in_range(batch: np.ndarray, vmin: float, vmax: float) -> None:
    # Rounding is not an error: a mixture's mean of 0/1 pixels can come out at -3e-17, and
    # whether it does depends on the thread count. imshow clips such values to vmin/vmax.
    low, high = float(batch.min()), float(batch.max())
    slack = 1e-6 * (vmax - vmin)
    if low < vmin - slack or high > vmax + slack:
        raise ValueError(
            f"images must lie in [vmin, vmax] = [{vmin:g}, {vmax:g}], but they span "
            f"[{low:g}, {high:g}]; clip them (np.clip(x, {vmin:g}, {vmax:g})) or pass vmin/vmax."
        )


def _check_titles(titles: Any, n: int, ax: Any) -> None:
    if isinstance(titles, str) or not isinstance(titles, Sequence):
        raise TypeError(f"titles must be a list of str, one per image, got {titles!r}.")
    if len(titles) != n:
        raise ValueError(f"titles has {len(titles)} entries for {n} images.")
    if ax is not None:
        raise ValueError("ax= draws one grid; with titles= each image needs its own axes.")


def _show_titled(
    batch: np.ndarray,
    titles: Sequence[str],
    layout: tuple[int, int],
    shade: tuple[Any, float, float],
    *,
    title: str | None,
    scale: float,
) -> Figure:
    """One small axes per image, each with its own title (``shade`` is cmap, vmin, vmax)."""
    per_row, n_rows = layout
    aspect = batch.shape[1] / batch.shape[2]  # rows as tall as their images: no empty bands
    height = (1.3 * scale * aspect + 0.3) * n_rows + (0.4 if title else 0.0)
    fig = _new_figure(_figsize_ok(1.3 * scale * per_row, height))
    fig.set_layout_engine("constrained")  # room for every title and the suptitle
    for k in range(len(batch)):
        sub = fig.add_subplot(n_rows, per_row, k + 1)
        _imshow(sub, batch[k], *shade)
        sub.set_title(str(titles[k]), fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def _imshow(ax, image: np.ndarray, cmap: str, vmin: float, vmax: float) -> None:
    image = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
    ax.imshow(np.clip(image, vmin, vmax), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def compare_images(
    rows: Mapping[str, ArrayLike],
    *,
    ncol: int | None = None,
    title: str | None = None,
    cmap: str = "gray",
    pad_value: float = 0.5,
) -> Figure:
    """Side-by-side comparison: one labelled row per entry (e.g. truth, masked, restored).

    Parameters
    ----------
    rows : mapping of str to images
        Each value is a batch in any layout of :func:`tile_images`; the key labels the row.
    ncol : int, optional
        Images per row (default: the largest batch).
    title : str, optional
        Title of the figure.
    cmap : str
        Colour map of grey images.
    pad_value : float
        Grey level of the lines between the images (default mid grey: it separates black and
        white images alike).

    Returns
    -------
    Figure
    """
    if not isinstance(rows, Mapping):
        raise TypeError(
            f"rows must be a mapping such as {{'truth': x, 'restored': y}}, got "
            f"{type(rows).__name__}."
        )
    if not rows:
        raise ValueError("rows is empty; pass a mapping such as {'truth': x, 'restored': y}.")
    if ncol is not None:
        ncol = check_int(ncol, "ncol", min_value=1)
    _title(title)
    cmap = _cmap(cmap)
    pad_value = _real(pad_value, "pad_value")
    batches = {}
    for name, images in rows.items():
        try:
            batches[str(name)] = _as_grid_batch(images)[0]
        except (TypeError, ValueError) as err:
            raise type(err)(f"rows[{name!r}]: {err}") from err
    per_row = ncol or max(len(b) for b in batches.values())
    fig = _new_figure(_figsize_ok(min(14.0, 0.9 * per_row + 1.5), 1.0 * len(batches) + 0.6, "rows"))
    fig.set_layout_engine("constrained")  # the row labels and the title stay clear of the images
    for k, (name, batch) in enumerate(batches.items()):
        ax = fig.add_subplot(len(batches), 1, k + 1)
        grid = tile_images(batch[:per_row].transpose(0, 3, 1, 2), per_row, pad_value=pad_value)
        _imshow(ax, grid, cmap, 0.0, 1.0)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return fig
