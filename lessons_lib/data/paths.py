"""Where the course's data lives, and the environment variables that say so.

``LESSONS_DATA_DIR`` (the cache folder), ``LESSONS_SYSTEM_DATA`` (whether Debian's system-wide
copies are used), ``LESSONS_DATA_MIRROR`` (a classroom mirror) and ``LESSONS_DOWNLOAD_*`` (retries,
backoff, timeout) are read here, at call time, and nowhere else; a bad value is named in the
error. The package docstring of :mod:`lessons_lib.data` describes each of them.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from pathlib import Path

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

_FALSE_WORDS = ("0", "false", "no", "off")
_TRUE_WORDS = ("1", "true", "yes", "on")


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE_WORDS:
        return True
    if raw in _FALSE_WORDS:
        return False
    raise ValueError(
        f"The environment variable {name}={os.environ[name]!r} must be 1 or 0 "
        f"(or one of {', '.join(_TRUE_WORDS + _FALSE_WORDS)})."
    )


def _env_number(name: str, default: float, *, minimum: float, integer: bool = False) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        kind = "an integer" if integer else "a finite number"
        raise ValueError(
            f"The environment variable {name}={raw!r} must be {kind} >= {minimum}; "
            f"unset it for the default ({default})."
        )
    return value


def _download_settings() -> tuple[int, float, float]:
    """(attempts per URL, first backoff in s, timeout in s), read from the environment."""
    retries = int(_env_number("LESSONS_DOWNLOAD_RETRIES", 3, minimum=1, integer=True))
    backoff = _env_number("LESSONS_DOWNLOAD_BACKOFF", 1.0, minimum=0.0)
    timeout = _env_number("LESSONS_DOWNLOAD_TIMEOUT", 30.0, minimum=0.001)
    return retries, backoff, timeout


def _mirror() -> str | None:
    """The base URL of ``LESSONS_DATA_MIRROR``, ending in ``/``, or None when unset."""
    raw = os.environ.get("LESSONS_DATA_MIRROR", "").strip()
    if not raw:
        return None
    scheme = urllib.parse.urlsplit(raw).scheme.lower()
    if scheme in ("http", "https", "file"):
        url = raw
    elif not scheme and raw.startswith(("/", "~", ".")):
        # A folder on this machine (a shared drive, a USB stick): read it through file://.
        url = Path(raw).expanduser().resolve().as_uri()
    else:
        raise ValueError(
            f"The environment variable LESSONS_DATA_MIRROR={raw!r} must be an http://, https:// "
            "or file:// URL (or an absolute folder path) under which the files lie as "
            "<mirror>/fashion-mnist/<file>.gz and <mirror>/mnist/<file>.gz."
        )
    return url if url.endswith("/") else url + "/"


def data_dir() -> Path:
    """Where downloads are cached: ``LESSONS_DATA_DIR``, else the checkout's ``data/``.

    A ``lessons_lib`` installed outside a checkout (Colab's ``pip install git+…``) falls
    back to ``~/.cache/lessons_lib``.
    """
    env = os.environ.get("LESSONS_DATA_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    import lessons_lib

    # The folder above the package: a checkout when it holds pyproject.toml.
    checkout = Path(lessons_lib.__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "data"
    return Path.home() / ".cache" / "lessons_lib"


def _system_dirs() -> tuple[Path, ...]:
    return (DEBIAN_FASHION_DIR,)


def _how_to_fix(path: Path) -> str:
    """What to do about a bad file, said in the error that names it."""
    if any(folder in path.parents for folder in _system_dirs()):
        return (
            "Reinstall it with `apt-get install --reinstall -y dataset-fashion-mnist` (or hide "
            "it with LESSONS_SYSTEM_DATA=0)."
        )
    return (
        f"Delete {path}: the loader then downloads a fresh, verified copy (with download=True "
        "it replaces the file by itself when the download succeeds)."
    )
