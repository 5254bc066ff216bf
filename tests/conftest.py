"""Shared test set-up: tests run on the CPU, headless; they share the cache in data/ (or
$LESSONS_DATA_DIR), and tests that need an empty data folder make their own."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("LESSONS_DEVICE", "cpu")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``cuda`` on a machine without a CUDA GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def assert_raised_by_our_checks(call, error: type[Exception], word: str) -> None:
    """``call()`` raises ``error`` with ``word`` in its message, from lessons_lib's own code."""
    with pytest.raises(error) as info:
        call()
    assert word in str(info.value), str(info.value)
    assert "lessons_lib" in info.traceback[-1].path.as_posix()  # not from inside torch


# ------------------------------------------ helpers of the EM tests (test_gmm, test_density_em)


def blobs(n: int = 600, dim: int = 4, k: int = 3, seed: int = 0) -> np.ndarray:
    """Correlated Gaussian blobs away from the origin (so the fast path's centring matters)."""
    rng = np.random.default_rng(seed)
    parts = [
        rng.normal(size=(n // k, dim)) @ rng.normal(size=(dim, dim)) + 6 * rng.normal(size=dim) + 10
        for _ in range(k)
    ]
    return np.concatenate(parts)


def start_from(
    X: np.ndarray, k: int, kind: str, seed: int = 0, ridge: float = 0.0
) -> dict[str, np.ndarray]:
    """An EM start: Dirichlet weights, K distinct rows as means, every component with the
    data's covariance (plus ``ridge`` on the diagonal), in the layout of ``kind``."""
    rng = np.random.default_rng(seed)
    cov = np.cov(X.T, bias=True)
    if ridge:
        cov = cov + ridge * np.eye(X.shape[1])
    covariances = {
        "full": np.repeat(cov[None], k, axis=0),
        "tied": cov,
        "diag": np.repeat(np.diag(cov)[None], k, axis=0),
        "spherical": np.full(k, np.diag(cov).mean()),
    }[kind]
    return {
        "weights": rng.dirichlet(np.full(k, 5.0)),
        "means": X[rng.choice(len(X), k, replace=False)],
        "covariances": covariances,
    }


def sklearn_from(start: dict, kind: str, max_iter: int, reg_covar: float = 1e-6):
    """scikit-learn's GaussianMixture started from ``start`` (never "converging": tol=0)."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    covariances = start["covariances"]
    diagonal = kind in ("diag", "spherical")
    precisions = 1.0 / covariances if diagonal else np.linalg.inv(covariances)
    return SkGaussianMixture(
        len(start["weights"]),
        covariance_type=kind,
        max_iter=max_iter,
        tol=0.0,
        reg_covar=reg_covar,
        weights_init=start["weights"],
        means_init=start["means"],
        precisions_init=precisions,
    )


def relative_gap(a, b) -> float:
    """The largest absolute difference, relative to the largest magnitude of ``b``."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# ------------------------------------------- helpers of the data tests (test_data, test_download)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def fake_spec(arrays, urls=(), name="fake", n_classes=None):
    """A ``RemoteDataset`` whose checksums are those of ``arrays`` (injected, not the real
    ones); its label files require ``n_classes`` classes (None: no such check)."""
    import gzip
    import hashlib

    from lessons_lib import data

    files = {}
    for key, array in arrays.items():
        content = idx_bytes(array)
        files[key] = data.RemoteFile(
            f"{key}.gz",
            hashlib.md5(gzip.compress(content, mtime=0)).hexdigest(),
            hashlib.sha256(content).hexdigest(),
            array.shape,
            n_classes=n_classes if key.endswith("labels") else None,
        )
    return data.RemoteDataset(name=name, urls=tuple(urls), files=files)
