"""The multivariate Gaussian: the old home of :mod:`lessons_lib.density.gaussian`.

The code lives in :mod:`lessons_lib.density` (``gaussian``, ``linalg``, ``conditioning``);
this face re-exports the names the old module offered, so old imports keep working.
``make_generator`` is :func:`lessons_lib.core.random.make_generator` (a CPU generator for an
integer seed: the same numbers as before).
"""

from lessons_lib.core.base import NotFittedError
from lessons_lib.core.random import make_generator
from lessons_lib.density.conditioning import conditional_gaussian
from lessons_lib.density.gaussian import (
    Gaussian,
    density,
    fit_gaussian,
    log_density,
    sample_gaussian,
)
from lessons_lib.density.linalg import cholesky

__all__ = [
    "Gaussian",
    "NotFittedError",
    "cholesky",
    "conditional_gaussian",
    "density",
    "fit_gaussian",
    "log_density",
    "make_generator",
    "sample_gaussian",
]
