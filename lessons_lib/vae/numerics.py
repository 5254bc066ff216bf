"""Numerical guards of the VAE family: bounded memory, and no silent NaN or overflow.

Every Monte Carlo estimate of the family (the ELBO and IWAE bounds of Kingma & Welling 2014
and Burda et al. 2016, importance-sampled completion, discrete likelihoods) evaluates a
(samples × examples × pixels) block at a time, at most :data:`BLOCK_ELEMENTS` elements, so
memory stays bounded whatever the number of samples. A NaN or infinite result of finite
inputs is refused with a message that says whether the weights or the input are to blame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lessons_lib.core.validation import MAX_TENSOR_ELEMENTS, as_tensor

__all__ = ["BLOCK_ELEMENTS", "MAX_ELEMENTS", "finite_result", "no_nan", "randn"]

#: Elements of a (samples × examples × pixels) block evaluated at once: bounds memory.
BLOCK_ELEMENTS = 1 << 22
#: Most elements a single tensor of one call may have (4 GiB of float32).
MAX_ELEMENTS = MAX_TENSOR_ELEMENTS


def randn(
    shape: Sequence[int],
    gen: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal draws of ``shape`` from ``gen`` (None: torch's global generator)."""
    return torch.randn(tuple(shape), generator=gen, device=device, dtype=dtype)


def finite_result(module: nn.Module, value: torch.Tensor, name: str, given: Any) -> torch.Tensor:
    """Refuse a NaN/inf result of finite inputs, saying whether the weights or the input."""
    if bool(torch.isfinite(value).all()):
        return value
    if not all(bool(torch.isfinite(p).all()) for p in module.parameters()):
        raise ValueError(
            "the model's weights hold NaN or inf (training diverged?): retrain or reload it."
        )
    largest = float(as_tensor(given).detach().abs().max())
    dtype = next(module.parameters()).dtype
    raise ValueError(
        f"{name} is too large for this {dtype} model (max |{name}| = {largest:.3g}): the "
        f"result overflows {dtype}. Rescale {name}, or convert the model with .double()."
    )


def no_nan(value: torch.Tensor, name: str, given: Any) -> torch.Tensor:
    """Refuse a NaN result of finite inputs: the network's activations overflowed."""
    if bool(torch.isnan(value).any()):
        largest = float(as_tensor(given).abs().max()) if given is not None else math.nan
        raise ValueError(
            f"{name} is too large for this model (max |{name}| = {largest:.3g}): its "
            f"activations overflowed to inf/NaN. Typical values are a few units; rescale {name}."
        )
    return value
