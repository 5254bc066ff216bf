"""Where every figure of the package comes from: a new pyplot figure, or the given axes' own."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure


def _new_figure(figsize: tuple[float, float]) -> Figure:
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize)


def _figure_and_axes(ax: Any, figsize: tuple[float, float]) -> tuple[Figure, Any]:
    """``ax`` and its figure, or (when ``ax`` is None) a new figure of ``figsize`` with one axes."""
    if ax is None:
        fig = _new_figure(figsize)
        return fig, fig.add_subplot(1, 1, 1)
    return ax.figure, ax
