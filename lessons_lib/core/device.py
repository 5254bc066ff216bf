"""Devices, seeding and the fast mode.

``get_device`` picks the best accelerator (CUDA, then Apple MPS, then the CPU); the
environment variable ``LESSONS_DEVICE`` overrides it. ``FAST`` is true when ``LESSONS_FAST=1``:
notebooks then shrink epochs and sizes so the test suite runs them quickly. The seeding helper,
``seed_everything``, lives in :mod:`lessons_lib.core.random` (re-exported here).
"""

from __future__ import annotations

import os

import torch

from lessons_lib.core.random import seed_everything
from lessons_lib.core.validation import check_bool

__all__ = [
    "FAST",
    "fast_or_full",
    "get_device",
    "release_memory",
    "resolve_device",
    "seed_everything",
]

_TRUE = {"1", "true", "yes", "on"}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


#: True when the environment variable ``LESSONS_FAST`` is set to 1 (tests, quick previews).
FAST: bool = _env_flag("LESSONS_FAST")


def fast_or_full(fast, full):
    """Return ``fast`` in fast mode (``LESSONS_FAST=1``) and ``full`` otherwise.

    Read at call time, so a test may switch the mode with ``monkeypatch.setenv``.

    Examples
    --------
    >>> epochs = fast_or_full(2, 50)
    """
    return fast if _env_flag("LESSONS_FAST") else full


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device() -> torch.device:
    """The device the course computes on: ``LESSONS_DEVICE`` if set, else cuda > mps > cpu.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If ``LESSONS_DEVICE`` names a device that this machine does not have.
    """
    requested = os.environ.get("LESSONS_DEVICE", "").strip()
    if requested:
        return _checked_device(requested, source="LESSONS_DEVICE")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _checked_device(spec: str | torch.device, source: str) -> torch.device:
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"{source}={spec!r} is not a device name; use 'cpu', 'cuda', 'cuda:0' or 'mps'."
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{source}={spec!r} asks for CUDA, but no CUDA GPU is available here.")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"{source}={spec!r} asks for Apple MPS, which is not available here.")
    return device


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Turn a ``device=`` argument into a ``torch.device``; ``None`` means ``get_device()``."""
    if device is None:
        return get_device()
    return _checked_device(device, source="device")


def _load_libc_trim():
    """glibc's ``malloc_trim``, or None elsewhere (macOS, Windows, musl)."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _load_libc_trim()

#: glibc's mallopt parameter number for the mmap threshold (malloc.h: M_MMAP_THRESHOLD = -3).
_M_MMAP_THRESHOLD = -3
#: Blocks from this size up are mapped and unmapped on their own.
MMAP_THRESHOLD_BYTES = 1 << 20


def _fix_mmap_threshold() -> bool:
    """Keep glibc's mmap threshold at ``MMAP_THRESHOLD_BYTES`` (glibc Linux only).

    By default glibc raises the threshold (up to 32 MB) each time a mapped block is freed, so
    the many 1-30 MB temporaries of a metric or an importance-sampling loop then come from the
    heap, where fragmentation keeps them resident: the VAE notebook peaked between 1.1 and 2.9 GB
    from run to run in the same cell. With a fixed threshold each such temporary goes back to
    the system when freed (measured: 1,061 → 828 MB peak for that cell's computation).
    """
    if _MALLOC_TRIM is None:
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False


_MMAP_THRESHOLD_FIXED = _fix_mmap_threshold()


def release_memory(*, collect: bool = False) -> bool:
    """Hand memory that Python and torch have freed back to the operating system.

    After training on tens of thousands of images, glibc keeps the freed blocks of torch's
    CPU tensors in per-thread heaps; later allocations cannot always reuse them, so a kernel's
    resident memory climbs cell after cell (the VAE notebook peaked at 2.8 GB, 1.5 GB with this
    called between cells). The training loop calls it before and after training. A no-op
    off glibc Linux, and on GPU memory (torch's caching allocator manages that).

    Parameters
    ----------
    collect : bool
        Also run Python's full garbage collection first, for tensors held only by reference
        cycles. Off by default: in a kernel with torch and scikit-learn imported, a full
        collection takes 0.1-0.3 s (a fifth of a short training run), while tensors without
        cycles are freed the moment their last reference goes; the trim itself takes < 1 ms.

    Returns
    -------
    bool
        Whether memory was trimmed (False where glibc's ``malloc_trim`` is not available).
    """
    if check_bool(collect, "collect"):
        import gc

        gc.collect()
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
