"""lessons_lib: the helper library of the course *Generative image models, from Gaussians to VAEs*.

The notebooks stay narrative; this package holds the models, the training loop, the data
loaders, the metrics, the plots and the widgets. Public entry points::

    from lessons_lib import get_device, seed_everything, FAST
    from lessons_lib.data import load_digits
    from lessons_lib.plotting import show_images
"""

from lessons_lib.core.device import FAST, fast_or_full, get_device, seed_everything

__version__ = "0.1.0"

__all__ = ["FAST", "__version__", "fast_or_full", "get_device", "seed_everything"]
