"""Random affine augmentation of image batches: rotations, shifts, scalings, mirror images."""

from __future__ import annotations

import numpy as np
import torch

from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import as_tensor, check_images, check_int, check_positive
from lessons_lib.data.splits import _check_bool
from lessons_lib.data.toy2d import _check_seed

MAX_ELEMENTS = 2**31  # values in the output of ``augment`` (copies · N · C · H · W)


def augment(
    images: torch.Tensor | np.ndarray,
    *,
    max_rotation: float = 10.0,
    max_shift: float = 0.5,
    max_scale: float = 0.1,
    hflip: bool = False,
    copies: int = 1,
    seed: int | None = None,
) -> torch.Tensor:
    """Random rotations, shifts and scalings (and, optionally, mirror images) of a batch.

    Each output image is the input under its own random affine map, drawn uniformly: a
    rotation in ``[-max_rotation, max_rotation]`` degrees, a shift of up to ``max_shift``
    pixels along each axis and a scaling by a factor in ``[1 - max_scale, 1 + max_scale]``,
    resampled bilinearly with black (0) outside the image. With ``hflip`` half of the images
    are also mirrored left to right (right for clothes, wrong for digits: a mirrored 3 is not
    a digit).

    Parameters
    ----------
    images : (N, C, H, W), values in [0, 1]
    max_rotation : float, degrees, >= 0
    max_shift : float, pixels, >= 0
    max_scale : float in [0, 1)
    hflip : bool
    copies : int
        Stack this many independently augmented copies of the batch; the result may hold at
        most ``MAX_ELEMENTS`` (2**31) values.
    seed : int, optional

    Returns
    -------
    Tensor, shape (copies · N, C, H, W), values in [0, 1], on the images' device
    """
    check_images(images, "images")
    hflip = _check_bool(hflip, "hflip")
    max_rotation = check_positive(max_rotation, "max_rotation", strict=False)
    max_shift = check_positive(max_shift, "max_shift", strict=False)
    max_scale = check_positive(max_scale, "max_scale", strict=False)
    if max_scale >= 1:
        raise ValueError(f"max_scale must lie in [0, 1), got {max_scale}.")
    copies = _check_copies(copies, images)
    seed = _check_seed(seed)
    x = as_tensor(images, dtype=torch.float32).repeat(copies, 1, 1, 1)
    n, _, height, width = x.shape
    theta = _random_affine(
        n, height, width, max_rotation, max_shift, max_scale, hflip, make_generator(seed)
    )
    grid = torch.nn.functional.affine_grid(
        theta.to(x.device, torch.float32), list(x.shape), align_corners=False
    )
    out = torch.nn.functional.grid_sample(x, grid, mode="bilinear", align_corners=False)
    return out.clamp(0, 1)


def _check_copies(copies: object, images: torch.Tensor | np.ndarray) -> int:
    """``copies`` >= 1, and small enough that the result holds at most ``MAX_ELEMENTS`` values."""
    copies = check_int(copies, "copies", min_value=1)
    per_copy = images.numel() if isinstance(images, torch.Tensor) else images.size
    if copies * per_copy > MAX_ELEMENTS:
        # Python integers: the product cannot overflow, however absurd ``copies`` is.
        raise ValueError(
            f"copies={copies} of a batch of {per_copy} values would make {copies * per_copy} "
            f"values, more than {MAX_ELEMENTS} (2**31, 8 GiB in float32). Pass a smaller "
            f"copies, at most {max(1, MAX_ELEMENTS // per_copy)} for this batch, or augment it "
            "in chunks."
        )
    return copies


def _random_affine(
    n: int,
    height: int,
    width: int,
    max_rotation: float,
    max_shift: float,
    max_scale: float,
    hflip: bool,
    gen: torch.Generator,
) -> torch.Tensor:
    """``n`` random inverse affine maps for ``affine_grid``: shape (n, 2, 3), float64.

    The draws come in a fixed order (angles, scales, mirrors, x shifts, y shifts): changing it
    would change every augmented image of a given seed.
    """

    def uniform(bound: float) -> torch.Tensor:
        return (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1) * bound

    angle = torch.deg2rad(uniform(max_rotation))
    scale = 1 + uniform(max_scale)
    # affine_grid maps output coordinates in [-1, 1] to input ones: the inverse transform.
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    mirror = torch.ones(n, dtype=torch.float64)
    if hflip:
        mirror = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).double()
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 1] = cos * mirror, -sin * height / width
    theta[:, 1, 0], theta[:, 1, 1] = sin * mirror * width / height, cos
    theta[:, 0, 2] = uniform(max_shift) * 2 / width
    theta[:, 1, 2] = uniform(max_shift) * 2 / height
    # A shift that moves the image wholly out of the frame gives a black image; clipping it just
    # beyond that point keeps the result exact and stops a huge max_shift from turning into
    # inf (then NaN) in float32. The sampled coordinates along row r reach at most
    # |theta_r0| + |theta_r1| from the shift, and at 1 + 2/size every tap falls outside.
    reach = theta[:, :, :2].abs().sum(-1) + 1 + 4 / torch.tensor([width, height]).double() + 1
    theta[:, :, 2] = torch.maximum(torch.minimum(theta[:, :, 2], reach), -reach)
    return theta
