"""The constructor arguments a VAE was built with, readable two ways.

``model.settings`` was a dict attribute of the VAEs (``model.settings["hidden"]``), while
:class:`~lessons_lib.core.base.GenerativeModule` asks for a ``settings()`` method (what
``save_checkpoint`` stores to rebuild the model). :class:`Settings` is both: a dict that
returns a plain copy of itself when called. No paper: plumbing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Settings"]


class Settings(dict):
    """A dict of constructor arguments; ``settings()`` returns a plain ``dict`` copy."""

    def __call__(self) -> dict[str, Any]:
        return dict(self)
