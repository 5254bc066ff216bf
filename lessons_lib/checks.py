"""Input checks: the old home of ``lessons_lib.core.validation``.

The code lives in :mod:`lessons_lib.core.validation`; this module *is* that module (the
same object in ``sys.modules``), so old imports, private names and monkeypatching keep working.
"""

import sys

from lessons_lib.core import validation as _moved

sys.modules[__name__] = _moved
