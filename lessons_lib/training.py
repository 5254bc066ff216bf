"""The one training loop of the course.

Every neural model (GANs, VAEs, feature classifiers) trains through :func:`train_loop`: it
seeds, moves data and modules to the device, cuts shuffled mini-batches, shows a
``tqdm.auto`` progress bar (switchable off), records a :class:`History` of per-epoch means,
and can stop early on a validation metric, restoring the best weights. A model supplies only
its ``step``: one optimisation step on one batch, returning the numbers to log.

:func:`save_checkpoint` and :func:`load_checkpoint` store weights together with the settings
that made them and the library versions, written atomically.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lessons_lib.checks import check_int
from lessons_lib.device import resolve_device, seed_everything

__all__ = ["History", "load_checkpoint", "save_checkpoint", "train_loop"]

StepFn = Callable[[Sequence[torch.Tensor]], Mapping[str, float | torch.Tensor]]


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
        return self[key][-1]

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {key: np.asarray(values) for key, values in self.items()}


def _as_modules(modules: nn.Module | Sequence[nn.Module] | Mapping[str, nn.Module]):
    if isinstance(modules, nn.Module):
        return [modules]
    if isinstance(modules, Mapping):
        return list(modules.values())
    return list(modules)


def _batch_starts(n: int, batch_size: int, drop_last: bool) -> range:
    stop = n - batch_size + 1 if drop_last and n >= batch_size else n
    return range(0, max(stop, 1), batch_size)


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
        0-d tensors.
    data : Tensor or sequence of Tensor
        The training set, first axis N for every tensor (e.g. ``(images, labels)``).
    modules : Module, sequence or mapping of Modules
        Moved to the device; put in ``train()`` mode for steps and ``eval()`` for validation;
        their weights are restored from the best epoch when early stopping.
    epochs : int
        Number of passes over the data.
    batch_size : int
    seed : int, optional
        Seeds everything (:func:`~lessons_lib.device.seed_everything`) and the shuffling.
    device : torch.device or str, optional
        Default ``get_device()``.
    progress : bool
        Show a ``tqdm.auto`` progress bar over epochs.
    validate : callable, optional
        Called after each epoch with no argument, returns metrics to log (e.g. ``val_loss``).
    monitor : str
        The validation metric to minimise for early stopping.
    patience : int, optional
        Stop after this many epochs without improvement of ``monitor`` and restore the best
        weights. Needs ``validate``.
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, history)``, e.g. to keep a grid of samples as training goes.

    Returns
    -------
    History
        Per-epoch means of every value ``step`` returned, the validation metrics, and
        ``epoch_seconds``.
    """
    epochs = check_int(epochs, "epochs", min_value=0)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    if patience is not None and validate is None:
        raise ValueError("patience needs validate=, a function that returns the monitor metric.")
    tensors = [data] if isinstance(data, torch.Tensor) else list(data)
    if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
        raise ValueError(
            "data must be tensors with the same first axis; got lengths "
            f"{[len(t) for t in tensors]}."
        )
    target = resolve_device(device)
    if seed is not None:
        seed_everything(seed)
    shuffler = torch.Generator().manual_seed(seed if seed is not None else int(time.time()))
    module_list = _as_modules(modules)
    for module in module_list:
        module.to(target)
    tensors = [t.to(target) for t in tensors]
    n = len(tensors[0])

    from tqdm.auto import tqdm

    history = History()
    best_value, best_states, waited = math.inf, None, 0
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        epoch_start = time.perf_counter()
        for module in module_list:
            module.train()
        order = torch.randperm(n, generator=shuffler) if shuffle else torch.arange(n)
        order = order.to(target)
        sums: dict[str, float] = {}
        n_batches = 0
        for first in _batch_starts(n, batch_size, drop_last):
            idx = order[first : first + batch_size]
            metrics = step([t[idx] for t in tensors])
            for key, value in metrics.items():
                value = value.detach() if isinstance(value, torch.Tensor) else value
                sums[key] = sums.get(key, 0.0) + float(value)
            n_batches += 1
        history.log(**{key: total / n_batches for key, total in sums.items()})
        if validate is not None:
            for module in module_list:
                module.eval()
            with torch.no_grad():
                history.log(**validate())
        history.log(epoch_seconds=time.perf_counter() - epoch_start)
        if progress:
            bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.items() if k != "epoch_seconds"})
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if patience is not None:
            if monitor not in history:
                raise KeyError(f"validate() returned no {monitor!r}; it returned {list(history)}.")
            value = history.last(monitor)
            if value < best_value:
                best_value, waited, history.best_epoch = value, 0, epoch
                best_states = [copy.deepcopy(m.state_dict()) for m in module_list]
            else:
                waited += 1
                if waited >= patience:
                    history.stopped_early = True
                    break
    bar.close()
    if best_states is not None:
        for module, state in zip(module_list, best_states):
            module.load_state_dict(state)
    for module in module_list:
        module.eval()
    history.seconds = time.perf_counter() - start
    return history


# --------------------------------------------------------------------------- checkpoints


def _versions() -> dict[str, str]:
    import lessons_lib

    # "".join: torch.__version__ is a str subclass that weights_only loading refuses.
    return {
        "lessons_lib": "".join(lessons_lib.__version__),
        "torch": "".join(torch.__version__),
        "numpy": "".join(np.__version__),
    }


def save_checkpoint(
    path: str | os.PathLike,
    modules: nn.Module | Mapping[str, nn.Module],
    *,
    settings: Mapping[str, Any] | None = None,
    history: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Save weights with the settings that made them, atomically (temporary file, rename).

    Parameters
    ----------
    path : path
        The checkpoint file (its folder is created).
    modules : Module or mapping of name to Module
    settings : mapping, optional
        Constructor and training arguments, so a reader knows how the weights were made.
    history : mapping, optional
        The training history.
    """
    path = Path(path)
    named = {"model": modules} if isinstance(modules, nn.Module) else dict(modules)
    payload = {
        "state": {name: m.state_dict() for name, m in named.items()},
        "settings": dict(settings or {}),
        "history": {k: list(v) for k, v in (history or {}).items()},
        "versions": _versions(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes 0600; a cache file is as readable as any
    try:
        torch.save(payload, tmp_name)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return path


def load_checkpoint(
    path: str | os.PathLike,
    modules: nn.Module | Mapping[str, nn.Module] | None = None,
    *,
    map_location: torch.device | str | None = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    When ``modules`` is given, their weights are loaded in place. Returns the whole payload:
    ``state``, ``settings``, ``history`` and ``versions``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train the model first or fix the path.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path} is not a readable checkpoint ({err}); delete it and retrain."
        ) from err
    if modules is not None:
        named = {"model": modules} if isinstance(modules, nn.Module) else dict(modules)
        missing = set(named) - set(payload["state"])
        if missing:
            raise KeyError(
                f"{path} has no weights for {sorted(missing)}; it has {sorted(payload['state'])}."
            )
        for name, module in named.items():
            module.load_state_dict(payload["state"][name])
    return payload
