"""Interactive samplers: core ipywidgets controls bound to a pure function.

Every widget of the course is a :class:`Sampler`. It wraps a *pure* render function
``render(**values)`` that returns images, one image array or a matplotlib figure; the widget
only turns control values into arguments and the result into a picture. So a notebook can
call the render function directly, a test can set control values without a browser, and a
notebook opened without a kernel still shows a PNG of the last state.

Design choices, each for a reason:

* A batch of images is tiled into *one* PNG (``ipywidgets.Image``), enlarged by pixel
  repetition, instead of redrawing a matplotlib figure: a redraw takes milliseconds and an
  8×8 digit is never blurred by the browser.
* Sliders use ``continuous_update=False``, so a drag renders once, when released.
* Only core ipywidgets (no ipympl), with calls that exist in both 7.7 (Colab) and 8.x.
* The display bundle carries the widget view *and* ``image/png`` of the current state, so
  nbval, nbconvert's HTML and a kernel-less reopen all show a picture.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from traitlets import TraitError

from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    check_bool,
    check_images,
    check_int,
    check_labels,
    check_seed,
)
from lessons_lib.plotting import array_to_png, figure_to_png, tile_images

__all__ = [
    "Sampler",
    "browse_dataset",
    "checkbox",
    "dropdown",
    "seed_control",
    "slider",
]

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
_MAX_SEED = 2**31 - 1
#: The value of the "all classes" entry of :func:`browse_dataset` (labels are ints, so a
#: string cannot collide with a class, not even -1).
ALL_CLASSES = "all"


def _real(value: Any, name: str) -> int | float:
    """A finite real number (not a bool) as a Python int or float."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    if isinstance(value, numbers.Integral):
        return int(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return value


def _shown(value: Any) -> str:
    """A control value as a caption shows it: floats to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _description(description: Any) -> str:
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, got {type(description).__name__}.")
    return description


# --------------------------------------------------------------------------- controls


def slider(
    min: float,
    max: float,
    step: float | None = None,
    value: float | None = None,
    *,
    description: str = "",
) -> W.Widget:
    """An ``IntSlider`` (all ints) or ``FloatSlider`` that updates on release only.

    Parameters
    ----------
    min, max : int or float
        The range, ``min <= max``, finite.
    step : int or float, optional
        > 0; default 1 for ints, a hundredth of the range for floats.
    value : int or float, optional
        The start, in ``[min, max]`` (default ``min``).
    description : str

    Raises
    ------
    TypeError, ValueError
        A bound, step or value that is not a finite number, ``min > max``, ``step <= 0``,
        or a value outside the range (ipywidgets would clip it silently).
    """
    low, high = _real(min, "min"), _real(max, "max")
    if low > high:
        raise ValueError(f"min must be <= max, got min={low!r} > max={high!r}; swap them.")
    if step is not None:
        step = _real(step, "step")
        if step <= 0:
            raise ValueError(f"step must be > 0, got {step!r}.")
    if value is not None:
        value = _real(value, "value")
        if not low <= value <= high:
            raise ValueError(f"value must lie in [min, max] = [{low!r}, {high!r}], got {value!r}.")
    description = _description(description)
    is_int = all(
        isinstance(v, int) for v in (low, high, step or 1, low if value is None else value)
    )
    cls = W.IntSlider if is_int else W.FloatSlider
    kwargs = {"min": low, "max": high, "value": low if value is None else value}
    if step is not None:
        kwargs["step"] = step
    elif not is_int:
        # high / 100 - low / 100: (high - low) overflows for bounds near +-1e308.
        kwargs["step"] = (high / 100 - low / 100) or 1.0
    if not is_int:
        kwargs = {key: float(v) for key, v in kwargs.items()}
    return cls(description=description, continuous_update=False, **kwargs)


def dropdown(options: Sequence[Any] | Mapping[str, Any], value: Any = None, *, description=""):
    """A ``Dropdown``; ``options`` may be a list or a mapping of label to value.

    Raises
    ------
    TypeError
        ``options`` is not a list or mapping (a str is refused: it is not a list of labels).
    ValueError
        No options, or ``value`` is not among them.
    """
    if isinstance(options, str | bytes) or not isinstance(options, Mapping | Iterable):
        raise TypeError(
            f"options must be a list or a dict of label to value, got {type(options).__name__}."
        )
    items = (
        [(str(k), v) for k, v in options.items()] if isinstance(options, Mapping) else list(options)
    )
    if not items:
        raise ValueError("options is empty; a dropdown needs at least one choice.")
    description = _description(description)
    widget = W.Dropdown(options=items, description=description)
    if value is not None:
        try:
            widget.value = value
        except TraitError as err:
            raise ValueError(
                f"value {value!r} is not one of the options {list(widget.options)!r}."
            ) from err
    return widget


def checkbox(value: bool = False, *, description: str = "") -> W.Checkbox:
    """A ``Checkbox``; ``value`` must be True or False."""
    value = check_bool(value, "value")
    return W.Checkbox(value=value, description=_description(description), indent=False)


def seed_control(value: int = 0, *, description: str = "seed") -> W.BoundedIntText:
    """A box for the random seed (the "sample again" button increments it).

    ``value`` must be an integer in [0, 2**31 - 1] (the box would clip others silently).
    """
    value = check_seed(value, "value", allow_none=False, max_value=_MAX_SEED)
    return W.BoundedIntText(
        value=value, min=0, max=_MAX_SEED, description=_description(description)
    )


def _as_control(name: str, spec: Any) -> W.Widget:
    """Shorthands: ``(min, max[, step])`` a slider, a list or dict a dropdown, a bool a box."""
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(
            f"control names must be keyword names of render (identifiers), got {name!r}."
        )
    if isinstance(spec, W.Widget):
        if not hasattr(spec, "value"):
            raise TypeError(f"control {name!r}: the widget {type(spec).__name__} has no value.")
        widget = spec
    elif isinstance(spec, bool):
        widget = checkbox(spec)
    elif isinstance(spec, tuple) and 2 <= len(spec) <= 3:
        widget = slider(*spec)
    elif isinstance(spec, list | Mapping):
        widget = dropdown(spec)
    else:
        raise TypeError(
            f"control {name!r}: expected a widget, (min, max[, step]), a list, a dict or a "
            f"bool, got {spec!r}."
        )
    if not widget.description:
        widget.description = name
    return widget


# --------------------------------------------------------------------------- the sampler


class Sampler:
    """Controls bound to a pure render function, showing its result as one picture.

    Parameters
    ----------
    render : callable
        ``render(**values)`` with one keyword per control. It returns a batch of images
        ((N, C, H, W), (N, H, W) or (R, K, C, H, W), values in [0, 1]), one image ((H, W) or
        (H, W, 3)), or a matplotlib ``Figure``.
    controls : mapping of str to control
        A widget, or a shorthand: ``(min, max[, step])`` a slider, a list or dict a
        dropdown, a bool a checkbox. A control named ``"seed"`` gets a "sample again"
        button that increments it.
    nrow : int, optional
        Images per row when tiling a batch.
    upscale : int or "auto"
        Nearest-neighbour enlargement of image results ("auto": small images to ≥ 64 px).
    title : str, optional
        A line of text above the controls.

    Attributes
    ----------
    controls : dict of str to Widget
    result : the last value returned by ``render``
    picture : ndarray or None
        The last tiled image (None when ``render`` returned a figure).
    png : bytes
        The picture shown now, as PNG.
    error : str or None
        The message of the last failed render (shown under the picture), else None.
    n_renders : int
    last_render_ms : float

    Examples
    --------
    >>> s = Sampler(lambda seed, n: np.random.default_rng(seed).random((n, 1, 8, 8)),
    ...             {"seed": seed_control(), "n": (1, 32)})
    >>> s.controls["seed"].value = 3   # re-renders, as moving the control in a browser does
    """

    def __init__(
        self,
        render: Callable[..., ArrayLike | Figure],
        controls: Mapping[str, Any],
        *,
        nrow: int | None = None,
        upscale: int | str = "auto",
        title: str | None = None,
    ) -> None:
        if not callable(render):
            raise TypeError(f"render must be callable, got {type(render).__name__}.")
        if not isinstance(controls, Mapping):
            raise TypeError(
                f"controls must be a dict of name to control, got {type(controls).__name__}."
            )
        if nrow is not None:
            nrow = check_int(nrow, "nrow", min_value=1)
        if isinstance(upscale, str):
            if upscale != "auto":
                raise ValueError(f"upscale must be a positive int or 'auto', got {upscale!r}.")
        else:
            upscale = check_int(upscale, "upscale", min_value=1)
        if title is not None and not isinstance(title, str):
            raise TypeError(f"title must be a str, got {type(title).__name__}.")
        self.render = render
        self._title = title
        self.nrow = nrow
        self.upscale = upscale
        self.controls = {name: _as_control(name, spec) for name, spec in controls.items()}
        self.image = W.Image(format="png")
        self.status = W.HTML()
        self.result: Any = None
        self.picture: np.ndarray | None = None
        self.png = b""
        self.error: str | None = None
        self.n_renders = 0
        self.last_render_ms = 0.0
        children = [W.HBox(list(self.controls.values()), layout=W.Layout(flex_flow="row wrap"))]
        if "seed" in self.controls:
            self.button = W.Button(description="sample again", icon="refresh")
            self.button.on_click(self._next_seed)
            children.append(self.button)
        if title:
            # The title is text, not markup: "<" or "&" in it must show as typed.
            children.insert(0, W.HTML(f"<b>{html.escape(title)}</b>"))
        self.widget = W.VBox([*children, self.image, self.status])
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.update()

    @property
    def values(self) -> dict[str, Any]:
        """The current control values, as ``render`` receives them."""
        return {name: control.value for name, control in self.controls.items()}

    def _next_seed(self, _button=None) -> None:
        seed = self.controls["seed"]
        seed.value = (seed.value + 1) % _MAX_SEED  # the observer re-renders

    def _on_change(self, _change) -> None:
        self.update()

    def update(self) -> None:
        """Call ``render`` with the current values and show the result (errors are shown)."""
        start = time.perf_counter()
        try:
            result = self.render(**self.values)
            png, picture = self._to_png(result)
        except Exception as err:  # a bad slider position must not kill the widget
            self.last_render_ms = 1000 * (time.perf_counter() - start)
            self.error = f"{type(err).__name__}: {err}"
            # Escaped: a message quoting "<class 'int'>" or user data must not become markup.
            self.status.value = f"<span style='color:#b00'>{html.escape(self.error)}</span>"
            return
        self.result, self.picture, self.png, self.error = result, picture, png, None
        self.image.value = png
        self.n_renders += 1
        self.last_render_ms = 1000 * (time.perf_counter() - start)
        self.status.value = ""

    def _to_png(self, result: Any) -> tuple[bytes, np.ndarray | None]:
        if isinstance(result, Figure):
            return figure_to_png(result), None
        array = as_numpy(result) if isinstance(result, torch.Tensor | np.ndarray) else None
        if array is None:
            raise TypeError(
                f"render returned {type(result).__name__}; expected images (an array or "
                "tensor) or a matplotlib Figure."
            )
        is_single = array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3)
        picture = tile_images(
            array,
            None if is_single else self.nrow,
            padding=0 if is_single else 1,
            upscale=self.upscale,
        )
        # Shown like matplotlib shows images: values outside [0, 1] are clipped for display.
        return array_to_png(np.clip(picture, 0.0, 1.0)), picture

    # -- display -------------------------------------------------------------------------

    @property
    def caption(self) -> str:
        """What the static picture shows: the title and every control's value."""
        values = ", ".join(f"{name} = {_shown(value)}" for name, value in self.values.items())
        return f"{self._title}: {values}" if self._title else values

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        """The widget view for a live frontend; elsewhere the PNG, captioned with the values.

        A frontend without the widget manager (an exported HTML page, a notebook viewer)
        shows ``text/html``: the picture and a caption saying which control values made it.
        """
        png = base64.b64encode(self.png).decode("ascii")
        figure = (
            f'<figure style="margin:0"><img src="data:image/png;base64,{png}" '
            f'alt="{html.escape(self.caption)}"/><figcaption style="font-size:90%">'
            f"{html.escape(self.caption)}</figcaption></figure>"
        )
        return {
            WIDGET_VIEW_MIME: {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.widget.model_id,
            },
            "text/html": figure,
            "image/png": png,
            "text/plain": repr(self),
        }

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"<Sampler {getattr(self.render, '__name__', 'render')}({values})>"


# --------------------------------------------------------------------------- ready-made


def browse_dataset(
    images: ArrayLike,
    labels: ArrayLike,
    *,
    class_names: Sequence[str] | None = None,
    n: int = 32,
    nrow: int = 8,
) -> Sampler:
    """A widget to browse a labelled image set by class and seed.

    Parameters
    ----------
    images : (N, C, H, W) in [0, 1]
    labels : (N,) int
        Any integers (not only 0..K−1: e.g. a subset of classes, or negative codes).
    class_names : sequence of str, optional
        Names for the dropdown (default: the class numbers). ``class_names[c]`` names label
        ``c`` when every label is in ``0..len(class_names) - 1``; otherwise there must be one
        name per distinct label, in increasing label order.
    n : int
        Images shown at once.
    nrow : int
        Images per row.

    Returns
    -------
    Sampler
        Controls ``label`` (a class, or ``ALL_CLASSES``) and ``seed``.
    """
    check_images(images, "images")
    check_labels(labels, "labels", n=len(images))
    n = check_int(n, "n", min_value=1)
    nrow = check_int(nrow, "nrow", min_value=1)
    images_np, labels_np = as_numpy(images), as_numpy(labels).astype(np.int64)
    classes = [int(c) for c in np.unique(labels_np)]
    names = _class_names(class_names, classes)
    options = [("all classes", ALL_CLASSES), *zip(names, classes)]

    def render(label: int | str, seed: int) -> np.ndarray:
        if isinstance(label, str):  # ALL_CLASSES
            pool = np.arange(len(labels_np))
        else:
            pool = np.flatnonzero(labels_np == label)
        chosen = np.random.default_rng(seed).choice(pool, size=min(n, len(pool)), replace=False)
        return images_np[chosen]

    return Sampler(
        render,
        {"label": dropdown(options, description="class"), "seed": seed_control()},
        nrow=nrow,
    )


def _class_names(class_names: Sequence[str] | None, classes: list[int]) -> list[str]:
    """One distinct dropdown label per class (see :func:`browse_dataset`)."""
    if class_names is None:
        return [str(c) for c in classes]
    if isinstance(class_names, str | bytes) or not isinstance(class_names, Sequence):
        raise TypeError(f"class_names must be a list of str, got {type(class_names).__name__}.")
    names = list(class_names)
    if all(0 <= c < len(names) for c in classes):
        chosen = [names[c] for c in classes]
    elif len(names) == len(classes):
        chosen = names
    else:
        raise ValueError(
            f"class_names has {len(names)} names, but the labels are {classes[:10]}"
            f"{'…' if len(classes) > 10 else ''}: give one name per label value 0.."
            f"{max(classes)} or one per distinct label ({len(classes)})."
        )
    labels, seen = [], set()
    for c, name in zip(classes, chosen):
        label = str(name)
        if label in seen or label == "all classes":  # a dropdown needs distinct labels
            label = f"{label} ({c})"
        seen.add(label)
        labels.append(label)
    return labels
