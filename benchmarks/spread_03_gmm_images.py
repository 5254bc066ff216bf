"""Spread of notebook 03's random claims over seeds and thread counts (full mode).

For seeds 0..4 and 1 and 2 threads, reproduces the notebook's computations with its data
and settings, every seed of the notebook replaced by ``seed`` plus the notebook's offset
(the notebook is seed 0), and prints one line of values per run:

* digits, section 1: held-out gain of the 10-component mixture over one Gaussian (nats per
  digit), and how many digit classes are the majority of some component;
* section 2: the classifier's test accuracy, its mean confidence on real test digits, one
  Gaussian's and the mixture's samples, the mean distance between two images (real,
  mixture, means only), and the median distance of a sample / a test digit to its nearest
  training digit;
* section 3: the classifier's confidence on the PCA mixture's samples;
* section 4: the largest ratio mixture error / one Gaussian's error and one Gaussian's
  error / the mean image's over the five masks;
* section 5: the palette's largest gap to the photo's mean colour and colour covariance,
  the quantisation errors for K = 2, 4, 8, and the colour transfer's distance of the mean
  colour to flower's, after / before;
* section 6: Fashion-MNIST held-out log-likelihood MFA - diagonal, the roughness (mean
  absolute difference of horizontal neighbours) of real images, MFA samples with and
  without noise; digits: MFA - full and MFA - diagonal held-out log-likelihoods.

Run: ``python benchmarks/spread_03_gmm_images.py`` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

from spread_runner import run_child, runs

CHILD = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from lessons_lib import seed_everything
from lessons_lib.data import fashion_mnist_available, load_digits, load_fashion_mnist, load_photo
from lessons_lib.gaussian import Gaussian
from lessons_lib.gmm import GaussianMixture, MixtureOfFactorAnalyzers, transfer_colours
seed = int(sys.argv[2])
rng = seed_everything(seed)
out = {}

images, labels = load_digits("train", device="cpu")
X = images.reshape(len(images), -1).double().numpy()
y = labels.numpy()
X_val = load_digits("val", device="cpu")[0].reshape(-1, 64).double().numpy()
test_images, test_labels = load_digits("test", device="cpu")
X_test = test_images.reshape(len(test_images), -1).double().numpy()
gmm = GaussianMixture(10, reg_covar=1e-3, n_init=3, seed=seed).fit(X)
gaussian = Gaussian(reg_covar=1e-3).fit(X)
components = gmm.predict(X)
majority = [int(np.bincount(y[components == k], minlength=10).argmax()) for k in range(10)]
out["gain"] = gmm.score(X_val) - gaussian.score(X_val)
out["classes"] = len(set(majority))

rng.choice(10, size=40, p=gmm.weights_)  # the notebook's first draw (the 'means only' row)
classifier = LogisticRegression(max_iter=2000).fit(X, y)
out["accuracy"] = classifier.score(X_test, test_labels.numpy())


def mean_distance(batch):
    batch = np.clip(batch, 0, 1)
    gaps = batch[:, None, :] - batch[None, :, :]
    return np.sqrt((gaps**2).sum(-1))[np.triu_indices(len(batch), 1)].mean()


def nearest_training(batch):
    batch = np.clip(batch, 0, 1)
    return np.sqrt(((batch[:, None, :] - X[None]) ** 2).sum(-1)).min(1)


many, _ = gmm.sample(300, seed=seed + 2)
many_means = gmm.means_[rng.choice(10, size=300, p=gmm.weights_)]
for name, batch in {
    "conf_real": X_test[:300],
    "conf_gauss": gaussian.sample(300, seed=seed + 2),
    "conf_mix": many,
}.items():
    out[name] = classifier.predict_proba(np.clip(batch, 0, 1)).max(1).mean()
real = mean_distance(X_test[:300])
out["div_mix"] = mean_distance(many) / real
out["div_means"] = mean_distance(many_means) / real
out["nn_mix"] = np.median(nearest_training(many))
out["nn_test"] = np.median(nearest_training(X_test[:300]))

pca = PCA(n_components=20, random_state=0).fit(X)
gmm_pca = GaussianMixture(20, reg_covar=1e-4, n_init=3, seed=seed).fit(pca.transform(X))
codes, _ = gmm_pca.sample(300, seed=seed + 3)
pca_samples = np.clip(pca.inverse_transform(codes), 0, 1)
out["conf_pca"] = classifier.predict_proba(pca_samples).max(1).mean()


def square_mask(top, bottom, left, right):
    m = np.ones((8, 8), dtype=bool)
    m[top:bottom, left:right] = False
    return m.reshape(-1)


masks = [
    square_mask(4, 8, 0, 8), square_mask(0, 4, 0, 8), square_mask(0, 8, 0, 4),
    square_mask(2, 6, 2, 6), np.random.default_rng(0).random(64) < 0.5,
]
ratios_mix, ratios_gauss = [], []
for m in masks:
    e_mix, e_gauss = [np.mean((g.inpaint(X_test, m) - X_test)[:, ~m] ** 2) for g in (gmm, gaussian)]
    e_mean = np.mean((gaussian.mean_ - X_test)[:, ~m] ** 2)
    ratios_mix.append(e_mix / e_gauss)
    ratios_gauss.append(e_gauss / e_mean)
out["mask_mix"], out["mask_gauss"] = max(ratios_mix), max(ratios_gauss)

photo = load_photo("china", downscale=2)
pixels = photo.reshape(-1, 3).astype(np.float64)
colour_gmm = GaussianMixture(8, seed=seed).fit(pixels)
palette, _ = colour_gmm.sample(len(pixels), seed=seed)
out["pal_mean"] = np.abs(palette.mean(0) - pixels.mean(0)).max()
out["pal_cov"] = np.abs(np.cov(palette.T) - np.cov(pixels.T)).max()
small = load_photo("china", downscale=4).reshape(-1, 3).astype(np.float64)
for k in (2, 4, 8):
    model = GaussianMixture(k, seed=seed).fit(small)
    out[f"quant{k}"] = np.mean((model.means_[model.predict(small)] - small) ** 2)
china, flower = load_photo("china", downscale=4), load_photo("flower", downscale=4)
fits = [
    GaussianMixture(5, "full", reg_covar=1e-4, seed=seed, device="cpu").fit(
        p.reshape(-1, 3).astype(np.float64)
    )
    for p in (china, flower)
]
moved = transfer_colours(china.reshape(-1, 3).astype(np.float64), *fits)
target = flower.reshape(-1, 3).mean(0)
before = np.linalg.norm(china.reshape(-1, 3).mean(0) - target)
out["transfer"] = np.linalg.norm(moved.mean(0) - target) / before

if fashion_mnist_available():
    clothes, _ = load_fashion_mnist("train", device="cpu")
    F_train = clothes[:10000].reshape(10000, -1).double()
    F_val = load_fashion_mnist("val", device="cpu")[0][:2000].reshape(2000, -1).double()
    mfa = MixtureOfFactorAnalyzers(10, 10, noise_floor=1e-3, max_iter=30, seed=seed).fit(F_train)
    diag = GaussianMixture(10, "diag", reg_covar=1e-3, max_iter=30, seed=seed).fit(F_train)
    out["fashion"] = mfa.score(F_val) - diag.score(F_val)


    def roughness(batch):
        batch = batch.clamp(0, 1).reshape(-1, 28, 28)
        return float((batch[:, :, 1:] - batch[:, :, :-1]).abs().mean())


    out["rough_real"] = roughness(F_val[:16])
    out["rough_mfa"] = roughness(mfa.sample(16, seed=seed)[0])
    out["rough_smooth"] = roughness(mfa.sample(16, seed=seed, add_noise=False)[0])
mfa_digits = MixtureOfFactorAnalyzers(10, 8, noise_floor=1e-3, seed=seed).fit(X)
diag_digits = GaussianMixture(10, "diag", reg_covar=1e-3, seed=seed).fit(X)
out["mfa_full"] = mfa_digits.score(X_val) - gmm.score(X_val)
out["mfa_diag"] = mfa_digits.score(X_val) - diag_digits.score(X_val)
print(" ".join(f"{k}={float(v):.4g}" for k, v in out.items()))
"""


def main() -> None:
    for threads, seed in runs(range(5), (1, 2)):
        out = run_child(CHILD, threads, seed).strip()
        print(f"threads={threads} seed={seed}: {out}", flush=True)


if __name__ == "__main__":
    main()
