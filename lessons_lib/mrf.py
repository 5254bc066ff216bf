"""Markov random fields on the pixel grid: Ising and Potts models, sampling, denoising, learning.

Two models share one grid and one notation.

* The **Ising model** on an ``H × W`` lattice of spins ``x_i ∈ {-1, +1}``::

      p(x) = exp(-β E(x)) / Z,     E(x) = -J Σ_{i~j} x_i x_j - h Σ_i x_i

  with nearest-neighbour pairs ``i ~ j``. :func:`ising_gibbs` samples it on a *periodic*
  lattice (a torus) by checkerboard Gibbs sweeps; :func:`onsager_magnetization` and
  :func:`onsager_energy` are the exact infinite-lattice answers it is checked against.
* **Denoising** a binary image ``y`` observed through flip noise of rate ``p``: the posterior
  over clean images ``x`` is ``p(x | y) ∝ exp(-E(x))`` with::

      E(x) = -β Σ_{i~j} x_i x_j - η Σ_i x_i y_i,      η = ½ ln((1 - p) / p)

  over 4-neighbour pairs with *free* boundaries (:func:`denoise_energy`). :func:`denoise`
  minimizes it by ICM, annealed Gibbs sampling, mean-field or an exact minimum cut.
* The **Potts model** over labels ``z_i ∈ {0, …, K-1}`` with a Gaussian colour likelihood
  segments a photo (:func:`potts_segment`).

Spins are ``±1`` numbers of any dtype; numpy in gives numpy out, a tensor gives a tensor.
``{0, 1}`` and boolean images are refused with an error, not converted (a 0 could be a spin or
a missing value): map them with ``2 * x - 1``.

Extreme finite parameters (β up to 1e308, fields and couplings of any size, noise rates near 0
or ½) give the exact limits rather than NaN: conditional probabilities are computed from
exactly rounded local fields with saturated logits, exact sums over states shift their
log-weights by the largest, and energies divide by their largest coefficient before summing.
Where a returned energy or log-partition function is itself beyond float64's range (about
1.8e308), a ValueError names the parameters instead of returning ±inf. Counts have documented
sanity bounds (sweeps and iterations at most 10**7, at most 2**31 sites in all), so an absurd
argument is refused at once rather than running (effectively) forever.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    check_array,
    check_binary_spins,
    check_int,
    check_one_of,
    check_positive,
    check_probability,
    check_seed,
)

__all__ = [
    "BETA_CRITICAL",
    "DENOISE_METHODS",
    "autocorrelation",
    "boundary_length",
    "denoise",
    "denoise_energy",
    "denoise_exact",
    "estimate_noise_rate",
    "fit_pseudo_likelihood",
    "flip_noise",
    "inpaint",
    "integrated_autocorrelation_time",
    "ising_energy",
    "ising_exact",
    "ising_gibbs",
    "magnetization",
    "make_shapes",
    "mean_field_marginals",
    "min_cut_map",
    "noise_coupling",
    "onsager_energy",
    "onsager_magnetization",
    "posterior_marginals",
    "potts_energy",
    "potts_segment",
    "spin_configurations",
]

#: The critical inverse temperature of the square-lattice Ising model (J = 1): ln(1 + √2) / 2.
BETA_CRITICAL: float = 0.5 * math.log(1.0 + math.sqrt(2.0))

_MAX_EXACT_SITES = 20
_INT32_MAX = 2**31 - 1
_COVARIANCE_FLOOR = 1e-9
#: Largest colour magnitude potts_segment takes: squared distances divided by the covariance
#: floor must stay far from float64's range (1e100² / 1e-9 = 1e209).
_MAX_COLOUR = 1e100
#: Sanity bounds on counts. No course use comes near them (a few hundred sweeps, chains of a
#: few thousand 64×64 lattices); a value above them would run for days or need more memory
#: than a machine has, so it is refused instead of looping (effectively) forever.
#: Sweeps, burn-in sweeps, EM and solver iterations: 10**7 sweeps of even a 4×4 lattice take
#: hours in Python-driven loops.
_MAX_ITERATIONS = 10**7
#: Sites (pixels) of all chains or samples together: 2**31 spins as float32 are 8 GiB, and the
#: samplers hold several arrays of that size.
_MAX_ELEMENTS = 2**31
#: Pixels of a :func:`make_shapes` image (it builds several float64 arrays of this size).
_MAX_IMAGE_PIXELS = 2**28
#: Shapes drawn by :func:`make_shapes` (each one costs a pass over the whole image).
_MAX_SHAPES = 10**5
#: Labels of a Potts segmentation (k-means seeding costs K² passes over the pixels).
_MAX_LABELS = 1000
#: The largest float64, the limit of every energy and log-partition function returned.
_FLOAT_MAX = float(np.finfo(np.float64).max)


# =========================================================================== small helpers


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


#: A logit beyond which σ is exactly 0 or 1 in float64 (and float32): logits are clipped to it,
#: which changes no probability and keeps every product finite.
_SATURATED_LOGIT = 1000.0


def _generator(seed: int | None, device: torch.device) -> torch.Generator:
    """A torch generator on ``device``; ``seed=None`` draws one from torch's global state."""
    seed = check_seed(seed)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def _to_float(value: Fraction) -> float:
    """A Fraction as the nearest float, ±inf where it is beyond float64's range."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _log_abs(value: Fraction) -> float:
    """``ln |value|`` of a non-zero Fraction, for any magnitude (no float overflow)."""
    return math.log(abs(value.numerator)) - math.log(value.denominator)


def _scaled_logits(values: Sequence[Fraction], factor: np.ndarray) -> np.ndarray:
    """``factor · value`` for exact values and positive float64 factors, clipped to ±1000.

    The sign is exact (a zero value gives exactly 0, however large the factor: the heat-bath
    limit ½ of a zero local field), and the magnitude is computed in log space, so neither a huge
    factor nor a huge value overflows. Shape ``(*factor.shape, len(values))``.
    """
    factor = np.asarray(factor, dtype=np.float64)
    out = np.zeros((*factor.shape, len(values)))
    with np.errstate(divide="ignore"):
        log_factor = np.log(factor)
    for k, value in enumerate(values):
        if value == 0:
            continue
        log_magnitude = log_factor + _log_abs(value)
        magnitude = np.exp(np.minimum(log_magnitude, math.log(_SATURATED_LOGIT)))
        # The sign from a comparison: math.copysign would convert a huge Fraction to float.
        out[..., k] = (1.0 if value > 0 else -1.0) * magnitude
    return out


def _largest_magnitude(*values: float) -> float:
    """``max |v|`` of some finite floats (0.0 if all are zero)."""
    return max(abs(float(v)) for v in values)


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False)


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


# =========================================================================== Ising: statistics


def ising_energy(spins: ArrayLike, J: float | tuple[float, float] = 1.0, h: float = 0.0):
    """Mean energy per spin on a periodic lattice, ``E(x) / N``.

    ``E(x) = -J Σ_{i~j} x_i x_j - h Σ_i x_i`` over nearest-neighbour pairs of the torus (each
    spin has two bonds: right and down).

    Parameters
    ----------
    spins : array or Tensor, shape (..., H, W)
        ±1 spins; leading axes index independent lattices.
    J : float or (float, float)
        Coupling, or (vertical, horizontal) couplings.
    h : float
        External field.

    Returns
    -------
    float for one lattice; array (numpy in) or tensor of shape ``spins.shape[:-2]`` otherwise.

    Raises
    ------
    ValueError
        Non-binary spins, non-finite ``J`` or ``h``, or an energy per spin beyond float64's
        range (``|J|`` and ``|h|`` near 1e308: no finite answer exists).
    """
    _check_lattice(spins)
    j_vertical, j_horizontal = _check_couplings(J)
    h = _check_real(h, "h")
    x = _float_tensor(spins, None, torch.float64)
    down = (x * torch.roll(x, -1, dims=-2)).mean(dim=(-2, -1))
    right = (x * torch.roll(x, -1, dims=-1)).mean(dim=(-2, -1))
    # Divide the couplings by the largest first: a sum of terms near 1e308 cannot overflow on
    # the way (the result overflows only where the energy itself is beyond float64).
    scale = _largest_magnitude(j_vertical, j_horizontal, h) or 1.0
    energy = -(j_vertical / scale) * down - (j_horizontal / scale) * right
    energy = scale * (energy - (h / scale) * x.mean(dim=(-2, -1)))
    _finite_or_refuse(float(energy.abs().max()), "the energy per spin", f"J={J!r}, h={h!r}")
    return _per_lattice(energy, spins)


def magnetization(spins: ArrayLike):
    """Mean spin ``m = (1/N) Σ_i x_i`` of each lattice.

    Parameters
    ----------
    spins : array or Tensor, shape (..., H, W)

    Returns
    -------
    float for one lattice; array or tensor of shape ``spins.shape[:-2]`` otherwise.
    """
    _check_lattice(spins)
    return _per_lattice(_float_tensor(spins, None, torch.float64).mean(dim=(-2, -1)), spins)


def _check_onsager_beta(beta: Any) -> np.ndarray:
    if isinstance(beta, bool | np.bool_):
        raise TypeError(f"beta must be a real number or an array of them, got {beta!r}.")
    if isinstance(beta, np.ndarray | torch.Tensor | list | tuple):
        values = as_numpy(beta) if not isinstance(beta, list | tuple) else np.asarray(beta)
    elif isinstance(beta, numbers.Real):
        values = np.asarray(beta)
    else:
        raise TypeError(f"beta must be a real number or an array of them, got {beta!r}.")
    if values.dtype.kind not in "fiu":
        raise TypeError(
            f"beta must be a real number or an array of real numbers, got dtype {values.dtype}."
        )
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"beta must be finite and > 0 (an inverse temperature), got {beta!r}.")
    return values


def _scalar_or_array(values: np.ndarray, reference: Any):
    return float(values) if np.ndim(reference) == 0 else values


def _reduced_coupling(beta: Any, J: Any) -> tuple[np.ndarray, float]:
    """``βJ`` (float64; +inf where the product overflows, which every formula below takes as its
    zero-temperature limit) and the checked ``J``."""
    J = check_positive(J, "J")
    with np.errstate(over="ignore"):
        return _check_onsager_beta(beta) * J, J


def onsager_magnetization(beta: float | ArrayLike, J: float = 1.0):
    """Onsager–Yang spontaneous magnetization of the infinite square lattice.

    ``m(β) = (1 - sinh(2βJ)^-4)^(1/8)`` below the critical temperature (``βJ > β_c``), 0 above.
    ``sinh(2βJ)^-1`` is computed as ``2 e^{-2βJ} / (1 - e^{-4βJ})``, which stays finite for any
    finite β (``m → 1`` as ``β → ∞``).

    Parameters
    ----------
    beta : float or array of shape (n,)
    J : float, > 0

    Returns
    -------
    float or ndarray of shape (n,)
    """
    b, _ = _reduced_coupling(beta, J)
    ordered = b > BETA_CRITICAL
    safe = np.where(ordered, b, 1.0)
    cosech = 2.0 * np.exp(-2.0 * safe) / -np.expm1(-4.0 * safe)
    m = np.where(ordered, np.clip(1.0 - cosech**4, 0.0, None) ** 0.125, 0.0)
    return _scalar_or_array(m, beta)


#: ``c_n² = ((2n - 1)!! / (2n)!!)²`` for n = 1, 2, …: ``(2/π) K(m) = 1 + Σ_n c_n² m^n``.
_ELLIPK_SERIES = np.cumprod([((2.0 * n - 1.0) / (2.0 * n)) ** 2 for n in range(1, 80)])


def onsager_energy(beta: float | ArrayLike, J: float = 1.0):
    """Onsager's exact mean energy per spin of the infinite square lattice (zero field).

    ``u(β) = -J coth(2βJ) [1 + (2/π) (2 tanh²(2βJ) - 1) K(k²)]``, with
    ``k = 2 sinh(2βJ) / cosh²(2βJ)`` and ``K`` the complete elliptic integral of the first kind
    (of parameter ``k²``). At ``β_c`` it equals ``-√2 J``.

    Written with ``T = tanh(2βJ)``, ``k² = 4 T² (1 - T²)`` stays finite for any β (``u → -2J`` as
    ``β → ∞``). At high temperature the bracket is a difference of nearly equal numbers (it is
    about ``T²``), so for ``T < 0.3`` it is expanded with the series of ``K``:
    ``u = -J T [2 - 4 (1 - T²)(1 - 2T²) S(k²)]``, ``S(m) = Σ_{n≥1} c_n² m^{n-1}``, exact to
    rounding however small β is (``u ≈ -2βJ²``).

    Parameters
    ----------
    beta : float or array of shape (n,)
    J : float, > 0

    Returns
    -------
    float or ndarray of shape (n,)
    """
    from scipy.special import ellipkm1

    b, J = _reduced_coupling(beta, J)
    t = np.tanh(2.0 * b)
    t2 = t * t
    m = 4.0 * t2 * (1.0 - t2)
    hot = t < 0.3
    # High temperature: the series (m < 0.33, so 80 terms reach far below rounding).
    m_hot = np.where(hot, m, 0.0)
    powers = m_hot[..., None] ** np.arange(len(_ELLIPK_SERIES))
    series = (powers * _ELLIPK_SERIES).sum(axis=-1)
    u_hot = -J * t * (2.0 - 4.0 * (1.0 - t2) * (1.0 - 2.0 * t2) * series)
    # Elsewhere the closed form. 1 - k² = (2T² - 1)² exactly, so K is evaluated from its
    # complement (ellipkm1), accurate near β_c where k² → 1. There K diverges (logarithmically)
    # while its factor vanishes, so the product's limit is 0.
    factor = 2.0 * t2 - 1.0
    at_critical = np.isclose(factor, 0.0, atol=1e-15)
    product = np.where(at_critical, 0.0, factor * ellipkm1(np.where(at_critical, 0.5, factor**2)))
    u_cold = -J / np.where(hot, 1.0, t) * (1.0 + 2.0 / np.pi * product)
    return _scalar_or_array(np.where(hot, u_hot, u_cold), beta)


# =========================================================================== Ising: sampling


def _ring_colours(n: int) -> np.ndarray:
    """A proper colouring of the n-cycle: 0, 1, 0, 1, …, and 2 for the last site of an odd one."""
    colours = np.arange(n) % 2
    if n % 2 == 1:
        colours[-1] = 2
    return colours


def _periodic_colour_masks(height: int, width: int, device: torch.device) -> list[torch.Tensor]:
    """Masks of sites that share no bond on the torus: 2 (checkerboard) for even sides, else 3.

    A checkerboard is a proper colouring of the torus only when both sides are even; for an odd
    side, colour ``(c_row + c_col) mod 3`` with proper colourings of the two cycles.
    """
    if height % 2 == 0 and width % 2 == 0:
        parity = (np.add.outer(np.arange(height), np.arange(width))) % 2
        groups = [parity == 0, parity == 1]
    else:
        colour = np.add.outer(_ring_colours(height), _ring_colours(width)) % 3
        groups = [colour == c for c in range(3)]
    return [torch.as_tensor(g, device=device) for g in groups]


def _beta_values(beta: Any, batch_shape: tuple[int, ...]) -> np.ndarray:
    """β as float64, shape () or ``batch_shape`` (one value per lattice), each finite and > 0.

    Kept in float64: a β beyond float32's range (3.4e38) is still a valid inverse temperature.
    """
    if isinstance(beta, np.ndarray | torch.Tensor | list | tuple):
        try:
            values = np.asarray(as_numpy(beta) if isinstance(beta, torch.Tensor) else beta)
        except ValueError as error:  # a ragged list
            raise ValueError(f"beta must be a number or an array of numbers: {error}") from None
        if values.dtype.kind not in "fiu":
            raise TypeError(
                f"beta must be a number or an array of numbers, got dtype {values.dtype}."
            )
        values = values.astype(np.float64)
        if values.ndim == 0:
            return np.asarray(_check_beta(float(values)))
        if tuple(values.shape) != tuple(batch_shape):
            raise ValueError(
                f"beta must be a number or hold one value per lattice, shape "
                f"{tuple(batch_shape)}; got shape {tuple(values.shape)}."
            )
        if not np.isfinite(values).all() or (values <= 0).any():
            raise ValueError(f"every beta must be finite and > 0, got {values.ravel()[:5]}.")
        return values
    return np.asarray(_check_beta(beta))


def _fast_field(
    up_down: torch.Tensor, sides: torch.Tensor, couplings: tuple[float, float], h: float, out
) -> None:
    """``out = J_v v + J_h s + h`` (float32) from int8 neighbour sums; ``up_down`` is clobbered."""
    j_vertical, j_horizontal = couplings
    if j_vertical == j_horizontal:
        up_down.add_(sides)  # the sum of four ±1 fits in int8
        out.copy_(up_down)
        if j_vertical != 1.0:
            out.mul_(j_vertical)
    else:
        out.copy_(up_down).mul_(j_vertical).add_(sides, alpha=j_horizontal)
    if h != 0.0:
        out.add_(h)


def _fast_probability(
    field: torch.Tensor, spins: torch.Tensor, beta: torch.Tensor, method: str
) -> None:
    """In place, float32: heat-bath ``P(x_i = +1) = σ(2β f_i)``; Metropolis ``P(flip) =
    exp(-2β x_i f_i)`` (values above 1 act as 1)."""
    if method == "heat-bath":
        field.mul_(2.0 * beta)
        torch.sigmoid(field, out=field)
    else:
        field.mul_(spins)
        field.mul_(-2.0 * beta)
        field.exp_()


class _Conditionals:
    """The probability each update uses, for every local field a spin can see.

    A spin's local field takes one of nine values ``f = J_v v + J_h s + h``, with ``v, s ∈ {-2,
    0, 2}`` its vertical and horizontal neighbour sums. ``table[..., 17 [x > 0] + 3v + s + 8]``
    holds the heat-bath ``P(x_i = +1)`` or the Metropolis flip probability, computed from the
    exact field (Fractions) and logits ``2βf`` saturated at ±1000: so a huge β gives the exact
    limits 1, 0, or ½ for a zero field, and extreme ``J``, ``h`` neither overflow nor cancel
    wrongly.

    ``fast`` is True when the sweeps' float32 arithmetic (:func:`_fast_field`,
    :func:`_fast_probability`), tried on all nine fields for each lattice, reproduces the table
    to 1e-6: then the sweeps use it (it is quicker); otherwise they look the table up.
    """

    _LEVELS = tuple((v, s) for v in (-2, 0, 2) for s in (-2, 0, 2))

    def __init__(
        self,
        beta: np.ndarray,
        couplings: tuple[float, float],
        h: float,
        method: str,
        device: torch.device,
    ) -> None:
        j_vertical, j_horizontal = couplings
        self.method = method
        self.batch_shape = tuple(beta.shape)
        fields = [
            2 * (Fraction(j_vertical) * v + Fraction(j_horizontal) * s + Fraction(h))
            for v, s in self._LEVELS
        ]
        logits = _scaled_logits(fields, beta)  # (*batch, 9) = 2βf
        table = np.zeros((*self.batch_shape, 2, 17))
        slots = [3 * v + s + 8 for v, s in self._LEVELS]
        with np.errstate(over="ignore"):
            if method == "heat-bath":
                table[..., :, slots] = (1.0 / (1.0 + np.exp(-logits)))[..., None, :]
            else:  # flip x = -1 with min(1, e^{2βf}), x = +1 with min(1, e^{-2βf})
                table[..., 0, slots] = np.minimum(1.0, np.exp(logits))
                table[..., 1, slots] = np.minimum(1.0, np.exp(-logits))
        n_lattices = int(np.prod(self.batch_shape, dtype=np.int64))
        self.table = torch.as_tensor(table.reshape(-1), dtype=torch.float32, device=device)
        offsets = 34 * torch.arange(n_lattices, device=device).reshape(self.batch_shape)
        self.offsets = offsets[..., None, None] if self.batch_shape else offsets
        beta32 = torch.as_tensor(beta, dtype=torch.float32, device=device)
        self.beta32 = beta32[..., None, None] if self.batch_shape else beta32
        moderate = _largest_magnitude(j_vertical, j_horizontal, h) <= 1e30 and beta.max() <= 1e30
        self.fast = bool(moderate) and self._fast_matches(couplings, h, slots, device)

    def _fast_matches(
        self, couplings: tuple[float, float], h: float, slots: list[int], device: torch.device
    ) -> bool:
        """Whether the float32 fast path gives the table's probabilities on every field."""
        levels = torch.tensor(self._LEVELS, dtype=torch.int8, device=device).repeat(2, 1)
        spins = torch.tensor([-1] * 9 + [1] * 9, dtype=torch.int8, device=device)
        field = torch.empty(18, dtype=torch.float32, device=device)
        _fast_field(levels[:, 0].clone(), levels[:, 1].clone(), couplings, h, field)
        beta = self.beta32.reshape(*self.batch_shape, 1)
        field = (field * torch.ones_like(beta)).contiguous()
        _fast_probability(field, spins.float(), beta, self.method)
        exact = self.table.reshape(*self.batch_shape, 2, 17)[..., slots].reshape(field.shape)
        return bool(((field.clamp(max=1.0) - exact).abs() <= 1e-6).all())

    def lookup(self, spins: torch.Tensor, up_down: torch.Tensor, sides: torch.Tensor):
        """The table's probabilities for spins with neighbour sums ``up_down``, ``sides``."""
        index = (3 * up_down + sides).long() + 8 + 17 * (spins > 0).long()
        if self.batch_shape:
            index = index + self.offsets
        return self.table.take(index)


class _SplitLattice:
    """A torus with even sides stored as its two checkerboard halves (int8, ``(..., H, W/2)``).

    Black sites have ``(i + j)`` even. In row ``i`` the black site of column ``2j' + i % 2`` is
    stored at ``black[i, j']`` and the white one of column ``2j' + 1 - i % 2`` at ``white[i, j']``.
    A black site's neighbours are then ``white[i ± 1, j']`` (same stored column), ``white[i, j']``
    and ``white[i, j' - 1]`` on even rows or ``white[i, j' + 1]`` on odd rows; a white site's are
    the mirror image. So neighbour sums are a few slice additions on half-size arrays, and each
    half-sweep reads and writes only the sites it updates.
    """

    def __init__(self, spins: torch.Tensor) -> None:
        *lead, height, width = spins.shape
        pairs = spins.reshape(*lead, height, width // 2, 2)
        self.black = torch.empty((*lead, height, width // 2), dtype=torch.int8, device=spins.device)
        self.white = torch.empty_like(self.black)
        self.black[..., 0::2, :] = pairs[..., 0::2, :, 0]
        self.black[..., 1::2, :] = pairs[..., 1::2, :, 1]
        self.white[..., 0::2, :] = pairs[..., 0::2, :, 1]
        self.white[..., 1::2, :] = pairs[..., 1::2, :, 0]
        self.vertical = torch.empty_like(self.black)
        self.horizontal = torch.empty_like(self.black)

    def merged(self) -> torch.Tensor:
        *lead, height, half = self.black.shape
        pairs = torch.empty((*lead, height, half, 2), dtype=torch.int8, device=self.black.device)
        pairs[..., 0::2, :, 0] = self.black[..., 0::2, :]
        pairs[..., 1::2, :, 1] = self.black[..., 1::2, :]
        pairs[..., 0::2, :, 1] = self.white[..., 0::2, :]
        pairs[..., 1::2, :, 0] = self.white[..., 1::2, :]
        return pairs.reshape(*lead, height, 2 * half)

    def neighbour_sums(self, colour: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Vertical and horizontal neighbour sums (int8) of the sites of ``colour`` (0 = black)."""
        other = self.white if colour == 0 else self.black
        up_down, sides = self.vertical, self.horizontal
        # Rows i - 1 and i + 1, wrapping around at the top and bottom (for H = 2 both are the
        # same row: the bond is counted twice, as on any torus of side 2).
        torch.add(other[..., :-2, :], other[..., 2:, :], out=up_down[..., 1:-1, :])
        torch.add(other[..., -1, :], other[..., 1, :], out=up_down[..., 0, :])
        torch.add(other[..., -2, :], other[..., 0, :], out=up_down[..., -1, :])
        # Black sites look left (j' - 1) on even rows and right on odd rows; white ones mirror.
        for rows, look_left in ((slice(0, None, 2), colour == 0), (slice(1, None, 2), colour == 1)):
            same, out = other[..., rows, :], sides[..., rows, :]
            if look_left:
                torch.add(same[..., 1:], same[..., :-1], out=out[..., 1:])
                torch.add(same[..., 0], same[..., -1], out=out[..., 0])
            else:
                torch.add(same[..., :-1], same[..., 1:], out=out[..., :-1])
                torch.add(same[..., -1], same[..., 0], out=out[..., -1])
        return up_down, sides

    def sites(self, colour: int) -> torch.Tensor:
        return self.black if colour == 0 else self.white

    def totals(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-lattice Σ x_i and the vertical and horizontal bond sums Σ x_i x_j (int64; every
        bond joins a black and a white site)."""
        up_down, sides = self.neighbour_sums(0)
        spin_sum = self.black.sum(dim=(-2, -1), dtype=torch.int64) + self.white.sum(
            dim=(-2, -1), dtype=torch.int64
        )
        black = self.black.to(torch.int32)
        bonds_vertical = (black * up_down).sum(dim=(-2, -1), dtype=torch.int64)
        bonds_horizontal = (black * sides).sum(dim=(-2, -1), dtype=torch.int64)
        return spin_sum, bonds_vertical, bonds_horizontal


def _record(
    trace: dict,
    spin_sum: torch.Tensor,
    bonds: tuple[torch.Tensor, torch.Tensor],
    couplings: tuple[float, float],
    h: float,
    n_sites: int,
) -> None:
    """Append the magnetization and energy per spin (float64, couplings scaled to the largest
    first so that extreme J and h cannot overflow on the way)."""
    scale = _largest_magnitude(*couplings, h) or 1.0
    spin_sum = spin_sum.to(torch.float64)
    total = (couplings[0] / scale) * bonds[0].to(torch.float64)
    total = total + (couplings[1] / scale) * bonds[1].to(torch.float64) + (h / scale) * spin_sum
    trace["magnetization"].append(spin_sum / n_sites)
    trace["energy"].append(-scale * (total / n_sites))


def _split_sweeps(
    lattice: _SplitLattice,
    conditionals: _Conditionals,
    couplings: tuple[float, float],
    h: float,
    n_sweeps: int,
    gen: torch.Generator,
    trace: dict | None,
    progress: bool,
) -> None:
    method = conditionals.method
    field = torch.empty(lattice.black.shape, dtype=torch.float32, device=lattice.black.device)
    uniform = torch.empty_like(field)
    accept = torch.empty(field.shape, dtype=torch.bool, device=field.device)
    n_sites = 2 * lattice.black.shape[-1] * lattice.black.shape[-2]
    for _ in _progress(range(n_sweeps), progress, "Gibbs sweeps"):
        for colour in (0, 1):
            up_down, sides = lattice.neighbour_sums(colour)
            spins = lattice.sites(colour)
            if conditionals.fast:
                _fast_field(up_down, sides, couplings, h, field)
                _fast_probability(field, spins, conditionals.beta32, method)
                probability = field
            else:
                probability = conditionals.lookup(spins, up_down, sides)
            uniform.uniform_(generator=gen)
            torch.lt(uniform, probability, out=accept)
            if method == "heat-bath":
                spins.copy_(accept)
                spins.mul_(2).sub_(1)
            else:
                spins.mul_(1 - 2 * accept.to(torch.int8))
        if trace is not None:
            spin_sum, bonds_vertical, bonds_horizontal = lattice.totals()
            _record(trace, spin_sum, (bonds_vertical, bonds_horizontal), couplings, h, n_sites)


def _masked_sweeps(
    spins: torch.Tensor,
    conditionals: _Conditionals,
    couplings: tuple[float, float],
    h: float,
    n_sweeps: int,
    gen: torch.Generator,
    trace: dict | None,
    progress: bool,
) -> torch.Tensor:
    """Colour-by-colour sweeps on the full lattice (any size; used when a side is odd). The
    probabilities are looked up in the exact table (this path is not the speed-critical one)."""
    x = spins.to(torch.float32)
    masks = _periodic_colour_masks(x.shape[-2], x.shape[-1], x.device)
    for _ in _progress(range(n_sweeps), progress, "Gibbs sweeps"):
        for mask in masks:
            vertical = torch.roll(x, 1, -2) + torch.roll(x, -1, -2)
            horizontal = torch.roll(x, 1, -1) + torch.roll(x, -1, -1)
            probability = conditionals.lookup(x, vertical, horizontal)
            uniform = torch.rand(x.shape, generator=gen, device=x.device)
            if conditionals.method == "heat-bath":
                new = torch.where(uniform < probability, 1.0, -1.0)
            else:
                new = torch.where(uniform < probability, -x, x)
            x = torch.where(mask, new, x)
        if trace is not None:
            down = (x * torch.roll(x, -1, -2)).sum(dim=(-2, -1))
            right = (x * torch.roll(x, -1, -1)).sum(dim=(-2, -1))
            n_sites = x.shape[-1] * x.shape[-2]
            _record(trace, x.sum(dim=(-2, -1)), (down, right), couplings, h, n_sites)
    return x.to(torch.int8)


def ising_gibbs(
    spins_or_shape: ArrayLike | Sequence[int],
    beta: float | ArrayLike,
    n_sweeps: int,
    h: float = 0.0,
    J: float | tuple[float, float] = 1.0,
    method: str = "heat-bath",
    seed: int | None = None,
    device: str | torch.device | None = None,
    *,
    trace: bool = False,
    progress: bool = False,
):
    """Sample the Ising model on a periodic lattice by checkerboard Gibbs sweeps.

    The target is ``p(x) ∝ exp(-β E(x))`` with ``E(x) = -J Σ_{i~j} x_i x_j - h Σ_i x_i`` on a
    torus. The sites of one colour of a checkerboard share no bond, so they are conditionally
    independent given the other colour and are all updated at once; a sweep updates both colours
    (for a lattice with an odd side, a checkerboard does not colour the torus properly, and three
    colours are used instead).

    Parameters
    ----------
    spins_or_shape : sequence of int, or array / Tensor of shape (..., H, W)
        A shape ``(..., H, W)`` starts from independent uniform ±1 spins; a ±1 array or tensor is
        the starting state to continue from. Leading axes hold independent lattices. Below the
        critical temperature, start from an ordered state (e.g. ``torch.ones(shape)``) to
        measure equilibrium: from random spins the lattice coarsens slowly and can stay stuck
        for thousands of sweeps with domain walls across the torus (stripes).
    beta : float or array of shape ``spins.shape[:-2]``
        Inverse temperature (> 0); one value per lattice is allowed.
    n_sweeps : int
        Number of sweeps (each updates every spin once), at most 10**7.
    h : float
        External field.
    J : float or (float, float)
        Coupling, or (vertical, horizontal) couplings; ``J < 0`` is an antiferromagnet.
    method : {"heat-bath", "metropolis"}
        Heat-bath draws each spin from its conditional; Metropolis proposes a flip and accepts it
        with probability ``min(1, exp(-β ΔE))``. On lattices with a side shorter than 4,
        checkerboard Metropolis is not ergodic (a warning says so): use heat-bath there.
    seed : int, optional
        Seed of the random numbers (same seed, same device: same result).
    device : str or torch.device, optional
        Where to compute; default: the input tensor's device, else ``get_device()``.
    trace : bool
        Also return per-sweep ``{"magnetization", "energy"}`` (energy per spin), each of shape
        ``(n_sweeps, ...)`` (numpy for numpy input, else tensors).
    progress : bool
        Show a progress bar over the sweeps.

    Returns
    -------
    spins : Tensor (or ndarray for ndarray input) of shape (..., H, W)
        The final ±1 spins: float32 for a shape, else the input's dtype.
    trace : dict, only when ``trace=True``

    Any finite ``beta``, ``h`` and ``J`` are valid: the conditional probabilities come from the
    exact local fields (see :class:`_Conditionals`), so e.g. ``beta = 1e300`` samples the
    zero-temperature limit (a spin follows the sign of its field, and a zero field gives ½).

    Raises
    ------
    TypeError
        A non-numeric argument, a boolean image (map it with ``2 * x - 1``), a float seed.
    ValueError
        Non-binary spins (``{0, 1}`` images are not converted), ``beta <= 0``, a side shorter
        than 2, an unknown method, ``n_sweeps`` negative or above 10**7, a negative seed, a
        lattice too large for memory (over 2**31 sites), a traced energy beyond float64's range
        (``J``, ``h`` near 1e308).
    """
    check_one_of(method, "method", ("heat-bath", "metropolis"))
    n_sweeps = _check_iterations(n_sweeps, "n_sweeps", min_value=0)
    couplings = _check_couplings(J)
    h = _check_real(h, "h")
    check_seed(seed)
    is_shape = not isinstance(spins_or_shape, np.ndarray | torch.Tensor)
    if is_shape:
        shape = _check_shape(spins_or_shape)
    else:
        _check_lattice(spins_or_shape, "spins_or_shape")
        shape = tuple(spins_or_shape.shape)
    if math.prod(shape) > _MAX_ELEMENTS:  # refused before torch's size arithmetic overflows
        raise ValueError(
            f"spins_or_shape {shape} has {math.prod(shape):,} sites, more than the 2**31 this "
            "sampler accepts (about 8 bytes per site: beyond the memory of a machine); use "
            "fewer or smaller lattices."
        )
    beta64 = _beta_values(beta, shape[:-2])
    if method == "metropolis" and min(shape[-2:]) < 4:
        warnings.warn(
            f"Metropolis with colour-by-colour updates is not ergodic on a lattice as small as "
            f"{shape[-2]}×{shape[-1]} (flips with ΔE = 0 are forced, and the chain cycles among "
            "subsets of states): its averages can be wrong. Use method='heat-bath' here.",
            RuntimeWarning,
            stacklevel=2,
        )
    dev = _device_for(spins_or_shape, device)
    gen = _generator(seed, dev)
    conditionals = _Conditionals(beta64, couplings, h, method, dev)
    record = {"magnetization": [], "energy": []} if trace else None
    height, width = shape[-2:]
    args = (conditionals, couplings, h, n_sweeps, gen, record, progress)
    try:
        if is_shape:
            start = torch.randint(0, 2, shape, generator=gen, device=dev, dtype=torch.int8)
            start = start * 2 - 1
        else:
            start = _float_tensor(spins_or_shape, dev).to(torch.int8)
        if height % 2 == 0 and width % 2 == 0:
            lattice = _SplitLattice(start)
            _split_sweeps(lattice, *args)
            final = lattice.merged()
        else:
            final = _masked_sweeps(start, *args)
    except RuntimeError as error:  # torch's allocators (CPU and CUDA) raise RuntimeErrors
        if "alloc" not in str(error).lower():
            raise
        raise ValueError(
            f"spins_or_shape {shape} ({math.prod(shape):,} sites) does not fit in memory on "
            f"{dev} (the sampler needs about 8 bytes per site); use fewer or smaller lattices."
        ) from error
    result = final.to(torch.float32) if is_shape else _like(final, spins_or_shape)
    if not trace:
        return result
    if record["energy"]:  # |u| <= |J_v| + |J_h| + |h|: beyond float64 only for J, h near 1e308
        largest = max(float(u.abs().max()) for u in record["energy"])
        _finite_or_refuse(largest, "the traced energy per spin", f"J={J!r}, h={h!r}")
    history = {}
    for key, values in record.items():
        stacked = (
            torch.stack(values).to(torch.float64)
            if values
            else torch.zeros((0, *shape[:-2]), dtype=torch.float64)
        )
        history[key] = stacked.cpu().numpy() if isinstance(spins_or_shape, np.ndarray) else stacked
    return result, history


def _check_shape(shape: Any, name: str = "spins_or_shape") -> tuple[int, ...]:
    if isinstance(shape, int | str | bytes) or not isinstance(shape, Sequence | torch.Size):
        what = "a shape such as (64, 64)" + (" or a ±1 array" if name == "spins_or_shape" else "")
        raise TypeError(f"{name} must be {what}, got {shape!r}.")
    dims = tuple(check_int(s, f"{name}[k]", min_value=1) for s in shape)
    if len(dims) < 2 or min(dims[-2:]) < 2:
        raise ValueError(f"{name} must be (..., H, W) with H, W >= 2, got {shape!r}.")
    return dims


# =========================================================================== exact enumeration


def spin_configurations(n_sites: int) -> np.ndarray:
    """Every configuration of ``n_sites`` ±1 spins.

    Parameters
    ----------
    n_sites : int, at most 20

    Returns
    -------
    ndarray, shape (2**n_sites, n_sites), int8
        Row ``k`` holds the binary digits of ``k`` (most significant first) as -1/+1.
    """
    n_sites = check_int(n_sites, "n_sites", min_value=1)
    if n_sites > _MAX_EXACT_SITES:
        raise ValueError(
            f"n_sites={n_sites} gives 2**{n_sites} configurations; exact enumeration is limited "
            f"to {_MAX_EXACT_SITES} sites."
        )
    codes = np.arange(2**n_sites, dtype=np.int64)[:, None]
    bits = (codes >> np.arange(n_sites - 1, -1, -1)) & 1
    return (2 * bits - 1).astype(np.int8)


#: Log-weights more than this below the largest are exp(-1e4) = 0 in float64.
_LOG_WEIGHT_FLOOR = Fraction(10_000)


def _exact_summary(
    states: np.ndarray, features: np.ndarray, coefficients: Sequence[Fraction]
) -> tuple[dict[str, Any], list[Fraction], np.ndarray]:
    """Normalize ``w_k = exp(Σ_j c_j F_kj)`` over ``states`` (K, H, W) and return the moments.

    The log-weights are linear in integer features ``F`` (K, n_features) with float
    coefficients, so the states fall into few *levels* of equal weight. Each level's log-weight
    is computed exactly (Fractions) and shifted by the largest before exponentiating: however
    large β is, probabilities sum to 1 and exact ties (the two ground states at h = 0) share the
    mass equally, with no rounding that loses the field's tie-break nor any ``inf - inf``.

    Returns
    -------
    summary : dict with ``log_partition``, ``probabilities``, ``marginals``, ``correlations``
    values : list of Fraction, the log-weight of each level
    level : ndarray (K,), the level of each state
    """
    features = features.astype(np.int64)
    low = features.min(axis=0)
    spans = features.max(axis=0) - low + 1
    radix = np.concatenate([[1], np.cumprod(spans[:-1])])
    keys = (features - low) @ radix
    _, first, level = np.unique(keys, return_index=True, return_inverse=True)
    values = [
        sum((c * int(f) for c, f in zip(coefficients, features[k], strict=True)), Fraction(0))
        for k in first
    ]
    top = max(values)
    shifted = np.array([_to_float(max(v - top, -_LOG_WEIGHT_FLOOR)) for v in values])
    weights = np.exp(shifted)  # 1 for the largest level, so the sum is >= 1
    total = float(np.bincount(level, minlength=len(values)) @ weights)
    probs = weights[level] / total
    flat = states.reshape(len(states), -1).astype(np.float64)
    summary = {
        "log_partition": _to_float(top) + math.log(total),
        "probabilities": probs,
        "marginals": (probs @ (flat > 0)).reshape(states.shape[1:]),
        "correlations": flat.T @ (probs[:, None] * flat),
    }
    return summary, values, level.ravel()


def _level_average(probs: np.ndarray, level: np.ndarray, per_level: np.ndarray) -> float:
    """``Σ_k p_k v(level_k)``, skipping levels of probability 0 (whose value may be ±inf)."""
    mass = np.bincount(level, weights=probs, minlength=len(per_level))
    used = mass > 0
    return float(mass[used] @ per_level[used])


def ising_exact(
    shape: tuple[int, int], beta: float, h: float = 0.0, J: float | tuple[float, float] = 1.0
) -> dict[str, Any]:
    """Exact Ising expectations on a tiny periodic lattice, by summing over all ``2**N`` states.

    Parameters
    ----------
    shape : (int, int)
        (H, W) with H·W <= 20, each side >= 2 (a side of 2 counts its wrap-around bond twice, as
        the sampler does).
    beta, h, J
        As in :func:`ising_gibbs`.

    The sum is exact for any finite β, h and J (log-weights of states are computed exactly
    and shifted by the largest): as ``β → ∞`` at ``h = 0``, the energy per spin tends to
    ``-2J`` and ``abs_magnetization`` to 1, with the two ground states equally likely.
    Where ``log_partition`` or ``energy`` is itself beyond float64's range (``β · (2|J| + |h|)
    · N`` above about 1.8e308), a ValueError says so: no finite answer exists.

    Returns
    -------
    dict with
        ``states`` (2**N, H, W) int8; ``probabilities`` (2**N,); ``log_partition`` (float);
        ``energy`` (mean energy per spin), ``magnetization`` (E[m]), ``abs_magnetization``
        (E[|m|]), ``magnetization_squared`` (E[m²]); ``marginals`` (H, W) P(x_i = +1);
        ``correlations`` (N, N) E[x_i x_j] with sites in row-major order.
    """
    height, width = _check_shape(shape, "shape")[-2:]
    if len(shape) != 2:
        raise ValueError(f"shape must be (H, W), got {shape!r}.")
    if height * width > _MAX_EXACT_SITES:
        raise ValueError(
            f"shape {tuple(shape)} has {height * width} sites; exact enumeration is limited to "
            f"H·W <= {_MAX_EXACT_SITES}."
        )
    beta = _check_beta(beta)
    j_vertical, j_horizontal = _check_couplings(J)
    h = _check_real(h, "h")
    states = spin_configurations(height * width).reshape(-1, height, width)
    # -β E(x) = β (J_v D + J_h R + h M) with integer bond sums D, R and spin sum M.
    down = (states * np.roll(states, -1, axis=-2)).sum(axis=(-2, -1), dtype=np.int64)
    right = (states * np.roll(states, -1, axis=-1)).sum(axis=(-2, -1), dtype=np.int64)
    spin_sum = states.sum(axis=(-2, -1), dtype=np.int64)
    couplings = [Fraction(beta) * Fraction(c) for c in (j_vertical, j_horizontal, h)]
    summary, values, level = _exact_summary(
        states, np.stack([down, right, spin_sum], axis=1), couplings
    )
    probs = summary["probabilities"]
    n_sites = height * width
    energy_per_level = np.array([_to_float(-v / (Fraction(beta) * n_sites)) for v in values])
    m = spin_sum / n_sites
    culprits = f"beta={beta!r}, J={J!r}, h={h!r}"
    _finite_or_refuse(summary["log_partition"], "log_partition (log Z)", culprits)
    summary.update(
        states=states,
        energy=_finite_or_refuse(
            _level_average(probs, level, energy_per_level), "the mean energy per spin", culprits
        ),
        magnetization=float(probs @ m),
        abs_magnetization=float(probs @ np.abs(m)),
        magnetization_squared=float(probs @ m**2),
    )
    return summary


# =========================================================================== denoising: energy


def noise_coupling(noise_rate: float) -> float:
    """``η = ½ ln((1 - p) / p)``: how strongly a pixel of flip noise of rate ``p`` is trusted.

    Under flip noise, ``p(y_i | x_i) = (1 - p)`` if ``y_i = x_i`` else ``p``, which equals
    ``exp(η x_i y_i) / (2 cosh η)``.
    """
    p = check_probability(noise_rate, "noise_rate", low=0.0, high=0.5)
    # (1 - p) / p overflows for a subnormal p, and the log of a ratio near 1 loses digits as
    # p → ½: use ½ (log1p(-p) - log p) for small p and atanh(1 - 2p) (1 - 2p is exact there).
    if p < 0.25:
        return 0.5 * (math.log1p(-p) - math.log(p))
    return math.atanh(1.0 - 2.0 * p)


def _free_pairs_sum(x: torch.Tensor) -> torch.Tensor:
    """Σ_{i~j} x_i x_j over 4-neighbour pairs inside the image (free boundaries), per image."""
    vertical = (x[..., 1:, :] * x[..., :-1, :]).sum(dim=(-2, -1))
    horizontal = (x[..., :, 1:] * x[..., :, :-1]).sum(dim=(-2, -1))
    return vertical + horizontal


def _free_neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """Σ_{j~i} x_j for every pixel, free boundaries (edge pixels have fewer neighbours)."""
    total = torch.zeros_like(x)
    total[..., 1:, :] += x[..., :-1, :]
    total[..., :-1, :] += x[..., 1:, :]
    total[..., :, 1:] += x[..., :, :-1]
    total[..., :, :-1] += x[..., :, 1:]
    return total


def _free_colour_masks(height: int, width: int, device: torch.device) -> list[torch.Tensor]:
    """The two checkerboard colours (a proper colouring of the grid with free boundaries)."""
    parity = torch.as_tensor(np.add.outer(np.arange(height), np.arange(width)) % 2, device=device)
    return [parity == 0, parity == 1]


def _check_denoise_args(noisy: Any, beta: Any, noise_rate: Any) -> tuple[float, float]:
    _check_image(noisy, "noisy")
    return _check_beta(beta), noise_coupling(noise_rate)


def denoise_energy(x: ArrayLike, noisy: ArrayLike, beta: float, noise_rate: float) -> float:
    """The posterior energy every denoising method minimizes.

    ``E(x) = -β Σ_{i~j} x_i x_j - η Σ_i x_i y_i`` over 4-neighbour pairs with free (non-periodic)
    boundaries, ``η = ½ ln((1 - p) / p)``; ``p(x | y) ∝ exp(-E(x))``.

    Parameters
    ----------
    x, noisy : array or Tensor, shape (H, W)
        ±1 images (a candidate clean image and the observation ``y``).
    beta : float, > 0
    noise_rate : float in (0, 0.5)

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Non-binary images of different shapes, ``beta <= 0``, ``noise_rate`` outside (0, 0.5),
        or an energy beyond float64's range (``beta`` near 1e308 times the number of pairs:
        no finite answer exists).
    """
    beta, eta = _check_denoise_args(noisy, beta, noise_rate)
    _check_image(x, "x")
    if tuple(x.shape) != tuple(noisy.shape):
        raise ValueError(f"x has shape {tuple(x.shape)} but noisy has {tuple(noisy.shape)}.")
    x_t = _float_tensor(x, torch.device("cpu"), torch.float64)
    y_t = _float_tensor(noisy, torch.device("cpu"), torch.float64)
    scale = max(beta, eta)  # scaled first: it overflows only if the energy is beyond float64
    pairs, agreement = float(_free_pairs_sum(x_t)), float((x_t * y_t).sum())
    energy = scale * (-(beta / scale) * pairs - (eta / scale) * agreement)
    return _finite_or_refuse(energy, "the energy", f"beta={beta!r} (η = {eta:.4g})")


def flip_noise(image: ArrayLike, noise_rate: float, seed: int | None = None) -> ArrayLike:
    """Flip each pixel of a ±1 image independently with probability ``noise_rate``.

    Parameters
    ----------
    image : array or Tensor, shape (..., H, W), values ±1
    noise_rate : float in [0, 1]
    seed : int, optional

    Returns
    -------
    The noisy image, same type, shape and dtype.

    Raises
    ------
    TypeError
        A boolean image (map it with ``2 * x - 1``), a non-numeric rate, a float seed.
    ValueError
        Fewer than 2 dimensions, values other than ±1, ``noise_rate`` outside [0, 1].
    """
    _check_spins(image, "image")
    if image.ndim < 2:  # a 1-D "image" is most likely a flattened one: refuse, do not guess
        raise ValueError(
            f"image must have shape (..., H, W) (at least 2 dimensions), got shape "
            f"{tuple(image.shape)}; reshape a flattened image to (H, W) first."
        )
    p = check_probability(noise_rate, "noise_rate", inclusive=True)
    check_seed(seed)
    dev = image.device if isinstance(image, torch.Tensor) else torch.device("cpu")
    gen = _generator(seed, dev)
    x = _float_tensor(image, dev)
    flips = torch.rand(x.shape, generator=gen, device=dev) < p
    return _like(torch.where(flips, -x, x), image)


def denoise_exact(noisy: ArrayLike, beta: float, noise_rate: float) -> dict[str, Any]:
    """Exact posterior of a tiny noisy image (at most 20 pixels), by enumeration.

    Returns
    -------
    dict with ``map`` (H, W) the minimum-energy image, ``min_energy``, ``marginals`` (H, W)
    ``P(x_i = +1 | y)``, ``log_partition`` and ``probabilities`` (2**N,) over
    ``spin_configurations(N)``.

    Raises
    ------
    ValueError
        Over 20 pixels, a non-binary image, ``beta <= 0``, ``noise_rate`` outside (0, 0.5), or
        ``log_partition`` / ``min_energy`` beyond float64's range (``beta`` near 1e308 times
        the number of pairs: no finite answer exists).
    """
    beta, eta = _check_denoise_args(noisy, beta, noise_rate)
    height, width = noisy.shape
    if height * width > _MAX_EXACT_SITES:
        raise ValueError(
            f"noisy has {height * width} pixels; exact enumeration is limited to "
            f"{_MAX_EXACT_SITES} (use min_cut_map for the exact MAP of a larger image)."
        )
    states = spin_configurations(height * width).reshape(-1, height, width)
    y = np.where(as_numpy(noisy) > 0, 1, -1).astype(np.int64)
    # -E(x) = β P + η S with integer P = Σ_{i~j} x_i x_j and S = Σ_i x_i y_i.
    pairs = (states[:, 1:] * states[:, :-1]).sum(axis=(-2, -1), dtype=np.int64)
    pairs += (states[:, :, 1:] * states[:, :, :-1]).sum(axis=(-2, -1), dtype=np.int64)
    agreement = (states * y).sum(axis=(-2, -1), dtype=np.int64)
    summary, values, level = _exact_summary(
        states, np.stack([pairs, agreement], axis=1), [Fraction(beta), Fraction(eta)]
    )
    best_level = max(range(len(values)), key=values.__getitem__)
    best = int(np.flatnonzero(level == best_level)[0])  # the first minimum-energy state
    culprits = f"beta={beta!r} (η = {eta:.4g})"
    _finite_or_refuse(summary["log_partition"], "log_partition (log Z)", culprits)
    min_energy = _finite_or_refuse(_to_float(-values[best_level]), "min_energy", culprits)
    summary.update(map=states[best].astype(np.float64), min_energy=min_energy)
    return summary


# =========================================================================== denoising: methods


def _unit_scale(pair: float, field: torch.Tensor) -> tuple[float, float, torch.Tensor]:
    """``(s, pair / s, field / s)`` with ``s = max(|pair|, max |field|)`` (1 if both are 0).

    The local field ``pair · n_i + f_i`` is then ``s`` times a float64 number of magnitude at
    most 5, computed without overflow whatever β and η are: its sign is what ICM needs, and the
    Gibbs logit multiplies it by ``2s / T`` with an exact zero kept as zero (the limit ½).
    """
    field = field.to(torch.float64)
    scale = max(abs(pair), float(field.abs().max())) if field.numel() else abs(pair)
    scale = scale or 1.0
    return scale, pair / scale, field / scale


def _icm(x: torch.Tensor, field: torch.Tensor, beta: float, max_sweeps: int) -> torch.Tensor:
    """Iterated conditional modes, one checkerboard colour at a time, until nothing changes.

    Given the other colour, the energy is a sum of independent terms ``-x_i f_i`` over the sites
    of one colour, each minimized by ``x_i = sign(f_i)``: so no update raises the energy (ties
    keep the current value). The local fields are divided by the largest coefficient first
    (:func:`_unit_scale`), which keeps their signs and avoids ``0 · inf`` at a huge β.
    """
    _, pair, unit_field = _unit_scale(beta, field)
    masks = _free_colour_masks(x.shape[-2], x.shape[-1], x.device)
    for _ in range(max_sweeps):
        changed = False
        for mask in masks:
            local = pair * _free_neighbour_sum(x).to(torch.float64) + unit_field
            best = torch.where(local > 0, 1.0, torch.where(local < 0, -1.0, x))
            new = torch.where(mask, best, x).to(x.dtype)
            changed = changed or bool((new != x).any())
            x = new
        if not changed:
            break
    return x


def _gibbs_free(
    x: torch.Tensor,
    field: torch.Tensor,
    beta: float,
    temperatures: Sequence[float],
    gen: torch.Generator,
    *,
    scale: float = 1.0,
    free: torch.Tensor | None = None,
    accumulate: bool = False,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Checkerboard Gibbs sweeps of ``exp(-E(x) / T)`` on a free-boundary grid, one per T.

    ``E(x) = -scale · (β Σ x_i x_j + Σ_i f_i x_i)`` with ``f = field``. Only sites where ``free``
    is true change. With ``accumulate``, also returns the Rao–Blackwellized estimate of
    ``P(x_i = +1)``: the mean over sweeps of each site's conditional probability.

    The conditional ``σ(2 scale (β n_i + f_i) / T)`` is computed from the unit-scaled local field
    (:func:`_unit_scale`) times ``2 · scale · s / T`` (in log space, +inf when it overflows): a
    huge β or scale gives the exact limits 0, 1, or ½ for a zero local field.
    """
    s, pair, unit_field = _unit_scale(beta, field)
    log_gain = math.log(2.0 * s) + math.log(scale)
    masks = _free_colour_masks(x.shape[-2], x.shape[-1], x.device)
    if free is not None:
        masks = [mask & free for mask in masks]
    total = torch.zeros_like(x) if accumulate else None
    for temperature in _progress(temperatures, progress, "Gibbs sweeps"):
        exponent = log_gain - math.log(temperature)
        gain = math.exp(exponent) if exponent < 700.0 else math.inf
        for mask in masks:
            local = pair * _free_neighbour_sum(x).to(torch.float64) + unit_field
            logit = torch.where(local == 0, 0.0, local * gain)
            prob_plus = torch.sigmoid(logit).to(x.dtype)
            uniform = torch.rand(x.shape, generator=gen, device=x.device)
            x = torch.where(mask, torch.where(uniform < prob_plus, 1.0, -1.0), x).to(x.dtype)
            if total is not None:
                total += torch.where(mask, prob_plus, 0.0)
    if total is not None:
        total /= max(len(temperatures), 1)
    return x, total


def _mean_field(
    field: torch.Tensor, beta: float, start: torch.Tensor, max_sweeps: int, tol: float
) -> torch.Tensor:
    """Mean-field means ``m_i = tanh(β Σ_{j~i} m_j + f_i)``, updated one colour at a time.

    Colour-by-colour updates are exact coordinate ascent on the mean-field objective, so they
    converge (a parallel update of all sites can oscillate between two states).
    """
    masks = _free_colour_masks(field.shape[-2], field.shape[-1], field.device)
    m = start.clone()
    for _ in range(max_sweeps):
        before = m
        for mask in masks:
            m = torch.where(mask, torch.tanh(beta * _free_neighbour_sum(m) + field), m)
        if float((m - before).abs().max()) < tol:
            break
    return m


def _cut_solve(
    noisy: np.ndarray, pairs: np.ndarray, unary: int, pair: int
) -> tuple[np.ndarray, int, int]:
    """Minimize ``unary·A(x) + pair·B(x)`` exactly by a minimum s–t cut (integer capacities).

    ``A`` counts pixels that disagree with ``noisy`` and ``B`` neighbour pairs that disagree.
    Source side = +1. A pixel observed +1 hangs from the source by ``unary`` (cut if it ends on
    the sink side, i.e. x_i = -1); one observed -1 hangs on the sink. Returns (x, A, B).
    """
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import breadth_first_order, maximum_flow

    n = noisy.size
    source, sink = n, n + 1
    y = noisy.ravel()
    plus, minus = np.flatnonzero(y > 0), np.flatnonzero(y < 0)
    rows = np.concatenate([np.full(plus.size, source), minus, pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([plus, np.full(minus.size, sink), pairs[:, 1], pairs[:, 0]])
    caps = np.concatenate(
        [np.full(n, unary, dtype=np.int64), np.full(2 * len(pairs), pair, dtype=np.int64)]
    )
    capacity = csr_array((caps.astype(np.int32), (rows, cols)), shape=(n + 2, n + 2))
    flow = maximum_flow(capacity, source, sink).flow
    residual = csr_array(capacity - flow)
    residual.data = (residual.data > 0).astype(np.int32)
    residual.eliminate_zeros()
    reachable = breadth_first_order(residual, source, directed=True, return_predecessors=False)
    x = -np.ones(n, dtype=np.int8)
    x[reachable[reachable < n]] = 1
    disagree_pixels = int((x != y).sum())
    disagree_pairs = int((x[pairs[:, 0]] != x[pairs[:, 1]]).sum())
    return x.reshape(noisy.shape), disagree_pixels, disagree_pairs


def _grid_pairs(height: int, width: int) -> np.ndarray:
    index = np.arange(height * width).reshape(height, width)
    vertical = np.stack([index[:-1].ravel(), index[1:].ravel()], axis=1)
    horizontal = np.stack([index[:, :-1].ravel(), index[:, 1:].ravel()], axis=1)
    return np.concatenate([vertical, horizontal])


def min_cut_map(noisy: ArrayLike, beta: float, noise_rate: float) -> tuple[ArrayLike, float]:
    """The exact MAP image (minimum of :func:`denoise_energy`) by a minimum cut, with a proof.

    Up to a constant, ``E(x) = 2η A(x) + 2β B(x)``, with ``A`` the number of pixels where ``x``
    disagrees with ``y`` and ``B`` the number of disagreeing neighbour pairs, so minimizing ``E``
    is minimizing ``A + r B`` with ``r = β / η``. ``scipy.sparse.csgraph.maximum_flow`` needs
    int32 capacities, so it solves the problem exactly for the two nearest ratios
    ``ρ₋ ≤ r ≤ ρ₊`` representable as ``b / a`` (``a`` as large as int32 flows allow). If both
    give the same ``(A, B)``, that image is optimal for every ratio in between, ``r`` included
    (each inequality ``A(x) + ρ B(x) ≤ A(x') + ρ B(x')`` holds at both ends, hence between):
    the gap is 0. Otherwise the better of the two is returned with a certified bound, from the
    concavity of ``f(ρ) = min_x A(x) + ρ B(x)``.

    Parameters
    ----------
    noisy : array or Tensor, shape (H, W), values ±1
    beta : float, > 0
    noise_rate : float in (0, 0.5)

    When ``r > N`` (one disagreeing pair costs more than every pixel) the minimum is the
    better constant image, and when ``r · #pairs < 1`` it is ``y`` itself: both are returned
    directly, with gap 0, so any finite β and noise rate work.

    Returns
    -------
    x : same type as ``noisy``, shape (H, W)
        A minimum-energy image.
    gap : float
        Certified bound on ``denoise_energy(x) - min denoise_energy`` (0.0 when proven optimal).
    """
    beta, eta = _check_denoise_args(noisy, beta, noise_rate)
    y = np.where(as_numpy(noisy) > 0, 1, -1).astype(np.int8)
    pairs = _grid_pairs(*y.shape)
    with np.errstate(over="ignore"):
        ratio = float(np.float64(beta) / np.float64(eta))  # +inf if it overflows
    # Outside the range that int32 capacities resolve, the minimum is known exactly (and the
    # scaled capacities would overflow): if one disagreeing pair costs more than every pixel
    # (r > N), any image with a boundary loses to the best constant image; if all pairs
    # together cost less than one pixel (r · #pairs < 1), any change to y costs more than it
    # saves, so y itself is the minimum. Both are proven optimal: gap 0.
    if ratio > y.size:
        constant = np.int8(1 if (y > 0).sum() >= (y < 0).sum() else -1)
        x_best = torch.as_tensor(np.full(y.shape, constant, dtype=np.float32))
        return _like(x_best, noisy), 0.0
    if ratio * len(pairs) < 1.0:
        return _like(torch.as_tensor(y.astype(np.float32)), noisy), 0.0
    # Here 1 / (#pairs + 1) <= r <= N, so the capacities below fit in int32.
    unary = max(1, min(_INT32_MAX // (y.size + 1), int(_INT32_MAX // ratio) - 1))
    scaled = ratio * unary
    low, high = math.floor(scaled), math.ceil(scaled)
    solutions = []
    for pair in sorted({low, high}):
        x, a_count, b_count = _cut_solve(y, pairs, unary, pair)
        solutions.append((pair / unary, x, a_count, b_count))
    # Compare A + r B (the energy / 2η up to a constant): no overflow, whatever β and η are.
    costs = [a + ratio * b for _, _, a, b in solutions]
    best = int(np.argmin(costs))
    gap = 0.0
    if len(solutions) == 2 and solutions[0][2:] != solutions[1][2:]:
        (rho_lo, _, a_lo, b_lo), (rho_hi, _, a_hi, b_hi) = solutions
        weight = (rho_hi - ratio) / (rho_hi - rho_lo)
        lower = weight * (a_lo + rho_lo * b_lo) + (1 - weight) * (a_hi + rho_hi * b_hi)
        gap = max(0.0, 2 * eta * (costs[best] - lower))
    x_best = torch.as_tensor(solutions[best][1].astype(np.float32))
    return _like(x_best, noisy), gap


def _anneal_schedule(n_sweeps: int, t_start: float, t_end: float) -> list[float]:
    """Geometric temperatures from ``t_start`` to ``t_end``, interpolated in log space (a ratio
    of extreme temperatures would overflow or underflow to 0)."""
    if n_sweeps == 1:
        return [t_end]
    log_start, log_end = math.log(t_start), math.log(t_end)
    low, high = min(t_start, t_end), max(t_start, t_end)
    steps = [log_start + (log_end - log_start) * k / (n_sweeps - 1) for k in range(1, n_sweeps - 1)]
    return [t_start, *(min(max(math.exp(step), low), high) for step in steps), t_end]


def posterior_marginals(
    noisy: ArrayLike,
    beta: float,
    noise_rate: float,
    n_sweeps: int = 200,
    burn_in: int = 50,
    n_chains: int = 4,
    seed: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> ArrayLike:
    """Posterior marginals ``P(x_i = +1 | y)`` by Gibbs sampling at temperature 1.

    ``n_chains`` chains start from ``y``, run ``burn_in`` sweeps, then average each pixel's
    conditional probability ``σ(2 (β Σ_{j~i} x_j + η y_i))`` over ``n_sweeps`` sweeps (a
    Rao–Blackwellized estimate: less noisy than counting the sampled values).

    Parameters
    ----------
    noisy : array or Tensor, shape (H, W), values ±1
    beta : float, > 0
    noise_rate : float in (0, 0.5)
    n_sweeps : int
        Averaged sweeps, 1 to 10**7.
    burn_in : int
        Discarded sweeps, 0 to 10**7.
    n_chains : int
        Independent chains, at least 1, with ``n_chains · H · W <= 2**31``.
    seed, device, progress
        As in :func:`denoise`.

    Returns
    -------
    array or Tensor (like ``noisy``), shape (H, W), float, in [0, 1]
    """
    beta, eta = _check_denoise_args(noisy, beta, noise_rate)
    n_sweeps = _check_iterations(n_sweeps, "n_sweeps")
    burn_in = _check_iterations(burn_in, "burn_in", min_value=0)
    n_chains = _check_copies(n_chains, "n_chains", math.prod(noisy.shape))
    check_seed(seed)
    dev = _device_for(noisy, device)
    gen = _generator(seed, dev)
    y = _float_tensor(noisy, dev)
    field = eta * y
    x = y.expand(n_chains, *y.shape).clone()
    x, _ = _gibbs_free(x, field, beta, [1.0] * burn_in, gen, progress=progress)
    _, total = _gibbs_free(
        x, field, beta, [1.0] * n_sweeps, gen, accumulate=True, progress=progress
    )
    marginals = total.mean(dim=0)
    if isinstance(noisy, torch.Tensor):
        return marginals
    return marginals.cpu().numpy().astype(np.float64)


def mean_field_marginals(
    noisy: ArrayLike,
    beta: float,
    noise_rate: float,
    n_iter: int = 200,
    tol: float = 1e-6,
    device: str | torch.device | None = None,
) -> ArrayLike:
    """Mean-field approximation of ``P(x_i = +1 | y)``: ``q_i = (1 + m_i) / 2`` with
    ``m_i = tanh(β Σ_{j~i} m_j + η y_i)``, iterated from ``m = y`` to a fixed point.

    Returns
    -------
    array or Tensor (like ``noisy``), shape (H, W), float, in [0, 1]
    """
    beta, eta = _check_denoise_args(noisy, beta, noise_rate)
    n_iter = _check_iterations(n_iter, "n_iter")
    tol = check_positive(tol, "tol", strict=False)
    dev = _device_for(noisy, device)
    y = _float_tensor(noisy, dev, torch.float64)
    m = _mean_field(eta * y, beta, y, n_iter, tol)
    q = (1.0 + m) / 2.0
    return q if isinstance(noisy, torch.Tensor) else q.cpu().numpy()


DENOISE_METHODS = ("icm", "gibbs", "mpm", "mean-field", "min-cut")


def denoise(
    noisy: ArrayLike,
    beta: float,
    noise_rate: float,
    method: str = "icm",
    *,
    n_iter: int = 100,
    n_sweeps: int = 300,
    burn_in: int = 50,
    t_start: float = 4.0,
    t_end: float = 0.05,
    seed: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> ArrayLike:
    """Restore a binary image seen through flip noise, under an Ising prior.

    Every method targets the posterior ``p(x | y) ∝ exp(-E(x))`` of :func:`denoise_energy`.

    * ``"icm"``: iterated conditional modes from ``x = y``; each site takes its most probable
      value given its neighbours. A local minimum; never raises the energy.
    * ``"gibbs"``: simulated annealing: Gibbs sweeps of ``exp(-E / T)`` with ``T`` lowered
      geometrically from ``t_start`` to ``t_end`` over ``n_sweeps``, then ICM (``T → 0``).
      Approximates the MAP.
    * ``"mpm"``: maximum posterior marginals: ``x_i = +1`` where ``P(x_i = +1 | y) > ½``,
      estimated by Gibbs sampling at ``T = 1`` (:func:`posterior_marginals`). This minimizes the
      expected number of wrong pixels, not the energy.
    * ``"mean-field"``: the sign of the mean-field means (:func:`mean_field_marginals`).
    * ``"min-cut"``: the exact MAP, by a minimum cut (:func:`min_cut_map`).

    Parameters
    ----------
    noisy : array or Tensor, shape (H, W)
        The observed ±1 image ``y``.
    beta : float, > 0
        Coupling of the Ising prior.
    noise_rate : float in (0, 0.5)
        Flip probability ``p`` of the noise.
    method : {"icm", "gibbs", "mpm", "mean-field", "min-cut"}
    n_iter : int
        Maximum sweeps of ICM and mean-field (1 to 10**7).
    n_sweeps, burn_in : int
        Gibbs sweeps (annealing or averaging) and, for ``"mpm"``, burn-in sweeps (at most
        10**7 each).
    t_start, t_end : float
        Annealing temperatures.
    seed : int, optional
        For the Gibbs methods.
    device : optional
        Default: the tensor's device, else ``get_device()``.
    progress : bool
        Progress bar over Gibbs sweeps.

    Returns
    -------
    The restored ±1 image, same type, shape and dtype as ``noisy``.

    Any finite ``beta > 0`` and ``noise_rate`` in (0, 0.5) work, extremes included (``beta =
    1e300``, ``noise_rate = 1e-300``): every method computes its local fields scaled by the
    largest coefficient, and min-cut solves the out-of-range ratios in closed form.

    Raises
    ------
    TypeError
        A boolean image or non-numeric argument, a float seed.
    ValueError
        A non-binary image, ``beta <= 0``, ``noise_rate`` outside (0, 0.5), unknown method,
        or any other argument out of range (checked whatever the method).
    """
    check_one_of(method, "method", DENOISE_METHODS)
    beta, eta = _check_denoise_args(noisy, beta, noise_rate)
    # Every argument is checked whatever the method, so that a bad value never passes unseen.
    n_iter = _check_iterations(n_iter, "n_iter")
    n_sweeps = _check_iterations(n_sweeps, "n_sweeps")
    burn_in = _check_iterations(burn_in, "burn_in", min_value=0)
    t_start = check_positive(t_start, "t_start")
    t_end = check_positive(t_end, "t_end")
    check_seed(seed)
    if method == "min-cut":
        return min_cut_map(noisy, beta, noise_rate)[0]
    if method == "mpm":
        marginals = posterior_marginals(
            noisy, beta, noise_rate, n_sweeps, burn_in, seed=seed, device=device, progress=progress
        )
        q = _float_tensor(marginals, None)
        y = _float_tensor(noisy, q.device)
        return _like(torch.where(q > 0.5, 1.0, torch.where(q < 0.5, -1.0, y)), noisy)
    dev = _device_for(noisy, device)
    y = _float_tensor(noisy, dev)
    field = eta * y
    if method == "icm":
        x = _icm(y, field, beta, n_iter)
    elif method == "mean-field":
        m = _mean_field(field.double(), beta, y.double(), n_iter, 1e-6).float()
        x = torch.where(m > 0, 1.0, torch.where(m < 0, -1.0, y))
    else:
        gen = _generator(seed, dev)
        temperatures = _anneal_schedule(n_sweeps, t_start, t_end)
        x, _ = _gibbs_free(y.clone(), field, beta, temperatures, gen, progress=progress)
        x = _icm(x, field, beta, n_iter)
    return _like(x, noisy)


def estimate_noise_rate(
    noisy: ArrayLike,
    beta: float,
    init: float = 0.25,
    n_iter: int = 15,
    method: str = "gibbs",
    n_sweeps: int = 60,
    burn_in: int = 20,
    tol: float = 1e-4,
    seed: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> tuple[float, list[float]]:
    """Estimate the flip-noise rate ``p`` from the noisy image alone, by EM.

    The clean image ``x`` is the hidden variable. E-step: the posterior marginals
    ``q_i = P(x_i = +1 | y; β, p_t)``. M-step: ``p_{t+1}`` maximizes the expected complete
    log-likelihood ``E[#disagreements] log p + E[#agreements] log(1 - p)``, so it is the expected
    fraction of flipped pixels, ``(1/N) Σ_i (1 - (2q_i - 1) y_i) / 2``.

    Parameters
    ----------
    noisy : array or Tensor, shape (H, W), values ±1
    beta : float, > 0
        Prior coupling (e.g. from :func:`fit_pseudo_likelihood` on clean images).
    init : float in (0, 0.5)
        Starting noise rate.
    n_iter : int
        Maximum EM iterations (1 to 10**7).
    method : {"gibbs", "mean-field"}
        How the E-step computes the marginals (Gibbs: Monte-Carlo EM).
    n_sweeps, burn_in : int
        Gibbs sweeps per E-step (at most 10**7 each).
    tol : float
        Stop when ``p`` moves less than this.

    Returns
    -------
    noise_rate : float
    history : list of float
        ``p`` after each iteration (the first entry is ``init``).
    """
    check_one_of(method, "method", ("gibbs", "mean-field"))
    beta, _ = _check_denoise_args(noisy, beta, 0.25)
    init = check_probability(init, "init", low=0.0, high=0.5)
    n_iter = _check_iterations(n_iter, "n_iter")
    n_sweeps = _check_iterations(n_sweeps, "n_sweeps")
    burn_in = _check_iterations(burn_in, "burn_in", min_value=0)
    tol = check_positive(tol, "tol", strict=False)
    seed = check_seed(seed)
    dev = _device_for(noisy, device)
    y = _float_tensor(noisy, dev, torch.float64)
    rate, history = init, [init]
    seeds = np.random.default_rng(seed).integers(0, 2**31, size=n_iter)
    for it in _progress(range(n_iter), progress, "EM"):
        if method == "gibbs":
            q = posterior_marginals(
                y.float(), beta, rate, n_sweeps, burn_in, seed=int(seeds[it]), device=dev
            ).double()
        else:
            q = mean_field_marginals(y, beta, rate, device=dev)
        new_rate = float(((1.0 - (2.0 * q - 1.0) * y) / 2.0).mean())
        new_rate = min(max(new_rate, 1e-4), 0.5 - 1e-4)
        history.append(new_rate)
        converged = abs(new_rate - rate) < tol
        rate = new_rate
        if converged:
            break
    return rate, history


def inpaint(
    image: ArrayLike,
    mask: ArrayLike,
    beta: float,
    h: float = 0.0,
    n_sweeps: int = 200,
    n_samples: int | None = None,
    seed: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> ArrayLike:
    """Fill the masked pixels by sampling the Ising prior conditioned on the observed ones.

    The prior is ``p(x) ∝ exp(β (Σ_{i~j} x_i x_j + h Σ_i x_i))`` with free boundaries (the
    parametrization of :func:`fit_pseudo_likelihood`). By the Markov property, a missing pixel
    depends on the rest only through its neighbours, so Gibbs sweeps over the missing pixels,
    with the observed ones held fixed, sample ``p(x_missing | x_observed)``.

    Parameters
    ----------
    image : array or Tensor, shape (H, W)
        ±1 where observed; values under ``mask`` are ignored (anything, NaN included: they are
        the pixels to fill). NaN or any value other than ±1 outside the mask is an error.
    mask : array or Tensor of bool, shape (H, W)
        True where the pixel is missing.
    beta : float, > 0
    h : float
        Field (in units of β).
    n_sweeps : int
        Gibbs sweeps from a random fill (1 to 10**7).
    n_samples : int, optional
        None: one image (H, W); an int: a batch (n_samples, H, W) of independent fills, with
        ``n_samples · H · W <= 2**31``.
    seed : int, optional

    Returns
    -------
    array or Tensor like ``image``, shape (H, W) or (n_samples, H, W)
    """
    if isinstance(image, np.ndarray | torch.Tensor) and _is_bool(image):
        _check_spins(image, "image")  # the error that explains how to map a boolean image
    # Non-finite values are allowed under the mask (they are what is filled), so finiteness is
    # checked on the observed pixels only.
    check_array(image, "image", ndim=2, kinds="fiu", finite=False)
    check_array(mask, "mask", shape=tuple(image.shape), kinds="b")
    beta = _check_beta(beta)
    h = _check_real(h, "h")
    n_sweeps = _check_iterations(n_sweeps, "n_sweeps")
    count = 1 if n_samples is None else _check_copies(n_samples, "n_samples", math.prod(mask.shape))
    check_seed(seed)
    missing_np = as_numpy(mask).astype(bool)
    observed_values = as_numpy(image)[~missing_np]
    if observed_values.size:  # an all-missing image samples the prior: nothing to check
        if not np.isfinite(observed_values).all():
            raise ValueError(
                "image has NaN or infinite values at observed pixels (where mask is False); "
                "only the pixels to fill (mask True) may hold NaN."
            )
        check_binary_spins(observed_values, "image (observed pixels, where mask is False)")
    dev = _device_for(image, device)
    gen = _generator(seed, dev)
    missing = torch.as_tensor(missing_np, device=dev)
    observed = torch.where(missing, 0.0, _float_tensor(image, dev))
    random_fill = torch.randint(0, 2, (count, *observed.shape), generator=gen, device=dev) * 2 - 1
    x = torch.where(missing, random_fill.float(), observed)
    # Local field β (n_i + h): passed as scale β on (1, h), so that β·h cannot overflow.
    field = torch.full(observed.shape, h, dtype=torch.float64, device=dev)
    temperatures = [1.0] * n_sweeps
    x, _ = _gibbs_free(
        x, field, 1.0, temperatures, gen, scale=beta, free=missing, progress=progress
    )
    return _like(x[0] if n_samples is None else x, image)


# =========================================================================== learning


def _as_spin_batch(images: Any) -> torch.Tensor:
    """(H, W), (N, H, W) or (N, 1, H, W) ±1 images as a float64 (N, H, W) CPU tensor."""
    check_array(images, "images", ndim=(2, 3, 4))
    if images.ndim == 4 and images.shape[1] != 1:
        raise ValueError(
            f"images must have one channel when 4-D (N, 1, H, W), got shape {tuple(images.shape)}."
        )
    _check_spins(images, "images")
    x = _float_tensor(images, torch.device("cpu"), torch.float64)
    if x.ndim == 2:
        x = x[None]
    return x.reshape(-1, *x.shape[-2:])


def fit_pseudo_likelihood(
    images: ArrayLike, boundary: str = "free", max_iter: int = 100, tol: float = 1e-10
) -> tuple[float, float]:
    """Fit an Ising prior ``p(x) ∝ exp(β (Σ_{i~j} x_i x_j + h Σ_i x_i))`` by maximum
    pseudo-likelihood.

    The likelihood needs the intractable ``Z(β, h)``; the pseudo-likelihood replaces it by the
    product of each pixel's conditional given its Markov blanket,
    ``p(x_i | x_{-i}) = σ(2 x_i (β n_i + β h))`` with ``n_i = Σ_{j~i} x_j``. Its logarithm is
    concave in ``(β, βh)`` (a logistic regression on the features ``x_i n_i`` and ``x_i``), and
    only the counts of the pairs ``(x_i, n_i)`` enter it, so Newton's method on those counts
    finds the maximum in a few steps. The estimator is consistent: it recovers the true
    parameters from enough samples of the model.

    Parameters
    ----------
    images : array or Tensor, shape (H, W), (N, H, W) or (N, 1, H, W), values ±1
        Clean images (or samples of a model).
    boundary : {"free", "periodic"}
        Neighbourhoods of edge pixels: inside the image only (``"free"``, for photos and
        drawings) or wrapping around (``"periodic"``, for samples of :func:`ising_gibbs`).
    max_iter : int
        Newton iterations (1 to 10**7).
    tol : float
        Stop when the Newton step is smaller.

    Returns
    -------
    beta : float
        Coupling (> 0 for images whose neighbours tend to agree).
    h : float
        Field in the convention of :func:`ising_gibbs` (the model is ``exp(β h Σ x_i)`` in it).

    Raises
    ------
    ValueError
        Non-binary images; images where the maximum is at infinity (e.g. constant images, or
        neighbours that never disagree), or a fitted coupling that is not positive.
    """
    check_one_of(boundary, "boundary", ("free", "periodic"))
    max_iter = _check_iterations(max_iter, "max_iter")
    tol = check_positive(tol, "tol", strict=False)
    x = _as_spin_batch(images)
    if boundary == "periodic":
        neighbours = sum(torch.roll(x, s, d) for s in (1, -1) for d in (-2, -1))
    else:
        neighbours = _free_neighbour_sum(x)
    counts = np.zeros((2, 9))  # [x_i = -1 or +1, n_i + 4]
    np.add.at(counts, ((x.ravel() > 0).long().numpy(), (neighbours.ravel() + 4).long().numpy()), 1)
    spin = np.array([-1.0, 1.0])[:, None]
    n_values = np.arange(-4.0, 5.0)[None, :]
    features = np.stack([spin * n_values, spin * np.ones_like(n_values)], axis=-1)  # (2, 9, 2)

    def log_pl(theta: np.ndarray) -> float:
        return float(-(counts * np.logaddexp(0.0, -2.0 * features @ theta)).sum())

    theta = np.zeros(2)
    for _ in range(max_iter):
        score = 2.0 * features @ theta  # log-odds of the observed value
        prob = 1.0 / (1.0 + np.exp(score))  # 1 - σ(score)
        grad = np.einsum("ab,abk->k", counts * 2.0 * prob, features)
        weights = counts * 4.0 * prob * (1.0 - prob)
        hessian = -np.einsum("ab,abk,abl->kl", weights, features, features)
        try:
            step = -np.linalg.solve(hessian, grad)
        except np.linalg.LinAlgError:
            step = np.full(2, np.inf)
        if not np.all(np.isfinite(step)) or np.abs(theta + step).max() > 50:
            raise ValueError(
                "the pseudo-likelihood has no finite maximum for these images (are they "
                "constant, or do neighbouring pixels never disagree?)."
            )
        # Newton's step on a concave function; halve it in the rare case it overshoots.
        current = log_pl(theta)
        while log_pl(theta + step) < current - 1e-12 and np.abs(step).max() > tol:
            step = step / 2.0
        theta = theta + step
        if np.abs(step).max() < tol:
            break
    beta, field = float(theta[0]), float(theta[1])
    if beta <= 0:
        raise ValueError(
            f"the fitted coupling is {beta:.4g} <= 0: neighbouring pixels of these images do not "
            "tend to agree, so an Ising prior with beta > 0 does not describe them."
        )
    return beta, field / beta


# =========================================================================== Potts segmentation


def _colour_parameters(colour_model: Any, n_labels: int, n_channels: int) -> dict:
    names = ("weights_", "means_", "covariances_")
    missing = [name for name in names if not hasattr(colour_model, name)]
    if missing:
        raise TypeError(
            f"colour_model must be a fitted mixture with attributes {', '.join(names)} (e.g. a "
            f"GaussianMixture after fit); it lacks {', '.join(missing)}."
        )
    weights = np.asarray(as_numpy(colour_model.weights_), dtype=np.float64)
    means = np.asarray(as_numpy(colour_model.means_), dtype=np.float64)
    covariances = np.asarray(as_numpy(colour_model.covariances_), dtype=np.float64)
    if weights.shape != (n_labels,):
        raise ValueError(
            f"colour_model has weights_ of shape {weights.shape} but n_labels={n_labels}; fit "
            f"it with n_components={n_labels}."
        )
    if means.shape != (n_labels, n_channels):
        raise ValueError(
            f"colour_model.means_ has shape {means.shape}; expected ({n_labels}, {n_channels}) "
            "for this image."
        )
    if covariances.shape != (n_labels, n_channels, n_channels):
        raise ValueError(
            f"colour_model.covariances_ has shape {covariances.shape}; expected full "
            f"covariances ({n_labels}, {n_channels}, {n_channels}) (covariance_type='full')."
        )
    for name, values in (("weights_", weights), ("means_", means), ("covariances_", covariances)):
        if not np.isfinite(values).all():
            raise ValueError(f"colour_model.{name} contains NaN or infinite values.")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"colour_model.weights_ must be >= 0 with a positive sum, got {weights[:5]}."
        )
    if np.abs(means).max() > _MAX_COLOUR:
        raise ValueError(f"colour_model.means_ must be at most {_MAX_COLOUR:g} in magnitude.")
    if not np.allclose(covariances, covariances.transpose(0, 2, 1), rtol=1e-6, atol=0.0):
        raise ValueError("colour_model.covariances_ must be symmetric matrices.")
    covariances = (covariances + covariances.transpose(0, 2, 1)) / 2.0
    eigenvalues = np.linalg.eigvalsh(covariances)
    size = np.abs(eigenvalues).max(axis=1)
    if (eigenvalues[:, 0] < -1e-8 * size).any() or (size > _MAX_COLOUR**2).any():
        raise ValueError(
            "colour_model.covariances_ must be positive semi-definite (and below "
            f"{_MAX_COLOUR**2:g}); the smallest eigenvalues are {eigenvalues[:, 0]}."
        )
    # As in the M-step, lift an eigenvalue below the floor so that the Gaussian is defined.
    lift = np.clip(_COVARIANCE_FLOOR - eigenvalues[:, 0], 0.0, None)
    covariances = covariances + lift[:, None, None] * np.eye(n_channels)
    return {"weights": weights, "means": means, "covariances": covariances}


def _kmeans_parameters(pixels: torch.Tensor, n_labels: int, gen: torch.Generator) -> dict:
    """A starting colour model when none is given: k-means++ seeding, then Lloyd iterations."""
    n = pixels.shape[0]
    centres = pixels[torch.randint(0, n, (1,), generator=gen, device=pixels.device)]
    for _ in range(1, n_labels):
        d2 = torch.cdist(pixels, centres).min(dim=1).values ** 2
        pick = torch.multinomial(d2 + 1e-12, 1, generator=gen)
        centres = torch.cat([centres, pixels[pick]])
    for _ in range(20):
        labels = torch.cdist(pixels, centres).argmin(dim=1)
        for k in range(n_labels):
            if (labels == k).any():
                centres[k] = pixels[labels == k].mean(dim=0)
    resp = torch.nn.functional.one_hot(labels, n_labels).to(pixels.dtype)
    params = _m_step(pixels, resp, 1e-4)
    params["weights"] = (resp.mean(dim=0) + 1e-3).cpu().numpy()
    params["weights"] /= params["weights"].sum()
    return params


def _m_step(pixels: torch.Tensor, resp: torch.Tensor, reg_covar: float) -> dict:
    """Means and full covariances from (soft or hard) labels ``resp`` of shape (P, K)."""
    totals = resp.sum(dim=0) + 1e-10
    means = (resp.T @ pixels) / totals[:, None]
    centred = pixels[None] - means[:, None]  # (K, P, C)
    covariances = torch.einsum("pk,kpc,kpd->kcd", resp, centred, centred) / totals[:, None, None]
    eye = torch.eye(pixels.shape[1], dtype=pixels.dtype, device=pixels.device)
    covariances = covariances + reg_covar * eye
    # A label whose pixels are (nearly) all one colour has a singular covariance: lift its
    # smallest eigenvalue to a floor so that the Gaussian stays defined.
    smallest = torch.linalg.eigvalsh(covariances)[:, 0]
    lift = (_COVARIANCE_FLOOR - smallest).clamp_min(0.0)
    covariances = covariances + lift[:, None, None] * eye
    return {"means": means.cpu().numpy(), "covariances": covariances.cpu().numpy()}


def _log_likelihoods(pixels: torch.Tensor, params: dict) -> torch.Tensor:
    """``L_i(k) = log π_k + log N(c_i; μ_k, Σ_k)`` for every label and pixel: shape (K, P)."""
    dev, dtype = pixels.device, pixels.dtype
    means = torch.as_tensor(params["means"], device=dev, dtype=dtype)
    chol = torch.linalg.cholesky(torch.as_tensor(params["covariances"], device=dev, dtype=dtype))
    centred = (pixels[None] - means[:, None]).transpose(1, 2)  # (K, C, P)
    whitened = torch.linalg.solve_triangular(chol, centred, upper=False)
    log_det = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(dim=-1)
    n_channels = pixels.shape[1]
    log_normal = -0.5 * ((whitened**2).sum(dim=1) + log_det[:, None])
    log_normal = log_normal - 0.5 * n_channels * math.log(2 * math.pi)
    weights = torch.as_tensor(params["weights"], device=dev, dtype=dtype)
    return torch.log(weights.clamp_min(1e-300))[:, None] + log_normal


def potts_energy(labels: ArrayLike, log_likelihoods: ArrayLike, beta: float) -> float:
    """Posterior energy of a label image under a Potts prior and per-pixel label scores.

    ``E(z) = -Σ_i L_i(z_i) - β Σ_{i~j} [z_i = z_j]`` over 4-neighbour pairs (free boundaries),
    with ``L_i(k) = log π_k + log p(c_i | k)``.

    Parameters
    ----------
    labels : array or Tensor, shape (H, W), int
        Each in ``0..K-1``.
    log_likelihoods : array or Tensor, shape (K, H, W)
    beta : float, >= 0

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Labels out of ``0..K-1``, shapes that do not match, non-finite log-likelihoods, or an
        energy beyond float64's range (``beta`` or the log-likelihoods near 1e308: no finite
        answer exists).
    """
    check_array(labels, "labels", ndim=2, kinds="iu")
    check_array(log_likelihoods, "log_likelihoods", ndim=3, kinds="fiu")
    beta = check_positive(beta, "beta", strict=False)
    n_labels = log_likelihoods.shape[0]
    if tuple(log_likelihoods.shape[1:]) != tuple(labels.shape):
        raise ValueError(
            f"log_likelihoods must have shape (K, H, W) = (K, {labels.shape[0]}, "
            f"{labels.shape[1]}) to match labels, got shape {tuple(log_likelihoods.shape)}."
        )
    z_np = np.asarray(as_numpy(labels))
    low, high = int(z_np.min()), int(z_np.max())
    if low < 0 or high >= n_labels:
        raise ValueError(
            f"labels must be integers in 0..{n_labels - 1} (one per row of log_likelihoods, "
            f"K = {n_labels}), got values in {low}..{high}."
        )
    z = torch.as_tensor(z_np.astype(np.int64))
    scores = torch.as_tensor(as_numpy(log_likelihoods), dtype=torch.float64)
    return _finite_or_refuse(
        _potts_energy_value(z, scores, beta),
        "the energy",
        f"beta={beta!r} and log_likelihoods up to {float(scores.abs().max()):.4g} in magnitude",
    )


def _potts_energy_value(z: torch.Tensor, scores: torch.Tensor, beta: float) -> float:
    """:func:`potts_energy` of checked CPU tensors: labels ``z`` (H, W) int64, ``scores``
    (K, H, W) float64. ±inf where the energy is beyond float64 (``potts_segment`` reports the
    energies of its iterations this way rather than failing after the work is done)."""
    agree = int((z[1:] == z[:-1]).sum() + (z[:, 1:] == z[:, :-1]).sum())
    data = scores.gather(0, z[None])
    # Divide by the largest magnitude first, so that terms near 1e308 of opposite signs cannot
    # overflow to inf - inf; the result is ±inf only if the energy itself is beyond float64.
    scale = max(float(data.abs().max()), beta) or 1.0
    return scale * float(-(data / scale).sum() - (beta / scale) * agree)


def _mean_field_free_energy(scores: torch.Tensor, q: torch.Tensor, beta: float) -> float:
    """``F(q) = E_q[E(z)] - H(q)``: what mean-field inference and the M-step both lower."""
    pairs = float((q[:, 1:] * q[:, :-1]).sum() + (q[:, :, 1:] * q[:, :, :-1]).sum())
    entropy = float(-(q * torch.log(q.clamp_min(1e-300))).sum())
    data = float((q * scores).sum())
    # As in potts_energy: scale first, so that only a truly out-of-range value is ±inf.
    scale = max(abs(data), beta, entropy) or 1.0
    return scale * (-(data / scale) - (beta / scale) * pairs - entropy / scale)


def _potts_local(
    scores: torch.Tensor, beta: float, neighbours: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """``L_i(k) + β n_i(k)`` divided by ``s = max(max |L|, β)``: at most 5 in magnitude, so it
    cannot overflow whatever β is, and its argmax is the unscaled one."""
    scale = max(float(scores.abs().max()), beta) or 1.0
    return scores / scale + (beta / scale) * neighbours, scale


def _potts_softmax(scores: torch.Tensor, beta: float, neighbours: torch.Tensor) -> torch.Tensor:
    """``softmax_k(L_i(k) + β n_i(k))`` without overflow: ``s · (u - max u)`` is 0 at the best
    label and finite or -inf elsewhere, never ``inf - inf``."""
    unit, scale = _potts_local(scores, beta, neighbours)
    return torch.softmax(scale * (unit - unit.max(dim=0, keepdim=True).values), dim=0)


def _potts_mean_field(
    scores: torch.Tensor, q: torch.Tensor, beta: float, sweeps: int, masks
) -> torch.Tensor:
    """``q_i(k) ∝ exp(L_i(k) + β Σ_{j~i} q_j(k))``, one checkerboard colour at a time.

    Each update is the exact minimizer of ``F`` in ``q_i`` given the other sites, and sites of
    one colour do not interact, so ``F`` never increases.
    """
    for _ in range(sweeps):
        for mask in masks:
            q = torch.where(mask, _potts_softmax(scores, beta, _free_neighbour_sum(q)), q)
    return q


def _potts_icm(
    scores: torch.Tensor, z: torch.Tensor, beta: float, sweeps: int, masks
) -> torch.Tensor:
    """Each pixel takes the label of highest ``L_i(k) + β #{j ~ i : z_j = k}``; ties keep z_i."""
    n_labels = scores.shape[0]
    for _ in range(sweeps):
        changed = False
        for mask in masks:
            counts = _free_neighbour_sum(_one_hot(z, n_labels, scores.dtype))
            local, _ = _potts_local(scores, beta, counts)
            best = local.argmax(dim=0)
            improves = local.gather(0, best[None])[0] > local.gather(0, z[None])[0]
            new = torch.where(mask & improves, best, z)
            changed = changed or bool((new != z).any())
            z = new
        if not changed:
            break
    return z


def _one_hot(z: torch.Tensor, n_labels: int, dtype: torch.dtype) -> torch.Tensor:
    """(H, W) labels as (K, H, W) indicators."""
    return torch.nn.functional.one_hot(z, n_labels).permute(2, 0, 1).to(dtype)


def potts_segment(
    image: ArrayLike,
    n_labels: int,
    beta: float,
    colour_model: Any = None,
    *,
    method: str = "mean-field",
    n_sweeps: int = 10,
    em_iter: int = 10,
    reg_covar: float = 0.0,
    seed: int | None = None,
    return_details: bool = False,
    device: str | torch.device | None = None,
    progress: bool = False,
):
    """Segment a (colour) image with a Potts prior and a Gaussian-mixture colour likelihood.

    The labels ``z`` have the posterior ``p(z | c) ∝ exp(-E(z))`` with
    ``E(z) = -Σ_i L_i(z_i) - β Σ_{i~j} [z_i = z_j]`` and ``L_i(k) = log π_k + log N(c_i; μ_k,
    Σ_k)`` (:func:`potts_energy`): neighbouring pixels prefer the same label, and the mixture
    weights ``π`` act as a field. ``β = 0`` gives the mixture's own per-pixel classification.

    Each EM iteration runs ``n_sweeps`` sweeps of the inference method, then re-estimates the
    colour means ``μ`` and covariances ``Σ`` from the labels (``π`` stays the colour model's:
    in a Potts prior it is a field whose update would need the intractable ``Z``):

    * ``"mean-field"``: soft labels ``q_i(k) ∝ π_k N(c_i; μ_k, Σ_k) exp(β Σ_{j~i} q_j(k))``;
      the M-step weights each pixel by ``q``. Both steps lower the mean-field free energy
      ``F(q) = E_q[E(z)] - H(q)``, so ``details["objective"]`` never increases.
    * ``"icm"``: each pixel takes its best label given its neighbours; the M-step fits each
      label's pixels (classification EM). Both steps lower ``E(z)``, so
      ``details["objective"]`` never increases.

    Parameters
    ----------
    image : array or Tensor, shape (H, W, C) or (H, W)
        Pixel colours (e.g. the output of ``lessons_lib.data.load_photo``).
    n_labels : int
        Number of segments K (the colour model's number of components), 1 to 1000, with
        ``K · H · W <= 2**31``.
    beta : float, >= 0
        Strength of the Potts prior.
    colour_model : fitted mixture, optional
        Any object with ``weights_`` (K,), ``means_`` (K, C) and full ``covariances_``
        (K, C, C), fitted to the pixels: ``lessons_lib.gmm.GaussianMixture`` or scikit-learn's
        ``GaussianMixture(covariance_type="full")``. None: start from k-means (``seed``).
    method : {"mean-field", "icm"}
    n_sweeps : int
        Inference sweeps per EM iteration (1 to 10**7).
    em_iter : int
        EM iterations; 0 keeps the colour model fixed (inference only). At most 10**7.
    reg_covar : float
        Added to the covariances' diagonals in each M-step. The default 0 keeps the M-step an
        exact maximization (so the objective is monotone); an eigenvalue below 1e-9 is lifted to
        1e-9 in any case.
    seed : int, optional
        Only used for the k-means start.
    return_details : bool
        Also return a dict with the final ``weights``, ``means``, ``covariances``, ``marginals``
        (H, W, K) soft labels, ``energy`` (``E(z)`` after each iteration) and ``objective``
        (what the method lowers, after each iteration). At a ``beta`` so large that ``β`` times
        the number of pairs is beyond float64 (about 1e308 / 2HW), these energies are ±inf: the
        labels and marginals are still exact, so the run is not refused for its diagnostics.

    Returns
    -------
    labels : array or Tensor like ``image``, shape (H, W), int64
    details : dict, only with ``return_details=True``

    Raises
    ------
    ValueError
        Colours above 1e100 in magnitude (rescale the image), a colour model whose weights are
        negative, whose covariances are not positive semi-definite, or that does not match
        ``n_labels`` and the image; an unknown method; negative ``beta``, ``reg_covar``.
    """
    check_one_of(method, "method", ("mean-field", "icm"))
    check_array(image, "image", ndim=(2, 3), kinds="fiu")
    n_labels = _check_count(
        n_labels,
        "n_labels",
        min_value=1,
        max_value=_MAX_LABELS,
        why="a sanity bound: k-means seeding and every sweep scale with the number of labels",
    )
    n_pixels = math.prod(image.shape[:2])
    if n_labels * n_pixels > _MAX_ELEMENTS:
        raise ValueError(
            f"n_labels × pixels = {n_labels} × {n_pixels:,} exceeds 2**31 (the (K, H, W) label "
            "scores would not fit in memory); use fewer labels or a smaller image."
        )
    beta = check_positive(beta, "beta", strict=False)
    n_sweeps = _check_iterations(n_sweeps, "n_sweeps")
    em_iter = _check_iterations(em_iter, "em_iter", min_value=0)
    reg_covar = check_positive(reg_covar, "reg_covar", strict=False)
    if reg_covar > _MAX_COLOUR**2:
        raise ValueError(f"reg_covar must be at most {_MAX_COLOUR**2:g}, got {reg_covar!r}.")
    check_seed(seed)
    largest = float(np.abs(np.asarray(as_numpy(image), dtype=np.float64)).max())
    if largest > _MAX_COLOUR:
        raise ValueError(
            f"image values must be at most {_MAX_COLOUR:g} in magnitude (their squares enter "
            f"the Gaussian colour model), got {largest:g}; rescale the image, e.g. to [0, 1]."
        )
    height, width = image.shape[:2]
    n_channels = 1 if image.ndim == 2 else image.shape[2]
    dev = _device_for(image, device)
    pixels = _float_tensor(image, dev, torch.float64).reshape(height * width, n_channels)
    if colour_model is None:
        params = _kmeans_parameters(pixels, n_labels, _generator(seed, dev))
    else:
        params = _colour_parameters(colour_model, n_labels, n_channels)
    masks = _free_colour_masks(height, width, dev)
    scores = _log_likelihoods(pixels, params).reshape(n_labels, height, width)
    q = torch.softmax(scores, dim=0)
    z = scores.argmax(dim=0)
    energies, objective = [], []
    for it in _progress(range(max(em_iter, 1)), progress, "Potts EM"):
        if it > 0:  # the colour model changed in the last M-step
            scores = _log_likelihoods(pixels, params).reshape(n_labels, height, width)
        if method == "mean-field":
            q = _potts_mean_field(scores, q, beta, n_sweeps, masks)
            z = q.argmax(dim=0)
            objective.append(_mean_field_free_energy(scores, q, beta))
            resp = q
        else:
            z = _potts_icm(scores, z, beta, n_sweeps, masks)
            objective.append(_potts_energy_value(z.cpu(), scores.cpu(), beta))
            resp = _one_hot(z, n_labels, scores.dtype)
        energies.append(_potts_energy_value(z.cpu(), scores.cpu(), beta))
        if em_iter > 0:
            params.update(_m_step(pixels, resp.reshape(n_labels, -1).T, reg_covar))
    labels = z if isinstance(image, torch.Tensor) else z.cpu().numpy()
    if not return_details:
        return labels
    if method == "icm":  # soft labels: each pixel's conditional given its neighbours
        q = _potts_softmax(scores, beta, _free_neighbour_sum(_one_hot(z, n_labels, q.dtype)))
    marginals = q.permute(1, 2, 0)
    details = {
        **params,
        "marginals": marginals if isinstance(image, torch.Tensor) else marginals.cpu().numpy(),
        "energy": energies,
        "objective": objective,
    }
    return labels, details


# =========================================================================== chain diagnostics


def _power_of_two_scale(values: np.ndarray) -> float:
    """``2**-e`` with ``max |values|`` in [0.5, 1) after multiplying by it (1 for all zeros):
    an exact rescaling, so it changes no digit of the data."""
    largest = float(np.abs(values).max())
    return math.ldexp(1.0, -math.frexp(largest)[1]) if largest > 0 else 1.0


def autocorrelation(series: ArrayLike, max_lag: int | None = None) -> np.ndarray:
    """Normalized autocorrelation ``ρ(t) = Cov(s_k, s_{k+t}) / Var(s_k)`` of a Markov chain's trace.

    Parameters
    ----------
    series : array or Tensor, shape (T,) or (T, n_chains)
        A statistic after burn-in (e.g. the energy per sweep), one column per chain; the
        autocovariances of the chains are averaged.
    max_lag : int, optional
        Largest lag returned, in ``0..T - 1`` (default ``T - 1``): a larger lag has no data and
        is an error, not silently clipped.

    Returns
    -------
    ndarray, shape (max_lag + 1,), with ``ρ(0) = 1``

    Raises
    ------
    ValueError
        Fewer than 2 time steps, a constant series, ``max_lag`` negative or above ``T - 1``.
    """
    check_array(series, "series", ndim=(1, 2), kinds="fiub")
    values = np.asarray(as_numpy(series), dtype=np.float64)
    values = values[:, None] if values.ndim == 1 else values
    n = values.shape[0]
    if n < 2:
        raise ValueError(f"series needs at least 2 time steps, got {n}.")
    if max_lag is None:
        max_lag = n - 1
    else:
        max_lag = check_int(max_lag, "max_lag", min_value=0)
        if max_lag > n - 1:
            raise ValueError(
                f"max_lag must be at most T - 1 = {n - 1} (series has T = {n} time steps, so "
                f"there is no data at larger lags), got {max_lag!r}; pass max_lag=None for all "
                "lags."
            )
    # ρ is scale-free: divide by the largest value first, so that values near 1e308 do not
    # overflow in the squares nor values near 1e-170 underflow to a "constant" series.
    values = values * _power_of_two_scale(values)
    centred = values - values.mean(axis=0)
    centred = centred * _power_of_two_scale(centred)
    size = 1 << (2 * n - 1).bit_length()  # zero padding: a linear, not circular, correlation
    spectrum = np.fft.rfft(centred, n=size, axis=0)
    autocovariance = np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=0)[:n].mean(axis=1)
    if autocovariance[0] <= 0:
        raise ValueError("series is constant; its autocorrelation is undefined.")
    return autocovariance[: max_lag + 1] / autocovariance[0]


def integrated_autocorrelation_time(series: ArrayLike, window_factor: float = 5.0) -> float:
    """``τ = 1 + 2 Σ_{t ≥ 1} ρ(t)``: a chain of length T is worth about ``T / τ`` independent draws.

    The sum is cut at the first lag ``M ≥ window_factor · τ(M)`` (Sokal's automatic window):
    summing all lags would add up noise.

    Parameters
    ----------
    series : array or Tensor, shape (T,) or (T, n_chains)
    window_factor : float

    Returns
    -------
    float, >= 0 (1 for independent draws)
    """
    window_factor = check_positive(window_factor, "window_factor")
    rho = autocorrelation(series)
    partial = 2.0 * np.cumsum(rho) - 1.0  # τ(M) = 1 + 2 Σ_{t=1..M} ρ(t)
    lags = np.arange(len(rho))
    stop = np.flatnonzero(lags >= window_factor * partial)
    # A short anti-correlated series can give a negative partial sum; τ itself is >= 0 (it is
    # the spectral density at frequency 0, over the variance).
    return max(0.0, float(partial[stop[0]] if stop.size else partial[-1]))


def boundary_length(labels: ArrayLike) -> int:
    """Number of 4-neighbour pairs whose labels differ (free boundaries).

    Parameters
    ----------
    labels : array or Tensor, shape (H, W), integers or ±1 spins

    Returns
    -------
    int
    """
    check_array(labels, "labels", ndim=2, kinds="fiu")
    z = np.asarray(as_numpy(labels))
    return int((z[1:] != z[:-1]).sum() + (z[:, 1:] != z[:, :-1]).sum())


# =========================================================================== test images


def make_shapes(
    height: int = 64, width: int = 64, n_shapes: int = 6, seed: int | None = None
) -> np.ndarray:
    """A binary test image: random discs and rectangles (+1) on a background (-1).

    Parameters
    ----------
    height, width : int
        At least 2, with ``height · width <= 2**28`` pixels.
    n_shapes : int
        0 to 10**5.
    seed : int, optional

    Returns
    -------
    ndarray, shape (height, width), float32, values ±1
    """
    # The other side is at least 2, so each side is at most 2**27 (caught here, naming it).
    side_why = "the image may have at most 2**28 pixels: it builds float64 arrays of that size"
    side_max = _MAX_IMAGE_PIXELS // 2
    height = _check_count(height, "height", min_value=2, max_value=side_max, why=side_why)
    width = _check_count(width, "width", min_value=2, max_value=side_max, why=side_why)
    if height * width > _MAX_IMAGE_PIXELS:
        raise ValueError(
            f"height × width must be at most 2**28 pixels (make_shapes builds float64 arrays of "
            f"that size), got {height} × {width} = {height * width:,}."
        )
    n_shapes = _check_count(
        n_shapes,
        "n_shapes",
        min_value=0,
        max_value=_MAX_SHAPES,
        why="a sanity bound: each shape costs a pass over the image, and far fewer already "
        "cover it",
    )
    rng = np.random.default_rng(check_seed(seed))
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width), dtype=bool)
    size = min(height, width)
    for k in range(n_shapes):
        ci, cj = rng.uniform(0, height), rng.uniform(0, width)
        if k % 2 == 0:
            radius = rng.uniform(0.08, 0.22) * size
            image |= (rows - ci) ** 2 + (cols - cj) ** 2 <= radius**2
        else:
            hi, hj = rng.uniform(0.05, 0.2, size=2) * size
            image |= (np.abs(rows - ci) <= hi) & (np.abs(cols - cj) <= hj)
    return np.where(image, 1.0, -1.0).astype(np.float32)
