"""Datasets of the course, all offline first.

Every image loader returns ``(images, labels)``: float tensors in [0, 1] of shape
(N, 1, H, W) and int64 labels of shape (N,), with a fixed, deterministic
train/validation/test split.

* ``load_digits``: scikit-learn's bundled 8×8 digits (1,797 images, no download).
* ``load_fashion_mnist`` / ``load_mnist``: 28×28 IDX files, found in ``data/``, in
  ``LESSONS_DATA_DIR``, in Debian's ``/usr/share/datasets/fashion-mnist`` (package
  ``dataset-fashion-mnist``), or else downloaded, checked by checksum and written atomically.
  ``fashion_mnist_available()`` obtains Fashion-MNIST the same way (downloading it when it is
  missing) and ``fashion_mnist_status()`` says, in words, why it is or is not available.
* ``load_photo``: scikit-learn's two sample photos as float arrays (H, W, 3).
* Small 2-D toy sets (a ring and a grid of Gaussians, two moons, a known 2-D mixture).

This is the only module of ``lessons_lib`` that touches files or the network.

Environment variables
---------------------
``LESSONS_DATA_DIR``
    The cache folder (default: the checkout's ``data/``, else ``~/.cache/lessons_lib``).
    Datasets live in its sub-folders ``fashion-mnist/`` and ``mnist/``.
``LESSONS_SYSTEM_DATA``
    ``0`` (or ``false``/``no``/``off``) hides system-wide copies, i.e. Debian's
    ``/usr/share/datasets/fashion-mnist``, as on a machine without the package. Default ``1``.
``LESSONS_DATA_MIRROR``
    Base URL of a mirror (``http://``, ``https://`` or ``file://``; a plain folder path works
    too) laid out like the cache: ``<mirror>/fashion-mnist/train-images-idx3-ubyte.gz`` and so
    on. It is tried **first**; the official hosts are still tried after it, so a classroom
    mirror that is down or incomplete costs nothing. A classroom can serve its own cache with
    ``python -m http.server --directory data 8000`` and set
    ``LESSONS_DATA_MIRROR=http://<that machine>:8000/``. Files from a mirror are verified
    exactly like official ones (published md5 of the ``.gz``, or sha256 of the content).
``LESSONS_DOWNLOAD_RETRIES``, ``LESSONS_DOWNLOAD_BACKOFF``, ``LESSONS_DOWNLOAD_TIMEOUT``
    Attempts per URL (default 3), the first pause between attempts in seconds (default 1,
    doubling each time, at most 10 s; ``0`` retries at once) and the network timeout in
    seconds (default 30).

Every file written goes to a temporary file in the same folder, is verified there, and only then
is renamed into place (``os.replace``): an interrupted or failed download never leaves a partial
or unverified file in the data folder.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from lessons_lib.core.validation import (
    as_tensor,
    check_images,
    check_int,
    check_one_of,
    check_positive,
    check_seed,
)
from lessons_lib.core.device import resolve_device

__all__ = [
    "DIGIT_CLASSES",
    "FASHION_CLASSES",
    "DataIntegrityError",
    "DownloadError",
    "augment",
    "data_dir",
    "fashion_mnist_available",
    "fashion_mnist_status",
    "grid_centers",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_photo",
    "make_grid",
    "make_mixture_2d",
    "make_moons",
    "make_ring",
    "read_idx",
    "ring_centers",
]

SPLITS = ("train", "val", "test", "all")
DIGIT_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
_SPLIT_SEED = 20240607  # fixed forever: changing it changes every split of the course


class DataIntegrityError(ValueError):
    """A data file is corrupt, truncated or not the file we expected."""


class DownloadError(DataIntegrityError):
    """No verified copy of a data file could be found or downloaded.

    A subclass of :class:`DataIntegrityError` (so older ``except`` clauses still catch it); its
    message says why (offline, an HTTP status, a cut connection, a checksum) and how to fix it.
    """


# --------------------------------------------------------------------------- settings

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


# --------------------------------------------------------------------------- locations


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


# --------------------------------------------------------------------------- argument checks


def _check_split(split: object) -> str:
    if not isinstance(split, str):
        raise TypeError(
            f"split must be a string, one of {', '.join(map(repr, SPLITS))}; "
            f"got {type(split).__name__}."
        )
    return check_one_of(split, "split", SPLITS)


def _check_binarize(binarize: object) -> bool | str:
    """``False``, ``"threshold"`` or ``"stochastic"`` (``True`` means ``"threshold"``)."""
    if isinstance(binarize, bool | np.bool_):
        return "threshold" if bool(binarize) else False
    if isinstance(binarize, str) and binarize in ("threshold", "stochastic"):
        return binarize
    raise ValueError(
        f"binarize must be False, True (threshold at 0.5) or 'stochastic', got {binarize!r}."
    )


def _check_float_dtype(dtype: object) -> torch.dtype:
    # Images are grey levels in [0, 1]: an integer dtype would truncate them to 0 or 1.
    if not isinstance(dtype, torch.dtype):
        raise TypeError(
            f"dtype must be a torch floating dtype such as torch.float32, got {dtype!r}."
        )
    if not dtype.is_floating_point:
        raise ValueError(
            f"dtype must be a floating dtype (torch.float32, torch.float64, ...), got {dtype}: "
            "the images hold grey levels in [0, 1], which an integer or complex dtype would "
            "truncate. Convert afterwards if you need integers, e.g. (images * 16).round()."
        )
    return dtype


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


# --------------------------------------------------------------------------- splits


def _split_indices(labels: np.ndarray, split: str, fractions: tuple[float, float]) -> np.ndarray:
    """Indices of a stratified, seeded split into train / val / test.

    ``fractions`` are the (val, test) shares of each class; the rest is train.
    """
    rng = np.random.default_rng(_SPLIT_SEED)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = round(fractions[0] * len(idx))
        n_test = round(fractions[1] * len(idx))
        parts["val"].append(idx[:n_val])
        parts["test"].append(idx[n_val : n_val + n_test])
        parts["train"].append(idx[n_val + n_test :])
    if split == "all":
        return np.arange(len(labels))
    return np.sort(np.concatenate(parts[split]))


def _to_tensors(
    images_u8: np.ndarray,
    labels: np.ndarray,
    *,
    scale: float,
    binarize: bool | str,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey levels ``images_u8`` (N, H, W) / ``scale`` → (N, 1, H, W) images; int64 labels.

    ``binarize`` and ``device`` are already checked (see ``_check_binarize``).
    """
    # One float32 allocation, divided in place: numpy's astype-then-divide made two (350 MB
    # for Fashion-MNIST's training split). Same values: both divide correctly rounded.
    images = torch.from_numpy(np.ascontiguousarray(images_u8)).to(torch.float32)
    images = images.div_(scale).unsqueeze(1)
    if binarize == "threshold":
        images = (images > 0.5).float()
    elif binarize == "stochastic":
        generator = torch.Generator().manual_seed(_SPLIT_SEED)
        images = torch.bernoulli(images, generator=generator)
    return (
        images.to(device=device, dtype=dtype),
        torch.from_numpy(labels.astype(np.int64)).to(device),
    )


# --------------------------------------------------------------------------- digits


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    return bunch.images.astype(np.uint8), bunch.target.astype(np.int64)


def load_digits(
    split: str = "train",
    *,
    binarize: bool | str = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 handwritten digits, scaled to [0, 1].

    The split is stratified and fixed: 70% train (1,259), 10% val (179), 20% test (359).

    Parameters
    ----------
    split : {"train", "val", "test", "all"}
    binarize : bool or "stochastic"
        ``True`` thresholds at 0.5; ``"stochastic"`` draws each pixel from a Bernoulli with
        the grey level as probability (with a fixed seed, so always the same images).
    device : torch.device or str, optional
        Where the tensors go; default ``get_device()``.
    dtype : torch.dtype
        Floating dtype of the images (``torch.float32``, ``torch.float64``, ...). Integer
        dtypes are refused: they would truncate the grey levels to 0 or 1. The raw grey
        levels 0..16 are ``(images * 16).round()``.

    Returns
    -------
    images : Tensor, shape (N, 1, 8, 8), values in [0, 1]
    labels : Tensor, shape (N,), int64 in 0..9

    Raises
    ------
    TypeError, ValueError
        A bad ``split``, ``binarize``, ``device`` or ``dtype``, before any work.
    """
    _check_split(split)
    binarize = _check_binarize(binarize)
    dtype = _check_float_dtype(dtype)
    target = resolve_device(device)
    images, labels = _digits_arrays()
    idx = _split_indices(labels, split, (0.10, 0.20))
    # The digits' grey levels run from 0 to 16.
    return _to_tensors(
        images[idx], labels[idx], scale=16.0, binarize=binarize, device=target, dtype=dtype
    )


# --------------------------------------------------------------------------- IDX files

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


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


# --------------------------------------------------------------------------- remote files


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


FASHION_MNIST = RemoteDataset(
    name="fashion-mnist",
    urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    files={
        "train_images": RemoteFile(
            "train-images-idx3-ubyte.gz",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            (60000, 28, 28),
        ),
        "train_labels": RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            (60000,),
            n_classes=10,
        ),
        "test_images": RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "bef4ecab320f06d8554ea6380940ec79",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            (10000, 28, 28),
        ),
        "test_labels": RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "bb300cfdad3c16e7a12a480ee83cd310",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            (10000,),
            n_classes=10,
        ),
    },
    local_dirs=(DEBIAN_FASHION_DIR,),
)

# The original host of MNIST answers 403; this mirror (PyTorch's) serves the same files. No
# checksum of MNIST's decompressed content is published, so a ``.gz`` must match its published
# md5 exactly, and an uncompressed copy is checked by its content (see ``_check_file_bytes``).
MNIST = RemoteDataset(
    name="mnist",
    urls=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
    files={
        "train_images": RemoteFile(
            "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", None, (60000, 28, 28)
        ),
        "train_labels": RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "d53e105ee54ea40749a09fcbcd1e9432",
            None,
            (60000,),
            n_classes=10,
        ),
        "test_images": RemoteFile(
            "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", None, (10000, 28, 28)
        ),
        "test_labels": RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "ec29112dd5afa0611ce80d1b7f02629c",
            None,
            (10000,),
            n_classes=10,
        ),
    },
)


def _digest(data: bytes, algorithm: str) -> str:
    return hashlib.new(algorithm, data).hexdigest()


def _looks_like_html(raw: bytes) -> bool:
    head = raw[:512].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body"))


def _check_file_bytes(raw: bytes, spec: RemoteFile, where: str, fix: str) -> np.ndarray:
    """Verify the bytes of one copy of ``spec`` and return its array.

    Accepted: the published ``.gz`` (md5), or any copy whose decompressed content has the
    published sha256. Where no content checksum is known (MNIST), an uncompressed copy is
    accepted after checking its content (IDX header, shape, labels in range, every class
    present, no blank image), with a warning that it could not be checked by checksum.
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
    array = _parse_idx(content, where, fix)
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
    if not verified:
        # No checksum to compare with: refuse what cannot be the real data, warn for the rest.
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
            stacklevel=3,
        )
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


def _read_verified(path: Path, spec: RemoteFile) -> np.ndarray:
    """The array of a local copy, verified (again only if the file changed since)."""
    array = _verify_file(path, spec)
    if array is None:  # verified before: parse without hashing again
        array = _parse_idx(_read_bytes(path), str(path), _how_to_fix(path))
        if array.shape != spec.shape:
            raise DataIntegrityError(f"{path} changed while it was read. {_how_to_fix(path)}")
    return array


def _local_dirs(dataset: RemoteDataset) -> tuple[Path, ...]:
    """System folders of ``dataset``, unless ``LESSONS_SYSTEM_DATA=0`` hides them."""
    return dataset.local_dirs if _env_flag("LESSONS_SYSTEM_DATA", True) else ()


def _candidates(
    dataset: RemoteDataset, spec: RemoteFile, cache: Path, local_dirs: tuple[Path, ...]
) -> list[Path]:
    stem = spec.name.removesuffix(".gz")
    folders = [cache / dataset.name, *local_dirs]
    return [folder / name for folder in folders for name in (spec.name, stem)]


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


def _fetch_once(url: str, tmp: Path, timeout: float, desc: str) -> None:
    """Stream ``url`` into ``tmp`` with a progress bar; raise ``_Failure`` on any problem."""
    from tqdm.auto import tqdm

    from lessons_lib import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"lessons_lib/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            try:
                total = int(resp.headers.get("Content-Length") or 0) or None
            except ValueError:
                total = None  # a malformed length: rely on the checksum alone
            received = 0
            with (
                open(tmp, "wb") as out,
                tqdm(total=total, unit="B", unit_scale=True, desc=desc) as bar,
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
    except _Failure:
        raise
    except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, resets, cut reads
        raise _network_failure(err, timeout) from err
    if total is not None and received != total:
        raise _Failure(
            f"the download was truncated: the connection was cut after {received} of {total} bytes",
            retry=True,
        )


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
    # The folders this call creates, innermost first: removed again if they stay empty.
    created = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _Failure(
            f"the folder {dest.parent} cannot be created ({err}); set LESSONS_DATA_DIR to a "
            "writable folder",
            retry=False,
        ) from err
    try:
        for attempt in range(1, retries + 1):
            fd, tmp_name = tempfile.mkstemp(
                dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"
            )
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                _fetch_once(url, tmp, timeout, dest.name)
                try:
                    _check_file_bytes(tmp.read_bytes(), spec, f"the download of {url}", "")
                except DataIntegrityError as err:
                    # A wrong file stays wrong when fetched again from the same place.
                    raise _Failure(str(err), retry=False) from err
                os.replace(tmp, dest)
                _VERIFIED[_file_key(dest, spec)] = None
                return
            except _Failure as failure:
                if not failure.retry or attempt == retries:
                    if attempt > 1:
                        failure.reason += f" (after {attempt} attempts)"
                    raise
                if backoff > 0:
                    time.sleep(min(backoff * 2 ** (attempt - 1), 10.0))
            finally:
                tmp.unlink(missing_ok=True)
    finally:
        for folder in created:
            try:
                folder.rmdir()  # only succeeds when empty: leave no empty folder behind
            except OSError:
                break
    raise AssertionError("unreachable")  # pragma: no cover


def _how_to_get(dataset: RemoteDataset, cache: Path) -> str:
    names = ", ".join(spec.name for spec in dataset.files.values())
    return (
        "To fix it: if this machine is offline, copy the official files "
        f"({names}) into {cache / dataset.name} or into <folder>/{dataset.name} with "
        "LESSONS_DATA_DIR=<folder>; or set LESSONS_DATA_MIRROR to a server (or folder) that has "
        f"them as <mirror>/{dataset.name}/<file>; or (Fashion-MNIST) install Debian's package: "
        "`apt-get install -y dataset-fashion-mnist`."
    )


def _obtain(
    dataset: RemoteDataset,
    key: str,
    cache: Path,
    local_dirs: tuple[Path, ...],
    mirror: str | None,
    down_hosts: dict[str, str],
) -> Path:
    """A verified local copy of one file, downloaded when none is found.

    ``down_hosts`` (base URL → reason) is shared by the files of one request, so a host that
    cannot be reached is not waited for again for each file.
    """
    spec = dataset.files[key]
    problems: list[str] = []
    for path in _candidates(dataset, spec, cache, local_dirs):
        if path.is_file():
            try:
                _verify_file(path, spec)
                return path
            except DataIntegrityError as err:
                problems.append(str(err))
    dest = cache / dataset.name / spec.name
    bases = ([mirror + dataset.name + "/"] if mirror else []) + list(dataset.urls)
    failures: list[str] = []
    for base in bases:
        url = base + spec.name
        if base in down_hosts:
            failures.append(f"{url}: not tried, {down_hosts[base]}")
            continue
        try:
            _download(url, dest, spec)
            return dest
        except _Failure as failure:
            failures.append(f"{url}: {failure.reason}")
            if failure.host_down:
                down_hosts[base] = failure.reason
    found = f" Local copies were rejected: {' '.join(problems)}" if problems else ""
    tried = "; ".join(failures) if failures else "no URL to download it from"
    raise DownloadError(
        f"could not get a verified {spec.name} of {dataset.name}: {tried}.{found} "
        f"{_how_to_get(dataset, cache)}"
    )


def _local_paths(
    dataset: RemoteDataset, cache: Path, local_dirs: tuple[Path, ...]
) -> dict[str, Path]:
    """Verified local copies of every file, without downloading.

    Raises
    ------
    DataIntegrityError
        A copy is corrupt (the first such error, which names the file and the fix).
    FileNotFoundError
        Some file has no copy at all.
    """
    paths: dict[str, Path] = {}
    missing: list[str] = []
    for key, spec in dataset.files.items():
        first_problem: DataIntegrityError | None = None
        for path in _candidates(dataset, spec, cache, local_dirs):
            if not path.is_file():
                continue
            try:
                _verify_file(path, spec)
                paths[key] = path
                break
            except DataIntegrityError as err:
                first_problem = first_problem or err
        else:
            if first_problem is not None:
                raise first_problem
            missing.append(spec.name)
    if missing:
        folders = ", ".join(str(d) for d in (cache / dataset.name, *local_dirs))
        raise FileNotFoundError(
            f"{', '.join(missing)} of {dataset.name} not found in {folders}. Pass download=True "
            "to download it, set LESSONS_DATA_DIR (or LESSONS_DATA_MIRROR), or (Fashion-MNIST) "
            "run `apt-get install -y dataset-fashion-mnist`."
        )
    return paths


def _dataset_paths(dataset: RemoteDataset, cache: Path, download: bool) -> dict[str, Path]:
    """Verified local paths of every file of ``dataset``, downloading the missing ones."""
    local_dirs = _local_dirs(dataset)
    if not download:
        return _local_paths(dataset, cache, local_dirs)
    mirror = _mirror()
    down_hosts: dict[str, str] = {}
    return {
        key: _obtain(dataset, key, cache, local_dirs, mirror, down_hosts) for key in dataset.files
    }


@lru_cache(maxsize=4)
def _arrays_of(dataset: RemoteDataset, files: tuple[tuple, ...]) -> dict[str, np.ndarray]:
    # Keyed by each file's (path, size, mtime, inode): a replaced file is read again.
    return {key: _read_verified(Path(path), dataset.files[key]) for key, path, *_ in files}


def _idx_arrays(dataset: RemoteDataset, cache: Path, download: bool) -> dict[str, np.ndarray]:
    paths = _dataset_paths(dataset, cache, download)
    files = tuple(
        (key, str(path), *_file_key(path, dataset.files[key])[1:4]) for key, path in paths.items()
    )
    return _arrays_of(dataset, files)


# The last answer of fashion_mnist_available(), by the settings it was computed under.
_FASHION_STATUS: dict[str, object] = {"settings": None, "ok": False, "reason": ""}
# A failed download is not retried by fashion_mnist_available() (loaders always retry) for
# this many seconds, so that several notebook cells asking in a row do not wait each time.
_RECHECK_AFTER_S = 300.0


def _fashion_settings() -> tuple:
    return (
        str(data_dir()),
        _env_flag("LESSONS_SYSTEM_DATA", True),
        _mirror(),
        FASHION_MNIST,
    )


def fashion_mnist_available(download: bool = True) -> bool:
    """True when a verified copy of Fashion-MNIST is on this machine, downloading it if needed.

    Looks in the cache (``data/fashion-mnist`` or ``$LESSONS_DATA_DIR/fashion-mnist``) and in
    Debian's ``/usr/share/datasets/fashion-mnist``, verifying every file by checksum (once per
    file state: repeated calls cost a ``stat`` per file). When a file is missing or corrupt and
    ``download`` is True, it is downloaded (``LESSONS_DATA_MIRROR`` first, then the official
    host), verified and cached. False means that :func:`load_fashion_mnist` would fail:
    :func:`fashion_mnist_status` then says why and how to fix it. Notebooks use this to skip
    their 28×28 sections instead of failing.

    Parameters
    ----------
    download : bool
        Whether to download missing files. A download that failed is not retried by this
        function for 5 minutes (under the same settings); the loaders always retry.

    Returns
    -------
    bool
    """
    download = _check_bool(download, "download")
    settings = _fashion_settings()
    cache = data_dir()
    last = _FASHION_STATUS
    recently_failed = (
        last["settings"] == settings
        and last.get("download_failed_at") is not None
        and time.monotonic() - float(last["download_failed_at"]) < _RECHECK_AFTER_S
    )
    try:
        paths = _dataset_paths(FASHION_MNIST, cache, download and not recently_failed)
    except (DataIntegrityError, FileNotFoundError, OSError) as err:
        reason = str(err)
        if recently_failed:
            reason = str(last["reason"])
        _FASHION_STATUS.update(
            settings=settings,
            ok=False,
            reason=reason,
            download_failed_at=(
                last.get("download_failed_at")
                if recently_failed
                else (time.monotonic() if download else None)
            ),
        )
        return False
    folders = sorted({str(path.parent) for path in paths.values()})
    _FASHION_STATUS.update(
        settings=settings,
        ok=True,
        reason=f"Fashion-MNIST is ready: verified copies in {', '.join(folders)}.",
        download_failed_at=None,
    )
    return True


def fashion_mnist_status() -> str:
    """Why Fashion-MNIST is (or is not) available, in words, with how to fix it.

    The answer of the last :func:`fashion_mnist_available` call under the current settings
    (cache folder, ``LESSONS_SYSTEM_DATA``, ``LESSONS_DATA_MIRROR``); when there is none, it
    calls ``fashion_mnist_available()`` first. Notebooks print it when they skip a section.

    Returns
    -------
    str
        "Fashion-MNIST is ready: …" or "Fashion-MNIST is not available: <reason>. To fix it: …".
    """
    if _FASHION_STATUS["settings"] != _fashion_settings():
        fashion_mnist_available()
    if _FASHION_STATUS["ok"]:
        return str(_FASHION_STATUS["reason"])
    return f"Fashion-MNIST is not available: {_FASHION_STATUS['reason']}"


def _load_idx_dataset(
    dataset: RemoteDataset,
    split: str,
    binarize: bool | str,
    device: torch.device | str | None,
    dtype: torch.dtype,
    download: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    # Every argument is checked before anything is read or downloaded.
    _check_split(split)
    binarize = _check_binarize(binarize)
    dtype = _check_float_dtype(dtype)
    download = _check_bool(download, "download")
    target = resolve_device(device)
    arrays = _idx_arrays(dataset, data_dir(), download)
    if split == "test":
        images, labels = arrays["test_images"], arrays["test_labels"]
    elif split == "all":
        images = np.concatenate([arrays["train_images"], arrays["test_images"]])
        labels = np.concatenate([arrays["train_labels"], arrays["test_labels"]])
    else:
        # The validation set is a fixed, stratified twelfth (5,000) of the official training set.
        train_labels = arrays["train_labels"]
        idx = _split_indices(train_labels, split, (1 / 12, 0.0))
        images, labels = arrays["train_images"][idx], train_labels[idx]
    return _to_tensors(images, labels, scale=255.0, binarize=binarize, device=target, dtype=dtype)


def load_fashion_mnist(
    split: str = "train",
    *,
    binarize: bool | str = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST (Xiao et al. 2017): 28×28 grey images of 10 kinds of clothing.

    Looked for in ``data/fashion-mnist`` (or ``$LESSONS_DATA_DIR/fashion-mnist``), then in
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``; hidden by
    ``LESSONS_SYSTEM_DATA=0``); otherwise downloaded (from ``LESSONS_DATA_MIRROR`` first, then
    the official host), checked by checksum and cached. Every copy is verified.

    Splits: train 55,000, val 5,000 (fixed and stratified, from the official training set),
    test 10,000 (the official test set), all 70,000.

    Parameters
    ----------
    split : {"train", "val", "test", "all"}
    binarize : bool or "stochastic"
        As in :func:`load_digits`.
    device : torch.device or str, optional
    dtype : torch.dtype
        A floating dtype.
    download : bool
        Download missing (or corrupt cached) files.

    Returns
    -------
    images : Tensor, shape (N, 1, 28, 28), values in [0, 1]
    labels : Tensor, shape (N,), int64; names in ``FASHION_CLASSES``

    Raises
    ------
    DataIntegrityError
        A local copy is corrupt (the message names the file and the fix).
    DownloadError
        No verified copy could be downloaded: the message says why and how to fix it.
    FileNotFoundError
        ``download=False`` and a file is missing.
    """
    return _load_idx_dataset(FASHION_MNIST, split, binarize, device, dtype, download)


def load_mnist(
    split: str = "train",
    *,
    binarize: bool | str = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST handwritten digits, 28×28, with the same splits, search order and checks as
    :func:`load_fashion_mnist` (folder ``mnist``; downloaded from PyTorch's mirror, because the
    original host refuses downloads).

    A ``.gz`` copy must match the published md5; an uncompressed copy (no checksum of MNIST's
    content is published) is checked by content, with a warning.

    Returns
    -------
    images : Tensor, shape (N, 1, 28, 28), values in [0, 1]
    labels : Tensor, shape (N,), int64 in 0..9
    """
    return _load_idx_dataset(MNIST, split, binarize, device, dtype, download)


# --------------------------------------------------------------------------- photos

PHOTOS = {"china": "china.jpg", "flower": "flower.jpg"}
_PHOTO_SIZE = (427, 640)  # both of scikit-learn's sample photos


def load_photo(name: str, *, downscale: int = 1) -> np.ndarray:
    """One of scikit-learn's two sample photos as floats in [0, 1].

    Parameters
    ----------
    name : {"china", "flower"}
    downscale : int
        Average non-overlapping ``downscale × downscale`` blocks (1 keeps the full
        427 × 640 photo); useful to keep a per-pixel model fast.

    Returns
    -------
    ndarray, shape (H // downscale, W // downscale, 3), float32

    Raises
    ------
    ValueError
        An unknown ``name``, or ``downscale`` larger than the photo (it would leave no pixel).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {tuple(PHOTOS)}; got {name!r}.")
    check_one_of(name, "name", tuple(PHOTOS))
    factor = check_int(downscale, "downscale", min_value=1)
    if factor > min(_PHOTO_SIZE):
        raise ValueError(
            f"downscale must be at most {min(_PHOTO_SIZE)} (the photos are "
            f"{_PHOTO_SIZE[0]} × {_PHOTO_SIZE[1]}), got {factor}: it would leave no pixel."
        )
    from sklearn.datasets import load_sample_image

    photo = load_sample_image(PHOTOS[name]).astype(np.float32) / 255.0
    if factor > 1:
        h, w = (photo.shape[0] // factor) * factor, (photo.shape[1] // factor) * factor
        photo = photo[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean((1, 3))
    return photo


# --------------------------------------------------------------------------- 2-D toy sets


# The toy sets are float32: coordinates (centre + std · noise, noise up to about 10) must stay
# well inside float32's range (3.4e38), or points would silently become inf.
_MAX_COORD = 1e30


#: Sanity bounds on sizes. The course draws at most a few thousand points from 8 to 25 modes;
#: beyond these bounds an array would hold more than 2**31 values (8 GiB in float32, twice
#: that in the float64 intermediates), more memory than a course machine has. Checked before
#: any work, so an absurd size fails at once with a message instead of deep inside torch.
MAX_POINTS = 2**30  # n (points of shape (n, 2)) and n_modes (centres of shape (n_modes, 2))
MAX_PER_SIDE = 2**15  # n_per_side: the grid has n_per_side**2 <= 2**30 centres
MAX_ELEMENTS = 2**31  # values in the output of ``augment`` (copies · N · C · H · W)


def _check_count(value: object, name: str, *, min_value: int, max_value: int, why: str) -> int:
    """An integer in ``[min_value, max_value]``; ``why`` says what the upper bound protects."""
    value = check_int(value, name, min_value=min_value)
    if value > max_value:
        raise ValueError(
            f"{name} must be at most {max_value} ({why}), got {value}. Pass a smaller {name}."
        )
    return value


def _check_n_points(n: object, *, min_value: int = 1) -> int:
    return _check_count(
        n,
        "n",
        min_value=min_value,
        max_value=MAX_POINTS,
        why="2**30 points of 2 coordinates already fill 8 GiB",
    )


def _check_seed(seed: object) -> int | None:
    """None or an integer in [0, 2**32), like ``seed_everything`` (the course's one validator)."""
    return check_seed(seed, max_value=2**32 - 1)


def _check_scale(value: object, name: str, *, strict: bool = True, limit: float) -> float:
    value = check_positive(value, name, strict=strict)
    if value > limit:
        raise ValueError(
            f"{name} must be at most {limit:g} (the points are float32 and would overflow to "
            f"inf), got {value:g}. Rescale: work in units where it is of order 1."
        )
    return value


def _generator(seed: int | None) -> torch.Generator:
    seed = _check_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed if seed is not None else int(torch.randint(2**31, ()).item()))
    return gen


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """Centres of ``n_modes`` Gaussians evenly spaced on a circle: shape (n_modes, 2).

    ``n_modes`` is at most ``MAX_POINTS`` (2**30); ``radius`` must be finite, > 0 and at most
    1e30 (the result is float32).
    """
    n_modes = _check_count(
        n_modes,
        "n_modes",
        min_value=1,
        max_value=MAX_POINTS,
        why="2**30 centres of 2 coordinates already fill 8 GiB",
    )
    radius = _check_scale(radius, "radius", limit=_MAX_COORD)
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * np.pi / n_modes)
    return (radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)).float()


def grid_centers(n_per_side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Centres of a square grid of Gaussians, centred on 0: shape (n_per_side**2, 2).

    ``n_per_side`` is at most ``MAX_PER_SIDE`` (2**15, i.e. 2**30 centres); ``spacing`` must
    be finite and > 0, and the grid's half-width ``(n_per_side - 1) / 2 · spacing`` at most
    1e30 (the result is float32).
    """
    n_per_side = check_int(n_per_side, "n_per_side", min_value=1)
    spacing = check_positive(spacing, "spacing")
    try:
        half_width = (n_per_side - 1) / 2 * spacing
    except OverflowError:  # (n_per_side - 1) / 2 beyond float64: far beyond the limit too
        half_width = math.inf
    if half_width > _MAX_COORD:
        raise ValueError(
            f"spacing={spacing:g} with n_per_side={n_per_side} makes a grid of half-width "
            f"{half_width:g}, beyond {_MAX_COORD:g} (the points are float32 and would overflow)."
        )
    n_per_side = _check_count(
        n_per_side,
        "n_per_side",
        min_value=1,
        max_value=MAX_PER_SIDE,
        why="the grid has n_per_side**2 centres, and 2**30 of them already fill 8 GiB",
    )
    # float64 ticks, then float32: the products stay exact to float32 rounding.
    ticks = (torch.arange(n_per_side, dtype=torch.float64) - (n_per_side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks.float(), ticks.float(), indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def _mixture_of_centers(
    centers: torch.Tensor, n: int, std: float, seed: int | None, device
) -> tuple[torch.Tensor, torch.Tensor]:
    n = _check_n_points(n)
    _check_scale(std, "std", limit=_MAX_COORD / 10)
    gen = _generator(seed)
    labels = torch.randint(len(centers), (n,), generator=gen)
    points = centers[labels] + std * torch.randn(n, 2, generator=gen)
    target = resolve_device(device)
    return points.to(target), labels.to(target)


def make_ring(
    n: int,
    *,
    n_modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points from a ring of ``n_modes`` equal Gaussians (the classic GAN mode-collapse toy).

    ``n`` is at most ``MAX_POINTS`` (2**30): more points would not fit in memory.

    Returns
    -------
    points : Tensor, shape (n, 2), float32
    labels : Tensor, shape (n,), int64: the mode each point came from
    """
    n = _check_n_points(n)  # before the centres are computed
    return _mixture_of_centers(ring_centers(n_modes, radius), n, std, seed, device)


def make_grid(
    n: int,
    *,
    n_per_side: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points from a square grid of equal Gaussians (25 modes by default).

    ``n`` is at most ``MAX_POINTS`` (2**30): more points would not fit in memory.

    Returns
    -------
    points : Tensor, shape (n, 2), float32
    labels : Tensor, shape (n,), int64
    """
    n = _check_n_points(n)  # before the centres are computed
    return _mixture_of_centers(grid_centers(n_per_side, spacing), n, std, seed, device)


def make_moons(
    n: int,
    *,
    noise: float = 0.08,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles (scikit-learn's ``make_moons``) as tensors.

    ``n`` is at most ``MAX_POINTS`` (2**30): more points would not fit in memory.

    Returns
    -------
    points : Tensor, shape (n, 2), float32
    labels : Tensor, shape (n,), int64 in {0, 1}
    """
    from sklearn.datasets import make_moons as sk_make_moons

    n = _check_n_points(n, min_value=2)
    noise = _check_scale(noise, "noise", strict=False, limit=_MAX_COORD / 10)
    seed = _check_seed(seed)
    points, labels = sk_make_moons(n, noise=noise, random_state=seed)
    target = resolve_device(device)
    return (
        torch.as_tensor(points, dtype=torch.float32, device=target),
        torch.as_tensor(labels, dtype=torch.int64, device=target),
    )


#: The known 2-D mixture of the EM lessons: weights (3,), means (3, 2), covariances (3, 2, 2).
MIXTURE_2D = {
    "weights": np.array([0.5, 0.3, 0.2]),
    "means": np.array([[-2.0, 0.0], [2.0, 1.0], [0.5, -2.5]]),
    "covariances": np.array(
        [[[1.0, 0.6], [0.6, 0.8]], [[0.6, -0.3], [-0.3, 0.5]], [[0.3, 0.0], [0.0, 0.3]]]
    ),
}


def make_mixture_2d(
    n: int, *, seed: int | None = None, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points from the known three-component 2-D Gaussian mixture ``MIXTURE_2D``.

    Its parameters are public so that a fit can be compared with the truth.

    ``n`` is at most ``MAX_POINTS`` (2**30): more points would not fit in memory.

    Returns
    -------
    points : Tensor, shape (n, 2), float64
    labels : Tensor, shape (n,), int64: the component each point came from
    """
    n = _check_n_points(n)
    gen = _generator(seed)
    weights = torch.as_tensor(MIXTURE_2D["weights"])
    means = torch.as_tensor(MIXTURE_2D["means"])
    chol = torch.linalg.cholesky(torch.as_tensor(MIXTURE_2D["covariances"]))
    labels = torch.multinomial(weights, n, replacement=True, generator=gen)
    noise = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    points = means[labels] + torch.einsum("nij,nj->ni", chol[labels], noise)
    target = resolve_device(device)
    return points.to(target), labels.to(target)


# --------------------------------------------------------------------------- augmentation


def augment(
    images: torch.Tensor | np.ndarray,
    *,
    max_rotation: float = 10.0,
    max_shift: float = 0.5,
    max_scale: float = 0.1,
    hflip: bool = False,
    copies: int = 1,
    seed: int | None = None,
) -> torch.Tensor:
    """Random rotations, shifts and scalings (and, optionally, mirror images) of a batch.

    Each output image is the input under its own random affine map, drawn uniformly: a
    rotation in ``[-max_rotation, max_rotation]`` degrees, a shift of up to ``max_shift``
    pixels along each axis and a scaling by a factor in ``[1 - max_scale, 1 + max_scale]``,
    resampled bilinearly with black (0) outside the image. With ``hflip`` half of the images
    are also mirrored left to right (right for clothes, wrong for digits: a mirrored 3 is not
    a digit).

    Parameters
    ----------
    images : (N, C, H, W), values in [0, 1]
    max_rotation : float, degrees, >= 0
    max_shift : float, pixels, >= 0
    max_scale : float in [0, 1)
    hflip : bool
    copies : int
        Stack this many independently augmented copies of the batch; the result may hold at
        most ``MAX_ELEMENTS`` (2**31) values.
    seed : int, optional

    Returns
    -------
    Tensor, shape (copies · N, C, H, W), values in [0, 1], on the images' device
    """
    check_images(images, "images")
    hflip = _check_bool(hflip, "hflip")
    max_rotation = check_positive(max_rotation, "max_rotation", strict=False)
    max_shift = check_positive(max_shift, "max_shift", strict=False)
    max_scale = check_positive(max_scale, "max_scale", strict=False)
    if max_scale >= 1:
        raise ValueError(f"max_scale must lie in [0, 1), got {max_scale}.")
    copies = check_int(copies, "copies", min_value=1)
    per_copy = images.numel() if isinstance(images, torch.Tensor) else images.size
    if copies * per_copy > MAX_ELEMENTS:
        # Python integers: the product cannot overflow, however absurd ``copies`` is.
        raise ValueError(
            f"copies={copies} of a batch of {per_copy} values would make {copies * per_copy} "
            f"values, more than {MAX_ELEMENTS} (2**31, 8 GiB in float32). Pass a smaller "
            f"copies, at most {max(1, MAX_ELEMENTS // per_copy)} for this batch, or augment it "
            "in chunks."
        )
    seed = _check_seed(seed)
    x = as_tensor(images, dtype=torch.float32).repeat(copies, 1, 1, 1)
    n, _, height, width = x.shape
    gen = _generator(seed)

    def uniform(bound: float) -> torch.Tensor:
        return (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1) * bound

    angle = torch.deg2rad(uniform(max_rotation))
    scale = 1 + uniform(max_scale)
    # affine_grid maps output coordinates in [-1, 1] to input ones: the inverse transform.
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    mirror = torch.ones(n, dtype=torch.float64)
    if hflip:
        mirror = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).double()
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 1] = cos * mirror, -sin * height / width
    theta[:, 1, 0], theta[:, 1, 1] = sin * mirror * width / height, cos
    theta[:, 0, 2] = uniform(max_shift) * 2 / width
    theta[:, 1, 2] = uniform(max_shift) * 2 / height
    # A shift that moves the image wholly out of the frame gives a black image; clipping it just
    # beyond that point keeps the result exact and stops a huge max_shift from turning into
    # inf (then NaN) in float32. The sampled coordinates along row r reach at most
    # |theta_r0| + |theta_r1| from the shift, and at 1 + 2/size every tap falls outside.
    reach = theta[:, :, :2].abs().sum(-1) + 1 + 4 / torch.tensor([width, height]).double() + 1
    theta[:, :, 2] = torch.maximum(torch.minimum(theta[:, :, 2], reach), -reach)
    grid = torch.nn.functional.affine_grid(
        theta.to(x.device, torch.float32), list(x.shape), align_corners=False
    )
    out = torch.nn.functional.grid_sample(x, grid, mode="bilinear", align_corners=False)
    return out.clamp(0, 1)
