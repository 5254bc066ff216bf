"""The boundary of the density models: data in (checked, converted to the model's dtype and
device without silent overflow), results out (NumPy in, NumPy out; a tensor in, a tensor out),
and the refusals of results that left the float range.

The conventions follow scikit-learn's estimators (``check_array`` before any work, fitted
attributes in the type of the data; Pedregosa et al. 2011, "Scikit-learn: machine learning in
Python", JMLR 12).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.validation import (
    ArrayLike,
    as_tensor,
    check_array,
    check_covariance,
    check_int,
    check_seed,
)

__all__ = [
    "MAX_SAMPLE_VALUES",
    "check_finite_result",
    "check_representable",
    "check_sample_count",
    "like",
    "to_model_tensor",
]


#: Most values (points x dimensions) one ``sample`` call may draw: 2**33 float64 are 64 GiB,
#: beyond any machine the course runs on; a larger ``n`` is a mistake, refused up front.
MAX_SAMPLE_VALUES = 2**33


def check_sample_count(n: Any, dim: int, name: str = "n") -> int:
    """Check a number of points to draw: an integer >= 1 whose draws fit in memory."""
    n = check_int(n, name, min_value=1)
    if n * max(dim, 1) > MAX_SAMPLE_VALUES:
        raise ValueError(
            f"{name}={n} points of dimension {dim} are {n * dim:.3g} values, more than the "
            f"{MAX_SAMPLE_VALUES:.3g} one call may draw; draw them in batches."
        )
    return n


def to_model_tensor(x: Any, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Check ``x`` is a finite real (N, D) array and return it as a ``dtype`` tensor on device.

    Raises
    ------
    ValueError
        Also when a value is beyond the range of ``dtype`` (e.g. 1e200 for float32), which the
        conversion would turn into infinity.
    """
    check_array(x, name, ndim=2, kinds="fiu")
    tensor = as_tensor(x, dtype=dtype, device=device)
    check_representable(tensor, x, name)
    return tensor


def check_representable(converted: torch.Tensor, original: Any, name: str) -> None:
    """Raise if converting finite ``original`` to ``converted``'s dtype overflowed."""
    if converted.dtype == torch.float64 or converted.dtype == getattr(original, "dtype", None):
        return  # float64 holds every finite float and integer of 64 bits or less
    if not bool(torch.isfinite(converted).all()):
        top = float(
            np.abs(
                np.asarray(
                    original.detach().cpu() if _is_tensor(original) else original, dtype=np.float64
                )
            ).max()
        )
        raise ValueError(
            f"{name} has values up to {top:.3g} in magnitude, beyond the range of "
            f"{converted.dtype} (largest {torch.finfo(converted.dtype).max:.3g}). Use "
            f"dtype=torch.float64, or rescale {name}."
        )


def _is_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


def like(result: torch.Tensor, reference: Any) -> ArrayLike:
    """``result`` as NumPy when ``reference`` is not a tensor, else on ``reference``'s device."""
    if isinstance(reference, torch.Tensor):
        return result.to(reference.device)
    return result.detach().cpu().numpy()


def _refuse_underflow(values: torch.Tensor, name: str) -> torch.Tensor:
    """Raise when a log-density is below the float range (``-inf`` from finite input)."""
    bad = torch.nonzero(~torch.isfinite(values)).flatten()
    if len(bad):
        raise ValueError(
            f"row {int(bad[0])} of {name} is so far from the distribution (in Mahalanobis "
            f"distance) that its log-density is below the {values.dtype} range; it cannot "
            "be represented (its density is 0 in floating point)."
        )
    return values


def check_finite_result(values: torch.Tensor, what: str) -> torch.Tensor:
    """Raise (rather than return inf/NaN) when a result left the float range."""
    if not bool(torch.isfinite(values).all()):
        raise ValueError(
            f"{what} overflow {values.dtype}: the inputs are too close to the largest float "
            f"({torch.finfo(values.dtype).max:.3g}); rescale them."
        )
    return values


def _fitted_rows(model: Any, X: Any, name: str, unit: str = " features") -> torch.Tensor:
    """``X`` checked against a fitted density ``model`` (as many columns as it was fitted on),
    as a tensor of the model's dtype on its device; ``unit`` ends the error message."""
    model._check_fitted()
    x = to_model_tensor(X, name, model.dtype, model.device)
    if x.shape[1] != model.n_features_in_:
        raise ValueError(
            f"{name} has {x.shape[1]} columns but the model was fitted on "
            f"{model.n_features_in_}{unit}."
        )
    return x


def _check_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}.")
    return dtype


def _store_run_settings(
    model: Any, seed: Any, device: Any, dtype: torch.dtype, progress: Any
) -> None:
    """Check and store the settings of an EM model's runs: ``seed``, ``device``, ``dtype``,
    ``progress`` (the last arguments of ``GaussianMixture`` and ``MixtureOfFactorAnalyzers``)."""
    model.seed = check_seed(seed, "seed")
    model.device = resolve_device(device)
    model.dtype = _check_dtype(dtype)
    model.progress = bool(progress)


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from lessons_lib.core.progress import progress_bar

    return progress_bar(iterable, desc=desc)


def _mean_cov_tensors(
    mean: Any, cov: Any, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean`` (D,) and ``cov`` (D, D) checked (cov symmetric positive definite) as tensors."""
    check_array(mean, "mean", ndim=1, kinds="fiu")
    dim = mean.shape[0]
    check_array(cov, "cov", ndim=2, kinds="fiu")
    if tuple(cov.shape) != (dim, dim):
        raise ValueError(
            f"cov must have shape ({dim}, {dim}) to match mean ({dim} entries), got shape "
            f"{tuple(cov.shape)}."
        )
    check_covariance(cov, "cov", dim=dim, batched=False)
    mean_t = as_tensor(mean, dtype=dtype, device=device)
    cov_t = as_tensor(cov, dtype=dtype, device=device)
    check_representable(mean_t, mean, "mean")
    check_representable(cov_t, cov, "cov")
    # Symmetric to 1e-8 after the check: average the two triangles (exact if symmetric).
    cov_t = 0.5 * cov_t + 0.5 * cov_t.T
    return mean_t, cov_t


def _compute_dtype(*values: Any) -> torch.dtype:
    """float64 unless every tensor given is float32 (then keep float32, e.g. on a GPU)."""
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    if tensors and len(tensors) == len(values) and all(t.dtype == torch.float32 for t in tensors):
        return torch.float32
    return torch.float64


def _compute_device(*values: Any) -> torch.device:
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
    return torch.device("cpu")
