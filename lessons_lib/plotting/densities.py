"""2-D densities: points, Gaussian ellipses, the contours of a density, a fitted mixture.

Every figure labels its axes ``x_1`` and ``x_2``. An ellipse is drawn from the eigenvectors of
a covariance matrix, which must be symmetric positive semi-definite (a singular one draws a
flat ellipse).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from lessons_lib.core.validation import ArrayLike, as_numpy, check_array, check_int
from lessons_lib.plotting._checks import (
    MAX_COORDINATE,
    _axes,
    _coordinates,
    _numeric,
    _real,
    _title,
)
from lessons_lib.plotting._figure import _figure_and_axes


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
    fig, ax = _figure_and_axes(ax, (4.5, 4.5))
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
    resolution = _check_resolution(resolution)
    _title(title)
    _axes(ax)
    pts = None if points is None else _coordinates(points, "points", ndim=2, shape=(None, 2))
    means, covariances = _check_components(means, covariances)
    gx, gy = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    log_p = _log_density_on(log_density, np.stack([gx.ravel(), gy.ravel()], axis=1))
    density, label = _relative_density(log_p)
    fig, ax = _figure_and_axes(ax, (5.0, 4.5))
    filled = ax.contourf(gx, gy, density.reshape(gx.shape), levels=20, cmap="viridis")
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


def _check_resolution(resolution: Any) -> int:
    resolution = check_int(resolution, "resolution", min_value=2)
    if resolution > 2000:
        raise ValueError(f"resolution must be at most 2000 per axis, got {resolution}.")
    return resolution


def _check_components(
    means: ArrayLike | None, covariances: ArrayLike | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The (K, 2) means and (K, 2, 2) covariances of the ellipses, or ``(None, None)``."""
    if (means is None) != (covariances is None):
        raise ValueError("means and covariances go together: pass both or neither.")
    if means is None:
        return None, None
    means = _coordinates(means, "means", ndim=2, shape=(None, 2))
    covariances = _numeric(covariances, "covariances", shape=(len(means), 2, 2))
    for k, cov in enumerate(covariances):
        _ellipse_axes(cov, f"covariances[{k}]")
    return means, covariances


def _log_density_on(log_density: Callable, grid: np.ndarray) -> np.ndarray:
    """``log_density`` at the (M, 2) ``grid``: (M,) float64, finite or -inf, not -inf everywhere."""
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
    return log_p


def _relative_density(log_p: np.ndarray) -> tuple[np.ndarray, str]:
    """The density and its colour-bar label; relative to its maximum when exp would overflow."""
    top = float(log_p.max())
    label = "density $p(x)$"
    if abs(top) > 700:  # exp would overflow (or underflow to an all-zero picture)
        log_p = log_p - top
        label = f"$p(x) / p_{{max}}$, $\\log p_{{max}} = {top:.4g}$"
    return np.exp(log_p), label


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
    covariances = _full_covariances(covariances, k)
    _title(title)
    _axes(ax)
    s = _real(s, "s", positive=True)
    palette = np.array([mpl.colors.to_rgb(f"C{j % 10}") for j in range(k)])
    if responsibilities is None:
        colours = np.full((len(points), 3), 0.6)
    else:
        resp = _numeric(responsibilities, "responsibilities", shape=(len(points), k), min_value=0.0)
        colours = np.clip(resp @ palette, 0.0, 1.0)
    fig, ax = _figure_and_axes(ax, (4.8, 4.5))
    ax.scatter(points[:, 0], points[:, 1], c=colours, s=s, alpha=0.6, linewidths=0)
    for j, (weight, mean, cov) in enumerate(zip(weights, means, covariances)):
        draw_ellipse(ax, mean, cov, color=palette[j], lw=1 + 6 * float(weight))
        ax.plot(*mean, marker="x", color=palette[j], markersize=8, mew=2)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title or f"mixture of {k} Gaussians")
    return fig


def _full_covariances(covariances: ArrayLike, k: int) -> np.ndarray:
    """(K, 2, 2) covariances from full (K, 2, 2), diagonal (K, 2) or spherical (K,) ones."""
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
    return covariances
