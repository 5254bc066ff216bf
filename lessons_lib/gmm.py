"""Gaussian mixtures fitted by EM, and mixtures of factor analyzers: the old home of
:mod:`lessons_lib.density.gmm` and :mod:`lessons_lib.density.mfa`.

The code lives in :mod:`lessons_lib.density`: the readable EM in ``density/em.py``, the
accelerated E-step in ``density/_fast_e_step.py``, the model in ``density/gmm.py``. This face
re-exports the names the old module offered, and the private ones the tests use. To change a
tuning constant (``PRUNE_ON_CPU``) set it on :mod:`lessons_lib.density._fast_e_step`, where
it is read; to replace ``kmeans`` patch it in ``density.gmm`` and ``density.mfa``.
"""

from lessons_lib.core.base import NotFittedError
from lessons_lib.core.random import make_generator
from lessons_lib.density._fast_e_step import PRUNE_ON_CPU, _Params, _Pruner, _Whitener
from lessons_lib.density.colour import transfer_colours
from lessons_lib.density.em import ConvergenceWarning
from lessons_lib.density.gmm import GaussianMixture
from lessons_lib.density.kmeans import kmeans, kmeans_plusplus
from lessons_lib.density.mfa import MixtureOfFactorAnalyzers

__all__ = [
    "ConvergenceWarning",
    "GaussianMixture",
    "MixtureOfFactorAnalyzers",
    "NotFittedError",
    "kmeans",
    "kmeans_plusplus",
    "transfer_colours",
]

_PRIVATE = (PRUNE_ON_CPU, _Params, _Pruner, _Whitener, make_generator)  # importable, as before
