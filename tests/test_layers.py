"""The layers of ``docs/architecture.md``, made executable.

Every import inside ``lessons_lib`` (module level and inside functions) is read with ``ast`` and
checked against the allowed edges; and only ``lessons_lib.data`` (plus ``core.checkpoints``,
which writes where its caller asks) may touch files or the network.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lessons_lib"

#: The layer of every top-level name under lessons_lib (faces sit in their target's layer).
LAYER_OF = {
    "core": "core",
    "checks": "core",
    "device": "core",
    "training": "core",
    "data": "data",
    "density": "density",
    "gaussian": "density",
    "gmm": "density",
    "mrf": "mrf",
    "restoration": "restoration",
    "evaluation": "evaluation",
    "metrics": "evaluation",
    "gan": "gan",
    "vae": "vae",
    "plotting": "plotting",
    "widgets": "widgets",
    "exercises": "exercises",
    "check": "exercises",
}

#: What each layer may import (itself always).
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "density": {"core"},
    "mrf": {"core", "density"},
    "restoration": {"core", "density"},
    "evaluation": {"core", "data", "density"},
    "gan": {"core", "evaluation"},
    "vae": {"core", "evaluation"},
    "plotting": {"core"},
    "widgets": {"core", "plotting"},
    "exercises": {"core", "data", "density", "mrf", "evaluation", "gan", "vae", "plotting"},
    "root": {"core"},
}

#: Calls that touch files or the network: ``module.function`` or a method name.
FILE_CALLS = {
    "os.replace",
    "os.rename",
    "os.remove",
    "os.unlink",
    "os.open",
    "os.makedirs",
    "os.mkdir",
    "shutil.copy",
    "shutil.copyfile",
    "shutil.move",
    "shutil.rmtree",
    "tempfile.NamedTemporaryFile",
    "tempfile.mkstemp",
    "tempfile.mkdtemp",
    "fcntl.flock",
    "torch.save",
    "torch.load",
    "np.save",
    "np.load",
    "np.savez",
    "urllib.request.urlopen",
}
FILE_METHODS = {"write_text", "write_bytes", "read_bytes", "read_text", "mkdir", "unlink", "touch"}
#: Where touching files is the job.
FILE_TOUCHERS = ("data", "core/checkpoints.py")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts == ("__init__",):
        return "root"
    return LAYER_OF[parts[0]]


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append((node.lineno, node.module))
            if node.module == "lessons_lib":  # from lessons_lib import data, gmm, ...
                # __version__ and the like are the bare package's attributes, not modules.
                names += [
                    (node.lineno, f"lessons_lib.{a.name}")
                    for a in node.names
                    if not a.name.startswith("__")
                ]
    return [(line, name) for line, name in names if name.startswith("lessons_lib")]


def _target_layer(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) == 1:
        return None  # the bare package: its __init__ imports only the core
    return LAYER_OF.get(parts[1], "unknown")


def test_every_module_has_a_layer():
    unknown = [str(p.relative_to(PACKAGE)) for p in _modules() if _safe_layer(p) is None]
    assert unknown == [], f"give these a layer in LAYER_OF and docs/architecture.md: {unknown}"


def _safe_layer(path: Path) -> str | None:
    try:
        return _layer(path)
    except KeyError:
        return None


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path: Path):
    layer = _layer(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for line, name in _imported(tree):
        target = _target_layer(name)
        if target is not None and target != layer and target not in ALLOWED[layer]:
            bad.append(f"line {line}: {name} ({target})")
    assert bad == [], f"{layer} may import only {sorted(ALLOWED[layer])}; found {bad}"


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _file_touches(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name == "open" or name in FILE_CALLS:
            found.append(f"line {node.lineno}: {name}()")
        elif isinstance(node.func, ast.Attribute) and node.func.attr in FILE_METHODS:
            found.append(f"line {node.lineno}: .{node.func.attr}()")
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_data_touches_files(path: Path):
    relative = path.relative_to(PACKAGE).as_posix()
    if relative.startswith(FILE_TOUCHERS):
        pytest.skip("touching files is this module's job")
    touches = _file_touches(ast.parse(path.read_text(encoding="utf-8")))
    assert touches == [], f"{relative} touches files; move that into lessons_lib.data: {touches}"


def test_the_checker_sees_a_violation(tmp_path):
    # The two checks above would pass vacuously if the parsing found nothing: prove it does.
    tree = ast.parse(
        "import lessons_lib.widgets\n"
        "def f(p):\n    from lessons_lib.gan import GAN\n    open(p)\n    p.write_text('x')\n"
    )
    assert [n for _, n in _imported(tree)] == ["lessons_lib.widgets", "lessons_lib.gan"]
    assert len(_file_touches(tree)) == 2
