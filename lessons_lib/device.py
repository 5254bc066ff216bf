"""Devices, seeding and the fast mode: the old home of ``lessons_lib.core.device``.

The code lives in :mod:`lessons_lib.core.device`; this module *is* that module (the same
object in ``sys.modules``), so old imports, private names and monkeypatching keep working.
"""

import sys

from lessons_lib.core import device as _moved

sys.modules[__name__] = _moved
