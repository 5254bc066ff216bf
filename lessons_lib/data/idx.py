"""IDX files (the format of MNIST, LeCun et al. 1998) and their verification.

:func:`read_idx` parses a file, gzip-compressed or not, with every header field checked.
:class:`RemoteFile` and :class:`RemoteDataset` describe the official files of a dataset (name,
published md5, checksum of the content, shape); ``_check_file_bytes`` verifies one copy against
them and ``_verify_file`` remembers the verdict per file state, so that an unchanged file costs a
``stat`` the next time.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lessons_lib.data.paths import _how_to_fix


class DataIntegrityError(ValueError):
    """A data file is corrupt, truncated or not the file we expected."""


_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _gunzip(raw: bytes, where: str, fix: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataIntegrityError(
            f"{where} is a damaged or truncated gzip file ({err}). {fix}".rstrip()
        ) from err


def _content(raw: bytes, where: str, fix: str) -> bytes:
    """The IDX bytes of a file's ``raw`` bytes, decompressed when they are gzip."""
    return _gunzip(raw, where, fix) if raw[:2] == _GZIP_MAGIC else raw


def _read_bytes(path: Path) -> bytes:
    return _content(path.read_bytes(), str(path), _how_to_fix(path))


def _parse_idx(content: bytes, where: str, fix: str) -> np.ndarray:
    """Parse decompressed IDX bytes; ``where`` names the file in errors, ``fix`` says what to do.

    The header is checked with Python integers, so absurd dimensions (up to 255 of them, each
    up to 2**32 - 1) cannot overflow into a size that happens to match.
    """
    fix = f" {fix}" if fix else ""
    if len(content) < 4 or content[0] != 0 or content[1] != 0:
        raise DataIntegrityError(
            f"{where} is not an IDX file (its first bytes are {content[:4]!r}, expected "
            f"b'\\x00\\x00' then a type code and a rank).{fix}"
        )
    type_code, ndim = content[2], content[3]
    if type_code not in _IDX_DTYPES:
        known = ", ".join(f"0x{code:02x}" for code in _IDX_DTYPES)
        raise DataIntegrityError(
            f"{where} has an unknown IDX type code 0x{type_code:02x} (known: {known}).{fix}"
        )
    if ndim == 0:
        raise DataIntegrityError(f"{where} declares 0 dimensions in its IDX header.{fix}")
    header_end = 4 + 4 * ndim
    if len(content) < header_end:
        raise DataIntegrityError(
            f"{where} is truncated inside its header ({len(content)} bytes, the header of a "
            f"{ndim}-dimensional IDX file needs {header_end}).{fix}"
        )
    shape = tuple(
        int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big", signed=False) for i in range(ndim)
    )
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: exact, never overflows
    got = len(content) - header_end
    if got != expected:
        raise DataIntegrityError(
            f"{where} holds {got} bytes of data but its header promises {expected} "
            f"(shape {shape}, {dtype.itemsize} byte(s) each): the file is truncated or "
            f"corrupt.{fix}"
        )
    array = np.frombuffer(content, dtype=dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(source: str | os.PathLike | bytes) -> np.ndarray:
    """Parse an IDX file (the MNIST format), gzip-compressed or not.

    Parameters
    ----------
    source : path or bytes
        A path to an ``.idx``/``-ubyte`` file (optionally ``.gz``) or its bytes (decompressed,
        or gzip-compressed).

    Returns
    -------
    ndarray
        The array, with the shape and dtype written in the header.

    Raises
    ------
    TypeError
        ``source`` is neither a path nor bytes.
    DataIntegrityError
        A bad magic number, an unknown type code, a damaged gzip stream, or a size that
        disagrees with the header. The message names the file and says what to do.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        where, fix = "the IDX data given", ""
        content = _content(bytes(source), where, fix)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        where, fix = str(path), _how_to_fix(path)
        content = _read_bytes(path)
    else:
        raise TypeError(
            f"source must be a path (str or os.PathLike) or bytes, got {type(source).__name__}."
        )
    return _parse_idx(content, where, fix)


@dataclass(frozen=True)
class RemoteFile:
    """One official file: where to get it and how to check it.

    ``md5`` is the published checksum of the ``.gz`` file; ``content_sha256`` the checksum of
    its decompressed content (Debian recompresses, so a local copy is checked by content), or
    None where no checksum of the content is known. ``n_classes`` (label files) requires every
    value to lie in ``0..n_classes - 1``.
    """

    name: str
    md5: str
    content_sha256: str | None
    shape: tuple[int, ...]
    n_classes: int | None = None


@dataclass(frozen=True, eq=False)
class RemoteDataset:
    """A set of :class:`RemoteFile` s, the base URLs that serve them, and system folders."""

    name: str
    urls: tuple[str, ...]
    files: dict[str, RemoteFile]
    local_dirs: tuple[Path, ...] = ()


def _digest(data: bytes, algorithm: str) -> str:
    return hashlib.new(algorithm, data).hexdigest()


def _looks_like_html(raw: bytes) -> bool:
    head = raw[:512].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body"))


def _checked_content(raw: bytes, spec: RemoteFile, where: str, fix: str) -> tuple[bytes, bool]:
    """The IDX content of ``raw``, and whether a published checksum vouches for it.

    Raises when ``raw`` is a web page, or a checksum is known and does not match.
    """
    is_gzip = raw[:2] == _GZIP_MAGIC
    if not is_gzip and _looks_like_html(raw):
        raise DataIntegrityError(
            f"{where} is a web page, not {spec.name} (a proxy or login page answered instead "
            f"of the file server?). {fix}".rstrip()
        )
    md5 = _digest(raw, "md5")
    content = _gunzip(raw, where, fix) if is_gzip else raw
    verified = md5 == spec.md5
    if not verified and spec.content_sha256 is not None:
        sha256 = _digest(content, "sha256")
        if sha256 != spec.content_sha256:
            raise DataIntegrityError(
                f"{where} does not match the official {spec.name} (checksum mismatch: md5 {md5}, "
                f"expected {spec.md5}; content sha256 {sha256[:16]}…, expected "
                f"{spec.content_sha256[:16]}…): it is corrupt or a different file. {fix}".rstrip()
            )
        verified = True
    if not verified and is_gzip:
        raise DataIntegrityError(
            f"{where} does not match the official {spec.name} (checksum mismatch: md5 {md5}, "
            f"expected {spec.md5}): it is corrupt or a different file. {fix}".rstrip()
        )
    return content, verified


def _check_structure(array: np.ndarray, spec: RemoteFile, where: str, fix: str) -> None:
    """The shape of ``spec``, and (label files) integer labels in ``0..n_classes - 1``."""
    if array.shape != spec.shape:
        raise DataIntegrityError(
            f"{where} has shape {array.shape}, expected {spec.shape}. {fix}".rstrip()
        )
    if spec.n_classes is not None and array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= spec.n_classes or array.dtype.kind not in "iu":
            raise DataIntegrityError(
                f"{where} holds labels from {low} to {high} ({array.dtype}), expected integers "
                f"in 0..{spec.n_classes - 1}: it is not the official {spec.name}. {fix}".rstrip()
            )


def _check_unverified(array: np.ndarray, spec: RemoteFile, where: str, fix: str) -> None:
    """No checksum to compare with: refuse what cannot be the real data, warn for the rest."""
    if spec.n_classes is not None:
        missing = sorted(set(range(spec.n_classes)) - set(np.unique(array).tolist()))
        if missing:
            raise DataIntegrityError(
                f"{where} has no label {missing[:5]}: it is not the official "
                f"{spec.name}. {fix}".rstrip()
            )
    elif array.ndim >= 2 and array.size:
        blank = np.flatnonzero(array.reshape(len(array), -1).max(axis=1) == 0)
        if len(blank):
            raise DataIntegrityError(
                f"{where} holds {len(blank)} blank image(s) (the first is number "
                f"{int(blank[0])}): it is not the official {spec.name}. {fix}".rstrip()
            )
    warnings.warn(
        f"{where} is an uncompressed copy of {spec.name}, whose content has no published "
        "checksum: only its structure and labels were checked. Put the official .gz file "
        "beside it (or delete it and let the loader download one) for a checksum check.",
        UserWarning,
        stacklevel=4,  # the caller of _check_file_bytes' caller, as before the split
    )


def _check_file_bytes(raw: bytes, spec: RemoteFile, where: str, fix: str) -> np.ndarray:
    """Verify the bytes of one copy of ``spec`` and return its array.

    Accepted: the published ``.gz`` (md5), or any copy whose decompressed content has the
    published sha256. Where no content checksum is known (MNIST), an uncompressed copy is
    accepted after checking its content (IDX header, shape, labels in range, every class
    present, no blank image), with a warning that it could not be checked by checksum.

    Every caller looks this function up on the module at call time, so that replacing
    ``lessons_lib.data.idx._check_file_bytes`` reaches local copies and downloads alike.
    """
    content, verified = _checked_content(raw, spec, where, fix)
    array = _parse_idx(content, where, fix)
    _check_structure(array, spec, where, fix)
    if not verified:
        _check_unverified(array, spec, where, fix)
    return array


# Verified files, by (path, size, mtime, inode, spec): None when good, else the error message.
# A file that changes gets a new key, so it is checked again; an unchanged one costs a stat().
_VERIFIED: dict[tuple, str | None] = {}


def _file_key(path: Path, spec: RemoteFile) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, spec)


def _verify_file(path: Path, spec: RemoteFile) -> np.ndarray | None:
    """Check a local copy of ``spec`` (cached by file state); its array when freshly read.

    Raises
    ------
    DataIntegrityError
        The file is corrupt or not the official one; the message names it and the fix.
    """
    key = _file_key(path, spec)
    if key in _VERIFIED:
        problem = _VERIFIED[key]
        if problem is not None:
            raise DataIntegrityError(problem)
        return None
    try:
        array = _check_file_bytes(path.read_bytes(), spec, str(path), _how_to_fix(path))
    except DataIntegrityError as err:
        _VERIFIED[key] = str(err)
        raise
    _VERIFIED[key] = None
    return array


def _mark_verified(path: Path, spec: RemoteFile) -> None:
    """Record that ``path`` (in its present state) is a verified copy of ``spec``."""
    _VERIFIED[_file_key(path, spec)] = None


def _read_verified(path: Path, spec: RemoteFile) -> np.ndarray:
    """The array of a local copy, verified (again only if the file changed since)."""
    array = _verify_file(path, spec)
    if array is None:  # verified before: parse without hashing again
        array = _parse_idx(_read_bytes(path), str(path), _how_to_fix(path))
        if array.shape != spec.shape:
            raise DataIntegrityError(f"{path} changed while it was read. {_how_to_fix(path)}")
    return array
