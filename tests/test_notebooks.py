"""Notebooks are committed clean and follow the course's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ is empty"
    assert NOTEBOOKS[0].name == "00_start_here.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = load(path)
    dirty = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run nbstripout"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_course_shape(path):
    nb = load(path)
    cells = nb["cells"]
    text = ["".join(c["source"]) for c in cells]
    assert cells[0]["cell_type"] == "markdown" and "What you will be able to do" in text[0]
    code = "\n".join(t for c, t in zip(cells, text) if c["cell_type"] == "code")
    assert "lessons_lib" in code, "every notebook imports lessons_lib"
    markdown = "\n".join(t for c, t in zip(cells, text) if c["cell_type"] == "markdown")
    assert "## Exercises" in markdown and "## Summary" in markdown
    assert "assert " in code, "claims are checked by cells that would fail"
    solutions = [c for c in cells if "solution" in c.get("metadata", {}).get("tags", [])]
    assert solutions, "exercises come with solutions"
    for cell in solutions:
        assert cell["metadata"].get("jupyter", {}).get("source_hidden"), "solutions are collapsed"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    missing = [p.stem for p in NOTEBOOKS if f"| `{p.stem}` |" not in readme]
    assert not missing, f"README's course table misses {missing}"
