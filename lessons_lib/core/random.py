"""The one randomness helper of lessons_lib: every seeded draw goes through :func:`make_generator`.

Contract
--------
- ``seed`` is ``None`` or a non-negative integer (``core.validation.check_seed``); floats, bools
  and negative numbers are refused before any work.
- An integer seed gives a ``torch.Generator`` on ``device`` seeded with it: **the same seed
  gives the same numbers on the same kind of device**, run after run. CPU and CUDA generators
  are different algorithms (Mersenne Twister and Philox), so the same seed gives *different*
  numbers on a CPU and on a GPU. A function that promises the same numbers on every device
  draws on the CPU (``make_generator(seed)``) and moves the result; its docstring says so.
- ``seed=None`` draws the generator's seed from torch's global CPU generator, so a run that
  starts with :func:`seed_everything` is reproducible even where no seed is passed.
"""

from __future__ import annotations

import random as _python_random

import numpy as np
import torch

from lessons_lib.core.validation import check_seed

__all__ = ["fresh_seed", "make_generator", "seed_everything"]


def fresh_seed() -> int:
    """A seed drawn from torch's global CPU generator (reproducible after ``seed_everything``)."""
    return int(torch.randint(2**62, ()).item())


def make_generator(
    seed: int | None, device: torch.device | str | None = "cpu", *, name: str = "seed"
) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (see the module's contract).

    Parameters
    ----------
    seed : int or None
        A non-negative integer; ``None`` draws one from torch's global generator.
    device : torch.device or str, optional
        Where the generator draws; default the CPU (``None`` also means the CPU).
    name : str
        The argument's name, for the error message.

    Returns
    -------
    torch.Generator

    Raises
    ------
    TypeError, ValueError
        ``seed`` is not None or a non-negative integer.
    """
    seed = check_seed(seed, name)
    target = torch.device("cpu") if device is None else torch.device(device)
    generator = torch.Generator(device=target)
    generator.manual_seed(fresh_seed() if seed is None else seed)
    return generator


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's, NumPy's and torch's global generators (every device) with ``seed``.

    Parameters
    ----------
    seed : int
        In [0, 2**32): NumPy's legacy global generator takes no larger seed.

    Returns
    -------
    numpy.random.Generator
        A fresh NumPy generator seeded with ``seed``, for code that prefers an explicit one.
    """
    seed = check_seed(seed, "seed", allow_none=False, max_value=2**32 - 1)
    _python_random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - legacy global state, seeded for third-party code
    torch.manual_seed(seed)  # seeds CUDA and MPS as well
    return np.random.default_rng(seed)
