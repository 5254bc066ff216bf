"""Reference degradations of a set of images: blur, additive noise, uniform noise.

The calibration rows of :mod:`lessons_lib.evaluation.calibration` apply them to held-out
images, so that a metric's value can be read against images known to be slightly or very
wrong, as Heusel et al. 2017 judged the FID on blurred and noisy images; uniform noise is the
worst case.

Seeds: every draw goes through :func:`lessons_lib.core.random.make_generator` on the CPU, so
an integer seed gives the same images on every device. ``seed=None`` draws the generator's
seed from torch's global CPU generator (reproducible after ``seed_everything``, and it
advances that generator); before ``make_generator``, it came from the operating system's
entropy and left the global generator alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from lessons_lib.core.device import resolve_device
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import ArrayLike, as_tensor, check_int, check_positive, like_input
from lessons_lib.evaluation._inputs import MAX_ELEMENTS, _check_seed, _checked_images

__all__ = ["add_gaussian_noise", "gaussian_blur", "uniform_noise_images"]


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
    kernels = []
    for axis, size in ((3, w), (2, h)):
        radius = min(max(1, reach), size - 1)  # reflect padding needs radius < size
        if radius == 0:
            continue  # a single pixel along this axis: nothing to blur
        # (offset / σ)² in float64: offset² / σ² overflows for a large σ, underflows for a tiny.
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
        kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
        kernels.append((axis, radius, (kernel / kernel.sum()).to(torch.float32)))
    # In chunks of images: conv2d's workspace grows with the kernel width (about 20 times the
    # input for sigma = 1 px), which for 10,000 Fashion-MNIST images was 600 MB at once.
    flat = x.reshape(n * c, 1, h, w)
    y = torch.cat([_blur_chunk(chunk, kernels) for chunk in flat.split(1024)]) if n * c else flat
    return like_input(y.reshape(n, c, h, w).clamp(0.0, 1.0), images)


def _blur_chunk(y: torch.Tensor, kernels: list[tuple[int, int, torch.Tensor]]) -> torch.Tensor:
    for axis, radius, kernel in kernels:
        kernel = kernel.to(y.device)
        if axis == 3:
            y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
        else:
            y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return y


#: Beyond this std every nonzero draw pushes a pixel far past 0 or 1: clipping gives the same
#: image as any larger std, and std · noise stays finite in float32 (inf · 0 would be NaN).
_MAX_EFFECTIVE_STD = 1e30


def add_gaussian_noise(images: ArrayLike, std: float, *, seed: int | None = None) -> ArrayLike:
    """Add N(0, std²) noise to every pixel and clip to [0, 1]; same shape and type as input.

    ``std = 0`` returns the images unchanged (as float32); ``seed`` is None or an integer in
    [0, 2**32) (None: see the module's note on seeds).
    """
    _checked_images(images, "images")
    std = check_positive(std, "std", strict=False)
    generator = make_generator(_check_seed(seed, allow_none=True))
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

    The result may hold at most ``MAX_ELEMENTS`` (2**31) values: ``n · prod(shape)``. The
    pixels are drawn on the CPU, so a ``seed`` gives the same images on every device (None:
    see the module's note on seeds).
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
    generator = make_generator(_check_seed(seed, allow_none=True))
    target = resolve_device(device)
    noise = torch.rand((n, *shape), generator=generator)
    return noise.to(target)
