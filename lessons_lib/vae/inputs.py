"""What a VAE accepts: its constructor's arguments, batches of images, and class labels.

Every public method of :class:`~lessons_lib.vae.model.VAE` checks its inputs here before any
work, so that a wrong shape, grey levels given to a Bernoulli likelihood (a probability of
*binary* images, Kingma & Welling 2014), or a missing class of a conditional VAE (Sohn, Lee &
Yan 2015) is a clear error naming the argument. The functions taking ``self`` are bound as
methods of the VAE (``VAE._images``, ``VAE._onehot``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from lessons_lib.core.loop import check_count
from lessons_lib.core.validation import (
    as_tensor,
    check_images,
    check_labels,
    check_one_of,
    check_positive,
    check_seed,
)
from lessons_lib.vae.likelihoods import LIKELIHOODS
from lessons_lib.vae.networks import check_network_size
from lessons_lib.vae.settings import Settings

if TYPE_CHECKING:
    from lessons_lib.vae.model import VAE

__all__ = ["ARCHS", "check_vae_arguments", "images", "onehot"]

ARCHS = ("mlp", "conv")


def check_vae_arguments(
    data_shape: Any,
    latent_dim: Any,
    likelihood: Any,
    n_classes: Any,
    arch: Any,
    hidden: Any,
    channels: Any,
    min_std: Any,
    seed: Any,
) -> Settings:
    """The VAE's constructor arguments, checked, with the default ``hidden`` filled in."""
    data_shape = _check_data_shape(data_shape)
    latent_dim = check_count(latent_dim, "latent_dim")
    check_one_of(likelihood, "likelihood", LIKELIHOODS)
    check_one_of(arch, "arch", ARCHS)
    if n_classes is not None:
        n_classes = check_count(n_classes, "n_classes", min_value=2)
    channels = check_count(channels, "channels")
    min_std = check_positive(min_std, "min_std")
    hidden = _check_hidden(hidden, arch, math.prod(data_shape))
    check_seed(seed)
    check_network_size(data_shape, latent_dim, n_classes, arch, hidden, channels)
    return Settings(
        data_shape=data_shape,
        latent_dim=latent_dim,
        likelihood=likelihood,
        n_classes=n_classes,
        arch=arch,
        hidden=hidden,
        channels=channels,
        min_std=min_std,
    )


def _check_data_shape(data_shape: Any) -> tuple[int, int, int]:
    if isinstance(data_shape, Sequence) and not isinstance(data_shape, str):
        data_shape = tuple(data_shape)
    if (
        not isinstance(data_shape, tuple)
        or len(data_shape) != 3
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in data_shape)
    ):
        raise ValueError(f"data_shape must be (C, H, W), three positive ints, got {data_shape!r}.")
    return data_shape


def _check_hidden(hidden: Any, arch: str, n_pixels: int) -> int | tuple[int, ...]:
    """MLP: a tuple of layer widths (default by image size); conv: one width (default 256)."""
    if arch != "mlp":
        return 256 if hidden is None else check_count(hidden, "hidden")
    if hidden is None:
        hidden = (512, 256) if n_pixels > 256 else (256, 256)
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if isinstance(hidden, str) or not isinstance(hidden, Sequence):
        raise TypeError(
            f"hidden must be an int or a sequence of ints (layer widths), got {hidden!r}."
        )
    return tuple(check_count(width, "hidden") for width in hidden)


def images(self: VAE, x: Any, name: str = "x", *, binary_check: bool = True) -> torch.Tensor:
    """Check a batch of images against the model and move it to the model's device."""
    check_images(x, name)
    if tuple(x.shape[1:]) != self.data_shape:
        raise ValueError(
            f"{name} must have shape (N, {', '.join(map(str, self.data_shape))}) for this "
            f"model, got {tuple(x.shape)}."
        )
    x = as_tensor(x, dtype=self.dtype, device=self.device)
    if binary_check and self.likelihood == "bernoulli" and not ((x == 0) | (x == 1)).all():
        raise ValueError(
            f"{name} must be binary (0/1) for a Bernoulli likelihood, which is a probability "
            "of binary images; binarize it (load_digits(binarize=True)) or use "
            "likelihood='gaussian' for grey levels."
        )
    return x


def onehot(self: VAE, labels: Any, n: int, name: str = "labels") -> torch.Tensor | None:
    """One-hot (n, n_classes) for a conditional model; None for an unconditional one."""
    if self.n_classes is None:
        if labels is not None:
            raise ValueError(
                f"{name} given, but this VAE is unconditional (n_classes=None); pass "
                f"{name}=None or build VAE(..., n_classes=K)."
            )
        return None
    if labels is None:
        raise ValueError(
            f"this VAE is conditional (n_classes={self.n_classes}); pass {name}, an int "
            f"or an (N,) int64 tensor of classes in 0..{self.n_classes - 1}."
        )
    if isinstance(labels, int | np.integer) and not isinstance(labels, bool):
        if not 0 <= int(labels) < self.n_classes:
            raise ValueError(
                f"{name} must be a class in 0..{self.n_classes - 1}, got {int(labels)}."
            )
        labels = torch.full((n,), int(labels), dtype=torch.int64)
    check_labels(labels, name, n=n, n_classes=self.n_classes)
    labels = as_tensor(labels, dtype=torch.int64, device=self.device)
    return F.one_hot(labels, self.n_classes).float()
