"""Classical restorations to measure EPLL against, and the scores that compare them.

PSNR and SSIM are scikit-image's (:mod:`skimage.metrics`, data range 1), and so are total
variation, non-local means, Richardson–Lucy and biharmonic inpainting: well-kept reference
implementations, so that a comparison measures the priors, not our re-implementations.

Every denoising baseline has one parameter. :func:`tune_on_truth` picks the value with the
highest PSNR against the clean image: an *oracle*, the most favourable setting a baseline can
have, which no real user knows. It flatters the baselines, never EPLL, which is run with the
parameters that follow from σ alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from scipy import ndimage, signal

from lessons_lib.core.validation import ArrayLike, check_array, check_positive
from lessons_lib.restoration.gaussian_mrf import gaussian_mrf_denoise


def _skimage() -> Any:
    try:
        import skimage.metrics
        import skimage.restoration
    except ImportError as error:  # a dependency of lessons_lib; missing only in a broken install
        raise ImportError(
            "lessons_lib.restoration needs scikit-image: `pip install scikit-image` "
            "(or `make setup`, which installs the course's locked versions)."
        ) from error
    return skimage


def _grey(image: ArrayLike, name: str) -> np.ndarray:
    check_array(image, name, ndim=2, kinds="f")
    return np.asarray(image.cpu() if hasattr(image, "cpu") else image, dtype=np.float64)


def image_scores(estimate: ArrayLike, truth: ArrayLike) -> dict[str, float]:
    """PSNR (dB) and SSIM of ``estimate`` against ``truth``, both (H, W) in [0, 1].

    The estimate is clipped to [0, 1] first, as it would be when saved as an image.

    Returns
    -------
    dict with keys ``"psnr"`` and ``"ssim"``
    """
    metrics = _skimage().metrics
    truth = _grey(truth, "truth")
    estimate = _grey(estimate, "estimate")
    if estimate.shape != truth.shape:
        raise ValueError(f"estimate has shape {estimate.shape}, truth {truth.shape}: they differ.")
    estimate = np.clip(estimate, 0.0, 1.0)
    with np.errstate(divide="ignore"):  # a perfect estimate has PSNR = inf, not a warning
        psnr = metrics.peak_signal_noise_ratio(truth, estimate, data_range=1.0)
    return {
        "psnr": float(psnr),
        "ssim": float(metrics.structural_similarity(truth, estimate, data_range=1.0)),
    }


def tune_on_truth(
    restore: Callable[[Any], np.ndarray], grid: Iterable[Any], truth: ArrayLike
) -> tuple[Any, np.ndarray]:
    """The oracle setting of a one-parameter method: the value of ``grid`` of highest PSNR.

    Parameters
    ----------
    restore : callable, parameter -> ndarray (H, W)
    grid : iterable of parameter values
    truth : ndarray, shape (H, W)

    Returns
    -------
    (best parameter, its restored image)
    """
    best = None
    for value in grid:
        image = restore(value)
        psnr = image_scores(image, truth)["psnr"]
        if best is None or psnr > best[0]:
            best = (psnr, value, image)
    if best is None:
        raise ValueError("grid is empty: give at least one parameter value.")
    return best[1], best[2]


def denoising_baselines(
    noisy: ArrayLike, noise_std: float, truth: ArrayLike
) -> dict[str, tuple[np.ndarray, str]]:
    """Five classical denoisers of a grey image, four of them tuned on the truth.

    Parameters
    ----------
    noisy : ndarray, shape (H, W)
        ``y = x + ε`` with ε ~ N(0, σ²).
    noise_std : float
        σ, in the units of ``noisy`` ([0, 1]).
    truth : ndarray, shape (H, W)
        The clean image, used only to tune each baseline's parameter (an oracle).

    Returns
    -------
    dict name -> (restored image (H, W), the parameter used, in words)
    """
    restoration = _skimage().restoration
    y = _grey(noisy, "noisy")
    sigma = check_positive(noise_std, "noise_std")
    truth = _grey(truth, "truth")
    results = {}
    std, image = tune_on_truth(
        lambda s: ndimage.gaussian_filter(y, s), np.arange(0.4, 3.01, 0.2), truth
    )
    results["Gaussian filter"] = (image, f"std {std:.1f} px (oracle)")
    window, image = tune_on_truth(
        lambda w: signal.wiener(y, w, noise=sigma**2), (3, 5, 7, 9, 11), truth
    )
    results["Wiener filter"] = (image, f"{window}×{window} window (oracle)")
    smoothness, image = tune_on_truth(
        lambda lam: gaussian_mrf_denoise(y, sigma, lam), np.geomspace(3, 3000, 31), truth
    )
    results["Gaussian MRF"] = (image, f"α = {smoothness:.0f} (oracle)")
    weight, image = tune_on_truth(
        lambda w: restoration.denoise_tv_chambolle(y, weight=w), np.geomspace(0.01, 0.5, 18), truth
    )
    results["total variation"] = (image, f"weight {weight:.3f} (oracle)")
    image = restoration.denoise_nl_means(
        y, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True
    )
    results["non-local means"] = (image, "h = 0.8σ, 5×5 patches")
    return results
