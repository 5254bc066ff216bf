"""Checkpoints: weights saved with the settings that made them and the library versions.

:func:`save_checkpoint` writes atomically (a temporary file, then a rename); :func:`load_checkpoint`
loads with ``weights_only=True`` and says which keys or shapes do not match.
"""

from __future__ import annotations

import dataclasses
import io
import numbers
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lessons_lib.core.loop import _MissingKeyError

__all__ = ["load_checkpoint", "save_checkpoint"]


def _versions() -> dict[str, str]:
    import lessons_lib

    # "".join: torch.__version__ is a str subclass that weights_only loading refuses.
    return {
        "lessons_lib": "".join(lessons_lib.__version__),
        "torch": "".join(torch.__version__),
        "numpy": "".join(np.__version__),
    }


_PLAIN = (type(None), bool, int, float, complex, str, bytes)


def _plain(value: Any, where: str) -> Any:
    """``value`` as types that ``torch.load(weights_only=True)`` accepts.

    NumPy scalars become Python numbers, arrays nested lists, paths strings, ``torch.Size``
    a tuple, dtypes and devices their names, dataclasses dicts, frozensets sets; mappings,
    lists, tuples and sets are converted entry by entry. Anything else is refused, naming
    where it sits (``where``), so a saved checkpoint always loads.
    """
    if type(value) in _PLAIN:
        return value
    leaf = _plain_leaf(value, where)
    if leaf is not _NOT_A_LEAF:
        return leaf
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value), where)
    if isinstance(value, Mapping):
        return {
            _plain(key, f"a key of {where}"): _plain(item, f"{where}[{key!r}]")
            for key, item in value.items()
        }
    if isinstance(value, tuple):  # also torch.Size and named tuples
        return tuple(_plain(item, f"{where}[{k}]") for k, item in enumerate(value))
    if isinstance(value, list):
        return [_plain(item, f"{where}[{k}]") for k, item in enumerate(value)]
    if isinstance(value, set | frozenset):
        return {_plain(item, f"an entry of {where}") for item in value}
    raise TypeError(
        f"{where} is a {type(value).__name__}, which a checkpoint cannot hold safely; store "
        "numbers, strings, lists, tuples, dicts, paths, NumPy values or tensors (convert it, "
        "e.g. with str())."
    )


#: What :func:`_plain_leaf` returns for a value it does not convert (a container or worse).
_NOT_A_LEAF = object()


def _plain_leaf(value: Any, where: str) -> Any:
    """A scalar, array, tensor, path, dtype or device as a plain value, else ``_NOT_A_LEAF``."""
    if isinstance(value, np.generic):
        item = value.item()  # a Python number, str or bytes (or a datetime: refused below)
        if isinstance(item, np.generic):
            raise TypeError(f"{where} is a {type(value).__name__}, which a checkpoint cannot hold.")
        return _plain(item, where)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), where)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, str):
        return "".join(value)  # a str subclass (e.g. torch's version string) as a plain str
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, numbers.Complex):
        return complex(value)
    if isinstance(value, os.PathLike):
        return _plain(os.fspath(value), where)
    if isinstance(value, torch.dtype | torch.device):
        return str(value)
    return _NOT_A_LEAF


def _loads_safely(payload: Mapping[str, Any]) -> None:
    """Raise a TypeError naming the first entry that ``weights_only`` loading would refuse."""

    def fails(obj: Any) -> str | None:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        buffer.seek(0)
        try:
            torch.load(buffer, weights_only=True)
        except Exception as err:  # the unpickler's own message says which global
            return str(err).splitlines()[-1]
        return None

    if fails(payload) is None:
        return
    for part in ("settings", "history"):
        for key, value in payload[part].items():
            reason = fails(value)
            if reason is not None:
                raise TypeError(
                    f"{part}[{key!r}] cannot be stored in a checkpoint that loads safely "
                    f"({reason}); convert it to numbers, strings, lists or dicts."
                )
    raise TypeError("the checkpoint's contents would not load back; convert them to plain types.")


def _named_modules(modules: Any, name: str = "modules") -> dict[str, nn.Module]:
    if isinstance(modules, nn.Module):
        return {"model": modules}
    if not isinstance(modules, Mapping):
        raise TypeError(
            f"{name} must be an nn.Module or a mapping of name to nn.Module, got "
            f"{type(modules).__name__}."
        )
    if not modules:
        raise ValueError(f"{name} is empty; pass a module or {{'name': module}}.")
    for key, module in modules.items():
        if not isinstance(key, str):
            raise TypeError(f"{name} must be keyed by str names, got the key {key!r}.")
        if not isinstance(module, nn.Module):
            raise TypeError(f"{name}[{key!r}] must be an nn.Module, got {type(module).__name__}.")
    return dict(modules)


def _check_path(path: Any) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or a pathlib.Path, got {type(path).__name__}.")
    path = Path(path)
    if str(path) in ("", "."):
        raise ValueError("path is empty; pass a file name such as 'checkpoints/model.pt'.")
    return path


def save_checkpoint(
    path: str | os.PathLike,
    modules: nn.Module | Mapping[str, nn.Module],
    *,
    settings: Mapping[str, Any] | None = None,
    history: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Save weights with the settings that made them, atomically (temporary file, rename).

    The file is written to a temporary file in the same folder, flushed to disk, then renamed
    over ``path`` (``os.replace``): a crash or an error leaves the old checkpoint (if any)
    intact and no partial file behind.

    Parameters
    ----------
    path : path
        The checkpoint file (its folder is created).
    modules : Module or mapping of name to Module
    settings : mapping, optional
        Constructor and training arguments, so a reader knows how the weights were made.
        NumPy scalars and arrays, paths, tuples, sets and nested mappings are stored as
        plain Python values (numbers, lists, strings), so :func:`load_checkpoint`, which
        loads with ``weights_only=True``, always reads them back.
    history : mapping, optional
        The training history (name to a sequence of numbers).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TypeError
        A module, setting or history entry of a type a safe checkpoint cannot hold (named).
    """
    path = _check_path(path)
    named = _named_modules(modules)
    for label, mapping in (("settings", settings), ("history", history)):
        if mapping is not None and not isinstance(mapping, Mapping):
            raise TypeError(f"{label} must be a mapping (a dict), got {type(mapping).__name__}.")
    history_plain = _plain_history(history or {})
    payload = {
        "state": {name: m.state_dict() for name, m in named.items()},
        "settings": _plain(dict(settings or {}), "settings"),
        "history": history_plain,
        "versions": _versions(),
    }
    _loads_safely({k: payload[k] for k in ("settings", "history", "versions")})
    if path.is_dir():
        raise ValueError(f"path {path} is a folder; pass a file name such as {path / 'model.pt'}.")
    _write_atomically(path, payload)
    return path


def _plain_history(history: Mapping[str, Any]) -> dict[Any, Any]:
    """The training history as plain lists of numbers, each entry checked to be a sequence."""
    history_plain = {}
    for key, values in history.items():
        if isinstance(values, str | bytes) or not isinstance(
            values, Sequence | np.ndarray | torch.Tensor
        ):
            raise TypeError(f"history[{key!r}] must be a sequence of numbers, got {values!r}.")
        history_plain[_plain(key, "a key of history")] = _plain(
            list(values.tolist() if isinstance(values, np.ndarray | torch.Tensor) else values),
            f"history[{key!r}]",
        )
    return history_plain


def _write_atomically(path: Path, payload: Mapping[str, Any]) -> None:
    """``torch.save`` to a temporary file beside ``path``, on disk, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes 0600; a cache file is as readable
        with os.fdopen(fd, "wb") as handle:
            fd = -1  # owned by the handle now
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())  # on disk before the rename makes it visible
        os.replace(tmp_name, path)
    finally:
        if fd >= 0:
            os.close(fd)
        Path(tmp_name).unlink(missing_ok=True)


def _map_location(spec: Any) -> torch.device | None:
    if spec is None:
        return None
    if not isinstance(spec, str | torch.device):
        raise TypeError(f"map_location must be a device name or torch.device, got {spec!r}.")
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError, ValueError) as err:
        raise ValueError(
            f"map_location={spec!r} is not a device name; use 'cpu', 'cuda' or 'mps'."
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"map_location={spec!r} asks for CUDA, but no CUDA GPU is available.")
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValueError(f"map_location={spec!r} asks for Apple MPS, which is not available.")
    return device


def _state_problems(module: nn.Module, state: Mapping[str, Any]) -> list[str]:
    """What stops ``state`` from loading into ``module``: missing, unexpected, mis-shaped keys."""
    expected = module.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    both = [
        key
        for key in expected
        if key in state
        and isinstance(state[key], torch.Tensor)
        and isinstance(expected[key], torch.Tensor)
    ]
    mismatched = [
        f"{key} (checkpoint {tuple(state[key].shape)}, model {tuple(expected[key].shape)})"
        for key in both
        if tuple(state[key].shape) != tuple(expected[key].shape)
    ]
    not_tensors = [
        key
        for key in expected
        if key in state
        and isinstance(expected[key], torch.Tensor)
        and not isinstance(state[key], torch.Tensor)
    ]
    problems = []
    for label, keys in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches", mismatched),
        ("entries that are not tensors", not_tensors),
    ):
        if keys:
            problems.append(f"{label}: {', '.join(keys)}")
    return problems


def load_checkpoint(
    path: str | os.PathLike,
    modules: nn.Module | Mapping[str, nn.Module] | None = None,
    *,
    map_location: torch.device | str | None = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    When ``modules`` is given, their weights are loaded in place, all or nothing: every
    module's keys and shapes are checked against the checkpoint first, and on any mismatch
    no weight is changed.

    Returns
    -------
    dict
        The whole payload: ``state``, ``settings``, ``history`` and ``versions``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a readable checkpoint; or the weights do not fit ``modules`` (the
        message lists the missing, unexpected and shape-mismatched keys). A module name the
        checkpoint lacks raises an error that is both a ``KeyError`` and a ``ValueError``.
    """
    path = _check_path(path)
    named = None if modules is None else _named_modules(modules)
    location = _map_location(map_location)
    payload = _read_payload(path, location)
    if named is not None:
        _load_weights(path, named, payload)
    return payload


def _read_payload(path: Path, location: torch.device | None) -> dict[str, Any]:
    """The checkpoint at ``path``, loaded safely and checked to be one of save_checkpoint."""
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train the model first or fix the path.")
    try:
        payload = torch.load(path, map_location=location, weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path} is not a readable checkpoint ({err}); delete it and retrain."
        ) from err
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("state"), Mapping)
        or not all(isinstance(s, Mapping) for s in payload["state"].values())
    ):
        raise ValueError(
            f"{path} is a torch file but not a checkpoint of save_checkpoint (it has no "
            "'state' of named weights); delete it and retrain, or load it with torch.load."
        )
    for key in ("settings", "history", "versions"):
        payload.setdefault(key, {})
    return payload


def _load_weights(path: Path, named: Mapping[str, nn.Module], payload: Mapping[str, Any]) -> None:
    """Load ``payload``'s weights into ``named``, all or nothing: every module is checked first."""
    missing = sorted(set(named) - set(payload["state"]))
    if missing:
        raise _MissingKeyError(
            f"{path} has no weights for {missing}; it has {sorted(payload['state'])}."
        )
    problems = {
        name: _state_problems(module, payload["state"][name]) for name, module in named.items()
    }
    problems = {name: found for name, found in problems.items() if found}
    if problems:
        listed = "; ".join(f"{name!r}: {' | '.join(found)}" for name, found in problems.items())
        raise ValueError(
            f"{path} does not fit the given model(s) (nothing was loaded): {listed}. Build "
            "the model with the settings the checkpoint was saved with "
            f"({payload['settings']!r:.200}), or retrain."
        )
    for name, module in named.items():
        module.load_state_dict(payload["state"][name])
