"""Spread of 12_comparing_models's comparison (sections 1-3) over seeds and threads (full mode).

Fits every model of notebook 12 exactly as the notebook does (same data, settings and budgets),
with every model seed set to ``seed``, for seeds 0..4 and 1 and 2 threads, and prints one JSON
line per run: each model's test bits/dim, Fréchet distance, precision, recall, class accuracy
and nearest-train distance, and the image tasks' error rates. The notebook's asserts take their
thresholds from these lines (``benchmarks/README.md``, "Spread of claims").

    python benchmarks/spread_12_table.py              # 10 runs, about 40 minutes on 2 cores
    python benchmarks/spread_12_table.py 0 1          # only seeds 0 and 1
    THREADS=2 python benchmarks/spread_12_table.py    # only 2 threads
"""

from __future__ import annotations

import json
import os
import sys

from spread_runner import run_child, runs

CHILD = r"""
import json, sys, torch
threads, seed = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
from lessons_lib import metrics, mrf
from lessons_lib.data import load_digits
from lessons_lib.gan import GAN, train_gan
from lessons_lib.gaussian import Gaussian
from lessons_lib.gmm import GaussianMixture, MixtureOfFactorAnalyzers
from lessons_lib.vae import VAE, dequantize, train_vae

dev = "cpu"
x_train, y_train = load_digits("train", device="cpu")
x_val, _ = load_digits("val", device="cpu")
x_test, _ = load_digits("test", device="cpu")
y_deq_train = dequantize(x_train, 17, copies=4, seed=0)
y_deq_val = dequantize(x_val, 17, seed=1)
y_deq_test = dequantize(x_test, 17, seed=2)
flat = lambda im: im.flatten(1).double()
as_images = lambda rows: torch.as_tensor(rows).float().clamp(0, 1).view(-1, 1, 8, 8)
bpd = lambda ld: float(metrics.dequantized_bits_per_dim(-float(ld.mean()), 64, 17))
n = len(x_test)
balanced = torch.arange(1000) % 10
out = {"threads": threads, "seed": seed}

def row(name, images, labels=None, bits=None):
    r = metrics.evaluate_samples(images[:n], None if labels is None else labels[:n], name=name)
    keys = ("fd", "precision", "recall", "ndb_count", "class_accuracy", "nearest_train")
    out[name] = {k: (None if r.get(k) is None else round(float(r[k]), 4)) for k in keys}
    out[name]["bpd"] = None if bits is None else round(bits, 4)

g = Gaussian(reg_covar=1e-3, device=dev).fit(flat(y_deq_train))
row("gaussian", as_images(g.sample(1000, seed=seed)), bits=bpd(g.score_samples(flat(y_deq_test))))
fits = [GaussianMixture(k, "full", reg_covar=1e-3, seed=seed, device=dev).fit(flat(y_deq_train))
        for k in (5, 10, 20)]
gmm = max(fits, key=lambda m: m.score(flat(y_deq_val)))
out["gmm_k"] = gmm.n_components
row("gmm", as_images(gmm.sample(1000, seed=seed)[0]), bits=bpd(gmm.score_samples(flat(y_deq_test))))
mfa = MixtureOfFactorAnalyzers(10, 8, seed=seed, device=dev).fit(flat(y_deq_train))
row("mfa", as_images(mfa.sample(1000, seed=seed)[0]), bits=bpd(mfa.score_samples(flat(y_deq_test))))
vae = VAE((1, 8, 8), latent_dim=8, likelihood="gaussian", seed=seed)
train_vae(vae, y_deq_train, epochs=None, seed=seed, device=dev, progress=False)
vae_bits = bpd(vae.log_likelihood(y_deq_test, k=1000, seed=seed))
row("vae_drawn", vae.sample(1000, seed=seed).clamp(0, 1).cpu(), bits=vae_bits)
row("vae_mean", vae.decoder_means(1000, seed=seed).cpu(), bits=vae_bits)
gan_u = GAN((1, 8, 8), latent_dim=32, arch="dcgan", seed=seed)
train_gan(gan_u, x_train, epochs=None, seed=seed, device=dev, progress=False)
gan_u.eval()
row("dcgan", gan_u.sample(1000, seed=seed).cpu())
cvae = VAE((1, 8, 8), latent_dim=8, likelihood="gaussian", n_classes=10, seed=seed)
train_vae(cvae, x_train, labels=y_train, epochs=None, seed=seed, device=dev, progress=False)
drawn = cvae.sample(1000, labels=balanced, seed=seed).clamp(0, 1).cpu()
row("cvae_drawn", drawn, balanced)
row("cvae_mean", cvae.decoder_means(1000, labels=balanced, seed=seed).cpu(), balanced)
gan_c = GAN((1, 8, 8), latent_dim=32, n_classes=10, arch="dcgan", seed=seed)
train_gan(gan_c, x_train, labels=y_train, epochs=None, seed=seed, device=dev, progress=False)
gan_c.eval()
row("cdcgan", gan_c.sample(1000, labels=balanced, seed=seed).cpu(), balanced)

# Section 3: the image tasks on binarized digits.
b_train, _ = load_digits("train", binarize=True, device="cpu")
b_test, _ = load_digits("test", binarize=True, device="cpu")
truth = b_test[:200]
gmm_bin = GaussianMixture(10, "full", reg_covar=1e-2, seed=seed, device=dev).fit(flat(b_train))
bern = VAE((1, 8, 8), latent_dim=8, likelihood="bernoulli", seed=seed)
train_vae(bern, b_train, epochs=None, seed=seed, device=dev, progress=False)
ising = mrf.IsingPrior(device="cpu").fit(b_train)
observed = torch.ones_like(truth, dtype=torch.bool)
observed[:, :, 4:, :] = False
err = lambda p, where: float(((p > 0.5).float() != truth)[where].float().mean())
fills = {
    "gmm": gmm_bin.inpaint(truth, observed).clamp(0, 1),
    "mrf": ising.inpaint(truth, observed, n_sweeps=100, n_samples=50, seed=seed),
    "vae": bern.inpaint(truth, observed, k=1000, n_rounds=8, seed=seed).cpu(),
}
out["inpaint"] = {k: round(err(v, ~observed), 4) for k, v in fills.items()}
p = 0.1
noisy = torch.stack([(mrf.flip_noise(2 * im[0] - 1, p, seed=i) + 1) / 2
                     for i, im in enumerate(truth)])[:, None]
spins = [2 * im[0] - 1 for im in noisy]
everywhere = torch.ones_like(truth, dtype=torch.bool)
restored = {
    "mrf_map": torch.stack([(mrf.denoise(s, ising.beta_, p, method="min-cut") + 1) / 2
                            for s in spins])[:, None],
    "mrf_mpm": torch.stack([mrf.posterior_marginals(s, ising.beta_, p, seed=seed + i, device="cpu")
                            for i, s in enumerate(spins)])[:, None],
    "vae_mpm": bern.denoise(noisy, p, k=1000, seed=seed).cpu(),
}
out["denoise"] = {k: round(err(v, everywhere), 4) for k, v in restored.items()}
print("RESULT " + json.dumps(out))
"""


def main() -> None:
    seeds = [int(s) for s in sys.argv[1:]] or list(range(5))
    thread_counts = [int(os.environ["THREADS"])] if "THREADS" in os.environ else [1, 2]
    for threads, seed in runs(seeds, thread_counts):
        lines = [
            ln for ln in run_child(CHILD, threads, seed).splitlines() if ln.startswith("RESULT ")
        ]
        print(json.dumps(json.loads(lines[0][7:])), flush=True)


if __name__ == "__main__":
    main()
