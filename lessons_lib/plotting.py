"""Figures of the course: image grids, training curves, 2-D densities with Gaussian ellipses.

Every function returns its ``matplotlib.figure.Figure`` and labels its axes. Images are
shown with nearest-neighbour pixels (``interpolation="nearest"``) and, where they become PNG
bytes for a browser, enlarged by pixel repetition first, so an 8×8 digit is never blurred.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib import image as mpl_image
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from lessons_lib.checks import ArrayLike, as_numpy, check_array, check_int

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


def _new_figure(figsize: tuple[float, float]) -> Figure:
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize)


# --------------------------------------------------------------------------- image grids


def _as_grid_batch(images: ArrayLike) -> tuple[np.ndarray, int | None]:
    """Bring any accepted layout to (N, H, W, C) floats and a row length if the layout has one.

    Accepted: (H, W), (H, W, 3) one colour photo, (N, H, W), (N, C, H, W), (R, K, C, H, W).
    """
    array = as_numpy(images).astype(np.float32, copy=False)
    check_array(array, "images", ndim=(2, 3, 4, 5))
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
            f"{tuple(as_numpy(images).shape)}."
        )
    return array.transpose(0, 2, 3, 1), nrow


def upscale_nearest(image: ArrayLike, factor: int) -> np.ndarray:
    """Enlarge an (H, W) or (H, W, C) image by repeating each pixel ``factor`` times per axis."""
    factor = check_int(factor, "factor", min_value=1)
    array = as_numpy(image)
    return array.repeat(factor, axis=0).repeat(factor, axis=1)


def _auto_upscale(size: int, target: int = 64) -> int:
    return max(1, math.ceil(target / size))


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
        Images per row; default: the layout's own rows, else about a square.
    padding : int
        Pixels between images (before enlarging).
    pad_value : float
        Grey level of the padding.
    upscale : int or "auto"
        Nearest-neighbour enlargement factor; ``"auto"`` makes small images at least 64 px.

    Returns
    -------
    ndarray, shape (H', W') for grey images or (H', W', 3) for colour, float32 in the input range
    """
    batch, layout_nrow = _as_grid_batch(images)
    n, h, w, c = batch.shape
    per_row = nrow or layout_nrow or math.ceil(math.sqrt(n))
    per_row = min(check_int(per_row, "nrow", min_value=1), n)
    n_rows = math.ceil(n / per_row)
    grid = np.full(
        (n_rows * (h + padding) + padding, per_row * (w + padding) + padding, c),
        pad_value,
        dtype=np.float32,
    )
    for k in range(n):
        r, col = divmod(k, per_row)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = batch[k]
    factor = _auto_upscale(min(h, w)) if upscale == "auto" else upscale
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
        Any layout that :func:`tile_images` accepts, values in [vmin, vmax].
    nrow : int, optional
        Images per row.
    titles : sequence of str, optional
        One title per image (then each image gets its own small axes).
    title : str, optional
        Title of the whole grid.
    cmap, vmin, vmax
        Colour map and range for grey images.
    scale : float
        Inches per image row/column, relative to the default size.
    ax : matplotlib Axes, optional
        Draw into this axes (only without ``titles``).

    Returns
    -------
    Figure
    """
    batch, layout_nrow = _as_grid_batch(images)
    n = len(batch)
    per_row = min(nrow or layout_nrow or math.ceil(math.sqrt(n)), n)
    n_rows = math.ceil(n / per_row)
    if titles is not None:
        if len(titles) != n:
            raise ValueError(f"titles has {len(titles)} entries for {n} images.")
        fig = _new_figure((1.3 * scale * per_row, 1.5 * scale * n_rows))
        for k in range(n):
            sub = fig.add_subplot(n_rows, per_row, k + 1)
            _imshow(sub, batch[k], cmap, vmin, vmax)
            sub.set_title(titles[k], fontsize=9)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig
    grid = tile_images(images, per_row, padding=1, pad_value=vmax)
    if ax is None:
        fig = _new_figure((min(12.0, 0.9 * scale * per_row + 0.5), 0.9 * scale * n_rows + 0.5))
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
    if not rows:
        raise ValueError("rows is empty; pass a mapping such as {'truth': x, 'restored': y}.")
    batches = {name: _as_grid_batch(images)[0] for name, images in rows.items()}
    per_row = ncol or max(len(b) for b in batches.values())
    fig = _new_figure((min(14.0, 0.9 * per_row + 1.5), 1.0 * len(batches) + 0.6))
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
    """Training curves: one line per key of ``history`` (a mapping of name to values)."""
    keys = list(keys) if keys is not None else [k for k, v in history.items() if len(v)]
    missing = [k for k in keys if k not in history]
    if missing:
        raise KeyError(f"history has no {missing}; it has {sorted(history)}.")
    if ax is None:
        fig = _new_figure((6.0, 3.5))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    for key in keys:
        values = np.asarray(history[key], dtype=float)
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


def draw_ellipse(ax, mean: ArrayLike, cov: ArrayLike, n_std: float = 2.0, **style) -> Ellipse:
    """Draw the ``n_std`` standard-deviation ellipse of a 2-D Gaussian on ``ax``.

    The axes of the ellipse are the eigenvectors of ``cov``, their half-lengths
    ``n_std * sqrt(eigenvalue)``.
    """
    mean = as_numpy(mean).astype(float)
    cov = as_numpy(cov).astype(float)
    check_array(mean, "mean", shape=(2,))
    check_array(cov, "cov", shape=(2, 2))
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(eigenvectors[1, -1], eigenvectors[0, -1]))
    width, height = 2 * n_std * np.sqrt(np.clip(eigenvalues[::-1], 0, None))
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
    """Scatter plot of 2-D points, coloured by ``labels`` when given."""
    points = as_numpy(points)
    check_array(points, "points", ndim=2, shape=(None, 2))
    if ax is None:
        fig = _new_figure((4.5, 4.5))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=s, alpha=alpha)
    else:
        ax.scatter(points[:, 0], points[:, 1], c=as_numpy(labels), s=s, alpha=alpha, cmap="tab10")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title or f"{len(points)} points")
    return fig


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
        Maps an (M, 2) float64 array of points to their (M,) log-densities.
    xlim, ylim : (float, float)
        The plotted window.
    points : (N, 2), optional
        Data drawn on top.
    means, covariances : (K, 2) and (K, 2, 2), optional
        Components drawn as 2-standard-deviation ellipses.
    """
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    density = np.exp(as_numpy(log_density(grid))).reshape(gx.shape)
    if ax is None:
        fig = _new_figure((5.0, 4.5))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    filled = ax.contourf(gx, gy, density, levels=20, cmap="viridis")
    fig.colorbar(filled, ax=ax, label="density $p(x)$")
    if points is not None:
        pts = as_numpy(points)
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c="white", alpha=0.4)
    if means is not None and covariances is not None:
        for mean, cov in zip(as_numpy(means), as_numpy(covariances)):
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
    means : (K, 2)
    covariances : (K, 2, 2), (K, 2) diagonal or (K,) spherical
    responsibilities : (N, K), optional
        Each point's colour blends the component colours by these weights (grey if None).

    Returns
    -------
    Figure
    """
    import matplotlib as mpl

    points, weights, means = (as_numpy(a).astype(float) for a in (points, weights, means))
    check_array(points, "points", shape=(None, 2))
    check_array(means, "means", shape=(None, 2))
    covariances = as_numpy(covariances).astype(float)
    if covariances.ndim == 1:
        covariances = covariances[:, None, None] * np.eye(2)
    elif covariances.ndim == 2:
        covariances = np.stack([np.diag(c) for c in covariances])
    check_array(covariances, "covariances", shape=(len(means), 2, 2))
    if ax is None:
        fig = _new_figure((4.8, 4.5))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    palette = np.array([mpl.colors.to_rgb(f"C{k % 10}") for k in range(len(means))])
    if responsibilities is None:
        colours = np.full((len(points), 3), 0.6)
    else:
        resp = as_numpy(responsibilities).astype(float)
        check_array(resp, "responsibilities", shape=(len(points), len(means)))
        colours = np.clip(resp @ palette, 0.0, 1.0)
    ax.scatter(points[:, 0], points[:, 1], c=colours, s=s, alpha=0.6, linewidths=0)
    for k, (weight, mean, cov) in enumerate(zip(weights, means, covariances)):
        draw_ellipse(ax, mean, cov, color=palette[k], lw=1 + 6 * float(weight))
        ax.plot(*mean, marker="x", color=palette[k], markersize=8, mew=2)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title or f"mixture of {len(means)} Gaussians")
    return fig


# --------------------------------------------------------------------------- PNG bytes


def figure_to_png(fig: Figure, *, dpi: int = 80, close: bool = True) -> bytes:
    """Render a figure to PNG bytes (and close it, so notebooks do not show it twice)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buffer.getvalue()


def array_to_png(image: ArrayLike, *, cmap: str = "gray") -> bytes:
    """Encode an (H, W) grey or (H, W, 3) colour image with values in [0, 1] as PNG bytes.

    Fast (a few ms for a 500 × 500 grid): no figure is made.
    """
    array = np.clip(as_numpy(image).astype(np.float32), 0.0, 1.0)
    check_array(array, "image", ndim=(2, 3))
    buffer = io.BytesIO()
    if array.ndim == 2:
        mpl_image.imsave(buffer, array, cmap=cmap, vmin=0.0, vmax=1.0, format="png")
    else:
        mpl_image.imsave(buffer, array, format="png")
    return buffer.getvalue()
