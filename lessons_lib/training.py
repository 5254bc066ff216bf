"""The training loop and checkpoints: the old home of :mod:`lessons_lib.core.loop` and
:mod:`lessons_lib.core.checkpoints`, re-exported so that old imports keep working."""

import torch  # noqa: F401 - tests patch training.torch.save, the one torch both modules use

from lessons_lib.core.checkpoints import load_checkpoint, save_checkpoint
from lessons_lib.core.loop import (  # noqa: F401 - old names, kept importable
    MAX_COUNT,
    MAX_LOOP_SEED,
    MAX_LR,
    History,
    StepFn,
    TrainingDiverged,
    check_adam,
    check_callable,
    check_count,
    train_loop,
)

__all__ = ["History", "load_checkpoint", "save_checkpoint", "train_loop"]
