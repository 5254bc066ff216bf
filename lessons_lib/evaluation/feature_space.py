"""The feature space of the sample metrics: the cached feature network and what it computes.

:func:`feature_network` gives the trained network of a dataset: from memory, else from the
file cache (``data_dir()/feature_nets``, verified against the sha256 of its weights), else
trained once (:func:`~lessons_lib.evaluation.feature_networks.train_feature_network`) and
cached. The files are handled by :mod:`lessons_lib.data.cache`; this module only decides
*what* is cached. :func:`features` are the penultimate activations in which the Fréchet
distance (Heusel et al. 2017) and improved precision and recall (Kynkäänniemi et al. 2019)
are computed; :func:`classify` and :func:`class_accuracy` use the classifier's head.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch

from lessons_lib.core.checkpoints import load_checkpoint, save_checkpoint
from lessons_lib.core.device import resolve_device
from lessons_lib.core.validation import ArrayLike, as_tensor, check_labels
from lessons_lib.data.cache import InvalidCacheFile, cache_path, load_or_create, locked_folder
from lessons_lib.evaluation._inputs import (
    _N_CLASSES,
    _check_batch_size,
    _check_dataset,
    _checked_images,
)
from lessons_lib.evaluation.feature_networks import (
    FeatureNet,
    FeatureRecipe,
    _build,
    recipe_for,
    train_feature_network,
    weights_checksum,
)

__all__ = [
    "class_accuracy",
    "classify",
    "feature_network",
    "feature_network_info",
    "feature_network_path",
    "features",
]


def feature_network_path(dataset: str = "digits") -> Path:
    """Where the feature network of ``dataset`` is cached: ``data_dir()/feature_nets/…pt``."""
    recipe = recipe_for(dataset)
    return cache_path("feature_nets", f"{dataset}-{recipe.key()}.pt")


def _exclusive(path: Path):
    """The lock held while the network cached at ``path`` is judged and trained.

    An ``flock`` of the cache folder (see :func:`lessons_lib.data.cache.locked_folder`).
    Earlier versions locked a 0-byte ``<name>.lock`` next to the network and left it: it is
    deleted once the lock is held.
    """
    return locked_folder(path.parent, stale=[path.with_suffix(".lock")])


def _load_cached(path: Path, recipe: FeatureRecipe) -> tuple[FeatureNet, dict]:
    """The cached network and its info, if the file is readable and its weights match their
    checksum; else :class:`~lessons_lib.data.cache.InvalidCacheFile` (retrain)."""
    net = _build(recipe)
    try:
        payload = load_checkpoint(path, net)
        info = dict(payload["settings"])
        expected = info["weights_sha256"]
    except (ValueError, KeyError, RuntimeError, FileNotFoundError) as err:
        raise InvalidCacheFile(f"{path} is unreadable ({err}); retraining it.") from err
    if weights_checksum(net) != expected:
        raise InvalidCacheFile(f"{path} fails its sha256 check (corrupt file); retraining.")
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

    def train_and_save(target: Path) -> None:
        if progress:
            print(f"Training the {dataset} feature network once; it is cached at {target}.")
        net, info = train_feature_network(dataset, device=None, progress=progress)
        history = info.pop("history")
        save_checkpoint(target, net.cpu(), settings=info, history=history)

    loaded = load_or_create(
        path,
        load=functools.partial(_load_cached, recipe=recipe),
        create=train_and_save,
        refresh=retrain,
        lock=_exclusive(path),
    )
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
