"""The one driver of the ``spread_*.py`` scripts: a fresh process per (seed, thread count).

Each spread script holds the code of one run as a string ``CHILD`` that reads
``sys.argv[1]`` (the thread count) and ``sys.argv[2]`` (the seed), plus any extra arguments.
This module runs it in a new Python process per run, so that runs share no state (caches,
random generators, thread pools), with ``OMP_NUM_THREADS`` set to the run's thread count.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator


def runs(seeds: Iterable[int], thread_counts: Iterable[int]) -> Iterator[tuple[int, int]]:
    """(threads, seed) pairs, seed-major: a sweep cut short has both thread counts for its
    first seeds."""
    thread_counts = list(thread_counts)
    for seed in seeds:
        for threads in thread_counts:
            yield threads, seed


def _command(code: str, threads: int, seed: int, extra: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-c", code, str(threads), str(seed), *extra]


def _environment(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads)}


def run_child(code: str, threads: int, seed: int, *extra: str) -> str:
    """Run one child to the end and return its standard output (its errors go to ours).

    Raises
    ------
    SystemExit
        When the child fails, naming the run.
    """
    done = subprocess.run(
        _command(code, threads, seed, extra),
        stdout=subprocess.PIPE,
        text=True,
        env=_environment(threads),
    )
    if done.returncode:
        raise SystemExit(f"threads={threads} seed={seed} failed (exit {done.returncode})")
    return done.stdout


def stream_child(code: str, threads: int, seed: int, *extra: str) -> Iterator[str]:
    """Run one child and yield its output lines as they come (long runs report as they go)."""
    child = subprocess.Popen(
        _command(code, threads, seed, extra),
        stdout=subprocess.PIPE,
        text=True,
        env=_environment(threads),
    )
    assert child.stdout is not None
    yield from child.stdout
    if child.wait() != 0:
        raise SystemExit(f"threads={threads} seed={seed} failed (exit {child.returncode})")


def sweep(code: str, thread_counts: Iterable[int] = (1, 2)) -> None:
    """Run ``code`` for the seeds given on the command line (default 0-4) and each thread
    count, printing each child's lines as they come."""
    seeds = [int(s) for s in sys.argv[1:]] or list(range(5))
    for threads, seed in runs(seeds, thread_counts):
        for line in stream_child(code, threads, seed):
            print(line, end="", flush=True)


def sweep_parts(code: str, parts: tuple[str, ...], description: str) -> None:
    """Command line ``[parts...] [--seeds S...] [--threads T...]``: run ``code`` with the
    chosen parts (comma-joined, its third argument) per run; each line the child prints is
    JSON, re-printed with the run's ``threads`` and ``seed``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("parts", nargs="*", help=f"among {', '.join(parts)} (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(5)))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    chosen = args.parts or list(parts)
    if set(chosen) - set(parts):
        parser.error(f"unknown parts {sorted(set(chosen) - set(parts))}; choose among {parts}")
    for threads, seed in runs(args.seeds, args.threads):
        for line in stream_child(code, threads, seed, ",".join(chosen)):
            print(json.dumps({"threads": threads, "seed": seed, **json.loads(line)}), flush=True)
