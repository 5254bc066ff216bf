"""The course's recommended GAN training settings, by architecture and loss.

The DCGAN settings are those of Radford et al. (2016): Adam with learning rate 2e-4 and
:math:`\\beta_1 = 0.5` (batches of 64 here, 128 in the paper). WGAN-GP takes five critic
steps per generator step and :math:`\\beta = (0, 0.9)` with :math:`\\lambda = 10` (Gulrajani
et al., 2017). The 2-D MLPs add a linear learning-rate decay and an exponential moving average
of the generator's weights (Yazıcı et al., 2019), which the 0.02-wide modes of the ring need.
"""

from __future__ import annotations

from typing import Any

from lessons_lib.core.loop import check_adam, check_count
from lessons_lib.core.validation import check_one_of, check_positive
from lessons_lib.gan.losses import LOSSES
from lessons_lib.gan.networks import ARCHS

__all__ = ["RECOMMENDED", "recommended_settings"]

#: The course's recommended training settings, by architecture, then by loss. ``steps`` is
#: the number of generator updates :func:`train_gan` aims for when ``epochs`` is not given.
RECOMMENDED: dict[str, dict[str, dict]] = {
    "mlp": {
        "default": {
            "steps": 4000,
            "batch_size": 256,
            "lr_g": 1e-3,
            "lr_d": 1e-3,
            "betas": (0.5, 0.999),
            "d_steps": 1,
            "lr_decay": True,
            "gp_weight": 0.0,
            "ema_decay": 0.999,
        },
        "wgan-gp": {
            "lr_g": 1e-3,
            "lr_d": 1e-3,
            "betas": (0.5, 0.9),
            "d_steps": 5,
            "gp_weight": 10.0,
        },
    },
    "dcgan": {
        "default": {
            "steps": 3000,
            "batch_size": 64,
            "lr_g": 2e-4,
            "lr_d": 2e-4,
            "betas": (0.5, 0.999),
            "d_steps": 1,
            "lr_decay": False,
            "gp_weight": 0.0,
            "ema_decay": 0.0,
        },
        "wgan-gp": {
            "lr_g": 1e-4,
            "lr_d": 1e-4,
            "betas": (0.0, 0.9),
            "d_steps": 5,
            "gp_weight": 10.0,
        },
    },
}


def recommended_settings(arch: str, loss: str) -> dict:
    """The recommended ``steps``, ``batch_size``, ``lr_g``, ``lr_d``, ``betas``, ``d_steps``."""
    check_one_of(arch, "arch", ARCHS)
    check_one_of(loss, "loss", LOSSES)
    return {**RECOMMENDED[arch]["default"], **RECOMMENDED[arch].get(loss, {})}


def _step_settings(
    settings: dict, *, lr_g: Any, lr_d: Any, betas: Any, d_steps: Any, gp_weight: Any
) -> dict[str, Any]:
    """Checked Adam and step settings; each None takes its value from ``settings``.

    Returns ``lr_g``, ``lr_d``, ``betas``, ``d_steps`` and ``gp_weight``, checked in that
    order (so the first bad one is the one named).
    """
    betas = settings["betas"] if betas is None else betas
    lr_g, betas = check_adam(lr_g if lr_g is not None else settings["lr_g"], betas, "lr_g")
    lr_d = check_adam(lr_d if lr_d is not None else settings["lr_d"], betas, "lr_d")[0]
    d_steps = check_count(d_steps if d_steps is not None else settings["d_steps"], "d_steps")
    gp_weight = check_positive(
        gp_weight if gp_weight is not None else settings["gp_weight"], "gp_weight", strict=False
    )
    return {"lr_g": lr_g, "lr_d": lr_d, "betas": betas, "d_steps": d_steps, "gp_weight": gp_weight}
