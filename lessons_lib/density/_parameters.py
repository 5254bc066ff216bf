"""Checking mixture parameters given by hand: starting values for ``fit(X, initial=...)`` and
the parameters of ``GaussianMixture.from_parameters``; and what both mixtures
(``GaussianMixture``, ``MixtureOfFactorAnalyzers``) do with parameters: their shapes checked
against ``from_parameters``' sizes, their storing as fitted attributes, the components drawn.

Each check raises before any work, naming the value (``initial['covariances']``) and the
component at fault. The storage shapes are scikit-learn's (``covariance_type``; Pedregosa et
al. 2011, JMLR 12): full (K, D, D), diag (K, D), spherical (K,).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from lessons_lib.core.validation import (
    _singular_matrices,
    as_tensor,
    check_array,
    check_covariance,
    check_int,
)
from lessons_lib.density._fast_e_step import _Params, _Whitener
from lessons_lib.density._inputs import _is_tensor, check_representable

__all__: list[str] = []

_KEYS = ("weights", "means", "covariances")


def _check_keys(values: Any, prefix: str) -> None:
    name = prefix or "the parameters"
    if not isinstance(values, Mapping):
        raise TypeError(
            f"{name} must be a dict with 'weights', 'means' and 'covariances', got "
            f"{type(values).__name__}."
        )
    missing = set(_KEYS) - set(values)
    if missing:
        raise ValueError(f"{name} lacks {sorted(missing)}.")
    unknown = set(values) - set(_KEYS)
    if unknown:  # e.g. 'precisions' would be silently ignored
        raise ValueError(
            f"{name} has unknown keys {sorted(map(str, unknown))}; it takes only "
            "'weights', 'means' and 'covariances' (covariances, not precisions)."
        )


def _check_arrays(values: Mapping, k: int, dim: int, kind: str, label) -> dict[str, Any]:
    """Shapes, kinds and finiteness; covariances symmetric positive definite (or > 0)."""
    cov_shape = {"full": (k, dim, dim), "diag": (k, dim), "spherical": (k,)}
    checked = {
        "weights": check_array(values["weights"], label("weights"), shape=(k,), kinds="fiu"),
        "means": check_array(values["means"], label("means"), shape=(k, dim), kinds="fiu"),
        "covariances": check_array(
            values["covariances"], label("covariances"), shape=cov_shape[kind], kinds="fiu"
        ),
    }
    if kind == "full":
        check_covariance(checked["covariances"], label("covariances"), batched=True)
    else:
        variances = as_tensor(checked["covariances"], dtype=torch.float64, device="cpu")
        bad = torch.nonzero((variances <= 0).reshape(k, -1).any(1)).flatten()
        if len(bad):
            raise ValueError(
                f"{label('covariances')} must be > 0 (variances), but component "
                f"{int(bad[0])} has a variance <= 0."
            )
    return checked


def check_parameters(
    values: Any,
    n_components: int,
    dim: int,
    kind: str,
    dtype: torch.dtype,
    device: torch.device,
    prefix: str = "initial",
) -> _Params:
    """Check given parameters and return them as tensors; ``prefix`` names them in messages:
    ``initial['means']`` for ``fit``, plain ``means`` for ``from_parameters`` (prefix "")."""
    _check_keys(values, prefix)

    def label(key: str) -> str:
        return f"{prefix}['{key}']" if prefix else key

    checked = _check_arrays(values, n_components, dim, kind, label)
    tensors = {}
    for name, value in checked.items():
        tensors[name] = as_tensor(value, dtype=dtype, device=device)
        check_representable(tensors[name], value, label(name))
    params = _Params(**tensors)
    if kind == "full":  # symmetric to 1e-8: average the triangles
        params.covariances = 0.5 * params.covariances + 0.5 * params.covariances.transpose(1, 2)
    if bool((params.weights < 0).any()) or abs(float(params.weights.sum()) - 1) > 1e-6:
        raise ValueError(f"{label('weights')} must be non-negative and sum to 1.")
    _Whitener(params, kind)  # fails now if a covariance is not valid
    return params


def scaled_start(
    start: _Params, shift: torch.Tensor, scale: float, kind: str, prefix: str = "initial"
) -> _Params:
    """Starting parameters in the units EM works in: (means - shift) / scale, covariances
    / scale**2; refused if that leaves the float range (absurdly out of scale with X)."""
    scaled = _Params(start.weights, (start.means - shift) / scale, start.covariances / scale**2)
    values = scaled.covariances
    if kind == "full":
        values = torch.diagonal(values, dim1=1, dim2=2)
    if (
        not bool(torch.isfinite(scaled.means).all())
        or not bool(torch.isfinite(values).all())
        or not bool((values > 0).all())
        or (kind == "full" and bool(_singular_matrices(scaled.covariances)[1].any()))
    ):
        raise ValueError(
            f"{prefix}['covariances'] and ['means'] are too far out of scale with X "
            f"(spread about {scale:.3g}) for {scaled.means.dtype}; give a start in the units "
            "of X."
        )
    return scaled


def _check_parameter_shapes(shapes: Any, match: str) -> None:
    """Raise when an array or tensor of ``(name, value, shape)`` triples has another shape;
    ``match`` names what fixed the shapes (a ``from_parameters`` argument and its sizes)."""
    for name, value, shape in shapes:
        if isinstance(value, np.ndarray | torch.Tensor) and tuple(value.shape) != shape:
            raise ValueError(
                f"{name} must have shape {shape} to match {match}, got shape {tuple(value.shape)}."
            )


def _store_fitted(model: Any, params: Any, shift: torch.Tensor, numpy: bool, **fitted: Any) -> None:
    """Keep a mixture's (centred) ``params`` and ``shift``, and set its fitted attributes:
    ``weights_``, ``means_`` (in the units of the data), the ``fitted`` tensors by name and
    ``n_features_in_``; NumPy copies when ``numpy``, else detached tensors."""
    model._params, model._shift, model._numpy = params, shift, numpy
    out = (lambda t: t.detach().cpu().numpy()) if numpy else (lambda t: t.detach())
    model.weights_ = out(params.weights)
    model.means_ = out(params.means + shift)
    for name, value in fitted.items():
        setattr(model, name, out(value))
    model.n_features_in_ = int(params.means.shape[1])


def _store_given(model: Any, params: Any, means: Any) -> Any:
    """``model`` holding the given mixture ``params`` (stored centred, as a fit stores them;
    outputs in the type of ``means``), with the history of a model that needed no fit."""
    shift = params.means.mean(0)
    model._store(replace(params, means=params.means - shift), shift, not _is_tensor(means))
    model.history_, model.n_iter_, model.converged_ = [], 0, True
    return model


def _component_labels(
    weights: torch.Tensor, n: int, component: Any, generator: torch.Generator
) -> torch.Tensor:
    """The components of ``n`` draws (int64, on the CPU): drawn with probabilities ``weights``
    (K,), or all ``component`` (checked: an integer in ``0..K-1``)."""
    if component is None:
        return torch.multinomial(weights.cpu(), n, replacement=True, generator=generator)
    k = len(weights)
    component = check_int(component, "component", min_value=0)
    if component >= k:
        raise ValueError(f"component must be below n_components={k}, got {component}.")
    return torch.full((n,), component, dtype=torch.int64)
