"""The small core every family of models builds on.

- :mod:`~lessons_lib.core.validation`: input checks that raise before any work;
- :mod:`~lessons_lib.core.device`: ``get_device`` (CUDA > MPS > CPU), the fast mode, memory;
- :mod:`~lessons_lib.core.random`: the one randomness helper, ``make_generator``, and
  ``seed_everything``;
- :mod:`~lessons_lib.core.loop`: the one training loop, ``train_loop``, and its ``History``;
- :mod:`~lessons_lib.core.checkpoints`: ``save_checkpoint`` and ``load_checkpoint``;
- :mod:`~lessons_lib.core.base`: the model faces, ``DensityModel`` and ``GenerativeModule``;
- :mod:`~lessons_lib.core.fit`: ``fit_model``, which trains any ``GenerativeModule``.

The core imports numpy, scipy and torch only, never another part of ``lessons_lib``.
"""

from lessons_lib.core.base import DensityModel, GenerativeModule, NotFittedError
from lessons_lib.core.device import FAST, fast_or_full, get_device, resolve_device
from lessons_lib.core.fit import fit_model
from lessons_lib.core.loop import History, TrainingDiverged, train_loop
from lessons_lib.core.random import make_generator, seed_everything

__all__ = [
    "FAST",
    "DensityModel",
    "GenerativeModule",
    "History",
    "NotFittedError",
    "TrainingDiverged",
    "fast_or_full",
    "fit_model",
    "get_device",
    "make_generator",
    "resolve_device",
    "seed_everything",
    "train_loop",
]
