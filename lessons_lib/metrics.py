"""Judging a generative model offline: feature networks, FD, precision/recall, NDB and more.

The Fréchet Inception Distance needs Inception weights downloaded from a hub, which a learner
offline, on Binder behind a proxy, or in CI cannot get. So the course brings its own feature
networks: one small convolutional classifier per dataset, trained deterministically by this
module (a few seconds for the 8×8 digits, about a minute for Fashion-MNIST on one CPU core),
cached under ``data_dir()/feature_nets`` with the sha256 of its weights and the versions that
made it, and retrained when the file is missing or corrupt. Its penultimate layer gives the
features in which the sample-based metrics are computed.

Metrics (all accept images as (N, C, H, W) tensors or arrays in [0, 1], on any device):

* :func:`frechet_distance` -- the FID formula on our features (lower is better).
* :func:`precision_recall` -- improved precision and recall (Kynkäänniemi et al. 2019).
* :func:`ndb` -- number of statistically different bins and JS divergence (Richardson and Weiss
  2018), on pixels.
* :func:`class_accuracy` -- does the classifier agree with the label a conditional model was
  asked for?
* :func:`nearest_train_distance` -- a memorization check.
* :func:`bits_per_dim` and :func:`likelihood_report` -- log-likelihoods in nats and bits.

Numbers mean little alone: :func:`calibration_table` measures every metric on reference
rows (train vs test, a class removed, blurred, noisy, uniform noise, copied training images) and
:func:`evaluate_samples` puts a model's samples through exactly the same protocol, so a
learner reads a model's number against those rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lessons_lib.core.device import fast_or_full, resolve_device, seed_everything
from lessons_lib.core.validation import (
    ArrayLike,
    as_numpy,
    as_tensor,
    check_array,
    check_images,
    check_int,
    check_labels,
    check_one_of,
    check_positive,
    check_probability,
    check_seed,
    like_input,
)

__all__ = [
    "COLUMNS",
    "DATASETS",
    "NDB",
    "N_MEMORIZATION",
    "FeatureNet",
    "FeatureRecipe",
    "MetricTable",
    "NDBReport",
    "NDBResult",
    "NearestTrain",
    "PrecisionRecall",
    "add_gaussian_noise",
    "bits_per_dim",
    "calibration_table",
    "class_accuracy",
    "classify",
    "dequantized_bits_per_dim",
    "evaluate_samples",
    "feature_network",
    "feature_network_info",
    "feature_network_path",
    "features",
    "frechet_distance",
    "frechet_distance_from_features",
    "gaussian_blur",
    "gaussian_frechet_distance",
    "js_divergence",
    "likelihood_report",
    "nats_to_bits",
    "ndb",
    "nearest_train_distance",
    "precision_recall",
    "precision_recall_from_features",
    "recipe_for",
    "to_markdown",
    "train_feature_network",
    "two_proportion_z_test",
    "uniform_noise_images",
    "weights_checksum",
]

#: The datasets that have a feature network.
DATASETS = ("digits", "fashion-mnist")
_IMAGE_SIZE = {"digits": (8, 8), "fashion-mnist": (28, 28)}
_N_CLASSES = 10


# =========================================================================== input checks


def _check_dataset(dataset: str) -> str:
    # A str first: ``check_one_of`` compares with ``in``, which an array turns into an
    # ambiguous-truth-value error from NumPy instead of a message about ``dataset``.
    if not isinstance(dataset, str):
        raise TypeError(
            f"dataset must be a str, one of {', '.join(map(repr, DATASETS))}; got "
            f"{type(dataset).__name__}."
        )
    return check_one_of(dataset, "dataset", DATASETS)


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


def _check_min_count(images: ArrayLike, name: str, minimum: int, why: str) -> None:
    if len(images) < minimum:
        raise ValueError(f"{name} needs at least {minimum} images ({why}); got {len(images)}.")


def _flat(images: ArrayLike, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    """Images as an (N, C*H*W) tensor on ``device``."""
    return as_tensor(images, dtype=dtype, device=device).reshape(len(images), -1)


def _float_dtype(device: torch.device) -> torch.dtype:
    # Apple's MPS has no float64; everywhere else distances are computed in double precision.
    return torch.float32 if device.type == "mps" else torch.float64


# Scaling by powers of two is exact (barring underflow of values far below the largest), so
# distance-based metrics can bring any finite input to magnitude ~1 without changing a single
# comparison: squares of 1e200 overflow float64 and squares of 1e-200 underflow to 0.


def _max_abs(x: Any) -> float:
    """The largest |value| of an array or tensor, as a Python float (0.0 when empty)."""
    if isinstance(x, torch.Tensor):
        if x.numel() == 0:
            return 0.0
        # Integers go through float64 first: abs(int64 min) overflows in its own dtype.
        values = x if x.is_floating_point() else x.double()
        return float(values.abs().max())
    array = np.asarray(x)
    if array.size == 0:
        return 0.0
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    return float(np.abs(array).max())


def _pow2_exponent(*arrays: Any) -> int:
    """e with max |value| / 2**e in [0.5, 1) over all ``arrays``; 0 when they are all zero."""
    largest = max(_max_abs(a) for a in arrays)
    return 0 if largest == 0.0 else math.frexp(largest)[1]


def _times_pow2(x: torch.Tensor, exponent: int) -> torch.Tensor:
    """``x * 2**exponent``, exact; in two factors so that 2**exponent itself cannot overflow."""
    if exponent == 0:
        return x
    half = exponent // 2
    return x * 2.0**half * 2.0 ** (exponent - half)


# =========================================================================== feature networks


@dataclass(frozen=True)
class FeatureRecipe:
    """Everything that determines a feature network: architecture, optimiser, data, seed.

    Its hash names the cache file, so changing any field trains (and caches) a new network.
    """

    dataset: str
    channels: tuple[int, int]
    hidden: int
    downsample: str  # "pool": two 3×3 convs then a 2×2 max-pool; "stride": two stride-2 convs
    epochs: int
    batch_size: int
    lr: float
    seed: int = 0
    version: int = 1  # bump when the training code changes behaviour

    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


_RECIPES = {
    # 1,259 training digits: 20 epochs take a few seconds on one core.
    "digits": FeatureRecipe("digits", (16, 32), 64, "pool", epochs=20, batch_size=64, lr=3e-3),
    # 55,000 training images; stride-2 convolutions keep an epoch to seconds on one core.
    "fashion-mnist": FeatureRecipe(
        "fashion-mnist", (16, 32), 64, "stride", epochs=6, batch_size=128, lr=3e-3
    ),
}


def recipe_for(dataset: str = "digits") -> FeatureRecipe:
    """The training recipe of the feature network of ``dataset``."""
    return _RECIPES[_check_dataset(dataset)]


class FeatureNet(nn.Module):
    """A small convolutional classifier whose penultimate layer is the feature space.

    ``conv3×3 → BatchNorm → ReLU`` twice (stride 2 each, or stride 1 then a 2×2 max-pool),
    then ``Linear → ReLU`` (the features, ``hidden`` of them) and ``Linear`` (10 logits).

    Parameters
    ----------
    image_size : (int, int)
        (H, W) of the single-channel input images, each at most ``MAX_IMAGE_SIDE`` (2**15).
    channels : (int, int)
        Channels of the two convolutions, each at most ``MAX_UNITS`` (2**20).
    hidden : int
        Dimension F of the feature space, at most ``MAX_UNITS``.
    downsample : {"pool", "stride"}
    n_classes : int
        Number of logits, at most ``MAX_UNITS``.

    Raises
    ------
    TypeError, ValueError
        A bad argument, or a network of more than ``MAX_ELEMENTS`` (2**31) weights. Its
        ``features`` and ``forward`` refuse a batch of the wrong shape, dtype or device, or
        one holding NaN or inf.
    """

    def __init__(
        self,
        image_size: tuple[int, int],
        channels: Sequence[int] = (16, 32),
        hidden: int = 64,
        downsample: str = "pool",
        n_classes: int = _N_CLASSES,
    ) -> None:
        super().__init__()
        check_one_of(downsample, "downsample", ("pool", "stride"))
        side_bound = f"at most {MAX_IMAGE_SIDE} pixels (2**15)"
        height, width = _int_pair(image_size, "image_size", MAX_IMAGE_SIDE, side_bound)
        units_bound = f"at most {MAX_UNITS} (2**20)"
        c1, c2 = _int_pair(channels, "channels", MAX_UNITS, units_bound)
        units_why = "2**20; the course's networks have 64 features and 10 classes"
        hidden = _check_count(hidden, "hidden", min_value=1, max_value=MAX_UNITS, why=units_why)
        n_classes = _check_count(
            n_classes, "n_classes", min_value=1, max_value=MAX_UNITS, why=units_why
        )
        stride = 2 if downsample == "stride" else 1
        shrink = 4 if downsample == "stride" else 2
        flat = c2 * math.ceil(height / shrink) * math.ceil(width / shrink)
        # Each bound alone still allows a network of 2**40 weights: bound the total too.
        n_weights = 9 * (c1 + c1 * c2) + (flat + 1) * hidden + (hidden + 1) * n_classes
        if n_weights > MAX_ELEMENTS:
            raise ValueError(
                f"FeatureNet(image_size={(height, width)}, channels={(c1, c2)}, "
                f"hidden={hidden}, n_classes={n_classes}) would have {n_weights} weights, "
                f"more than {MAX_ELEMENTS} (2**31, 8 GiB in float32). Reduce image_size, "
                "channels, hidden or n_classes."
            )
        layers: list[nn.Module] = []
        for c_in, c_out in ((1, c1), (c1, c2)):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
        if downsample == "pool":
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.image_size = (height, width)
        self.embed = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_classes)
        self.n_features = hidden

    def _check_input(self, images: Any) -> None:
        # Shape, dtype and device, then one cheap pass for NaN/inf (no range check: this runs
        # on every batch). A NaN would otherwise spread through BatchNorm and the max-pool
        # into features that look like numbers only where ReLU happened to zero them.
        height, width = self.image_size
        if not isinstance(images, torch.Tensor):
            raise TypeError(
                f"images must be a torch tensor of shape (N, 1, {height}, {width}), got "
                f"{type(images).__name__}; the metrics functions (features, classify) also "
                "take NumPy arrays."
            )
        if images.ndim != 4 or tuple(images.shape[1:]) != (1, height, width):
            raise ValueError(
                f"images must have shape (N, 1, {height}, {width}), got {tuple(images.shape)}."
            )
        weight = self.head.weight
        if images.dtype != weight.dtype:
            raise TypeError(
                f"images must have the network's dtype {weight.dtype}, got {images.dtype}; "
                f"convert with images.to({weight.dtype})."
            )
        if images.device != weight.device:
            raise ValueError(
                f"images are on {images.device} but the network is on {weight.device}; "
                f"move them with images.to({str(weight.device)!r})."
            )
        if not bool(torch.isfinite(images).all()):
            raise ValueError(
                "images contains NaN or infinite values; the network needs finite pixels "
                "(in [0, 1]). Check the model that produced them, e.g. with "
                "torch.isfinite(images).all()."
            )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate activations: (N, 1, H, W) → (N, F)."""
        self._check_input(images)
        return self.embed(self.body(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits: (N, 1, H, W) → (N, 10)."""
        return self.head(self.features(images))


def _int_pair(value: Any, name: str, max_value: int, bound: str) -> tuple[int, int]:
    """Two positive integers, each at most ``max_value`` (``bound`` says it in words), e.g.
    an (H, W) size or the channels of two layers."""
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"{name} must be a pair of positive integers, got {value!r}.")
    first, second = (check_int(v, name, min_value=1) for v in value)
    if max(first, second) > max_value:
        raise ValueError(f"{name} must hold two integers {bound}, got {value!r}.")
    return first, second


def _build(recipe: FeatureRecipe) -> FeatureNet:
    return FeatureNet(
        _IMAGE_SIZE[recipe.dataset], recipe.channels, recipe.hidden, recipe.downsample
    )


def weights_checksum(module: nn.Module) -> str:
    """sha256 of a module's state (names, dtypes, shapes and the raw bytes, in name order)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _load_split(dataset: str, split: str, device: torch.device | str | None = "cpu"):
    from lessons_lib import data

    if dataset == "digits":
        return data.load_digits(split, device=device)
    return data.load_fashion_mnist(split, device=device)


@contextlib.contextmanager
def _deterministic_cudnn() -> Iterator[None]:
    """cuDNN picks deterministic kernels inside the block (no effect on the CPU)."""
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


@contextlib.contextmanager
def _global_rng_preserved() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's global random states on exit.

    Training seeds the global generators; without this, whether the network was cached would
    change every random number a notebook draws afterwards.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=cuda_devices):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)  # noqa: NPY002


@contextlib.contextmanager
def _autograd_enabled() -> Iterator[None]:
    """Autograd on inside the block, whatever the caller's mode; the caller's mode on exit.

    The feature network trains on first use, which may happen inside a caller's
    ``torch.no_grad()`` (``classify`` is decorated with it) or ``torch.inference_mode()``:
    ``loss.backward()`` then fails with "element 0 of tensors does not require grad".
    ``enable_grad`` alone cannot leave inference mode, hence ``inference_mode(False)`` too.
    """
    with torch.inference_mode(False), torch.enable_grad():
        yield


@torch.no_grad()
def _accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    net.eval()
    predicted = torch.cat([net(chunk).argmax(1) for chunk in images.split(2048)])
    return float((predicted == labels).float().mean())


def train_feature_network(
    dataset: str = "digits",
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> tuple[FeatureNet, dict[str, Any]]:
    """Train the feature network of ``dataset`` from scratch, without touching the cache.

    Deterministic: the recipe's seed fixes the initial weights and the batch order, so the
    same device, number of CPU threads and library versions give the same weights bit for bit.
    The global random states (Python, NumPy, torch) are restored afterwards, so training on
    first use does not shift the random numbers of the caller.

    Returns
    -------
    net : FeatureNet
        In eval mode, parameters frozen (``requires_grad=False``).
    info : dict
        ``recipe``, ``weights_sha256``, ``test_accuracy``, ``val_accuracy``,
        ``train_seconds`` (wall), ``train_cpu_seconds``, ``trained_on`` (the device type),
        ``cpu_threads`` and ``history``.
    """
    recipe = recipe_for(dataset)
    target = resolve_device(device)
    with _autograd_enabled(), _global_rng_preserved():
        return _train_from_scratch(recipe, target, progress)


def _train_from_scratch(
    recipe: FeatureRecipe, target: torch.device, progress: bool
) -> tuple[FeatureNet, dict[str, Any]]:
    from lessons_lib.training import train_loop

    dataset = recipe.dataset
    images, labels = _load_split(dataset, "train", device="cpu")
    seed_everything(recipe.seed)  # before building: the initial weights depend on it
    net = _build(recipe)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    steps_per_epoch = math.ceil(len(images) / recipe.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch
    )

    def step(batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        return {"loss": loss.detach(), "accuracy": (logits.argmax(1) == y).float().mean()}

    start, cpu_start = time.perf_counter(), time.process_time()
    with _deterministic_cudnn():
        history = train_loop(
            step,
            (images, labels),
            modules=net,
            epochs=recipe.epochs,
            batch_size=recipe.batch_size,
            seed=recipe.seed,
            device=target,
            progress=progress,
            desc=f"{dataset} feature network",
        )
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    net.eval().requires_grad_(False)
    accuracies = {}
    for split in ("val", "test"):
        x, y = _load_split(dataset, split, device=target)
        accuracies[f"{split}_accuracy"] = _accuracy(net, x, y)
    info = {
        "recipe": asdict(recipe),
        "weights_sha256": weights_checksum(net),
        **accuracies,
        "train_seconds": seconds,
        "train_cpu_seconds": cpu_seconds,
        "trained_on": target.type,
        "cpu_threads": torch.get_num_threads(),
        "history": {key: list(values) for key, values in history.items()},
    }
    return net, info


def feature_network_path(dataset: str = "digits") -> Path:
    """Where the feature network of ``dataset`` is cached: ``data_dir()/feature_nets/…pt``."""
    from lessons_lib.data import data_dir

    recipe = recipe_for(dataset)
    return data_dir() / "feature_nets" / f"{dataset}-{recipe.key()}.pt"


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder of ``path`` so parallel processes train once.

    The lock is ``flock`` on a descriptor of the folder itself (Linux and macOS): no lock
    file is created, so none is left behind, and the kernel drops the lock when the process
    ends, even on a crash. Without ``fcntl`` (Windows), or on a file system that refuses
    ``flock``, there is no lock: two processes may then both train, and the atomic write of
    the checkpoint still leaves one complete file.
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False
        # Earlier versions locked a 0-byte ``<name>.lock`` next to the network and left it.
        with contextlib.suppress(OSError):
            path.with_suffix(".lock").unlink(missing_ok=True)
        try:
            yield
        finally:
            if locked:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _load_cached(
    path: Path, recipe: FeatureRecipe, *, warn: bool = True
) -> tuple[FeatureNet, dict] | None:
    """The cached network if the file is readable and its weights match their checksum."""
    from lessons_lib.training import load_checkpoint

    if not path.is_file():
        return None
    net = _build(recipe)
    try:
        payload = load_checkpoint(path, net)
        info = dict(payload["settings"])
        expected = info["weights_sha256"]
    except (ValueError, KeyError, RuntimeError, FileNotFoundError) as err:
        if warn:
            warnings.warn(f"{path} is unreadable ({err}); retraining it.", stacklevel=3)
        return None
    if weights_checksum(net) != expected:
        if warn:
            warnings.warn(
                f"{path} fails its sha256 check (corrupt file); retraining.", stacklevel=3
            )
        return None
    info["versions"] = payload.get("versions", {})
    info["path"] = str(path)
    return net.eval().requires_grad_(False), info


_NETWORKS: dict[tuple[str, str], tuple[FeatureNet, dict]] = {}


def _cached_network(
    dataset: str, progress: bool = True, retrain: bool = False
) -> tuple[FeatureNet, dict]:
    """The feature network on the CPU with its info: memory, then disk, else trained."""
    recipe = recipe_for(dataset)
    path = feature_network_path(dataset)
    key = (dataset, str(path))
    if not retrain and key in _NETWORKS:
        return _NETWORKS[key]
    # The network is shared and cached: build it outside any caller's inference mode, whose
    # tensors could never take part in autograd afterwards.
    with torch.inference_mode(False):
        return _load_or_train(dataset, recipe, path, key, progress, retrain)


def _load_or_train(
    dataset: str,
    recipe: FeatureRecipe,
    path: Path,
    key: tuple[str, str],
    progress: bool,
    retrain: bool,
) -> tuple[FeatureNet, dict]:
    """Load the network from disk, or train and save it (once, under the folder's lock)."""
    from lessons_lib.training import save_checkpoint

    if not retrain:
        # A valid file needs no lock (it is replaced atomically), so a process that only
        # reads does not wait while another trains; a bad file is judged again under the lock.
        loaded = _load_cached(path, recipe, warn=False)
        if loaded is not None:
            _NETWORKS[key] = loaded
            return loaded
    with _exclusive(path):
        # Another process may have trained it while this one waited for the lock.
        loaded = None if retrain else _load_cached(path, recipe)
        if loaded is None:
            if progress:
                print(f"Training the {dataset} feature network once; it is cached at {path}.")
            net, info = train_feature_network(dataset, device=None, progress=progress)
            net = net.cpu()
            history = info.pop("history")
            save_checkpoint(path, net, settings=info, history=history)
            loaded = _load_cached(path, recipe)
            if loaded is None:  # pragma: no cover - the file we just wrote must verify
                raise RuntimeError(f"could not read back the feature network written to {path}.")
    _NETWORKS[key] = loaded
    return loaded


def feature_network(
    dataset: str = "digits",
    device: torch.device | str | None = None,
    *,
    retrain: bool = False,
    progress: bool = True,
) -> FeatureNet:
    """The trained feature network (a small CNN classifier) of ``dataset``, in eval mode.

    Loaded from ``feature_network_path(dataset)`` after checking the sha256 of its weights;
    trained (deterministically, see :func:`train_feature_network`) and cached when the file is
    missing, unreadable or fails the check. Measured on one CPU core (torch 2.13): the digits
    network trains in about 3 s of CPU time to 100% test accuracy (359 test digits; 99.4% on
    validation), the Fashion-MNIST network in about 50 s to 91.3% (validation 91.9%). Fast
    mode (``LESSONS_FAST=1``) uses the same networks: they are trained once per machine.

    Parameters
    ----------
    dataset : {"digits", "fashion-mnist"}
    device : torch.device or str, optional
        Where the returned network lives; default ``get_device()``.
    retrain : bool
        Train again and overwrite the cache.
    progress : bool
        Show a progress bar while training.

    Returns
    -------
    FeatureNet
        ``net(images)`` gives (N, 10) logits, ``net.features(images)`` the (N, F) features.
        ``net.info`` holds the checksum, accuracies, training time and versions. Its parameters
        are frozen; it is shared, so do not train it.
    """
    _check_dataset(dataset)
    target = resolve_device(device)
    cpu_net, info = _cached_network(dataset, progress=progress, retrain=retrain)
    if target.type == "cpu":
        net = cpu_net
    else:
        cache_key = (dataset, str(feature_network_path(dataset)), str(target))
        if retrain or cache_key not in _DEVICE_COPIES:
            with torch.inference_mode(False):  # a shared copy: no inference tensors
                copy = _build(recipe_for(dataset)).to(target)
                copy.load_state_dict(cpu_net.state_dict())
                _DEVICE_COPIES[cache_key] = copy.eval().requires_grad_(False)
        net = _DEVICE_COPIES[cache_key]
    net.info = info
    return net


_DEVICE_COPIES: dict[tuple[str, str, str], FeatureNet] = {}


def feature_network_info(dataset: str = "digits", *, progress: bool = True) -> dict[str, Any]:
    """Checksum, test/val accuracy, training time, device and versions of the cached network."""
    return dict(_cached_network(_check_dataset(dataset), progress=progress)[1])


@torch.no_grad()
def _embed(net: FeatureNet, images: ArrayLike, device: torch.device, batch_size: int):
    x = as_tensor(images, dtype=torch.float32, device=device)
    return torch.cat([net.features(chunk) for chunk in x.split(batch_size)])


@torch.no_grad()
def _embed_and_classify(
    net: FeatureNet, images: ArrayLike, device: torch.device, batch_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (N, F) and predicted classes (N,) in one pass through the network."""
    x = as_tensor(images, dtype=torch.float32, device=device)
    feats = torch.cat([net.features(chunk) for chunk in x.split(batch_size)])
    return feats, net.head(feats).argmax(1)


def features(
    images: ArrayLike,
    dataset: str = "digits",
    device: torch.device | str | None = None,
    *,
    batch_size: int = 1024,
) -> torch.Tensor:
    """Features of images in the penultimate layer of the dataset's feature network.

    Parameters
    ----------
    images : Tensor or ndarray, shape (N, 1, H, W), values in [0, 1]
        (8, 8) for digits, (28, 28) for Fashion-MNIST.
    dataset : {"digits", "fashion-mnist"}
    device : torch.device or str, optional

    Returns
    -------
    Tensor, shape (N, F), float32, on ``device``
    """
    _check_dataset(dataset)
    _checked_images(images, "images", dataset)
    batch_size = _check_batch_size(batch_size)
    target = resolve_device(device)
    return _embed(feature_network(dataset, target), images, target, batch_size)


@torch.no_grad()
def classify(
    images: ArrayLike, dataset: str = "digits", device: torch.device | str | None = None
) -> torch.Tensor:
    """The feature network's predicted classes: (N, 1, H, W) → (N,) int64 on ``device``."""
    _check_dataset(dataset)
    _checked_images(images, "images", dataset)
    target = resolve_device(device)
    net = feature_network(dataset, target)
    x = as_tensor(images, dtype=torch.float32, device=target)
    return torch.cat([net(chunk).argmax(1) for chunk in x.split(1024)])


def class_accuracy(
    samples: ArrayLike,
    labels: ArrayLike,
    dataset: str = "digits",
    device: torch.device | str | None = None,
) -> float:
    """How often the classifier agrees with the class a conditional model was asked for.

    Parameters
    ----------
    samples : Tensor or ndarray, shape (N, 1, H, W), values in [0, 1]
    labels : Tensor or ndarray, shape (N,), integers in 0..9
        The classes the samples were generated for.

    Returns
    -------
    float in [0, 1]
        Real test images score the classifier's test accuracy (the ceiling); samples that
        ignore their label score about 0.1.
    """
    _check_dataset(dataset)
    _checked_images(samples, "samples", dataset)
    check_labels(labels, "labels", n=len(samples), n_classes=_N_CLASSES)
    target = resolve_device(device)
    predicted = classify(samples, dataset, target)
    wanted = as_tensor(labels, dtype=torch.int64, device=target)
    return float((predicted == wanted).float().mean())


# =========================================================================== Fréchet distance


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigenvalues ≥ 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


#: Relative tolerance of the covariance checks: rounding (float32 features included) leaves
#: asymmetries and negative eigenvalues far below it; a real mistake (an inverse, a
#: difference of covariances, a sign error) is far above it.
_COVARIANCE_RTOL = 1e-6


def _check_covariance_matrix(cov: np.ndarray, name: str) -> None:
    """Refuse a matrix that is not symmetric positive semi-definite, up to rounding.

    ``cov`` is already scaled to magnitude ~1 (see :func:`_frechet_of_moments`), so that the
    eigendecomposition cannot overflow; the tolerances are relative to its norm.
    """
    norm = float(np.abs(cov).max())
    asymmetry = float(np.abs(cov - cov.T).max())
    if asymmetry > _COVARIANCE_RTOL * norm:
        raise ValueError(
            f"{name} must be a symmetric covariance matrix, but |{name} - {name}.T| reaches "
            f"{asymmetry / norm:.3g} × its largest entry. Pass a covariance such as "
            "np.cov(features, rowvar=False)."
        )
    eigenvalues = np.linalg.eigvalsh((cov + cov.T) / 2)
    if eigenvalues[0] < -_COVARIANCE_RTOL * max(abs(eigenvalues[0]), abs(eigenvalues[-1])):
        raise ValueError(
            f"{name} must be positive semi-definite (a covariance), but it has an eigenvalue "
            f"{eigenvalues[0]:.3g} times the scale of its largest one. Pass a covariance such "
            "as np.cov(features, rowvar=False), not a precision matrix or a difference."
        )


def _frechet_of_moments(
    m1: np.ndarray,
    c1: np.ndarray,
    m2: np.ndarray,
    c2: np.ndarray,
    exponent: int = 0,
    names: tuple[str, str] = ("cov1", "cov2"),
) -> float:
    """d² of N(m1, c1) and N(m2, c2), times 4**exponent (float64 arrays, already checked).

    The moments are first scaled by a power of two to magnitude ~1 (exact), so means of 1e200
    or covariances of 1e-300 neither overflow nor underflow; d² scales as the square of the
    features, so it is scaled back at the end. A d² beyond float64's range has no answer.
    """
    largest = max(_max_abs(m1), _max_abs(m2), *(math.sqrt(_max_abs(c)) for c in (c1, c2)))
    shift = 0 if largest == 0.0 else math.frexp(largest)[1]
    m1, m2 = np.ldexp(m1, -shift), np.ldexp(m2, -shift)
    c1, c2 = np.ldexp(c1, -2 * shift), np.ldexp(c2, -2 * shift)
    _check_covariance_matrix(c1, names[0])
    _check_covariance_matrix(c2, names[1])
    if np.array_equal(m1, m2) and np.array_equal(c1, c2):
        # The same Gaussian: exactly 0, where the formula leaves rounding noise of the
        # traces' size (which, for features of 1e200, would not even fit in a float64).
        return 0.0
    root1 = _sqrt_psd(c1)
    middle = root1 @ c2 @ root1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    value = float(np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2.0 * cross)
    # Rounding can leave -1e-12 where the true value is 0; the distance itself is >= 0.
    value = max(value, 0.0)
    try:
        return math.ldexp(value, 2 * (shift + exponent))
    except OverflowError:
        power = math.frexp(value)[1] + 2 * (shift + exponent)
        raise ValueError(
            f"the Fréchet distance of these inputs is about 2**{power}, beyond float64's range "
            "(1.8e308), so it has no float64 value; divide the features (or means, and the "
            "covariances by its square) by a common factor s: the distance divides by s**2."
        ) from None


def gaussian_frechet_distance(
    mean1: ArrayLike, cov1: ArrayLike, mean2: ArrayLike, cov2: ArrayLike
) -> float:
    """Squared 2-Wasserstein (Fréchet) distance between two Gaussians, in closed form.

    .. math::
        d^2 = \\lVert\\mu_1 - \\mu_2\\rVert^2 + \\operatorname{tr}\\Sigma_1
        + \\operatorname{tr}\\Sigma_2 - 2\\operatorname{tr}
        \\big(\\Sigma_1^{1/2}\\Sigma_2\\Sigma_1^{1/2}\\big)^{1/2}

    The trace term equals :math:`\\operatorname{tr}(\\Sigma_1\\Sigma_2)^{1/2}` of the FID
    formula but is computed from symmetric positive semi-definite matrices only (two
    eigendecompositions), so it is real and stable even for singular covariances, where
    ``scipy.linalg.sqrtm`` of the non-symmetric product can return complex noise.

    Parameters
    ----------
    mean1, mean2 : array, shape (F,)
    cov1, cov2 : array, shape (F, F), symmetric positive semi-definite
        Checked up to a rounding tolerance relative to the matrix's norm; anything else
        (e.g. ``-I``) raises ``ValueError``.

    Returns
    -------
    float, >= 0
    """
    m1 = as_numpy(check_array(mean1, "mean1", ndim=1, kinds="fiu")).astype(np.float64)
    dim = len(m1)
    m2 = as_numpy(check_array(mean2, "mean2", shape=(dim,), kinds="fiu")).astype(np.float64)
    c1 = as_numpy(check_array(cov1, "cov1", shape=(dim, dim), kinds="fiu")).astype(np.float64)
    c2 = as_numpy(check_array(cov2, "cov2", shape=(dim, dim), kinds="fiu")).astype(np.float64)
    return _frechet_of_moments(m1, c1, m2, c2)


def _mean_cov(feats: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    if len(feats) < 2:
        raise ValueError(f"{name} needs at least 2 rows to estimate a covariance; got 1.")
    return feats.mean(0), np.cov(feats, rowvar=False).reshape(feats.shape[1], feats.shape[1])


def frechet_distance_from_features(features1: ArrayLike, features2: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N1, F) and (N2, F).

    Any finite features work: they are scaled by a common power of two before the moments
    are taken (exact), so features of 1e150 or 1e-200 give the right distance; a distance
    beyond float64's range (features of ~1e200 that differ) raises ``ValueError``.
    """
    check_array(features1, "features1", ndim=2, kinds="fiu")
    check_array(features2, "features2", ndim=2, kinds="fiu")
    if features1.shape[1] != features2.shape[1]:
        raise ValueError(
            "features1 and features2 must have the same number of columns F; got "
            f"{tuple(features1.shape)} and {tuple(features2.shape)}."
        )
    for name, feats in (("features1", features1), ("features2", features2)):
        if len(feats) < 2:
            raise ValueError(f"{name} needs at least 2 rows to estimate a covariance; got 1.")
    # Squares of 1e200 overflow in np.cov; scaled to ~1 first, the distance is scaled back.
    exponent = _pow2_exponent(features1, features2)
    scaled1 = np.ldexp(as_numpy(features1).astype(np.float64), -exponent)
    scaled2 = np.ldexp(as_numpy(features2).astype(np.float64), -exponent)
    mean1, cov1 = _mean_cov(scaled1, "features1")
    mean2, cov2 = _mean_cov(scaled2, "features2")
    names = ("the covariance of features1", "the covariance of features2")
    return _frechet_of_moments(mean1, cov1, mean2, cov2, exponent, names)


def frechet_distance(
    real: ArrayLike,
    fake: ArrayLike,
    dataset: str = "digits",
    device: torch.device | str | None = None,
) -> float:
    """The Fréchet distance (the FID formula) in the features of our own network.

    Not comparable with published FIDs (those use Inception features of 299×299 colour
    images); comparable across models of this course evaluated with the same dataset, number
    of images and reference set -- see :func:`calibration_table`. Small samples bias it
    upwards, so compare numbers computed with equal N.

    Parameters
    ----------
    real, fake : Tensor or ndarray, shape (N, 1, H, W), values in [0, 1], N >= 2
    dataset : {"digits", "fashion-mnist"}
    device : torch.device or str, optional

    Returns
    -------
    float, >= 0 (0 for identical feature sets)
    """
    _check_dataset(dataset)
    _checked_images(real, "real", dataset)
    _checked_images(fake, "fake", dataset)
    _check_min_count(real, "real", 2, "a covariance needs two")
    _check_min_count(fake, "fake", 2, "a covariance needs two")
    target = resolve_device(device)
    return frechet_distance_from_features(
        features(real, dataset, target), features(fake, dataset, target)
    )


# =========================================================================== precision / recall


class PrecisionRecall(NamedTuple):
    """Improved precision (fidelity) and recall (coverage), each in [0, 1]."""

    precision: float
    recall: float


def _squared_distance_blocks(
    queries: torch.Tensor, points: torch.Tensor, batch_size: int
) -> Iterator[torch.Tensor]:
    """Yield the (B, N) squared Euclidean distances of successive blocks of ``queries``.

    Computed as |a|² + |b|² - 2 a·b into ONE buffer reused for every block: a fresh
    allocation of this size per block costs more in page faults than the product itself.
    Squared distances order and compare like distances, so no square root is taken.
    Consume each block before asking for the next.
    """
    points_sq = (points * points).sum(1)
    rows = min(batch_size, len(queries))
    buffer = torch.empty((rows, len(points)), dtype=points.dtype, device=points.device)
    for chunk in queries.split(batch_size):
        block = buffer[: len(chunk)]
        torch.mm(chunk, points.T, out=block)
        yield block.mul_(-2.0).add_(points_sq).add_((chunk * chunk).sum(1, keepdim=True))


def _knn_radii(points: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the set (itself excluded)."""
    # The point itself sits at distance 0, so the k-th neighbour is the (k+1)-th smallest.
    squared = torch.cat(
        [
            block.topk(k + 1, dim=1, largest=False).values[:, k]
            for block in _squared_distance_blocks(points, points, batch_size)
        ]
    )
    return squared.clamp_min(0.0).sqrt()


def _in_manifold(
    queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """(M,) bool: is each query inside at least one ball B(points_i, radii_i)?"""
    squared_radii = radii * radii
    return torch.cat(
        [
            (block <= squared_radii).any(1)
            for block in _squared_distance_blocks(queries, points, batch_size)
        ]
    )


def _centred(features_: ArrayLike, centre: torch.Tensor) -> torch.Tensor:
    # Centring on a common point keeps |a|² + |b|² - 2a·b accurate; distances do not change.
    return as_tensor(features_, dtype=centre.dtype, device=centre.device) - centre


def _precision_recall(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int,
    batch_size: int,
    real_radii: torch.Tensor | None = None,
) -> PrecisionRecall:
    """Precision and recall of centred features; ``real_radii`` may be passed in if known."""
    if real_radii is None:
        real_radii = _knn_radii(real, k, batch_size)
    fake_radii = _knn_radii(fake, k, batch_size)
    precision = int(_in_manifold(fake, real, real_radii, batch_size).sum()) / len(fake)
    recall = int(_in_manifold(real, fake, fake_radii, batch_size).sum()) / len(real)
    return PrecisionRecall(precision, recall)


def precision_recall_from_features(
    real_features: ArrayLike,
    fake_features: ArrayLike,
    k: int = 3,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 1024,
) -> PrecisionRecall:
    """Improved precision and recall of Kynkäänniemi et al. (2019) on feature vectors.

    The real manifold is the union of balls around each real feature with radius the
    distance to its k-th nearest real neighbour; likewise for the fake manifold.
    Precision = share of fake points inside the real manifold (are samples realistic?);
    recall = share of real points inside the fake manifold (is the data covered?).

    Parameters
    ----------
    real_features : array, shape (N, F), N > k
    fake_features : array, shape (M, F), M > k
    k : int
        Neighbourhood size (the paper uses 3), 1 <= k < min(N, M).

    Returns
    -------
    PrecisionRecall(precision, recall)
        Invariant to a common scaling of the features: any finite magnitude (1e200, 1e-200)
        gives the answer of the unscaled features.
    """
    k = check_int(k, "k", min_value=1)
    check_array(real_features, "real_features", ndim=2, kinds="fiu")
    check_array(fake_features, "fake_features", ndim=2, kinds="fiu")
    if real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(
            "real_features and fake_features must have the same number of columns; got "
            f"{tuple(real_features.shape)} and {tuple(fake_features.shape)}."
        )
    for name, x in (("real_features", real_features), ("fake_features", fake_features)):
        if len(x) <= k:
            raise ValueError(
                f"{name} needs more than k={k} points for k-NN radii; got {len(x)}. Pass a "
                "smaller k or more points."
            )
    batch_size = _check_batch_size(batch_size)
    target = resolve_device(device)
    real, fake = _scaled_centred_pair(real_features, fake_features, target)
    return _precision_recall(real, fake, k, batch_size)


def _scaled_centred_pair(
    real_features: ArrayLike, fake_features: ArrayLike, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both feature sets centred on the real mean and scaled to magnitude ~1, on ``device``.

    Ball membership only compares distances, so a common scaling changes nothing, and by a
    power of two it is exact: squared distances of 1e200 features (inf, then inf - inf = NaN)
    or of 1e-200 features (0) are then computed like those of ordinary ones. Centring keeps
    |a|² + |b|² - 2a·b accurate when the features sit far from the origin.
    """
    dtype = _float_dtype(device)
    # Without float64 on the device (MPS), scale on the CPU first: 1e200 is inf in float32.
    work = device if dtype == torch.float64 else torch.device("cpu")
    exponent = _pow2_exponent(real_features, fake_features)

    def scaled(x: ArrayLike) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.device.type == "mps":
            x = x.cpu()  # MPS cannot cast to float64 itself
        return _times_pow2(as_tensor(x, dtype=torch.float64, device=work), -exponent)

    real, fake = scaled(real_features), scaled(fake_features)
    centre = real.mean(0)
    real, fake = real - centre, fake - centre
    exponent = _pow2_exponent(real, fake)
    real, fake = _times_pow2(real, -exponent), _times_pow2(fake, -exponent)
    return real.to(device=device, dtype=dtype), fake.to(device=device, dtype=dtype)


def precision_recall(
    real: ArrayLike,
    fake: ArrayLike,
    dataset: str = "digits",
    k: int = 3,
    device: torch.device | str | None = None,
) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019) in our feature space.

    Parameters
    ----------
    real, fake : Tensor or ndarray, shape (N, 1, H, W), values in [0, 1], more than k images
    dataset : {"digits", "fashion-mnist"}
    k : int
        Neighbourhood size of the k-NN balls (3 as in the paper).
    device : torch.device or str, optional

    Returns
    -------
    PrecisionRecall(precision, recall)
        A named tuple of floats in [0, 1]: ``p, r = precision_recall(...)``. A mode-collapsed
        model keeps a high precision and loses recall; blurry or noisy samples lose precision.
    """
    _check_dataset(dataset)
    _checked_images(real, "real", dataset)
    _checked_images(fake, "fake", dataset)
    k = check_int(k, "k", min_value=1)
    _check_min_count(real, "real", k + 1, f"k={k} neighbours plus the point itself")
    _check_min_count(fake, "fake", k + 1, f"k={k} neighbours plus the point itself")
    target = resolve_device(device)
    return precision_recall_from_features(
        features(real, dataset, target), features(fake, dataset, target), k, device=target
    )


# =========================================================================== NDB


class NDBResult(NamedTuple):
    """Number of statistically different bins and the JS divergence of the bin histograms."""

    n_different: int
    js_divergence: float


@dataclass
class NDBReport:
    """Everything one NDB evaluation measured. ``n_different / n_bins`` is the paper's NDB/K.

    Attributes
    ----------
    n_different : int
    js_divergence : float
        Jensen-Shannon divergence (natural log, in [0, ln 2]) of the two bin histograms.
    n_bins : int
    proportions : ndarray, shape (K,)
        Share of the samples in each bin.
    reference_proportions : ndarray, shape (K,)
        Share of the training images in each bin (bins sorted by this, largest first).
    z : ndarray, shape (K,)
        Two-proportion z statistics.
    p_values : ndarray, shape (K,)
    different : ndarray of bool, shape (K,)
    assignments : ndarray of int, shape (N,)
        The bin of each sample.
    """

    n_different: int
    js_divergence: float
    n_bins: int
    proportions: np.ndarray = field(repr=False)
    reference_proportions: np.ndarray = field(repr=False)
    z: np.ndarray = field(repr=False)
    p_values: np.ndarray = field(repr=False)
    different: np.ndarray = field(repr=False)
    assignments: np.ndarray = field(repr=False)

    def result(self) -> NDBResult:
        return NDBResult(self.n_different, self.js_divergence)


def _as_checked_array(x: Any, name: str, what: str) -> np.ndarray:
    """``x`` (a number, sequence, array or tensor on any device) as a float64 NumPy array."""
    if not isinstance(x, np.ndarray | torch.Tensor):
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as err:
            raise TypeError(f"{name} must be {what}, got {type(x).__name__} ({err}).") from None
    check_array(x, name, kinds="fiu")
    return as_numpy(x).astype(np.float64)


def two_proportion_z_test(
    p1: ArrayLike, n1: int, p2: ArrayLike, n2: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-proportion z-test, element-wise: are proportions p1 (of n1) and p2 (of n2)
    equal?

    Parameters
    ----------
    p1, p2 : float, array or tensor, values in [0, 1], broadcastable shapes
        Observed proportions (count / n).
    n1, n2 : int >= 1
        Sample sizes.

    Returns
    -------
    z : ndarray
        (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2)) with the pooled p. Where both proportions
        are 0 (or both 1), the pooled p is 0 (or 1): there is nothing to test, and z is
        defined as 0 (p-value 1).
    p_values : ndarray
        Two-sided p-values, 2 Φ(-|z|).
    """
    from scipy.stats import norm

    n1 = _check_count(n1, "n1", min_value=1)
    n2 = _check_count(n2, "n2", min_value=1)
    p1 = _as_checked_array(p1, "p1", "a proportion or an array of proportions")
    p2 = _as_checked_array(p2, "p2", "a proportion or an array of proportions")
    for name, p in (("p1", p1), ("p2", p2)):
        if p.min() < 0.0 or p.max() > 1.0:
            raise ValueError(
                f"{name} must hold proportions in [0, 1] (count / n), but it ranges over "
                f"[{p.min():g}, {p.max():g}]."
            )
    try:
        np.broadcast_shapes(p1.shape, p2.shape)
    except ValueError:
        raise ValueError(
            f"p1 and p2 must have broadcastable shapes; got {p1.shape} and {p2.shape}."
        ) from None
    # Python's int division rounds correctly, so the weights are exact to the last bit.
    w1, w2 = n1 / (n1 + n2), n2 / (n1 + n2)
    inverse_n = (n1 + n2) / (n1 * n2)
    degenerate = ((p1 == 0) & (p2 == 0)) | ((p1 == 1) & (p2 == 1))
    # sqrt(pooled) as sqrt(t) * sqrt(pooled / t), t = max(p1, p2): pooled itself underflows
    # to 0 for proportions near 5e-324, which would turn a z of ~0 into inf.
    t = np.maximum(p1, p2)
    safe_t = np.where(t > 0, t, 1.0)
    pooled_over_t = (p1 / safe_t) * w1 + (p2 / safe_t) * w2
    complement = w1 * (1.0 - p1) + w2 * (1.0 - p2)  # 1 - pooled, without cancellation
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(safe_t) / np.sqrt(pooled_over_t) / np.sqrt(complement * inverse_n)
    z = np.asarray(np.where(degenerate, 0.0, z), dtype=np.float64)
    return z, np.asarray(2.0 * norm.cdf(-np.abs(z)), dtype=np.float64)


def _histogram(x: Any, name: str) -> np.ndarray:
    """Checked non-negative counts or weights (K,) → proportions summing to 1."""
    counts = _as_checked_array(x, name, "a 1-D histogram (counts or proportions)")
    if counts.ndim != 1:
        raise ValueError(f"{name} must be a 1-D histogram, got shape {counts.shape}.")
    if counts.min() < 0:
        raise ValueError(
            f"{name} must hold non-negative counts or proportions; its minimum is {counts.min():g}."
        )
    largest = counts.max()
    if largest == 0:
        raise ValueError(f"{name} is all zeros: a histogram needs at least one positive bin.")
    # Divided by the largest count first, so the sum of counts near 1e308 cannot overflow.
    counts = counts / largest
    return counts / counts.sum()


def js_divergence(p: ArrayLike, q: ArrayLike) -> float:
    """Jensen-Shannon divergence of two histograms (natural log): 0 when equal, ≤ ln 2.

    Parameters
    ----------
    p, q : sequence, array or tensor, shape (K,)
        Non-negative counts or proportions (each normalized to sum 1), not all zero. Empty
        bins are fine: 0 · log 0 counts as 0.

    Returns
    -------
    float in [0, ln 2]
    """
    p = _histogram(p, "p")
    q = _histogram(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same number of bins; got {p.shape} and {q.shape}.")
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        keep = a > 0  # 0 · log 0 = 0; where a > 0, b = m >= a / 2 > 0
        return float(np.sum(a[keep] * np.log(a[keep] / b[keep])))

    # Rounding can step just outside [0, ln 2]; the divergence itself never does.
    return min(max(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0), math.log(2.0))


def _default_bins(n_train: int) -> int:
    # The authors use 100 bins for 50,000 MNIST images; a bin needs tens of training images
    # (and the samples several) for the z-test to have any power, so small sets get fewer.
    return int(min(100, max(2, n_train // 60)))


class NDB:
    """Number of statistically Different Bins (Richardson and Weiss 2018), scikit-learn style.

    ``fit(train)`` partitions the (flattened) training images into ``n_bins`` k-means bins;
    ``evaluate(samples)`` puts each sample in its nearest bin and runs a two-proportion z-test
    per bin between the training and the sample proportions.

    Parameters
    ----------
    n_bins : int, optional
        K; default ``min(100, max(2, len(train) // 60))`` (100 for Fashion-MNIST, 20 for the
        digits).
    alpha : float
        Significance level of each test.
    whiten : bool
        Standardize every pixel by the training mean and std before binning.
    max_fit : int, optional
        Run k-means on at most this many training images (a seeded subset) to keep it fast;
        the bin proportions are always measured on the whole training set.
    seed : int
        Seeds k-means and the subset.

    Attributes
    ----------
    centers_ : ndarray, shape (K, D)
    proportions_ : ndarray, shape (K,), sorted in decreasing order
    n_train_ : int
    n_bins_ : int
    """

    def __init__(
        self,
        n_bins: int | None = None,
        *,
        alpha: float = 0.05,
        whiten: bool = False,
        max_fit: int | None = 10_000,
        seed: int = 0,
    ) -> None:
        self.n_bins = _check_n_bins(n_bins)
        self.alpha = check_probability(alpha, "alpha")
        if not isinstance(whiten, bool | np.bool_):
            raise TypeError(f"whiten must be True or False, got {whiten!r}.")
        self.whiten = bool(whiten)
        self.max_fit = None if max_fit is None else check_int(max_fit, "max_fit", min_value=2)
        self.seed = _check_seed(seed)

    def _prepare(self, images: ArrayLike) -> np.ndarray:
        flat = as_numpy(images).reshape(len(images), -1).astype(np.float32, copy=False)
        return (flat - self.mean_) / self.std_ if self.whiten else flat

    def fit(self, train: ArrayLike) -> NDB:
        """Build the bins from the training images (N, C, H, W) in [0, 1]."""
        from sklearn.cluster import KMeans

        _checked_images(train, "train")
        n_bins = self.n_bins if self.n_bins is not None else _default_bins(len(train))
        if len(train) < 2 * n_bins:
            raise ValueError(
                f"train needs at least 2 * n_bins = {2 * n_bins} images for {n_bins} bins; got "
                f"{len(train)}. Pass a smaller n_bins."
            )
        if self.max_fit is not None and self.max_fit < n_bins:
            raise ValueError(
                f"max_fit={self.max_fit} must be at least n_bins={n_bins}: k-means needs a "
                "training image per bin. Pass a larger max_fit (or None)."
            )
        flat = as_numpy(train).reshape(len(train), -1).astype(np.float32, copy=False)
        self.mean_ = flat.mean(0) if self.whiten else np.zeros(flat.shape[1], np.float32)
        self.std_ = flat.std(0) + 1e-6 if self.whiten else np.ones(flat.shape[1], np.float32)
        # Unwhitened bins read the pixels as they are: (x - 0) / 1 would copy 60,000 images
        # twice for nothing.
        data = (flat - self.mean_) / self.std_ if self.whiten else flat
        rng = np.random.default_rng(self.seed)
        subset = data
        if self.max_fit is not None and len(data) > self.max_fit:
            subset = data[np.sort(rng.choice(len(data), self.max_fit, replace=False))]
        kmeans = KMeans(n_bins, n_init=1, max_iter=100, random_state=self.seed).fit(subset)
        self.centers_ = kmeans.cluster_centers_.astype(np.float32)
        counts = np.bincount(self._nearest(data), minlength=n_bins)
        order = np.argsort(-counts, kind="stable")  # largest bin first, as in the authors' code
        self.centers_ = self.centers_[order]
        self.proportions_ = counts[order] / len(data)
        self.n_train_ = len(data)
        self.n_bins_ = n_bins
        self.image_shape_ = tuple(train.shape[1:])
        return self

    def _nearest(self, data: np.ndarray) -> np.ndarray:
        centers = torch.from_numpy(self.centers_)
        x = torch.from_numpy(np.ascontiguousarray(data))
        return torch.cat([torch.cdist(chunk, centers).argmin(1) for chunk in x.split(4096)]).numpy()

    def assign(self, images: ArrayLike) -> np.ndarray:
        """The bin of each image: (N, C, H, W) → (N,) int."""
        self._check_fitted()
        _checked_images(images, "images")
        if tuple(images.shape[1:]) != self.image_shape_:
            raise ValueError(
                f"images must have the training images' (C, H, W) = {self.image_shape_}; got "
                f"{tuple(images.shape)}."
            )
        return self._nearest(self._prepare(images))

    def evaluate(self, samples: ArrayLike) -> NDBReport:
        """Compare the bin proportions of ``samples`` (N, C, H, W) with the training set's."""
        self._check_fitted()
        _checked_images(samples, "samples")
        if tuple(samples.shape[1:]) != self.image_shape_:
            raise ValueError(
                f"samples must have the training images' (C, H, W) = {self.image_shape_}; got "
                f"{tuple(samples.shape)}."
            )
        return self._evaluate(samples)

    def _evaluate(self, samples: ArrayLike) -> NDBReport:
        assignments = self._nearest(self._prepare(samples))
        proportions = np.bincount(assignments, minlength=self.n_bins_) / len(samples)
        z, p_values = two_proportion_z_test(
            self.proportions_, self.n_train_, proportions, len(samples)
        )
        different = p_values < self.alpha
        return NDBReport(
            n_different=int(different.sum()),
            js_divergence=js_divergence(self.proportions_, proportions),
            n_bins=self.n_bins_,
            proportions=proportions,
            reference_proportions=self.proportions_,
            z=z,
            p_values=p_values,
            different=different,
            assignments=assignments,
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "centers_"):
            raise RuntimeError("this NDB is not fitted yet; call fit(train) first.")


def ndb(
    train: ArrayLike,
    samples: ArrayLike,
    n_bins: int | None = None,
    alpha: float = 0.05,
    seed: int = 0,
) -> NDBResult:
    """Number of statistically different bins (Richardson and Weiss 2018) and JS divergence.

    k-means bins on the training images (pixels), then one two-proportion z-test per bin.
    The authors' MNIST reference (100 bins): 0 different bins for a validation split, 11 when
    the nines are removed. Divide by ``n_bins`` for their NDB/K.

    Parameters
    ----------
    train : Tensor or ndarray, shape (N, C, H, W), values in [0, 1]
    samples : Tensor or ndarray, shape (M, C, H, W), values in [0, 1]
    n_bins : int, optional
        Default ``min(100, max(2, N // 60))``.
    alpha : float
        Significance level of each bin's test.
    seed : int
        Seeds k-means.

    Returns
    -------
    NDBResult(n_different, js_divergence)
        A named tuple: ``count, js = ndb(train, samples)``. Use :class:`NDB` for the per-bin
        details and to reuse the bins.
    """
    estimator = NDB(n_bins, alpha=alpha, seed=seed)  # checks the parameters first
    _checked_images(train, "train")
    _checked_images(samples, "samples")
    _check_same_image_shape(train, "train", samples, "samples")
    estimator.fit(train)
    return estimator.evaluate(samples).result()


# =========================================================================== memorization


class NearestTrain(NamedTuple):
    """Per sample: the L2 distance to its nearest training image, and that image's index."""

    distance: ArrayLike
    index: ArrayLike


def _nearest_rows(
    query: torch.Tensor, bank: torch.Tensor, bank_sq: torch.Tensor, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest row of ``bank`` (M, D) for each row of ``query`` (N, D): distances and indices.

    ``bank_sq`` is ``(bank ** 2).sum(1)``, passed in so a fixed bank pays for it once.
    """
    # |x - t|² up to the constant |x|² is enough to find the nearest t...
    buffer = torch.empty(
        (min(batch_size, len(query)), len(bank)), dtype=bank.dtype, device=bank.device
    )
    indices = []
    for chunk in query.split(batch_size):
        block = torch.mm(chunk, bank.T, out=buffer[: len(chunk)])
        indices.append(block.mul_(-2.0).add_(bank_sq).argmin(1))
    index = torch.cat(indices)
    # ...whose distance is then computed exactly, so a copy gives 0, not rounding noise
    # (the difference in the wider dtype: float32 - float32 can round, float64 - float64 of
    # float32 values cannot).
    wide = _float_dtype(query.device)
    difference = query.to(wide) - bank[index].to(wide)
    distance = difference.pow(2).sum(1).sqrt()
    return distance, index


def nearest_train_distance(
    samples: ArrayLike,
    train: ArrayLike,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 256,
) -> NearestTrain:
    """A memorization check: how far is each sample from its nearest training image?

    Distances are in pixel space, ``sqrt(sum((x - t)²))`` over all C·H·W values, exact for
    the nearest image (a copy of a training image gives exactly 0). The search runs in
    float32, or in float64 when either input is float64 (and the device has it).

    Parameters
    ----------
    samples : Tensor or ndarray, shape (N, C, H, W), values in [0, 1]
    train : Tensor or ndarray, shape (M, C, H, W), values in [0, 1]

    Returns
    -------
    NearestTrain(distance, index)
        ``distance``: (N,) float, ``index``: (N,) int64 into ``train``. NumPy arrays when
        ``samples`` is a NumPy array, else tensors on the computing device. Compare them with
        the distances of held-out test images (:func:`calibration_table`): a model whose
        samples sit much closer to the training set than test images do is copying.
    """
    _checked_images(samples, "samples")
    _checked_images(train, "train")
    _check_same_image_shape(samples, "samples", train, "train")
    batch_size = _check_batch_size(batch_size)
    target = resolve_device(device)
    double = any(str(x.dtype) in ("float64", "torch.float64") for x in (samples, train))
    dtype = _float_dtype(target) if double else torch.float32
    query, bank = _flat(samples, target, dtype), _flat(train, target, dtype)
    # Pixels below ~1e-18 would square to float32 underflow (0): scale by a power of two
    # (exact, and the nearest image does not change), then scale the distances back.
    exponent = _pow2_exponent(query, bank)
    exponent = exponent if exponent < -60 else 0
    query, bank = _times_pow2(query, -exponent), _times_pow2(bank, -exponent)
    distance, index = _nearest_rows(query, bank, (bank * bank).sum(1), batch_size)
    distance = _times_pow2(distance, exponent)
    return NearestTrain(like_input(distance, samples), like_input(index, samples))


# =========================================================================== likelihoods

_LN2 = math.log(2.0)


def _as_float_values(x: Any, name: str):
    if isinstance(x, torch.Tensor | np.ndarray):
        check_array(x, name, kinds="fiu")
        if isinstance(x, np.ndarray):
            return x.astype(np.float64)
        return x.float() if x.device.type == "mps" else x.double()  # MPS has no float64
    if isinstance(x, int | float | np.floating | np.integer) and not isinstance(x, bool):
        try:
            value = float(x)
        except OverflowError:  # a Python int beyond float64
            raise ValueError(
                f"{name} must fit in a float64 (|x| < 1.8e308), got an integer of "
                f"{len(str(abs(int(x))))} digits."
            ) from None
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {x!r}.")
        return value
    raise TypeError(f"{name} must be a number, an array or a tensor, got {type(x).__name__}.")


def _finite_result(value: Any, name: str):
    """``value`` unchanged; a ValueError if converting a finite ``name`` overflowed float64."""
    if isinstance(value, torch.Tensor):
        finite = bool(torch.isfinite(value).all())
    else:
        finite = bool(np.isfinite(value).all())
    if not finite:
        raise ValueError(
            f"{name} is so large that the result exceeds float64's range (1.8e308); no finite "
            "answer exists. Check the units (nats per image, not a product of likelihoods)."
        )
    return value


def _robust_mean(values: Any) -> float:
    """Mean of finite values without the overflow of their sum (1e308 + 1e308 = inf)."""
    largest = _max_abs(values)
    if largest == 0.0:
        return 0.0
    return float((values / largest).mean()) * largest


def nats_to_bits(nats: float | ArrayLike) -> float | ArrayLike:
    """Convert nats (natural log) to bits (log base 2): divide by ln 2."""
    return _finite_result(_as_float_values(nats, "nats") / _LN2, "nats")


def bits_per_dim(nll_nats: float | ArrayLike, n_dims: int) -> float | ArrayLike:
    """Negative log-likelihood per image in nats → bits per dimension: nll / (D ln 2).

    Parameters
    ----------
    nll_nats : float, ndarray or Tensor
        -log p(x) in nats, per image (any shape; converted element-wise).
    n_dims : int
        D, the number of values per image (C·H·W: 64 for digits, 784 for Fashion-MNIST).

    Returns
    -------
    Same type as ``nll_nats``, float64.

    Notes
    -----
    Bits per dim compares likelihoods across image sizes. Only compare *discrete* likelihoods
    (a Bernoulli on binarized pixels, or :func:`dequantized_bits_per_dim` for a density on
    grey levels); a continuous density on [0, 1] pixels can exceed 1, so its "bits per dim"
    can be negative and is not comparable.
    """
    n_dims = _check_count(n_dims, "n_dims", min_value=1)
    values = _as_float_values(nll_nats, "nll_nats")
    return _finite_result(values / (n_dims * _LN2), "nll_nats")


def dequantized_bits_per_dim(
    nll_nats: float | ArrayLike, n_dims: int, n_levels: int = 256
) -> float | ArrayLike:
    """Bits per dim of a continuous density on pixels in [0, 1] with ``n_levels`` grey levels.

    A pixel stored with L levels occupies a cell of width 1/L in [0, 1], so the probability of
    the discrete image is about p(x) / L^D: the discrete NLL is ``nll + D ln L``. With uniform
    dequantization (training on x + u/L) this is an upper bound on the discrete NLL.
    Use L = 256 for Fashion-MNIST and L = 17 for the digits (grey levels 0..16).
    """
    n_dims = _check_count(n_dims, "n_dims", min_value=1)
    n_levels = check_int(n_levels, "n_levels", min_value=2)
    nll = _as_float_values(nll_nats, "nll_nats")
    # (nll + D ln L) / (D ln 2) split in two terms, so nll near 1e308 cannot overflow the sum.
    return _finite_result(nll / (n_dims * _LN2) + math.log2(n_levels), "nll_nats")


def likelihood_report(
    nll_nats: float | ArrayLike, n_dims: int, *, n_levels: int | None = None
) -> dict[str, float]:
    """The average NLL in the units papers use.

    Parameters
    ----------
    nll_nats : float or array of shape (N,)
        Per-image negative log-likelihood(s) in nats; averaged.
    n_dims : int
        D, values per image.
    n_levels : int, optional
        For a continuous density on grey levels: adds the ``D ln L`` discretization term
        (:func:`dequantized_bits_per_dim`). Leave None for discrete models (e.g. Bernoulli).

    Returns
    -------
    dict
        ``nll_nats`` (per image), ``nll_bits`` (per image), ``nats_per_dim``,
        ``bits_per_dim``.
    """
    n_dims = _check_count(n_dims, "n_dims", min_value=1)
    if n_levels is not None:
        n_levels = check_int(n_levels, "n_levels", min_value=2)
    values = _as_float_values(nll_nats, "nll_nats")
    mean = values if isinstance(values, float) else _robust_mean(values)
    if n_levels is not None:
        mean += n_dims * math.log(n_levels)
    report = {
        "nll_nats": mean,
        "nll_bits": mean / _LN2,
        "nats_per_dim": mean / n_dims,
        "bits_per_dim": mean / (n_dims * _LN2),
    }
    _finite_result(np.array(list(report.values())), "nll_nats")
    return report


# =========================================================================== degradations


def gaussian_blur(images: ArrayLike, sigma: float) -> ArrayLike:
    """Blur each image with a Gaussian kernel of std ``sigma`` pixels (reflecting borders).

    (N, C, H, W) in [0, 1] → same shape, still in [0, 1], float32; NumPy in → NumPy out.
    ``sigma = 0`` returns the images unchanged; the kernel is cut at 3 σ and at the image
    size (so a huge σ averages each row, then each column).
    """
    _checked_images(images, "images")
    sigma = check_positive(sigma, "sigma", strict=False)
    x = as_tensor(images, dtype=torch.float32)
    if sigma == 0.0:
        return like_input(x.clone().clamp(0.0, 1.0), images)
    n, c, h, w = x.shape
    # min() before ceil(): 3 σ overflows to inf for σ near 1e308, and ceil(inf) raises.
    reach = math.ceil(min(3 * sigma, float(max(h, w))))
    y = x.reshape(n * c, 1, h, w)
    for axis, size in ((3, w), (2, h)):
        radius = min(max(1, reach), size - 1)  # reflect padding needs radius < size
        if radius == 0:
            continue  # a single pixel along this axis: nothing to blur
        # (offset / σ)² in float64: offset² / σ² overflows for a large σ, underflows for a tiny.
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
        kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
        kernel = (kernel / kernel.sum()).to(dtype=torch.float32, device=x.device)
        if axis == 3:
            y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
        else:
            y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return like_input(y.reshape(n, c, h, w).clamp(0.0, 1.0), images)


def _generator(seed: int | None) -> torch.Generator:
    generator = torch.Generator()
    seed = _check_seed(seed, allow_none=True)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


#: Beyond this std every nonzero draw pushes a pixel far past 0 or 1: clipping gives the same
#: image as any larger std, and std · noise stays finite in float32 (inf · 0 would be NaN).
_MAX_EFFECTIVE_STD = 1e30


def add_gaussian_noise(images: ArrayLike, std: float, *, seed: int | None = None) -> ArrayLike:
    """Add N(0, std²) noise to every pixel and clip to [0, 1]; same shape and type as input.

    ``std = 0`` returns the images unchanged (as float32); ``seed`` is None or an integer in
    [0, 2**32).
    """
    _checked_images(images, "images")
    std = check_positive(std, "std", strict=False)
    generator = _generator(seed)
    x = as_tensor(images, dtype=torch.float32)
    noise = torch.randn(x.shape, generator=generator).to(x.device)
    return like_input((x + min(std, _MAX_EFFECTIVE_STD) * noise).clamp(0.0, 1.0), images)


def uniform_noise_images(
    n: int,
    shape: Sequence[int],
    *,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` images of independent Uniform(0, 1) pixels: a Tensor (n, *shape) on ``device``.

    The result may hold at most ``MAX_ELEMENTS`` (2**31) values: ``n · prod(shape)``.
    """
    n = check_int(n, "n", min_value=1)
    if isinstance(shape, str) or not isinstance(shape, Sequence | torch.Size):
        raise TypeError(
            f"shape must be a sequence of positive integers such as (1, 8, 8), got {shape!r}."
        )
    shape = tuple(check_int(s, "shape", min_value=1) for s in shape)
    total = n * math.prod(shape)  # Python integers: no overflow, however large
    if total > MAX_ELEMENTS:
        raise ValueError(
            f"n={n} images of shape {shape} would hold {total} values, more than "
            f"{MAX_ELEMENTS} (2**31, 8 GiB in float32). Pass a smaller n (at most "
            f"{max(1, MAX_ELEMENTS // math.prod(shape))} for this shape) or a smaller shape, "
            "or draw the images in chunks."
        )
    generator = _generator(seed)
    target = resolve_device(device)
    noise = torch.rand((n, *shape), generator=generator)
    return noise.to(target)


# =========================================================================== calibration

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

    def cell(value: Any) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"
        return str(value)

    header = "| " + " | ".join(columns.values()) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(row.get(key)) for key in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


@dataclass
class _Reference:
    """Everything a candidate is compared with, computed once per (dataset, n, seed, device)."""

    dataset: str
    n: int
    seed: int
    device: torch.device
    train: torch.Tensor  # the whole training set, (N_train, 1, H, W) on the CPU
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
    train, _ = _load_split(dataset, "train", device="cpu")
    if n > len(train):
        raise ValueError(f"n={n} is more than the {len(train)} training images of {dataset}.")
    # The bins first: a bad n_bins fails before the feature network runs.
    bins = NDB(n_bins, seed=seed).fit(train)
    generator = torch.Generator().manual_seed(seed)
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
        reference_index=reference_index,
        reference_features=reference_features,
        centre=centre,
        reference_radii=_knn_radii(_centred(reference_features, centre), 3, 1024),
        ndb=bins,
        train_flat=train_flat,
        train_sq=(train_flat * train_flat).sum(1),
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
    _check_dataset(dataset)
    n = _default_n(dataset) if n is None else check_int(n, "n", min_value=4)
    seed = _check_seed(seed)
    removed_class = check_int(removed_class, "removed_class", min_value=0)
    if removed_class >= _N_CLASSES:
        raise ValueError(f"removed_class must be in 0..9, got {removed_class}.")
    sigma = blur_sigma if blur_sigma is not None else (0.5 if dataset == "digits" else 1.0)
    check_positive(sigma, "blur_sigma")
    check_positive(noise_std, "noise_std")
    n_bins = _check_n_bins(n_bins)
    target = resolve_device(device)
    start = time.perf_counter()

    # Every check on the test split before the (cached, slower) reference is computed.
    test, test_labels = _load_split(dataset, "test", device="cpu")
    if n > len(test):
        raise ValueError(f"n={n} is more than the {len(test)} test images of {dataset}.")
    generator = torch.Generator().manual_seed(seed + 1)
    pick = torch.randperm(len(test), generator=generator)[:n].sort().values  # keep order
    test, test_labels = test[pick], test_labels[pick]
    kept = test_labels != removed_class
    if int(kept.sum()) < 4:
        raise ValueError(
            f"n={n} is too small: without class {removed_class} only {int(kept.sum())} test "
            "images remain, and precision and recall need 4 (k=3 neighbours). Pass a larger n."
        )
    reference = _reference(dataset, n, seed, target, n_bins)
    unused = torch.ones(len(reference.train), dtype=torch.bool)
    unused[reference.reference_index] = False
    copies = torch.nonzero(unused).squeeze(1)[:n]
    if len(copies) < n:
        copies = torch.randperm(len(reference.train), generator=generator)[:n]
    train_labels = _load_split(dataset, "train", device="cpu")[1]
    random_labels = torch.randint(_N_CLASSES, (n,), generator=generator)
    shape = tuple(test.shape[1:])
    candidates = [
        ("test set (floor)", test, test_labels),
        (f"test set without class {removed_class}", test[kept], test_labels[kept]),
        (f"test set, blurred (σ={sigma:g} px)", gaussian_blur(test, sigma), test_labels),
        (
            f"test set + Gaussian noise (σ={noise_std:g})",
            add_gaussian_noise(test, noise_std, seed=seed),
            test_labels,
        ),
        ("uniform noise", uniform_noise_images(n, shape, seed=seed, device="cpu"), random_labels),
        ("training images (copies)", reference.train[copies], train_labels[copies]),
    ]
    rows = [_row(reference, name, images, labels) for name, images, labels in candidates]
    meta = {
        "dataset": dataset,
        "n": n,
        "seed": seed,
        "device": str(target),
        "seconds": time.perf_counter() - start,
        "feature_network": feature_network_info(dataset, progress=False),
    }
    return MetricTable(rows, meta=meta)
