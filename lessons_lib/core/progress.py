"""The course's progress bars: shown while a loop runs, gone once it has finished.

``tqdm.auto`` draws an ipywidgets bar in a notebook. A widget cannot be saved with the notebook,
so an executed copy (``jupyter nbconvert --execute``, the course's CI) keeps only the text that
was shown *when the bar appeared*: a bar frozen at 0 %. :func:`progress_bar` shows the same live
bar, and when the bar is closed (the loop ended, stopped early or failed) it replaces the bar's
output by an empty one, so neither the live notebook nor an executed copy shows a stale bar.
Outside a notebook it is ``tqdm`` with ``leave=False`` (a finished bar erases its line).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["progress_bar"]


def _display(obj: Any, **options: Any) -> Any:
    """IPython's ``display`` (a seam for the tests)."""
    from IPython.display import display

    return display(obj, **options)


def _notebook_bar_class() -> type | None:
    """The notebook bar class when ``tqdm.auto`` would draw a widget, else None."""
    from tqdm.auto import tqdm as auto_tqdm

    try:
        from tqdm.notebook import tqdm_notebook
    except ImportError:  # pragma: no cover - tqdm ships it
        return None
    if not (isinstance(auto_tqdm, type) and issubclass(auto_tqdm, tqdm_notebook)):
        return None

    class _ClearedNotebookBar(tqdm_notebook):
        """A widget bar displayed under a display id, and blanked through it when closed."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._handle = None
            kwargs["display"] = False
            super().__init__(*args, **kwargs)
            if not self.disable:
                self._handle = _display(self.container, display_id=True)
                self.displayed = True

        def close(self) -> None:
            if self.disable:
                return
            super().close()
            handle, self._handle = self._handle, None
            if handle is not None:
                try:
                    handle.update({"text/plain": ""}, raw=True)
                except Exception:
                    pass

    return _ClearedNotebookBar


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    desc: str | None = None,
    enabled: bool = True,
    total: int | None = None,
    **options: Any,
) -> Any:
    """A ``tqdm`` bar over ``iterable`` that leaves nothing behind once closed.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over (or None for a bar updated by hand with ``bar.update(n)``).
    desc : str, optional
        The label in front of the bar.
    enabled : bool
        False gives a disabled bar (it shows nothing, but ``close``, ``set_postfix`` and
        ``update`` still work).
    total : int, optional
        The number of steps (default: ``len(iterable)`` when it has one).
    **options
        Other ``tqdm`` options (``unit``, ``unit_scale``, ...); ``leave`` is always False.

    Returns
    -------
    tqdm
        Iterate over it, or use it as a context manager. In a notebook it is the ipywidgets bar
        of ``tqdm.notebook``, whose output is blanked when it closes; elsewhere ``tqdm.auto``'s.

    Raises
    ------
    TypeError
        ``enabled`` is not a bool, or ``desc`` is not a str.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False, got {enabled!r}.")
    if desc is not None and not isinstance(desc, str):
        raise TypeError(f"desc must be a str, got {type(desc).__name__}.")
    options = {**options, "desc": desc, "total": total, "leave": False}
    if not enabled:
        from tqdm import tqdm as text_tqdm

        return text_tqdm(iterable, disable=True, **options)
    notebook_bar = _notebook_bar_class()
    if notebook_bar is not None:
        return notebook_bar(iterable, **options)
    from tqdm.auto import tqdm as auto_tqdm

    return auto_tqdm(iterable, **options)
