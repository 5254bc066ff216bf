"""The accelerated E-step and M-step sums of :class:`~lessons_lib.density.gmm.GaussianMixture`
(private; :mod:`lessons_lib.density.em` is the readable reference they are tested against).

Each component's covariance is factored once per iteration, :math:`\\Sigma_k = L_k L_k^\\top`,
and points are *whitened*, :math:`y_{nk} = L_k^{-1}(x_n - \\mu_k)`; the E-step needs only
:math:`\\lVert y_{nk}\\rVert^2`, so one iteration is a few large matrix products.

* Dense (:class:`_Whitener`; a GPU, or D < 16): one matrix product whitens a chunk against all
  components, and the M-step sums :math:`\\sum_n r_{nk} y_{nk} y_{nk}^\\top` come from one
  batched product, mapped back with :math:`L_k`.
* Pruned (:class:`_Pruner`; the CPU, full covariances, D >= 16): cheap lower bounds on the
  Mahalanobis distance find the (point, component) pairs whose responsibility is provably
  below rounding; they are skipped, and each component whitens only its own points, whose
  whitened coordinates give the M-step sums chunk by chunk, as on the dense path
  (:func:`_pruned_statistics`). Once components separate, an iteration costs about N D^2
  instead of N K D^2. The bounds follow the spirit of Elkan (2003, "Using the triangle
  inequality to accelerate k-means") and of truncated EM (Hughes & Sudderth 2016, "Fast
  learning of clusters and topics via sparse posteriors").

The sums are centred on the previous means, which keeps them accurate. Both paths give
scikit-learn's results to rounding, and the readable EM's to 1e-10 (see the tests).
:func:`statistics` picks the path. On a CPU, what costs time besides the products is memory
traffic, the same in float32 and float64: the data are never copied with permuted columns,
rows are gathered with ``index_select`` (not ``x[rows]``), and only the whitened pairs are
exponentiated (an exp of -inf is slow), so float32 runs about twice as fast as float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lessons_lib.density.em import _TINY
from lessons_lib.density.linalg import LOG_2PI, cholesky

#: Elements of one (chunk, K, D) block of whitened points (or of a chunk's pruned pairs and
#: bounds): about 32 MB in float64, small enough to stay in memory on a laptop, large enough
#: for the matrix products to run fast.
CHUNK_ELEMENTS = 2**22
#: EM with full covariances on the CPU skips the (point, component) pairs that provably
#: cannot matter (see ``_Pruner``); elsewhere (a GPU) it whitens densely.
PRUNE_ON_CPU = True
#: A pair is skipped when its log-density is provably below the point's best by this many
#: nats: its responsibility is then below e^-40 = 4e-18, under float64 rounding.
_PRUNE_NATS = 40.0
#: In the M-step from given responsibilities (the k-means start) a point counts for component
#: k when r_nk > _RESP_FLOOR * max_n r_nk. The dropped mass is below N * 1e-16 of N_k
#: (rounding level); skipping it makes the cost proportional to the points a component
#: actually explains, not to N.
_RESP_FLOOR = 1e-16


def _chunks(n: int, per_row: int):
    """Row ranges covering ``n`` rows with about CHUNK_ELEMENTS / per_row rows each."""
    size = max(1, CHUNK_ELEMENTS // max(per_row, 1))
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


@dataclass
class _Params:
    """Mixture parameters as tensors; ``covariances`` in scikit-learn's storage shape."""

    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, D)
    covariances: torch.Tensor  # (K, D, D) full, (K, D) diag, (K,) spherical


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

    * :math:`m_{nk} \ge \lVert x_n-\mu_k\rVert^2 / \lambda_{\max}(\Sigma_k)` (cost N K D);
    * :math:`\sum_{i \le s} y_{nki}^2 \le m_{nk}`: the first s whitened coordinates, with
      the coordinates that separate the means put first (cost D s per pair, s = 16).

    With a bound b, the log-joint is at most :math:`u_{nk} = a_k - b_{nk}/2`
    (:math:`a_k = \log\pi_k - \tfrac12\log|\Sigma_k| - \tfrac D2\log 2\pi`). Then:

    1. each point is whitened against its most promising component: ``best``;
    2. and against every other component whose bounds both allow ``u >= best - 40``;
    3. the rest are provably more than 40 nats (a factor 4e-18) below the point's best: they
       get -inf, a responsibility that float64 could not even add to the others.

    :meth:`pieces` returns the whitened pairs, grouped by component, for the M-step sums;
    :meth:`log_joint` the (B, K) log-joints. The result equals dense whitening up to
    rounding; the cost falls from N K D^2 towards N D^2 as the components separate, and
    stays near N K D^2 when they overlap.
    """

    PREFIX = 16

    def __init__(self, params: _Params) -> None:
        k, dim = params.means.shape
        # The coordinates along which the means differ most go first: the prefix bound
        # then sees most of the distance between components. (A permutation of the
        # coordinates changes no density.) The data are never permuted: the permutation is
        # folded into the whitening matrices, a copy of every chunk saved.
        if k > 1:
            self.order = torch.argsort(params.means.var(0), descending=True)
        else:
            self.order = torch.arange(dim, device=params.means.device)
        cov = params.covariances[:, self.order][:, :, self.order]
        self.factor = cholesky(cov, "a component covariance")  # of the permuted coordinates
        eye = torch.eye(dim, dtype=cov.dtype, device=cov.device)
        # L_k^{-T} of the permuted coordinates: a permuted row (x - mu_k)[order] times it is
        # the whitened row y_k. Its rows put back in the order of x: x - mu_k times it.
        inverse_t = torch.linalg.solve_triangular(
            self.factor, eye.expand(k, dim, dim), upper=False
        ).transpose(1, 2)
        self.inverse_t = inverse_t[:, torch.argsort(self.order), :]
        self.means = params.means
        self.whitened_means = torch.einsum("ki,kij->kj", self.means, self.inverse_t)
        self.offset = (
            torch.log(params.weights)
            - torch.log(torch.diagonal(self.factor, dim1=1, dim2=2)).sum(1)
            - 0.5 * dim * LOG_2PI
        )
        self.largest_variance = torch.linalg.eigvalsh(cov)[:, -1]
        self.mean_variance = torch.diagonal(cov, dim1=1, dim2=2).mean(1)
        self.stacked = self.inverse_t.permute(1, 0, 2).reshape(dim, k * dim)
        self.negative_whitened_means = -self.whitened_means.reshape(-1)
        self.mean_norms = (self.means**2).sum(1)

    def _euclid_bound(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For the chunk x (B, D): the bound u (B, K) from m >= |x - mu_k|^2 / lambda_max,
        and a guess of the log-joint from m ~ |x - mu_k|^2 / (mean variance), which picks the
        component to whiten first (a broad component has the highest *bound* for every
        point, but rarely the highest log-joint)."""
        x_norms = torch.linalg.vector_norm(x, dim=1, keepdim=True).square_()
        squared = torch.addmm(self.mean_norms, x, self.means.T, alpha=-2.0).add_(x_norms)
        guess = (squared / self.mean_variance).mul_(-0.5).add_(self.offset)
        # A rounding margin keeps the bound a bound (|x - mu|^2 is computed by expansion).
        margin = (x_norms + self.mean_norms).mul_(64 * torch.finfo(x.dtype).eps)
        lower = squared.sub_(margin).div_(self.largest_variance).clamp_min_(0)
        return lower.mul_(-0.5).add_(self.offset), guess

    def _whiten(self, points: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Whitened ``points`` (n, D) against component k, and their log-joints (n,)."""
        y = torch.addmm(-self.whitened_means[k], points, self.inverse_t[k])
        return y, self.offset[k] - 0.5 * torch.linalg.vector_norm(y, dim=1).square_()

    def _first_pieces(self, x: torch.Tensor, promising: torch.Tensor):
        """Every point whitened against its most promising component: the pieces, and each
        point's log-joint there (B,)."""
        order = torch.argsort(promising, stable=True)  # rows grouped by component, ascending
        counts = torch.bincount(promising, minlength=len(self.means)).tolist()
        first = torch.empty(len(x), dtype=x.dtype, device=x.device)
        pieces = []
        for k, rows in enumerate(torch.split(order, counts)):
            if len(rows):
                # (index_select with ascending rows: several times faster than x[rows].)
                y, values = self._whiten(x.index_select(0, rows), k)
                first[rows] = values
                pieces.append((k, rows, y, values))
        return pieces, first

    def _candidate_pieces(self, x: torch.Tensor, pairs: torch.Tensor, floor: torch.Tensor):
        """The pairs the Euclidean bound could not rule out, after the prefix bound: the
        first s whitened coordinates cost D s (only s columns of L_k^{-T}), and their
        squares are a lower bound of the whole distance. A pair is whitened fully only if
        ``offset_k - bound / 2 >= floor_n`` (the point's best - 40)."""
        s = min(self.means.shape[1], self.PREFIX)
        pieces = []
        for k, rows in _rows_by_component(pairs):
            points = x.index_select(0, rows)
            prefix = torch.addmm(-self.whitened_means[k, :s], points, self.inverse_t[k, :, :s])
            lower = torch.linalg.vector_norm(prefix, dim=1).square_()
            lower = lower.mul_(1 - 1e-9).sub_(1e-9).clamp_min_(0)  # rounding margin
            keep = torch.nonzero(self.offset[k] - 0.5 * lower >= floor[rows]).flatten()
            if len(keep) < len(rows):
                rows, points = rows[keep], points.index_select(0, keep)
            if len(rows):
                pieces.append((k, rows, *self._whiten(points, k)))
        return pieces

    def _dense_pieces(self, x: torch.Tensor):
        """Every pair, as one product: for chunks where the bound rules out little."""
        k, dim = self.means.shape
        y = torch.addmm(self.negative_whitened_means, x, self.stacked).view(len(x), k, dim)
        values = self.offset - 0.5 * torch.linalg.vector_norm(y, dim=-1).square_()
        rows = torch.arange(len(x), device=x.device)
        return [(j, rows, y[:, j], values[:, j]) for j in range(k)]

    def pieces(self, x: torch.Tensor) -> list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The pairs of a chunk x (B, D) that can matter, as ``(k, rows, y, log_joint)``:
        rows of x, their whitened coordinates (in the permuted order) and log-joints."""
        bound, guess = self._euclid_bound(x)
        promising = guess.argmax(1)
        pieces, first = self._first_pieces(x, promising)
        floor = first - _PRUNE_NATS
        candidates = bound >= floor[:, None]
        candidates[torch.arange(len(x), device=x.device), promising] = False
        if int(candidates.sum()) > bound.numel() // 3:  # little to skip: one big product
            return self._dense_pieces(x)
        return pieces + self._candidate_pieces(x, candidates, floor)

    def log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K) log-joints of a chunk x (B, D); -inf where provably negligible."""
        log_joint = x.new_full((len(x), len(self.means)), -math.inf)
        for k, rows, _, values in self.pieces(x):
            log_joint[rows, k] = values
        return log_joint

    def unwhiten(self, counts, first, second):
        """Sums over whitened pairs (sum r, sum r y, sum r y y^T) back to the coordinates
        of x: N_k, sum r (x - mu_k) and sum r (x - mu_k)(x - mu_k)^T."""
        back = torch.argsort(self.order)
        first = torch.einsum("kij,kj->ki", self.factor, first)[:, back]
        second = (self.factor @ second @ self.factor.transpose(1, 2))[:, back][:, :, back]
        return counts, first, second


def _rows_by_component(pairs: torch.Tensor, transposed: bool = False):
    """(k, rows) for each component k with marked rows in the bool (N, K) matrix ``pairs``
    (or its (K, N) transpose, with ``transposed``); rows ascending."""
    by_component = pairs if transposed else pairs.T
    components, rows = torch.nonzero(by_component, as_tuple=True)  # sorted by component
    counts = torch.bincount(components, minlength=by_component.shape[0]).tolist()
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
    by_component = resp.T.contiguous()  # (K, N): each component's column, contiguous
    kept = by_component > _RESP_FLOOR * by_component.max(1, keepdim=True).values
    for j, rows in _rows_by_component(kept, transposed=True):
        points = x.index_select(0, rows) - means[j]  # centred on the old means
        weighted = points * by_component[j].index_select(0, rows)[:, None]
        first[j] = weighted.sum(0)
        second[j] = weighted.T @ points
    return counts, first, second


# --------------------------------------------------------------------------- one EM pass


def uses_pruning(kind: str, device: torch.device, dim: int) -> bool:
    """Whether :func:`statistics` takes the pruned path (reads ``PRUNE_ON_CPU`` each time)."""
    # Below ~16 dimensions a whitening costs less than the bookkeeping that avoids it.
    return PRUNE_ON_CPU and kind == "full" and device.type == "cpu" and dim >= _Pruner.PREFIX


def statistics(x: torch.Tensor, params: _Params, kind: str, keep_resp: bool = False):
    """One pass over the data: the E-step and the sufficient statistics of the M-step.

    Returns
    -------
    log_likelihood : float, mean over the rows
    stats : (N_k (K,), sum r (x - mu) (K, D), sum r (x - mu)(x - mu)^T in storage form)
    resp : (N, K) responsibilities when ``keep_resp`` (always on the pruned path), else None
    """
    k, dim = params.means.shape
    if uses_pruning(kind, x.device, dim):
        return _pruned_statistics(x, params, keep_resp)
    whitener = _Whitener(params, kind)
    total, sums, kept = 0.0, None, []
    # Memory per row: the (K, D + 1) whitened block, or only K + D when diagonal
    # distances are expanded into products.
    per_row = k + 2 * dim if whitener.expand else k * (dim + 1)
    for rows in _chunks(x.shape[0], per_row):
        log_px, resp, chunk_sums = whitener.statistics(x[rows])
        total += float(log_px.sum())
        if sums is None:
            sums = chunk_sums
        elif kind == "full":
            sums += chunk_sums
        else:
            sums = tuple(a + b for a, b in zip(sums, chunk_sums))
        if keep_resp:
            kept.append(resp)
    resp_all = torch.cat(kept) if keep_resp else None
    return total / x.shape[0], whitener.unwhiten(sums), resp_all


def _pruned_statistics(x: torch.Tensor, params: _Params, keep_resp: bool):
    """As :func:`statistics`, with the pruned E-step; the M-step sums are accumulated chunk
    by chunk over the whitened pairs, as the dense path does."""
    pruner = _Pruner(params)
    k, dim = params.means.shape
    counts, first, second = x.new_zeros(k), x.new_zeros(k, dim), x.new_zeros(k, dim, dim)
    total, kept = 0.0, []
    for chunk in _chunks(x.shape[0], 4 * k + 2 * dim):
        pieces = pruner.pieces(x[chunk])
        log_px, weights = _normalise(pieces, chunk.stop - chunk.start, x)
        total += float(log_px.sum())
        for (j, _, y, _), r in zip(pieces, weights):
            counts[j] += r.sum()
            first[j] += r @ y
            second[j].addmm_((y * r[:, None]).T, y)
        if keep_resp:
            resp = x.new_zeros(chunk.stop - chunk.start, k)
            for (j, rows, _, _), r in zip(pieces, weights):
                resp[rows, j] = r
            kept.append(resp)
    sums = pruner.unwhiten(counts, first, second)
    return total / x.shape[0], sums, torch.cat(kept) if keep_resp else None


def _normalise(pieces, n_rows: int, like: torch.Tensor):
    """log p(x_n) (n_rows,) and each piece's responsibilities, from the pieces' log-joints:
    log p = best + log sum exp(l - best), r = exp(l - best) / sum exp(l - best). Only the
    pairs that were whitened are exponentiated (an exp of -inf is slow on a CPU)."""
    best = like.new_full((n_rows,), -math.inf)
    for _, rows, _, values in pieces:
        best.scatter_reduce_(0, rows, values, "amax")
    exps = [torch.exp(values - best[rows]) for _, rows, _, values in pieces]
    sums = like.new_zeros(n_rows)
    for (_, rows, _, _), e in zip(pieces, exps):
        sums.index_add_(0, rows, e)
    return best + torch.log(sums), [e / sums[rows] for (_, rows, _, _), e in zip(pieces, exps)]


def m_step(params: _Params, stats, kind: str, reg: float) -> _Params:
    """The M-step from the sums of :func:`statistics` (centred on the old means), plus the
    covariance floor ``reg`` (``reg_covar`` in the units EM works in)."""
    counts, first, second = stats
    counts = counts + _TINY
    shift = first / counts[:, None]  # new mean minus old mean
    if kind == "full":
        centred = second / counts[:, None, None] - shift[:, :, None] * shift[:, None, :]
        # Symmetrise: L S L^T is symmetric only up to rounding, Cholesky needs it exactly.
        centred = 0.5 * (centred + centred.transpose(1, 2))
        eye = torch.eye(centred.shape[-1], dtype=centred.dtype, device=centred.device)
        covariances = centred + reg * eye
    else:
        centred = second / counts[:, None] - shift**2
        covariances = centred + reg if kind == "diag" else centred.mean(1) + reg
    return _Params(counts / counts.sum(), params.means + shift, covariances)


def m_step_from_responsibilities(
    x: torch.Tensor, resp: torch.Tensor, kind: str, reg: float
) -> _Params:
    """The M-step from explicit responsibilities (N, K) (used to start from k-means)."""
    counts = resp.sum(0)
    means = resp.T @ x / (counts + _TINY)[:, None]
    if kind == "full":
        # One component at a time, only its own points (hard k-means labels).
        counts, first, second = _truncated_m_sums(x, resp, means)
    else:  # the diagonal of sum r (x - mu)^2, expanded into products
        first = torch.zeros_like(means)
        second = resp.T @ (x * x) - means**2 * counts[:, None]
    return m_step(_Params(counts / counts.sum(), means, None), (counts, first, second), kind, reg)
