"""Improved precision and recall (Kynkäänniemi et al. 2019): fidelity and coverage by k-NN balls.

The real manifold is the union of balls around each real feature, of radius the distance to
its k-th nearest real neighbour; likewise the fake manifold. Precision is the share of fake
points inside the real manifold, recall the share of real points inside the fake one
(refining the precision/recall of distributions of Sajjadi et al. 2018).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.validation import ArrayLike, as_tensor, check_int
from lessons_lib.evaluation._inputs import (
    _check_batch_size,
    _check_dataset,
    _check_feature_pair,
    _check_min_count,
    _checked_images,
)
from lessons_lib.evaluation._scaling import _float_dtype, _pow2_exponent, _times_pow2
from lessons_lib.evaluation.feature_space import features

__all__ = ["PrecisionRecall", "precision_recall", "precision_recall_from_features"]


class PrecisionRecall(NamedTuple):
    """Improved precision (fidelity) and recall (coverage), each in [0, 1]."""

    precision: float
    recall: float


def _squared_distance_blocks(
    queries: torch.Tensor, points: torch.Tensor, batch_size: int
) -> Iterator[torch.Tensor]:
    """Yield the (B, N) squared Euclidean distances of successive blocks of ``queries``.

    Computed as |a|² + |b|² - 2 a·b into ONE buffer reused for every block: a fresh
    allocation of this size per block costs more in page faults than the product itself.
    Squared distances order and compare like distances, so no square root is taken.
    Consume each block before asking for the next.
    """
    points_sq = (points * points).sum(1)
    rows = min(batch_size, len(queries))
    buffer = torch.empty((rows, len(points)), dtype=points.dtype, device=points.device)
    for chunk in queries.split(batch_size):
        block = buffer[: len(chunk)]
        torch.mm(chunk, points.T, out=block)
        yield block.mul_(-2.0).add_(points_sq).add_((chunk * chunk).sum(1, keepdim=True))


def _knn_radii(points: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the set (itself excluded)."""
    # The point itself sits at distance 0, so the k-th neighbour is the (k+1)-th smallest.
    squared = torch.cat(
        [
            block.topk(k + 1, dim=1, largest=False).values[:, k]
            for block in _squared_distance_blocks(points, points, batch_size)
        ]
    )
    return squared.clamp_min(0.0).sqrt()


def _in_manifold(
    queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """(M,) bool: is each query inside at least one ball B(points_i, radii_i)?"""
    squared_radii = radii * radii
    return torch.cat(
        [
            (block <= squared_radii).any(1)
            for block in _squared_distance_blocks(queries, points, batch_size)
        ]
    )


def _centred(features_: ArrayLike, centre: torch.Tensor) -> torch.Tensor:
    # Centring on a common point keeps |a|² + |b|² - 2a·b accurate; distances do not change.
    return as_tensor(features_, dtype=centre.dtype, device=centre.device) - centre


def _precision_recall(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int,
    batch_size: int,
    real_radii: torch.Tensor | None = None,
) -> PrecisionRecall:
    """Precision and recall of centred features; ``real_radii`` may be passed in if known."""
    if real_radii is None:
        real_radii = _knn_radii(real, k, batch_size)
    fake_radii = _knn_radii(fake, k, batch_size)
    precision = int(_in_manifold(fake, real, real_radii, batch_size).sum()) / len(fake)
    recall = int(_in_manifold(real, fake, fake_radii, batch_size).sum()) / len(real)
    return PrecisionRecall(precision, recall)


def precision_recall_from_features(
    real_features: ArrayLike,
    fake_features: ArrayLike,
    k: int = 3,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 1024,
) -> PrecisionRecall:
    """Improved precision and recall of Kynkäänniemi et al. (2019) on feature vectors.

    The real manifold is the union of balls around each real feature with radius the
    distance to its k-th nearest real neighbour; likewise for the fake manifold.
    Precision = share of fake points inside the real manifold (are samples realistic?);
    recall = share of real points inside the fake manifold (is the data covered?).

    Parameters
    ----------
    real_features : array, shape (N, F), N > k
    fake_features : array, shape (M, F), M > k
    k : int
        Neighbourhood size (the paper uses 3), 1 <= k < min(N, M).

    Returns
    -------
    PrecisionRecall(precision, recall)
        Invariant to a common scaling of the features: any finite magnitude (1e200, 1e-200)
        gives the answer of the unscaled features.
    """
    k = check_int(k, "k", min_value=1)
    _check_feature_pair(real_features, "real_features", fake_features, "fake_features")
    for name, x in (("real_features", real_features), ("fake_features", fake_features)):
        if len(x) <= k:
            raise ValueError(
                f"{name} needs more than k={k} points for k-NN radii; got {len(x)}. Pass a "
                "smaller k or more points."
            )
    batch_size = _check_batch_size(batch_size)
    target = resolve_device(device)
    real, fake = _scaled_centred_pair(real_features, fake_features, target)
    return _precision_recall(real, fake, k, batch_size)


def _scaled_centred_pair(
    real_features: ArrayLike, fake_features: ArrayLike, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both feature sets centred on the real mean and scaled to magnitude ~1, on ``device``.

    Ball membership only compares distances, so a common scaling changes nothing, and by a
    power of two it is exact: squared distances of 1e200 features (inf, then inf - inf = NaN)
    or of 1e-200 features (0) are then computed like those of ordinary ones. Centring keeps
    |a|² + |b|² - 2a·b accurate when the features sit far from the origin.
    """
    dtype = _float_dtype(device)
    # Without float64 on the device (MPS), scale on the CPU first: 1e200 is inf in float32.
    work = device if dtype == torch.float64 else torch.device("cpu")
    exponent = _pow2_exponent(real_features, fake_features)

    def scaled(x: ArrayLike) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.device.type == "mps":
            x = x.cpu()  # MPS cannot cast to float64 itself
        return _times_pow2(as_tensor(x, dtype=torch.float64, device=work), -exponent)

    real, fake = scaled(real_features), scaled(fake_features)
    centre = real.mean(0)
    real, fake = real - centre, fake - centre
    exponent = _pow2_exponent(real, fake)
    real, fake = _times_pow2(real, -exponent), _times_pow2(fake, -exponent)
    return real.to(device=device, dtype=dtype), fake.to(device=device, dtype=dtype)


def precision_recall(
    real: ArrayLike,
    fake: ArrayLike,
    dataset: str = "digits",
    k: int = 3,
    device: torch.device | str | None = None,
) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019) in our feature space.

    Parameters
    ----------
    real, fake : Tensor or ndarray, shape (N, 1, H, W), values in [0, 1], more than k images
    dataset : {"digits", "fashion-mnist"}
    k : int
        Neighbourhood size of the k-NN balls (3 as in the paper).
    device : torch.device or str, optional

    Returns
    -------
    PrecisionRecall(precision, recall)
        A named tuple of floats in [0, 1]: ``p, r = precision_recall(...)``. A mode-collapsed
        model keeps a high precision and loses recall; blurry or noisy samples lose precision.
    """
    _check_dataset(dataset)
    _checked_images(real, "real", dataset)
    _checked_images(fake, "fake", dataset)
    k = check_int(k, "k", min_value=1)
    _check_min_count(real, "real", k + 1, f"k={k} neighbours plus the point itself")
    _check_min_count(fake, "fake", k + 1, f"k={k} neighbours plus the point itself")
    target = resolve_device(device)
    return precision_recall_from_features(
        features(real, dataset, target), features(fake, dataset, target), k, device=target
    )
