"""One denoising experiment end to end: noise a clean image, restore it every way, score each.

Used by the restoration notebook, ``benchmarks/bench_restoration.py`` and the spread script,
so that all three measure the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lessons_lib.core.validation import ArrayLike, check_array, check_positive, check_seed
from lessons_lib.restoration.baselines import denoising_baselines, image_scores
from lessons_lib.restoration.epll import epll_restore
from lessons_lib.restoration.patch_prior import PatchPrior


def restoration_row(
    method: str, image: ArrayLike, truth: ArrayLike, setting: str = "", seconds: float = 0.0
) -> dict[str, Any]:
    """One row of a restoration table: the method, its image (H, W) and its scores."""
    image = np.asarray(image.cpu() if hasattr(image, "cpu") else image, dtype=np.float64)
    return {
        "method": method,
        **image_scores(image, truth),
        "setting": setting,
        "seconds": round(float(seconds), 1),
        "image": image,
    }


def compare_denoisers(
    truth: ArrayLike,
    prior: PatchPrior,
    noise_std: float,
    *,
    seed: int = 0,
    betas: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """Add Gaussian noise to ``truth`` and restore it with every baseline and with EPLL.

    Parameters
    ----------
    truth : ndarray, shape (H, W), values in [0, 1]
    prior : PatchPrior
    noise_std : float
        σ in [0, 1] units (25/255 for "σ = 25").
    seed : int
        Seeds the noise, ``numpy.random.default_rng(seed)``.
    betas : sequence of float, optional
        EPLL's splitting schedule (default :data:`~lessons_lib.restoration.epll.BETA_SCHEDULE`
        / σ²).

    Returns
    -------
    list of dict
        The noisy input first, then the five baselines (tuned on the truth, see
        :func:`~lessons_lib.restoration.baselines.denoising_baselines`), then EPLL: each with
        ``method``, ``psnr``, ``ssim``, ``setting``, ``seconds`` and ``image`` (H, W).
    """
    check_array(truth, "truth", ndim=2, kinds="f")
    sigma = check_positive(noise_std, "noise_std")
    clean = np.asarray(truth.cpu() if hasattr(truth, "cpu") else truth, dtype=np.float64)
    noisy = clean + sigma * np.random.default_rng(check_seed(seed)).standard_normal(clean.shape)
    rows = [restoration_row("noisy input", noisy, clean)]
    start = time.perf_counter()
    baselines = denoising_baselines(noisy, sigma, clean)
    seconds = (time.perf_counter() - start) / len(baselines)  # tuning included, on average
    for method, (image, setting) in baselines.items():
        rows.append(restoration_row(method, image, clean, setting, seconds))
    start = time.perf_counter()
    restored = epll_restore(torch.as_tensor(noisy), prior, sigma, betas=betas)
    rows.append(
        restoration_row(
            "EPLL, GMM patch prior", restored, clean, "from σ alone", time.perf_counter() - start
        )
    )
    return rows


def restoration_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows of :func:`restoration_row` as a Markdown table: PSNR to 0.01 dB, SSIM to 0.001."""
    lines = ["| method | PSNR (dB) | SSIM | setting | seconds |", "|---|---|---|---|---|"]
    for r in rows:
        seconds = f"{r['seconds']:.1f}" if r.get("seconds") else ""
        lines.append(
            f"| {r['method']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['setting']} | {seconds} |"
        )
    return "\n".join(lines)
