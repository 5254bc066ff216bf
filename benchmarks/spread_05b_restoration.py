"""Spread of notebook 05b's claims over seeds and thread counts (full mode).

Reproduces, with notebook 05b's photos and settings, the computations behind its claims: the
patch prior (held-out gain over one Gaussian, the means' share of the variance, the samples'
covariance), the Gaussian MRF's learned smoothness against the oracle, the denoising tables at
σ = 15, 25 and 50, EPLL's objective, deblurring, ×2 super-resolution, scratches, and exercises
2-4. Run ``s`` = 0 is the notebook itself (``SEED = 0``); run ``s`` draws the prior's patches
and EM start with seed s and every noise from s, as the notebook does from ``SEED``. Prints one
JSON line per (seed, threads).

Run: ``python benchmarks/spread_05b_restoration.py [--seeds 0 1 2 3 4] [--threads 1 2]``
(about 2 minutes per run on a quiet core).
"""

from __future__ import annotations

import argparse

from spread_runner import runs, stream_child

CHILD = r"""
import json, sys, time, warnings
import numpy as np, torch
warnings.filterwarnings("ignore")
from skimage.restoration import inpaint_biharmonic, richardson_lucy
from skimage.transform import resize
from lessons_lib import seed_everything
from lessons_lib.data import load_photo
from lessons_lib.restoration import (Blur, Downsample, Mask, compare_denoisers, epll_objective,
    epll_restore, extract_patches, fit_gaussian_mrf, fit_patch_prior, gaussian_kernel,
    gaussian_mrf_denoise, image_scores, scratch_mask, tune_on_truth)

threads, SEED = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
seed_everything(SEED)
started = time.perf_counter()
out = {"threads": threads, "seed": SEED}


def grey_photo(name):
    photo = load_photo(name, downscale=2).mean(axis=2).astype(np.float64)
    return photo[: photo.shape[0] // 2 * 2, : photo.shape[1] // 2 * 2]


train_photo, truth = grey_photo("china"), grey_photo("flower")
train_patches = extract_patches(torch.as_tensor(train_photo), 8)
prior = fit_patch_prior([torch.as_tensor(train_photo)], size=8, n_components=20,
                        n_patches=20_000, max_iter=40, seed=SEED, device="cpu")
one = fit_patch_prior([torch.as_tensor(train_photo)], size=8, n_components=1,
                      n_patches=20_000, seed=SEED)
history = np.asarray(prior.mixture.history_)
out["em_monotone"] = bool(np.all(np.diff(history) >= -1e-9 * np.abs(history[1:])))
test_patches = extract_patches(torch.as_tensor(truth), 8)
out["held_out_gain"] = round(prior.log_prob(test_patches).mean().item()
                             - one.log_prob(test_patches).mean().item(), 2)

generator = torch.Generator().manual_seed(SEED)
real = train_patches[torch.randperm(len(train_patches), generator=generator)[:10_000]]
real = real - real.mean(dim=1, keepdim=True)
drawn = torch.as_tensor(prior.mixture.sample(10_000, seed=SEED + 1)[0]).double()
means, weights = prior.means, prior.log_weights.exp()
between = float(weights @ ((means - weights @ means) ** 2).sum(dim=1))
out["means_share"] = round(between / float(torch.cov(real.T).trace()), 3)
out["cov_gap_ratio"] = round((torch.cov(drawn.T) - torch.cov(real.T)).abs().max().item()
                             / torch.cov(real.T).abs().max().item(), 4)

sigma = 25 / 255
noisy_25 = truth + sigma * np.random.default_rng(SEED + 25).standard_normal(truth.shape)
learned = image_scores(gaussian_mrf_denoise(noisy_25, sigma, fit_gaussian_mrf(train_photo)),
                       truth)["psnr"]
tables = {}
for level in (15, 25, 50):
    rows = compare_denoisers(truth, prior, level / 255, seed=SEED + level)
    tables[level] = rows
    out[f"s{level}"] = {r["method"].split(",")[0]: [round(r["psnr"], 2), round(r["ssim"], 3)]
                        for r in rows}
row = lambda level, m: next(r for r in tables[level] if r["method"] == m)
EPLL = "EPLL, GMM patch prior"
out["mrf_learned_minus_oracle"] = round(learned - row(25, "Gaussian MRF")["psnr"], 2)
y25 = torch.as_tensor(row(25, "noisy input")["image"])
f = {m: epll_objective(torch.as_tensor(row(25, m)["image"]), y25, prior, sigma)
     for m in ("noisy input", "Gaussian filter", EPLL)}
out["objective_ok"] = bool(f[EPLL] > f["noisy input"] and f[EPLL] > f["Gaussian filter"])

schedule = lambda *levels: [1 / (s / 255) ** 2 for s in levels]
x_true, low = torch.as_tensor(truth), 2 / 255
rng = np.random.default_rng(SEED + 1)
blur = Blur(gaussian_kernel(1.6))
y_blur = blur(x_true).numpy() + low * rng.standard_normal(truth.shape)
_, rl = tune_on_truth(lambda n: richardson_lucy(np.clip(y_blur, 0, 1),
                      gaussian_kernel(1.6).numpy(), num_iter=n), (3, 5, 10, 20, 30), truth)
e = epll_restore(torch.as_tensor(y_blur), prior, low, blur,
                 betas=schedule(20, 10, 5, 2.5, 1.25), cg_iter=30)
out["deblur"] = [round(image_scores(v, truth)["psnr"], 2) for v in (y_blur, rl, e)]
down = Downsample(2)
y_small = down(x_true).numpy() + low * rng.standard_normal(down(x_true).shape)
cubic = resize(y_small, truth.shape, order=3, anti_aliasing=False)
e = epll_restore(torch.as_tensor(y_small), prior, low, down, start=torch.as_tensor(cubic),
                 betas=schedule(20, 10, 5, 2.5, 1.25))
out["sr"] = [round(image_scores(v, truth)["psnr"], 2) for v in (cubic, e)]
observed = scratch_mask(truth.shape, 25, width=2, seed=SEED)
y_s = truth * observed
bih = inpaint_biharmonic(y_s, ~observed)
e = epll_restore(torch.as_tensor(y_s), prior, low, Mask(torch.as_tensor(observed)),
                 start=torch.as_tensor(bih), betas=SCRATCH_SCHEDULE)
out["scratches"] = [round(image_scores(v, truth)["psnr"], 2) for v in (bih, e)]

linear = epll_restore(torch.as_tensor(noisy_25), one, sigma)
out["k1_psnr"] = round(image_scores(linear, truth)["psnr"], 2)
last = epll_restore(torch.as_tensor(noisy_25), prior, sigma, betas=[32 / sigma**2])
out["last_only"] = [round(image_scores(last, truth)["psnr"], 2),
                    bool(epll_objective(last, y25, prior, sigma) < f[EPLL])]
colour = load_photo("flower", downscale=2)[:212, :320][50:146, 110:206].astype(np.float64)
noisy_c = colour + sigma * np.random.default_rng(SEED).standard_normal(colour.shape)
restored = np.stack([epll_restore(torch.as_tensor(noisy_c[..., c]), prior, sigma).numpy()
                     for c in range(3)], axis=-1)
mse = lambda a: np.mean((np.clip(a, 0, 1) - colour) ** 2)
out["colour_gain"] = round(10 * np.log10(mse(noisy_c) / mse(restored)), 2)
out["seconds"] = round(time.perf_counter() - started)
print(json.dumps(out), flush=True)
"""

#: The scratch schedule of the notebook (patch-step noise levels out of 255).
SCRATCH_LEVELS = (10, 5, 2.5, 1.2)
CHILD = CHILD.replace(
    "SCRATCH_SCHEDULE", "schedule(" + ", ".join(str(v) for v in SCRATCH_LEVELS) + ")"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    for threads, seed in runs(args.seeds, args.threads):
        for line in stream_child(CHILD, threads, seed):
            print(line, end="", flush=True)


if __name__ == "__main__":
    main()
