"""Reading a metric against reference rows: the calibration table and a model's row.

A sample metric's number means little alone: an FD of 5 is good or bad depending on the
dataset, the number of images and the feature space. :func:`calibration_table` measures
every metric -- FD (Heusel et al. 2017), improved precision and recall (Kynkäänniemi et al.
2019), NDB and JS (Richardson and Weiss 2018), class accuracy and the nearest-train distance
(Theis et al. 2016) -- on reference candidates: held-out test images (what a perfect model
scores), a class removed (mode dropping), blurred, noisy, uniform noise, and copied training
images (memorization). :func:`evaluate_samples` puts a model's samples through exactly the
same protocol (the same reference images, bins and counts), so its row reads against those.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from lessons_lib.core.device import fast_or_full, resolve_device
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    as_tensor,
    check_int,
    check_labels,
    check_positive,
)
from lessons_lib.evaluation import feature_networks as _networks
from lessons_lib.evaluation._inputs import (
    _N_CLASSES,
    _check_dataset,
    _check_min_count,
    _check_n_bins,
    _check_seed,
    _checked_images,
)
from lessons_lib.evaluation._scaling import _flat, _float_dtype
from lessons_lib.evaluation.degradations import (
    add_gaussian_noise,
    gaussian_blur,
    uniform_noise_images,
)
from lessons_lib.evaluation.feature_space import (
    _embed_and_classify,
    feature_network,
    feature_network_info,
    features,
)
from lessons_lib.evaluation.frechet import frechet_distance_from_features
from lessons_lib.evaluation.knn_precision_recall import _centred, _knn_radii, _precision_recall
from lessons_lib.evaluation.memorization import _nearest_rows
from lessons_lib.evaluation.ndb_bins import NDB

__all__ = [
    "COLUMNS",
    "N_MEMORIZATION",
    "MetricTable",
    "calibration_table",
    "evaluate_samples",
    "to_markdown",
]

#: Columns of a calibration row and their headings in :func:`to_markdown`.
COLUMNS = {
    "name": "candidate (against n training images)",
    "n": "n",
    "fd": "FD ↓",
    "precision": "precision ↑",
    "recall": "recall ↑",
    "ndb": "NDB ↓",
    "js": "JS ↓",
    "class_accuracy": "class acc. ↑",
    "nearest_train": "median NN-train dist.",
}


class _RowNotFoundError(KeyError, ValueError):
    """No row of a :class:`MetricTable` has the name asked for.

    A ``ValueError`` (a bad argument, like every other refusal of the library) that is also a
    ``KeyError``, so that code written for the earlier ``KeyError`` still catches it.
    """

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its argument: show the message as written.
        return str(self.args[0]) if self.args else ""


class MetricTable(list):
    """A list of row dicts (keys of ``COLUMNS``) that shows itself as a Markdown table."""

    def __init__(self, rows=(), *, meta: Mapping[str, Any] | None = None) -> None:
        super().__init__(rows)
        self.meta = dict(meta or {})

    def row(self, name_start: str) -> dict[str, Any]:
        """The first row whose name starts with ``name_start`` (e.g. ``"test set"``).

        Raises
        ------
        TypeError
            ``name_start`` is not a str.
        ValueError
            No row's name starts with it (the error is also a ``KeyError``); it lists the rows.
        """
        if not isinstance(name_start, str):
            raise TypeError(f"name_start must be a str, got {type(name_start).__name__}.")
        for row in self:
            if row["name"].startswith(name_start):
                return row
        raise _RowNotFoundError(
            f"name_start={name_start!r} matches no row: no row name starts with it. The rows "
            f"are {[r['name'] for r in self]}."
        )

    def to_markdown(self) -> str:
        return to_markdown(self)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        """A compact plain-text table: a title line, a heading line, one line per row.

        What ``print(table)`` shows, and a notebook where Markdown is not rendered (a terminal,
        a log, a viewer of the plain-text output): the name and the main columns
        (``TEXT_COLUMNS``), aligned. Names longer than 28 characters are shortened with "…";
        absent values show as "–".
        """
        return _text_table(self)

    __str__ = __repr__


#: Columns of the plain-text table of a :class:`MetricTable` and their short headings.
TEXT_COLUMNS = {
    "name": "candidate",
    "fd": "FD",
    "precision": "prec.",
    "recall": "recall",
    "ndb": "NDB",
    "js": "JS",
    "class_accuracy": "class acc.",
    "nearest_train": "NN-train",
}
_TEXT_NAME_WIDTH = 28


def _text_cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"
    return str(value)


def _text_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows as an aligned text table (names left, numbers right) over ``TEXT_COLUMNS``."""
    if not rows:
        return "MetricTable([])"
    cells = []
    for row in rows:
        line = []
        for key in TEXT_COLUMNS:
            text = _text_cell(row.get(key) if isinstance(row, Mapping) else None)
            if key == "name" and len(text) > _TEXT_NAME_WIDTH:
                text = text[: _TEXT_NAME_WIDTH - 1] + "…"
            line.append(text)
        cells.append(line)
    headings = list(TEXT_COLUMNS.values())
    widths = [max(len(h), *(len(line[i]) for line in cells)) for i, h in enumerate(headings)]

    def join(line: list[str]) -> str:
        first = line[0].ljust(widths[0])
        rest = [text.rjust(width) for text, width in zip(line[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    n_values = {row.get("n") for row in rows if isinstance(row, Mapping)} - {None}
    title = f"MetricTable, n = {n_values.pop()}" if len(n_values) == 1 else "MetricTable"
    return "\n".join([title, join(headings), *(join(line) for line in cells)])


def to_markdown(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str] = COLUMNS) -> str:
    """Render rows (dicts) as a GitHub Markdown table; absent values show as "–"."""
    if isinstance(rows, Mapping) or isinstance(rows, str) or not isinstance(rows, Sequence):
        raise TypeError(
            f"rows must be a list of row dicts, got {type(rows).__name__}; wrap a single row "
            "as [row]."
        )
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"rows[{i}] must be a dict (a row), got {type(row).__name__}.")
    if not isinstance(columns, Mapping) or not columns:
        raise TypeError("columns must be a non-empty mapping of row key to column heading.")

    header = "| " + " | ".join(columns.values()) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_text_cell(row.get(key)) for key in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


@dataclass
class _Reference:
    """Everything a candidate is compared with, computed once per (dataset, n, seed, device)."""

    dataset: str
    n: int
    seed: int
    device: torch.device
    train: torch.Tensor  # the whole training set, (N_train, 1, H, W) on the CPU
    train_labels: torch.Tensor  # (N_train,) int64
    reference_index: torch.Tensor  # the n training images the candidates are compared with
    reference_features: torch.Tensor
    centre: torch.Tensor  # mean reference feature, in the distance dtype
    reference_radii: torch.Tensor  # k-NN radii (k = 3) of the centred reference features
    ndb: NDB
    train_flat: torch.Tensor  # (N_train, D) on the device, for the nearest-train distances
    train_sq: torch.Tensor  # (N_train,) squared norms of train_flat


#: The nearest-train column is the median over this many candidates (it costs n·N_train·D).
N_MEMORIZATION = 250


def _default_n(dataset: str) -> int:
    return 359 if dataset == "digits" else fast_or_full(2000, 10_000)


@lru_cache(maxsize=2)
def _reference(dataset: str, n: int, seed: int, device: torch.device, n_bins: int | None):
    train, train_labels = _networks._load_split(dataset, "train", device="cpu")
    if n > len(train):
        raise ValueError(f"n={n} is more than the {len(train)} training images of {dataset}.")
    # The bins first: a bad n_bins fails before the feature network runs.
    bins = NDB(n_bins, seed=seed).fit(train)
    generator = make_generator(seed)
    reference_index = torch.randperm(len(train), generator=generator)[:n]
    train_flat = _flat(train, device)
    reference_features = features(train[reference_index], dataset, device)
    centre = reference_features.to(_float_dtype(device)).mean(0)
    return _Reference(
        dataset=dataset,
        n=n,
        seed=seed,
        device=device,
        train=train,
        train_labels=train_labels,
        reference_index=reference_index,
        reference_features=reference_features,
        centre=centre,
        reference_radii=_knn_radii(_centred(reference_features, centre), 3, 1024),
        ndb=bins,
        train_flat=train_flat,
        # In chunks: the whole product would be one more copy of the training set.
        train_sq=torch.cat([(rows * rows).sum(1) for rows in train_flat.split(4096)]),
    )


def _row(
    reference: _Reference, name: str, candidate: torch.Tensor, labels: torch.Tensor | None
) -> dict[str, Any]:
    device = reference.device
    net = feature_network(reference.dataset, device)
    fake_features, predicted = _embed_and_classify(net, candidate, device)
    precision, recall = _precision_recall(
        _centred(reference.reference_features, reference.centre),
        _centred(fake_features, reference.centre),
        k=3,
        batch_size=1024,
        real_radii=reference.reference_radii,
    )
    report = reference.ndb._evaluate(candidate)
    query = _flat(candidate[:N_MEMORIZATION], device)
    nearest, _ = _nearest_rows(query, reference.train_flat, reference.train_sq)
    return {
        "name": name,
        "n": len(candidate),
        "fd": frechet_distance_from_features(reference.reference_features, fake_features),
        "precision": precision,
        "recall": recall,
        "ndb": f"{report.n_different}/{report.n_bins}",
        "ndb_count": report.n_different,
        "ndb_bins": report.n_bins,
        "js": report.js_divergence,
        "class_accuracy": None
        if labels is None
        else float((predicted.cpu() == labels.cpu()).float().mean()),
        "nearest_train": float(np.median(as_numpy(nearest))),
    }


def evaluate_samples(
    samples: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    dataset: str = "digits",
    name: str = "model",
    n: int | None = None,
    seed: int = 0,
    n_bins: int | None = None,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """Every metric of a model's samples, with exactly the protocol of the calibration table.

    The samples are compared with the same ``n`` training images (chosen by ``seed``) as the
    calibration rows; NDB bins are built on the whole training set; the nearest-train
    distance is the median over the first ``N_MEMORIZATION`` (250) samples. Pass ``n``
    samples (the default ``n`` of :func:`calibration_table`) so the row reads against the
    table: FD and precision/recall depend on the number of images.

    Parameters
    ----------
    samples : Tensor or ndarray, shape (N, 1, H, W), values in [0, 1]
    labels : Tensor or ndarray, shape (N,), optional
        The classes a conditional model was asked for; adds ``class_accuracy``.

    Returns
    -------
    dict
        A row with the keys of ``COLUMNS`` (plus ``ndb_count`` and ``ndb_bins``); append it to
        the calibration table and print it with :func:`to_markdown`.
    """
    _check_dataset(dataset)
    _checked_images(samples, "samples", dataset)
    _check_min_count(samples, "samples", 4, "k=3 neighbours for precision and recall")
    if labels is not None:
        check_labels(labels, "labels", n=len(samples), n_classes=_N_CLASSES)
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (the row's name), got {type(name).__name__}.")
    n = _default_n(dataset) if n is None else check_int(n, "n", min_value=4)
    seed = _check_seed(seed)
    n_bins = _check_n_bins(n_bins)  # before the cache below, which needs hashable arguments
    target = resolve_device(device)
    reference = _reference(dataset, n, seed, target, n_bins)
    candidate = as_tensor(samples, dtype=torch.float32, device="cpu")
    wanted = None if labels is None else as_tensor(labels, dtype=torch.int64, device="cpu")
    return _row(reference, name, candidate, wanted)


def calibration_table(
    dataset: str = "digits",
    *,
    n: int | None = None,
    seed: int = 0,
    removed_class: int = 9,
    blur_sigma: float | None = None,
    noise_std: float = 0.2,
    n_bins: int | None = None,
    device: torch.device | str | None = None,
) -> MetricTable:
    """Every metric on reference rows, so that a model's numbers can be read against them.

    Each row compares a *candidate* set with ``n`` training images (the same ``n`` for every
    row and for :func:`evaluate_samples`):

    1. ``test set (floor)``: n held-out test images -- what a perfect model would score;
    2. ``test set without class c``: the same images minus one class (mode dropping);
    3. ``test set, blurred``: Gaussian blur of ``blur_sigma`` pixels (default 0.5 for the
       8×8 digits, 1.0 for Fashion-MNIST);
    4. ``test set + Gaussian noise``: std ``noise_std``, clipped to [0, 1];
    5. ``uniform noise``: pixels Uniform(0, 1), with random labels;
    6. ``training images (copies)``: n other training images -- a model that memorized; only
       the nearest-train distance (0) gives it away.

    Parameters
    ----------
    dataset : {"digits", "fashion-mnist"}
    n : int, optional
        Images per set; default the 359 test digits, and 2,000 (fast mode) or 10,000 test
        images of Fashion-MNIST.
    seed : int
        Chooses the reference training images, the test subset and the noise.

    Returns
    -------
    MetricTable
        A list of row dicts (``name``, ``n``, ``fd``, ``precision``, ``recall``, ``ndb``
        (as "count/K"), ``ndb_count``, ``ndb_bins``, ``js``, ``class_accuracy``,
        ``nearest_train``) that renders as Markdown in a notebook; ``to_markdown()`` gives
        the text.
    """
    n, seed, removed_class, sigma, n_bins = _checked_settings(
        dataset, n, seed, removed_class, blur_sigma, noise_std, n_bins
    )
    target = resolve_device(device)
    start = time.perf_counter()
    # One generator, in this order: the test subset, the copies (if needed), random labels.
    generator = make_generator(seed + 1)
    # Every check on the test split before the (cached, slower) reference is computed.
    test, test_labels, kept = _test_subset(dataset, n, removed_class, generator)
    reference = _reference(dataset, n, seed, target, n_bins)
    copies = _copies(reference, n, generator)
    # The reference's own labels: loading the split again held a second copy of the images.
    train_labels = reference.train_labels
    random_labels = torch.randint(_N_CLASSES, (n,), generator=generator)
    shape = tuple(test.shape[1:])
    # Each candidate set is built when its row is computed and freed after it: building all
    # six first held about 200 MB more for 10,000 Fashion-MNIST images (Binder has 1-2 GB).
    candidates = [
        ("test set (floor)", lambda: test, test_labels),
        (f"test set without class {removed_class}", lambda: test[kept], test_labels[kept]),
        (f"test set, blurred (σ={sigma:g} px)", lambda: gaussian_blur(test, sigma), test_labels),
        (
            f"test set + Gaussian noise (σ={noise_std:g})",
            lambda: add_gaussian_noise(test, noise_std, seed=seed),
            test_labels,
        ),
        (
            "uniform noise",
            lambda: uniform_noise_images(n, shape, seed=seed, device="cpu"),
            random_labels,
        ),
        ("training images (copies)", lambda: reference.train[copies], train_labels[copies]),
    ]
    rows = [_row(reference, name, build(), labels) for name, build, labels in candidates]
    meta = {
        "dataset": dataset,
        "n": n,
        "seed": seed,
        "device": str(target),
        "seconds": time.perf_counter() - start,
        "feature_network": feature_network_info(dataset, progress=False),
    }
    return MetricTable(rows, meta=meta)


def _checked_settings(
    dataset: str,
    n: int | None,
    seed: int,
    removed_class: int,
    blur_sigma: float | None,
    noise_std: float,
    n_bins: int | None,
) -> tuple[int, int, int, float, int | None]:
    """The checked arguments of :func:`calibration_table`, defaults filled in."""
    _check_dataset(dataset)
    n = _default_n(dataset) if n is None else check_int(n, "n", min_value=4)
    seed = _check_seed(seed)
    removed_class = check_int(removed_class, "removed_class", min_value=0)
    if removed_class >= _N_CLASSES:
        raise ValueError(f"removed_class must be in 0..9, got {removed_class}.")
    sigma = blur_sigma if blur_sigma is not None else (0.5 if dataset == "digits" else 1.0)
    check_positive(sigma, "blur_sigma")
    check_positive(noise_std, "noise_std")
    return n, seed, removed_class, sigma, _check_n_bins(n_bins)


def _test_subset(
    dataset: str, n: int, removed_class: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` test images (in their order), their labels, and where a label is not
    ``removed_class``."""
    test, test_labels = _networks._load_split(dataset, "test", device="cpu")
    if n > len(test):
        raise ValueError(f"n={n} is more than the {len(test)} test images of {dataset}.")
    pick = torch.randperm(len(test), generator=generator)[:n].sort().values  # keep order
    test, test_labels = test[pick], test_labels[pick]
    kept = test_labels != removed_class
    if int(kept.sum()) < 4:
        raise ValueError(
            f"n={n} is too small: without class {removed_class} only {int(kept.sum())} test "
            "images remain, and precision and recall need 4 (k=3 neighbours). Pass a larger n."
        )
    return test, test_labels, kept


def _copies(reference: _Reference, n: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of ``n`` training images other than the reference ones (any, if too few)."""
    unused = torch.ones(len(reference.train), dtype=torch.bool)
    unused[reference.reference_index] = False
    copies = torch.nonzero(unused).squeeze(1)[:n]
    if len(copies) < n:
        copies = torch.randperm(len(reference.train), generator=generator)[:n]
    return copies
