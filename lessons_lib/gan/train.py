"""Training a GAN: :func:`train_gan`, a thin wrapper over the course's one loop.

It checks every argument before any work, fills the gaps from the recommended settings
(:mod:`lessons_lib.gan.recommended`: DCGAN, Radford et al. 2016; WGAN-GP, Gulrajani et al.
2017), starts a run with ``GAN.configure_optimizers``, hands ``GAN.training_step`` to
:func:`lessons_lib.core.loop.train_loop`, and ends with ``GAN.finish_training`` (the
generator's weight average, Yazıcı et al. 2019). The game itself (Goodfellow et al., 2014)
lives in :mod:`lessons_lib.gan.model`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from lessons_lib.core.device import resolve_device
from lessons_lib.core.loop import (
    MAX_LOOP_SEED,
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
    check_one_of,
    check_probability,
    check_seed,
)
from lessons_lib.gan.losses import LOSSES
from lessons_lib.gan.model import GAN
from lessons_lib.gan.recommended import _step_settings, recommended_settings

__all__ = ["recommended_epochs", "train_gan"]


def recommended_epochs(
    model: GAN, n_data: int, loss: str = "non-saturating", *, batch_size: int | None = None
) -> int:
    """Epochs that give the recommended number of generator updates for ``n_data`` points.

    ``ceil(steps / batches_per_epoch)`` with ``steps`` from :func:`recommended_settings`; the
    last incomplete batch is dropped, as :func:`train_gan` does.
    """
    if not isinstance(model, GAN):
        raise TypeError(f"model must be a lessons_lib.gan.GAN, got {type(model).__name__}.")
    settings = recommended_settings(model.arch, loss)
    n_data = check_count(n_data, "n_data")
    batch_size = settings["batch_size"] if batch_size is None else batch_size
    batch_size = check_count(batch_size, "batch_size")
    batches = max(1, n_data // batch_size)
    return max(1, math.ceil(settings["steps"] / batches))


def train_gan(
    model: GAN,
    data: ArrayLike,
    labels: ArrayLike | None = None,
    epochs: int | None = None,
    loss: str = "non-saturating",
    *,
    batch_size: int | None = None,
    lr_g: float | None = None,
    lr_d: float | None = None,
    betas: tuple[float, float] | None = None,
    d_steps: int | None = None,
    gp_weight: float | None = None,
    lr_decay: bool | None = None,
    ema_decay: float | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, History], None] | None = None,
) -> History:
    """Train a :class:`GAN` with one of the classic losses.

    Each mini-batch makes ``d_steps`` discriminator updates (fresh z each time, same real
    batch) and one generator update, both with Adam. What D and G minimise under each
    ``loss`` is tabled in :mod:`lessons_lib.gan.losses`.

    Parameters
    ----------
    model : GAN
    data : Tensor or ndarray, shape (N, *model.data_shape)
        Images in [0, 1] (a bounded model) or unbounded vectors.
    labels : (N,) ints, optional
        Needed exactly when the model is conditional.
    epochs : int, optional
        Passes over the data. Default: enough for the recommended number of generator
        updates (:data:`RECOMMENDED`), e.g. 6000 for a DCGAN, 3000 for an MLP.
    loss : {"non-saturating", "minimax", "hinge", "wgan-gp"}
    batch_size, lr_g, lr_d, betas, d_steps : optional
        Mini-batch size (>= 1), Adam learning rates of G and D (> 0), Adam betas (two
        numbers in [0, 1)), discriminator updates per generator update (>= 1). Defaults from
        :func:`recommended_settings` (the course's settings).
    gp_weight : float, optional
        :math:`\\lambda` of the gradient penalty :math:`\\mathbb E(\\lVert\\nabla_{\\hat x}
        \\ell(\\hat x)\\rVert - 1)^2` on points between real and fake (Gulrajani et al., 2017).
        Default: the recommended value for the loss (WGAN-GP needs it; for the others it is an
        optional extra, off by default, that keeps D smooth so its gradient reaches far).
    lr_decay : bool, optional
        Decay both learning rates linearly to 0 over the run, so the last steps refine
        instead of jittering (Adam's noise scales with the learning rate). Default: the
        recommended setting (on for the 2-D MLPs, whose modes are 0.02 wide).
    ema_decay : float, optional
        Keep an exponential moving average of the generator's weights
        (:math:`\\bar\\theta \\leftarrow \\beta\\bar\\theta + (1-\\beta)\\theta` after every update)
        and put it in the generator at the end (then re-estimate its batch-norm statistics). The
        players circle the equilibrium rather than sit on it; the average sits closer
        (Yazıcı et al., 2019). The decay warms up as :math:`\\min(\\beta, (1+t)/(10+t))` at
        update :math:`t`, so a short run is not pulled back to its initial weights. Default:
        the recommended setting (0.999 for the 2-D MLPs, off for the DCGAN); 0 turns it off.
    seed : int, optional
        Seeds the loop, the shuffling and every z: same seed, same run on the same device.
        An integer in [0, 2**32).
    device : torch.device or str, optional
    progress : bool
        Show a progress bar.
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, history)``, e.g. to keep a fixed-noise grid as training goes.

    Returns
    -------
    History
        Per-epoch means of ``d_loss``, ``g_loss``, ``d_real`` (mean :math:`D(x)`) and
        ``d_fake`` (mean :math:`D(G(z))`) — probabilities for the cross-entropy losses, raw
        critic scores for hinge and WGAN-GP — plus ``grad_penalty`` for WGAN-GP and
        ``epoch_seconds``.
    """
    if not isinstance(model, GAN):
        raise TypeError(f"model must be a lessons_lib.gan.GAN, got {type(model).__name__}.")
    check_one_of(loss, "loss", LOSSES)
    model.check_training_data(data, labels)
    run = _run_settings(
        model, len(data), loss, epochs=epochs, batch_size=batch_size, lr_g=lr_g, lr_d=lr_d,
        betas=betas, d_steps=d_steps, gp_weight=gp_weight, lr_decay=lr_decay,
        ema_decay=ema_decay,
    )  # fmt: skip
    seed = check_seed(seed, max_value=MAX_LOOP_SEED)
    progress = check_bool(progress, "progress")
    check_callable(on_epoch_end, "on_epoch_end")

    target = resolve_device(device)
    model.to(target)
    epochs, batch_size, n = run.pop("epochs"), run.pop("batch_size"), len(data)
    optimizers = model.configure_optimizers(
        loss=loss, total_steps=epochs * max(1, n // batch_size if n >= batch_size else 1), **run
    )
    tensors = [as_tensor(data, dtype=torch.float32)]
    if labels is not None:
        tensors.append(as_tensor(labels, dtype=torch.int64))

    def step(batch: list[torch.Tensor]) -> dict[str, float]:
        return model.training_step(batch, optimizers)

    history = _loop(
        step, tensors, model, run, loss=loss, epochs=epochs, batch_size=batch_size, seed=seed,
        target=target, progress=progress, on_epoch_end=on_epoch_end,
    )  # fmt: skip
    # At most max(N, 256) per batch: a batch_size above N trained on batches of N, and a
    # huge one must not allocate a huge batch here.
    model.finish_training(
        tensors[1] if len(tensors) > 1 else None, batch_size=min(batch_size, max(n, 256))
    )
    return history


def _loop(
    step: Callable[[list[torch.Tensor]], dict[str, float]],
    tensors: list[torch.Tensor],
    model: GAN,
    run: dict[str, Any],
    *,
    loss: str,
    epochs: int,
    batch_size: int,
    seed: int | None,
    target: torch.device,
    progress: bool,
    on_epoch_end: Callable[[int, History], None] | None,
) -> History:
    """:func:`train_loop` over ``step``; a divergence names the run's settings."""
    n = len(tensors[0])
    try:
        return train_loop(
            step,
            tensors,
            modules=model,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            device=target,
            progress=progress,
            drop_last=n >= batch_size,  # a tiny last batch gives batch norm noisy statistics
            on_epoch_end=on_epoch_end,
            desc=f"GAN ({loss})",
        )
    except TrainingDiverged as err:
        raise TrainingDiverged(
            f"{err} The settings were loss={loss!r}, lr_g={run['lr_g']:g}, "
            f"lr_d={run['lr_d']:g}, betas={run['betas']}, d_steps={run['d_steps']}, "
            f"gp_weight={run['gp_weight']:g}, ema_decay={run['ema_decay']:g}, and max |data| = "
            f"{float(tensors[0].abs().max()):.3g}."
        ) from err


def _run_settings(model: GAN, n: int, loss: str, **given: Any) -> dict[str, Any]:
    """Every training setting of :func:`train_gan`, checked; None takes the recommended value.

    Checked in the order of train_gan's signature, so the first bad one is the one named.
    """
    settings = recommended_settings(model.arch, loss)
    batch_size = settings["batch_size"] if given["batch_size"] is None else given["batch_size"]
    batch_size = check_count(batch_size, "batch_size")
    if model.pack > 1 and (batch_size % model.pack or n < batch_size):
        raise ValueError(
            f"with pack={model.pack}, batch_size ({batch_size}) must be a multiple of it "
            f"and at most the number of points ({n})."
        )
    keys = ("lr_g", "lr_d", "betas", "d_steps", "gp_weight")
    run = _step_settings(settings, **{key: given[key] for key in keys})
    epochs = given["epochs"]
    if epochs is None:
        epochs = recommended_epochs(model, n, loss, batch_size=batch_size)
    run["epochs"], run["batch_size"] = check_count(epochs, "epochs"), batch_size
    lr_decay = given["lr_decay"]
    run["lr_decay"] = settings["lr_decay"] if lr_decay is None else check_bool(lr_decay, "lr_decay")
    ema_decay = settings["ema_decay"] if given["ema_decay"] is None else given["ema_decay"]
    run["ema_decay"] = check_probability(ema_decay, "ema_decay", inclusive=True, high=0.999999)
    return run
