"""The build files agree with each other: pyproject, the lock, environment.yml, README, CI."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import lessons_lib

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's
CONDA_NAMES = {"torch": "pytorch"}


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


def test_environment_yml_pip_section_installs_as_conda_runs_it(tmp_path):
    """conda and mamba write the pip lines into a requirements file and run ``pip -r`` on it.

    Options such as ``--no-deps`` are invalid there and break Binder's build. Every dependency
    is already installed (by conda there, by ``make setup`` here), so pip must install
    lessons_lib alone.
    """
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lines = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    requirements = tmp_path / "condaenv.requirements.txt"
    requirements.write_text("\n".join(pip_lines) + "\n")
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]
    command += ["--dry-run", "--no-index", "--no-build-isolation", "-U", "-r", str(requirements)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    would_install = [line for line in done.stdout.splitlines() if line.startswith("Would install")]
    expected = f"Would install lessons_lib-{lessons_lib.__version__}"
    assert would_install == [expected], done.stdout[-2000:]


def test_environment_yml_uses_current_conda_forge_names():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {requirement_name(d) for d in env["dependencies"] if isinstance(d, str)}
    legacy = {"pytorch-cpu", "pytorch-gpu"}  # old metapackages; conda-forge's is ``pytorch``
    assert not conda & legacy, f"legacy conda-forge names: {sorted(conda & legacy)}"


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


def test_readme_install_commands_are_the_real_ones():
    """The Colab line is the one every notebook runs; the conda line names the real env."""
    import importlib.util

    # tools/course.py is the maintainers' script, beside the package: load it from its file.
    spec = importlib.util.spec_from_file_location("course", ROOT / "tools" / "course.py")
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    BRANCH, colab_cell_source = course.BRANCH, course.colab_cell_source

    readme = (ROOT / "README.md").read_text()
    url = pyproject()["project"]["urls"]["Repository"]
    assert "OWNER" not in readme and 'REPO"' not in readme, "a placeholder is left in README"
    colab_command = f'%pip install "lessons_lib @ git+{url}@{BRANCH}"'
    assert colab_command in readme
    assert colab_command.replace("%pip install", "%pip install --quiet") in colab_cell_source(url)
    env_name = yaml.safe_load((ROOT / "environment.yml").read_text())["name"]
    assert f"conda env create -f environment.yml && conda activate {env_name}" in readme
