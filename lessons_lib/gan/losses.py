"""The four classic GAN losses, the gradient penalty, and what D's outputs mean.

With logits :math:`\\ell` and :math:`D = \\sigma(\\ell)`:

==================  ======================================  ===========================
loss                discriminator minimises                 generator minimises
==================  ======================================  ===========================
``minimax``         :math:`-\\log D(x) - \\log(1-D(G(z)))`    :math:`\\log(1 - D(G(z)))`
``non-saturating``  same                                    :math:`-\\log D(G(z))`
``hinge``           :math:`[1-\\ell(x)]_+ + [1+\\ell(G(z))]_+`  :math:`-\\ell(G(z))`
``wgan-gp``         :math:`\\ell(G(z)) - \\ell(x) + \\lambda\\,GP`  :math:`-\\ell(G(z))`
==================  ======================================  ===========================

Papers: the minimax game and its non-saturating generator loss (Goodfellow et al., 2014); the
hinge loss (Lim & Ye, 2017, "Geometric GAN"; used by Miyato et al., 2018, with spectral
normalisation); the Wasserstein critic with a gradient penalty (Gulrajani et al., 2017).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LOSSES"]

LOSSES = ("non-saturating", "minimax", "hinge", "wgan-gp")


def _discriminator_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Loss of D given logits on a real and a fake batch (both (B,))."""
    if loss in ("minimax", "non-saturating"):
        # -[log D(x) + log(1 - D(G(z)))] with log σ(l) = -softplus(-l), log(1-σ(l)) = -softplus(l)
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if loss == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return fake.mean() - real.mean()  # wgan-gp, the penalty is added by the caller


def _generator_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """Loss of G given the discriminator's logits on a fake batch (B,)."""
    if loss == "minimax":
        return -F.softplus(fake).mean()  # E log(1 - D(G(z))), minimised: saturates when D wins
    if loss == "non-saturating":
        return F.softplus(-fake).mean()  # -E log D(G(z))
    return -fake.mean()  # hinge and wgan-gp


def _gradient_penalty(
    discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, labels
) -> torch.Tensor:
    """WGAN-GP: E (||∇ℓ(x̂)|| - 1)^2 on random points x̂ between real and fake."""
    shape = (len(real),) + (1,) * (real.ndim - 1)
    t = torch.rand(shape, device=real.device)
    mixed = (t * real + (1 - t) * fake).requires_grad_(True)
    logits = discriminator(mixed, labels)
    (grad,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Freeze a module's weights for the generator's step: gradients reach the inputs only."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def _mean_output(loss: str, logits: torch.Tensor) -> torch.Tensor:
    """D's mean output, 0-d: a probability σ(ℓ) for the cross-entropy losses, else the raw score."""
    values = torch.sigmoid(logits) if loss in ("minimax", "non-saturating") else logits
    return values.mean()


def _discriminator_terms(
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor | None,
    loss: str,
    gp_weight: float,
) -> dict[str, torch.Tensor]:
    """D's loss on a real and a (detached) fake batch, its mean outputs and the penalty (0-d)."""
    real_logits, fake_logits = discriminator(real, labels), discriminator(fake, labels)
    d_loss = _discriminator_loss(loss, real_logits, fake_logits)
    penalty = {}
    if gp_weight > 0:
        with torch.enable_grad():  # also under no_grad (validation): it is a gradient
            gp = _gradient_penalty(discriminator, real, fake, labels)
        d_loss = d_loss + gp_weight * gp
        penalty["grad_penalty"] = gp
    return {
        "d_loss": d_loss,
        "d_real": _mean_output(loss, real_logits.detach()),
        "d_fake": _mean_output(loss, fake_logits.detach()),
        **penalty,
    }


def _generator_term(
    discriminator: nn.Module, fake: torch.Tensor, labels: torch.Tensor | None, loss: str
) -> torch.Tensor:
    """G's loss on its fakes, scored by D with D's weights frozen."""
    with _frozen(discriminator):
        return _generator_loss(loss, discriminator(fake, labels))
