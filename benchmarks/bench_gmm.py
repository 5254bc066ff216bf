"""Speed of EM for a full-covariance Gaussian mixture: lessons_lib against scikit-learn.

Both fit the same data from the same starting parameters (weights, means and covariances
given explicitly, so no k-means is timed), in float64, for a fixed number of iterations
(``tol=0``), in the same process. Prints each time (the median of ``--repeats`` runs), their
ratio, and checks the two fits agree.

    python benchmarks/bench_gmm.py                 # N=50,000, D=64, K=20, 20 iterations
    python benchmarks/bench_gmm.py --n 5000 --repeats 1     # a quick look
    python benchmarks/bench_gmm.py --device cuda            # lessons_lib on a GPU

Target (issue 3): lessons_lib at least 4x faster than scikit-learn on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np
import torch


def make_data(n: int, dim: int, k: int, seed: int = 0) -> np.ndarray:
    """Points from a random mixture of k correlated Gaussians in dim dimensions.

    Each component is N(c_k, A_k A_k^T) with A_k = I + G_k / (2 sqrt(dim)), G_k standard
    normal: correlated, with variances between about 0.25 and 2.25 in every direction.
    """
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.normal(size=(k, dim))
    mixing = np.eye(dim) + rng.normal(size=(k, dim, dim)) / (2 * np.sqrt(dim))
    labels = rng.integers(k, size=n)
    noise = rng.normal(size=(n, dim))
    return centres[labels] + np.einsum("nij,nj->ni", mixing[labels], noise)


def starting_parameters(X: np.ndarray, k: int, kind: str = "kmeans", seed: int = 1):
    """The start both libraries get.

    ``"kmeans"``: the clusters of one k-means run (weights, means and covariances of each
    cluster), which is how scikit-learn starts by default. ``"broad"``: equal weights, k
    distinct data points as means and the covariance of all the data for every component,
    a poor start from which the components overlap for the first iterations.
    """
    rng = np.random.default_rng(seed)
    if kind == "broad":
        cov = np.cov(X.T, bias=True)
        return {
            "weights": np.full(k, 1.0 / k),
            "means": X[rng.choice(len(X), size=k, replace=False)],
            "covariances": np.repeat(cov[None], k, axis=0),
        }
    from sklearn.cluster import KMeans

    labels = KMeans(k, n_init=1, random_state=seed).fit_predict(X)
    members = [X[labels == j] for j in range(k)]
    return {
        "weights": np.array([len(m) for m in members]) / len(X),
        "means": np.stack([m.mean(0) for m in members]),
        "covariances": np.stack(
            [np.cov(m.T, bias=True) + 1e-6 * np.eye(X.shape[1]) for m in members]
        ),
    }


def time_sklearn(X: np.ndarray, start: dict, iterations: int):
    from sklearn.mixture import GaussianMixture

    model = GaussianMixture(
        len(start["weights"]),
        covariance_type="full",
        max_iter=iterations,
        tol=0.0,
        weights_init=start["weights"],
        means_init=start["means"],
        precisions_init=np.linalg.inv(start["covariances"]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 never "converges"; that is the point
        clock, cpu = time.perf_counter(), time.process_time()
        model.fit(X)
        return time.perf_counter() - clock, time.process_time() - cpu, model


def time_lessons(X: np.ndarray, start: dict, iterations: int, device: str):
    from lessons_lib.gmm import GaussianMixture

    model = GaussianMixture(
        len(start["weights"]),
        covariance_type="full",
        max_iter=iterations,
        tol=0.0,
        device=device,
        dtype=torch.float64,
    )
    data = torch.as_tensor(X, device=device)  # moving data is not part of EM
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    clock, cpu = time.perf_counter(), time.process_time()
    model.fit(data, init_params=start)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - clock, time.process_time() - cpu, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--start", choices=["kmeans", "broad"], default="kmeans")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    X = make_data(args.n, args.dim, args.k)
    start = starting_parameters(X, args.k, args.start)
    print(
        f"EM, full covariance, float64: N={args.n:,}, D={args.dim}, K={args.k}, "
        f"{args.iterations} iterations, tol=0, same {args.start} start"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU core(s), "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {args.device}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    warm = starting_parameters(X[:2000], args.k, "broad")
    time_lessons(X[:2000], warm, 1, args.device)

    ours, theirs = [], []
    for repeat in range(args.repeats):
        *ours_times, ours_model = time_lessons(X, start, args.iterations, args.device)
        *sk_times, sk_model = time_sklearn(X, start, args.iterations)
        ours.append(ours_times)
        theirs.append(sk_times)
        print(
            f"  run {repeat + 1}: lessons_lib {ours_times[0]:.2f} s (CPU {ours_times[1]:.2f} s), "
            f"scikit-learn {sk_times[0]:.2f} s (CPU {sk_times[1]:.2f} s)",
            flush=True,
        )

    ours_wall, ours_cpu = (statistics.median(t[i] for t in ours) for i in (0, 1))
    sk_wall, sk_cpu = (statistics.median(t[i] for t in theirs) for i in (0, 1))
    print(
        f"lessons_lib  : {ours_wall:8.2f} s wall, {ours_cpu:8.2f} s CPU (median of {args.repeats})"
    )
    print(f"scikit-learn : {sk_wall:8.2f} s wall, {sk_cpu:8.2f} s CPU (median of {args.repeats})")
    print(
        f"ratio        : {sk_wall / ours_wall:8.1f}x faster (wall), {sk_cpu / ours_cpu:.1f}x (CPU)"
    )

    # The speed means nothing unless both computed the same fit.
    means = torch.as_tensor(ours_model.means_).cpu().numpy()
    gap = np.abs(means - sk_model.means_).max() / np.abs(sk_model.means_).max()
    score_gap = abs(ours_model.history_[-1] - sk_model.score(X)) / abs(sk_model.score(X))
    print(f"agreement    : means {gap:.1e}, score {score_gap:.1e} (relative)")
    if gap > 1e-6 or score_gap > 1e-6:
        raise SystemExit("lessons_lib and scikit-learn disagree: the timing is void")


if __name__ == "__main__":
    main()
