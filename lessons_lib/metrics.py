"""The sample metrics: the old home of :mod:`lessons_lib.evaluation`, re-exported here.

The code lives in the modules of :mod:`lessons_lib.evaluation` (feature networks, Fréchet
distance, precision/recall, NDB, memorization, likelihoods, degradations, calibration); every
name this module offered, public or used by the tests, is importable from here unchanged.

To monkeypatch a private name, patch it where it now lives: ``_cached_network``,
``_NETWORKS`` and ``_DEVICE_COPIES`` in :mod:`lessons_lib.evaluation.feature_space`,
``_load_split`` in :mod:`lessons_lib.evaluation.feature_networks`. The dictionaries here are
the same objects, so ``metrics._NETWORKS.clear()`` and ``metrics._RECIPES[...] = ...`` work.
"""

from lessons_lib import evaluation as _evaluation

# Importable from here as before, though not in __all__: the private names the tests use.
from lessons_lib.evaluation.feature_networks import _RECIPES, _load_split  # noqa: F401
from lessons_lib.evaluation.feature_space import (  # noqa: F401
    _DEVICE_COPIES,
    _NETWORKS,
    _cached_network,
    _exclusive,
)

# Every public name of lessons_lib.evaluation, taken from its __all__ rather than listed again.
globals().update({name: getattr(_evaluation, name) for name in _evaluation.__all__})

# The MAX_* bounds are not in __all__ (as before) but are importable from here.
__all__ = [name for name in _evaluation.__all__ if not name.startswith("MAX_")]
