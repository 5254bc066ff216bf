"""Input checks shared by every module.

Each check raises *before any work*, with a message that names the argument, says what was
expected and what came instead. They accept NumPy arrays and torch tensors alike and return
their input unchanged, so they can be chained::

    X = check_array(X, "X", ndim=2, finite=True)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "ArrayLike",
    "as_numpy",
    "as_tensor",
    "check_array",
    "check_binary_spins",
    "check_covariance",
    "check_images",
    "check_int",
    "check_labels",
    "check_one_of",
    "check_positive",
    "check_probability",
    "check_seed",
    "check_str_one_of",
    "like_input",
]

ArrayLike = np.ndarray | torch.Tensor

_KIND_NAMES = {"f": "floating-point", "i": "integer", "b": "boolean", "u": "unsigned integer"}


def _kind(x: ArrayLike) -> str:
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.bool:
            return "b"
        if x.dtype.is_floating_point:
            return "f"
        if x.dtype.is_complex:
            return "c"
        return "u" if x.dtype == torch.uint8 else "i"
    return x.dtype.kind


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor | np.ndarray):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__}"


def _all_finite(x: ArrayLike, block: int = 2**22) -> bool:
    """Whether every value is finite, in blocks: ``torch.isfinite`` of a whole batch builds an
    ``abs`` copy and two masks (250 MB for Fashion-MNIST's training images)."""
    if isinstance(x, torch.Tensor):
        return all(bool(torch.isfinite(part).all()) for part in x.reshape(-1).split(block))
    flat = x.reshape(-1)
    return all(bool(np.isfinite(flat[k : k + block]).all()) for k in range(0, flat.size, block))


def check_array(
    x: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    kinds: str | None = None,
    finite: bool = True,
    min_value: float | None = None,
    max_value: float | None = None,
    allow_empty: bool = False,
) -> ArrayLike:
    """Check a NumPy array or torch tensor and return it unchanged.

    Parameters
    ----------
    x : ndarray or Tensor
        The value to check.
    name : str
        The argument's name, used in the error message.
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions.
    shape : sequence of int or None, optional
        Expected shape; ``None`` entries match any size.
    kinds : str, optional
        Allowed dtype kinds: any of ``"f"`` (float), ``"i"`` (signed int), ``"u"``
        (unsigned int), ``"b"`` (bool).
    finite : bool
        Reject NaN and infinite values.
    min_value, max_value : float, optional
        Inclusive bounds on every value.
    allow_empty : bool
        Accept an array with no elements.

    Raises
    ------
    TypeError
        ``x`` is not an array or tensor, or has a dtype of the wrong kind.
    ValueError
        Wrong dimensions or shape, empty, non-finite values, values out of bounds.
    """
    if not isinstance(x, np.ndarray | torch.Tensor):
        raise TypeError(
            f"{name} must be a NumPy array or a torch tensor, got {_describe(x)}. "
            f"Convert it with np.asarray({name}) or torch.as_tensor({name})."
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            wanted = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {wanted} dimensions, got {_describe(x)}.")
    if shape is not None:
        expected = tuple(shape)
        if len(expected) != x.ndim or any(
            e is not None and e != s for e, s in zip(expected, x.shape)
        ):
            pretty = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
            raise ValueError(f"{name} must have shape {pretty}, got {_describe(x)}.")
    if kinds is not None and _kind(x) not in kinds:
        wanted = " or ".join(_KIND_NAMES.get(k, k) for k in kinds)
        raise TypeError(f"{name} must have a {wanted} dtype, got {_describe(x)}.")
    n_elements = x.numel() if isinstance(x, torch.Tensor) else x.size
    if n_elements == 0:
        if allow_empty:
            return x
        raise ValueError(f"{name} is empty ({_describe(x)}); it needs at least one value.")
    is_float = _kind(x) in "fc"
    if finite and is_float:
        if not _all_finite(x):
            raise ValueError(
                f"{name} contains NaN or infinite values; clean or impute them before calling."
            )
    if min_value is not None or max_value is not None:
        low, high = (float(v) for v in ((x.min(), x.max())))
        if min_value is not None and low < min_value:
            raise ValueError(f"{name} must be >= {min_value}, but its minimum is {low:g}.")
        if max_value is not None and high > max_value:
            raise ValueError(f"{name} must be <= {max_value}, but its maximum is {high:g}.")
    return x


def check_images(
    images: Any,
    name: str = "images",
    *,
    channels: int | Sequence[int] | None = None,
    size: tuple[int, int] | None = None,
) -> ArrayLike:
    """Check a batch of images: shape (N, C, H, W), floating point, finite, values in [0, 1].

    Parameters
    ----------
    images : ndarray or Tensor, shape (N, C, H, W)
    name : str
        The argument's name, for the error message.
    channels : int or sequence of int, optional
        Allowed channel counts (1 for grey, 3 for colour).
    size : (int, int), optional
        Expected (H, W).
    """
    check_array(images, name, ndim=4, kinds="f")
    if channels is not None:
        allowed = (channels,) if isinstance(channels, int) else tuple(channels)
        if images.shape[1] not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} channel(s) in axis 1 "
                f"(layout N, C, H, W), got {_describe(images)}."
            )
    if size is not None and tuple(images.shape[2:]) != tuple(size):
        raise ValueError(f"{name} must be {size[0]}×{size[1]} images, got {_describe(images)}.")
    return check_array(images, name, min_value=0.0, max_value=1.0)


def check_labels(
    labels: Any, name: str = "labels", *, n: int | None = None, n_classes: int | None = None
) -> ArrayLike:
    """Check integer class labels of shape (N,), each in ``[0, n_classes)``."""
    check_array(labels, name, ndim=1, kinds="iu", shape=None if n is None else (n,))
    if n_classes is not None:
        check_array(labels, name, min_value=0, max_value=n_classes - 1)
    return labels


def check_binary_spins(x: Any, name: str = "spins") -> ArrayLike:
    """Check that every value is -1 or +1 (the course's convention for binary MRF images)."""
    check_array(x, name, kinds="fiu")
    values = torch.unique(x) if isinstance(x, torch.Tensor) else np.unique(x)
    bad = [float(v) for v in values if float(v) not in (-1.0, 1.0)]
    if bad:
        raise ValueError(
            f"{name} must contain only -1 and +1 (a binary image as spins), but it also holds "
            f"{bad[:5]}. Map a {{0, 1}} image with 2 * x - 1."
        )
    return x


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive(value: Any, name: str, *, strict: bool = True) -> float:
    """Check a real scalar is > 0 (``strict``) or >= 0 and finite; return it as a float."""
    if not _is_real(value) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}.")
    if (strict and value <= 0) or (not strict and value < 0):
        sign = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be {sign}, got {value!r}.")
    return float(value)


def check_probability(
    value: Any, name: str, *, low: float = 0.0, high: float = 1.0, inclusive: bool = False
) -> float:
    """Check a real scalar lies in ``(low, high)`` (or ``[low, high]``); return it as a float."""
    if not _is_real(value) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}.")
    inside = low <= value <= high if inclusive else low < value < high
    if not inside:
        interval = f"[{low}, {high}]" if inclusive else f"({low}, {high})"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}.")
    return float(value)


def check_int(value: Any, name: str, *, min_value: int | None = None) -> int:
    """Check ``value`` is an integer (not a bool), at least ``min_value``; return it as int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}.")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value!r}.")
    return int(value)


#: Largest seed accepted by :func:`check_seed` (torch generators take 64-bit seeds).
MAX_SEED = 2**63 - 1


def check_seed(
    seed: Any, name: str = "seed", *, allow_none: bool = True, max_value: int = MAX_SEED
) -> int | None:
    """Check a random seed: ``None`` (when allowed) or an integer in ``[0, max_value]``.

    The course's one seed validator: every ``seed=`` argument goes through it, so ``1.9`` is
    not silently truncated to 1, ``-1`` is not wrapped around, and ``True`` is not a seed.

    Parameters
    ----------
    seed : None or int
        A Python or NumPy integer (not a bool).
    name : str
        The argument's name, for the error message.
    allow_none : bool
        Accept ``None`` (meaning: draw a fresh seed).
    max_value : int
        Largest accepted seed, ``2**63 - 1`` by default (``2**32 - 1`` where NumPy's legacy
        global generator is seeded).

    Returns
    -------
    int or None

    Raises
    ------
    TypeError
        ``seed`` is a float, a bool, a string, an array...
    ValueError
        ``seed`` is negative or above ``max_value``.
    """
    if seed is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be a non-negative integer (e.g. {name}=0), got None.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        allowed = "None or a non-negative integer" if allow_none else "a non-negative integer"
        hint = f" A float is not rounded: pass int({name}) if meant." if _is_real(seed) else ""
        raise TypeError(
            f"{name} must be {allowed} (e.g. {name}=0), got {seed!r} of type "
            f"{type(seed).__name__}.{hint}"
        )
    if not 0 <= int(seed) <= max_value:
        raise ValueError(f"{name} must be an integer in [0, {max_value}], got {int(seed)}.")
    return int(seed)


def _singular_matrices(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cholesky factor(s) of ``cov`` (..., D, D) and a bool mask (batch,) of the matrices that
    are not *numerically* positive definite.

    Besides a failed factorisation, a matrix counts as singular when a pivot is at rounding
    level: ``L_ii^2 <= 8 D eps C_ii``. Such a pivot is what rounding leaves of an exactly
    singular matrix (e.g. a mixture component collapsed on a line); whether the factorisation
    then "succeeds" depends on the BLAS, and densities computed from it are noise. The test
    is relative to each variable's own variance, so it does not depend on the units.
    """
    factor, info = torch.linalg.cholesky_ex(cov)
    dim = cov.shape[-1]
    eps = torch.finfo(cov.dtype).eps
    pivots = torch.diagonal(factor, dim1=-2, dim2=-1) ** 2
    variances = torch.diagonal(cov, dim1=-2, dim2=-1)
    bad = (info != 0) | (pivots <= 8 * dim * eps * variances).any(-1)
    return factor, bad.reshape(-1)


def check_covariance(
    cov: Any,
    name: str = "cov",
    *,
    dim: int | None = None,
    batched: bool | None = None,
    n_matrices: int | None = None,
) -> ArrayLike:
    """Check a covariance matrix, or a batch of them, is symmetric positive definite.

    Parameters
    ----------
    cov : ndarray or Tensor, shape (D, D) or (K, D, D)
        Real (float or integer dtype), finite.
    name : str
        The argument's name, for the error message (a batch's matrices are called
        "component k").
    dim : int, optional
        Expected D.
    batched : bool, optional
        True: require (K, D, D); False: require (D, D); None: accept both.
    n_matrices : int, optional
        Expected K of a batch.

    Returns
    -------
    ``cov`` unchanged.

    Raises
    ------
    TypeError
        Not an array, or a bool/complex/object dtype.
    ValueError
        Wrong shape, NaN/inf, not symmetric (beyond ``|C - C^T| <= tol max|C|`` with
        ``tol = max(1e-8, 100 eps)`` of its dtype), or not (numerically) positive definite.
    """
    ndim = {None: (2, 3), True: 3, False: 2}[batched]
    check_array(cov, name, ndim=ndim, kinds="fiu")
    _check_covariance_shape(cov, name, dim, n_matrices)
    batch = cov.ndim == 3
    eps = _rounding_level(cov)
    matrices = as_tensor(cov, dtype=torch.float64, device="cpu").reshape(-1, *cov.shape[-2:])
    size = _check_symmetric(matrices, name, batch, eps)
    _check_positive_definite(matrices, name, batch, size)
    return cov


def _check_covariance_shape(cov: ArrayLike, name: str, dim: Any, n_matrices: Any) -> None:
    """Square (D, D) matrices, with the expected D and, for a batch, the expected count."""
    if cov.shape[-1] != cov.shape[-2]:
        raise ValueError(f"{name} must hold square (D, D) matrices, got {_describe(cov)}.")
    if dim is not None and cov.shape[-1] != dim:
        raise ValueError(
            f"{name} must hold ({dim}, {dim}) matrices (D = {dim}), got {_describe(cov)}."
        )
    if n_matrices is not None and cov.ndim == 3 and cov.shape[0] != n_matrices:
        raise ValueError(f"{name} must hold {n_matrices} matrices, got {_describe(cov)}.")


def _rounding_level(cov: ArrayLike) -> float:
    """The machine epsilon of ``cov``'s floating dtype; 0 for integers, which are exact."""
    source_dtype = cov.dtype if isinstance(cov, torch.Tensor) else None
    if isinstance(cov, np.ndarray) and cov.dtype.kind == "f":
        return float(np.finfo(cov.dtype).eps)
    if source_dtype is not None and source_dtype.is_floating_point:
        return float(torch.finfo(source_dtype).eps)
    return 0.0


def _which_matrix(name: str, batch: bool, k: int) -> str:
    return f"component {k} ({name}[{k}])" if batch else name


def _check_symmetric(matrices: torch.Tensor, name: str, batch: bool, eps: float) -> torch.Tensor:
    """Refuse the first asymmetric matrix of ``matrices`` (K, D, D); their max |C|, shape (K,)."""
    # Symmetry, relative to each matrix's own size (a covariance of 1e-200 is fine).
    tolerance = max(1e-8, 100 * eps)
    size = matrices.abs().amax(dim=(1, 2))
    gap = (matrices - matrices.transpose(1, 2)).abs().amax(dim=(1, 2))
    asymmetric = torch.nonzero(gap > tolerance * size).flatten()
    if len(asymmetric):
        k = int(asymmetric[0])
        raise ValueError(
            f"{name} must be symmetric positive definite, but {_which_matrix(name, batch, k)} is "
            f"not symmetric: |C - C^T| reaches {float(gap[k]):.3g} while max |C| is "
            f"{float(size[k]):.3g}. Only the lower triangle would be used; symmetrise it, e.g. "
            "(C + C.T) / 2, if the asymmetry is rounding."
        )
    return size


def _check_positive_definite(
    matrices: torch.Tensor, name: str, batch: bool, size: torch.Tensor
) -> None:
    """Refuse the first matrix of ``matrices`` (K, D, D) that is not numerically positive
    definite, quoting its smallest eigenvalue against its largest entry ``size[k]``."""
    _, bad = _singular_matrices(matrices)
    singular = torch.nonzero(bad).flatten()
    if len(singular):
        k = int(singular[0])
        smallest = float(torch.linalg.eigvalsh(0.5 * (matrices[k] + matrices[k].T))[0])
        raise ValueError(
            f"{name} must be symmetric positive definite, but {_which_matrix(name, batch, k)} is "
            f"not positive definite (its smallest eigenvalue is {smallest:.3g}, relative to a "
            f"largest entry of {float(size[k]):.3g}). Add a small multiple of the identity (a "
            "covariance floor) or check how it was computed."
        )


def check_one_of(value: Any, name: str, options: Sequence[Any]) -> Any:
    """Check ``value`` is one of ``options``; the error lists them."""
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {listed}; got {value!r}.")
    return value


def check_str_one_of(value: Any, name: str, options: Sequence[str], noun: str = "a str") -> str:
    """Check ``value`` is a string (``noun`` in the message) and one of ``options``.

    A string first: ``check_one_of`` compares with ``in``, which an array turns into an
    ambiguous-truth-value error from NumPy instead of a message about ``name``.
    """
    if not isinstance(value, str):
        listed = ", ".join(repr(o) for o in options)
        raise TypeError(f"{name} must be {noun}, one of {listed}; got {type(value).__name__}.")
    return check_one_of(value, name, options)


def as_numpy(x: Any) -> np.ndarray:
    """A NumPy view or copy of ``x`` (a tensor on any device, an array, or a sequence)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def as_tensor(
    x: Any, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """A torch tensor from ``x``; avoids a copy when dtype and device already match."""
    if isinstance(x, torch.Tensor):
        return x.to(device=device if device is not None else x.device, dtype=dtype or x.dtype)
    array = np.asarray(x)
    if not array.dtype.isnative:  # torch refuses big-endian arrays: swap to native order
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype.kind == "f" and array.dtype.itemsize > 8:  # long double: torch has none
        array = array.astype(np.float64)
    return torch.as_tensor(array, dtype=dtype, device=device)


def like_input(result: torch.Tensor, reference: Any) -> ArrayLike:
    """Return ``result`` as NumPy when ``reference`` was NumPy (numpy in, numpy out)."""
    if isinstance(reference, torch.Tensor):
        return result
    return result.detach().cpu().numpy()


def check_bool(value: Any, name: str) -> bool:
    """Check a flag is ``True`` or ``False`` (a NumPy bool too); ``bool("no")`` would be True."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def _largest_finite_magnitude(values: ArrayLike, block: int = 2**22) -> float | None:
    """max |v| over the finite entries (None when there are none), in blocks of ``block``.

    In blocks, and without boolean indexing (whose index tensors take several times the array's
    memory): a 60,000-image dataset is checked in a few megabytes.
    """
    flat = values.reshape(-1)
    largest = None
    for start in range(0, flat.shape[0], block):
        chunk = flat[start : start + block]
        if isinstance(chunk, torch.Tensor):
            magnitude = torch.nan_to_num(chunk.abs(), nan=-1.0, posinf=-1.0).max()
        else:
            magnitude = np.nan_to_num(np.abs(chunk), nan=-1.0, posinf=-1.0).max()
        magnitude = float(magnitude)
        if magnitude >= 0 and (largest is None or magnitude > largest):
            largest = magnitude
    return largest


def check_fits_dtype(x: ArrayLike, name: str, dtype: torch.dtype) -> ArrayLike:
    """Check the finite values of a float array stay finite when cast to ``dtype``.

    A float64 value of 1e39 becomes ``inf`` in float32: a model computing in float32 would
    then return NaN. The error gives the largest magnitude and the dtype's range.
    """
    if _kind(x) != "f" or not torch.empty((), dtype=dtype).is_floating_point():
        return x
    limit = float(torch.finfo(dtype).max)
    values = x.detach() if isinstance(x, torch.Tensor) else np.asarray(x)
    source_max = (
        torch.finfo(values.dtype).max
        if isinstance(values, torch.Tensor)
        else np.finfo(values.dtype).max
    )
    if float(source_max) <= limit:  # e.g. float32 data for a float32 model: nothing can overflow
        return x
    largest = _largest_finite_magnitude(values)
    if largest is None:
        return x
    if largest > limit:
        raise ValueError(
            f"{name} has values up to {largest:.3g} in magnitude, beyond the range of "
            f"{dtype} (about {limit:.3g}) that the computation uses; rescale {name}."
        )
    return x


#: Most elements a single tensor of one call may have (4 GiB of float32).
MAX_TENSOR_ELEMENTS = 2**30


def check_elements(count: int, name: str, max_elements: int = MAX_TENSOR_ELEMENTS) -> None:
    """Refuse a call that would allocate more than ``max_elements`` values, naming ``name``."""
    if count > max_elements:
        raise ValueError(
            f"{name} is too large: the call would allocate {count:.3g} values (at most "
            f"{max_elements:.3g}); ask for fewer."
        )
