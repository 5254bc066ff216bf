"""Argument checks shared by the evaluation metrics: datasets, counts, seeds, image batches.

Every metric checks its inputs here before any work (before the feature network is trained
or loaded), so a bad argument fails at once with a message that names it. No paper.
"""

from __future__ import annotations

from typing import Any

from lessons_lib.core.validation import (
    ArrayLike,
    check_array,
    check_images,
    check_int,
    check_seed,
    check_str_one_of,
)

#: The datasets that have a feature network.
DATASETS = ("digits", "fashion-mnist")
_IMAGE_SIZE = {"digits": (8, 8), "fashion-mnist": (28, 28)}
_N_CLASSES = 10


def _check_dataset(dataset: str) -> str:
    return check_str_one_of(dataset, "dataset", DATASETS)


#: Seeds go to torch, NumPy and scikit-learn (k-means), whose common range is [0, 2**32).
_MAX_SEED = 2**32 - 1


def _check_seed(seed: Any, *, allow_none: bool = False) -> int | None:
    """A seed: a non-negative integer below 2**32 (``None`` too when ``allow_none``)."""
    return check_seed(seed, "seed", allow_none=allow_none, max_value=_MAX_SEED)


def _check_count(
    value: Any,
    name: str,
    *,
    min_value: int,
    max_value: int = 2**53,
    why: str = "beyond it a count is not exact as a float64",
) -> int:
    """An integer in [min_value, max_value]; by default the cap keeps it exact as a float64.

    ``why`` says, in the error message, what the upper bound protects.
    """
    value = check_int(value, name, min_value=min_value)
    if value > max_value:
        raise ValueError(f"{name} must be <= {max_value} ({why}), got {value!r}.")
    return value


#: Sanity bounds on sizes, far above any use in the course (batches of 64 to 1,024 images,
#: 64 features, 10 classes). Beyond them one tensor would hold more than 2**31 values (8 GiB
#: in float32), more memory than a course machine has; checked before any work, so an absurd
#: value fails at once with a message instead of an overflow deep inside torch.
MAX_BATCH_SIZE = 2**31  # rows per batch of a distance or feature computation
MAX_UNITS = 2**20  # channels, hidden units or classes of a FeatureNet
MAX_IMAGE_SIDE = 2**15  # height or width of a FeatureNet's input images
MAX_ELEMENTS = 2**31  # values in one generated tensor, or weights of one FeatureNet


def _check_batch_size(batch_size: Any) -> int:
    """A batch size in [1, MAX_BATCH_SIZE]; one larger than the data is a single batch."""
    value = check_int(batch_size, "batch_size", min_value=1)
    if value > MAX_BATCH_SIZE:
        raise ValueError(
            f"batch_size must be at most {MAX_BATCH_SIZE} (2**31: a batch that large would "
            f"not fit in memory), got {value}. Any batch_size of at least the number of rows "
            "computes everything in one batch."
        )
    return value


def _check_n_bins(n_bins: Any) -> int | None:
    return None if n_bins is None else check_int(n_bins, "n_bins", min_value=2)


def _checked_images(images: Any, name: str, dataset: str | None = None) -> ArrayLike:
    """Check an image batch (N, C, H, W) in [0, 1]; with ``dataset``, also its size."""
    try:
        if dataset is None:
            return check_images(images, name)
        height, width = _IMAGE_SIZE[dataset]
        return check_images(images, name, channels=1, size=(height, width))
    except ValueError as err:
        hint = ""
        if "must be >=" in str(err) or "must be <=" in str(err):
            hint = (
                f" Metrics take images in [0, 1]: map a tanh output with ({name} + 1) / 2 and "
                f"clamp rounding errors with {name}.clamp(0, 1)."
            )
        elif dataset is not None and any(
            word in str(err) for word in ("dimensions", "channel", "×")
        ):
            hint = f" The {dataset} feature network reads (N, 1, {height}, {width}) images."
        raise ValueError(f"{err}{hint}") from None


def _check_same_image_shape(a: ArrayLike, name_a: str, b: ArrayLike, name_b: str) -> None:
    if tuple(a.shape[1:]) != tuple(b.shape[1:]):
        raise ValueError(
            f"{name_a} and {name_b} must hold images of the same (C, H, W); got "
            f"{tuple(a.shape)} and {tuple(b.shape)}."
        )


def _check_feature_pair(
    first: Any, first_name: str, second: Any, second_name: str, *, columns: str = "columns"
) -> None:
    """Two real feature arrays (N1, F) and (N2, F) with the same F (``columns`` names it in
    the message)."""
    check_array(first, first_name, ndim=2, kinds="fiu")
    check_array(second, second_name, ndim=2, kinds="fiu")
    if first.shape[1] != second.shape[1]:
        raise ValueError(
            f"{first_name} and {second_name} must have the same number of {columns}; got "
            f"{tuple(first.shape)} and {tuple(second.shape)}."
        )


def _check_min_count(images: ArrayLike, name: str, minimum: int, why: str) -> None:
    if len(images) < minimum:
        raise ValueError(f"{name} needs at least {minimum} images ({why}); got {len(images)}.")
