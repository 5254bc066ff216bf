"""The multivariate Gaussian: the old home of :mod:`lessons_lib.density.gaussian`.

The code lives in :mod:`lessons_lib.density` (``gaussian``, ``linalg``, ``conditioning``);
this face re-exports the names the old module offered, so old imports keep working.
``make_generator`` is :func:`lessons_lib.core.random.make_generator` (a CPU generator for an
integer seed: the same numbers as before).
"""

from lessons_lib.core.base import NotFittedError  # noqa: F401
from lessons_lib.core.random import make_generator  # noqa: F401
from lessons_lib.density import gaussian as _gaussian
from lessons_lib.density.linalg import cholesky  # noqa: F401

# The names of lessons_lib.density.gaussian, taken from its __all__ rather than listed again.
globals().update({name: getattr(_gaussian, name) for name in _gaussian.__all__})

__all__ = sorted([*_gaussian.__all__, "NotFittedError", "cholesky", "make_generator"])
