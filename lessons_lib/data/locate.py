"""Where each file of a dataset comes from: local copies first, then the mirror, then the hosts.

A dataset's files are looked for in the cache folder and in the system folders (Debian's
package), each copy verified; a missing or rejected file is downloaded from
``LESSONS_DATA_MIRROR`` first, then from the official hosts. A host that cannot be reached is
not waited for again for the other files of the same request. The verified arrays are cached by
file state.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from lessons_lib.data.download import DownloadError, _download, _Failure
from lessons_lib.data.idx import (
    DataIntegrityError,
    RemoteDataset,
    RemoteFile,
    _file_key,
    _read_verified,
    _verify_file,
)
from lessons_lib.data.paths import _env_flag, _mirror


def _local_dirs(dataset: RemoteDataset) -> tuple[Path, ...]:
    """System folders of ``dataset``, unless ``LESSONS_SYSTEM_DATA=0`` hides them."""
    return dataset.local_dirs if _env_flag("LESSONS_SYSTEM_DATA", True) else ()


def _candidates(
    dataset: RemoteDataset, spec: RemoteFile, cache: Path, local_dirs: tuple[Path, ...]
) -> list[Path]:
    stem = spec.name.removesuffix(".gz")
    folders = [cache / dataset.name, *local_dirs]
    return [folder / name for folder in folders for name in (spec.name, stem)]


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
