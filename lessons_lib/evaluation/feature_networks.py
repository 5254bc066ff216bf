"""The feature networks: one small convolutional classifier per dataset, trained deterministically.

The Fréchet Inception Distance (Heusel et al. 2017) and improved precision and recall
(Kynkäänniemi et al. 2019) compare images in the features of an Inception network (Szegedy
et al. 2016), whose weights come from a hub that a learner offline, on Binder behind a proxy,
or in CI cannot reach. So the course brings its own: this module says *what* a feature
network is (:class:`FeatureNet`, a conv-BatchNorm-ReLU classifier, Ioffe and Szegedy 2015)
and *how* it is trained (:func:`train_feature_network`: Adam, Kingma and Ba 2015, with a
one-cycle schedule, Smith and Topin 2019, from a fixed seed, so the same machine gives the
same weights bit for bit). :mod:`lessons_lib.evaluation.feature_space` caches the trained
network and computes features with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lessons_lib.core.device import resolve_device
from lessons_lib.core.loop import train_loop
from lessons_lib.core.random import seed_everything
from lessons_lib.core.validation import check_int, check_one_of
from lessons_lib.data import load_digits, load_fashion_mnist
from lessons_lib.evaluation._inputs import (
    _IMAGE_SIZE,
    _N_CLASSES,
    MAX_ELEMENTS,
    MAX_IMAGE_SIDE,
    MAX_UNITS,
    _check_count,
    _check_dataset,
)

__all__ = [
    "FeatureNet",
    "FeatureRecipe",
    "recipe_for",
    "train_feature_network",
    "weights_checksum",
]


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
        _check_n_weights((height, width), (c1, c2), flat, hidden, n_classes)
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


def _check_n_weights(
    size: tuple[int, int], channels: tuple[int, int], flat: int, hidden: int, n_classes: int
) -> None:
    """Refuse a FeatureNet of more than ``MAX_ELEMENTS`` weights.

    Each bound alone still allows a network of 2**40 weights: bound the total too.
    """
    c1, c2 = channels
    n_weights = 9 * (c1 + c1 * c2) + (flat + 1) * hidden + (hidden + 1) * n_classes
    if n_weights > MAX_ELEMENTS:
        raise ValueError(
            f"FeatureNet(image_size={size}, channels={channels}, "
            f"hidden={hidden}, n_classes={n_classes}) would have {n_weights} weights, "
            f"more than {MAX_ELEMENTS} (2**31, 8 GiB in float32). Reduce image_size, "
            "channels, hidden or n_classes."
        )


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
    """Images and labels of one split of ``dataset``.

    Every module of :mod:`lessons_lib.evaluation` loads data through this function (as
    ``feature_networks._load_split``), so a test can replace it in one place.
    """
    if dataset == "digits":
        return load_digits(split, device=device)
    return load_fashion_mnist(split, device=device)


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
    dataset = recipe.dataset
    images, labels = _load_split(dataset, "train", device="cpu")
    seed_everything(recipe.seed)  # before building: the initial weights depend on it
    net = _build(recipe)
    start, cpu_start = time.perf_counter(), time.process_time()
    history = _fit(net, recipe, (images, labels), target, progress)
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


def _fit(
    net: FeatureNet,
    recipe: FeatureRecipe,
    data: tuple[torch.Tensor, torch.Tensor],
    target: torch.device,
    progress: bool,
):
    """Cross-entropy training of ``net`` with Adam and a one-cycle schedule; the history."""
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    steps_per_epoch = math.ceil(len(data[0]) / recipe.batch_size)
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

    with _deterministic_cudnn():
        return train_loop(
            step,
            data,
            modules=net,
            epochs=recipe.epochs,
            batch_size=recipe.batch_size,
            seed=recipe.seed,
            device=target,
            progress=progress,
            desc=f"{recipe.dataset} feature network",
        )
