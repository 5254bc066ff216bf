"""Checking mixture parameters given by hand: starting values for ``fit(X, initial=...)`` and
the parameters of ``GaussianMixture.from_parameters``.

Each check raises before any work, naming the value (``initial['covariances']``) and the
component at fault. The storage shapes are scikit-learn's (``covariance_type``; Pedregosa et
al. 2011, JMLR 12): full (K, D, D), diag (K, D), spherical (K,).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from lessons_lib.core.validation import (
    _singular_matrices,
    as_tensor,
    check_array,
    check_covariance,
)
from lessons_lib.density._fast_e_step import _Params, _Whitener
from lessons_lib.density._inputs import check_representable

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
