"""Spread of notebook 05's random claims over seeds and thread counts (full mode).

Reproduces, with notebook 05's data and settings, only the computations behind its claims:
the denoising table (annealing against the exact minimum-cut MAP, ICM, MPM; part ``denoise``),
and the posterior marginals, pseudo-likelihood, the noise rate by EM, inpainting, the Potts
segmentations and exercises 2 and 3 (part ``rest``). Run ``s`` = 0 is the notebook itself;
run ``s`` > 0 draws fresh flip noise (seed 1 + s), fresh sampler seeds (notebook seed + s) and a
fresh mixture start (seed s). For s in 0..4 and 1 and 2 torch threads (one process, the thread
count set before each run) it prints one line of ``key=value`` per run.
Run: ``python benchmarks/spread_05_claims.py [denoise|rest]`` (default: both; a few minutes on
2 quiet cores).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from lessons_lib.data import load_digits, load_photo
from lessons_lib.gmm import GaussianMixture
from lessons_lib.mrf import (
    DENOISE_METHODS,
    boundary_length,
    denoise,
    denoise_energy,
    estimate_noise_rate,
    fit_pseudo_likelihood,
    flip_noise,
    inpaint,
    ising_gibbs,
    make_shapes,
    min_cut_map,
    posterior_marginals,
    potts_segment,
)


def _images(s: int):
    digits, _ = load_digits("test", binarize=True)
    test_images = {
        "shapes": (make_shapes(64, 64, 6, seed=0), 0.15),
        "digit": (
            np.kron(2.0 * digits[3, 0].numpy() - 1.0, np.ones((8, 8))).astype(np.float32),
            0.25,
        ),
    }
    noisy_images = {n: flip_noise(clean, p, seed=1 + s) for n, (clean, p) in test_images.items()}
    return test_images, noisy_images


def part_denoise(s: int) -> dict:
    out = {}
    test_images, noisy_images = _images(s)
    beta = 1.0
    results = {}
    for name, (clean, p) in test_images.items():
        noisy = noisy_images[name]
        for method in DENOISE_METHODS:
            restored = denoise(noisy, beta, p, method=method, seed=s, device="cpu")
            energy = denoise_energy(restored, noisy, beta, p)
            results[name, method] = (restored, energy, float((restored != clean).mean()))
        exact_map, gap = min_cut_map(noisy, beta, p)
        best = denoise_energy(exact_map, noisy, beta, p)
        anneal, e_anneal, _ = results[name, "gibbs"]
        out[f"{name}_anneal_gap"] = round(e_anneal - best, 3)
        out[f"{name}_anneal_gap_pct"] = round(100 * (e_anneal - best) / abs(best), 3)
        out[f"{name}_anneal_disagree_pct"] = round(100 * float((anneal != exact_map).mean()), 3)
        out[f"{name}_icm_gap_pct"] = round(100 * (results[name, "icm"][1] - best) / abs(best), 3)
        out[f"{name}_mincut_gap0"] = gap == 0.0
        out[f"{name}_clean_above_map"] = bool(denoise_energy(clean, noisy, beta, p) > best)
        errors = {m: results[name, m][2] for m in DENOISE_METHODS}
        out[f"{name}_mincut_err_pct"] = round(100 * errors["min-cut"], 2)
        out[f"{name}_mpm_err_pct"] = round(100 * errors["mpm"], 2)
        out[f"{name}_best_err_method"] = min(errors, key=errors.get)
    return out


def part_rest(s: int) -> dict:
    out = {}
    test_images, noisy_images = _images(s)
    beta = 1.0
    clean, p = test_images["shapes"]
    noisy = noisy_images["shapes"]
    marginals = posterior_marginals(noisy, beta, p, n_sweeps=300, seed=s, device="cpu")
    uncertain = (marginals > 0.1) & (marginals < 0.9)
    out["uncertain_pct"] = round(100 * float(uncertain.mean()), 2)
    padded = np.pad(clean, 1, mode="edge")
    neighbourhood = np.stack(
        [
            padded[1:-1, 1:-1],
            padded[:-2, 1:-1],
            padded[2:, 1:-1],
            padded[1:-1, :-2],
            padded[1:-1, 2:],
        ]
    )
    near_edge = neighbourhood.min(0) != neighbourhood.max(0)
    d = np.pad(near_edge, 1)
    near_edge = d[1:-1, 1:-1] | d[:-2, 1:-1] | d[2:, 1:-1] | d[1:-1, :-2] | d[1:-1, 2:]
    out["ex2_share_pct"] = round(100 * float(near_edge[uncertain].mean()), 1)
    out["ex2_edge_pct"] = round(100 * float(near_edge.mean()), 1)

    samples = ising_gibbs((8, 64, 64), 0.35, 400, h=0.03, seed=3 + s, device="cpu")
    beta_check, h_check = fit_pseudo_likelihood(samples, boundary="periodic")
    out["pl_beta_relerr_pct"] = round(100 * abs(beta_check - 0.35) / 0.35, 2)
    out["pl_h_err"] = round(abs(h_check - 0.03), 4)
    clean_training = np.stack([make_shapes(64, 64, 6, seed=k) for k in range(100, 110)])
    beta_hat, h_hat = fit_pseudo_likelihood(clean_training)

    realized = float((noisy != clean).mean())
    handpicked = float((denoise(noisy, beta, p, method="min-cut") != clean).mean())
    for method in ["gibbs", "mean-field"]:
        rate, _ = estimate_noise_rate(
            noisy, beta_hat, init=0.3, method=method, seed=s, device="cpu"
        )
        out[f"em_{method}_err"] = round(abs(rate - realized), 4)
        if method == "gibbs":
            learned = denoise(noisy, beta_hat, rate, method="min-cut")
            out["learned_minus_handpicked_pct"] = round(
                100 * (float((learned != clean).mean()) - handpicked), 2
            )

    picture = make_shapes(64, 64, 6, seed=3)
    mask = np.zeros((64, 64), dtype=bool)
    mask[20:40, 20:40] = True
    fills = inpaint(picture, mask, beta_hat, h_hat, n_sweeps=300, n_samples=6, seed=s, device="cpu")
    average = fills.mean(0)
    hole_error = float((np.where(average > 0, 1.0, -1.0)[mask] != picture[mask]).mean())
    constant_error = min((picture[mask] > 0).mean(), (picture[mask] < 0).mean())
    out["hole_over_constant"] = round(hole_error / constant_error, 3)

    for photo_name in ["china", "flower"]:
        photo = load_photo(photo_name, downscale=4)
        pixels = photo.reshape(-1, 3)
        gmm = GaussianMixture(4, covariance_type="full", seed=s, max_iter=40, device="cpu")
        gmm.fit(pixels)
        alone = gmm.predict(pixels).reshape(photo.shape[:2])
        for method in ["mean-field", "icm"]:
            seg, details = potts_segment(
                photo, 4, 3.0, gmm, method=method, return_details=True, device="cpu"
            )
            out[f"{photo_name}_{method}_boundary_ratio"] = round(
                boundary_length(seg) / boundary_length(alone), 3
            )
            objective = np.array(details["objective"])
            out[f"{photo_name}_{method}_monotone"] = bool(
                np.all(np.diff(objective) <= 1e-6 * np.abs(objective[:-1]))
            )

    small = load_photo("china", downscale=8)
    gmm_small = GaussianMixture(4, seed=s, max_iter=30, device="cpu").fit(small.reshape(-1, 3))
    lengths = [
        boundary_length(potts_segment(small, 4, b, gmm_small, em_iter=3, device="cpu"))
        for b in [0.0, 0.5, 1.0, 2.0, 4.0]
    ]
    out["ex3_decreasing"] = bool(all(np.diff(lengths) < 0))
    out["ex3_lengths"] = "/".join(str(int(v)) for v in lengths)
    return out


PARTS = {"denoise": part_denoise, "rest": part_rest}


def main() -> None:
    parts = sys.argv[1:] or list(PARTS)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for seed in range(5):
            out = {}
            for part in parts:
                out.update(PARTS[part](seed))
            line = " ".join(f"{k}={v}" for k, v in out.items())
            print(f"threads={threads} seed={seed}: {line}", flush=True)


if __name__ == "__main__":
    main()
