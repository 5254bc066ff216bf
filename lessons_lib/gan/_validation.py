"""Argument checks of the GAN: constructor arguments, training batches, optimisers, outputs.

Every public method of :class:`~lessons_lib.gan.GAN` checks its inputs here before any work, so
a bad argument fails at once with a message that names it. No paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from lessons_lib.core.validation import check_bool, check_int, check_one_of, check_seed
from lessons_lib.gan.networks import ARCHS, _check_model_size, _n_halvings


def _check_batch(
    batch: Any, data_shape: tuple[int, ...], conditional: bool, pack: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``[x]`` or ``[x, labels]`` from the loop: types and shapes only (no value scan)."""
    if isinstance(batch, torch.Tensor | str | bytes) or not isinstance(batch, Sequence):
        raise TypeError(
            f"batch must be a list [x] or [x, labels] of tensors, got {type(batch).__name__}."
        )
    if len(batch) != (2 if conditional else 1):
        raise ValueError(
            f"batch must be [x, labels] for a conditional GAN and [x] otherwise; this GAN "
            f"is {'' if conditional else 'not '}conditional and got {len(batch)} items."
        )
    real, y = batch[0], (batch[1] if conditional else None)
    if not isinstance(real, torch.Tensor) or not real.is_floating_point():
        raise TypeError("batch[0] (x) must be a floating torch tensor.")
    if tuple(real.shape[1:]) != data_shape or len(real) % pack:
        raise ValueError(
            f"batch[0] (x) must have shape (B, {', '.join(map(str, data_shape))}) with "
            f"B a multiple of pack={pack}, got {tuple(real.shape)}."
        )
    if y is not None and (
        not isinstance(y, torch.Tensor)
        or y.dtype not in (torch.int64, torch.int32)
        or tuple(y.shape) != (len(real),)
    ):
        raise TypeError(f"batch[1] (labels) must be an int64 tensor of shape ({len(real)},).")
    return real, y


def _check_optimizers(optimizers: Any) -> tuple[Any, Any]:
    """The generator's and the discriminator's optimisers of :meth:`GAN.configure_optimizers`."""
    if not isinstance(optimizers, Mapping):
        raise TypeError(
            "optimizers must be the mapping {'generator': ..., 'discriminator': ...} that "
            f"configure_optimizers returns, got {type(optimizers).__name__}."
        )
    missing = [key for key in ("generator", "discriminator") if key not in optimizers]
    if missing:
        raise ValueError(f"optimizers lacks {missing}: pass what configure_optimizers returns.")
    return optimizers["generator"], optimizers["discriminator"]


def _check_data_shape(data_shape: Any) -> tuple[int, ...]:
    if (
        isinstance(data_shape, str | bytes)
        or not isinstance(data_shape, Sequence)
        or not all(
            isinstance(s, int | np.integer) and not isinstance(s, bool | np.bool_) and s >= 1
            for s in data_shape
        )
    ):
        raise TypeError(
            f"data_shape must be a tuple of positive ints such as (2,) or (1, 8, 8), "
            f"got {data_shape!r}."
        )
    data_shape = tuple(int(s) for s in data_shape)
    if len(data_shape) not in (1, 3):
        raise ValueError(
            f"data_shape must be (D,) for vectors or (C, H, W) for images, got {data_shape}."
        )
    return data_shape


def _check_arch(arch: Any, data_shape: tuple[int, ...]) -> None:
    check_one_of(arch, "arch", ARCHS)
    if arch != "dcgan":
        return
    if len(data_shape) != 3:
        raise ValueError(
            f"arch='dcgan' needs image data_shape (C, H, W), got {data_shape}; "
            "use arch='mlp' for vectors."
        )
    if _n_halvings(*data_shape[1:]) == 0:
        raise ValueError(
            f"arch='dcgan' needs even image sides of at least 4, got {data_shape[1:]}."
        )


def _check_arguments(
    data_shape, latent_dim, n_classes, arch, width, bounded, minibatch_std, pack, batch_norm, seed
) -> dict[str, Any]:
    """The GAN's constructor arguments, checked in the order of its signature's meaning."""
    data_shape = _check_data_shape(data_shape)
    latent_dim = check_int(latent_dim, "latent_dim", min_value=1)
    if n_classes is not None:
        n_classes = check_int(n_classes, "n_classes", min_value=2)
    _check_arch(arch, data_shape)
    width = check_int(width if width is not None else 128 if arch == "mlp" else 32, "width")
    if width < 2:
        raise ValueError(f"width must be >= 2, got {width}.")
    pack = check_int(pack, "pack", min_value=1)
    seed = check_seed(seed)
    for flag, value in (("bounded", bounded), ("minibatch_std", minibatch_std)):
        if value is not None:
            check_bool(value, flag)
    check_bool(batch_norm, "batch_norm")
    _check_model_size(data_shape, latent_dim, n_classes, arch, width, pack)
    if pack > 1 and (arch != "mlp" or n_classes is not None):
        raise ValueError("pack > 1 (PacGAN) is for unconditional arch='mlp' models only.")
    return {
        "data_shape": data_shape,
        "latent_dim": latent_dim,
        "n_classes": n_classes,
        "width": width,
        "pack": pack,
        "seed": seed,
    }


def _finite_output(out: torch.Tensor, name: str, given: torch.Tensor) -> torch.Tensor:
    """Refuse a NaN/inf result of finite inputs: float32 activations overflowed."""
    if not bool(torch.isfinite(out).all()):
        raise ValueError(
            f"{name} is too large for this float32 network (max |{name}| = "
            f"{float(given.abs().max()):.3g}): its activations overflowed to inf/NaN. Typical "
            f"values are a few units; rescale {name}."
        )
    return out
