"""MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017): the 28×28 IDX datasets.

Their official files (``MNIST``, ``FASHION_MNIST``: names, published checksums, shapes), the
loaders with their fixed splits, and ``fashion_mnist_available`` / ``fashion_mnist_status``,
which notebooks use to skip their 28×28 sections, saying why, instead of failing.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from lessons_lib.core.device import resolve_device

# Through the module, so that replacing locate._dataset_paths (tests do) reaches these calls.
from lessons_lib.data import locate as _locate
from lessons_lib.data.idx import DataIntegrityError, RemoteDataset, RemoteFile
from lessons_lib.data.paths import DEBIAN_FASHION_DIR, _env_flag, _mirror, data_dir
from lessons_lib.data.splits import (
    _check_binarize,
    _check_bool,
    _check_float_dtype,
    _check_split,
    _split_indices,
    _to_tensors,
)

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

# The loaders read MNIST and FASHION_MNIST from this module at call time: replacing
# lessons_lib.data.mnist.MNIST (tests do, with small fake files) changes what they load.
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
        paths = _locate._dataset_paths(FASHION_MNIST, cache, download and not recently_failed)
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
    arrays = _locate._idx_arrays(dataset, data_dir(), download)
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
