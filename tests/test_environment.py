"""The build files agree with each other: pyproject, the lock, environment.yml, README, CI."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's
CONDA_NAMES = {"torch": "pytorch-cpu"}


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].strip().lower()


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = pyproject()["project"]
    wanted = {requirement_name(d) for d in project["dependencies"]}
    wanted |= {requirement_name(d) for d in project["optional-dependencies"]["lab"]}
    wanted = {CONDA_NAMES.get(name, name) for name in wanted}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {requirement_name(d) for d in env["dependencies"] if isinstance(d, str)}
    assert "conda-forge" in env["channels"]
    assert "python" in conda and any(
        d.startswith("python=3.11") for d in env["dependencies"] if isinstance(d, str)
    )
    assert wanted <= conda, f"missing from environment.yml: {sorted(wanted - conda)}"
    extra = conda - wanted - {"python", "pip"}
    assert not extra, f"environment.yml has packages pyproject.toml lacks: {sorted(extra)}"
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section  # lessons_lib installed from the repo


def test_lock_pins_every_dependency_exactly():
    lock = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            lock[name.lower().replace("_", "-")] = version
    project = pyproject()["project"]
    names = [
        *project["dependencies"],
        *project["optional-dependencies"]["dev"],
        *project["optional-dependencies"]["lab"],
    ]
    for spec in names:
        name = requirement_name(spec).replace("_", "-")
        assert name in lock, f"{name} is not pinned in requirements-lock.txt"
    assert lock["torch"] == "2.13.0"
    assert not any(name.startswith("nvidia") for name in lock)


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    commands = [b.split("#")[0].strip() for b in blocks]
    assert commands[:2] == ["make lab", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)
    assert "dataset-fashion-mnist" in ci


def test_makefile_targets_start_with_setup():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "notebooks"):
        line = re.search(rf"^{target}:(.*)$", makefile, flags=re.M)
        assert line and "setup" in line.group(1), target


def test_widget_extension_is_installed():
    import sys

    share = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter-widgets"
    assert (share / "jupyterlab-manager" / "package.json").is_file()
