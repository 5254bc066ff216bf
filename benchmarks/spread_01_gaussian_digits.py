"""Spread of notebook 01's random claims over seeds and thread counts (full mode).

Reproduces, with the notebook's data and settings, the three claims of notebook 01 that
depend on random draws, for seeds 0..4 and 1 and 2 threads, and prints each run's values:

* the slope of the covariance error against N on a log-log plot (section 2; 20 draws per
  size, seeds ``20 * seed + 0..19``; the notebook uses seed 0, i.e. draws 0..19);
* the share of pixels of 2,000 samples of one Gaussian outside [0, 1] (section 6; the
  notebook samples with seed 1, here ``seed + 1``);
* the share of 500 random pairs of digits of *different* classes whose blend
  ``(a + b) / 2`` is more likely than both digits, and the mean gain of the blend over the
  pair's average log-density (section 6; pairs from ``np.random.default_rng(seed)``).

Run: ``python benchmarks/spread_01_gaussian_digits.py`` (about 1 minute on 2 cores).
"""

from __future__ import annotations

from spread_runner import run_child, runs

CHILD = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
import numpy as np
from lessons_lib.data import load_digits
from lessons_lib.gaussian import Gaussian, fit_gaussian, sample_gaussian
seed = int(sys.argv[2])

true_mean = np.array([0.5, 2.0, -1.0])
true_cov = np.array([[1.0, 0.6, 0.2], [0.6, 2.0, -0.5], [0.2, -0.5, 0.8]])
sizes = np.array([30, 100, 300, 1000, 3000, 10000, 30000])
errors = []
for n in sizes:
    trials = [
        fit_gaussian(sample_gaussian(true_mean, true_cov, int(n), seed=20 * seed + s))
        for s in range(20)
    ]
    errors.append(np.mean([np.abs(c - true_cov).max() for _, c in trials]))
slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]

images, labels = load_digits("train", device="cpu")
X = images.reshape(len(images), -1).double().numpy()
y = labels.numpy()
gaussian = Gaussian(reg_covar=1e-3).fit(X)
many_samples = gaussian.sample(2000, seed=seed + 1)
outside = np.mean((many_samples < 0) | (many_samples > 1))

pairs = np.random.default_rng(seed).integers(len(X), size=(500, 2))
pairs = pairs[y[pairs[:, 0]] != y[pairs[:, 1]]]
a, b = X[pairs[:, 0]], X[pairs[:, 1]]
blend = gaussian.score_samples((a + b) / 2)
log_a, log_b = gaussian.score_samples(a), gaussian.score_samples(b)
above_both = np.mean(blend > np.maximum(log_a, log_b))
gain = np.mean(blend - (log_a + log_b) / 2)
print(f"{slope:.3f} {outside:.4f} {above_both:.4f} {gain:.2f} {len(pairs)}")
"""


def main() -> None:
    for threads, seed in runs(range(5), (1, 2)):
        out = run_child(CHILD, threads, seed).split()
        print(
            f"threads={threads} seed={seed}: slope {out[0]}, pixels outside [0, 1] {out[1]}, "
            f"blend above both digits {out[2]} of {out[4]} pairs, mean gain {out[3]} nats"
        )


if __name__ == "__main__":
    main()
