"""The course tooling (tools/course.py): notebook headers, exercise versions, the static site."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_course():
    """tools/course.py, loaded from its file: it is a script beside the package, not in it."""
    spec = importlib.util.spec_from_file_location("course", ROOT / "tools" / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


course = _load_course()
NOTEBOOKS = course.notebooks()


def test_headers_are_up_to_date():
    assert course.header(check=True) == [], "run `python tools/course.py header`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_badge_points_at_its_own_notebook(path):
    first = "".join(json.loads(path.read_text())["cells"][0]["source"])
    links = re.findall(
        r"\]\((https://(?:mybinder\.org|colab\.research\.google\.com)[^)]*)\)", first
    )
    links = [link for link in links if "badge" not in link and "assets" not in link]
    assert len(links) == 2
    binder, colab = sorted(links, key=lambda link: "colab" in link)
    assert binder.endswith("labpath=notebooks%2F" + path.name)
    assert colab.endswith("/blob/main/notebooks/" + path.name)
    repo = course.repository_url().removeprefix("https://github.com/")
    assert f"/gh/{repo}/" in binder and f"/github/{repo}/" in colab


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_cell_installs_only_on_colab(path):
    cells = json.loads(path.read_text())["cells"]
    setup = "".join(cells[1]["source"])
    assert course.COLAB_TAG in cells[1]["metadata"]["tags"]
    assert 'if "google.colab" in sys.modules:' in setup
    assert "--upgrade" not in setup and course.repository_url() in setup


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_version_keeps_everything_but_the_solutions(path):
    nb = json.loads(path.read_text())
    exercise = course.exercise_version(nb)
    assert len(exercise["cells"]) == len(nb["cells"])
    n_solutions = 0
    for original, stub in zip(nb["cells"], exercise["cells"]):
        if course.SOLUTION_TAG in original.get("metadata", {}).get("tags", []):
            n_solutions += 1
            assert course.EXERCISE_STUB in stub["source"]
            lines = "".join(original["source"]).splitlines()
            assert lines[0].startswith("# Solution"), "a solution cell starts with its title"
            body = lines[1:]
            assert not any(line.strip() and line in stub["source"] for line in body)
        else:
            assert stub == original
    assert n_solutions > 0


def test_exercises_and_site_are_written(tmp_path):
    html_dir = tmp_path / "html"
    html_dir.mkdir()
    (html_dir / "00_start_here.html").write_text("<html>executed</html>")
    index = course.site(html_dir, tmp_path / "site")
    text = index.read_text()
    assert 'href="00_start_here.html"' in text and "Start here" in text
    assert (tmp_path / "site" / "00_start_here.html").read_text() == "<html>executed</html>"
    with pytest.raises(FileNotFoundError, match="make notebooks"):
        course.site(tmp_path / "empty", tmp_path / "site2")


def test_repository_url_must_be_github(tmp_path):
    with pytest.raises(ValueError, match=r"github\.com"):
        course.badge_links("x.ipynb", "https://example.org/a/b")


def test_cli_check_reports_stale_headers(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = json.loads(NOTEBOOKS[0].read_text())
    nb["cells"][0]["source"] = "# Title\n\nWhat you will be able to do"
    (folder / "99_demo.ipynb").write_text(json.dumps(nb))
    monkeypatch.setattr(course, "NOTEBOOKS", folder)
    monkeypatch.setattr(course, "notebooks", lambda folder=folder: sorted(folder.glob("*.ipynb")))
    assert course.main(["header", "--check"]) == 1
    assert "stale header: 99_demo.ipynb" in capsys.readouterr().out
    assert course.main(["header"]) == 0
    assert course.main(["header", "--check"]) == 0
    assert Path(folder / "99_demo.ipynb").read_text().count("course-header") == 2


def test_the_script_runs_from_the_repository_root_without_the_package(tmp_path):
    # A plain `python tools/course.py ...`, from the root and from elsewhere: no import of
    # lessons_lib, and the notebooks are found from the script's own location.
    for cwd in (ROOT, tmp_path):
        done = subprocess.run(
            [sys.executable, "-I", str(ROOT / "tools" / "course.py"), "header", "--check"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    source = (ROOT / "tools" / "course.py").read_text()
    assert "lessons_lib import" not in source and "import lessons_lib" not in source
    assert not (ROOT / "lessons_lib" / "course.py").exists()
