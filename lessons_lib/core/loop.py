"""The one training loop of the course: ``train_loop`` and its ``History``.

Every neural model (GANs, VAEs, feature classifiers) trains through :func:`train_loop`: it
seeds, moves data and modules to the device, cuts shuffled mini-batches, shows a progress
bar (``core.progress.progress_bar``, switchable off), records a :class:`History` of per-epoch
means, and can stop early on a validation metric, restoring the best weights. A model supplies only
its ``step``: one optimisation step on one batch, returning the numbers to log.

Models that subclass :class:`~lessons_lib.core.base.GenerativeModule` are trained through it by
:func:`~lessons_lib.core.fit.fit_model`. Checkpoints live in :mod:`lessons_lib.core.checkpoints`.
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lessons_lib.core.device import release_memory, resolve_device
from lessons_lib.core.random import seed_everything
from lessons_lib.core.validation import check_bool, check_int, check_positive, check_seed

__all__ = ["History", "TrainingDiverged", "train_loop"]

StepFn = Callable[[Sequence[torch.Tensor]], Mapping[str, float | torch.Tensor]]

#: Largest seed of :func:`train_loop`: it seeds NumPy's legacy global generator, which takes
#: seeds below 2**32 only.
MAX_LOOP_SEED = 2**32 - 1
#: Largest count (epochs, samples, steps, batch size...) any function of the course accepts:
#: torch sizes and loops beyond it could not be allocated or would never finish, so such a
#: value is a typo, refused at once rather than overflowing deep inside torch or hanging.
MAX_COUNT = 2**31 - 1
#: Largest learning rate: Adam keeps it in float32.
MAX_LR = float(torch.finfo(torch.float32).max)


class TrainingDiverged(ValueError):
    """A step or validation returned NaN or inf: training diverged (a ``ValueError``)."""


class _MissingKeyError(KeyError, ValueError):
    """A missing name: a ``KeyError`` (what a lookup raises) that is also a ``ValueError``
    (what every bad input of the course raises), with a readable message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class History(dict):
    """Per-epoch training metrics: a dict of metric name to a list of values.

    ``history["loss"][e]`` is the mean loss of epoch ``e``. Extra attributes:
    ``best_epoch`` (early stopping), ``stopped_early`` and ``seconds`` (total time).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.best_epoch: int | None = None
        self.stopped_early = False
        self.seconds = 0.0

    def log(self, **metrics: float) -> None:
        """Append one value per metric (new metrics start a new list)."""
        for key, value in metrics.items():
            self.setdefault(key, []).append(float(value))

    def last(self, key: str) -> float:
        """The latest value of ``key``."""
        if key not in self or not self[key]:
            raise _MissingKeyError(
                f"key {key!r} has no values in the history; its keys are {sorted(self)}."
            )
        return self[key][-1]

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Each metric as a 1-D float array, shape (epochs,)."""
        return {key: np.asarray(values, dtype=float) for key, values in self.items()}


# --------------------------------------------------------------------------- argument checks


def check_count(value: Any, name: str, *, min_value: int = 1, max_value: int = MAX_COUNT) -> int:
    """Check an integer count in ``[min_value, max_value]`` (default at most 2**31 - 1)."""
    value = check_int(value, name, min_value=min_value)
    if value > max_value:
        raise ValueError(
            f"{name} must be at most {max_value}, got {value}: far more than any run could "
            "allocate or finish."
        )
    return value


def check_callable(value: Any, name: str, *, optional: bool = True) -> None:
    """Check a callback is callable (or None when ``optional``)."""
    if value is None and optional:
        return
    if not callable(value):
        raise TypeError(f"{name} must be a function, got {type(value).__name__}.")


def check_adam(lr: Any, betas: Any, name: str = "lr") -> tuple[float, tuple[float, float]]:
    """Check Adam's settings: ``lr > 0`` finite and ``betas`` two floats in [0, 1).

    A beta of 1 would divide by :math:`1 - \\beta^t = 0` in Adam's bias correction (NaN
    weights at the first step), so the interval is half-open.

    Returns
    -------
    lr : float
    betas : (float, float)
    """
    lr = check_positive(lr, name)
    if lr > MAX_LR:
        raise ValueError(f"{name} must be at most {MAX_LR:.3g} (float32), got {lr:g}.")
    if isinstance(betas, str | bytes) or not isinstance(betas, Sequence | np.ndarray):
        raise TypeError(f"betas must be a pair of floats such as (0.5, 0.999), got {betas!r}.")
    if len(betas) != 2:
        raise ValueError(
            f"betas must be two numbers (beta1, beta2) such as (0.5, 0.999), got {len(betas)}: "
            f"{tuple(betas)!r}."
        )
    checked = []
    for k, beta in enumerate(betas):
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not math.isfinite(beta):
            raise TypeError(f"betas[{k}] must be a finite real number, got {beta!r}.")
        if not 0.0 <= beta < 1.0:
            raise ValueError(
                f"betas[{k}] must lie in [0, 1) (Adam divides by 1 - beta**t), got {beta!r}."
            )
        checked.append(float(beta))
    return lr, (checked[0], checked[1])


def _as_modules(modules: Any, name: str = "modules") -> list[nn.Module]:
    if isinstance(modules, nn.Module):
        return [modules]
    if isinstance(modules, Mapping):
        items = list(modules.values())
    elif isinstance(modules, Sequence) and not isinstance(modules, str | bytes):
        items = list(modules)
    else:
        raise TypeError(
            f"{name} must be an nn.Module, a sequence or a mapping of them, got "
            f"{type(modules).__name__}."
        )
    for k, module in enumerate(items):
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"{name} must hold nn.Modules only; entry {k} is a {type(module).__name__}."
            )
    return items


def _as_data(data: Any) -> list[torch.Tensor]:
    """The training tensors, checked: each has a first axis N >= 1, the same for all."""
    if isinstance(data, torch.Tensor | np.ndarray):
        parts = [data]
    elif isinstance(data, Sequence) and not isinstance(data, str | bytes):
        parts = list(data)
    else:
        raise TypeError(
            "data must be a tensor or a sequence of tensors (e.g. (images, labels)), got "
            f"{type(data).__name__}."
        )
    if not parts:
        raise ValueError("data is empty: pass at least one tensor, e.g. data=images.")
    tensors = []
    for k, part in enumerate(parts):
        if isinstance(part, np.ndarray):
            part = torch.as_tensor(part)
        if not isinstance(part, torch.Tensor):
            raise TypeError(f"data[{k}] must be a torch tensor, got {type(part).__name__}.")
        if part.ndim == 0:
            raise ValueError(f"data[{k}] is a 0-d tensor; it needs a first axis of examples.")
        tensors.append(part)
    lengths = [len(t) for t in tensors]
    if any(n != lengths[0] for n in lengths):
        raise ValueError(f"data must be tensors with the same first axis; got lengths {lengths}.")
    if lengths[0] == 0:
        raise ValueError("data holds no examples (first axis of length 0).")
    return tensors


def _batch_starts(n: int, batch_size: int, drop_last: bool) -> range:
    stop = n - batch_size + 1 if drop_last and n >= batch_size else n
    return range(0, max(stop, 1), batch_size)


def _scalar(value: Any, key: str, source: str) -> float:
    """A logged value as a float: a real number or a one-element tensor/array."""
    if isinstance(value, torch.Tensor | np.ndarray):
        count = value.size if isinstance(value, np.ndarray) else value.numel()
        if count != 1:
            raise TypeError(
                f"{source} returned {key!r} with shape {tuple(value.shape)}; log one number "
                "per metric (e.g. loss.mean())."
            )
        value = value.detach().item() if isinstance(value, torch.Tensor) else value.item()
    if not isinstance(value, numbers.Real):
        raise TypeError(
            f"{source} returned {key!r} = {value!r}; metrics must be numbers or 0-d tensors."
        )
    return float(value)


def _check_finite_metrics(metrics: Mapping[str, float], source: str, epoch: int) -> None:
    bad = {key: value for key, value in metrics.items() if not math.isfinite(value)}
    if bad:
        raise TrainingDiverged(
            f"{source} returned non-finite values {bad} in epoch {epoch}: training diverged "
            "(the weights are probably NaN or infinite now). Lower the learning rate, check "
            "that the data are scaled to a few units, and train again from fresh weights."
        )


def train_loop(
    step: StepFn,
    data: torch.Tensor | Sequence[torch.Tensor],
    *,
    modules: nn.Module | Sequence[nn.Module] | Mapping[str, nn.Module] = (),
    epochs: int,
    batch_size: int = 128,
    seed: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    shuffle: bool = True,
    drop_last: bool = False,
    validate: Callable[[], Mapping[str, float]] | None = None,
    monitor: str = "val_loss",
    patience: int | None = None,
    on_epoch_end: Callable[[int, History], None] | None = None,
    desc: str = "training",
) -> History:
    """Run ``epochs`` passes of mini-batch training.

    Parameters
    ----------
    step : callable
        ``step(batch) -> {name: value}``: one optimisation step on ``batch``, a list with one
        (B, …) tensor per entry of ``data``, already on the device. Values may be floats or
        0-d tensors; a non-finite value stops training with a ``ValueError`` (it diverged).
    data : Tensor or sequence of Tensor
        The training set, first axis N >= 1 for every tensor (e.g. ``(images, labels)``).
    modules : Module, sequence or mapping of Modules
        Moved to the device; put in ``train()`` mode for steps and ``eval()`` for validation;
        their weights are restored from the best epoch when early stopping.
    epochs : int
        Number of passes over the data, at least 1.
    batch_size : int
        At least 1.
    seed : int, optional
        Seeds everything (:func:`~lessons_lib.device.seed_everything`) and the shuffling;
        an integer in [0, 2**32).
    device : torch.device or str, optional
        Default ``get_device()``.
    progress : bool
        Show a progress bar over epochs (``core.progress.progress_bar``).
    shuffle, drop_last : bool
        Shuffle the examples every epoch; drop the last incomplete batch.
    validate : callable, optional
        Called after each epoch with no argument, returns metrics to log (e.g. ``val_loss``).
    monitor : str
        The validation metric to minimise for early stopping.
    patience : int, optional
        Stop after this many epochs (>= 1) without improvement of ``monitor`` and restore the
        best weights. Needs ``validate``.
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, history)``, e.g. to keep a grid of samples as training goes.
    desc : str
        Label of the progress bar.

    Returns
    -------
    History
        Per-epoch means of every value ``step`` returned, the validation metrics, and
        ``epoch_seconds``.

    Raises
    ------
    TypeError, ValueError
        Bad arguments (before any work), or a non-finite metric (training diverged).
    """
    epochs, batch_size, seed, progress, shuffle, drop_last = _check_loop_options(
        step, epochs, batch_size, seed, progress, shuffle, drop_last
    )
    patience = _check_validation_options(validate, on_epoch_end, monitor, desc, patience)
    tensors = _as_data(data)
    module_list = _as_modules(modules)
    target = resolve_device(device)
    shuffler = _seeded_shuffler(seed)
    tensors = _move_to(target, module_list, tensors)
    batch_indices = _batch_indices(
        len(tensors[0]), batch_size, shuffle, drop_last, shuffler, target
    )

    from lessons_lib.core.progress import progress_bar

    history = History()
    stopping = _EarlyStopping(monitor, patience, module_list)
    release_memory()  # what earlier cells freed, so training does not stack on top of it
    start = time.perf_counter()
    bar = progress_bar(range(epochs), desc=desc, enabled=progress)
    try:
        for epoch in bar:
            epoch_start = time.perf_counter()
            means = _train_epoch(step, tensors, batch_indices(), module_list, epoch)
            _record_epoch(history, means, epoch_start, validate, module_list, epoch)
            if _end_of_epoch(bar if progress else None, on_epoch_end, stopping, epoch, history):
                history.stopped_early = True
                break
    finally:
        bar.close()
        release_memory()  # the freed batches and gradients of thousands of steps
    stopping.restore_best()
    for module in module_list:
        module.eval()
    history.seconds = time.perf_counter() - start
    return history


# --------------------------------------------------------------------------- train_loop's pieces


def _check_loop_options(
    step: Any,
    epochs: Any,
    batch_size: Any,
    seed: Any,
    progress: Any,
    shuffle: Any,
    drop_last: Any,
) -> tuple[int, int, int | None, bool, bool, bool]:
    """The step and the iteration settings of :func:`train_loop`, checked in signature order."""
    check_callable(step, "step", optional=False)
    epochs = check_count(epochs, "epochs")
    batch_size = check_count(batch_size, "batch_size")
    seed = check_seed(seed, "seed", max_value=MAX_LOOP_SEED)
    progress = check_bool(progress, "progress")
    shuffle = check_bool(shuffle, "shuffle")
    drop_last = check_bool(drop_last, "drop_last")
    return epochs, batch_size, seed, progress, shuffle, drop_last


def _check_validation_options(
    validate: Any, on_epoch_end: Any, monitor: Any, desc: Any, patience: Any
) -> int | None:
    """The callbacks, labels and early-stopping settings of :func:`train_loop`; the patience."""
    check_callable(validate, "validate")
    check_callable(on_epoch_end, "on_epoch_end")
    if not isinstance(monitor, str):
        raise TypeError(f"monitor must be the name of a validation metric, got {monitor!r}.")
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a str, got {type(desc).__name__}.")
    if patience is not None:
        patience = check_count(patience, "patience")
        if validate is None:
            raise ValueError(
                "patience needs validate=, a function that returns the monitor metric."
            )
    return patience


def _seeded_shuffler(seed: int | None) -> torch.Generator:
    """Seed everything when ``seed`` is given; the generator of the shuffling.

    The shuffling has its own generator so that a step drawing random numbers does not change
    the order of the batches; without a seed it starts from the clock.
    """
    if seed is not None:
        seed_everything(seed)
    return torch.Generator().manual_seed(seed if seed is not None else int(time.time()))


def _move_to(
    target: torch.device, modules: list[nn.Module], tensors: list[torch.Tensor]
) -> list[torch.Tensor]:
    """Move the modules (in place) and the training tensors (copies) to ``target``."""
    for module in modules:
        module.to(target)
    return [t.to(target) for t in tensors]


def _batch_indices(
    n: int,
    batch_size: int,
    shuffle: bool,
    drop_last: bool,
    shuffler: torch.Generator,
    device: torch.device,
) -> Callable[[], Iterator[torch.Tensor]]:
    """The data iterator: called once per epoch, it yields the indices of each batch.

    Indices rather than batches: the caller slices the tensors right into ``step``'s call, so
    a batch is freed as soon as its step returns, before the next one is cut.
    """
    starts = _batch_starts(n, batch_size, drop_last)

    def epoch_indices() -> Iterator[torch.Tensor]:
        # Drawn on the CPU generator, whatever the device, so a seed gives the same order.
        order = torch.randperm(n, generator=shuffler) if shuffle else torch.arange(n)
        order = order.to(device)
        for first in starts:
            yield order[first : first + batch_size]

    return epoch_indices


def _train_epoch(
    step: StepFn,
    tensors: list[torch.Tensor],
    batch_indices: Iterator[torch.Tensor],
    modules: list[nn.Module],
    epoch: int,
) -> dict[str, float]:
    """One pass of ``step`` over the batches; the mean of each value it returned."""
    for module in modules:
        module.train()
    sums: dict[str, float] = {}
    n_batches = 0
    for idx in batch_indices:
        metrics = step([t[idx] for t in tensors])
        values = _checked_metrics({} if metrics is None else metrics, "step", epoch)
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value
        n_batches += 1
    return {key: total / n_batches for key, total in sums.items()}


def _checked_metrics(metrics: Any, source: str, epoch: int) -> dict[str, float]:
    """What ``source`` (``step`` or ``validate``) returned, as finite floats by name."""
    if not isinstance(metrics, Mapping):
        raise TypeError(
            f"{source} must return a mapping {{name: value}}, got {type(metrics).__name__}."
        )
    values = {str(k): _scalar(v, str(k), source) for k, v in metrics.items()}
    _check_finite_metrics(values, source, epoch)
    return values


def _record_epoch(
    history: History,
    means: Mapping[str, float],
    epoch_start: float,
    validate: Callable[[], Mapping[str, float]] | None,
    modules: list[nn.Module],
    epoch: int,
) -> None:
    """Log the epoch's training means, its validation metrics, then its duration."""
    history.log(**means)
    if validate is not None:
        for module in modules:
            module.eval()
        with torch.no_grad():
            scores = validate()
        history.log(**_checked_metrics(scores, "validate", epoch))
    history.log(epoch_seconds=time.perf_counter() - epoch_start)


def _end_of_epoch(
    bar: Any,
    on_epoch_end: Callable[[int, History], None] | None,
    stopping: _EarlyStopping,
    epoch: int,
    history: History,
) -> bool:
    """Show the latest metrics on ``bar`` (None: no bar), call ``on_epoch_end``; True to stop.

    The callback sees the epoch before early stopping decides, so it also sees the last one.
    """
    if bar is not None:
        bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.items() if k != "epoch_seconds"})
    if on_epoch_end is not None:
        on_epoch_end(epoch, history)
    return stopping.should_stop(epoch, history)


class _EarlyStopping:
    """Early stopping on ``monitor``: the best epoch's weights, and the epochs waited since.

    With ``patience=None`` it never stops and keeps no weights.
    """

    def __init__(self, monitor: str, patience: int | None, modules: list[nn.Module]) -> None:
        self.monitor, self.patience, self.modules = monitor, patience, modules
        self.best_value, self.best_states, self.waited = math.inf, None, 0

    def should_stop(self, epoch: int, history: History) -> bool:
        """Note the epoch's ``monitor`` value (keeping the weights if best); True to stop."""
        if self.patience is None:
            return False
        if self.monitor not in history:
            raise _MissingKeyError(
                f"validate() returned no {self.monitor!r} (the monitor= metric); it returned "
                f"{sorted(k for k in history if k != 'epoch_seconds')}."
            )
        value = history.last(self.monitor)
        if value < self.best_value:
            self.best_value, self.waited, history.best_epoch = value, 0, epoch
            # Deep copies: state_dict() shares storage with the weights the next steps change.
            self.best_states = [copy.deepcopy(m.state_dict()) for m in self.modules]
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore_best(self) -> None:
        """Load the best epoch's weights back, if early stopping kept any."""
        if self.best_states is not None:
            for module, state in zip(self.modules, self.best_states):
                module.load_state_dict(state)
