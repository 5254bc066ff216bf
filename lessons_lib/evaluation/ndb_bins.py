"""NDB, the number of statistically different bins (Richardson and Weiss 2018, "On GANs and GMMs").

The training images are partitioned into k-means bins (Lloyd 1982, scikit-learn's
``KMeans``); each sample goes to its nearest bin, and a pooled two-proportion z-test per bin
asks whether the model puts as many samples there as the data does. A model that drops a
mode leaves bins empty; the Jensen-Shannon divergence (Lin 1991) of the two bin histograms
summarizes the difference in one number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    check_array,
    check_int,
    check_probability,
)
from lessons_lib.evaluation._inputs import (
    _check_count,
    _check_n_bins,
    _check_same_image_shape,
    _check_seed,
    _checked_images,
)

__all__ = ["NDB", "NDBReport", "NDBResult", "js_divergence", "ndb", "two_proportion_z_test"]


class NDBResult(NamedTuple):
    """Number of statistically different bins and the JS divergence of the bin histograms."""

    n_different: int
    js_divergence: float


@dataclass
class NDBReport:
    """Everything one NDB evaluation measured. ``n_different / n_bins`` is the paper's NDB/K.

    Attributes
    ----------
    n_different : int
    js_divergence : float
        Jensen-Shannon divergence (natural log, in [0, ln 2]) of the two bin histograms.
    n_bins : int
    proportions : ndarray, shape (K,)
        Share of the samples in each bin.
    reference_proportions : ndarray, shape (K,)
        Share of the training images in each bin (bins sorted by this, largest first).
    z : ndarray, shape (K,)
        Two-proportion z statistics.
    p_values : ndarray, shape (K,)
    different : ndarray of bool, shape (K,)
    assignments : ndarray of int, shape (N,)
        The bin of each sample.
    """

    n_different: int
    js_divergence: float
    n_bins: int
    proportions: np.ndarray = field(repr=False)
    reference_proportions: np.ndarray = field(repr=False)
    z: np.ndarray = field(repr=False)
    p_values: np.ndarray = field(repr=False)
    different: np.ndarray = field(repr=False)
    assignments: np.ndarray = field(repr=False)

    def result(self) -> NDBResult:
        return NDBResult(self.n_different, self.js_divergence)


def _as_checked_array(x: Any, name: str, what: str) -> np.ndarray:
    """``x`` (a number, sequence, array or tensor on any device) as a float64 NumPy array."""
    if not isinstance(x, np.ndarray | torch.Tensor):
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as err:
            raise TypeError(f"{name} must be {what}, got {type(x).__name__} ({err}).") from None
    check_array(x, name, kinds="fiu")
    return as_numpy(x).astype(np.float64)


def two_proportion_z_test(
    p1: ArrayLike, n1: int, p2: ArrayLike, n2: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-proportion z-test, element-wise: are proportions p1 (of n1) and p2 (of n2)
    equal?

    Parameters
    ----------
    p1, p2 : float, array or tensor, values in [0, 1], broadcastable shapes
        Observed proportions (count / n).
    n1, n2 : int >= 1
        Sample sizes.

    Returns
    -------
    z : ndarray
        (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2)) with the pooled p. Where both proportions
        are 0 (or both 1), the pooled p is 0 (or 1): there is nothing to test, and z is
        defined as 0 (p-value 1).
    p_values : ndarray
        Two-sided p-values, 2 Φ(-|z|).
    """
    from scipy.stats import norm

    n1 = _check_count(n1, "n1", min_value=1)
    n2 = _check_count(n2, "n2", min_value=1)
    p1 = _as_checked_array(p1, "p1", "a proportion or an array of proportions")
    p2 = _as_checked_array(p2, "p2", "a proportion or an array of proportions")
    for name, p in (("p1", p1), ("p2", p2)):
        if p.min() < 0.0 or p.max() > 1.0:
            raise ValueError(
                f"{name} must hold proportions in [0, 1] (count / n), but it ranges over "
                f"[{p.min():g}, {p.max():g}]."
            )
    try:
        np.broadcast_shapes(p1.shape, p2.shape)
    except ValueError:
        raise ValueError(
            f"p1 and p2 must have broadcastable shapes; got {p1.shape} and {p2.shape}."
        ) from None
    # Python's int division rounds correctly, so the weights are exact to the last bit.
    w1, w2 = n1 / (n1 + n2), n2 / (n1 + n2)
    inverse_n = (n1 + n2) / (n1 * n2)
    degenerate = ((p1 == 0) & (p2 == 0)) | ((p1 == 1) & (p2 == 1))
    # sqrt(pooled) as sqrt(t) * sqrt(pooled / t), t = max(p1, p2): pooled itself underflows
    # to 0 for proportions near 5e-324, which would turn a z of ~0 into inf.
    t = np.maximum(p1, p2)
    safe_t = np.where(t > 0, t, 1.0)
    pooled_over_t = (p1 / safe_t) * w1 + (p2 / safe_t) * w2
    complement = w1 * (1.0 - p1) + w2 * (1.0 - p2)  # 1 - pooled, without cancellation
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(safe_t) / np.sqrt(pooled_over_t) / np.sqrt(complement * inverse_n)
    z = np.asarray(np.where(degenerate, 0.0, z), dtype=np.float64)
    return z, np.asarray(2.0 * norm.cdf(-np.abs(z)), dtype=np.float64)


def _histogram(x: Any, name: str) -> np.ndarray:
    """Checked non-negative counts or weights (K,) → proportions summing to 1."""
    counts = _as_checked_array(x, name, "a 1-D histogram (counts or proportions)")
    if counts.ndim != 1:
        raise ValueError(f"{name} must be a 1-D histogram, got shape {counts.shape}.")
    if counts.min() < 0:
        raise ValueError(
            f"{name} must hold non-negative counts or proportions; its minimum is {counts.min():g}."
        )
    largest = counts.max()
    if largest == 0:
        raise ValueError(f"{name} is all zeros: a histogram needs at least one positive bin.")
    # Divided by the largest count first, so the sum of counts near 1e308 cannot overflow.
    counts = counts / largest
    return counts / counts.sum()


def js_divergence(p: ArrayLike, q: ArrayLike) -> float:
    """Jensen-Shannon divergence of two histograms (natural log): 0 when equal, ≤ ln 2.

    Parameters
    ----------
    p, q : sequence, array or tensor, shape (K,)
        Non-negative counts or proportions (each normalized to sum 1), not all zero. Empty
        bins are fine: 0 · log 0 counts as 0.

    Returns
    -------
    float in [0, ln 2]
    """
    p = _histogram(p, "p")
    q = _histogram(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same number of bins; got {p.shape} and {q.shape}.")
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        keep = a > 0  # 0 · log 0 = 0; where a > 0, b = m >= a / 2 > 0
        return float(np.sum(a[keep] * np.log(a[keep] / b[keep])))

    # Rounding can step just outside [0, ln 2]; the divergence itself never does.
    return min(max(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0), math.log(2.0))


def _default_bins(n_train: int) -> int:
    # The authors use 100 bins for 50,000 MNIST images; a bin needs tens of training images
    # (and the samples several) for the z-test to have any power, so small sets get fewer.
    return int(min(100, max(2, n_train // 60)))


class NDB:
    """Number of statistically Different Bins (Richardson and Weiss 2018), scikit-learn style.

    ``fit(train)`` partitions the (flattened) training images into ``n_bins`` k-means bins;
    ``evaluate(samples)`` puts each sample in its nearest bin and runs a two-proportion z-test
    per bin between the training and the sample proportions.

    Parameters
    ----------
    n_bins : int, optional
        K; default ``min(100, max(2, len(train) // 60))`` (100 for Fashion-MNIST, 20 for the
        digits).
    alpha : float
        Significance level of each test.
    whiten : bool
        Standardize every pixel by the training mean and std before binning.
    max_fit : int, optional
        Run k-means on at most this many training images (a seeded subset) to keep it fast;
        the bin proportions are always measured on the whole training set.
    seed : int
        Seeds k-means and the subset.

    Attributes
    ----------
    centers_ : ndarray, shape (K, D)
    proportions_ : ndarray, shape (K,), sorted in decreasing order
    n_train_ : int
    n_bins_ : int
    """

    def __init__(
        self,
        n_bins: int | None = None,
        *,
        alpha: float = 0.05,
        whiten: bool = False,
        max_fit: int | None = 10_000,
        seed: int = 0,
    ) -> None:
        self.n_bins = _check_n_bins(n_bins)
        self.alpha = check_probability(alpha, "alpha")
        if not isinstance(whiten, bool | np.bool_):
            raise TypeError(f"whiten must be True or False, got {whiten!r}.")
        self.whiten = bool(whiten)
        self.max_fit = None if max_fit is None else check_int(max_fit, "max_fit", min_value=2)
        self.seed = _check_seed(seed)

    def _prepare(self, images: ArrayLike) -> np.ndarray:
        flat = as_numpy(images).reshape(len(images), -1).astype(np.float32, copy=False)
        return (flat - self.mean_) / self.std_ if self.whiten else flat

    def fit(self, train: ArrayLike) -> NDB:
        """Build the bins from the training images (N, C, H, W) in [0, 1]."""
        from sklearn.cluster import KMeans

        _checked_images(train, "train")
        n_bins = self.n_bins if self.n_bins is not None else _default_bins(len(train))
        if len(train) < 2 * n_bins:
            raise ValueError(
                f"train needs at least 2 * n_bins = {2 * n_bins} images for {n_bins} bins; got "
                f"{len(train)}. Pass a smaller n_bins."
            )
        if self.max_fit is not None and self.max_fit < n_bins:
            raise ValueError(
                f"max_fit={self.max_fit} must be at least n_bins={n_bins}: k-means needs a "
                "training image per bin. Pass a larger max_fit (or None)."
            )
        flat = as_numpy(train).reshape(len(train), -1).astype(np.float32, copy=False)
        self.mean_ = flat.mean(0) if self.whiten else np.zeros(flat.shape[1], np.float32)
        self.std_ = flat.std(0) + 1e-6 if self.whiten else np.ones(flat.shape[1], np.float32)
        # Unwhitened bins read the pixels as they are: (x - 0) / 1 would copy 60,000 images
        # twice for nothing.
        data = (flat - self.mean_) / self.std_ if self.whiten else flat
        rng = np.random.default_rng(self.seed)
        subset = data
        if self.max_fit is not None and len(data) > self.max_fit:
            subset = data[np.sort(rng.choice(len(data), self.max_fit, replace=False))]
        kmeans = KMeans(n_bins, n_init=1, max_iter=100, random_state=self.seed).fit(subset)
        self.centers_ = kmeans.cluster_centers_.astype(np.float32)
        counts = np.bincount(self._nearest(data), minlength=n_bins)
        order = np.argsort(-counts, kind="stable")  # largest bin first, as in the authors' code
        self.centers_ = self.centers_[order]
        self.proportions_ = counts[order] / len(data)
        self.n_train_ = len(data)
        self.n_bins_ = n_bins
        self.image_shape_ = tuple(train.shape[1:])
        return self

    def _nearest(self, data: np.ndarray) -> np.ndarray:
        centers = torch.from_numpy(self.centers_)
        x = torch.from_numpy(np.ascontiguousarray(data))
        return torch.cat([torch.cdist(chunk, centers).argmin(1) for chunk in x.split(4096)]).numpy()

    def assign(self, images: ArrayLike) -> np.ndarray:
        """The bin of each image: (N, C, H, W) → (N,) int."""
        self._check_new_images(images, "images")
        return self._nearest(self._prepare(images))

    def evaluate(self, samples: ArrayLike) -> NDBReport:
        """Compare the bin proportions of ``samples`` (N, C, H, W) with the training set's."""
        self._check_new_images(samples, "samples")
        return self._evaluate(samples)

    def _check_new_images(self, images: ArrayLike, name: str) -> None:
        """Fitted, and ``images`` a batch in [0, 1] of the training images' (C, H, W)."""
        self._check_fitted()
        _checked_images(images, name)
        if tuple(images.shape[1:]) != self.image_shape_:
            raise ValueError(
                f"{name} must have the training images' (C, H, W) = {self.image_shape_}; got "
                f"{tuple(images.shape)}."
            )

    def _evaluate(self, samples: ArrayLike) -> NDBReport:
        assignments = self._nearest(self._prepare(samples))
        proportions = np.bincount(assignments, minlength=self.n_bins_) / len(samples)
        z, p_values = two_proportion_z_test(
            self.proportions_, self.n_train_, proportions, len(samples)
        )
        different = p_values < self.alpha
        return NDBReport(
            n_different=int(different.sum()),
            js_divergence=js_divergence(self.proportions_, proportions),
            n_bins=self.n_bins_,
            proportions=proportions,
            reference_proportions=self.proportions_,
            z=z,
            p_values=p_values,
            different=different,
            assignments=assignments,
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "centers_"):
            raise RuntimeError("this NDB is not fitted yet; call fit(train) first.")


def ndb(
    train: ArrayLike,
    samples: ArrayLike,
    n_bins: int | None = None,
    alpha: float = 0.05,
    seed: int = 0,
) -> NDBResult:
    """Number of statistically different bins (Richardson and Weiss 2018) and JS divergence.

    k-means bins on the training images (pixels), then one two-proportion z-test per bin.
    The authors' MNIST reference (100 bins): 0 different bins for a validation split, 11 when
    the nines are removed. Divide by ``n_bins`` for their NDB/K.

    Parameters
    ----------
    train : Tensor or ndarray, shape (N, C, H, W), values in [0, 1]
    samples : Tensor or ndarray, shape (M, C, H, W), values in [0, 1]
    n_bins : int, optional
        Default ``min(100, max(2, N // 60))``.
    alpha : float
        Significance level of each bin's test.
    seed : int
        Seeds k-means.

    Returns
    -------
    NDBResult(n_different, js_divergence)
        A named tuple: ``count, js = ndb(train, samples)``. Use :class:`NDB` for the per-bin
        details and to reuse the bins.
    """
    estimator = NDB(n_bins, alpha=alpha, seed=seed)  # checks the parameters first
    _checked_images(train, "train")
    _checked_images(samples, "samples")
    _check_same_image_shape(train, "train", samples, "samples")
    estimator.fit(train)
    return estimator.evaluate(samples).result()
