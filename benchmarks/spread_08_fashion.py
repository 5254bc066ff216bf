"""Spread of notebook 08b's Fashion-MNIST claims over seeds and thread counts (full mode).

For seeds 0..4 and 1 and 2 torch threads, trains the conditional DCGAN of notebook
``08b_dcgan_fashion_mnist`` exactly as the notebook does (all 55,000 training images, 2 epochs),
with the model and training seed set to ``seed`` (sampling seeds as in the notebook), and
prints one JSON line per run: FD (and FD of uniform noise), class accuracy and its weakest and
strongest class, within-class diversity against the test images, precision and recall (and the
test set's), the median nearest-train distance (and the test set's), NDB beside the calibration
rows' NDB, and exercise 1's truncation curve (class accuracy and diversity of 1,000 samples at
t = 0.5, 1 and none). Each run is a 4-minute training on 2 quiet cores (6 on one), so the 10
runs take about 50 minutes. Run: ``nice -n 5 python benchmarks/spread_08_fashion.py
[seeds...]``.
"""

from __future__ import annotations

from spread_runner import sweep

CHILD = r"""
import json, sys, torch
threads, seed = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
from lessons_lib import metrics
from lessons_lib.data import load_fashion_mnist
from lessons_lib.gan import GAN, train_gan, within_class_diversity

f_images, f_labels = load_fashion_mnist("train", device="cpu")
fashion = GAN((1, 28, 28), latent_dim=32, n_classes=10, arch="dcgan", seed=seed)
history = train_gan(fashion, f_images, labels=f_labels, epochs=2, seed=seed, progress=False)
del f_images, f_labels
f_table = metrics.calibration_table("fashion-mnist")
n_f = f_table.meta["n"]
f_wanted = torch.arange(n_f) % 10
f_samples = torch.cat([fashion.sample(1000, labels=f_wanted[k : k + 1000], seed=k).cpu()
                       for k in range(0, n_f, 1000)])
f_row = metrics.evaluate_samples(f_samples, f_wanted, dataset="fashion-mnist", name="ours")
f_test, f_test_labels = load_fashion_mnist("test", device="cpu")
reference = within_class_diversity(f_test[:2000], f_test_labels[:2000])
diversity = within_class_diversity(f_samples[:2000], f_wanted[:2000]) / reference
read = metrics.classify(f_samples, "fashion-mnist").cpu()
per_class = [round(float((read[f_wanted == k] == k).float().mean()), 3) for k in range(10)]
many = torch.arange(1000) % 10
curve = {}
for t in (0.5, 1.0, None):
    s = fashion.sample(1000, labels=many, seed=5, truncation=t).cpu()
    curve[str(t)] = [round(metrics.class_accuracy(s, many, dataset="fashion-mnist"), 3),
                     round(within_class_diversity(s, many) / reference, 3)]
floor = f_table.row("test set (floor)")
rows = {r["name"]: r["ndb_count"] for r in f_table}
print(json.dumps({"threads": threads, "seed": seed, "fd": round(float(f_row["fd"]), 2),
    "noise_fd": round(float(f_table.row("uniform noise")["fd"]), 1),
    "acc": round(float(f_row["class_accuracy"]), 3), "per_class_acc": per_class,
    "diversity": round(diversity, 3),
    "precision": round(float(f_row["precision"]), 3), "recall": round(float(f_row["recall"]), 3),
    "floor_precision": round(float(floor["precision"]), 3),
    "floor_recall": round(float(floor["recall"]), 3),
    "nearest_train": round(float(f_row["nearest_train"]), 3),
    "floor_nearest_train": round(float(floor["nearest_train"]), 3),
    "d_real_last": round(float(history["d_real"][-1]), 3),
    "d_fake_last": round(float(history["d_fake"][-1]), 3),
    "truncation": curve,
    "ndb": f_row["ndb_count"], "calibration_ndb": rows}), flush=True)
"""


def main() -> None:
    sweep(CHILD)


if __name__ == "__main__":
    main()
