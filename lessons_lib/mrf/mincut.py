"""The exact MAP of a binary denoising posterior by a minimum s–t cut.

Greig, D. M., Porteous, B. T. and Seheult, A. H. (1989). Exact maximum a posteriori estimation
for binary images. *JRSS B* 51, 271-279: the posterior energy of a binary image with
attractive pairs is the capacity of a cut in a graph with one node per pixel, so a max-flow
gives its exact minimum. Boykov, Y., Veksler, O. and Zabih, R. (2001), *IEEE TPAMI* 23,
1222-1239, and Boykov, Y. and Kolmogorov, V. (2004), *IEEE TPAMI* 26, 1124-1137, made this the
standard tool of vision; here SciPy's ``maximum_flow`` (integer capacities) does the work, with a
certificate of optimality for the ratio ``β / η`` it cannot represent exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
)
from lessons_lib.mrf._validation import _like
from lessons_lib.mrf.posterior import _check_denoise_args

_INT32_MAX = 2**31 - 1


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
