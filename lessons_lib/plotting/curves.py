"""Training curves: one line per entry of a history (a mapping of name to values per epoch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from lessons_lib.core.validation import as_numpy, check_bool
from lessons_lib.plotting._checks import _axes, _KeyValueError, _title
from lessons_lib.plotting._figure import _figure_and_axes


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
    keys = _history_keys(history, keys)
    for label, text in (("xlabel", xlabel), ("ylabel", ylabel)):
        _title(text, label)
    _title(title)
    logy = check_bool(logy, "logy")
    _axes(ax)
    curves = _curves(history, keys)
    fig, ax = _figure_and_axes(ax, (6.0, 3.5))
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


def _history_keys(history: Any, keys: Any) -> list[str]:
    """The keys to plot, checked against ``history`` (default: every non-empty entry)."""
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
    return keys


def _curves(history: Mapping[str, Any], keys: list[str]) -> dict[str, np.ndarray]:
    """Each key's values as a 1-D float array."""
    curves = {}
    for key in keys:
        values = as_numpy(history[key])
        if values.dtype.kind not in "fiub" or values.ndim != 1:
            raise ValueError(
                f"history[{key!r}] must be a 1-D sequence of numbers, got shape "
                f"{values.shape} of dtype {values.dtype}."
            )
        curves[key] = values.astype(float)
    return curves
