"""Conjugate gradients for the symmetric positive definite systems of image restoration."""

from __future__ import annotations

from collections.abc import Callable

import torch


def conjugate_gradient(
    apply: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    start: torch.Tensor,
    *,
    max_iter: int = 50,
    rtol: float = 1e-6,
) -> torch.Tensor:
    """Solve ``M x = rhs`` for a symmetric positive definite M given as ``apply(x) = M x``.

    Parameters
    ----------
    apply : callable, Tensor (H, W) → Tensor (H, W)
    rhs, start : Tensor, shape (H, W)
        The right-hand side and the first guess (EPLL passes the previous image).
    max_iter : int
    rtol : float
        Stop when the residual's norm falls below ``rtol`` times the right-hand side's.

    Returns
    -------
    Tensor, shape (H, W)
    """
    x = start.clone()
    residual = rhs - apply(x)
    direction = residual.clone()
    norm = (residual * residual).sum()
    target = (rtol * rhs.norm()) ** 2
    for _ in range(max_iter):
        if norm <= target:
            break
        image = apply(direction)
        step = norm / (direction * image).sum()
        x = x + step * direction
        residual = residual - step * image
        new_norm = (residual * residual).sum()
        direction = residual + (new_norm / norm) * direction
        norm = new_norm
    return x
