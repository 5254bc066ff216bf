"""Restoring a binary image under an Ising prior: ICM, annealing, MPM, mean field.

Every method targets the posterior of :mod:`lessons_lib.mrf.posterior`:

* iterated conditional modes (Besag 1986, *JRSS B* 48, 259-302);
* simulated annealing by Gibbs sweeps (Kirkpatrick, Gelatt & Vecchi 1983, *Science* 220,
  671-680; Geman & Geman 1984);
* maximum posterior marginals from Gibbs samples (Marroquin, Mitter & Poggio 1987, *JASA* 82,
  76-89) and their mean-field approximation (Peterson & Anderson 1987; Zhang 1992);
* the exact MAP by a minimum cut (:mod:`lessons_lib.mrf.mincut`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    check_one_of,
    check_positive,
    check_seed,
)
from lessons_lib.mrf._free_grid import (
    _free_colour_masks,
    _free_neighbour_sum,
    _gibbs_free,
    _unit_scale,
)
from lessons_lib.mrf._validation import (
    _check_copies,
    _check_iterations,
    _device_for,
    _float_tensor,
    _like,
)
from lessons_lib.mrf.mincut import min_cut_map
from lessons_lib.mrf.posterior import _check_denoise_args


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
    gen = make_generator(seed, dev)
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
        return _marginal_modes(marginals, noisy)
    dev = _device_for(noisy, device)
    y = _float_tensor(noisy, dev)
    field = eta * y
    if method == "icm":
        x = _icm(y, field, beta, n_iter)
    elif method == "mean-field":
        m = _mean_field(field.double(), beta, y.double(), n_iter, 1e-6).float()
        x = torch.where(m > 0, 1.0, torch.where(m < 0, -1.0, y))
    else:
        gen = make_generator(seed, dev)
        temperatures = _anneal_schedule(n_sweeps, t_start, t_end)
        x, _ = _gibbs_free(y.clone(), field, beta, temperatures, gen, progress=progress)
        x = _icm(x, field, beta, n_iter)
    return _like(x, noisy)


def _marginal_modes(marginals: ArrayLike, noisy: ArrayLike) -> ArrayLike:
    """``+1`` where ``P(x_i = +1 | y) > ½``, ``-1`` where below, ``y_i`` at exactly ½."""
    q = _float_tensor(marginals, None)
    y = _float_tensor(noisy, q.device)
    return _like(torch.where(q > 0.5, 1.0, torch.where(q < 0.5, -1.0, y)), noisy)
