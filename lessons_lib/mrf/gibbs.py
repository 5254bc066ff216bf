"""Checkerboard Gibbs sampling of the Ising model on a periodic lattice.

The sites of one colour of a checkerboard share no bond, so given the other colour they are
independent and are all drawn at once (the parallel "coding" updates of Besag 1974 and
Geman & Geman 1984); a sweep updates both colours. Heat-bath draws each spin from its
conditional (Geman, S. and Geman, D. (1984). Stochastic relaxation, Gibbs distributions, and
the Bayesian restoration of images. *IEEE TPAMI* 6, 721-741); Metropolis proposes a flip
(Metropolis et al. 1953, *J. Chem. Phys.* 21, 1087).

The fast path stores an even torus as its two checkerboard halves (:class:`_SplitLattice`) and
computes each conditional in float32 where it reproduces the exact table
(:class:`_Conditionals`); odd sides use three colours on the full lattice.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from lessons_lib.core.progress import progress_bar
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    check_one_of,
    check_seed,
)
from lessons_lib.mrf._conditionals import _Conditionals, _fast_field, _fast_probability
from lessons_lib.mrf._validation import (
    _MAX_ELEMENTS,
    _check_beta,
    _check_couplings,
    _check_iterations,
    _check_lattice,
    _check_real,
    _check_shape,
    _device_for,
    _finite_or_refuse,
    _float_tensor,
    _largest_magnitude,
    _like,
)


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


class _Sweeps(NamedTuple):
    """What both sweep paths need besides the spins (one run of :func:`ising_gibbs`)."""

    conditionals: _Conditionals
    couplings: tuple[float, float]
    h: float
    n_sweeps: int
    gen: torch.Generator
    trace: dict | None
    progress: bool


def _split_sweeps(lattice: _SplitLattice, run: _Sweeps) -> None:
    conditionals, couplings, h, n_sweeps, gen, trace, progress = run
    method = conditionals.method
    field = torch.empty(lattice.black.shape, dtype=torch.float32, device=lattice.black.device)
    uniform = torch.empty_like(field)
    accept = torch.empty(field.shape, dtype=torch.bool, device=field.device)
    n_sites = 2 * lattice.black.shape[-1] * lattice.black.shape[-2]
    for _ in progress_bar(range(n_sweeps), desc="Gibbs sweeps", enabled=bool(progress)):
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


def _masked_sweeps(spins: torch.Tensor, run: _Sweeps) -> torch.Tensor:
    """Colour-by-colour sweeps on the full lattice (any size; used when a side is odd). The
    probabilities are looked up in the exact table (this path is not the speed-critical one)."""
    conditionals, couplings, h, n_sweeps, gen, trace, progress = run
    x = spins.to(torch.float32)
    masks = _periodic_colour_masks(x.shape[-2], x.shape[-1], x.device)
    for _ in progress_bar(range(n_sweeps), desc="Gibbs sweeps", enabled=bool(progress)):
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
    shape = _checked_shape(spins_or_shape)
    beta64 = _beta_values(beta, shape[:-2])
    if method == "metropolis" and min(shape[-2:]) < 4:
        _warn_not_ergodic(shape)
    dev = _device_for(spins_or_shape, device)
    gen = make_generator(seed, dev)
    conditionals = _Conditionals(beta64, couplings, h, method, dev)
    record = {"magnetization": [], "energy": []} if trace else None
    run = _Sweeps(conditionals, couplings, h, n_sweeps, gen, record, progress)
    final = _sample(spins_or_shape, shape, dev, run)
    is_shape = not isinstance(spins_or_shape, np.ndarray | torch.Tensor)
    result = final.to(torch.float32) if is_shape else _like(final, spins_or_shape)
    if not trace:
        return result
    if record["energy"]:  # |u| <= |J_v| + |J_h| + |h|: beyond float64 only for J, h near 1e308
        largest = max(float(u.abs().max()) for u in record["energy"])
        _finite_or_refuse(largest, "the traced energy per spin", f"J={J!r}, h={h!r}")
    numpy_out = isinstance(spins_or_shape, np.ndarray)
    return result, _stacked_trace(record, shape[:-2], numpy_out)


def _checked_shape(spins_or_shape: Any) -> tuple[int, ...]:
    """The lattice shape of a shape or a ±1 array, at most 2**31 sites in all."""
    if not isinstance(spins_or_shape, np.ndarray | torch.Tensor):
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
    return shape


def _warn_not_ergodic(shape: tuple[int, ...]) -> None:
    warnings.warn(
        f"Metropolis with colour-by-colour updates is not ergodic on a lattice as small as "
        f"{shape[-2]}×{shape[-1]} (flips with ΔE = 0 are forced, and the chain cycles among "
        "subsets of states): its averages can be wrong. Use method='heat-bath' here.",
        RuntimeWarning,
        stacklevel=3,  # the caller of ising_gibbs
    )


def _sample(spins_or_shape: Any, shape: tuple[int, ...], dev: torch.device, run: _Sweeps):
    """The start (uniform spins for a shape, drawn first, from ``run.gen``) and the sweeps;
    int8 final spins. An allocation failure becomes a ValueError that names the lattice's size.
    """
    gen = run.gen
    height, width = shape[-2:]
    try:
        if not isinstance(spins_or_shape, np.ndarray | torch.Tensor):
            start = torch.randint(0, 2, shape, generator=gen, device=dev, dtype=torch.int8)
            start = start * 2 - 1
        else:
            start = _float_tensor(spins_or_shape, dev).to(torch.int8)
        if height % 2 == 0 and width % 2 == 0:
            lattice = _SplitLattice(start)
            _split_sweeps(lattice, run)
            return lattice.merged()
        return _masked_sweeps(start, run)
    except RuntimeError as error:  # torch's allocators (CPU and CUDA) raise RuntimeErrors
        if "alloc" not in str(error).lower():
            raise
        raise ValueError(
            f"spins_or_shape {shape} ({math.prod(shape):,} sites) does not fit in memory on "
            f"{dev} (the sampler needs about 8 bytes per site); use fewer or smaller lattices."
        ) from error


def _stacked_trace(record: dict, batch_shape: tuple[int, ...], numpy_out: bool) -> dict:
    """Per-sweep lists of per-lattice values as float64 arrays of shape (n_sweeps, *batch)."""
    history = {}
    for key, values in record.items():
        stacked = (
            torch.stack(values).to(torch.float64)
            if values
            else torch.zeros((0, *batch_shape), dtype=torch.float64)
        )
        history[key] = stacked.cpu().numpy() if numpy_out else stacked
    return history
