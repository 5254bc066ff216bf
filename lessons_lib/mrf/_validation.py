"""Checks and conversions shared by the files of ``lessons_lib.mrf``.

The MRF-specific argument checks (spins that must be ±1, lattices of at least 2×2, couplings,
inverse temperatures) and the documented sanity bounds on counts: sweeps and iterations at most
10**7, at most 2**31 sites in all, so that an absurd argument is refused at once rather than
running (effectively) forever. The generic checks live in :mod:`lessons_lib.core.validation`.

Also the container rule of the package: numpy in gives numpy out, a tensor gives a tensor
(:func:`_like`, :func:`_per_lattice`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.validation import (
    ArrayLike,
    check_array,
    check_binary_spins,
    check_int,
    check_positive,
)

_MAX_EXACT_SITES = 20


#: Sanity bounds on counts. No course use comes near them (a few hundred sweeps, chains of a
#: few thousand 64×64 lattices); a value above them would run for days or need more memory
#: than a machine has, so it is refused instead of looping (effectively) forever.
#: Sweeps, burn-in sweeps, EM and solver iterations: 10**7 sweeps of even a 4×4 lattice take
#: hours in Python-driven loops.
_MAX_ITERATIONS = 10**7


#: Sites (pixels) of all chains or samples together: 2**31 spins as float32 are 8 GiB, and the
#: samplers hold several arrays of that size.
_MAX_ELEMENTS = 2**31


#: The largest float64, the limit of every energy and log-partition function returned.
_FLOAT_MAX = float(np.finfo(np.float64).max)


def _check_count(value: Any, name: str, *, min_value: int, max_value: int, why: str) -> int:
    """``check_int`` with a documented sanity upper bound (``why`` says what it protects)."""
    value = check_int(value, name, min_value=min_value)
    if value > max_value:
        raise ValueError(f"{name} must be at most {max_value:,} ({why}), got {value!r}.")
    return value


def _check_iterations(value: Any, name: str, *, min_value: int = 1) -> int:
    """A number of sweeps or iterations, in ``[min_value, 10**7]``."""
    return _check_count(
        value,
        name,
        min_value=min_value,
        max_value=_MAX_ITERATIONS,
        why="a sanity bound: more would run for days",
    )


def _check_copies(value: Any, name: str, n_sites: int) -> int:
    """A number of chains or samples of an image of ``n_sites`` pixels: at least 1, and at most
    ``2**31`` sites in all (the samplers hold several float32 arrays of that size)."""
    value = check_int(value, name, min_value=1)
    limit = max(1, _MAX_ELEMENTS // max(n_sites, 1))
    if value > limit:
        raise ValueError(
            f"{name} must be at most {limit:,} for an image of {n_sites:,} pixels ({name} × "
            f"pixels is limited to 2**31 sites, beyond the memory of a machine), got {value!r}."
        )
    return value


def _finite_or_refuse(value: float, what: str, culprits: str) -> float:
    """``value`` if it is finite; else a ValueError saying it is beyond float64's range."""
    if not math.isfinite(value):
        raise ValueError(
            f"{what} is beyond float64's range (largest magnitude {_FLOAT_MAX:.4g}) for "
            f"{culprits}; no finite answer exists: use smaller values."
        )
    return value


def _largest_magnitude(*values: float) -> float:
    """``max |v|`` of some finite floats (0.0 if all are zero)."""
    return max(abs(float(v)) for v in values)


def _check_beta(beta: Any, name: str = "beta") -> float:
    if isinstance(beta, np.ndarray | torch.Tensor) and beta.ndim == 0:
        beta = float(beta)
    return check_positive(beta, name)


def _check_real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return float(value)


def _check_couplings(J: Any) -> tuple[float, float]:
    """``J`` as (vertical, horizontal) couplings: a number, or a pair for anisotropic models."""
    if isinstance(J, tuple | list):
        if len(J) != 2:
            raise ValueError(f"J must be a number or a pair (J_vertical, J_horizontal), got {J!r}.")
        return _check_real(J[0], "J[0]"), _check_real(J[1], "J[1]")
    value = _check_real(J, "J")
    return value, value


def _is_bool(x: ArrayLike) -> bool:
    return x.dtype == torch.bool if isinstance(x, torch.Tensor) else x.dtype == np.bool_


def _check_spins(x: Any, name: str, ndim: int | None = None) -> ArrayLike:
    """A ±1 array or tensor. {0, 1} and boolean images are refused, not converted: a 0 could be
    a missing value or a spin, so the caller maps them explicitly (``2 * x - 1``)."""
    if isinstance(x, np.ndarray | torch.Tensor) and _is_bool(x):
        raise TypeError(
            f"{name} must hold ±1 spins as numbers, got a boolean {type(x).__name__}; {{0, 1}} "
            f"and boolean images are not converted: map them with 2 * {name} - 1 (after "
            "casting to float)."
        )
    check_array(x, name, ndim=ndim, kinds="fiu")
    return check_binary_spins(x, name)


def _check_lattice(spins: Any, name: str = "spins") -> ArrayLike:
    check_array(spins, name)  # type, emptiness and finiteness first
    if spins.ndim < 2:
        raise ValueError(f"{name} must have shape (..., H, W), got shape {tuple(spins.shape)}.")
    if min(spins.shape[-2:]) < 2:
        raise ValueError(
            f"{name} must be at least 2×2 in its last two axes, got shape {tuple(spins.shape)}."
        )
    return _check_spins(spins, name)


def _check_image(image: Any, name: str) -> ArrayLike:
    """A 2-D ±1 image (numpy array or tensor)."""
    return _check_spins(image, name, ndim=2)


def _check_shape(shape: Any, name: str = "spins_or_shape") -> tuple[int, ...]:
    if isinstance(shape, int | str | bytes) or not isinstance(shape, Sequence | torch.Size):
        what = "a shape such as (64, 64)" + (" or a ±1 array" if name == "spins_or_shape" else "")
        raise TypeError(f"{name} must be {what}, got {shape!r}.")
    dims = tuple(check_int(s, f"{name}[k]", min_value=1) for s in shape)
    if len(dims) < 2 or min(dims[-2:]) < 2:
        raise ValueError(f"{name} must be (..., H, W) with H, W >= 2, got {shape!r}.")
    return dims


def _float_tensor(x: ArrayLike, device: torch.device | None, dtype=torch.float32) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(device=device or x.device, dtype=dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def _device_for(x: Any, device: Any) -> torch.device:
    """``device`` if given, else the device of a tensor input, else ``get_device()``."""
    if device is None and isinstance(x, torch.Tensor):
        return x.device
    return resolve_device(device)


def _like(result: torch.Tensor, reference: Any) -> ArrayLike:
    """``result`` in the container and dtype of ``reference`` (numpy in, numpy out)."""
    if isinstance(reference, torch.Tensor):
        return result.to(dtype=reference.dtype, device=reference.device)
    return result.detach().cpu().numpy().astype(np.asarray(reference).dtype, copy=False)


def _per_lattice(values: torch.Tensor, reference: Any) -> Any:
    """A float for one lattice, else an array (numpy in) or tensor of per-lattice values."""
    if values.ndim == 0:
        return float(values)
    if isinstance(reference, torch.Tensor):
        return values
    return values.cpu().numpy()
