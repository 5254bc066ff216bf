"""k-means clustering: k-means++ seeding, then Lloyd's iterations. The ONE k-means of
lessons_lib: the mixtures start from it, and so do the MRF colour models.

* Seeding (Arthur & Vassilvitskii 2007, "k-means++: the advantages of careful seeding"): the
  first centre is a uniformly drawn data point, each next one a data point drawn with
  probability proportional to its squared distance to the nearest centre so far.
* Lloyd (1982, "Least squares quantization in PCM"): assign every point to its nearest
  centre, move each centre to the mean of its points, repeat until no label changes.

Squared distances are expanded, :math:`\\lVert x - c\\rVert^2 = \\lVert x\\rVert^2 - 2 x\\cdot c
+ \\lVert c\\rVert^2`, so an assignment is one matrix product; data far from the origin are
centred first, and extreme magnitudes scaled by a power of two, so that the expansion neither
cancels nor overflows. Draws are made on the CPU (a CPU ``torch.Generator``), so a seed picks
the same centres whatever device holds the data.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from lessons_lib.core.validation import as_tensor, check_array, check_int
from lessons_lib.density._scaling import largest_magnitude

__all__ = ["kmeans", "kmeans_plusplus"]


def _check_kmeans_args(
    X: Any, n_clusters: Any, generator: Any
) -> tuple[torch.Tensor, int, torch.Tensor, tuple[float, float], torch.Tensor]:
    """Check the arguments of k-means; return ``X`` as a float tensor, K, and the data
    centred (only when they sit far from the origin) and divided by a power of two, so that
    squared distances can neither overflow (1e160) nor underflow (1e-200): ``(x, k, x_std,
    (a, b), shift)`` with ``x = shift + a * b * x_std``."""
    check_array(X, "X", ndim=2, kinds="fiu")
    n_clusters = check_int(n_clusters, "n_clusters", min_value=1)
    if n_clusters > X.shape[0]:
        raise ValueError(
            f"n_clusters={n_clusters} is larger than the number of points N={X.shape[0]} "
            "(K larger than N); use n_clusters <= N."
        )
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}; use "
            "lessons_lib.core.random.make_generator(seed)."
        )
    if generator.device.type != "cpu":
        raise ValueError(
            f"generator must be a CPU torch.Generator (draws are made on the CPU), got one on "
            f"{generator.device}."
        )
    x = as_tensor(X)
    if x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float64)

    def power_of_two(value: float) -> float:
        return math.ldexp(1.0, math.frexp(value)[1] - 1) if value > 0 else 1.0

    top = float(largest_magnitude(x))
    s0 = power_of_two(top)
    shift = (x / s0).mean(0) * s0 if top * x.shape[0] >= torch.finfo(x.dtype).max / 4 else x.mean(0)
    # Far from the origin |x|^2 - 2 x.c + |c|^2 cancels catastrophically: centre first. (The
    # mixtures call this on centred data, which are left as they are.)
    if float(shift.abs().max()) > top / 2:
        centred = x / s0 - shift / s0
        scale = power_of_two(float(largest_magnitude(centred)))
        return x, n_clusters, centred / scale, (scale, s0), shift
    shift = torch.zeros_like(shift)
    # Squared distances overflow beyond max**(1/2) and lose digits near the smallest float:
    # scale by a power of two (exact) only then.
    if 2.0**-200 <= top <= torch.finfo(x.dtype).max ** 0.25:
        return x, n_clusters, x, (1.0, 1.0), shift
    return x, n_clusters, x / s0, (1.0, s0), shift


def _kmeans_plusplus_indices(
    X: torch.Tensor, n_clusters: int, generator: torch.Generator
) -> list[int]:
    """The rows of ``X`` (already checked, of order 1) that k-means++ picks as centres."""
    n = X.shape[0]
    norms = (X * X).sum(1)

    def squared_distances(index: int) -> torch.Tensor:  # |x - c|^2, one pass over X
        return (norms - 2 * (X @ X[index]) + norms[index]).clamp_min_(0)

    first = int(torch.randint(n, (1,), generator=generator))
    picks = [first]
    closest = squared_distances(first)
    for _ in range(1, n_clusters):
        weights = closest.cpu()
        if float(weights.sum()) <= 0:  # every point sits on a centre: pick uniformly
            weights = torch.ones(n, dtype=weights.dtype)
        pick = int(torch.multinomial(weights, 1, generator=generator))
        picks.append(pick)
        closest = torch.minimum(closest, squared_distances(pick))
    return picks


def kmeans_plusplus(X: torch.Tensor, n_clusters: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each new centre is a data point drawn
    with probability proportional to its squared distance to the nearest centre so far.

    Parameters
    ----------
    X : Tensor (or ndarray), shape (N, D)
        Finite real values; any magnitude (distances are computed on scaled data).
    n_clusters : int
        K, with 1 <= K <= N.
    generator : torch.Generator (CPU)

    Returns
    -------
    Tensor, shape (n_clusters, D): rows of ``X`` (float)

    Raises
    ------
    TypeError, ValueError
        Bad ``X``, ``n_clusters`` < 1 or > N, ``generator`` not a CPU ``torch.Generator``.
    """
    x, k, scaled, _, _ = _check_kmeans_args(X, n_clusters, generator)
    return x[_kmeans_plusplus_indices(scaled, k, generator)]


def kmeans(
    X: torch.Tensor, n_clusters: int, generator: torch.Generator, n_iter: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """A few Lloyd iterations from k-means++ seeds: centres (K, D) and labels (N,) int64.

    Parameters
    ----------
    X : Tensor (or ndarray), shape (N, D)
        Finite real values; any magnitude (the iterations run on scaled data).
    n_clusters : int
        K, with 1 <= K <= N.
    generator : torch.Generator (CPU)
    n_iter : int
        Most Lloyd iterations, >= 1.

    Returns
    -------
    centres : Tensor (K, D), float, on the device of ``X``
    labels : Tensor (N,), int64

    Raises
    ------
    TypeError, ValueError
        Bad ``X``, ``n_clusters`` < 1 or > N ("K larger than N"), ``n_iter`` < 1, or
        ``generator`` not a CPU ``torch.Generator``; all before any work.
    """
    n_iter = check_int(n_iter, "n_iter", min_value=1)
    _, n_clusters, X, scale, shift = _check_kmeans_args(X, n_clusters, generator)
    centres = X[_kmeans_plusplus_indices(X, n_clusters, generator)]
    squared_norms = (X * X).sum(1, keepdim=True)
    labels = torch.zeros(X.shape[0], dtype=torch.int64, device=X.device)
    for step in range(n_iter):
        distances = squared_norms - 2 * X @ centres.T + (centres * centres).sum(1)
        new_labels = distances.argmin(1)
        if step > 0 and bool((new_labels == labels).all()):
            break
        labels = new_labels
        one_hot = torch.nn.functional.one_hot(labels, n_clusters).to(X.dtype)
        counts = one_hot.sum(0)
        sums = one_hot.T @ X  # cluster sums as one product
        # An emptied cluster keeps its old centre rather than jumping to 0.
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    # Back to the units of X, one power of two at a time (their product could overflow).
    return centres * scale[0] * scale[1] + shift, labels
