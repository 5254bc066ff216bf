"""Maintenance of the course's notebooks: headers, exercise versions and the static site.

Run from the repository root (``make header``, ``make exercises`` and ``make site`` do)::

    python tools/course.py header      # (re)write every notebook's badges and Colab cell
    python tools/course.py header --check
    python tools/course.py exercises   # build/exercises/: notebooks without the solutions
    python tools/course.py site        # build/site/: an index over build/html/

The repository URL comes from one setting, ``[project.urls] Repository`` in pyproject.toml.
This is maintenance tooling, not part of ``lessons_lib``: it imports nothing from the library
(only the standard library, and ``nbformat`` to write notebooks) and finds the repository from
its own location, so it runs from any folder.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import re
import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent  # tools/ sits at the repository's root
NOTEBOOKS = ROOT / "notebooks"
HEADER_START, HEADER_END = "<!-- course-header -->", "<!-- /course-header -->"
COLAB_TAG = "colab-setup"
SOLUTION_TAG = "solution"
BRANCH = "main"


def repository_url(root: Path = ROOT) -> str:
    """The repository URL set in pyproject.toml (``[project.urls] Repository``)."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return project["urls"]["Repository"].rstrip("/")


def _github_path(url: str) -> str:
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+)", url)
    if not match:
        raise ValueError(f"Repository must be a https://github.com/OWNER/NAME URL, got {url!r}.")
    return match.group(1)


def badge_links(notebook: str, url: str) -> dict[str, str]:
    """Binder and Colab links that open ``notebook`` (a file name in notebooks/)."""
    repo = _github_path(url)
    return {
        "binder": f"https://mybinder.org/v2/gh/{repo}/{BRANCH}?labpath="
        + quote(f"notebooks/{notebook}", safe=""),
        "colab": f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/notebooks/{notebook}",
    }


def header_markdown(notebook: str, url: str) -> str:
    links = badge_links(notebook, url)
    return (
        f"{HEADER_START}\n"
        f"[![Open in Binder](https://mybinder.org/badge_logo.svg)]({links['binder']}) "
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({links['colab']})\n"
        f"{HEADER_END}\n\n"
    )


def colab_cell_source(url: str) -> str:
    return (
        "# On Colab only: install lessons_lib from the repository, keeping the numpy, torch and\n"
        "# ipywidgets that Colab ships (pip upgrades nothing that already satisfies the ranges).\n"
        "import sys\n\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "lessons_lib @ git+{url}@{BRANCH}"'
    )


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def with_header(nb: dict, notebook: str, url: str) -> dict:
    """A copy of ``nb`` whose first cell starts with the badges, followed by the Colab cell."""
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    first = _source(cells[0])
    first = re.sub(
        re.escape(HEADER_START) + r".*?" + re.escape(HEADER_END) + r"\n*", "", first, flags=re.S
    )
    cells[0]["source"] = header_markdown(notebook, url) + first
    colab = {
        "cell_type": "code",
        "execution_count": None,
        "id": "colab-setup",
        "metadata": {"tags": [COLAB_TAG]},
        "outputs": [],
        "source": colab_cell_source(url),
    }
    rest = [c for c in cells[1:] if COLAB_TAG not in c.get("metadata", {}).get("tags", [])]
    nb["cells"] = [cells[0], colab, *rest]
    return nb


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def _write(path: Path, nb: dict) -> None:
    import nbformat  # a development dependency (Jupyter), not one of the library's

    nbformat.write(nbformat.from_dict(nb), str(path))


def notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("*.ipynb"))


def _normalise(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        cell["source"] = _source(cell)
        # nbstripout renumbers cell ids; an id is not content, so it never makes a header stale.
        cell.pop("id", None)
    return nb


def header(check: bool = False) -> list[str]:
    """Write (or, with ``check``, only list) the notebooks whose header is out of date."""
    url = repository_url()
    stale = []
    for path in notebooks():
        nb = _read(path)
        updated = with_header(nb, path.name, url)
        if _normalise(updated) != _normalise(nb):
            stale.append(path.name)
            if not check:
                _write(path, updated)
    return stale


# --------------------------------------------------------------------------- exercises

EXERCISE_STUB = (
    "# Your solution here. The solution is in the course notebook, in a collapsed cell.\n"
)


def exercise_version(nb: dict) -> dict:
    """The notebook a learner starts from: each solution cell becomes an empty stub."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            lines = _source(cell).splitlines()
            # Only a comment title is kept: a first line of code would give part of the answer away.
            title = lines[0] if lines and lines[0].startswith("# Solution") else "# Solution"
            cell["source"] = title.replace("Solution", "Exercise", 1) + "\n" + EXERCISE_STUB
            cell["metadata"] = {"tags": ["exercise"]}
            cell["outputs"], cell["execution_count"] = [], None
    return nb


def exercises(out: Path = ROOT / "build" / "exercises") -> list[Path]:
    """Write the exercise version of every notebook under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks():
        target = out / path.name
        _write(target, exercise_version(_read(path)))
        written.append(target)
    return written


# --------------------------------------------------------------------------- site


def site(html_dir: Path = ROOT / "build" / "html", out: Path = ROOT / "build" / "site") -> Path:
    """An index page over the executed notebooks' HTML (``make notebooks`` writes them)."""
    pages = sorted(html_dir.glob("*.html"))
    if not pages:
        raise FileNotFoundError(f"no HTML in {html_dir}: run `make notebooks` first.")
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for page in pages:
        (out / page.name).write_bytes(page.read_bytes())
        nb = _read(NOTEBOOKS / page.with_suffix(".ipynb").name)
        title = next(
            (
                line.lstrip("# ").strip()
                for line in _source(nb["cells"][0]).splitlines()
                if line.startswith("# ")
            ),
            page.stem,
        )
        items.append(f'<li><a href="{page.name}">{html.escape(title)}</a></li>')
    index = out / "index.html"
    index.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>Generative image models, from Gaussians to VAEs</title></head><body>"
        "<h1>Generative image models, from Gaussians to VAEs</h1>"
        "<p>Executed notebooks of the course (widgets show their last picture).</p>"
        f"<ol start='0'>{''.join(items)}</ol></body></html>\n"
    )
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/course.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    header_cmd = sub.add_parser("header", help="write the badges and the Colab cell")
    header_cmd.add_argument("--check", action="store_true", help="only report stale headers")
    sub.add_parser("exercises", help="write build/exercises/")
    sub.add_parser("site", help="write build/site/ from build/html/")
    args = parser.parse_args(argv)
    if args.command == "header":
        stale = header(check=args.check)
        for name in stale:
            print(("stale header: " if args.check else "updated: ") + name)
        return 1 if (args.check and stale) else 0
    if args.command == "exercises":
        for path in exercises():
            print("wrote", path.relative_to(ROOT))
        return 0
    print("wrote", site().relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
