"""Datasets of the course, all offline first.

Every image loader returns ``(images, labels)``: float tensors in [0, 1] of shape
(N, 1, H, W) and int64 labels of shape (N,), with a fixed, deterministic
train/validation/test split.

* ``load_digits``: scikit-learn's bundled 8×8 digits (1,797 images, no download).
* ``load_fashion_mnist`` / ``load_mnist``: 28×28 IDX files, found in ``data/``, in
  ``LESSONS_DATA_DIR``, in Debian's ``/usr/share/datasets/fashion-mnist`` (package
  ``dataset-fashion-mnist``), or else downloaded, checked by checksum and written atomically.
* ``load_photo``: scikit-learn's two sample photos as float arrays (H, W, 3).
* Small 2-D toy sets (a ring and a grid of Gaussians, two moons, a known 2-D mixture).

This is the only module of ``lessons_lib`` that touches files or the network.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from lessons_lib.checks import as_tensor, check_images, check_int, check_one_of, check_positive
from lessons_lib.device import resolve_device

__all__ = [
    "DIGIT_CLASSES",
    "FASHION_CLASSES",
    "DataIntegrityError",
    "augment",
    "data_dir",
    "fashion_mnist_available",
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


# --------------------------------------------------------------------------- locations


def data_dir() -> Path:
    """Where downloads are cached: ``LESSONS_DATA_DIR``, else the checkout's ``data/``.

    A ``lessons_lib`` installed outside a checkout (Colab's ``pip install git+…``) falls
    back to ``~/.cache/lessons_lib``.
    """
    env = os.environ.get("LESSONS_DATA_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "data"
    return Path.home() / ".cache" / "lessons_lib"


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
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(images_u8.astype(np.float32) / scale).unsqueeze(1)
    if binarize is True or binarize == "threshold":
        images = (images > 0.5).float()
    elif binarize == "stochastic":
        generator = torch.Generator().manual_seed(_SPLIT_SEED)
        images = torch.bernoulli(images, generator=generator)
    elif binarize is not False:
        raise ValueError(
            f"binarize must be False, True (threshold at 0.5) or 'stochastic', got {binarize!r}."
        )
    target = resolve_device(device)
    return (
        images.to(device=target, dtype=dtype),
        torch.from_numpy(labels.astype(np.int64)).to(target),
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
        Floating dtype of the images.

    Returns
    -------
    images : Tensor, shape (N, 1, 8, 8), values in [0, 1]
    labels : Tensor, shape (N,), int64 in 0..9
    """
    check_one_of(split, "split", SPLITS)
    images, labels = _digits_arrays()
    idx = _split_indices(labels, split, (0.10, 0.20))
    # The digits' grey levels run from 0 to 16.
    return _to_tensors(
        images[idx], labels[idx], scale=16.0, binarize=binarize, device=device, dtype=dtype
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


def _how_to_fix(path: Path) -> str:
    if DEBIAN_FASHION_DIR in path.parents:
        return "Reinstall it with `apt-get install --reinstall -y dataset-fashion-mnist`."
    return f"Delete {path} and call the loader again to download a fresh copy."


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataIntegrityError(
            f"{path} is a damaged or truncated gzip file ({err}). {_how_to_fix(path)}"
        ) from err


def read_idx(source: str | os.PathLike | bytes) -> np.ndarray:
    """Parse an IDX file (the MNIST format), gzip-compressed or not.

    Parameters
    ----------
    source : path or bytes
        A path to an ``.idx``/``-ubyte`` file (optionally ``.gz``) or its decompressed bytes.

    Returns
    -------
    ndarray
        The array, with the shape and dtype written in the header.

    Raises
    ------
    DataIntegrityError
        A bad magic number, an unknown type code, or a size that disagrees with the header.
    """
    if isinstance(source, bytes):
        path, content = Path("<bytes>"), source
    else:
        path = Path(source)
        content = _read_bytes(path)
    if len(content) < 4 or content[0] != 0 or content[1] != 0:
        raise DataIntegrityError(
            f"{path} is not an IDX file (its first bytes are {content[:4]!r}, expected "
            f"b'\\x00\\x00' then a type code and a rank). {_how_to_fix(path)}"
        )
    type_code, ndim = content[2], content[3]
    if type_code not in _IDX_DTYPES:
        raise DataIntegrityError(f"{path} has an unknown IDX type code 0x{type_code:02x}.")
    header_end = 4 + 4 * ndim
    if len(content) < header_end:
        raise DataIntegrityError(f"{path} is truncated inside its header. {_how_to_fix(path)}")
    shape = tuple(int(d) for d in np.frombuffer(content[4:header_end], dtype=">u4"))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(content) - header_end
    if got != expected:
        raise DataIntegrityError(
            f"{path} holds {got} bytes of data but its header promises {expected} "
            f"(shape {shape}): the file is truncated or corrupt. {_how_to_fix(path)}"
        )
    array = np.frombuffer(content, dtype=dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


# --------------------------------------------------------------------------- remote files


@dataclass(frozen=True)
class RemoteFile:
    """One official file: where to get it and how to check it.

    ``md5`` is the published checksum of the ``.gz`` file; ``content_sha256`` the checksum of
    its decompressed content (Debian recompresses, so a local copy is checked by content).
    """

    name: str
    md5: str
    content_sha256: str | None
    shape: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class RemoteDataset:
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
        ),
    },
    local_dirs=(DEBIAN_FASHION_DIR,),
)

# The original host of MNIST answers 403; this mirror (PyTorch's) serves the same files.
MNIST = RemoteDataset(
    name="mnist",
    urls=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
    files={
        "train_images": RemoteFile(
            "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", None, (60000, 28, 28)
        ),
        "train_labels": RemoteFile(
            "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", None, (60000,)
        ),
        "test_images": RemoteFile(
            "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", None, (10000, 28, 28)
        ),
        "test_labels": RemoteFile(
            "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", None, (10000,)
        ),
    },
)


def _digest(data: bytes, algorithm: str) -> str:
    return hashlib.new(algorithm, data).hexdigest()


def _verified_array(path: Path, spec: RemoteFile) -> np.ndarray:
    """Read a local copy and check it: published md5 of the file, else sha256 of its content."""
    raw = path.read_bytes()
    content = _read_bytes(path)
    if _digest(raw, "md5") != spec.md5 and spec.content_sha256 is not None:
        if _digest(content, "sha256") != spec.content_sha256:
            raise DataIntegrityError(
                f"{path} does not match the official {spec.name} (checksum mismatch): it is "
                f"corrupt or a different file. {_how_to_fix(path)}"
            )
    array = read_idx(content)
    if array.shape != spec.shape:
        raise DataIntegrityError(
            f"{path} has shape {array.shape}, expected {spec.shape}. {_how_to_fix(path)}"
        )
    return array


def _candidates(dataset: RemoteDataset, spec: RemoteFile, cache: Path) -> list[Path]:
    stem = spec.name.removesuffix(".gz")
    folders = [cache / dataset.name, *dataset.local_dirs]
    return [folder / name for folder in folders for name in (spec.name, stem)]


def _download(url: str, dest: Path, md5: str, *, retries: int = 3, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest`` atomically, checking the published md5.

    The bytes go to a temporary file in the same folder, which is renamed over ``dest`` only
    once complete and verified; nothing half-written is ever left behind.
    """
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.md5()
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                received = 0
                with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                    while chunk := resp.read(1 << 16):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
            if total is not None and received != total:
                raise DataIntegrityError(
                    f"download of {url} was truncated: got {received} of {total} bytes."
                )
            if digest.hexdigest() != md5:
                raise DataIntegrityError(
                    f"download of {url} has md5 {digest.hexdigest()}, expected {md5}."
                )
            os.replace(tmp, dest)
            return
        except (OSError, urllib.error.URLError, DataIntegrityError) as err:
            last_error = err
            if attempt < retries:
                time.sleep(min(2.0**attempt, 10.0))
        finally:
            tmp.unlink(missing_ok=True)
    raise DataIntegrityError(
        f"could not download {url} after {retries} attempts ({last_error}). If this machine is "
        "offline, copy the official files into "
        f"{dest.parent}, set LESSONS_DATA_DIR to a folder that holds them, or (Fashion-MNIST) "
        "install Debian's package: `apt-get install -y dataset-fashion-mnist`."
    ) from last_error


def _locate_or_download(
    dataset: RemoteDataset, key: str, cache: Path, download: bool
) -> np.ndarray:
    spec = dataset.files[key]
    for path in _candidates(dataset, spec, cache):
        if path.is_file():
            return _verified_array(path, spec)
    dest = cache / dataset.name / spec.name
    if not download:
        raise FileNotFoundError(
            f"{spec.name} of {dataset.name} was not found in {dest.parent}"
            + "".join(f", {d}" for d in dataset.local_dirs)
            + ". Pass download=True, set LESSONS_DATA_DIR, or (Fashion-MNIST) run "
            "`apt-get install -y dataset-fashion-mnist`."
        )
    errors = []
    for base in dataset.urls:
        try:
            _download(base + spec.name, dest, spec.md5)
            return _verified_array(dest, spec)
        except DataIntegrityError as err:
            errors.append(str(err))
    raise DataIntegrityError(" | ".join(errors))


def fashion_mnist_available() -> bool:
    """True when Fashion-MNIST is on this machine (no download needed).

    Notebooks use it to skip their 28×28 sections on a machine that is offline and lacks
    Debian's ``dataset-fashion-mnist``, instead of failing.
    """
    cache = data_dir()
    return all(
        any(path.is_file() for path in _candidates(FASHION_MNIST, spec, cache))
        for spec in FASHION_MNIST.files.values()
    )


@lru_cache(maxsize=4)
def _idx_arrays(dataset: RemoteDataset, cache: Path, download: bool) -> dict[str, np.ndarray]:
    # Keyed by the cache folder too, so a changed LESSONS_DATA_DIR is honoured.
    return {key: _locate_or_download(dataset, key, cache, download) for key in dataset.files}


def _load_idx_dataset(
    dataset: RemoteDataset,
    split: str,
    binarize: bool | str,
    device: torch.device | str | None,
    dtype: torch.dtype,
    download: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    check_one_of(split, "split", SPLITS)
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
    return _to_tensors(images, labels, scale=255.0, binarize=binarize, device=device, dtype=dtype)


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
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``); otherwise
    downloaded from the official host, checked by checksum and cached.

    Splits: train 55,000, val 5,000 (fixed and stratified, from the official training set),
    test 10,000 (the official test set), all 70,000.

    Returns
    -------
    images : Tensor, shape (N, 1, 28, 28), values in [0, 1]
    labels : Tensor, shape (N,), int64; names in ``FASHION_CLASSES``
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
    """MNIST handwritten digits, 28×28, with the same splits and search order as
    :func:`load_fashion_mnist` (folder ``mnist``; downloaded from PyTorch's mirror, because the
    original host refuses downloads).

    Returns
    -------
    images : Tensor, shape (N, 1, 28, 28), values in [0, 1]
    labels : Tensor, shape (N,), int64 in 0..9
    """
    return _load_idx_dataset(MNIST, split, binarize, device, dtype, download)


# --------------------------------------------------------------------------- photos

PHOTOS = {"china": "china.jpg", "flower": "flower.jpg"}


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
    ndarray, shape (H, W, 3), float32
    """
    check_one_of(name, "name", tuple(PHOTOS))
    factor = check_int(downscale, "downscale", min_value=1)
    from sklearn.datasets import load_sample_image

    photo = load_sample_image(PHOTOS[name]).astype(np.float32) / 255.0
    if factor > 1:
        h, w = (photo.shape[0] // factor) * factor, (photo.shape[1] // factor) * factor
        photo = photo[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean((1, 3))
    return photo


# --------------------------------------------------------------------------- 2-D toy sets


def _generator(seed: int | None) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(seed) if seed is not None else int(torch.randint(2**31, ()).item()))
    return gen


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """Centres of ``n_modes`` Gaussians evenly spaced on a circle: shape (n_modes, 2)."""
    n_modes = check_int(n_modes, "n_modes", min_value=1)
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * np.pi / n_modes)
    return (radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)).float()


def grid_centers(n_per_side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Centres of a square grid of Gaussians, centred on 0: shape (n_per_side**2, 2)."""
    n_per_side = check_int(n_per_side, "n_per_side", min_value=1)
    ticks = (torch.arange(n_per_side, dtype=torch.float32) - (n_per_side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def _mixture_of_centers(
    centers: torch.Tensor, n: int, std: float, seed: int | None, device
) -> tuple[torch.Tensor, torch.Tensor]:
    n = check_int(n, "n", min_value=1)
    check_positive(std, "std")
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

    Returns
    -------
    points : Tensor, shape (n, 2), float32
    labels : Tensor, shape (n,), int64: the mode each point came from
    """
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

    Returns
    -------
    points : Tensor, shape (n, 2), float32
    labels : Tensor, shape (n,), int64
    """
    return _mixture_of_centers(grid_centers(n_per_side, spacing), n, std, seed, device)


def make_moons(
    n: int,
    *,
    noise: float = 0.08,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles (scikit-learn's ``make_moons``) as tensors.

    Returns
    -------
    points : Tensor, shape (n, 2), float32
    labels : Tensor, shape (n,), int64 in {0, 1}
    """
    from sklearn.datasets import make_moons as sk_make_moons

    n = check_int(n, "n", min_value=2)
    check_positive(noise, "noise", strict=False)
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

    Returns
    -------
    points : Tensor, shape (n, 2), float64
    labels : Tensor, shape (n,), int64: the component each point came from
    """
    n = check_int(n, "n", min_value=1)
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
        Stack this many independently augmented copies of the batch.
    seed : int, optional

    Returns
    -------
    Tensor, shape (copies · N, C, H, W), values in [0, 1], on the images' device
    """
    check_images(images, "images")
    max_rotation = check_positive(max_rotation, "max_rotation", strict=False)
    max_shift = check_positive(max_shift, "max_shift", strict=False)
    max_scale = check_positive(max_scale, "max_scale", strict=False)
    if max_scale >= 1:
        raise ValueError(f"max_scale must lie in [0, 1), got {max_scale}.")
    copies = check_int(copies, "copies", min_value=1)
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
    grid = torch.nn.functional.affine_grid(
        theta.to(x.device, torch.float32), list(x.shape), align_corners=False
    )
    out = torch.nn.functional.grid_sample(x, grid, mode="bilinear", align_corners=False)
    return out.clamp(0, 1)
