"""Figures of the course: image grids, training curves, 2-D densities with Gaussian ellipses.

Every function returns its ``matplotlib.figure.Figure`` and labels its axes. Images are
shown with nearest-neighbour pixels (``interpolation="nearest"``) and, where they become PNG
bytes for a browser, enlarged by pixel repetition first, so an 8×8 digit is never blurred.
Arguments are checked before any drawing: a bad one raises a ``TypeError`` or
``ValueError`` that names it.
"""

from __future__ import annotations

import io
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import image as mpl_image
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from lessons_lib.core.validation import ArrayLike, as_numpy, check_array, check_bool, check_int

__all__ = [
    "array_to_png",
    "compare_images",
    "draw_ellipse",
    "figure_to_png",
    "plot_density_2d",
    "plot_history",
    "plot_mixture_2d",
    "scatter_2d",
    "show_images",
    "tile_images",
    "upscale_nearest",
]

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


def _new_figure(figsize: tuple[float, float]) -> Figure:
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize)


# --------------------------------------------------------------------------- argument checks


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


# --------------------------------------------------------------------------- image grids


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
    pad_value: float = 1.0,
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
        Grey level of the padding.
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
    per_row = min(nrow or layout_nrow or math.ceil(math.sqrt(n)), n)
    n_rows = math.ceil(n / per_row)
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

    Returns
    -------
    Figure
    """
    if nrow is not None:
        nrow = check_int(nrow, "nrow", min_value=1)
    _title(title)
    cmap = _cmap(cmap)
    vmin, vmax = _real(vmin, "vmin"), _real(vmax, "vmax")
    if not vmin < vmax:
        raise ValueError(f"vmin must be < vmax, got vmin={vmin:g}, vmax={vmax:g}.")
    scale = _real(scale, "scale", positive=True)
    _axes(ax)
    batch, layout_nrow = _as_grid_batch(images)
    low, high = float(batch.min()), float(batch.max())
    if low < vmin or high > vmax:
        raise ValueError(
            f"images must lie in [vmin, vmax] = [{vmin:g}, {vmax:g}], but they span "
            f"[{low:g}, {high:g}]; clip them (np.clip(x, {vmin:g}, {vmax:g})) or pass vmin/vmax."
        )
    n = len(batch)
    per_row = min(nrow or layout_nrow or math.ceil(math.sqrt(n)), n)
    n_rows = math.ceil(n / per_row)
    if titles is not None:
        if isinstance(titles, str) or not isinstance(titles, Sequence):
            raise TypeError(f"titles must be a list of str, one per image, got {titles!r}.")
        if len(titles) != n:
            raise ValueError(f"titles has {len(titles)} entries for {n} images.")
        if ax is not None:
            raise ValueError("ax= draws one grid; with titles= each image needs its own axes.")
        fig = _new_figure(_figsize_ok(1.3 * scale * per_row, 1.5 * scale * n_rows))
        for k in range(n):
            sub = fig.add_subplot(n_rows, per_row, k + 1)
            _imshow(sub, batch[k], cmap, vmin, vmax)
            sub.set_title(str(titles[k]), fontsize=9)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig
    grid = tile_images(images, per_row, padding=1, pad_value=vmax)
    if ax is None:
        fig = _new_figure(
            _figsize_ok(min(12.0, 0.9 * scale * per_row + 0.5), 0.9 * scale * n_rows + 0.5)
        )
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    _imshow(ax, grid, cmap, vmin, vmax)
    ax.set_title(title or f"{n} image(s)")
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
) -> Figure:
    """Side-by-side comparison: one labelled row per entry (e.g. truth, masked, restored).

    Parameters
    ----------
    rows : mapping of str to images
        Each value is a batch in any layout of :func:`tile_images`; the key labels the row.
    ncol : int, optional
        Images per row (default: the largest batch).

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
    batches = {}
    for name, images in rows.items():
        try:
            batches[str(name)] = _as_grid_batch(images)[0]
        except (TypeError, ValueError) as err:
            raise type(err)(f"rows[{name!r}]: {err}") from err
    per_row = ncol or max(len(b) for b in batches.values())
    fig = _new_figure(_figsize_ok(min(14.0, 0.9 * per_row + 1.5), 1.0 * len(batches) + 0.6, "rows"))
    for k, (name, batch) in enumerate(batches.items()):
        ax = fig.add_subplot(len(batches), 1, k + 1)
        grid = tile_images(batch[:per_row].transpose(0, 3, 1, 2), per_row)
        _imshow(ax, grid, cmap, 0.0, 1.0)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- curves


def plot_history(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str] | None = None,
    *,
    xlabel: str = "epoch",
    ylabel: str = "value",
    logy: bool = False,
    title: str | None = None,
    ax=None,
) -> Figure:
    """Training curves: one line per key of ``history`` (a mapping of name to values).

    ``keys`` may be one name or a list of names (default: every non-empty entry). Values
    are 1-D sequences of numbers; NaN entries show as gaps.
    """
    if not isinstance(history, Mapping):
        raise TypeError(
            f"history must be a mapping of name to values (e.g. a History), got "
            f"{type(history).__name__}."
        )
    if isinstance(keys, str):
        keys = [keys]
    if keys is not None and not isinstance(keys, Sequence):
        raise TypeError(f"keys must be a name or a list of names, got {keys!r}.")
    keys = list(keys) if keys is not None else [k for k, v in history.items() if len(v)]
    missing = [k for k in keys if k not in history]
    if missing:
        raise _KeyValueError(
            f"keys {missing} are not in the history; history has {sorted(history)}."
        )
    for label, text in (("xlabel", xlabel), ("ylabel", ylabel)):
        _title(text, label)
    _title(title)
    logy = check_bool(logy, "logy")
    _axes(ax)
    curves = {}
    for key in keys:
        values = as_numpy(history[key])
        if values.dtype.kind not in "fiub" or values.ndim != 1:
            raise ValueError(
                f"history[{key!r}] must be a 1-D sequence of numbers, got shape "
                f"{values.shape} of dtype {values.dtype}."
            )
        curves[key] = values.astype(float)
    if ax is None:
        fig = _new_figure((6.0, 3.5))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    for key, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=key)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if len(keys) > 1:
        ax.legend()
    ax.set_title(title or "training history")
    ax.grid(alpha=0.3)
    return fig


# --------------------------------------------------------------------------- 2-D densities


def _ellipse_axes(cov: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of a symmetric positive semi-definite 2×2 matrix."""
    size = float(np.abs(cov).max())
    if abs(cov[0, 1] - cov[1, 0]) > 1e-8 * size:
        raise ValueError(
            f"{name} must be symmetric, got off-diagonal entries {cov[0, 1]:g} and "
            f"{cov[1, 0]:g}; symmetrise it with (C + C.T) / 2 if the gap is rounding."
        )
    # Scaled by a power of two (exact) so that entries of 1e300 or 1e-300 stay in range.
    scale = 1.0 if size == 0 else math.ldexp(1.0, math.frexp(size)[1])
    eigenvalues, eigenvectors = np.linalg.eigh(cov / scale)
    if eigenvalues[0] < -1e-10 * max(abs(eigenvalues[-1]), 1e-300):
        raise ValueError(
            f"{name} must be positive semi-definite (a covariance), but has the eigenvalue "
            f"{eigenvalues[0] * scale:.3g}."
        )
    return np.clip(eigenvalues, 0, None) * scale, eigenvectors


def draw_ellipse(ax, mean: ArrayLike, cov: ArrayLike, n_std: float = 2.0, **style) -> Ellipse:
    """Draw the ``n_std`` standard-deviation ellipse of a 2-D Gaussian on ``ax``.

    The axes of the ellipse are the eigenvectors of ``cov``, their half-lengths
    ``n_std * sqrt(eigenvalue)``. ``cov`` must be a symmetric positive semi-definite
    (2, 2) matrix (a singular one draws a flat ellipse).
    """
    _axes(ax)
    if ax is None:
        raise TypeError("ax must be a matplotlib Axes to draw on, got None.")
    mean = _coordinates(mean, "mean", shape=(2,))
    cov = _numeric(cov, "cov", shape=(2, 2))
    n_std = _real(n_std, "n_std", positive=True)
    eigenvalues, eigenvectors = _ellipse_axes(cov, "cov")
    angle = np.degrees(np.arctan2(eigenvectors[1, -1], eigenvectors[0, -1]))
    width, height = 2 * n_std * np.sqrt(eigenvalues[::-1])
    if not (math.isfinite(width) and width <= MAX_COORDINATE):
        raise ValueError(
            f"the ellipse is too large to draw (width {width:.3g}); rescale cov or n_std."
        )
    style = {"fill": False, "lw": 2, "color": "C3", **style}
    patch = Ellipse(tuple(mean), width, height, angle=angle, **style)
    ax.add_patch(patch)
    return patch


def scatter_2d(
    points: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    title: str | None = None,
    ax=None,
    s: float = 4.0,
    alpha: float = 0.5,
) -> Figure:
    """Scatter plot of 2-D points (N, 2), coloured by ``labels`` (N,) when given."""
    points = _coordinates(points, "points", ndim=2, shape=(None, 2))
    colours = None
    if labels is not None:
        colours = _numeric(labels, "labels", ndim=1, shape=(len(points),))
    _title(title)
    _axes(ax)
    s = _real(s, "s", positive=True)
    alpha = _real(alpha, "alpha")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha:g}.")
    if ax is None:
        fig = _new_figure((4.5, 4.5))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    if colours is None:
        ax.scatter(points[:, 0], points[:, 1], s=s, alpha=alpha)
    else:
        ax.scatter(points[:, 0], points[:, 1], c=colours, s=s, alpha=alpha, cmap="tab10")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title or f"{len(points)} points")
    return fig


def _limits(limits: Any, name: str) -> tuple[float, float]:
    if isinstance(limits, str) or not isinstance(limits, Sequence | np.ndarray) or len(limits) != 2:
        raise TypeError(f"{name} must be a pair (low, high), got {limits!r}.")
    low, high = _real(limits[0], f"{name}[0]"), _real(limits[1], f"{name}[1]")
    if not low < high:
        raise ValueError(f"{name} must have low < high, got {name}=({low:g}, {high:g}).")
    if max(abs(low), abs(high)) > MAX_COORDINATE:
        raise ValueError(f"{name} reaches beyond {MAX_COORDINATE:g}, which matplotlib cannot draw.")
    return low, high


def plot_density_2d(
    log_density: Callable[[np.ndarray], np.ndarray],
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    points: ArrayLike | None = None,
    means: ArrayLike | None = None,
    covariances: ArrayLike | None = None,
    resolution: int = 150,
    title: str | None = None,
    ax=None,
) -> Figure:
    """Filled contours of a 2-D density, with optional data points and Gaussian ellipses.

    Parameters
    ----------
    log_density : callable
        Maps an (M, 2) float64 array of points to their (M,) log-densities (finite or
        ``-inf``).
    xlim, ylim : (float, float)
        The plotted window, low < high.
    points : (N, 2), optional
        Data drawn on top.
    means, covariances : (K, 2) and (K, 2, 2), optional
        Components drawn as 2-standard-deviation ellipses (give both or neither).
    resolution : int
        Grid points per axis, 2 to 2000.

    Notes
    -----
    When the largest log-density on the window is beyond ±700 (the density itself would
    overflow to inf or underflow to 0 in float64), the colours show
    :math:`p(x) / p_{max}` instead, and the colour bar says so.
    """
    if not callable(log_density):
        raise TypeError(f"log_density must be callable, got {type(log_density).__name__}.")
    xlim, ylim = _limits(xlim, "xlim"), _limits(ylim, "ylim")
    resolution = check_int(resolution, "resolution", min_value=2)
    if resolution > 2000:
        raise ValueError(f"resolution must be at most 2000 per axis, got {resolution}.")
    _title(title)
    _axes(ax)
    pts = None if points is None else _coordinates(points, "points", ndim=2, shape=(None, 2))
    if (means is None) != (covariances is None):
        raise ValueError("means and covariances go together: pass both or neither.")
    if means is not None:
        means = _coordinates(means, "means", ndim=2, shape=(None, 2))
        covariances = _numeric(covariances, "covariances", shape=(len(means), 2, 2))
        for k, cov in enumerate(covariances):
            _ellipse_axes(cov, f"covariances[{k}]")
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    values = log_density(grid)
    if not hasattr(values, "shape"):
        values = np.asarray(values)
    log_p = as_numpy(values).astype(np.float64)
    if log_p.shape != (len(grid),):
        raise ValueError(
            f"log_density must return shape ({len(grid)},) for {len(grid)} points, got "
            f"{log_p.shape}."
        )
    if np.isnan(log_p).any() or (log_p == np.inf).any():
        raise ValueError("log_density returned NaN or +inf; log-densities are finite or -inf.")
    if not np.isfinite(log_p).any():
        raise ValueError(
            "log_density is -inf (density 0) everywhere in the window: nothing to draw. "
            "Widen xlim/ylim."
        )
    top = float(log_p.max())
    label = "density $p(x)$"
    if abs(top) > 700:  # exp would overflow (or underflow to an all-zero picture)
        log_p = log_p - top
        label = f"$p(x) / p_{{max}}$, $\\log p_{{max}} = {top:.4g}$"
    density = np.exp(log_p).reshape(gx.shape)
    if ax is None:
        fig = _new_figure((5.0, 4.5))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    filled = ax.contourf(gx, gy, density, levels=20, cmap="viridis")
    fig.colorbar(filled, ax=ax, label=label)
    if pts is not None:
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c="white", alpha=0.4)
    if means is not None:
        for mean, cov in zip(means, covariances):
            draw_ellipse(ax, mean, cov)
            ax.plot(*mean, marker="x", color="C3")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or "density")
    return fig


def plot_mixture_2d(
    points: ArrayLike,
    weights: ArrayLike,
    means: ArrayLike,
    covariances: ArrayLike,
    *,
    responsibilities: ArrayLike | None = None,
    title: str | None = None,
    ax=None,
    s: float = 6.0,
) -> Figure:
    """A 2-D Gaussian mixture over its data: points coloured by responsibility, one
    2-standard-deviation ellipse per component (line width growing with its weight).

    Parameters
    ----------
    points : (N, 2)
    weights : (K,)
        Mixture weights, each in [0, 1].
    means : (K, 2)
    covariances : (K, 2, 2), (K, 2) diagonal or (K,) spherical
    responsibilities : (N, K), optional
        Each point's colour blends the component colours by these weights (grey if None).

    Returns
    -------
    Figure
    """
    import matplotlib as mpl

    points = _coordinates(points, "points", ndim=2, shape=(None, 2))
    means = _coordinates(means, "means", ndim=2, shape=(None, 2))
    k = len(means)
    weights = _numeric(weights, "weights", ndim=1, shape=(k,), min_value=0.0, max_value=1.0 + 1e-6)
    covariances = _numeric(covariances, "covariances", ndim=(1, 2, 3))
    if covariances.ndim == 1:
        check_array(covariances, "covariances", shape=(k,))
        covariances = covariances[:, None, None] * np.eye(2)
    elif covariances.ndim == 2:
        check_array(covariances, "covariances", shape=(k, 2))
        covariances = np.stack([np.diag(c) for c in covariances])
    check_array(covariances, "covariances", shape=(k, 2, 2))
    for j, cov in enumerate(covariances):
        _ellipse_axes(cov, f"covariances[{j}]")
    _title(title)
    _axes(ax)
    s = _real(s, "s", positive=True)
    palette = np.array([mpl.colors.to_rgb(f"C{j % 10}") for j in range(k)])
    if responsibilities is None:
        colours = np.full((len(points), 3), 0.6)
    else:
        resp = _numeric(responsibilities, "responsibilities", shape=(len(points), k), min_value=0.0)
        colours = np.clip(resp @ palette, 0.0, 1.0)
    if ax is None:
        fig = _new_figure((4.8, 4.5))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    ax.scatter(points[:, 0], points[:, 1], c=colours, s=s, alpha=0.6, linewidths=0)
    for j, (weight, mean, cov) in enumerate(zip(weights, means, covariances)):
        draw_ellipse(ax, mean, cov, color=palette[j], lw=1 + 6 * float(weight))
        ax.plot(*mean, marker="x", color=palette[j], markersize=8, mew=2)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title or f"mixture of {k} Gaussians")
    return fig


# --------------------------------------------------------------------------- PNG bytes


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
