"""Spread of notebook 06's random claims over seeds and thread counts (full mode).

Reproduces, with notebook 06's data and settings, only the computations behind its claims: the
two-spikes-against-a-bell Fréchet distance, the Fréchet distance against N, precision and
recall of the test set, digits 0-6 and noisy digits, NDB, class accuracy with shuffled labels,
the digits calibration table with the one-Gaussian model's row, exercises 2 and 3, and the
Fashion-MNIST calibration table (when the data are present). Run ``s`` = 0 is the notebook
itself; run ``s`` > 0 uses seed notebook seed + s for every random draw (the random
generators, permutations, the NDB k-means, the calibration table's ``seed``). The feature
networks are trained once per thread count, in a data folder of their own.
For s in 0..4 and 1 and 2 torch threads (one process per thread count) it prints one line of
``key=value`` per run. Run: ``python benchmarks/spread_06_claims.py [digits,fashion] [0,1,2,3,4]
[1,2]`` (the parts, the seeds and the thread counts; the Fashion-MNIST part costs about 30 s of
CPU per seed, plus the training of its feature network once per thread count).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

CHILD = r"""
import sys
import numpy as np
import torch
from scipy.stats import ks_2samp
torch.set_num_threads(int(sys.argv[1]))
parts = sys.argv[3].split(",")
from lessons_lib import metrics
from lessons_lib.data import fashion_mnist_available, load_digits

train, train_labels = load_digits("train", device="cpu")
test, test_labels = load_digits("test", device="cpu")


def digits_part(s, out):

    rng = np.random.default_rng(0 + s)
    spikes = rng.choice([-1.0, 1.0], size=(20_000, 2))
    bell = rng.normal(size=(20_000, 2))
    out["fd_spikes_bell"] = round(metrics.frechet_distance_from_features(spikes, bell), 5)
    out["ks_spikes_bell"] = round(float(ks_2samp(spikes[:, 0], bell[:, 0]).statistic), 4)

    sizes = [60, 120, 240, len(test)]
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0 + s))
    fd_by_size = [metrics.frechet_distance(train[order[:n]], test[:n], device="cpu") for n in sizes]
    out["fd60_over_fd359"] = round(fd_by_size[0] / fd_by_size[-1], 2)

    reference = train[order[: len(test)]]
    noisy = metrics.add_gaussian_noise(test, 0.3, seed=0 + s)
    pr_test = metrics.precision_recall(reference, test, device="cpu")
    pr_06 = metrics.precision_recall(reference, test[test_labels < 7], device="cpu")
    pr_noise = metrics.precision_recall(reference, noisy, device="cpu")
    out["pr_test"] = f"{pr_test.precision:.3f}/{pr_test.recall:.3f}"
    out["pr_06_recall_drop"] = round(pr_test.recall - pr_06.recall, 3)
    out["pr_06_precision_drop"] = round(pr_test.precision - pr_06.precision, 3)
    out["pr_noise_precision_drop"] = round(pr_test.precision - pr_noise.precision, 3)

    bins = metrics.NDB(seed=0 + s).fit(train)
    held_out = bins.evaluate(test)
    no_nines = bins.evaluate(test[test_labels != 9])
    out["ndb_held_out"] = held_out.n_different
    out["ndb_no_nines"] = no_nines.n_different
    out["js_grows"] = bool(no_nines.js_divergence > held_out.js_divergence)

    perm = torch.randperm(len(test), generator=torch.Generator().manual_seed(1 + s))
    shuffled = test_labels[perm]
    out["class_acc_shuffled"] = round(metrics.class_accuracy(test, shuffled, device="cpu"), 3)

    table = metrics.calibration_table("digits", seed=0 + s, device="cpu")
    floor, missing, blurred, noisy_row, uniform, copies_row = table
    for key, row in zip(["floor", "missing", "blurred", "noisy", "uniform", "copies"], table):
        out[key] = (f"fd{row['fd']:.2f}/p{row['precision']:.3f}/r{row['recall']:.3f}"
                    f"/ndb{row['ndb_count']}/acc{row['class_accuracy']:.3f}/nn{row['nearest_train']:.3f}")
    out["fd_copies_minus_floor"] = round(copies_row["fd"] - floor["fd"], 2)
    out["digits_order_ok"] = bool(
        floor["fd"] < blurred["fd"] < uniform["fd"]
        and floor["fd"] < noisy_row["fd"] < uniform["fd"]
        and missing["recall"] < floor["recall"] and noisy_row["precision"] < floor["precision"]
        and floor["ndb_count"] < missing["ndb_count"] and floor["ndb_count"] < uniform["ndb_count"])

    flat = train.reshape(len(train), -1).double()
    gaussian = torch.distributions.MultivariateNormal(
        flat.mean(0),
        covariance_matrix=torch.cov(flat.T) + 1e-4 * torch.eye(64, dtype=torch.float64))
    torch.manual_seed(0 + s)
    samples = gaussian.sample((len(test),)).float().clamp(0, 1).reshape(-1, 1, 8, 8)
    row = metrics.evaluate_samples(samples, dataset="digits", name="g", seed=0 + s, device="cpu")
    out["gauss"] = (f"fd{row['fd']:.2f}/p{row['precision']:.3f}/r{row['recall']:.3f}"
                    f"/nn{row['nearest_train']:.3f}")
    out["gauss_nn_over_floor"] = round(row["nearest_train"] / floor["nearest_train"], 3)

    few = test[test_labels < 3]
    collapsed = few[torch.arange(len(test)) % len(few)]
    c_row = metrics.evaluate_samples(collapsed, dataset="digits", name="c", seed=0 + s,
                                     device="cpu")
    out["ex2_recall_drop"] = round(floor["recall"] - c_row["recall"], 3)
    out["ex2_precision_drop"] = round(floor["precision"] - c_row["precision"], 3)
    out["ex2_ndb"] = c_row["ndb_count"]
    pool = train[order[len(test) : 2 * len(test)]]
    copying = metrics.add_gaussian_noise(pool, 0.02, seed=1 + s)
    k_row = metrics.evaluate_samples(copying, dataset="digits", name="k", seed=0 + s, device="cpu")
    out["ex3_fd_over_floor"] = round(k_row["fd"] / floor["fd"], 3)
    out["ex3_nn_over_floor"] = round(k_row["nearest_train"] / floor["nearest_train"], 3)


def fashion_part(s, out):
    if fashion_mnist_available():
        net = metrics.feature_network("fashion-mnist", device="cpu")
        out["f_net_acc"] = round(net.info["test_accuracy"], 4)
        ftable = metrics.calibration_table("fashion-mnist", seed=0 + s, device="cpu")
        keys = ["f_floor", "f_missing", "f_blurred", "f_noisy", "f_uniform", "f_copies"]
        for key, row in zip(keys, ftable):
            out[key] = (f"fd{row['fd']:.2f}/p{row['precision']:.3f}/r{row['recall']:.3f}"
                        f"/ndb{row['ndb_count']}/acc{row['class_accuracy']:.3f}")
        f_floor, f_missing, f_blurred, f_noisy, f_uniform, f_copies = ftable
        out["f_blur_precision_minus_floor"] = round(
            f_blurred["precision"] - f_floor["precision"], 3)
        out["f_blur_recall_minus_floor"] = round(f_blurred["recall"] - f_floor["recall"], 3)
        out["f_uniform_precision"] = round(f_uniform["precision"], 4)

for s in map(int, sys.argv[2].split(",")):
    out = {}
    if "digits" in parts:
        digits_part(s, out)
    if "fashion" in parts:
        fashion_part(s, out)
    print(f"seed={s}: " + " ".join(f"{k}={v}" for k, v in out.items()), flush=True)
"""


def main() -> None:
    parts = sys.argv[1] if len(sys.argv) > 1 else "digits,fashion"
    seeds = sys.argv[2] if len(sys.argv) > 2 else "0,1,2,3,4"
    thread_counts = [int(t) for t in (sys.argv[3] if len(sys.argv) > 3 else "1,2").split(",")]
    for threads in thread_counts:
        # SPREAD06_DATA_T<threads>: a data folder whose networks (trained with that many
        # threads) are reused, instead of training them again in a fresh one.
        data_dir = os.environ.get(f"SPREAD06_DATA_T{threads}") or tempfile.mkdtemp(
            prefix=f"spread06-t{threads}-"
        )
        env = {**os.environ, "LESSONS_DATA_DIR": data_dir}
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(threads), seeds, parts],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for line in child.stdout:
            print(f"threads={threads} {line.strip()}", flush=True)
        if child.wait():
            raise SystemExit(f"threads={threads}: the run failed")


if __name__ == "__main__":
    main()
