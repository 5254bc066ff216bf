"""The state of one adversarial training run: its settings, learning-rate decay and weight average.

:meth:`GAN.configure_optimizers <lessons_lib.gan.GAN.configure_optimizers>` starts a run
(:func:`start_run`) and keeps it as the model's ``adversarial_run``;
:meth:`GAN.training_step <lessons_lib.gan.GAN.training_step>` reads its settings (the loss,
the discriminator steps per generator step, the gradient-penalty weight) and calls
:meth:`AdversarialRun.after_generator_update` after each generator update;
:meth:`GAN.finish_training <lessons_lib.gan.GAN.finish_training>` ends it.

* Linear learning-rate decay to 0 over the run: Adam's noise scales with the learning rate,
  so the last steps refine instead of jittering.
* An exponential moving average of the generator's weights (Yazıcı et al., 2019, "The
  unusual effectiveness of averaging in GAN training"): the players circle the equilibrium
  rather than sit on it, and the average sits closer. Its batch-norm statistics are then
  re-estimated for the averaged weights (Ioffe & Szegedy, 2015).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["AdversarialRun", "start_run"]


@dataclass
class AdversarialRun:
    """Settings and state of one training run of a :class:`~lessons_lib.gan.GAN`.

    Attributes
    ----------
    loss : str
        One of :data:`~lessons_lib.gan.LOSSES`.
    d_steps : int
        Discriminator updates per generator update.
    gp_weight : float
        Weight of the gradient penalty (0: none).
    ema_decay : float
        Decay of the generator's weight average (0: no average).
    schedules : list of LambdaLR
        The learning-rate schedules (empty without decay), stepped after each G update.
    average : list of Tensor or None
        The averaged generator weights, in ``generator.parameters()`` order.
    ema_updates : int
        Updates averaged so far (the warm-up counter).
    """

    loss: str = "non-saturating"
    d_steps: int = 1
    gp_weight: float = 0.0
    ema_decay: float = 0.0
    schedules: list[Any] = field(default_factory=list)
    average: list[torch.Tensor] | None = None
    ema_updates: int = 0

    def after_generator_update(self, generator: nn.Module) -> None:
        """Step the learning-rate schedules and fold ``generator``'s weights into the average."""
        for schedule in self.schedules:
            schedule.step()
        if self.average is None:
            return
        # Warm-up (as TensorFlow's ExponentialMovingAverage with num_updates): early on the
        # decay is (1 + t) / (10 + t), so a short run is not averaged back to its init.
        self.ema_updates += 1
        decay = min(self.ema_decay, (1 + self.ema_updates) / (10 + self.ema_updates))
        with torch.no_grad():
            torch._foreach_lerp_(self.average, list(generator.parameters()), 1.0 - decay)

    def load_average(self, generator: nn.Module) -> bool:
        """Copy the averaged weights into ``generator``; False when there is no average."""
        if self.average is None:
            return False
        with torch.no_grad():
            for param, mean in zip(generator.parameters(), self.average):
                param.copy_(mean)
        return True


def start_run(
    optimizers: dict[str, torch.optim.Optimizer],
    generator: nn.Module,
    *,
    loss: str,
    d_steps: int,
    gp_weight: float,
    lr_decay: bool,
    total_steps: int | None,
    ema_decay: float,
) -> AdversarialRun:
    """A new run over checked settings: schedules on ``optimizers``, the average of ``generator``.

    With ``lr_decay``, both learning rates fall linearly to 0 over ``total_steps`` generator
    updates; with ``ema_decay > 0`` the average starts at the generator's current weights.
    """
    schedules = []
    if lr_decay:
        schedules = [
            torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.0, 1.0 - k / total_steps))
            for opt in (optimizers["generator"], optimizers["discriminator"])
        ]
    average = [p.detach().clone() for p in generator.parameters()] if ema_decay > 0 else None
    return AdversarialRun(loss, d_steps, gp_weight, ema_decay, schedules, average)


def recalibrate_batch_norm(
    generator: nn.Module,
    latent_dim: int,
    labels: torch.Tensor | None,
    batch_size: int,
    n_batches: int = 50,
) -> None:
    """Re-estimate the generator's batch-norm statistics for its current (averaged) weights.

    The running statistics were gathered with the raw weights; averaged weights produce
    slightly different activations. Resetting them and averaging over ``n_batches`` fresh
    batches of ``batch_size`` (momentum None: a plain mean) makes sampling in evaluation mode
    match the averaged generator. ``labels`` (a conditional generator's training labels) are
    drawn with replacement for each batch. Uses torch's global random state.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    device = next(generator.parameters()).device
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    generator.train()
    with torch.no_grad():
        for _ in range(n_batches):
            z = torch.randn(batch_size, latent_dim, device=device)
            y = None
            if labels is not None:
                y = labels[torch.randint(len(labels), (batch_size,), device=labels.device)]
                y = y.to(device)
            generator(z, y)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    generator.eval()
