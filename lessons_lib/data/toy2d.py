"""Small 2-D toy sets: a ring and a grid of Gaussians, two moons, a known 2-D mixture.

The ring and the grid are the classic mode-collapse tests of GANs (Metz et al. 2017, "Unrolled
GANs"); the mixture is the known truth the EM lessons compare a fit with. Every size and scale
is bounded before any work, so an absurd argument fails at once with a message.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import check_int, check_positive, check_seed

# The toy sets are float32: coordinates (centre + std · noise, noise up to about 10) must stay
# well inside float32's range (3.4e38), or points would silently become inf.
_MAX_COORD = 1e30


#: Sanity bounds on sizes. The course draws at most a few thousand points from 8 to 25 modes;
#: beyond these bounds an array would hold more than 2**31 values (8 GiB in float32, twice
#: that in the float64 intermediates), more memory than a course machine has. Checked before
#: any work, so an absurd size fails at once with a message instead of deep inside torch.
MAX_POINTS = 2**30  # n (points of shape (n, 2)) and n_modes (centres of shape (n_modes, 2))
MAX_PER_SIDE = 2**15  # n_per_side: the grid has n_per_side**2 <= 2**30 centres


def _check_count(value: object, name: str, *, min_value: int, max_value: int, why: str) -> int:
    """An integer in ``[min_value, max_value]``; ``why`` says what the upper bound protects."""
    value = check_int(value, name, min_value=min_value)
    if value > max_value:
        raise ValueError(
            f"{name} must be at most {max_value} ({why}), got {value}. Pass a smaller {name}."
        )
    return value


def _check_n_points(n: object, *, min_value: int = 1) -> int:
    return _check_count(
        n,
        "n",
        min_value=min_value,
        max_value=MAX_POINTS,
        why="2**30 points of 2 coordinates already fill 8 GiB",
    )


def _check_seed(seed: object) -> int | None:
    """None or an integer in [0, 2**32), like ``seed_everything`` (the course's one validator)."""
    return check_seed(seed, max_value=2**32 - 1)


def _check_scale(value: object, name: str, *, strict: bool = True, limit: float) -> float:
    value = check_positive(value, name, strict=strict)
    if value > limit:
        raise ValueError(
            f"{name} must be at most {limit:g} (the points are float32 and would overflow to "
            f"inf), got {value:g}. Rescale: work in units where it is of order 1."
        )
    return value


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """Centres of ``n_modes`` Gaussians evenly spaced on a circle: shape (n_modes, 2).

    ``n_modes`` is at most ``MAX_POINTS`` (2**30); ``radius`` must be finite, > 0 and at most
    1e30 (the result is float32).
    """
    n_modes = _check_count(
        n_modes,
        "n_modes",
        min_value=1,
        max_value=MAX_POINTS,
        why="2**30 centres of 2 coordinates already fill 8 GiB",
    )
    radius = _check_scale(radius, "radius", limit=_MAX_COORD)
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * np.pi / n_modes)
    return (radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)).float()


def grid_centers(n_per_side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Centres of a square grid of Gaussians, centred on 0: shape (n_per_side**2, 2).

    ``n_per_side`` is at most ``MAX_PER_SIDE`` (2**15, i.e. 2**30 centres); ``spacing`` must
    be finite and > 0, and the grid's half-width ``(n_per_side - 1) / 2 · spacing`` at most
    1e30 (the result is float32).
    """
    n_per_side = check_int(n_per_side, "n_per_side", min_value=1)
    spacing = check_positive(spacing, "spacing")
    try:
        half_width = (n_per_side - 1) / 2 * spacing
    except OverflowError:  # (n_per_side - 1) / 2 beyond float64: far beyond the limit too
        half_width = math.inf
    if half_width > _MAX_COORD:
        raise ValueError(
            f"spacing={spacing:g} with n_per_side={n_per_side} makes a grid of half-width "
            f"{half_width:g}, beyond {_MAX_COORD:g} (the points are float32 and would overflow)."
        )
    n_per_side = _check_count(
        n_per_side,
        "n_per_side",
        min_value=1,
        max_value=MAX_PER_SIDE,
        why="the grid has n_per_side**2 centres, and 2**30 of them already fill 8 GiB",
    )
    # float64 ticks, then float32: the products stay exact to float32 rounding.
    ticks = (torch.arange(n_per_side, dtype=torch.float64) - (n_per_side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks.float(), ticks.float(), indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def _mixture_of_centers(
    centers: torch.Tensor, n: int, std: float, seed: int | None, device
) -> tuple[torch.Tensor, torch.Tensor]:
    n = _check_n_points(n)
    _check_scale(std, "std", limit=_MAX_COORD / 10)
    gen = make_generator(_check_seed(seed))
    labels = torch.randint(len(centers), (n,), generator=gen)
    points = centers[labels] + std * torch.randn(n, 2, generator=gen)
    target = resolve_device(device)
    return points.to(target), labels.to(target)


def make_ring(
    n: int,
    *,
    n_modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points from a ring of ``n_modes`` equal Gaussians (the classic GAN mode-collapse toy).

    ``n`` is at most ``MAX_POINTS`` (2**30): more points would not fit in memory.

    Returns
    -------
    points : Tensor, shape (n, 2), float32
    labels : Tensor, shape (n,), int64: the mode each point came from
    """
    n = _check_n_points(n)  # before the centres are computed
    return _mixture_of_centers(ring_centers(n_modes, radius), n, std, seed, device)


def make_grid(
    n: int,
    *,
    n_per_side: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points from a square grid of equal Gaussians (25 modes by default).

    ``n`` is at most ``MAX_POINTS`` (2**30): more points would not fit in memory.

    Returns
    -------
    points : Tensor, shape (n, 2), float32
    labels : Tensor, shape (n,), int64
    """
    n = _check_n_points(n)  # before the centres are computed
    return _mixture_of_centers(grid_centers(n_per_side, spacing), n, std, seed, device)


def make_moons(
    n: int,
    *,
    noise: float = 0.08,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles (scikit-learn's ``make_moons``) as tensors.

    ``n`` is at most ``MAX_POINTS`` (2**30): more points would not fit in memory.

    Returns
    -------
    points : Tensor, shape (n, 2), float32
    labels : Tensor, shape (n,), int64 in {0, 1}
    """
    from sklearn.datasets import make_moons as sk_make_moons

    n = _check_n_points(n, min_value=2)
    noise = _check_scale(noise, "noise", strict=False, limit=_MAX_COORD / 10)
    seed = _check_seed(seed)
    points, labels = sk_make_moons(n, noise=noise, random_state=seed)
    target = resolve_device(device)
    return (
        torch.as_tensor(points, dtype=torch.float32, device=target),
        torch.as_tensor(labels, dtype=torch.int64, device=target),
    )


#: The known 2-D mixture of the EM lessons: weights (3,), means (3, 2), covariances (3, 2, 2).
MIXTURE_2D = {
    "weights": np.array([0.5, 0.3, 0.2]),
    "means": np.array([[-2.0, 0.0], [2.0, 1.0], [0.5, -2.5]]),
    "covariances": np.array(
        [[[1.0, 0.6], [0.6, 0.8]], [[0.6, -0.3], [-0.3, 0.5]], [[0.3, 0.0], [0.0, 0.3]]]
    ),
}


def make_mixture_2d(
    n: int, *, seed: int | None = None, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points from the known three-component 2-D Gaussian mixture ``MIXTURE_2D``.

    Its parameters are public so that a fit can be compared with the truth.

    ``n`` is at most ``MAX_POINTS`` (2**30): more points would not fit in memory.

    Returns
    -------
    points : Tensor, shape (n, 2), float64
    labels : Tensor, shape (n,), int64: the component each point came from
    """
    n = _check_n_points(n)
    gen = make_generator(_check_seed(seed))
    weights = torch.as_tensor(MIXTURE_2D["weights"])
    means = torch.as_tensor(MIXTURE_2D["means"])
    chol = torch.linalg.cholesky(torch.as_tensor(MIXTURE_2D["covariances"]))
    labels = torch.multinomial(weights, n, replacement=True, generator=gen)
    noise = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    points = means[labels] + torch.einsum("nij,nj->ni", chol[labels], noise)
    target = resolve_device(device)
    return points.to(target), labels.to(target)
