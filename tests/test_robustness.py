"""Property-based robustness suite over the whole public API of ``lessons_lib``.

Every public function, constructor and method (the catalogue in ``robustness_api.py``) is
called with generated bad inputs: NaN/inf at a random position, wrong ndim, trailing shape or
dtype, empty arrays, extreme finite magnitudes, out-of-range, mistyped or boolean scalars, bad
seeds and unknown choices. Each call must either raise a ``ValueError``/``TypeError`` whose
message names the argument, or (where the input is acceptable) return a finite result; no
call may run past the time limit (``ROBUSTNESS_TIME_LIMIT``, 5 s).

The values are drawn by hypothesis, seeded by each probe's name, so a run is reproducible.
The counts go to ``build/robustness.json`` and one summary line is printed at the end::

    robustness: N probes, C clear errors, S silent, H hangs, U unclear
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import robustness_api as api

CATALOGUE = api.build_catalogue()
RESULTS: dict[str, list[dict]] = {}
ROOT = Path(__file__).resolve().parents[1]


def _summary_path() -> Path:
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # one file per worker under xdist
    return ROOT / "build" / (f"robustness.{worker}.json" if worker else "robustness.json")


def _summary() -> dict:
    records = [r for rs in RESULTS.values() for r in rs]
    counts = Counter(r["outcome"] for r in records)
    return {
        "probes": len(records),
        "functions": len(RESULTS),
        "clear": counts["clear"],
        "ok": counts["ok"],
        "silent": counts["silent"],
        "hangs": counts["hang"],
        "unclear": counts["unclear"],
        "by_module": {
            module: dict(Counter(r["outcome"] for r in records if r["module"] == module))
            for module in sorted({r["module"] for r in records})
        },
        "failures": [r for r in records if r["outcome"] in api.BAD_OUTCOMES],
    }


@pytest.fixture(scope="module", autouse=True)
def robustness_summary(request):
    """After the module: write the counts to build/robustness.json and print one line."""
    start = time.perf_counter()
    yield
    if not RESULTS:
        return
    summary = _summary()
    summary["seconds"] = round(time.perf_counter() - start, 1)
    path = _summary_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=1, default=str))
    line = (
        f"robustness: {summary['probes']} probes, {summary['clear']} clear errors, "
        f"{summary['silent']} silent, {summary['hangs']} hangs, {summary['unclear']} unclear"
        f" ({summary['ok']} ok, {summary['functions']} functions; details in {path})"
    )
    # Teardown output is captured: suspend capturing so the line reaches the terminal.
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover - plugins switched off
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)


def test_catalogue_covers_public_api():
    """Every public callable has a catalogue entry (or a SKIP reason), and nothing is stale."""
    public = api.public_callables()
    listed = set(CATALOGUE) | set(api.SKIP)
    missing = sorted(public - listed)
    stale = sorted(listed - public)
    both = sorted(set(CATALOGUE) & set(api.SKIP))
    modules = api.unlisted_modules()
    problems = []
    if missing:
        problems.append("public callables without a catalogue entry:\n  " + "\n  ".join(missing))
    if stale:
        problems.append(
            "catalogue/SKIP names that are not public callables:\n  " + "\n  ".join(stale)
        )
    if both:
        problems.append("names both catalogued and skipped:\n  " + "\n  ".join(both))
    if modules:
        problems.append("lessons_lib modules neither covered nor skipped: " + ", ".join(modules))
    assert not problems, "\n".join(problems)


def test_catalogue_specs_name_real_arguments():
    """Every mutated argument is a keyword of the baseline call (a typo would probe nothing)."""
    wrong = []
    for name, item in CATALOGUE.items():
        wrong += [f"{name}: {arg}" for arg in item.args if arg not in item.kwargs]
    assert not wrong, "specs for arguments missing from the baseline call: " + ", ".join(wrong)


def _format(record: dict) -> str:
    return (
        f"  {record['argument']} | {record['mutation']} ({record['detail']}) | "
        f"must {'raise' if record['expect'] == 'raise' else 'raise clearly or be finite'} | "
        f"{record['outcome'].upper()}: {record['message']}"
    )


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_probes(name):
    """The baseline call works, and every mutation gives a clear error or a finite result."""
    if name.startswith(("metrics.", "evaluation.")):
        api.warm_feature_network()
    records = api.run_entry(name, CATALOGUE[name])
    RESULTS[name] = records
    bad = [r for r in records if r["outcome"] in api.BAD_OUTCOMES]
    assert not bad, f"{name}: {len(bad)} of {len(records)} probes failed\n" + "\n".join(
        _format(r) for r in bad
    )


# --------------------------------------------------------------------------- the oracle itself


def _outcomes(fn, spec, **kwargs):
    records = api.run_entry("selftest.fn", api.Entry(fn, kwargs, {"x": spec}))
    return {(r["mutation"], r["outcome"]) for r in records}


def test_oracle_classifies_clear_unclear_and_silent():
    import numpy as np

    def strict(x):
        if not np.isfinite(x).all():
            raise ValueError("x contains NaN")
        if x.ndim != 2:
            raise IndexError("internal indexing failed")
        return float(np.log(x.sum()))  # NaN once the values go negative: a silent NaN

    outcomes = _outcomes(strict, api.Arr((2,), values="nonneg"), x=np.ones((3, 2)))
    assert ("NaN", "clear") in outcomes
    assert ("ndim + 1", "unclear") in outcomes
    assert ("negative value", "silent") in outcomes or ("negative value", "ok") in outcomes
    assert ("dtype str", "unclear") in outcomes or ("dtype str", "silent") in outcomes


def test_oracle_reports_a_hang(monkeypatch):
    monkeypatch.setattr(api, "TIME_LIMIT", 0.2)

    def slow(n):
        if n == 0:
            while True:  # a loop that never ends on a bad input
                pass
        return 1.0

    records = api.run_entry("selftest.slow", api.Entry(slow, {"n": 1}, {"n": api.Int(1)}))
    hangs = [r for r in records if r["outcome"] == "hang"]
    assert [r["mutation"] for r in hangs] == ["zero"]


def test_find_nonfinite_walks_containers():
    import numpy as np
    import torch

    assert api.find_nonfinite({"a": [1.0, (2.0, torch.tensor([1.0, float("nan")]))]})
    assert api.find_nonfinite(np.array([1.0, np.inf])) == "result"
    assert api.find_nonfinite({"a": np.arange(3), "b": "text", "c": None}) is None
