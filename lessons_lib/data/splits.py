"""The loaders' shared parts: argument checks, the fixed splits, arrays to image tensors.

Every split is stratified and drawn with one seed fixed forever (``_SPLIT_SEED``), so a
validation image stays a validation image on every machine and in every year of the course.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import check_str_one_of

SPLITS = ("train", "val", "test", "all")
_SPLIT_SEED = 20240607  # fixed forever: changing it changes every split of the course


def _check_split(split: object) -> str:
    return check_str_one_of(split, "split", SPLITS, "a string")


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
    # A read-only (memory-mapped) array is fine here: it is copied into a new tensor at once.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The given NumPy array is not writable")
        images = torch.from_numpy(np.ascontiguousarray(images_u8)).to(torch.float32)
    images = images.div_(scale).unsqueeze(1)
    if binarize == "threshold":
        images = (images > 0.5).float()
    elif binarize == "stochastic":
        generator = make_generator(_SPLIT_SEED)
        images = torch.bernoulli(images, generator=generator)
    return (
        images.to(device=device, dtype=dtype),
        torch.from_numpy(labels.astype(np.int64)).to(device),
    )
