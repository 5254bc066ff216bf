"""The Fréchet distance: the FID formula (Heusel et al. 2017) in our own feature space.

The squared 2-Wasserstein distance between two Gaussians (Dowson and Landau 1982) fitted to
the features of real and generated images. Computed from symmetric positive semi-definite
matrices only (two eigendecompositions), and on features scaled by a power of two, so that
singular covariances and features of any finite magnitude give a real, exact answer.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.validation import ArrayLike, as_numpy, check_array
from lessons_lib.evaluation._inputs import (
    _check_dataset,
    _check_feature_pair,
    _check_min_count,
    _checked_images,
)
from lessons_lib.evaluation._scaling import _max_abs, _pow2_exponent
from lessons_lib.evaluation.feature_space import features

__all__ = ["frechet_distance", "frechet_distance_from_features", "gaussian_frechet_distance"]


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigenvalues ≥ 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


#: Relative tolerance of the covariance checks: rounding (float32 features included) leaves
#: asymmetries and negative eigenvalues far below it; a real mistake (an inverse, a
#: difference of covariances, a sign error) is far above it.
_COVARIANCE_RTOL = 1e-6


def _check_covariance_matrix(cov: np.ndarray, name: str) -> None:
    """Refuse a matrix that is not symmetric positive semi-definite, up to rounding.

    ``cov`` is already scaled to magnitude ~1 (see :func:`_frechet_of_moments`), so that the
    eigendecomposition cannot overflow; the tolerances are relative to its norm.
    """
    norm = float(np.abs(cov).max())
    asymmetry = float(np.abs(cov - cov.T).max())
    if asymmetry > _COVARIANCE_RTOL * norm:
        raise ValueError(
            f"{name} must be a symmetric covariance matrix, but |{name} - {name}.T| reaches "
            f"{asymmetry / norm:.3g} × its largest entry. Pass a covariance such as "
            "np.cov(features, rowvar=False)."
        )
    eigenvalues = np.linalg.eigvalsh((cov + cov.T) / 2)
    if eigenvalues[0] < -_COVARIANCE_RTOL * max(abs(eigenvalues[0]), abs(eigenvalues[-1])):
        raise ValueError(
            f"{name} must be positive semi-definite (a covariance), but it has an eigenvalue "
            f"{eigenvalues[0]:.3g} times the scale of its largest one. Pass a covariance such "
            "as np.cov(features, rowvar=False), not a precision matrix or a difference."
        )


def _frechet_of_moments(
    m1: np.ndarray,
    c1: np.ndarray,
    m2: np.ndarray,
    c2: np.ndarray,
    exponent: int = 0,
    names: tuple[str, str] = ("cov1", "cov2"),
) -> float:
    """d² of N(m1, c1) and N(m2, c2), times 4**exponent (float64 arrays, already checked).

    The moments are first scaled by a power of two to magnitude ~1 (exact), so means of 1e200
    or covariances of 1e-300 neither overflow nor underflow; d² scales as the square of the
    features, so it is scaled back at the end. A d² beyond float64's range has no answer.
    """
    largest = max(_max_abs(m1), _max_abs(m2), *(math.sqrt(_max_abs(c)) for c in (c1, c2)))
    shift = 0 if largest == 0.0 else math.frexp(largest)[1]
    m1, m2 = np.ldexp(m1, -shift), np.ldexp(m2, -shift)
    c1, c2 = np.ldexp(c1, -2 * shift), np.ldexp(c2, -2 * shift)
    _check_covariance_matrix(c1, names[0])
    _check_covariance_matrix(c2, names[1])
    if np.array_equal(m1, m2) and np.array_equal(c1, c2):
        # The same Gaussian: exactly 0, where the formula leaves rounding noise of the
        # traces' size (which, for features of 1e200, would not even fit in a float64).
        return 0.0
    root1 = _sqrt_psd(c1)
    middle = root1 @ c2 @ root1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    value = float(np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2.0 * cross)
    # Rounding can leave -1e-12 where the true value is 0; the distance itself is >= 0.
    value = max(value, 0.0)
    try:
        return math.ldexp(value, 2 * (shift + exponent))
    except OverflowError:
        power = math.frexp(value)[1] + 2 * (shift + exponent)
        raise ValueError(
            f"the Fréchet distance of these inputs is about 2**{power}, beyond float64's range "
            "(1.8e308), so it has no float64 value; divide the features (or means, and the "
            "covariances by its square) by a common factor s: the distance divides by s**2."
        ) from None


def gaussian_frechet_distance(
    mean1: ArrayLike, cov1: ArrayLike, mean2: ArrayLike, cov2: ArrayLike
) -> float:
    """Squared 2-Wasserstein (Fréchet) distance between two Gaussians, in closed form.

    .. math::
        d^2 = \\lVert\\mu_1 - \\mu_2\\rVert^2 + \\operatorname{tr}\\Sigma_1
        + \\operatorname{tr}\\Sigma_2 - 2\\operatorname{tr}
        \\big(\\Sigma_1^{1/2}\\Sigma_2\\Sigma_1^{1/2}\\big)^{1/2}

    The trace term equals :math:`\\operatorname{tr}(\\Sigma_1\\Sigma_2)^{1/2}` of the FID
    formula but is computed from symmetric positive semi-definite matrices only (two
    eigendecompositions), so it is real and stable even for singular covariances, where
    ``scipy.linalg.sqrtm`` of the non-symmetric product can return complex noise.

    Parameters
    ----------
    mean1, mean2 : array, shape (F,)
    cov1, cov2 : array, shape (F, F), symmetric positive semi-definite
        Checked up to a rounding tolerance relative to the matrix's norm; anything else
        (e.g. ``-I``) raises ``ValueError``.

    Returns
    -------
    float, >= 0
    """
    m1 = as_numpy(check_array(mean1, "mean1", ndim=1, kinds="fiu")).astype(np.float64)
    dim = len(m1)
    m2 = as_numpy(check_array(mean2, "mean2", shape=(dim,), kinds="fiu")).astype(np.float64)
    c1 = as_numpy(check_array(cov1, "cov1", shape=(dim, dim), kinds="fiu")).astype(np.float64)
    c2 = as_numpy(check_array(cov2, "cov2", shape=(dim, dim), kinds="fiu")).astype(np.float64)
    return _frechet_of_moments(m1, c1, m2, c2)


def _mean_cov(feats: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    if len(feats) < 2:
        raise ValueError(f"{name} needs at least 2 rows to estimate a covariance; got 1.")
    return feats.mean(0), np.cov(feats, rowvar=False).reshape(feats.shape[1], feats.shape[1])


def frechet_distance_from_features(features1: ArrayLike, features2: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N1, F) and (N2, F).

    Any finite features work: they are scaled by a common power of two before the moments
    are taken (exact), so features of 1e150 or 1e-200 give the right distance; a distance
    beyond float64's range (features of ~1e200 that differ) raises ``ValueError``.
    """
    _check_feature_pair(features1, "features1", features2, "features2", columns="columns F")
    for name, feats in (("features1", features1), ("features2", features2)):
        if len(feats) < 2:
            raise ValueError(f"{name} needs at least 2 rows to estimate a covariance; got 1.")
    # Squares of 1e200 overflow in np.cov; scaled to ~1 first, the distance is scaled back.
    exponent = _pow2_exponent(features1, features2)
    scaled1 = np.ldexp(as_numpy(features1).astype(np.float64), -exponent)
    scaled2 = np.ldexp(as_numpy(features2).astype(np.float64), -exponent)
    mean1, cov1 = _mean_cov(scaled1, "features1")
    mean2, cov2 = _mean_cov(scaled2, "features2")
    names = ("the covariance of features1", "the covariance of features2")
    return _frechet_of_moments(mean1, cov1, mean2, cov2, exponent, names)


def frechet_distance(
    real: ArrayLike,
    fake: ArrayLike,
    dataset: str = "digits",
    device: torch.device | str | None = None,
) -> float:
    """The Fréchet distance (the FID formula) in the features of our own network.

    Not comparable with published FIDs (those use Inception features of 299×299 colour
    images); comparable across models of this course evaluated with the same dataset, number
    of images and reference set -- see :func:`calibration_table`. Small samples bias it
    upwards, so compare numbers computed with equal N.

    Parameters
    ----------
    real, fake : Tensor or ndarray, shape (N, 1, H, W), values in [0, 1], N >= 2
    dataset : {"digits", "fashion-mnist"}
    device : torch.device or str, optional

    Returns
    -------
    float, >= 0 (0 for identical feature sets)
    """
    _check_dataset(dataset)
    _checked_images(real, "real", dataset)
    _checked_images(fake, "fake", dataset)
    _check_min_count(real, "real", 2, "a covariance needs two")
    _check_min_count(fake, "fake", 2, "a covariance needs two")
    target = resolve_device(device)
    return frechet_distance_from_features(
        features(real, dataset, target), features(fake, dataset, target)
    )
