"""Photo restoration with EPLL against classical baselines: PSNR and SSIM (issue 15's numbers).

A GMM patch prior (8×8 patches, K components, the course's EM) is fitted on one of
scikit-learn's photos ("china", grey, downscaled by 2) and restores the other ("flower", the
same way), degraded four ways: Gaussian noise at σ = 15, 25 and 50 (of 255), a known Gaussian
blur (std 1.6 px) with σ = 2/255 noise, ×2 decimation after an anti-alias blur (super-
resolution), and two inpaintings: half of the pixels missing at random, and notebook 05b's 25
scratches. The settings are notebook 05b's (20,000 patches, 40 EM iterations, its β schedules).
Each baseline's one parameter is tuned on the truth (an oracle: the most favourable setting for
the baseline), so the comparison flatters the baselines, not EPLL. PSNR and SSIM are
scikit-image's (``skimage.metrics``, data range 1).

Run: ``python benchmarks/bench_restoration.py [--components 20] [--downscale 2]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import ndimage

from lessons_lib.data import load_photo
from lessons_lib.restoration import (
    Blur,
    Downsample,
    Mask,
    compare_denoisers,
    epll_restore,
    fit_patch_prior,
    gaussian_kernel,
    image_scores,
    restoration_table,
    scratch_mask,
)


def grey(name: str, downscale: int) -> np.ndarray:
    return load_photo(name, downscale=downscale).mean(axis=2).astype(np.float64)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def scores(image, truth):
    found = image_scores(image, truth)
    return found["psnr"], found["ssim"]


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
    rl, rl_s = timed(lambda: richardson_lucy(np.clip(y, 0, 1), kernel, num_iter=10))
    falling = [1 / (level / 255) ** 2 for level in (20, 10, 5, 2.5, 1.25)]  # notebook 05b's
    out, s = timed(
        lambda: epll_restore(torch.as_tensor(y), prior, sigma, blur, betas=falling, cg_iter=30)
    )
    table["deblur (std 1.6 px, σ = 2/255)"] = {
        "observed": (*scores(y, truth), "", 0.0),
        "Richardson-Lucy (10 iterations)": (*scores(rl, truth), "", rl_s),
        "EPLL (ours)": (*scores(out, truth), "", s),
    }
    # super-resolution ×2
    down = Downsample(2)
    y = down(x).numpy() + sigma * rng.standard_normal(down(x).shape)
    cubic = resize(y, truth.shape, order=3, anti_aliasing=False)
    start = torch.as_tensor(cubic)
    out, s = timed(
        lambda: epll_restore(torch.as_tensor(y), prior, sigma, down, start=start, betas=falling)
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
    # notebook 05b's scratches, EPLL started from the biharmonic fill
    observed = scratch_mask(truth.shape, 25, width=2, seed=0)
    y = truth * observed
    bih, bih_s = timed(lambda: inpaint_biharmonic(y, ~observed))
    lower = [1 / (level / 255) ** 2 for level in (10, 5, 2.5, 1.2)]
    out, s = timed(
        lambda: epll_restore(
            torch.as_tensor(y),
            prior,
            sigma,
            Mask(torch.as_tensor(observed)),
            start=torch.as_tensor(bih),
            betas=lower,
        )
    )
    table["25 scratches, 2 px wide"] = {
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
    train, truth = grey("china", args.downscale), grey("flower", args.downscale)
    truth = truth[: truth.shape[0] // 2 * 2, : truth.shape[1] // 2 * 2]  # even sides for ×2
    images = [torch.as_tensor(train)]
    prior, seconds = timed(
        lambda: fit_patch_prior(
            images, n_components=args.components, n_patches=20_000, max_iter=40, seed=0
        )
    )
    print(
        f"patch prior: K = {args.components}, 8×8, fitted on 'china' {train.shape} in "
        f"{seconds:.0f} s; restoring 'flower' {truth.shape}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    for level in (15, 25, 50):
        rows = compare_denoisers(truth, prior, level / 255, seed=level)
        print(f"\n**denoising, σ = {level}/255**\n\n{restoration_table(rows)}")
    for title, rows in inverse_rows(truth, prior, np.random.default_rng(1)).items():
        print_table(title, rows)


if __name__ == "__main__":
    main()
