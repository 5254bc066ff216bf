"""Gaussian mixtures fitted by EM, and mixtures of factor analyzers.

A Gaussian mixture has density :math:`p(x) = \\sum_k \\pi_k \\mathcal N(x; \\mu_k, \\Sigma_k)`.
EM alternates

* **E-step**: responsibilities :math:`r_{nk} = \\pi_k \\mathcal N(x_n;\\mu_k,\\Sigma_k) / p(x_n)`;
* **M-step**: :math:`N_k = \\sum_n r_{nk}`, :math:`\\pi_k = N_k / N`,
  :math:`\\mu_k = \\frac1{N_k}\\sum_n r_{nk} x_n`,
  :math:`\\Sigma_k = \\frac1{N_k}\\sum_n r_{nk}(x_n-\\mu_k)(x_n-\\mu_k)^\\top + \\epsilon I`
  (:math:`\\epsilon` = ``reg_covar``, a floor that stops a component collapsing on a point).

How it is computed, so that one iteration is a few large matrix products: each component's
covariance is factored once per iteration, :math:`\\Sigma_k = L_k L_k^\\top`, and points are
*whitened*, :math:`y_{nk} = L_k^{-1}(x_n - \\mu_k)`; the E-step needs only
:math:`\\lVert y_{nk}\\rVert^2`.

* Dense (a GPU, or D < 16): one matrix product whitens a chunk against all components, and
  the M-step sums :math:`\\sum_n r_{nk} y_{nk} y_{nk}^\\top` come from one batched product,
  mapped back with :math:`L_k`.
* Pruned (the CPU, full covariances, D >= 16): a cheap bound on the Mahalanobis distance
  finds the (point, component) pairs whose responsibility is provably below float64
  rounding; they are skipped, and each component whitens and accumulates only its own
  points, again as one batched product for all components. Once components separate, an
  iteration costs about N D^2 instead of N K D^2.

Both give scikit-learn's results to rounding (see the tests). The sums are centred on the
previous means, which keeps them accurate.

:class:`MixtureOfFactorAnalyzers` restricts each covariance to low rank plus diagonal,
:math:`\\Sigma_k = \\Lambda_k\\Lambda_k^\\top + \\Psi_k`, which makes 28×28 images affordable.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.validation import (
    ArrayLike,
    _singular_matrices,
    as_tensor,
    check_array,
    check_covariance,
    check_int,
    check_one_of,
    check_positive,
    check_seed,
)
from lessons_lib.gaussian import (
    LOG_2PI,
    NotFittedError,
    _condition,
    _factor,
    _refuse_underflow,
    check_finite_result,
    check_inpaint_inputs,
    check_representable,
    check_sample_count,
    cholesky,
    group_rows_by_mask,
    largest_magnitude,
    like,
    make_generator,
    scaled_differences,
    standardize,
    to_model_tensor,
)

__all__ = [
    "ConvergenceWarning",
    "GaussianMixture",
    "MixtureOfFactorAnalyzers",
    "NotFittedError",
    "kmeans",
    "kmeans_plusplus",
    "transfer_colours",
]

COVARIANCE_TYPES = ("full", "diag", "spherical")
INITS = ("kmeans++", "random")
#: Elements of one (chunk, K, D) block of whitened points: about 32 MB in float64, small
#: enough to stay in memory on a laptop, large enough for the matrix products to run fast.
CHUNK_ELEMENTS = 2**22
#: EM with full covariances on the CPU skips the (point, component) pairs that provably
#: cannot matter (see ``_Pruner``); elsewhere (a GPU) it whitens densely.
PRUNE_ON_CPU = True
#: A pair is skipped when its log-density is provably below the point's best by this many
#: nats: its responsibility is then below e^-40 = 4e-18, under float64 rounding.
_PRUNE_NATS = 40.0
#: In the M-step a point counts for component k when r_nk > _RESP_FLOOR * max_n r_nk. The
#: dropped mass is below N * 1e-16 of N_k (rounding level); skipping it makes the M-step cost
#: proportional to the points a component actually explains, not to N.
_RESP_FLOOR = 1e-16
#: Added to every N_k (as scikit-learn does) so an empty component never divides by zero.
_TINY = 10 * float(np.finfo(np.float64).eps)


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the log-likelihood gain fell below ``tol``."""


#: Relative size of a log-likelihood drop that is more than rounding.
_ROUNDING = 1e-12


def _floor_lowered(new: float, old: float) -> bool:
    """True when an EM step lowered the mean log-likelihood by more than rounding.

    Exact EM never does. With a covariance floor it can: once a component sits on the floor
    (e.g. digits pixels that are nearly constant within a cluster), ``S_k / N_k + reg I`` is no
    longer the maximiser of the expected log-likelihood, and the likelihood may drift down by
    amounts of the order of ``reg_covar`` per step (scikit-learn's EM drifts the same way).
    EM then stops and keeps the better parameters, so ``history_`` never decreases.
    """
    return new < old - _ROUNDING * max(1.0, abs(old))


def _check_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}.")
    return dtype


def _chunks(n: int, per_row: int):
    """Row ranges covering ``n`` rows with about CHUNK_ELEMENTS / per_row rows each."""
    size = max(1, CHUNK_ELEMENTS // max(per_row, 1))
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False)


# --------------------------------------------------------------------------- k-means


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
            "lessons_lib.gaussian.make_generator(seed)."
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


# --------------------------------------------------------------------------- parameters


@dataclass
class _Params:
    """Mixture parameters as tensors; ``covariances`` in scikit-learn's storage shape."""

    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, D)
    covariances: torch.Tensor  # (K, D, D) full, (K, D) diag, (K,) spherical


def _full_covariances(covariances: torch.Tensor, kind: str, dim: int) -> torch.Tensor:
    """Any storage shape as (K, D, D) matrices."""
    if kind == "full":
        return covariances
    if kind == "diag":
        return torch.diag_embed(covariances)
    eye = torch.eye(dim, dtype=covariances.dtype, device=covariances.device)
    return covariances[:, None, None] * eye


class _Whitener:
    """Every component's whitened coordinates ``y_nk = L_k^{-1} (x_n - mu_k)`` and what EM
    needs of them: the log-densities (E-step) and the sums of the M-step.

    For full covariances one matrix product whitens a chunk against all K components: ``x`` is
    extended by a constant 1 and multiplied by the (D + 1, K (D + 1)) matrix holding each
    ``L_k^{-T}`` above ``-(L_k^{-1} mu_k)^T``, with one extra output column per component that
    copies the 1. Then ``y`` carries a trailing 1, and ONE batched product
    ``sum_n r_nk [y_nk; 1][y_nk; 1]^T`` yields N_k, sum r y and sum r y y^T together.
    """

    def __init__(self, params: _Params, kind: str) -> None:
        self.kind = kind
        self.expand = False
        self.means = params.means
        k, dim = params.means.shape
        if kind == "full":
            self.factor = cholesky(params.covariances, "a component covariance")
            eye = torch.eye(dim, dtype=self.means.dtype, device=self.means.device)
            inverse = torch.linalg.solve_triangular(
                self.factor, eye.expand(k, dim, dim), upper=False
            )
            stacked = self.means.new_zeros(dim + 1, k, dim + 1)
            stacked[:dim, :, :dim] = inverse.permute(2, 0, 1)  # [i, k, j] = (L_k^{-1})_{ji}
            stacked[dim, :, :dim] = -torch.einsum("kij,kj->ki", inverse, self.means)
            stacked[dim, :, dim] = 1.0
            self.stacked = stacked.reshape(dim + 1, k * (dim + 1))
            self.half_log_det = torch.log(torch.diagonal(self.factor, dim1=1, dim2=2)).sum(1)
        else:
            if bool((params.covariances <= 0).any()):
                raise ValueError(
                    "a component variance is not positive; add a covariance floor (reg_covar)."
                )
            std = params.covariances.sqrt()
            self.std = std if kind == "diag" else std[:, None]
            self.half_log_det = (
                torch.log(self.std).sum(1) if kind == "diag" else dim * torch.log(std)
            )
            # In float64 a diagonal Mahalanobis distance is expanded into matrix products,
            # sum_d x_d^2/s_kd - 2 x_d mu_kd/s_kd + mu_kd^2/s_kd (the data are centred, so no
            # digits are lost); float32 keeps the exact differences.
            self.expand = params.means.dtype == torch.float64
            self.precision = (1.0 / self.std**2).expand(k, dim)  # (K, D)
            self.mean_term = (self.means**2 * self.precision).sum(1)
        self.log_norm = -self.half_log_det - 0.5 * dim * LOG_2PI
        self.log_weights = torch.log(params.weights)

    def _expanded_mahalanobis(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K) diagonal Mahalanobis distances by three matrix products."""
        linear = torch.addmm(self.mean_term, x, (self.means * self.precision).T, alpha=-2.0)
        return torch.addmm(linear, x * x, self.precision.T)

    def _whiten(self, x: torch.Tensor) -> torch.Tensor:
        """Whitened chunk: (B, K, D + 1) with a trailing 1 for "full", else (B, K, D)."""
        if self.kind == "full":
            extended = torch.cat([x, x.new_ones(x.shape[0], 1)], 1)
            return (extended @ self.stacked).view(x.shape[0], len(self.means), -1)
        return (x[:, None, :] - self.means) / self.std

    def _log_joint(self, y: torch.Tensor) -> torch.Tensor:
        # One fused pass for |y|^2 (vector_norm), instead of a product and a sum.
        squared = torch.linalg.vector_norm(y, dim=-1) ** 2
        if self.kind == "full":
            squared = squared - 1.0  # the trailing 1
        return self.log_weights + self.log_norm - 0.5 * squared

    def log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """log pi_k + log N(x_n; mu_k, Sigma_k) for a chunk x (B, D): shape (B, K)."""
        if self.kind != "full" and self.expand:
            return self.log_weights + self.log_norm - 0.5 * self._expanded_mahalanobis(x)
        return self._log_joint(self._whiten(x))

    def statistics(self, x: torch.Tensor):
        """E-step on a chunk x (B, D) and its M-step sums in whitened coordinates.

        Returns
        -------
        log_px : (B,) log p(x_n)
        resp : (B, K) responsibilities
        sums : (K, D + 1, D + 1) for "full" (see the class); else (N_k (K,), sum r y (K, D),
            sum r y^2 (K, D)), or (N_k, sum r x, sum r x^2) when the distances are expanded
        """
        if self.kind != "full" and self.expand:
            log_joint = self.log_joint(x)
            log_px = torch.logsumexp(log_joint, 1)
            resp = torch.exp(log_joint - log_px[:, None])
            return log_px, resp, (resp.sum(0), resp.T @ x, resp.T @ (x * x))
        y = self._whiten(x)
        log_joint = self._log_joint(y)
        log_px = torch.logsumexp(log_joint, 1)
        resp = torch.exp(log_joint - log_px[:, None])
        weighted = y * resp[:, :, None]
        if self.kind == "full":
            batch, k, width = y.shape
            if k * width <= 64:  # tiny blocks (e.g. RGB colours): one plain product is faster
                gram = weighted.reshape(batch, -1).T @ y.reshape(batch, -1)
                blocks = gram.view(k, width, k, width).diagonal(dim1=0, dim2=2)
                return log_px, resp, blocks.permute(2, 0, 1)
            # (K, D+1, B) @ (K, B, D+1): one batched product for all the sums.
            return log_px, resp, torch.einsum("bki,bkj->kij", weighted, y)
        return log_px, resp, (resp.sum(0), weighted.sum(0), (weighted * y).sum(0))

    def unwhiten(self, sums) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Back to data units: N_k (K,), sum r (x - mu) (K, D) and sum r (x - mu)(x - mu)^T
        ((K, D, D) for "full", its diagonal (K, D) otherwise)."""
        if self.kind == "full":
            dim = sums.shape[1] - 1
            counts, first, second = sums[:, dim, dim], sums[:, :dim, dim], sums[:, :dim, :dim]
            first = torch.einsum("kij,kj->ki", self.factor, first)
            second = self.factor @ second @ self.factor.transpose(1, 2)
            return counts, first, second
        if self.expand:  # the sums are N_k, sum r x, sum r x^2 (see statistics)
            counts, sum_x, sum_xx = sums
            first = sum_x - counts[:, None] * self.means
            second = sum_xx - 2 * self.means * sum_x + counts[:, None] * self.means**2
            return counts, first, second
        counts, first, second = sums
        return counts, first * self.std, second * self.std**2


class _Pruner:
    r"""log pi_k + log N(x_n; mu_k, Sigma_k), computed only where it can matter.

    Whitening every point against every component costs N K D^2. But once components
    separate, a point has a non-negligible responsibility for one or two of them, and cheap
    *lower bounds* on the Mahalanobis distance :math:`m_{nk} = \lVert y_{nk}\rVert^2`,
    :math:`y_{nk} = L_k^{-1}(x_n-\mu_k)`, find the others without whitening:

    * :math:`L_k^{-1}` is lower triangular, so the first s whitened coordinates need only the
      first s coordinates of x, and :math:`\sum_{i \le s} y_{nki}^2 \le m_{nk}`
      (cost N K s^2, with s = 16 and the coordinates that separate the means put first);
    * :math:`m_{nk} \ge \lVert x_n-\mu_k\rVert^2 / \lambda_{\max}(\Sigma_k)` (cost N K D).

    With the larger bound b, the log-joint is at most :math:`u_{nk} = a_k - b_{nk}/2`
    (:math:`a_k = \log\pi_k - \tfrac12\log|\Sigma_k| - \tfrac D2\log 2\pi`). Then:

    1. each point is whitened against its most promising component (largest u): ``best``;
    2. and against every other component with ``u >= best - 40``;
    3. the rest are provably more than 40 nats (a factor 4e-18) below the point's best: they
       get -inf, a responsibility that float64 could not even add to the others.

    The result equals dense whitening up to rounding; the cost falls from N K D^2 towards
    N D^2 as the components separate, and stays near N K D^2 when they overlap.
    """

    PREFIX = 16

    def __init__(self, params: _Params) -> None:
        k, dim = params.means.shape
        # The coordinates along which the means differ most go first: the prefix bound
        # then sees most of the distance between components. (A permutation of the
        # coordinates changes no density.)
        self.order = torch.argsort(params.means.var(0), descending=True) if k > 1 else None
        means, cov = params.means, params.covariances
        if self.order is not None:
            means = means[:, self.order]
            cov = cov[:, self.order][:, :, self.order]
        factor = cholesky(cov, "a component covariance")
        eye = torch.eye(dim, dtype=means.dtype, device=means.device)
        # L_k^{-T}: a row (x - mu_k) times it is the whitened row y_k.
        self.inverse_t = torch.linalg.solve_triangular(
            factor, eye.expand(k, dim, dim), upper=False
        ).transpose(1, 2)
        self.means = means
        self.whitened_means = torch.einsum("ki,kij->kj", means, self.inverse_t)
        self.offset = (
            torch.log(params.weights)
            - torch.log(torch.diagonal(factor, dim1=1, dim2=2)).sum(1)
            - 0.5 * dim * LOG_2PI
        )
        self.largest_variance = torch.linalg.eigvalsh(cov)[:, -1]
        self.mean_variance = torch.diagonal(cov, dim1=1, dim2=2).mean(1)
        self.stacked = self.inverse_t.permute(1, 0, 2).reshape(dim, k * dim)
        self.negative_whitened_means = -self.whitened_means.reshape(-1)
        s = min(dim, self.PREFIX)
        prefix = self.inverse_t[:, :s, :s]  # (K, s, s)
        self.prefix_stacked = prefix.permute(1, 0, 2).reshape(s, k * s)
        self.prefix_offset = torch.einsum("ki,kij->kj", means[:, :s], prefix)
        self.negative_prefix_offset = -self.prefix_offset.reshape(-1)
        self.mean_norms = (means**2).sum(1)

    def _euclid_bound(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For the (permuted) chunk x (B, D): the bound u (B, K) from
        m >= |x - mu_k|^2 / lambda_max, and a guess of the log-joint from m ~ |x - mu_k|^2 /
        (mean variance), which picks the component to whiten first (a broad component has the
        highest *bound* for every point, but rarely the highest log-joint)."""
        x_norms = torch.linalg.vector_norm(x, dim=1, keepdim=True).square_()
        squared = torch.addmm(self.mean_norms, x, self.means.T, alpha=-2.0).add_(x_norms)
        guess = (squared / self.mean_variance).mul_(-0.5).add_(self.offset)
        # A rounding margin keeps the bound a bound (|x - mu|^2 is computed by expansion).
        margin = (x_norms + self.mean_norms).mul_(64 * torch.finfo(x.dtype).eps)
        lower = squared.sub_(margin).div_(self.largest_variance).clamp_min_(0)
        return lower.mul_(-0.5).add_(self.offset), guess

    def _prefix_bound(self, x: torch.Tensor) -> torch.Tensor:
        """u (B, K) from m >= |first s whitened coordinates|^2."""
        k, s = self.prefix_offset.shape
        y = torch.addmm(self.negative_prefix_offset, x[:, :s], self.prefix_stacked)
        lower = torch.linalg.vector_norm(y.view(len(x), k, s), dim=-1).square_()
        lower = lower.mul_(1 - 1e-9).sub_(1e-9).clamp_min_(0)  # rounding margin
        return lower.mul_(-0.5).add_(self.offset)

    def _whiten_pairs(self, x: torch.Tensor, pairs: torch.Tensor, log_joint: torch.Tensor) -> None:
        """Fill log_joint[n, k] exactly for the (point, component) pairs marked in ``pairs``."""
        # One product per component over its own points: the cost is the number of pairs
        # times D^2 however unevenly they fall (a padded batch would cost K times the
        # largest group, which a broad component can make the whole chunk).
        for k, rows in _rows_by_component(pairs):
            y = torch.addmm(-self.whitened_means[k], x[rows], self.inverse_t[k])
            log_joint[rows, k] = self.offset[k] - 0.5 * torch.linalg.vector_norm(y, dim=1).square_()

    def _dense(self, x: torch.Tensor) -> torch.Tensor:
        """Every pair, as one product: for chunks where the bound rules out little."""
        k, dim = self.means.shape
        y = torch.addmm(self.negative_whitened_means, x, self.stacked).view(len(x), k, dim)
        return self.offset - 0.5 * torch.linalg.vector_norm(y, dim=-1).square_()

    def log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K) log-joints of a chunk x (B, D); -inf where provably negligible."""
        if self.order is not None:
            x = x[:, self.order]
        bound, guess = self._euclid_bound(x)
        log_joint = torch.full_like(bound, -math.inf)
        # 1. Every point against its most promising component.
        promising = guess.argmax(1)
        first = torch.zeros_like(bound, dtype=torch.bool)
        first[torch.arange(len(x), device=x.device), promising] = True
        self._whiten_pairs(x, first, log_joint)
        # 2. Against the other components that the bound cannot rule out.
        best = log_joint.gather(1, promising[:, None])
        candidates = (bound >= best - _PRUNE_NATS) & ~first
        if int(candidates.sum()) > len(x) // 4:  # worth a second, tighter bound
            bound = torch.minimum(bound, self._prefix_bound(x))
            candidates = (bound >= best - _PRUNE_NATS) & ~first
        if int(candidates.sum()) > bound.numel() // 3:  # little to skip: one big product
            return self._dense(x)
        self._whiten_pairs(x, candidates, log_joint)
        return log_joint


def _rows_by_component(pairs: torch.Tensor):
    """(k, rows) for each component k with marked rows in the bool (N, K) matrix ``pairs``."""
    components, rows = torch.nonzero(pairs.T, as_tuple=True)  # sorted by component
    counts = torch.bincount(components, minlength=pairs.shape[1]).tolist()
    for k, rows_k in enumerate(torch.split(rows, counts)):
        if len(rows_k):
            yield k, rows_k


def _truncated_m_sums(
    x: torch.Tensor, resp: torch.Tensor, means: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """N_k, sum r (x - mu_k) and sum r (x - mu_k)(x - mu_k)^T, each component over its points.

    Only the points with a non-negligible responsibility enter (see ``_RESP_FLOOR``): once
    the components separate, each point matters to one or two of them and the M-step costs
    about N D^2 instead of K N D^2.
    """
    counts = resp.sum(0)
    k, dim = means.shape
    first = x.new_zeros(k, dim)
    second = x.new_zeros(k, dim, dim)
    for j, rows in _rows_by_component(resp > _RESP_FLOOR * resp.max(0).values):
        points = x[rows] - means[j]  # centred on the old means
        weighted = points * resp[rows, j, None]
        first[j] = weighted.sum(0)
        second[j] = weighted.T @ points
    return counts, first, second


# --------------------------------------------------------------------------- robust scores


def _centred(x: torch.Tensor, shift: torch.Tensor, name: str) -> torch.Tensor:
    """``x - shift``, refused if it leaves the float range (values near the largest float
    on the other side of the model's centre)."""
    centred = x - shift
    if not bool(torch.isfinite(centred).all()):
        raise ValueError(
            f"{name} has values so far from the model's centre that their difference to it "
            f"overflows {x.dtype}; rescale {name} (and refit on the same scale)."
        )
    return centred


def _combine(
    offset: torch.Tensor, half: torch.Tensor, scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-sum-exp, softmax and argmax over k of ``offset_k - half_nk * scale_n**2``.

    For points astronomically far from every component, whose log-joints are below the float
    range: ``half`` (N, K) is half the Mahalanobis distance divided by ``scale**2`` (a power
    of two per row), finite. The differences between components are formed before the
    scaling back, so the responsibilities come out right (one-hot, as the exact ones are)
    and never NaN; the log-density is ``-inf`` when it is below the float range.

    Returns
    -------
    log_p : (N,), responsibilities : (N, K), best : (N,) int64
    """
    s = scale[:, None]
    offset = offset.expand_as(half)
    best = (offset / s / s - half).argmax(1, keepdim=True)  # the largest log-joint / s^2
    half_best, offset_best = half.gather(1, best), offset.gather(1, best)
    gap = (offset - offset_best) - ((half - half_best) * s) * s
    # inf - inf (a component without weight, or two beyond the range): no contribution.
    gap = torch.where(torch.isnan(gap), -math.inf, gap).scatter(1, best, 0.0)
    total = torch.logsumexp(gap, 1)
    log_p = offset_best[:, 0] - (half_best[:, 0] * scale) * scale + total
    return log_p, torch.exp(gap - total[:, None]), best[:, 0]


def _mixture_scores(
    log_joint: torch.Tensor, x: torch.Tensor, far_terms: Callable, what: str
) -> torch.Tensor:
    """From the log-joints (N, K): ``what`` = "log_p" (N,), "resp" (responsibilities, (N, K))
    or "best" (the most responsible k, (N,)). Rows where the log-joints overflowed (no
    finite entry, or NaN from inf - inf) are recomputed from ``far_terms(rows of x) ->
    (offset, half, scale)`` (see _combine)."""
    log_p = torch.logsumexp(log_joint, 1)
    result = {
        "log_p": lambda: log_p,
        "resp": lambda: torch.softmax(log_joint, 1),
        "best": lambda: log_joint.argmax(1),
    }[what]()
    bad = ~torch.isfinite(log_p)  # NaN anywhere in a row makes its log_p NaN
    if bool(bad.any()):
        rows = torch.nonzero(bad).flatten()
        far = dict(zip(("log_p", "resp", "best"), _combine(*far_terms(x[rows]))))
        result = result.clone()
        result[rows] = far[what]
    return result


# --------------------------------------------------------------------------- the mixture


class GaussianMixture:
    """A Gaussian mixture model fitted by expectation-maximisation (scikit-learn's face).

    Parameters
    ----------
    n_components : int
        Number of Gaussians K.
    covariance_type : {"full", "diag", "spherical"}
        Each component's covariance: a full matrix, a diagonal, or one variance.
    max_iter : int
        Most EM iterations per run.
    tol : float
        Stop when the mean log-likelihood gains less than ``tol`` in one iteration.
    reg_covar : float
        Added to the diagonal of every covariance after each M-step (a covariance floor):
        without it a component can collapse on one point, where the likelihood is infinite.
    init : {"kmeans++", "random"}
        Starting parameters: "kmeans++" runs a few k-means iterations from k-means++ seeds and
        takes each cluster's weight, mean and covariance; "random" puts the means on K random
        data points, every covariance equal to the data's, equal weights.
    n_init : int
        Runs from different starts; the one with the highest final log-likelihood is kept.
    seed : int, optional
        Seeds the initialisation (same seed, same fit on the same device).
    device : torch.device or str, optional
        Where EM runs; default ``get_device()``.
    dtype : torch.dtype
        float64 (default) or float32 (faster on a GPU, less accurate).
    progress : bool
        Show a progress bar over the EM iterations.

    Attributes
    ----------
    weights_ : (K,)
    means_ : (K, D)
    covariances_ : (K, D, D) full, (K, D) diag, (K,) spherical
    converged_ : bool
    n_iter_ : int
        EM iterations of the kept run.
    history_ : list of float
        Mean log-likelihood of the data after each iteration; ``history_[-1]`` is
        ``score(X)`` of the fitted model. It never decreases (beyond rounding): a step that
        the covariance floor would make lower the likelihood ends EM (``converged_`` True)
        with the better parameters kept.
    lower_bound_ : float
        ``history_[-1]``.
    n_features_in_ : int

    Fitted attributes and every returned array have the type of the data given to ``fit``
    (numpy in, numpy out; a tensor in, tensors out).

    Examples
    --------
    >>> gmm = GaussianMixture(3, seed=0).fit(X)          # X: (N, 2)
    >>> new_points, components = gmm.sample(100, seed=1)
    >>> filled = gmm.inpaint(X_damaged, mask)             # mask True where observed
    """

    def __init__(
        self,
        n_components: int,
        covariance_type: str = "full",
        max_iter: int = 100,
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        init: str = "kmeans++",
        n_init: int = 1,
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
        *,
        progress: bool = False,
    ) -> None:
        self.n_components = check_int(n_components, "n_components", min_value=1)
        self.covariance_type = check_one_of(covariance_type, "covariance_type", COVARIANCE_TYPES)
        self.max_iter = check_int(max_iter, "max_iter", min_value=1)
        self.tol = check_positive(tol, "tol", strict=False)
        self.reg_covar = check_positive(reg_covar, "reg_covar", strict=False)
        self.init = check_one_of(init, "init", INITS)
        self.n_init = check_int(n_init, "n_init", min_value=1)
        self.seed = check_seed(seed, "seed")
        self.device = resolve_device(device)
        self.dtype = _check_dtype(dtype)
        self.progress = bool(progress)

    # -- checks ------------------------------------------------------------------------------

    def _check_fit_data(self, X: Any) -> torch.Tensor:
        check_array(X, "X", ndim=2, kinds="fiu")
        if X.shape[0] < self.n_components:
            raise ValueError(
                f"n_components={self.n_components} is larger than the number of samples "
                f"N={X.shape[0]}; use at most N components."
            )
        return to_model_tensor(X, "X", self.dtype, self.device)

    def _check_fitted(self) -> None:
        if not hasattr(self, "_params"):
            raise NotFittedError(
                "This GaussianMixture is not fitted yet; call fit(X) or from_parameters first."
            )

    def _data(self, X: Any, name: str = "X") -> torch.Tensor:
        """``X`` checked against the fitted model, as a tensor centred like the parameters."""
        self._check_fitted()
        x = to_model_tensor(X, name, self.dtype, self.device)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {x.shape[1]} columns but the model was fitted on "
                f"{self.n_features_in_} features."
            )
        return _centred(x, self._shift, name)

    def _check_init_params(
        self, init_params: Any, dim: int, prefix: str = "init_params"
    ) -> _Params:
        """Check starting (or given) parameters; ``prefix`` names them in messages:
        ``init_params['means']`` for ``fit``, plain ``means`` for ``from_parameters``."""
        keys = ("weights", "means", "covariances")
        if not isinstance(init_params, Mapping):
            raise TypeError(
                "init_params must be a dict with 'weights', 'means' and 'covariances', got "
                f"{type(init_params).__name__}."
            )
        missing = set(keys) - set(init_params)
        if missing:
            raise ValueError(f"init_params lacks {sorted(missing)}.")
        unknown = set(init_params) - set(keys)
        if unknown:  # e.g. 'precisions' would be silently ignored
            raise ValueError(
                f"init_params has unknown keys {sorted(map(str, unknown))}; it takes only "
                "'weights', 'means' and 'covariances' (covariances, not precisions)."
            )

        def label(key: str) -> str:
            return f"{prefix}['{key}']" if prefix else key

        k = self.n_components
        cov_shape = {"full": (k, dim, dim), "diag": (k, dim), "spherical": (k,)}
        checked = {
            "weights": check_array(
                init_params["weights"], label("weights"), shape=(k,), kinds="fiu"
            ),
            "means": check_array(init_params["means"], label("means"), shape=(k, dim), kinds="fiu"),
            "covariances": check_array(
                init_params["covariances"],
                label("covariances"),
                shape=cov_shape[self.covariance_type],
                kinds="fiu",
            ),
        }
        if self.covariance_type == "full":
            check_covariance(checked["covariances"], label("covariances"), batched=True)
        else:
            values = as_tensor(checked["covariances"], dtype=torch.float64, device="cpu")
            bad = torch.nonzero((values <= 0).reshape(k, -1).any(1)).flatten()
            if len(bad):
                raise ValueError(
                    f"{label('covariances')} must be > 0 (variances), but component "
                    f"{int(bad[0])} has a variance <= 0."
                )
        tensors = {}
        for name, value in checked.items():
            tensors[name] = as_tensor(value, dtype=self.dtype, device=self.device)
            check_representable(tensors[name], value, label(name))
        params = _Params(**tensors)
        if self.covariance_type == "full":  # symmetric to 1e-8: average the triangles
            params.covariances = 0.5 * params.covariances + 0.5 * params.covariances.transpose(1, 2)
        if bool((params.weights < 0).any()) or abs(float(params.weights.sum()) - 1) > 1e-6:
            raise ValueError(f"{label('weights')} must be non-negative and sum to 1.")
        _Whitener(params, self.covariance_type)  # fails now if a covariance is not valid
        return params

    # -- fitting -----------------------------------------------------------------------------

    def fit(
        self,
        X: ArrayLike,
        init_params: Mapping[str, ArrayLike] | None = None,
        *,
        callback: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> GaussianMixture:
        """Fit the mixture to the rows of ``X`` by EM.

        Parameters
        ----------
        X : array or Tensor, shape (N, D)
        init_params : dict, optional
            Start from ``weights`` (K,), ``means`` (K, D) and ``covariances`` (storage shape
            of ``covariance_type``) instead of the ``init`` method (then ``n_init`` is 1).
        callback : callable, optional
            ``callback(iteration, state)`` after the start (iteration 0) and after every EM
            iteration of every run; ``state`` holds NumPy copies of ``weights``, ``means``,
            ``covariances``, ``responsibilities`` (N, K) and the mean ``log_likelihood``, all
            of the parameters at that iteration. Used to draw EM step by step.

        Returns
        -------
        self

        Raises
        ------
        TypeError, ValueError
            Bad ``X`` (NaN, wrong shape, fewer rows than components, values whose
            covariances the float type cannot hold, e.g. 1e160), bad ``init_params`` (a
            covariance not symmetric positive definite, weights not summing to 1, unknown
            keys) or a ``callback`` that is not callable: all before any work. During EM, a
            component that collapses without a floor (``reg_covar`` = 0).
        """
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None, got {type(callback).__name__}.")
        x = self._check_fit_data(X)
        start = None if init_params is None else self._check_init_params(init_params, x.shape[1])
        # EM runs on centred data divided by a power of two (exact): products like
        # x @ L^{-T} then lose no digits when the data sit far from the origin, and no sum of
        # squares overflows or underflows for extreme magnitudes (1e150, 1e-200).
        x, shift, scale = standardize(x, self.reg_covar, "X")
        reg = self.reg_covar / scale**2
        units = (shift, scale, -x.shape[1] * math.log(scale))
        if start is not None:
            start = self._scaled_start(start, shift, scale)
        generator = make_generator(self.seed)
        best = None
        for _ in range(1 if start is not None else self.n_init):
            params = start if start is not None else self._initialize(x, generator, reg)
            params, history, converged = self._run_em(x, params, units, callback, reg)
            if best is None or history[-1] > best[1][-1]:
                best = (params, history, converged)
        params, history, converged = best
        params = _Params(params.weights, params.means * scale, params.covariances * scale**2)
        if not converged and self.tol > 0:
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations (tol={self.tol}); "
                "raise max_iter or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._store(params, shift, numpy=not isinstance(X, torch.Tensor))
        self.history_ = history
        self.lower_bound_ = history[-1]
        self.n_iter_ = len(history)
        self.converged_ = converged
        return self

    def _scaled_start(self, start: _Params, shift: torch.Tensor, scale: float) -> _Params:
        """Starting parameters in the units EM works in: (means - shift) / scale, covariances
        / scale**2; refused if that leaves the float range (absurdly out of scale with X)."""
        scaled = _Params(start.weights, (start.means - shift) / scale, start.covariances / scale**2)
        values = scaled.covariances
        if self.covariance_type == "full":
            values = torch.diagonal(values, dim1=1, dim2=2)
        if (
            not bool(torch.isfinite(scaled.means).all())
            or not bool(torch.isfinite(values).all())
            or not bool((values > 0).all())
            or (
                self.covariance_type == "full"
                and bool(_singular_matrices(scaled.covariances)[1].any())
            )
        ):
            raise ValueError(
                "init_params['covariances'] and ['means'] are too far out of scale with X "
                f"(spread about {scale:.3g}) for {self.dtype}; give a start in the units of X."
            )
        return scaled

    def _initialize(self, x: torch.Tensor, generator: torch.Generator, reg: float) -> _Params:
        n, dim = x.shape
        k = self.n_components
        if self.init == "random":
            picks = torch.randperm(n, generator=generator)[:k].to(self.device)
            cov = x.T @ x / n + reg * torch.eye(dim, dtype=x.dtype, device=x.device)
            covariances = {
                "full": cov.expand(k, dim, dim).clone(),
                "diag": torch.diagonal(cov).expand(k, dim).clone(),
                "spherical": torch.diagonal(cov).mean().expand(k).clone(),
            }[self.covariance_type]
            weights = torch.full((k,), 1.0 / k, dtype=x.dtype, device=x.device)
            return _Params(weights, x[picks].clone(), covariances)
        _, labels = kmeans(x, k, generator)
        resp = torch.nn.functional.one_hot(labels, k).to(x.dtype)
        return self._m_step_from_responsibilities(x, resp, reg)

    def _m_step_from_responsibilities(
        self, x: torch.Tensor, resp: torch.Tensor, reg: float
    ) -> _Params:
        """The M-step from explicit responsibilities (N, K) (used to start from k-means)."""
        counts = resp.sum(0)
        means = resp.T @ x / (counts + _TINY)[:, None]
        if self.covariance_type == "full":
            # One component at a time, only its own points (hard k-means labels).
            counts, first, second = _truncated_m_sums(x, resp, means)
        else:  # the diagonal of sum r (x - mu)^2, expanded into products
            first = torch.zeros_like(means)
            second = resp.T @ (x * x) - means**2 * counts[:, None]
        return self._m_step(
            _Params(counts / counts.sum(), means, None), (counts, first, second), reg
        )

    def _covariances(self, centred_second: torch.Tensor, reg: float) -> torch.Tensor:
        """Storage-form covariances from sum r (x-mu)(x-mu)^T / N_k, plus the floor ``reg``
        (``reg_covar`` in the units EM works in)."""
        if self.covariance_type == "full":
            eye = torch.eye(centred_second.shape[-1], dtype=self.dtype, device=self.device)
            return centred_second + reg * eye
        if self.covariance_type == "diag":
            return centred_second + reg
        return centred_second.mean(1) + reg

    def _statistics(self, x: torch.Tensor, params: _Params, keep_resp: bool = False):
        """One pass over the data: the E-step and the sufficient statistics of the M-step.

        Returns
        -------
        log_likelihood : float, mean over the rows
        stats : (N_k (K,), sum r (x - mu) (K, D), sum r (x - mu)(x - mu)^T in storage form)
        resp : (N, K) responsibilities when ``keep_resp``, else None
        """
        k, dim = params.means.shape
        if self._uses_pruning(dim):
            return self._pruned_statistics(x, params)
        whitener = _Whitener(params, self.covariance_type)
        total, sums, kept = 0.0, None, []
        # Memory per row: the (K, D + 1) whitened block, or only K + D when diagonal
        # distances are expanded into products.
        per_row = k + 2 * dim if whitener.expand else k * (dim + 1)
        for rows in _chunks(x.shape[0], per_row):
            log_px, resp, chunk_sums = whitener.statistics(x[rows])
            total += float(log_px.sum())
            if sums is None:
                sums = chunk_sums
            elif self.covariance_type == "full":
                sums += chunk_sums
            else:
                sums = tuple(a + b for a, b in zip(sums, chunk_sums))
            if keep_resp:
                kept.append(resp)
        resp_all = torch.cat(kept) if keep_resp else None
        return total / x.shape[0], whitener.unwhiten(sums), resp_all

    def _uses_pruning(self, dim: int) -> bool:
        # Below ~16 dimensions a whitening costs less than the bookkeeping that avoids it.
        return (
            PRUNE_ON_CPU
            and self.covariance_type == "full"
            and self.device.type == "cpu"
            and dim >= _Pruner.PREFIX
        )

    def _pruned_statistics(self, x: torch.Tensor, params: _Params):
        """As :meth:`_statistics`, with the pruned E-step and the truncated M-step sums."""
        pruner = _Pruner(params)
        log_joint = torch.cat(
            [
                pruner.log_joint(x[rows])
                for rows in _chunks(x.shape[0], params.means.shape[0] * _Pruner.PREFIX)
            ]
        )
        log_px = torch.logsumexp(log_joint, 1)
        resp = torch.exp(log_joint - log_px[:, None])
        sums = _truncated_m_sums(x, resp, params.means)
        return float(log_px.sum()) / x.shape[0], sums, resp

    def _m_step(self, params: _Params, stats, reg: float) -> _Params:
        counts, first, second = stats
        counts = counts + _TINY
        shift = first / counts[:, None]  # new mean minus old mean
        if self.covariance_type == "full":
            centred = second / counts[:, None, None] - shift[:, :, None] * shift[:, None, :]
            # Symmetrise: L S L^T is symmetric only up to rounding, Cholesky needs it exactly.
            centred = 0.5 * (centred + centred.transpose(1, 2))
        else:
            centred = second / counts[:, None] - shift**2
        return _Params(counts / counts.sum(), params.means + shift, self._covariances(centred, reg))

    def _run_em(self, x, params, units, callback, reg):
        """EM from ``params`` on the scaled data ``x``; ``units = (shift, scale, offset)``
        map back to the units of X (the log-likelihood there is the scaled one + offset)."""
        keep_resp = callback is not None
        offset = units[2]
        log_likelihood, stats, resp = self._statistics(x, params, keep_resp)
        log_likelihood += offset
        if callback is not None:
            callback(0, self._state(params, units, resp, log_likelihood))
        history: list[float] = []
        converged = False
        for iteration in _progress(range(1, self.max_iter + 1), self.progress, "EM"):
            new_params = self._m_step(params, stats, reg)
            new_log_likelihood, new_stats, resp = self._statistics(x, new_params, keep_resp)
            new_log_likelihood += offset
            if history and _floor_lowered(new_log_likelihood, log_likelihood):
                converged = True  # the covariance floor's fixed point: keep the better fit
                break
            gain = new_log_likelihood - log_likelihood
            params, stats, log_likelihood = new_params, new_stats, new_log_likelihood
            history.append(log_likelihood)
            if callback is not None:
                callback(iteration, self._state(params, units, resp, log_likelihood))
            if abs(gain) < self.tol:
                converged = True
                break
        return params, history, converged

    @staticmethod
    def _state(params: _Params, units, resp, log_likelihood) -> dict[str, Any]:
        shift, scale, _ = units
        return {
            "weights": params.weights.cpu().numpy().copy(),
            "means": (params.means * scale + shift).cpu().numpy(),
            "covariances": (params.covariances * scale**2).cpu().numpy().copy(),
            "responsibilities": None if resp is None else resp.cpu().numpy(),
            "log_likelihood": log_likelihood,
        }

    def _store(self, params: _Params, shift: torch.Tensor, numpy: bool) -> None:
        self._params, self._shift, self._numpy = params, shift, numpy
        self._whitener = _Whitener(params, self.covariance_type)
        out = (lambda t: t.detach().cpu().numpy()) if numpy else (lambda t: t.detach())
        self.weights_ = out(params.weights)
        self.means_ = out(params.means + shift)
        self.covariances_ = out(params.covariances)
        self.n_features_in_ = int(params.means.shape[1])

    @classmethod
    def from_parameters(
        cls,
        weights: ArrayLike,
        means: ArrayLike,
        covariances: ArrayLike,
        covariance_type: str = "full",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> GaussianMixture:
        """A mixture with given parameters, without fitting (e.g. a known "true" mixture).

        ``weights`` (K,), ``means`` (K, D), ``covariances`` in the storage shape of
        ``covariance_type``; attributes and outputs take the type of ``means``.
        """
        check_array(means, "means", ndim=2, kinds="fiu")
        k, dim = means.shape
        model = cls(k, covariance_type, device=device, dtype=dtype)
        expected = {"full": (k, dim, dim), "diag": (k, dim), "spherical": (k,)}
        for name, value, shape in (
            ("weights", weights, (k,)),
            ("covariances", covariances, expected[model.covariance_type]),
        ):
            if isinstance(value, np.ndarray | torch.Tensor) and tuple(value.shape) != shape:
                raise ValueError(
                    f"{name} must have shape {shape} to match means (K={k} components in "
                    f"D={dim} dimensions, covariance_type={model.covariance_type!r}), got "
                    f"shape {tuple(value.shape)}."
                )
        params = model._check_init_params(
            {"weights": weights, "means": means, "covariances": covariances},
            means.shape[1],
            prefix="",
        )
        shift = params.means.mean(0)
        model._store(replace(params, means=params.means - shift), shift, not _is_tensor(means))
        model.history_, model.n_iter_, model.converged_ = [], 0, True
        return model

    # -- densities and assignments -----------------------------------------------------------

    def _log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """log pi_k + log N(x_n; mu_k, Sigma_k) for centred rows x: (N, K)."""
        k, dim = self._params.means.shape
        per_row = k + 2 * dim if self._whitener.expand else k * (dim + 1)
        parts = [self._whitener.log_joint(x[rows]) for rows in _chunks(x.shape[0], per_row)]
        return torch.cat(parts)

    def _far_terms(self, x: torch.Tensor):
        """(offset (K,), half (R, K), scale (R,)) of centred rows x (R, D), for _combine: the
        Mahalanobis distances from exact differences scaled by a power of two per row."""
        whitener = self._whitener
        diff, scale = scaled_differences(x, self._params.means, careful=True)  # (K, R, D)
        if self.covariance_type == "full":
            y = torch.linalg.solve_triangular(whitener.factor, diff.transpose(1, 2), upper=False)
            half = 0.5 * (y * y).sum(1).T
        else:
            y = diff / whitener.std[:, None, :]
            half = 0.5 * (y * y).sum(-1).T
        return whitener.log_weights + whitener.log_norm, half, scale

    def _scores(self, X: Any, what: str) -> torch.Tensor:
        """log p (N,), "resp"onsibilities (N, K) or "best" component (N,) of the rows of X."""
        x = self._data(X)
        return _mixture_scores(self._log_joint(x), x, self._far_terms, what)

    def score_samples(self, X: ArrayLike) -> ArrayLike:
        """Log-density log p(x) of each row of ``X`` (N, D): shape (N,).

        Raises ValueError for a row so far from every component that its log-density is
        below the float range.
        """
        return like(_refuse_underflow(self._scores(X, "log_p"), "X"), X)

    def score(self, X: ArrayLike) -> float:
        """Mean log-density of the rows of ``X`` (the average log-likelihood)."""
        return float(_refuse_underflow(self._scores(X, "log_p"), "X").mean())

    def predict_proba(self, X: ArrayLike) -> ArrayLike:
        """Responsibilities p(k | x) of each component for each row: shape (N, K).

        Right (and one-hot) also for points astronomically far from every component.
        """
        return like(self._scores(X, "resp"), X)

    def predict(self, X: ArrayLike) -> ArrayLike:
        """The most responsible component of each row: shape (N,), int64."""
        return like(self._scores(X, "best"), X)

    def _n_parameters(self) -> int:
        k, dim = self.n_components, self.n_features_in_
        per_covariance = {"full": dim * (dim + 1) // 2, "diag": dim, "spherical": 1}
        return k * per_covariance[self.covariance_type] + k * dim + k - 1

    def bic(self, X: ArrayLike) -> float:
        """Bayesian information criterion ``-2 log L + p log N`` (lower is better)."""
        n = self._data(X).shape[0]
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X: ArrayLike) -> float:
        """Akaike information criterion ``-2 log L + 2 p`` (lower is better)."""
        n = self._data(X).shape[0]
        return -2 * self.score(X) * n + 2 * self._n_parameters()

    # -- generation --------------------------------------------------------------------------

    def sample(
        self, n: int, *, seed: int | None = None, component: int | None = None
    ) -> tuple[ArrayLike, ArrayLike]:
        """Draw ``n`` points: a component k with probability pi_k, then x ~ N(mu_k, Sigma_k).

        Parameters
        ----------
        n : int
        seed : int, optional
        component : int, optional
            Draw every point from this one component instead.

        Returns
        -------
        X : shape (n, D)
        labels : shape (n,), int64: the component of each point
        """
        self._check_fitted()
        n = check_sample_count(n, self.n_features_in_)
        generator = make_generator(seed)
        params = self._params
        k, dim = params.means.shape
        if component is None:
            labels = torch.multinomial(
                params.weights.cpu(), n, replacement=True, generator=generator
            )
        else:
            component = check_int(component, "component", min_value=0)
            if component >= k:
                raise ValueError(f"component must be below n_components={k}, got {component}.")
            labels = torch.full((n,), component, dtype=torch.int64)
        z = torch.randn(n, dim, generator=generator, dtype=self.dtype).to(self.device)
        labels = labels.to(self.device)
        x = params.means[labels] + self._shift
        if self.covariance_type == "full":
            for j in torch.unique(labels).tolist():  # a loop over components, not points
                rows = labels == j
                x[rows] += z[rows] @ self._whitener.factor[j].T
        else:
            x += z * self._whitener.std[labels]
        check_finite_result(x, "the samples")
        if self._numpy:
            return x.cpu().numpy(), labels.cpu().numpy()
        return x, labels

    # -- completion --------------------------------------------------------------------------

    def _condition_on(self, x: torch.Tensor, observed: torch.Tensor):
        """Per mask pattern: rows, posterior p(k | x_o) (G, K), conditional means and covs."""
        params = self._params
        covariances = _full_covariances(
            params.covariances, self.covariance_type, self.n_features_in_
        )
        for pattern, rows in group_rows_by_mask(observed):
            if bool(pattern.all()):
                continue
            x_o = x[rows][:, pattern]
            cond_means, cond_covs, (half, log_norm, scale) = _condition(
                params.means, covariances, pattern, x_o, with_log_marginal=True
            )  # (K, G, |m|), (K, |m|, |m|), ((K, G), (K,), (G,))
            offset = log_norm + torch.log(params.weights)
            if scale is None:  # p(k | x_o) from the log-marginals log_norm_k - half_kg
                posterior = torch.softmax(offset - half.T, 1)
            else:
                # Observed values far out (1e300), where the log-marginals overflow: compare
                # the components before scaling back, for the right weights and no NaN.
                _, posterior, _ = _combine(offset, half.T, scale)
            yield pattern, rows, posterior, cond_means, cond_covs

    def inpaint(
        self, X: ArrayLike, mask: ArrayLike, *, return_posterior: bool = False
    ) -> ArrayLike | tuple[ArrayLike, ArrayLike]:
        """Fill the missing values with their conditional mean given the observed ones.

        With observed coordinates o and missing m,
        :math:`E[x_m | x_o] = \\sum_k p(k | x_o)\\, \\mu_{k, m|o}` where
        :math:`p(k | x_o) \\propto \\pi_k \\mathcal N(x_o; \\mu_{k,o}, \\Sigma_{k,oo})` and
        :math:`\\mu_{k,m|o} = \\mu_{k,m} + \\Sigma_{k,mo}\\Sigma_{k,oo}^{-1}(x_o - \\mu_{k,o})`.

        Parameters
        ----------
        X : shape (N, D)
            Values at missing positions are ignored (they may be NaN).
        mask : bool, shape (N, D) or (D,)
            True where a value is observed.
        return_posterior : bool
            Also return p(k | x_o), shape (N, K).

        Returns
        -------
        filled : shape (N, D)
            ``X`` where observed, the conditional mean where missing.
        posterior : shape (N, K), only with ``return_posterior``
        """
        self._check_fitted()
        raw, observed = check_inpaint_inputs(X, mask, self.n_features_in_, self.dtype, self.device)
        x = _centred(raw, self._shift, "X")
        filled = x.clone()
        complete = torch.where(observed, x, 0.0)
        posterior_all = _mixture_scores(
            self._log_joint(complete), complete, self._far_terms, "resp"
        )
        for pattern, rows, posterior, cond_means, _ in self._condition_on(x, observed):
            missing = (~pattern).nonzero().flatten()
            # A component without weight adds nothing, even where its mean overflowed.
            weighted = torch.where(posterior.T[:, :, None] > 0, cond_means, 0.0)
            filled[rows[:, None], missing[None]] = torch.einsum("gk,kgm->gm", posterior, weighted)
            posterior_all[rows] = posterior
        # Observed values come back untouched (adding the shift back would round them).
        filled = torch.where(observed, raw, filled + self._shift)
        check_finite_result(filled, "the conditional means")
        if return_posterior:
            return like(filled, X), like(posterior_all, X)
        return like(filled, X)

    def sample_conditional(
        self, X: ArrayLike, mask: ArrayLike, *, seed: int | None = None
    ) -> ArrayLike:
        """One random completion per row: k ~ p(k | x_o), then x_m ~ N(mu_{k,m|o}, Sigma_{k,m|o}).

        Same arguments as :meth:`inpaint`; returns shape (N, D) with the observed values kept.
        """
        self._check_fitted()
        raw, observed = check_inpaint_inputs(X, mask, self.n_features_in_, self.dtype, self.device)
        x = _centred(raw, self._shift, "X")
        generator = make_generator(seed)
        filled = x.clone()
        for pattern, rows, posterior, cond_means, cond_covs in self._condition_on(x, observed):
            missing = (~pattern).nonzero().flatten()
            picks = torch.multinomial(posterior.cpu(), 1, generator=generator)[:, 0]
            picks = picks.to(self.device)
            z = torch.randn(len(rows), len(missing), generator=generator, dtype=self.dtype)
            eye = torch.eye(len(missing), dtype=self.dtype, device=self.device)
            # The conditional covariance is a Schur complement: floor it like the model's own.
            factors = _factor(cond_covs + self.reg_covar * eye, "a conditional covariance")
            noise = torch.einsum("gij,gj->gi", factors[picks], z.to(self.device))
            chosen_means = cond_means[picks, torch.arange(len(rows), device=self.device)]
            filled[rows[:, None], missing[None]] = chosen_means + noise
        filled = torch.where(observed, raw, filled + self._shift)
        return like(check_finite_result(filled, "the completions"), X)


def _is_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


# --------------------------------------------------------------------------- factor analyzers


@dataclass
class _MFAParams:
    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, D)
    factors: torch.Tensor  # (K, D, q)   Lambda_k
    noise: torch.Tensor  # (K, D)      diagonal of Psi_k


class _FactorPrecomputed:
    """What every E-step needs of the parameters, via the Woodbury identity.

    With :math:`M_k = I + \\Lambda_k^\\top\\Psi_k^{-1}\\Lambda_k` (q × q):
    :math:`\\Sigma_k^{-1} = \\Psi_k^{-1} - \\Psi_k^{-1}\\Lambda_k M_k^{-1}\\Lambda_k^\\top
    \\Psi_k^{-1}` and :math:`\\log|\\Sigma_k| = \\log|M_k| + \\sum_d \\log\\psi_{kd}`. So the
    cost per point is O(D q), never O(D^2).
    """

    def __init__(self, params: _MFAParams) -> None:
        k, dim, q = params.factors.shape
        self.params = params
        self.inv_noise = 1.0 / params.noise  # (K, D)
        scaled = params.factors * self.inv_noise[:, :, None]  # Psi^{-1} Lambda (K, D, q)
        eye = torch.eye(q, dtype=params.means.dtype, device=params.means.device)
        self.m = eye + params.factors.transpose(1, 2) @ scaled  # (K, q, q)
        m_factor = cholesky(self.m, "I + Lambda^T Psi^-1 Lambda")
        # beta = M^{-1} Lambda^T Psi^{-1} (K, q, D): E[z | x, k] = beta (x - mu).
        self.beta = torch.cholesky_solve(scaled.transpose(1, 2), m_factor)
        self.m_inverse = torch.cholesky_inverse(m_factor)
        self.stacked_beta = self.beta.reshape(k * q, dim)
        self.beta_means = torch.einsum("kqd,kd->kq", self.beta, params.means)
        log_det = 2 * torch.log(torch.diagonal(m_factor, dim1=1, dim2=2)).sum(1)
        log_det = log_det + torch.log(params.noise).sum(1)
        self.log_norm = torch.log(params.weights) - 0.5 * (log_det + dim * LOG_2PI)
        self.mean_term = (params.means**2 * self.inv_noise).sum(1)  # (K,)

    def e_step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi_k + log N(x; mu_k, Sigma_k) (B, K) and E[z | x, k] (B, K, q) for a chunk."""
        k, _, q = self.params.factors.shape
        # (x - mu)^T Psi^{-1} (x - mu), expanded into products with all components at once.
        diagonal_term = (
            (x * x) @ self.inv_noise.T
            - 2 * x @ (self.params.means * self.inv_noise).T
            + self.mean_term
        )
        latent = (x @ self.stacked_beta.T).view(x.shape[0], k, q) - self.beta_means
        # (x-mu)^T Psi^-1 Lambda M^-1 Lambda^T Psi^-1 (x-mu) = E[z]^T M E[z].
        low_rank_term = (torch.einsum("bkq,kqr->bkr", latent, self.m) * latent).sum(-1)
        mahalanobis = (diagonal_term - low_rank_term).clamp_min(0)
        return self.log_norm - 0.5 * mahalanobis, latent


class MixtureOfFactorAnalyzers:
    """A mixture of factor analyzers (Ghahramani & Hinton 1996), fitted by EM.

    Component k generates :math:`x = \\mu_k + \\Lambda_k z + \\varepsilon` with
    :math:`z \\sim \\mathcal N(0, I_q)` and :math:`\\varepsilon \\sim \\mathcal N(0, \\Psi_k)`,
    :math:`\\Psi_k` diagonal: a Gaussian with covariance :math:`\\Lambda_k\\Lambda_k^\\top +
    \\Psi_k` that has only D(q + 2) parameters instead of D(D + 3)/2. Richardson & Weiss (2018,
    "On GANs and GMMs") showed such mixtures generate sharp images.

    Parameters
    ----------
    n_components : int
        K.
    n_factors : int
        q, the latent dimension of each component.
    max_iter, tol : int, float
        Stopping rule of EM, as in :class:`GaussianMixture`.
    noise_floor : float
        Smallest allowed noise variance psi (a pixel that never varies would otherwise get
        psi -> 0 and an infinite likelihood). It is a constraint of the M-step, not an
        addition, so EM stays exact and the likelihood never decreases.
    seed, device, dtype, progress
        As in :class:`GaussianMixture`.

    Attributes
    ----------
    weights_ : (K,)
    means_ : (K, D)
    factors_ : (K, D, q), the loadings Lambda_k
    noise_variances_ : (K, D), the diagonal of Psi_k
    history_ : list of float
        Mean log-likelihood after each EM iteration; it never decreases (the floor is a
        constraint, so each M-step is an exact maximisation).
    n_iter_, converged_, n_features_in_
    """

    def __init__(
        self,
        n_components: int,
        n_factors: int,
        max_iter: int = 100,
        tol: float = 1e-3,
        noise_floor: float = 1e-4,
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
        *,
        progress: bool = False,
    ) -> None:
        self.n_components = check_int(n_components, "n_components", min_value=1)
        self.n_factors = check_int(n_factors, "n_factors", min_value=1)
        self.max_iter = check_int(max_iter, "max_iter", min_value=1)
        self.tol = check_positive(tol, "tol", strict=False)
        self.noise_floor = check_positive(noise_floor, "noise_floor")
        self.seed = check_seed(seed, "seed")
        self.device = resolve_device(device)
        self.dtype = _check_dtype(dtype)
        self.progress = bool(progress)

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X: ArrayLike) -> MixtureOfFactorAnalyzers:
        """Fit by EM from a k-means start (each cluster's principal axes); returns self.

        ``X`` has shape (N, D) with ``n_factors < D`` and ``n_components <= N``.
        """
        check_array(X, "X", ndim=2, kinds="fiu")
        n, dim = X.shape
        if n < self.n_components:
            raise ValueError(
                f"n_components={self.n_components} is larger than the number of samples N={n}."
            )
        if self.n_factors >= dim:
            raise ValueError(
                f"n_factors={self.n_factors} must be below the data dimension D={dim}; with "
                "q >= D use GaussianMixture with full covariances."
            )
        x = to_model_tensor(X, "X", self.dtype, self.device)
        # EM on centred data divided by a power of two (exact), as in GaussianMixture.fit:
        # extreme magnitudes (1e150, 1e-200) neither overflow nor underflow.
        x, shift, scale = standardize(x, self.noise_floor, "X")
        floor = self.noise_floor / scale**2
        offset = -dim * math.log(scale)  # log-likelihoods in the units of X
        params = self._initialize(x, make_generator(self.seed), floor)
        log_likelihood, stats = self._statistics(x, params)
        log_likelihood += offset
        history: list[float] = []
        converged = False
        for _ in _progress(range(self.max_iter), self.progress, "MFA EM"):
            new_params = self._m_step(params, stats, floor)
            new_log_likelihood, new_stats = self._statistics(x, new_params)
            new_log_likelihood += offset
            if history and _floor_lowered(new_log_likelihood, log_likelihood):
                converged = True  # a guard only: exact EM cannot lower the likelihood
                break
            gain = new_log_likelihood - log_likelihood
            params, stats, log_likelihood = new_params, new_stats, new_log_likelihood
            history.append(log_likelihood)
            if abs(gain) < self.tol:
                converged = True
                break
        params = _MFAParams(
            params.weights, params.means * scale, params.factors * scale, params.noise * scale**2
        )
        self._store(params, shift, numpy=not isinstance(X, torch.Tensor))
        self.history_, self.n_iter_, self.converged_ = history, len(history), converged
        return self

    def _initialize(self, x: torch.Tensor, generator: torch.Generator, floor: float) -> _MFAParams:
        """k-means clusters, then in each the top-q principal axes (probabilistic PCA)."""
        k, q = self.n_components, self.n_factors
        dim = x.shape[1]
        _, labels = kmeans(x, k, generator)
        counts = torch.bincount(labels, minlength=k).to(self.dtype)
        means = torch.zeros(k, dim, dtype=self.dtype, device=self.device)
        factors = torch.zeros(k, dim, q, dtype=self.dtype, device=self.device)
        noise = torch.zeros(k, dim, dtype=self.dtype, device=self.device)
        overall = x.var(0, correction=0).clamp_min(floor)
        for j in range(k):  # a loop over components, once
            members = x[labels == j]
            if len(members) < 2:  # a lone point: the data's spread, no factors yet
                means[j] = members.mean(0) if len(members) else x[0]
                noise[j] = overall
                continue
            means[j] = members.mean(0)
            centred = members - means[j]
            values, vectors = torch.linalg.eigh(centred.T @ centred / len(members))
            values, vectors = values.flip(0).clamp_min(0), vectors.flip(1)
            rest = values[q:].mean() if dim > q else values.new_zeros(())
            factors[j] = vectors[:, :q] * (values[:q] - rest).clamp_min(0).sqrt()
            residual = torch.diagonal(centred.T @ centred) / len(members) - (factors[j] ** 2).sum(1)
            noise[j] = residual.clamp_min(floor)
        weights = (counts + _TINY) / (counts + _TINY).sum()
        return _MFAParams(weights, means, factors, noise)

    def _statistics(self, x: torch.Tensor, params: _MFAParams):
        """E-step over the data in chunks; returns the mean log-likelihood and the sums
        N_k, sum r x, sum r x^2, sum r E[z], sum r E[z] E[z]^T, sum r x E[z]^T."""
        pre = _FactorPrecomputed(params)
        k, dim, q = params.factors.shape
        zeros = lambda *shape: torch.zeros(shape, dtype=x.dtype, device=x.device)
        counts, sum_x, sum_xx = zeros(k), zeros(k, dim), zeros(k, dim)
        sum_z, sum_zz, sum_xz = zeros(k, q), zeros(k, q, q), zeros(dim, k * q)
        total = 0.0
        for rows in _chunks(x.shape[0], dim + 2 * k * q):
            chunk = x[rows]
            log_joint, latent = pre.e_step(chunk)
            log_px = torch.logsumexp(log_joint, 1, keepdim=True)
            resp = torch.exp(log_joint - log_px)
            total += float(log_px.sum())
            weighted = latent * resp[:, :, None]  # (B, K, q)
            counts += resp.sum(0)
            sum_x += resp.T @ chunk
            sum_xx += resp.T @ (chunk * chunk)
            sum_z += weighted.sum(0)
            sum_zz += torch.einsum("bkq,bkr->kqr", weighted, latent)
            sum_xz += chunk.T @ weighted.reshape(len(chunk), k * q)
        sum_xz = sum_xz.view(dim, k, q).permute(1, 0, 2)
        stats = (counts, sum_x, sum_xx, sum_z, sum_zz, sum_xz, pre.m_inverse)
        return total / x.shape[0], stats

    def _m_step(self, params: _MFAParams, stats, floor: float) -> _MFAParams:
        """Joint update of [Lambda_k, mu_k] with the augmented latent [z; 1], then Psi_k."""
        counts, sum_x, sum_xx, sum_z, sum_zz, sum_xz, m_inverse = stats
        k, q = self.n_components, self.n_factors
        counts = counts + _TINY
        # A_k = sum r E[[z;1][z;1]^T] ((q+1) x (q+1)) and B_k = sum r x [E z; 1]^T (D x (q+1)).
        a = torch.zeros(k, q + 1, q + 1, dtype=self.dtype, device=self.device)
        a[:, :q, :q] = sum_zz + counts[:, None, None] * m_inverse
        a[:, :q, q] = sum_z
        a[:, q, :q] = sum_z
        a[:, q, q] = counts
        b = torch.cat([sum_xz, sum_x[:, :, None]], dim=2)
        # [Lambda, mu] = B A^{-1}; A is symmetric positive definite.
        loadings = torch.linalg.solve(a, b.transpose(1, 2)).transpose(1, 2)
        noise = (sum_xx - (loadings * b).sum(2)) / counts[:, None]
        # Psi_k maximises the expected log-likelihood coordinate by coordinate, and each
        # coordinate's objective has a single peak: under psi >= floor the best is the clamp.
        noise = noise.clamp_min(floor)
        return _MFAParams(counts / counts.sum(), loadings[:, :, q], loadings[:, :, :q], noise)

    def _store(self, params: _MFAParams, shift: torch.Tensor, numpy: bool) -> None:
        self._params, self._shift, self._numpy = params, shift, numpy
        self._pre = _FactorPrecomputed(params)
        out = (lambda t: t.detach().cpu().numpy()) if numpy else (lambda t: t.detach())
        self.weights_ = out(params.weights)
        self.means_ = out(params.means + shift)
        self.factors_ = out(params.factors)
        self.noise_variances_ = out(params.noise)
        self.n_features_in_ = int(params.means.shape[1])

    @classmethod
    def from_parameters(
        cls,
        weights: ArrayLike,
        means: ArrayLike,
        factors: ArrayLike,
        noise_variances: ArrayLike,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> MixtureOfFactorAnalyzers:
        """A mixture with given ``weights`` (K,), ``means`` (K, D), ``factors`` (K, D, q) and
        ``noise_variances`` (K, D), without fitting.

        Raises
        ------
        TypeError, ValueError
            Wrong shapes or dtypes (bool, complex), NaN/inf, ``noise_variances`` <= 0,
            ``weights`` negative or not summing to 1.
        """
        check_array(factors, "factors", ndim=3, kinds="fiu")
        k, dim, q = factors.shape
        model = cls(k, q, device=device, dtype=dtype)
        for name, value, shape in (
            ("weights", weights, (k,)),
            ("means", means, (k, dim)),
            ("noise_variances", noise_variances, (k, dim)),
        ):
            if isinstance(value, np.ndarray | torch.Tensor) and tuple(value.shape) != shape:
                raise ValueError(
                    f"{name} must have shape {shape} to match factors (K={k} components, "
                    f"D={dim} dimensions, q={q} factors), got shape {tuple(value.shape)}."
                )
        names = {"weights": "weights", "means": "means", "factors": "factors"}
        names["noise"] = "noise_variances"
        checked = {
            "weights": check_array(weights, "weights", shape=(k,), kinds="fiu"),
            "means": check_array(means, "means", shape=(k, dim), kinds="fiu"),
            "factors": factors,
            "noise": check_array(
                noise_variances, "noise_variances", shape=(k, dim), min_value=0.0, kinds="fiu"
            ),
        }
        tensors = {}
        for name, value in checked.items():
            tensors[name] = as_tensor(value, dtype=model.dtype, device=model.device)
            check_representable(tensors[name], value, names[name])
        if bool((tensors["noise"] <= 0).any()):
            raise ValueError("noise_variances must be > 0.")
        if bool((tensors["weights"] < 0).any()) or abs(float(tensors["weights"].sum()) - 1) > 1e-6:
            raise ValueError("weights must be non-negative and sum to 1.")
        params = _MFAParams(**tensors)
        shift = params.means.mean(0)
        model._store(replace(params, means=params.means - shift), shift, not _is_tensor(means))
        model.history_, model.n_iter_, model.converged_ = [], 0, True
        return model

    # -- use ---------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "_params"):
            raise NotFittedError(
                "This MixtureOfFactorAnalyzers is not fitted yet; call fit(X) first."
            )

    def _scores(self, X: Any, what: str) -> torch.Tensor:
        """log p (N,), "resp"onsibilities (N, K) or "best" component (N,) of the rows of X."""
        self._check_fitted()
        x = to_model_tensor(X, "X", self.dtype, self.device)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {x.shape[1]} columns but the model was fitted on "
                f"{self.n_features_in_} features."
            )
        x = _centred(x, self._shift, "X")
        k = self.n_components
        log_joint = torch.cat(
            [
                self._pre.e_step(x[rows])[0]
                for rows in _chunks(x.shape[0], x.shape[1] + 2 * k * self.n_factors)
            ]
        )
        return _mixture_scores(log_joint, x, self._far_terms, what)

    def _far_terms(self, x: torch.Tensor):
        """As GaussianMixture._far_terms, through the Woodbury identity: half of
        (x - mu)^T Psi^-1 (x - mu) - E[z]^T M E[z], from exact, scaled differences."""
        pre = self._pre
        diff, scale = scaled_differences(x, self._params.means, careful=True)  # (K, R, D)
        diagonal = (diff * diff * pre.inv_noise[:, None, :]).sum(-1)  # (K, R)
        latent = torch.einsum("kqd,krd->krq", pre.beta, diff)
        low_rank = (torch.einsum("krq,kqs->krs", latent, pre.m) * latent).sum(-1)
        half = 0.5 * (diagonal - low_rank).clamp_min(0)
        return pre.log_norm, half.T, scale

    def score_samples(self, X: ArrayLike) -> ArrayLike:
        """Log-density of each row of ``X`` (N, D): shape (N,).

        Raises ValueError for a row so far away that its log-density is below the float range.
        """
        return like(_refuse_underflow(self._scores(X, "log_p"), "X"), X)

    def score(self, X: ArrayLike) -> float:
        """Mean log-density of the rows of ``X``."""
        return float(_refuse_underflow(self._scores(X, "log_p"), "X").mean())

    def predict_proba(self, X: ArrayLike) -> ArrayLike:
        """Responsibilities p(k | x): shape (N, K) (one-hot, rightly, far from every component)."""
        return like(self._scores(X, "resp"), X)

    def covariances(self) -> ArrayLike:
        """The full covariances Lambda_k Lambda_k^T + Psi_k: shape (K, D, D)."""
        self._check_fitted()
        p = self._params
        full = p.factors @ p.factors.transpose(1, 2) + torch.diag_embed(p.noise)
        return full.cpu().numpy() if self._numpy else full

    def sample(
        self,
        n: int,
        *,
        seed: int | None = None,
        component: int | None = None,
        add_noise: bool = True,
    ) -> tuple[ArrayLike, ArrayLike]:
        """Draw ``n`` points: k ~ pi, z ~ N(0, I_q), x = mu_k + Lambda_k z + eps.

        Parameters
        ----------
        n : int
        seed : int, optional
        component : int, optional
            Draw every point from this component.
        add_noise : bool
            Add the diagonal noise eps ~ N(0, Psi_k) (a true sample). ``False`` returns
            mu_k + Lambda_k z, the smooth part that Richardson & Weiss display.

        Returns
        -------
        X : shape (n, D)
        labels : shape (n,), int64
        """
        self._check_fitted()
        n = check_sample_count(n, self.n_features_in_)
        generator = make_generator(seed)
        p = self._params
        k, dim, q = p.factors.shape
        if component is None:
            labels = torch.multinomial(p.weights.cpu(), n, replacement=True, generator=generator)
        else:
            component = check_int(component, "component", min_value=0)
            if component >= k:
                raise ValueError(f"component must be below n_components={k}, got {component}.")
            labels = torch.full((n,), component, dtype=torch.int64)
        z = torch.randn(n, q, generator=generator, dtype=self.dtype).to(self.device)
        eps = torch.randn(n, dim, generator=generator, dtype=self.dtype).to(self.device)
        labels = labels.to(self.device)
        x = p.means[labels] + self._shift
        for j in torch.unique(labels).tolist():  # a loop over components, not points
            rows = labels == j
            x[rows] += z[rows] @ p.factors[j].T
        if add_noise:
            x = x + eps * p.noise[labels].sqrt()
        check_finite_result(x, "the samples")
        if self._numpy:
            return x.cpu().numpy(), labels.cpu().numpy()
        return x, labels


# --------------------------------------------------------------------------- colour transfer


def _dense_covariances(model: GaussianMixture) -> torch.Tensor:
    """The fitted covariances as (K, D, D) float64, whatever ``covariance_type`` stores."""
    cov = torch.as_tensor(model.covariances_, dtype=torch.float64)
    dim = model.means_.shape[1]
    if model.covariance_type == "full":
        return cov
    if model.covariance_type == "diag":
        return torch.diag_embed(cov)
    return cov[:, None, None] * torch.eye(dim, dtype=torch.float64)


def transfer_colours(
    pixels: ArrayLike, source: GaussianMixture, target: GaussianMixture, *, clip: bool = True
) -> ArrayLike:
    r"""Give ``pixels`` the colour distribution of another image, component by component.

    ``source`` is a mixture fitted to the colours of ``pixels``, ``target`` one fitted to the
    colours of the other image, with the same number of components. Components are paired by
    brightness (the sum of their mean's channels, in rank order). Each pixel is moved by the
    affine map that carries the Gaussian of a source component exactly onto its partner,
    :math:`x \mapsto \mu'_k + L'_k L_k^{-1} (x - \mu_k)` with Cholesky factors
    :math:`\Sigma_k = L_k L_k^\top`, and the maps are averaged with the pixel's
    responsibilities :math:`p(k \mid x)` under ``source``, so colours change smoothly. With one
    component this is the classic mean-and-covariance colour transfer (Reinhard et al. 2001,
    in full covariance): the output's mean and covariance are exactly the target's.

    Parameters
    ----------
    pixels : (N, D), numpy or torch
        Colours, e.g. ``photo.reshape(-1, 3)``.
    source, target : GaussianMixture
        Fitted, with the same ``n_components`` and dimension D.
    clip : bool
        Clip the result to [0, 1] (colours outside are not displayable).

    Returns
    -------
    (N, D), the type of ``pixels``
    """
    for name, model in (("source", source), ("target", target)):
        if not isinstance(model, GaussianMixture) or not hasattr(model, "means_"):
            raise TypeError(f"{name} must be a fitted lessons_lib.gmm.GaussianMixture.")
    if source.n_components != target.n_components:
        raise ValueError(
            f"source and target need the same n_components, got {source.n_components} and "
            f"{target.n_components}."
        )
    dim = source.means_.shape[1]
    check_array(pixels, "pixels", ndim=2, shape=(None, dim), kinds="fiu")
    if target.means_.shape[1] != dim:
        raise ValueError(f"target has dimension {target.means_.shape[1]}, pixels have {dim}.")
    x = as_tensor(pixels, dtype=torch.float64, device="cpu")
    mu_s = torch.as_tensor(source.means_, dtype=torch.float64)
    mu_t = torch.as_tensor(target.means_, dtype=torch.float64)
    order_s, order_t = mu_s.sum(1).argsort(), mu_t.sum(1).argsort()
    chol_s = torch.linalg.cholesky(_dense_covariances(source)[order_s])
    chol_t = torch.linalg.cholesky(_dense_covariances(target)[order_t])
    maps = chol_t @ torch.linalg.inv(chol_s)  # (K, D, D): L'_k L_k^{-1}
    resp = torch.as_tensor(source.predict_proba(x), dtype=torch.float64).cpu()[:, order_s]
    out = torch.zeros_like(x)
    for k in range(source.n_components):
        moved = mu_t[order_t[k]] + (x - mu_s[order_s[k]]) @ maps[k].T
        out += resp[:, k : k + 1] * moved
    if clip:
        out = out.clamp(0, 1)
    return like(check_finite_result(out, "the moved colours"), pixels)
