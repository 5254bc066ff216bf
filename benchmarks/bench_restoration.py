"""Photo restoration with EPLL against classical baselines: PSNR and SSIM (issue 15's numbers).

A GMM patch prior (8×8 patches, K components, the course's EM) is fitted on one of
scikit-learn's photos ("china", grey, downscaled by 2) and restores the other ("flower", the
same way), degraded four ways: Gaussian noise at σ = 15, 25 and 50 (of 255), a known Gaussian
blur (std 1.6 px) with σ = 2/255 noise, ×2 decimation after an anti-alias blur (super-
resolution), and half of the pixels missing at random (inpainting). Each baseline's one
parameter is tuned on the truth (an oracle: the most favourable setting for the baseline), so
the comparison flatters the baselines, not EPLL. PSNR and SSIM are scikit-image's
(``skimage.metrics``, data range 1). Needs scikit-image (``pip install -e .[bench]``).

Run: ``python benchmarks/bench_restoration.py [--components 20] [--downscale 2]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import ndimage, signal

from lessons_lib.data import load_photo
from lessons_lib.restoration import (
    Blur,
    Downsample,
    Mask,
    epll_restore,
    fit_patch_prior,
    gaussian_kernel,
    gaussian_mrf_denoise,
)


def grey(name: str, downscale: int) -> np.ndarray:
    return load_photo(name, downscale=downscale).mean(axis=2).astype(np.float64)


def scores(estimate: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    estimate = np.clip(estimate, 0, 1)
    return (
        peak_signal_noise_ratio(truth, estimate, data_range=1.0),
        structural_similarity(truth, estimate, data_range=1.0),
    )


def best_of(make, grid, truth):
    """The oracle-tuned baseline: the parameter of ``grid`` with the highest PSNR."""
    results = [(scores(make(p), truth), p) for p in grid]
    (psnr, ssim), p = max(results, key=lambda r: r[0][0])
    return psnr, ssim, p


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def denoising_rows(truth, prior, sigma, rng):
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

    noisy = truth + sigma * rng.standard_normal(truth.shape)
    rows = {"noisy input": (*scores(noisy, truth), "", 0.0)}
    start = time.perf_counter()
    psnr, ssim, p = best_of(
        lambda s: ndimage.gaussian_filter(noisy, s), np.arange(0.4, 3.01, 0.2), truth
    )
    rows["Gaussian filter (oracle std)"] = (
        psnr,
        ssim,
        f"std {p:.1f} px",
        time.perf_counter() - start,
    )
    start = time.perf_counter()
    psnr, ssim, p = best_of(lambda w: signal.wiener(noisy, w, noise=sigma**2), (3, 5, 7, 9), truth)
    rows["Wiener filter (oracle window)"] = (psnr, ssim, f"{p}×{p}", time.perf_counter() - start)
    start = time.perf_counter()
    psnr, ssim, p = best_of(lambda lam: gaussian_mrf_denoise(noisy, sigma, lam),
                            np.geomspace(1, 3000, 25), truth)  # fmt: skip
    rows["Gaussian MRF (oracle λ)"] = (psnr, ssim, f"λ {p:.0f}", time.perf_counter() - start)
    start = time.perf_counter()
    psnr, ssim, p = best_of(lambda w: denoise_tv_chambolle(noisy, weight=w),
                            np.geomspace(0.01, 0.5, 15), truth)  # fmt: skip
    rows["total variation (oracle weight)"] = (
        psnr,
        ssim,
        f"weight {p:.3f}",
        time.perf_counter() - start,
    )
    nlm, seconds = timed(lambda: denoise_nl_means(noisy, h=0.8 * sigma, sigma=sigma, patch_size=5,
                                                  patch_distance=6, fast_mode=True))  # fmt: skip
    rows["non-local means (h = 0.8σ)"] = (*scores(nlm, truth), "5×5 patches", seconds)
    try:
        import bm3d

        out, seconds = timed(lambda: bm3d.bm3d(noisy, sigma))
        rows["BM3D"] = (*scores(out, truth), "", seconds)
    except ImportError:
        pass
    out, seconds = timed(lambda: epll_restore(torch.as_tensor(noisy), prior, sigma).numpy())
    rows["EPLL, GMM patch prior (ours)"] = (*scores(out, truth), "", seconds)
    return rows


def inverse_rows(truth, prior, rng):
    from skimage.restoration import inpaint_biharmonic, richardson_lucy
    from skimage.transform import resize

    x = torch.as_tensor(truth)
    table = {}
    # deblurring: Gaussian blur std 1.6 px, noise 2/255
    sigma = 2 / 255
    blur = Blur(gaussian_kernel(1.6))
    y = blur(x).numpy() + sigma * rng.standard_normal(truth.shape)
    kernel = gaussian_kernel(1.6).numpy()
    rl, rl_s = timed(lambda: richardson_lucy(np.clip(y, 0, 1), kernel, num_iter=30))
    out, s = timed(lambda: epll_restore(torch.as_tensor(y), prior, sigma, blur, cg_iter=30).numpy())
    table["deblur (std 1.6 px, σ = 2/255)"] = {
        "observed": (*scores(y, truth), "", 0.0),
        "Richardson-Lucy (30 iterations)": (*scores(rl, truth), "", rl_s),
        "EPLL (ours)": (*scores(out, truth), "", s),
    }
    # super-resolution ×2
    down = Downsample(2)
    y = down(x).numpy() + sigma * rng.standard_normal(down(x).shape)
    cubic = resize(y, truth.shape, order=3, anti_aliasing=False)
    start = torch.as_tensor(cubic)
    out, s = timed(
        lambda: epll_restore(torch.as_tensor(y), prior, sigma, down, start=start).numpy()
    )
    table["super-resolution ×2 (σ = 2/255)"] = {
        "bicubic": (*scores(cubic, truth), "", 0.0),
        "EPLL (ours)": (*scores(out, truth), "", s),
    }
    # inpainting: half of the pixels missing at random
    observed = rng.random(truth.shape) > 0.5
    mask = Mask(torch.as_tensor(observed))
    y = truth * observed
    bih, bih_s = timed(lambda: inpaint_biharmonic(truth * observed, ~observed))
    weights = np.maximum(ndimage.gaussian_filter(observed * 1.0, 2), 1e-3)
    start = ndimage.gaussian_filter(y, 2) / weights
    # the missing pixels start far from the truth: begin the schedule at a large noise level
    betas = [b / sigma**2 for b in (0.005, 0.02, 0.1, 0.5, 1, 4, 16)]

    def inpaint():
        first = torch.as_tensor(start)
        return epll_restore(torch.as_tensor(y), prior, sigma, mask, start=first, betas=betas)

    out, s = timed(lambda: inpaint().numpy())
    table["inpainting (50% of pixels missing)"] = {
        "normalised Gaussian smoothing of the observed pixels": (*scores(start, truth), "", 0.0),
        "biharmonic (scikit-image)": (*scores(bih, truth), "", bih_s),
        "EPLL (ours)": (*scores(out, truth), "", s),
    }
    return table


def print_table(title, rows):
    print(
        f"\n**{title}**\n\n| method | PSNR (dB) | SSIM | tuned | seconds |\n|---|---|---|---|---|"
    )
    for name, (psnr, ssim, note, seconds) in rows.items():
        print(f"| {name} | {psnr:.2f} | {ssim:.3f} | {note} | {seconds:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=20)
    parser.add_argument("--downscale", type=int, default=2)
    args = parser.parse_args()
    try:
        import skimage  # noqa: F401
    except ImportError:
        print("bench_restoration.py needs scikit-image (pip install -e .[bench]); skipped.")
        return
    train, truth = grey("china", args.downscale), grey("flower", args.downscale)
    truth = truth[: truth.shape[0] // 2 * 2, : truth.shape[1] // 2 * 2]  # even sides for ×2
    images = [torch.as_tensor(train)]
    prior, seconds = timed(lambda: fit_patch_prior(images, n_components=args.components, seed=0))
    print(
        f"patch prior: K = {args.components}, 8×8, fitted on 'china' {train.shape} in "
        f"{seconds:.0f} s; restoring 'flower' {truth.shape}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    for level in (15, 25, 50):
        rng = np.random.default_rng(level)
        print_table(f"denoising, σ = {level}/255", denoising_rows(truth, prior, level / 255, rng))
    for title, rows in inverse_rows(truth, prior, np.random.default_rng(1)).items():
        print_table(title, rows)


if __name__ == "__main__":
    main()
