"""Figures of the course: image grids, training curves, 2-D densities with Gaussian ellipses.

Every function returns its ``matplotlib.figure.Figure`` and labels its axes. Images are
shown with nearest-neighbour pixels (``interpolation="nearest"``) and, where they become PNG
bytes for a browser, enlarged by pixel repetition first, so an 8×8 digit is never blurred.
Arguments are checked before any drawing: a bad one raises a ``TypeError`` or
``ValueError`` that names it.

- :mod:`~lessons_lib.plotting.images`: ``tile_images``, ``show_images``, ``compare_images``,
  ``upscale_nearest``;
- :mod:`~lessons_lib.plotting.curves`: ``plot_history``;
- :mod:`~lessons_lib.plotting.densities`: ``scatter_2d``, ``draw_ellipse``,
  ``plot_density_2d``, ``plot_mixture_2d``;
- :mod:`~lessons_lib.plotting.png`: ``figure_to_png``, ``array_to_png``;
- ``_checks`` (the shared argument checks and size limits) and ``_figure`` (new figures), private.
"""

# The size limits, importable from here as before (not in __all__, as before).
from lessons_lib.plotting._checks import MAX_COORDINATE as MAX_COORDINATE
from lessons_lib.plotting._checks import MAX_INCHES as MAX_INCHES
from lessons_lib.plotting._checks import MAX_PIXELS as MAX_PIXELS
from lessons_lib.plotting.curves import plot_history
from lessons_lib.plotting.densities import (
    draw_ellipse,
    plot_density_2d,
    plot_mixture_2d,
    scatter_2d,
)
from lessons_lib.plotting.images import compare_images, show_images, tile_images, upscale_nearest
from lessons_lib.plotting.png import array_to_png, figure_to_png

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
