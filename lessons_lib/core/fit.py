"""``fit_model``: train any :class:`~lessons_lib.core.base.GenerativeModule` with the one loop.

The loop calls only the model's public face: ``check_training_data``, ``configure_optimizers``
and ``training_step`` (and ``loss`` on validation data). ``train_gan`` and ``train_vae`` are
thin wrappers over this function that only add their models' defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from lessons_lib.core.base import GenerativeModule
from lessons_lib.core.loop import History, train_loop

__all__ = ["fit_model", "validation_loss"]


def validation_loss(
    model: GenerativeModule,
    data: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    batch_size: int = 512,
) -> dict[str, float]:
    """Mean of every term of ``model.loss`` over ``data`` in eval mode, prefixed ``val_``."""
    totals: dict[str, float] = {}
    device = model.device
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = [data[start : start + batch_size].to(device)]
            if labels is not None:
                batch.append(labels[start : start + batch_size].to(device))
            for key, value in model.loss(batch).items():
                totals[key] = totals.get(key, 0.0) + float(value) * len(batch[0])
    return {f"val_{key}": total / len(data) for key, total in totals.items()}


def fit_model(
    model: GenerativeModule,
    data: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    epochs: int,
    batch_size: int = 128,
    optimizers: Mapping[str, Any] | None = None,
    lr: float = 1e-3,
    validation: tuple[torch.Tensor, torch.Tensor | None] | torch.Tensor | None = None,
    patience: int | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, History], None] | None = None,
    desc: str | None = None,
) -> History:
    """Train ``model`` on ``data`` (N, …) (and ``labels`` (N,)) for ``epochs`` passes.

    Parameters
    ----------
    model : GenerativeModule
    data : Tensor, shape (N, …)
    labels : Tensor, shape (N,), int64, optional
        Needed exactly when the model is conditional.
    epochs, batch_size : int
    optimizers : mapping of name → optimiser, optional
        Default ``model.configure_optimizers(lr=lr)``.
    lr : float
        Learning rate of the default optimisers.
    validation : Tensor or (Tensor, Tensor or None), optional
        Held-out data: the mean of each loss term is logged as ``val_<term>`` after every
        epoch; with ``patience``, training stops when ``val_loss`` stops improving and the
        best weights are restored.
    patience : int, optional
    seed : int, optional
        Seeds everything and the shuffling (see :func:`~lessons_lib.core.loop.train_loop`).
    device : torch.device or str, optional
        Default ``get_device()``.
    progress : bool
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, history)``.
    desc : str, optional
        Label of the progress bar (default the model's class name).

    Returns
    -------
    History
        Per-epoch means of every term ``training_step`` returned, and the validation terms.
    """
    if not isinstance(model, GenerativeModule):
        raise TypeError(
            f"model must be a GenerativeModule (see docs/adding_a_model.md), got "
            f"{type(model).__name__}."
        )
    model.check_training_data(data, labels)
    val_data, val_labels = _split_validation(validation)
    if val_data is not None:
        model.check_training_data(val_data, val_labels)
    if optimizers is None:
        optimizers = model.configure_optimizers(lr=lr)
    tensors = [data] if labels is None else [data, labels]

    def step(batch: list[torch.Tensor]) -> dict[str, float]:
        return model.training_step(batch, optimizers)

    validate = None
    if val_data is not None:

        def validate() -> dict[str, float]:
            return validation_loss(model, val_data, val_labels)

    return train_loop(
        step,
        tensors,
        modules=model,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        device=device,
        progress=progress,
        validate=validate,
        patience=patience,
        on_epoch_end=on_epoch_end,
        desc=desc if desc is not None else type(model).__name__,
    )


def _split_validation(validation: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if validation is None:
        return None, None
    if isinstance(validation, torch.Tensor):
        return validation, None
    if isinstance(validation, tuple | list) and len(validation) == 2:
        return validation[0], validation[1]
    raise TypeError("validation must be a Tensor or a (data, labels) pair.")
