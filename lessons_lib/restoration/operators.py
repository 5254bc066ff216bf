"""The degradations of image restoration, as linear operators with their exact adjoints.

Each operator ``A`` maps a clean grey image x (H, W) to what is observed, ``y = A x + noise``:
the identity (denoising), a pixel mask (inpainting: only observed pixels are kept), a known
blur (deblurring), a blur followed by keeping every ``factor``-th pixel (super-resolution).
EPLL's image step solves ``(λ AᵀA + β C) x = λ Aᵀ y + β Σ P_iᵀ z_i``; it needs ``A`` and
``Aᵀ``, and uses :meth:`LinearOperator.gram_diagonal` (``AᵀA`` when it is diagonal) to solve in
closed form instead of by conjugate gradients.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from lessons_lib.core.validation import check_array, check_int


class LinearOperator:
    """``y = A x`` on grey images; subclasses define :meth:`forward` and :meth:`adjoint`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def gram_diagonal(self, like: torch.Tensor) -> torch.Tensor | None:
        """``AᵀA`` as the image (H, W) of its diagonal when it is diagonal, else None."""
        return None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)


class Identity(LinearOperator):
    """Denoising: ``y = x + noise``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def gram_diagonal(self, like: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(like)


class Mask(LinearOperator):
    """Inpainting: the observed pixels are kept, the others read as 0.

    Parameters
    ----------
    observed : Tensor, shape (H, W), bool
        True where a pixel is observed (the course's inpainting convention).
    """

    def __init__(self, observed: torch.Tensor) -> None:
        check_array(observed, "observed", ndim=2, kinds="b")
        self.observed = observed
        self.shape = tuple(observed.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gram_diagonal(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.gram_diagonal(y)

    def gram_diagonal(self, like: torch.Tensor) -> torch.Tensor:
        return self.observed.to(dtype=like.dtype, device=like.device)


def gaussian_kernel(std: float, radius: int | None = None) -> torch.Tensor:
    """A normalised 2-D Gaussian blur kernel, shape (2r + 1, 2r + 1), r = ceil(3 std)."""
    if not std > 0:
        raise ValueError(f"std must be positive, got {std!r}.")
    radius = int(-(-3 * std // 1)) if radius is None else check_int(radius, "radius", min_value=0)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    profile = torch.exp(-0.5 * (offsets / std) ** 2)
    kernel = profile[:, None] * profile[None, :]
    return kernel / kernel.sum()


class Blur(LinearOperator):
    """Deblurring: ``y = k * x``, a 'valid-free' convolution that keeps the image's size.

    Outside the image the clean image is taken as 0 (zero padding), which makes the adjoint
    exact: the correlation with the same kernel, zero-padded the same way.

    Parameters
    ----------
    kernel : Tensor, shape (h, w), odd sides
    """

    def __init__(self, kernel: torch.Tensor) -> None:
        check_array(kernel, "kernel", ndim=2, kinds="f")
        if kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
            raise ValueError(f"kernel must have odd sides, got shape {tuple(kernel.shape)}.")
        self.kernel = kernel
        self._pad = (kernel.shape[0] // 2, kernel.shape[1] // 2)

    def _weight(self, x: torch.Tensor, flip: bool) -> torch.Tensor:
        k = self.kernel.to(dtype=x.dtype, device=x.device)
        # conv2d correlates: flipping the kernel makes it a convolution
        return (k.flip(0, 1) if flip else k)[None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x[None, None], self._weight(x, flip=True), padding=self._pad)[0, 0]

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return F.conv2d(y[None, None], self._weight(y, flip=False), padding=self._pad)[0, 0]


class Downsample(LinearOperator):
    """Super-resolution: blur, then keep every ``factor``-th pixel: (H, W) → (H/f, W/f).

    Parameters
    ----------
    factor : int
        The sides H and W of the clean image must be multiples of it.
    kernel : Tensor, shape (h, w), odd sides, optional
        The anti-alias blur before decimation (default: a Gaussian of std ``factor / 2``).
    """

    def __init__(self, factor: int, kernel: torch.Tensor | None = None) -> None:
        self.factor = check_int(factor, "factor", min_value=1)
        self.blur = Blur(gaussian_kernel(0.5 * self.factor) if kernel is None else kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] % self.factor or x.shape[1] % self.factor:
            raise ValueError(
                f"the image's sides {tuple(x.shape)} must be multiples of factor={self.factor}."
            )
        return self.blur.forward(x)[:: self.factor, :: self.factor]

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        up = y.new_zeros(y.shape[0] * self.factor, y.shape[1] * self.factor)
        up[:: self.factor, :: self.factor] = y
        return self.blur.adjoint(up)
