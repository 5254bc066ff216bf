"""Wall time and peak kernel memory of every notebook, as a learner runs it (full mode).

Each notebook is executed top to bottom in a fresh kernel (nbclient), from ``notebooks/``,
exactly as ``make notebooks`` does. After the last cell, one extra cell asks the kernel for its
peak resident memory (``getrusage``: the high-water mark of the kernel process, plus that of
any child process it waited for), so the figure is what Binder's memory limit sees. The table
is printed and written into ``benchmarks/README.md`` between the markers
``<!-- notebook-resources -->`` and ``<!-- /notebook-resources -->``.

Run from the repository root::

    python benchmarks/notebook_resources.py                 # every notebook, full mode
    python benchmarks/notebook_resources.py 07 09           # only these (prefixes; the
                                                            # table keeps the other rows)
    python benchmarks/notebook_resources.py --first-run     # as on a new Binder or Colab
    python benchmarks/notebook_resources.py 08b --keep build/measured   # and keep the outputs

``--first-run`` is a learner's first run on a machine without Debian's data: an empty
``LESSONS_DATA_DIR`` (feature networks are trained, datasets fetched), Debian's folder hidden
(``LESSONS_SYSTEM_DATA=0``), and Fashion-MNIST downloaded over HTTP through the library's real
download path from a server on 127.0.0.1 that serves a copy of Debian's files (this sandbox
reaches no other host; ``LESSONS_DATA_MIRROR`` points at it). The default reuses ``data/``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- notebook-resources -->", "<!-- /notebook-resources -->"
MARKER = "NOTEBOOK-RESOURCES "
# The budgets of the course: a learner's run on a 2-core CPU, a Binder kernel's memory.
TIME_BUDGET_S = 300.0
MEMORY_BUDGET_MB = 1536.0

PEAK_CELL = f"""
import json, resource, sys
_scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
_peak = max(resource.getrusage(who).ru_maxrss for who in
            (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) * _scale
print("{MARKER}" + json.dumps({{"peak_bytes": _peak}}))
"""


def _peak_from(cell: nbformat.NotebookNode) -> int:
    for output in cell.get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith(MARKER):
                return int(json.loads(line[len(MARKER) :])["peak_bytes"])
    raise RuntimeError(f"the memory cell printed nothing usable: {cell.get('outputs')}")


def measure(path: Path, timeout: int = 1800, keep: Path | None = None) -> dict:
    """Execute one notebook in a fresh kernel; its wall time (s) and peak memory (MB).

    With ``keep``, the executed copy (outputs and figures, without the memory cell) is written
    there under the notebook's name, to look at its figures as a learner would."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": NOTEBOOKS}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:  # report it and go on with the other notebooks
        print(f"{path.stem} FAILED: {str(err)[-1500:]}", file=sys.stderr)
        return {"notebook": path.stem, "seconds": float("nan"), "peak_mb": -1, "failed": True}
    seconds = time.perf_counter() - start
    peak_mb = _peak_from(nb.cells[-1]) / 2**20
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        nb.cells.pop()  # the memory cell is ours, not the notebook's
        nbformat.write(nb, keep / path.name)
    printed = "".join(
        output.get("text", "") for cell in nb.cells for output in cell.get("outputs", [])
    )
    if "Fashion-MNIST is not available" in printed:
        print(f"{path.stem} skipped its Fashion-MNIST part: {printed[-300:]}", file=sys.stderr)
    return {"notebook": path.stem, "seconds": round(seconds, 1), "peak_mb": round(peak_mb)}


def table(rows: list[dict], context: str) -> str:
    lines = [
        context,
        "",
        "| notebook | wall time (full mode) | peak kernel memory |",
        "|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| `{row['notebook']}` | {row['seconds']:.0f} s | {row['peak_mb']:,} MB |")
    return "\n".join(lines)


def previous_rows() -> dict[str, dict]:
    """The rows of the table now in the README, by notebook (kept for notebooks not rerun)."""
    rows = {}
    pattern = r"^\| `(\w+)` \| (\d+) s \| ([\d,]+) MB \|$"
    for name, seconds, peak in re.findall(pattern, README.read_text(), flags=re.M):
        rows[name] = {
            "notebook": name,
            "seconds": float(seconds),
            "peak_mb": int(peak.replace(",", "")),
        }
    return rows


def write_readme(text: str) -> None:
    """Replace the table between the markers (atomically: temporary file, then rename)."""
    readme = README.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in readme:
        readme = re.sub(
            re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, readme, flags=re.S
        )
    else:
        readme = readme.rstrip("\n") + "\n\n## Notebook resources\n\n" + block + "\n"
    tmp = README.with_suffix(".md.tmp")
    tmp.write_text(readme)
    os.replace(tmp, README)


def run_time_line(row: dict, first_run: bool) -> str:
    """The sentence at the top of a notebook that states its measured cost."""
    minutes = f" ({row['seconds'] / 60:.1f} min)" if row["seconds"] >= 90 else ""
    how = "a learner's first run" if first_run else "a run with a warm data folder"
    return (
        f"**Measured run time** (full mode, {how} on a 2-core CPU, "
        f"{time.strftime('%Y-%m-%d')}, `benchmarks/notebook_resources.py`): "
        f"{row['seconds']:.0f} s{minutes}; peak kernel memory {row['peak_mb']:,} MB."
    )


def stamp_notebook(path: Path, row: dict, first_run: bool) -> None:
    """Write the measured run time into the notebook's opening cell, replacing the paragraph
    that stated it before (``**Measured run time**`` or ``*Run time``), or else placing it
    before "What you will be able to do"."""
    nb = nbformat.read(path, as_version=4)
    cell = nb.cells[0]
    paragraphs = cell.source.split("\n\n")
    line = textwrap.fill(run_time_line(row, first_run), width=96, break_on_hyphens=False)
    old = [
        i for i, p in enumerate(paragraphs) if p.startswith(("**Measured run time**", "*Run time"))
    ]
    if old:
        paragraphs[old[0]] = line
    else:
        goals = [i for i, p in enumerate(paragraphs) if p.startswith("**What you will be able")]
        paragraphs.insert(goals[0] if goals else len(paragraphs), line)
    cell.source = "\n\n".join(paragraphs)
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


@contextlib.contextmanager
def first_run_environment():
    """Empty data folder, no Debian data, Fashion-MNIST served over HTTP on 127.0.0.1."""
    debian = Path("/usr/share/datasets/fashion-mnist")
    with tempfile.TemporaryDirectory(prefix="lessons-first-run-") as tmp:
        data, mirror = Path(tmp, "data"), Path(tmp, "mirror")
        data.mkdir()
        if debian.is_dir():
            shutil.copytree(debian, mirror / "fashion-mnist")
        else:
            mirror.mkdir()  # nothing to serve: the notebooks must say why they skip
        handler = functools.partial(_QuietHandler, directory=str(mirror))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        saved = {
            k: os.environ.get(k)
            for k in ("LESSONS_DATA_DIR", "LESSONS_SYSTEM_DATA", "LESSONS_DATA_MIRROR")
        }
        os.environ["LESSONS_DATA_DIR"] = str(data)
        os.environ["LESSONS_SYSTEM_DATA"] = "0"
        os.environ["LESSONS_DATA_MIRROR"] = f"http://127.0.0.1:{server.server_port}/"
        try:
            yield
        finally:
            server.shutdown()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--first-run", action="store_true", help="a learner's first run")
    parser.add_argument("--no-readme", action="store_true", help="print only")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="also write the executed notebooks to DIR"
    )
    args = parser.parse_args(argv)

    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in args.only)]
    if not paths:
        parser.error(f"no notebook matches {args.only}")
    os.environ.pop("LESSONS_FAST", None)  # full mode: the run a learner makes
    rows = []
    with first_run_environment() if args.first_run else contextlib.nullcontext():
        for path in paths:
            row = measure(path, keep=args.keep)
            print(f"{row['notebook']}: {row['seconds']:.0f} s, {row['peak_mb']:,} MB", flush=True)
            rows.append(row)
    import torch

    context = (
        f"Measured by `benchmarks/notebook_resources.py` on {time.strftime('%Y-%m-%d')}: "
        f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
        + (
            ", a learner's first run (empty data folder, no Debian data, Fashion-MNIST "
            "downloaded from a local mirror)"
            if args.first_run
            else ", warm data folder (cached feature networks and datasets)"
        )
        + ". "
        f"Budgets: {TIME_BUDGET_S:.0f} s and {MEMORY_BUDGET_MB:,.0f} MB per notebook."
    )
    failed = [r["notebook"] for r in rows if r.get("failed")]
    if failed:
        print(f"failed: {', '.join(failed)} (the table is not written)", file=sys.stderr)
        return 2
    print(table(rows, context))
    if not args.no_readme:
        existing = {path.stem for path in NOTEBOOKS.glob("*.ipynb")}  # renamed ones drop out
        merged = previous_rows() | {row["notebook"]: row for row in rows}
        write_readme(table([merged[name] for name in sorted(merged) if name in existing], context))
        for row in rows:
            stamp_notebook(NOTEBOOKS / f"{row['notebook']}.ipynb", row, args.first_run)
    over = [
        r["notebook"]
        for r in rows
        if r["peak_mb"] > MEMORY_BUDGET_MB or r["seconds"] > TIME_BUDGET_S
    ]
    if over:
        print(f"over budget: {', '.join(over)}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
