r"""``train_vae``: the course's recipe for training a VAE, over the one training loop.

The recipe: Adam (Kingma & Ba 2015) on the β-weighted negative ELBO (β-VAE, Higgins et al.
2017), with a KL warm-up that raises β linearly from 0 (Bowman et al. 2016; Sønderby et al.
2016) and a cosine decay of the learning rate to 5% (Loshchilov & Hutter 2017). The wrapper
only schedules: every step is the model's public ``training_step(batch, optimizers,
beta=...)``, run by :func:`lessons_lib.core.loop.train_loop`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.loop import (
    MAX_LOOP_SEED,
    MAX_LR,
    History,
    TrainingDiverged,
    check_callable,
    check_count,
    train_loop,
)
from lessons_lib.core.validation import (
    ArrayLike,
    as_tensor,
    check_bool,
    check_positive,
    check_seed,
)
from lessons_lib.vae.linear import LinearGaussianVAE
from lessons_lib.vae.model import VAE
from lessons_lib.vae.objective import ELBOModule

__all__ = ["train_vae"]

#: Floor of the cosine learning-rate decay, as a fraction of ``lr``.
LR_FLOOR = 0.05


def train_vae(
    model: VAE | LinearGaussianVAE,
    data: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    epochs: int | None = None,
    beta: float = 1.0,
    batch_size: int = 64,
    lr: float = 2e-3,
    warmup_epochs: int | None = None,
    validation: Sequence[ArrayLike] | None = None,
    patience: int | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, History], None] | None = None,
) -> History:
    r"""Train a VAE by maximising the (β-weighted) ELBO with Adam, through ``train_loop``.

    The loss of a batch is :math:`-\frac1B\sum_i\big[E_q\log p(x_i\mid z) - \beta_t\,
    \mathrm{KL}(q(z\mid x_i)\|p(z))\big]` with one reparameterized draw per example;
    :math:`\beta_t` rises linearly from 0 to ``beta`` over ``warmup_epochs`` (KL warm-up, so
    the latent units are in use before the KL starts pulling them to the prior), and the
    learning rate decays with a cosine to 5% of ``lr``. The defaults are the course's
    recommended settings.

    Parameters
    ----------
    model : VAE or LinearGaussianVAE
    data : Tensor, shape (N, C, H, W) (VAE) or (N, D) (LinearGaussianVAE)
    labels : Tensor (N,) int64, for a conditional VAE
    epochs : int, optional
        Default: about 4,000 optimisation steps, between 5 and 200 epochs (200 epochs of the
        1,259 training digits, 5 of Fashion-MNIST's 55,000 images).
    beta : float
        Weight of the KL term (β-VAE; β = 1 is the ELBO).
    batch_size : int
    lr : float
        Adam's initial learning rate.
    warmup_epochs : int, optional
        KL warm-up length (default: a tenth of the epochs; 0 switches it off).
    validation : (x_val,) or (x_val, labels_val), optional
        Logs ``val_elbo`` (ELBO in nats, mean per example) and ``val_loss`` (its negative)
        after each epoch.
    patience : int, optional
        Early stopping on ``val_loss`` after this many epochs (>= 1) without improvement
        (needs ``validation``); the best weights are restored.
    seed : int, optional
        Seeds the shuffling and the draws of z (see Notes); an integer in [0, 2**32).
    device : optional
        Default ``get_device()``.
    progress : bool
        Progress bar.
    on_epoch_end : callable, optional
        Passed on to ``train_loop``.

    Returns
    -------
    History
        Per-epoch means of ``loss``, ``elbo``, ``reconstruction`` and ``kl`` (nats per
        example; ``elbo`` uses β = 1), ``beta``, and ``val_elbo``/``val_loss`` with
        ``validation``.

    Notes
    -----
    ``seed`` seeds the shuffling and the draws of z; the initial weights are seeded by the
    model's own ``seed=`` argument.
    """
    plan = _check_arguments(
        model,
        data,
        labels,
        epochs=epochs,
        beta=beta,
        batch_size=batch_size,
        lr=lr,
        warmup_epochs=warmup_epochs,
        validation=validation,
        patience=patience,
        seed=seed,
        progress=progress,
        on_epoch_end=on_epoch_end,
    )
    target = resolve_device(device)
    model.to(target)
    step = _scheduled_step(model, plan, math.ceil(len(data) / plan.batch_size))
    tensors = _training_tensors(data, labels)
    try:
        return _run_loop(model, step, tensors, plan, target, on_epoch_end)
    except TrainingDiverged as err:
        raise TrainingDiverged(
            f"{err} The settings were lr={plan.lr:g}, beta={plan.beta:g}, "
            f"batch_size={plan.batch_size}, warmup_epochs={plan.warmup}."
        ) from err


def _training_tensors(data: ArrayLike, labels: ArrayLike | None) -> list[torch.Tensor]:
    """The loop's data: float32 images, then int64 labels for a conditional VAE."""
    tensors = [as_tensor(data, dtype=torch.float32)]
    if labels is not None:
        tensors.append(as_tensor(labels, dtype=torch.int64))
    return tensors


def _run_loop(
    model: ELBOModule,
    step: Callable[[list[torch.Tensor]], dict[str, float]],
    tensors: list[torch.Tensor],
    plan: _Plan,
    target: torch.device,
    on_epoch_end: Callable[[int, History], None] | None,
) -> History:
    """:func:`train_loop` with the checked settings of ``plan``, validating on its data."""
    return train_loop(
        step,
        tensors,
        modules=model,
        epochs=plan.epochs,
        batch_size=plan.batch_size,
        seed=plan.seed,
        device=target,
        progress=plan.progress,
        validate=_validator(model, plan.val_x, plan.val_labels, target),
        patience=plan.patience,
        on_epoch_end=on_epoch_end,
        desc=f"VAE ({model.__class__.__name__})",
    )


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The checked settings of one :func:`train_vae` run."""

    beta: float
    lr: float
    batch_size: int
    seed: int | None
    progress: bool
    patience: int | None
    epochs: int
    warmup: int
    val_x: Any
    val_labels: Any


def _check_arguments(model: Any, data: Any, labels: Any, **kw: Any) -> _Plan:
    """Every argument of :func:`train_vae` checked before any work, in the order it had."""
    if not isinstance(model, ELBOModule):
        raise TypeError(f"model must be a VAE or LinearGaussianVAE, got {type(model).__name__}.")
    beta = check_positive(kw["beta"], "beta", strict=False)
    lr = check_positive(kw["lr"], "lr")
    if lr > MAX_LR:
        raise ValueError(f"lr must be at most {MAX_LR:.3g} (float32), got {lr:g}.")
    batch_size = check_count(kw["batch_size"], "batch_size")
    seed = check_seed(kw["seed"], max_value=MAX_LOOP_SEED)
    progress = check_bool(kw["progress"], "progress")
    check_callable(kw["on_epoch_end"], "on_epoch_end")
    patience = kw["patience"]
    if patience is not None:
        patience = check_count(patience, "patience")
    model.check_training_data(data, labels)
    epochs = _default_epochs(len(data), batch_size) if kw["epochs"] is None else kw["epochs"]
    epochs = check_count(epochs, "epochs")
    warmup = max(1, epochs // 10) if kw["warmup_epochs"] is None else kw["warmup_epochs"]
    warmup = check_count(warmup, "warmup_epochs", min_value=0)
    val_x, val_labels = _validation_parts(kw["validation"])
    if val_x is not None:
        model.check_training_data(val_x, val_labels, names=("validation[0]", "validation[1]"))
    if patience is not None and val_x is None:
        raise ValueError("patience needs validation=(x_val,) or (x_val, labels_val).")
    return _Plan(beta, lr, batch_size, seed, progress, patience, epochs, warmup, val_x, val_labels)


def _scheduled_step(model: ELBOModule, plan: _Plan, steps_per_epoch: int):
    """The loop's ``step``: ``model.training_step`` with the KL warm-up and the cosine decay."""
    optimizers = model.configure_optimizers(lr=plan.lr)
    total_steps = plan.epochs * steps_per_epoch
    schedules = [_cosine_decay(opt, total_steps) for opt in optimizers.values()]
    counter = {"step": 0}

    def step(batch: list[torch.Tensor]) -> dict[str, float]:
        weight = _kl_weight(plan.beta, plan.warmup, counter["step"] / steps_per_epoch)
        terms = model.training_step(batch, optimizers, beta=weight)
        for schedule in schedules:
            schedule.step()
        counter["step"] += 1
        return terms

    return step


def _default_epochs(n: int, batch_size: int) -> int:
    """About 4,000 optimisation steps, between 5 and 200 passes over the data."""
    steps_per_epoch = math.ceil(n / batch_size)
    return int(min(200, max(5, round(4000 / steps_per_epoch))))


def _kl_weight(beta: float, warmup: int, epoch: float) -> float:
    """β at (fractional) ``epoch``: rising linearly from 0 over ``warmup`` epochs, then β."""
    return beta * min(1.0, epoch / warmup) if warmup > 0 else beta


def _cosine_decay(
    optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning rate times a cosine from 1 down to ``LR_FLOOR`` over ``total_steps``."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda t: (
            LR_FLOOR
            + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * min(t, total_steps) / total_steps))
        ),
    )


def _validator(
    model: ELBOModule, val_x: Any, val_labels: Any, target: torch.device
) -> Callable[[], dict[str, float]] | None:
    """``val_elbo`` (seed 0, so every epoch sees the same draws) and ``val_loss``, its negative."""
    if val_x is None:
        return None
    vx = as_tensor(val_x, dtype=torch.float32, device=target)
    vy = None if val_labels is None else as_tensor(val_labels, device=target)

    def validate() -> dict[str, float]:
        elbo = float(model.elbo(vx, vy, seed=0).mean())
        return {"val_elbo": elbo, "val_loss": -elbo}

    return validate


def _validation_parts(validation: Any) -> tuple[Any, Any]:
    if validation is None:
        return None, None
    if isinstance(validation, torch.Tensor | np.ndarray):
        return validation, None
    if isinstance(validation, str | bytes) or not isinstance(validation, Sequence):
        raise TypeError(
            f"validation must be (x_val,) or (x_val, labels_val), got {type(validation).__name__}."
        )
    parts = list(validation)
    if len(parts) not in (1, 2):
        raise ValueError(
            f"validation must be (x_val,) or (x_val, labels_val), got {len(parts)} entries."
        )
    return parts[0], parts[1] if len(parts) == 2 else None
