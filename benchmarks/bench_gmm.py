"""Speed of EM for a full-covariance Gaussian mixture: lessons_lib against scikit-learn, and
against pomegranate and torchgmm where they are installed (``pip install -e ".[bench]"``).

Every library fits the same data from the same starting parameters (weights, means and
covariances given explicitly, so no k-means is timed), for a fixed number of iterations
(``tol=0``), in the same process, the runs of the libraries interleaved. lessons_lib runs in
float64 and float32; the others in float64 (and torchgmm also in float32, its default). The
script prints each median time (of ``--repeats`` runs), its ratio to scikit-learn and to
lessons_lib, and checks that every fit reaches the same mean log-likelihood, evaluated for all
of them by the same referee (``lessons_lib.density.em.e_step`` in float64): a fast wrong fit
would void the timing.

    python benchmarks/bench_gmm.py                 # N=50,000, D=64, K=20, 20 iterations
    python benchmarks/bench_gmm.py --n 5000 --repeats 1     # a quick look
    python benchmarks/bench_gmm.py --libraries lessons_lib sklearn    # a subset
    python benchmarks/bench_gmm.py --device cuda            # lessons_lib on a GPU

Targets (issues 3 and 12): lessons_lib in float64 at least 4x faster than scikit-learn on a
2-core CPU; lessons_lib in float32 at least 1.6x faster than in float64.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

LIBRARIES = ("lessons_lib", "sklearn", "pomegranate", "torchgmm")
#: Relative gap in the final mean log-likelihood beyond which a fit counts as different. The
#: float64 fits agree to about 1e-9 (pomegranate has no covariance floor: ~1e-9 more); the
#: float32 ones to about 1e-6.
AGREEMENT = {torch.float64: 1e-7, torch.float32: 1e-5}


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
    """The start every library gets.

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


# --------------------------------------------------------------------------- one fit each
# Each ``fit_*`` returns a function that runs one timed fit and gives back the fitted
# (weights, means, covariances) as float64 arrays.


def fit_lessons(X: np.ndarray, start: dict, iterations: int, device: str, dtype: torch.dtype):
    from lessons_lib.density import GaussianMixture

    data = torch.as_tensor(X, dtype=dtype, device=device)  # moving data is not part of EM

    def run():
        model = GaussianMixture(
            len(start["weights"]), max_iter=iterations, tol=0.0, device=device, dtype=dtype
        )
        model.fit(data, initial=start)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return model.weights_, model.means_, model.covariances_

    return run


def fit_sklearn(X: np.ndarray, start: dict, iterations: int):
    from sklearn.mixture import GaussianMixture

    def run():
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
            model.fit(X)
        return model.weights_, model.means_, model.covariances_

    return run


def fit_pomegranate(X: np.ndarray, start: dict, iterations: int):
    """pomegranate 1.x: a GeneralMixtureModel of initialised Normals is not re-initialised;
    ``max_iter`` passes with ``tol=0`` are ``max_iter`` M-steps. It has no covariance floor."""
    from pomegranate.distributions import Normal
    from pomegranate.gmm import GeneralMixtureModel

    data = torch.as_tensor(X)

    def run():
        # Copies: pomegranate updates its parameters in place, and torch.as_tensor would
        # share the memory of the start (which every other library then got, changed).
        components = [
            Normal(means=torch.tensor(m), covs=torch.tensor(c), covariance_type="full")
            for m, c in zip(start["means"], start["covariances"])
        ]
        model = GeneralMixtureModel(
            components, priors=torch.tensor(start["weights"]), max_iter=iterations, tol=0.0
        )
        model.fit(data)
        return (
            model.priors,
            torch.stack([d.means for d in model.distributions]),
            torch.stack([d.covs for d in model.distributions]),
        )

    return run


def fit_torchgmm(X: np.ndarray, start: dict, iterations: int, dtype: torch.dtype):
    """torchgmm 0.1: its estimator starts only from means, so the model is built from the
    whole start and its EM module (one E- and M-step per epoch) run by the estimator's own
    Lightning trainer, as ``GaussianMixture.fit`` does after its initialisation."""
    from torchgmm.base.data import DataLoader, collate_tensor, dataset_from_tensors
    from torchgmm.bayes import GaussianMixture
    from torchgmm.bayes.core.normal import cholesky_precision, covariance
    from torchgmm.bayes.gmm.lightning_module import GaussianMixtureLightningModule
    from torchgmm.bayes.gmm.model import GaussianMixtureModel, GaussianMixtureModelConfig

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    k, dim = start["means"].shape
    data = torch.as_tensor(X, dtype=dtype)
    precision = 64 if dtype == torch.float64 else 32
    params = {"precision": precision, "accelerator": "cpu", "enable_progress_bar": False}

    def run():
        estimator = GaussianMixture(k, covariance_type="full", trainer_params=params)
        config = GaussianMixtureModelConfig(
            num_components=k, num_features=dim, covariance_type="full"
        )
        model = GaussianMixtureModel(config).to(dtype)
        model.component_probs.copy_(torch.as_tensor(start["weights"]))
        model.means.copy_(torch.as_tensor(start["means"]))
        covariances = torch.as_tensor(start["covariances"], dtype=dtype)
        model.precisions_cholesky.copy_(cholesky_precision(covariances, "full"))
        loader = DataLoader(
            dataset_from_tensors(data), batch_size=len(data), collate_fn=collate_tensor
        )
        module = GaussianMixtureLightningModule(
            model, convergence_tolerance=0, covariance_regularization=1e-6, is_batch_training=False
        )
        estimator.trainer(max_epochs=iterations, enable_progress_bar=False).fit(module, loader)
        return model.component_probs, model.means, covariance(model.precisions_cholesky, "full")

    return run


def contenders(X, start, args) -> dict[str, tuple[Callable, torch.dtype]]:
    """The fits to time, by label; a library that is not installed is skipped, with a note."""
    runs: dict[str, tuple[Callable, torch.dtype]] = {}
    for name in args.libraries:
        try:
            if name == "lessons_lib":
                for dtype in (torch.float64, torch.float32):
                    label = f"lessons_lib {str(dtype)[6:]}"
                    runs[label] = (
                        fit_lessons(X, start, args.iterations, args.device, dtype),
                        dtype,
                    )
            elif name == "sklearn":
                runs["scikit-learn float64"] = (
                    fit_sklearn(X, start, args.iterations),
                    torch.float64,
                )
            elif name == "pomegranate":
                import pomegranate  # noqa: F401 - only to know whether it is installed

                runs["pomegranate float64"] = (
                    fit_pomegranate(X, start, args.iterations),
                    torch.float64,
                )
            elif name == "torchgmm":
                import torchgmm  # noqa: F401

                for dtype in (torch.float64, torch.float32):
                    label = f"torchgmm {str(dtype)[6:]}"
                    runs[label] = (fit_torchgmm(X, start, args.iterations, dtype), dtype)
        except ImportError as error:
            print(f"  (skipping {name}: not installed ({error}); pip install -e '.[bench]')")
    return runs


def referee_log_likelihood(X: np.ndarray, parameters) -> float:
    """The mean log-likelihood of fitted parameters, the same way for every library."""
    from lessons_lib.density.em import e_step

    weights, means, covariances = (
        torch.as_tensor(np.asarray(_numpy(p)), dtype=torch.float64) for p in parameters
    )
    covariances = 0.5 * (covariances + covariances.transpose(1, 2))  # float32 rounding
    return e_step(torch.as_tensor(X), weights, means, covariances)[1]


def _numpy(value):
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


def time_all(runs, repeats: int):
    """Wall and CPU seconds of every run, ``repeats`` times, the libraries interleaved."""
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in runs}
    fitted = {}
    for repeat in range(repeats):
        line = []
        for label, (run, _) in list(runs.items()):
            clock, cpu = time.perf_counter(), time.process_time()
            try:
                fitted[label] = run()
            except Exception as error:  # another library's failure is a result, not a crash
                print(f"  {label} failed: {type(error).__name__}: {str(error)[:160]}")
                del runs[label], times[label]
                continue
            times[label].append((time.perf_counter() - clock, time.process_time() - cpu))
            line.append(f"{label} {times[label][-1][0]:.2f} s")
        print(f"  run {repeat + 1}: " + ", ".join(line), flush=True)
    return times, fitted


def report(X, runs, times, fitted, repeats: int) -> bool:
    """Print the medians, the ratios and the agreement; False if a fit disagrees."""
    wall = {label: statistics.median(t[0] for t in times[label]) for label in runs}
    cpu = {label: statistics.median(t[1] for t in times[label]) for label in runs}
    reference = wall.get("scikit-learn float64")
    ours = wall.get("lessons_lib float64")
    scores = {label: referee_log_likelihood(X, fitted[label]) for label in runs}
    truth = scores.get("lessons_lib float64", next(iter(scores.values())))
    agree = True
    print(
        f"\n{'':22} {'wall (s)':>9} {'CPU (s)':>8} {'sklearn/this':>13} {'this/ours f64':>14}"
        "  log-likelihood (gap)"
    )
    for label in runs:
        gap = abs(scores[label] - truth) / abs(truth)
        ok = gap <= AGREEMENT[runs[label][1]]
        agree &= ok
        ratio = f"{reference / wall[label]:12.2f}x" if reference else f"{'':>13}"
        relative = f"{wall[label] / ours:13.2f}x" if ours else f"{'':>14}"
        print(
            f"{label:22} {wall[label]:9.2f} {cpu[label]:8.2f} {ratio} {relative}  "
            f"{scores[label]:.10f} ({gap:.1e}){'' if ok else '  DISAGREES'}"
        )
    if "lessons_lib float32" in wall and ours:
        print(
            f"lessons_lib float32 is {ours / wall['lessons_lib float32']:.2f}x faster than float64"
        )
    print(f"(medians of {repeats}; ratios of wall times measured in this process)")
    return agree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--start", choices=["kmeans", "broad"], default="kmeans")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    args = parser.parse_args()

    X = make_data(args.n, args.dim, args.k)
    start = starting_parameters(X, args.k, args.start)
    print(
        f"EM, full covariance: N={args.n:,}, D={args.dim}, K={args.k}, {args.iterations} "
        f"iterations, tol=0, same {args.start} start"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU core(s), "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {args.device}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print("warm-up (imports, thread pools, Lightning's set-up; one iteration, not timed):")
    time_all(contenders(X, start, argparse.Namespace(**{**vars(args), "iterations": 1})), 1)
    print("timed runs:")
    runs = contenders(X, start, args)
    times, fitted = time_all(runs, args.repeats)
    unchanged = starting_parameters(X, args.k, args.start)
    if not all(np.array_equal(start[key], unchanged[key]) for key in start):
        raise SystemExit("a library changed the starting parameters in place: the runs are void")
    if not report(X, runs, times, fitted, args.repeats):
        raise SystemExit("the fits disagree: the timing is void")


if __name__ == "__main__":
    main()
