"""One URL to one verified file: retries with backoff, clear reasons, atomic writes.

The bytes go to a temporary file in the destination's folder, are verified there (checksum,
IDX header, shape, labels) and only then renamed into place with ``os.replace``: an interrupted
or failed download never leaves a partial or unverified file behind. Each failure is classified
(offline, refused, timed out, cut, HTTP status) into a reason a learner can act on, and whether
another attempt may succeed.
"""

from __future__ import annotations

import http.client
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from lessons_lib.data import idx as _idx
from lessons_lib.data.idx import DataIntegrityError, RemoteFile
from lessons_lib.data.paths import _download_settings


class DownloadError(DataIntegrityError):
    """No verified copy of a data file could be found or downloaded.

    A subclass of :class:`DataIntegrityError` (so older ``except`` clauses still catch it); its
    message says why (offline, an HTTP status, a cut connection, a checksum) and how to fix it.
    """


class _Failure(Exception):
    """One failed attempt: ``reason`` in words; ``retry`` when another attempt may succeed;
    ``host_down`` when the host cannot be reached at all (skip it for the other files)."""

    def __init__(self, reason: str, *, retry: bool, host_down: bool = False):
        super().__init__(reason)
        self.reason, self.retry, self.host_down = reason, retry, host_down


_MAX_DOWNLOAD_BYTES = 256 * 2**20  # the largest official file is 26 MB: refuse a runaway body


def _network_failure(err: BaseException, timeout: float) -> _Failure:
    """Classify a network error into a reason a learner can act on."""
    if isinstance(err, urllib.error.HTTPError):
        # 408, 429 and 5xx are the server's passing trouble; other codes will not change.
        transient = err.code in (408, 429) or err.code >= 500
        return _Failure(f"the server answered HTTP {err.code} {err.reason}", retry=transient)
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, socket.gaierror):
        return _Failure(
            f"this machine seems to be offline: the host name cannot be resolved ({reason})",
            retry=False,
            host_down=True,
        )
    if isinstance(reason, ConnectionRefusedError):
        return _Failure(
            f"the connection was refused: this machine is offline or the server is down ({reason})",
            retry=False,
            host_down=True,
        )
    if isinstance(reason, TimeoutError | socket.timeout):
        return _Failure(f"no answer within {timeout:g} s (timed out)", retry=True, host_down=True)
    if isinstance(reason, http.client.IncompleteRead):
        return _Failure(
            "the download was truncated: the connection was cut before the end of the body "
            f"(IncompleteRead after {len(reason.partial)} bytes of a piece)",
            retry=True,
        )
    if isinstance(reason, ConnectionError | http.client.HTTPException):
        return _Failure(
            f"the connection was dropped ({type(reason).__name__}: {reason})", retry=True
        )
    if isinstance(reason, FileNotFoundError):
        return _Failure(f"there is no such file ({reason})", retry=False)
    if isinstance(reason, OSError) and isinstance(err, urllib.error.URLError):
        return _Failure(f"the server cannot be reached ({reason})", retry=False, host_down=True)
    return _Failure(f"the download failed ({type(reason).__name__}: {reason})", retry=True)


def _open(url: str, timeout: float):
    """The response to a GET of ``url``, sent with the library's User-Agent."""
    from lessons_lib import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"lessons_lib/{__version__}"})
    return urllib.request.urlopen(request, timeout=timeout)


def _content_length(resp) -> int | None:
    try:
        return int(resp.headers.get("Content-Length") or 0) or None
    except ValueError:
        return None  # a malformed length: rely on the checksum alone


def _stream(resp, tmp: Path, total: int | None, desc: str) -> int:
    """Copy the body of ``resp`` into ``tmp`` with a progress bar; the number of bytes."""
    from lessons_lib.core.progress import progress_bar

    received = 0
    with (
        open(tmp, "wb") as out,
        progress_bar(total=total, unit="B", unit_scale=True, desc=desc) as bar,
    ):
        while chunk := resp.read(1 << 16):
            received += len(chunk)
            if received > _MAX_DOWNLOAD_BYTES:
                raise _Failure(
                    f"the server sent more than {_MAX_DOWNLOAD_BYTES} bytes, far more "
                    "than the file has",
                    retry=False,
                )
            try:
                out.write(chunk)
            except OSError as err:
                raise _Failure(
                    f"it could not be written to {tmp.parent} ({err}); free some space "
                    "or set LESSONS_DATA_DIR to another folder",
                    retry=False,
                ) from err
            bar.update(len(chunk))
    return received


def _fetch_once(url: str, tmp: Path, timeout: float, desc: str) -> None:
    """Stream ``url`` into ``tmp`` with a progress bar; raise ``_Failure`` on any problem."""
    try:
        with _open(url, timeout) as resp:
            total = _content_length(resp)
            received = _stream(resp, tmp, total, desc)
    except _Failure:
        raise
    except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, resets, cut reads
        raise _network_failure(err, timeout) from err
    if total is not None and received != total:
        raise _Failure(
            f"the download was truncated: the connection was cut after {received} of {total} bytes",
            retry=True,
        )


def _make_parents(dest: Path) -> list[Path]:
    """Create the folder of ``dest``; the folders this created, innermost first."""
    created = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _Failure(
            f"the folder {dest.parent} cannot be created ({err}); set LESSONS_DATA_DIR to a "
            "writable folder",
            retry=False,
        ) from err
    return created


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()  # only succeeds when empty: leave no empty folder behind
        except OSError:
            break


def _attempt(url: str, dest: Path, spec: RemoteFile, timeout: float) -> None:
    """One download of ``url`` into a temporary file beside ``dest``, verified, then renamed."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _fetch_once(url, tmp, timeout, dest.name)
        try:
            # Looked up on the module at call time (see idx._check_file_bytes).
            _idx._check_file_bytes(tmp.read_bytes(), spec, f"the download of {url}", "")
        except DataIntegrityError as err:
            # A wrong file stays wrong when fetched again from the same place.
            raise _Failure(str(err), retry=False) from err
        os.replace(tmp, dest)
        _idx._mark_verified(dest, spec)
    finally:
        tmp.unlink(missing_ok=True)


def _download(url: str, dest: Path, spec: RemoteFile) -> None:
    """Download ``url`` to ``dest`` atomically, verified against ``spec``.

    The bytes go to a temporary file in the same folder, which is verified (checksum, IDX
    header, shape, labels) and only then renamed over ``dest``; nothing half-written or
    unverified is ever left behind, whatever happens (even Ctrl-C).

    Raises
    ------
    _Failure
        After the last attempt, with the reason of the last failure.
    """
    retries, backoff, timeout = _download_settings()
    created = _make_parents(dest)  # removed again below if they stay empty
    try:
        for attempt in range(1, retries + 1):
            try:
                _attempt(url, dest, spec, timeout)
                return
            except _Failure as failure:
                if not failure.retry or attempt == retries:
                    if attempt > 1:
                        failure.reason += f" (after {attempt} attempts)"
                    raise
                if backoff > 0:
                    time.sleep(min(backoff * 2 ** (attempt - 1), 10.0))
    finally:
        _remove_if_empty(created)
    raise AssertionError("unreachable")  # pragma: no cover
