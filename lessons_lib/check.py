"""The exercise graders: the old home of ``lessons_lib.exercises``.

The code lives in :mod:`lessons_lib.exercises`; this module *is* that module (the same object
in ``sys.modules``), so ``from lessons_lib import check`` and ``check.em_step(...)`` keep working.
"""

import sys

from lessons_lib import exercises as _moved

sys.modules[__name__] = _moved
