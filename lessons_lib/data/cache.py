"""Files the library computes once per machine and caches under ``data_dir()``.

The one place outside the loaders that touches the data folder: where a cached file lives
(:func:`cache_path`), the lock that makes parallel processes create it once
(:func:`locked_folder`), and the protocol that reads a valid file or creates a new one
(:func:`load_or_create`). The caller decides *what* is cached: how to read and verify a file
and how to create it (for the feature networks of :mod:`lessons_lib.evaluation`, with
``core.checkpoints.save_checkpoint``, which writes atomically: a temporary file in the same
folder, then a rename).

No paper; the lock is POSIX ``flock`` on the folder itself, and the pattern is the classic
double-checked one (read without the lock; lock, read again, then create).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["InvalidCacheFile", "cache_path", "load_or_create", "locked_folder"]

T = TypeVar("T")


class InvalidCacheFile(ValueError):
    """A cached file exists but cannot be used (unreadable, or fails its own check).

    Raised by the ``load`` function given to :func:`load_or_create`; its message is shown as
    a warning (when the file is judged under the lock) before the file is created again.
    """


def cache_path(*parts: str) -> Path:
    """``data_dir() / parts...``: where a cached file lives (``LESSONS_DATA_DIR`` is honoured).

    Nothing is created: :func:`locked_folder` creates the folder when a file is written.
    """
    # Imported when called: ``lessons_lib.data`` is this module's own package.
    from lessons_lib.data import data_dir

    return data_dir().joinpath(*parts)


@contextlib.contextmanager
def locked_folder(folder: str | os.PathLike, *, stale: Iterable[Path] = ()) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created if missing) inside the block.

    The lock is ``flock`` on a descriptor of the folder itself (Linux and macOS): no lock
    file is created, so none is left behind, and the kernel drops the lock when the process
    ends, even on a crash. Without ``fcntl`` (Windows), or on a file system that refuses
    ``flock``, there is no lock: two processes may then both create the file, and an atomic
    write still leaves one complete file.

    Parameters
    ----------
    folder : path
    stale : paths
        Files to delete once the lock is held, e.g. lock files that earlier versions left.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False
        for leftover in stale:
            with contextlib.suppress(OSError):
                Path(leftover).unlink(missing_ok=True)
        try:
            yield
        finally:
            if locked:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


_MISSING: Any = object()


def _read(path: Path, load: Callable[[Path], T], *, warn: bool) -> T:
    """``load(path)``, or ``_MISSING`` when there is no file or ``load`` finds it invalid."""
    if not path.is_file():
        return _MISSING
    try:
        return load(path)
    except InvalidCacheFile as err:
        if warn:
            warnings.warn(str(err), stacklevel=4)
        return _MISSING


def load_or_create(
    path: str | os.PathLike,
    *,
    load: Callable[[Path], T],
    create: Callable[[Path], object],
    refresh: bool = False,
    lock: contextlib.AbstractContextManager | None = None,
) -> T:
    """Read the cached file at ``path``, or create it (once, under a lock) and read it back.

    1. Unless ``refresh``, ``load(path)`` without the lock: a valid file is replaced only
       atomically, so a process that only reads does not wait while another one creates.
    2. Otherwise take the lock and judge the file again (another process may have created it
       while this one waited), warning if it is invalid; if it is still missing or invalid
       (or ``refresh``), ``create(path)`` writes it, and it is read back.

    Parameters
    ----------
    path : path
        The cached file, e.g. from :func:`cache_path`.
    load : callable(Path) -> T
        Reads and verifies the file; raises :class:`InvalidCacheFile` (with a message for
        the user) when it is unreadable or fails its check. Called only when the file exists.
    create : callable(Path)
        Writes the file, atomically (a temporary file then a rename, as
        ``core.checkpoints.save_checkpoint`` does).
    refresh : bool
        Create the file again even if a valid one exists.
    lock : context manager, optional
        Held while the file is judged and created; default ``locked_folder(path.parent)``.

    Returns
    -------
    T
        What ``load`` returned.

    Raises
    ------
    RuntimeError
        The file just created does not load.
    """
    path = Path(path)
    if not refresh:
        loaded = _read(path, load, warn=False)
        if loaded is not _MISSING:
            return loaded
    with locked_folder(path.parent) if lock is None else lock:
        loaded = _MISSING if refresh else _read(path, load, warn=True)
        if loaded is _MISSING:
            create(path)
            loaded = _read(path, load, warn=True)
            if loaded is _MISSING:  # pragma: no cover - the file just written must load
                raise RuntimeError(f"could not read back the file written to {path}.")
    return loaded
