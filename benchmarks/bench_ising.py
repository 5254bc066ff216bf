"""Speed of checkerboard Gibbs sweeps of the Ising model: lessons_lib against plain NumPy.

The reference is the Ising sampler written the plain vectorized way: neighbour sums by
``np.roll`` over the whole lattice, the heat-bath probability, one uniform number per site, and
a checkerboard mask that keeps half of the new values, twice per sweep. ``lessons_lib.mrf.
ising_gibbs`` stores the two checkerboard halves separately as int8, so each half-sweep sums
neighbours by slicing half-size arrays, draws random numbers only for the sites it updates and
writes in place. Both run heat-bath sweeps at β = 0.44 on the same lattice sizes in the same
process; the script prints spin updates per nanosecond (median of ``--repeats`` runs) and the
ratio, and checks that both samplers reach the same energy.

    python benchmarks/bench_ising.py                  # 512² and 2048², one CPU thread for both
    python benchmarks/bench_ising.py --threads 2      # lessons_lib with two torch threads
    python benchmarks/bench_ising.py --device cuda    # lessons_lib on a GPU (reference on CPU)

Target (issue 4): lessons_lib at least 2x faster than the reference on the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from lessons_lib import mrf

BETA = 0.44


def reference_sweeps(spins: np.ndarray, beta: float, n_sweeps: int, rng) -> np.ndarray:
    """Heat-bath checkerboard sweeps, the plain vectorized way (np.roll and a mask)."""
    rows, cols = np.indices(spins.shape)
    masks = [(rows + cols) % 2 == 0, (rows + cols) % 2 == 1]
    for _ in range(n_sweeps):
        for mask in masks:
            field = (np.roll(spins, 1, 0) + np.roll(spins, -1, 0) + np.roll(spins, 1, 1)) + np.roll(
                spins, -1, 1
            )
            p_up = 1.0 / (1.0 + np.exp(-2.0 * beta * field))
            new = np.where(rng.random(spins.shape) < p_up, 1, -1).astype(spins.dtype)
            spins = np.where(mask, new, spins)
    return spins


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_reference(size: int, n_sweeps: int, repeats: int) -> float:
    """Median spin updates per ns of the NumPy reference."""
    rng = np.random.default_rng(0)
    spins = np.where(rng.random((size, size)) < 0.5, 1, -1).astype(np.int8)
    rates = []
    for _ in range(repeats):
        begin = time.perf_counter()
        reference_sweeps(spins, BETA, n_sweeps, rng)
        rates.append(size * size * n_sweeps / ((time.perf_counter() - begin) * 1e9))
    return statistics.median(rates)


def time_lessons(size: int, n_sweeps: int, repeats: int, device: str) -> float:
    """Median spin updates per ns of lessons_lib.mrf.ising_gibbs (after one warm-up call)."""
    spins = mrf.ising_gibbs((size, size), BETA, 1, seed=0, device=device)
    rates = []
    for k in range(repeats):
        _sync(device)
        begin = time.perf_counter()
        mrf.ising_gibbs(spins, BETA, n_sweeps, seed=k, device=device)
        _sync(device)
        rates.append(size * size * n_sweeps / ((time.perf_counter() - begin) * 1e9))
    return statistics.median(rates)


def check_agreement(device: str) -> tuple[float, float]:
    """Mean energy per spin of both samplers at β = 0.6 (64 lattices of 32², from all +1)."""
    rng = np.random.default_rng(1)
    ours = mrf.ising_gibbs(torch.ones(64, 32, 32), 0.6, 60, seed=1, device=device)
    reference = [reference_sweeps(np.ones((32, 32), np.int8), 0.6, 60, rng) for _ in range(64)]
    return float(mrf.ising_energy(ours).mean()), float(
        np.mean(mrf.ising_energy(np.stack(reference)))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for lessons_lib")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}; "
        f"{os.cpu_count()} CPU(s); lessons_lib on {args.device} with {args.threads} thread(s); "
        "reference: NumPy, one thread"
    )
    ours_energy, reference_energy = check_agreement(args.device)
    print(
        f"energy per spin at beta=0.6: lessons_lib {ours_energy:.4f}, reference "
        f"{reference_energy:.4f}, Onsager {mrf.onsager_energy(0.6):.4f}"
    )
    assert abs(ours_energy - reference_energy) < 0.01, "the two samplers disagree"
    print(f"{'lattice':>10} | {'reference flips/ns':>18} | {'lessons_lib flips/ns':>20} | ratio")
    for size in args.sizes:
        n_sweeps = max(2, int(4e7 // (size * size * 10)))  # about a second of reference time
        reference = time_reference(size, n_sweeps, args.repeats)
        n_ours = n_sweeps * (20 if args.device.startswith("cuda") else 5)
        ours = time_lessons(size, n_ours, args.repeats, args.device)
        print(
            f"{size:>5}x{size:<4} | {reference:>18.4f} | {ours:>20.4f} | {ours / reference:5.1f}x"
        )


if __name__ == "__main__":
    main()
