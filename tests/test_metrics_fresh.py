"""Every metrics entry point on a fresh machine: the first call, no feature network cached yet.

Each public function that can train the digits feature network on first use is called FIRST
in its own Python process, with ``LESSONS_DATA_DIR`` an empty folder, inside a caller's
``torch.no_grad()`` or ``torch.inference_mode()`` (or neither): training must turn autograd
on for itself and give the caller's mode back. Afterwards the folder must hold the network's
checkpoint and nothing else (no lock file, no temporary file). The processes run two at a
time; the digits network trains in about two seconds on one core.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lessons_lib import metrics

# About 60 s of CPU time for the file (30 s on two idle cores); `make test` still runs it.
pytestmark = pytest.mark.slow

#: The one file a fresh data folder may hold afterwards (relative to the folder).
CHECKPOINT = f"feature_nets/digits-{metrics.recipe_for('digits').key()}.pt"

PRELUDE = """
import torch
from lessons_lib import metrics
from lessons_lib.data import load_digits

test, labels = load_digits("test", device="cpu")
x, y = test[:40], labels[:40]
train = load_digits("train", device="cpu")[0][:300]
"""

CONTEXTS = {
    "plain": ("contextlib.nullcontext()", "torch.is_grad_enabled()"),
    "no_grad": ("torch.no_grad()", "not torch.is_grad_enabled()"),
    "inference_mode": ("torch.inference_mode()", "torch.is_inference_mode_enabled()"),
}

# (case id, caller's context, the call, does it write the cached network?)
CASES = [
    ("features", "inference_mode", "metrics.features(x)", True),
    ("classify", "plain", "metrics.classify(x)", True),  # decorated with torch.no_grad()
    ("class_accuracy", "no_grad", "metrics.class_accuracy(x, y)", True),
    ("frechet_distance", "no_grad", "metrics.frechet_distance(x[:20], x[20:])", True),
    ("precision_recall", "inference_mode", "metrics.precision_recall(x[:20], x[20:])", True),
    ("ndb", "no_grad", "metrics.ndb(train, x, n_bins=5)", False),
    ("NDB", "inference_mode", "metrics.NDB(5).fit(train).evaluate(x)", False),
    ("nearest_train_distance", "no_grad", "metrics.nearest_train_distance(x, train)", False),
    ("evaluate_samples", "no_grad", "metrics.evaluate_samples(x, y, n=40)", True),
    ("calibration_table", "inference_mode", "metrics.calibration_table(n=40)", True),
    ("feature_network", "no_grad", "metrics.feature_network(progress=False)", True),
    ("feature_network_info", "inference_mode", "metrics.feature_network_info()", True),
    ("train_feature_network", "no_grad", "metrics.train_feature_network(progress=False)", False),
]


def _script(context: str, call: str) -> str:
    enter, mode_kept = CONTEXTS[context]
    return PRELUDE + textwrap.dedent(
        f"""
        import contextlib
        with {enter}:
            result = {call}
            assert {mode_kept}, "the caller's grad mode was not restored"
        assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        print("RESULT", type(result).__name__)
        """
    )


def _environment(data: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LESSONS_DATA_DIR=str(data),
        LESSONS_DEVICE="cpu",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    return env


def _run(script: str, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script],
        env=_environment(data),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _files(folder: Path) -> set[str]:
    """Every file under ``folder`` (hidden ones included), as paths relative to it."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


def test_every_entry_point_works_first_on_a_fresh_machine(tmp_path):
    def one(case):
        name, context, call, _ = case
        data = tmp_path / name
        data.mkdir()
        return _run(_script(context, call), data)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip([case[0] for case in CASES], pool.map(one, CASES)))
    failures = []
    for name, context, call, writes_network in CASES:
        done = results[name]
        if done.returncode != 0 or "RESULT" not in done.stdout:
            tail = "\n    ".join(done.stderr.strip().splitlines()[-6:])
            failures.append(f"{call} under {context} failed:\n    {tail}")
            continue
        expected = {CHECKPOINT} if writes_network else set()
        left = _files(tmp_path / name)
        if left != expected:
            failures.append(f"{call} left {sorted(left)} in the data folder, not {expected}")
    assert not failures, "\n".join(failures)


def test_two_processes_train_the_network_once_and_leave_no_lock(tmp_path):
    script = PRELUDE + "print('RESULT', metrics.classify(x).shape)"
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: _run(script, tmp_path), range(2)))
    for done in runs:
        assert done.returncode == 0, done.stderr[-2000:]
    # The lock makes the second process wait, then load what the first one wrote.
    messages = sum(done.stdout.count("Training the digits feature network once") for done in runs)
    assert messages == 1
    assert _files(tmp_path) == {CHECKPOINT}
