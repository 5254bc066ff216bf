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
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure

from lessons_lib.checks import ArrayLike, as_numpy, check_array, check_labels
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


# --------------------------------------------------------------------------- controls


def slider(
    min: float,
    max: float,
    step: float | None = None,
    value: float | None = None,
    *,
    description: str = "",
) -> W.Widget:
    """An ``IntSlider`` (all ints) or ``FloatSlider`` that updates on release only."""
    is_int = all(isinstance(v, int) for v in (min, max, step or 1, value or min))
    cls = W.IntSlider if is_int else W.FloatSlider
    kwargs = {"min": min, "max": max, "value": min if value is None else value}
    if step is not None:
        kwargs["step"] = step
    elif not is_int:
        kwargs["step"] = (max - min) / 100
    return cls(description=description, continuous_update=False, **kwargs)


def dropdown(options: Sequence[Any] | Mapping[str, Any], value: Any = None, *, description=""):
    """A ``Dropdown``; ``options`` may be a list or a mapping of label to value."""
    items = list(options.items()) if isinstance(options, Mapping) else list(options)
    widget = W.Dropdown(options=items, description=description)
    if value is not None:
        widget.value = value
    return widget


def checkbox(value: bool = False, *, description: str = "") -> W.Checkbox:
    """A ``Checkbox``."""
    return W.Checkbox(value=value, description=description, indent=False)


def seed_control(value: int = 0, *, description: str = "seed") -> W.BoundedIntText:
    """A box for the random seed (the "sample again" button increments it)."""
    return W.BoundedIntText(value=value, min=0, max=_MAX_SEED, description=description)


def _as_control(name: str, spec: Any) -> W.Widget:
    """Shorthands: ``(min, max[, step])`` a slider, a list or dict a dropdown, a bool a box."""
    if isinstance(spec, W.Widget):
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
        self.render = render
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
        self.last_render_ms = float("nan")
        children = [W.HBox(list(self.controls.values()), layout=W.Layout(flex_flow="row wrap"))]
        if "seed" in self.controls:
            self.button = W.Button(description="sample again", icon="refresh")
            self.button.on_click(self._next_seed)
            children.append(self.button)
        if title:
            children.insert(0, W.HTML(f"<b>{title}</b>"))
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
            self.error = f"{type(err).__name__}: {err}"
            self.status.value = f"<span style='color:#b00'>{self.error}</span>"
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
        return array_to_png(picture), picture

    # -- display -------------------------------------------------------------------------

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        """The widget view for a live frontend, a PNG for everything else."""
        return {
            WIDGET_VIEW_MIME: {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.widget.model_id,
            },
            "image/png": base64.b64encode(self.png).decode("ascii"),
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
    class_names : sequence of str, optional
        Names for the dropdown (default: the class numbers).
    n : int
        Images shown at once.
    """
    check_array(images, "images", ndim=4)
    check_labels(labels, "labels", n=len(images))
    images_np, labels_np = as_numpy(images), as_numpy(labels)
    classes = np.unique(labels_np)
    names = class_names or [str(c) for c in classes]
    options = {"all classes": -1, **{str(names[int(c)]): int(c) for c in classes}}

    def render(label: int, seed: int) -> np.ndarray:
        pool = np.flatnonzero(labels_np == label) if label >= 0 else np.arange(len(labels_np))
        chosen = np.random.default_rng(seed).choice(pool, size=min(n, len(pool)), replace=False)
        return images_np[chosen]

    return Sampler(
        render,
        {"label": dropdown(options, description="class"), "seed": seed_control()},
        nrow=nrow,
    )
