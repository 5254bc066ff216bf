import random

import numpy as np
import pytest
import torch

import lessons_lib
from lessons_lib import device as dev


def test_version_is_exposed():
    assert isinstance(lessons_lib.__version__, str) and lessons_lib.__version__.count(".") == 2


def test_get_device_honours_override(monkeypatch):
    monkeypatch.setenv("LESSONS_DEVICE", "cpu")
    assert dev.get_device() == torch.device("cpu")


def test_get_device_default_order(monkeypatch):
    monkeypatch.delenv("LESSONS_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    assert dev.get_device().type == "mps"
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert dev.get_device().type == "cpu"


def test_get_device_prefers_cuda(monkeypatch):
    monkeypatch.delenv("LESSONS_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    assert dev.get_device().type == "cuda"


@pytest.mark.parametrize("bad", ["gpu0", "banana"])
def test_bad_override_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv("LESSONS_DEVICE", bad)
    with pytest.raises(ValueError, match="LESSONS_DEVICE"):
        dev.get_device()


def test_cuda_override_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LESSONS_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no CUDA"):
        dev.get_device()


def test_resolve_device():
    assert dev.resolve_device("cpu") == torch.device("cpu")
    assert dev.resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)  # noqa: NPY002

    dev.seed_everything(123)
    first = draw()
    dev.seed_everything(123)
    second = draw()
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])
    dev.seed_everything(124)
    assert draw()[0] != first[0]


def test_seed_everything_returns_a_generator():
    assert dev.seed_everything(5).random() == np.random.default_rng(5).random()


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "1", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises((TypeError, ValueError), match="seed"):
        dev.seed_everything(bad)


def test_fast_or_full(monkeypatch):
    monkeypatch.setenv("LESSONS_FAST", "1")
    assert dev.fast_or_full("fast", "full") == "fast"
    monkeypatch.setenv("LESSONS_FAST", "0")
    assert dev.fast_or_full("fast", "full") == "full"
    monkeypatch.delenv("LESSONS_FAST")
    assert dev.fast_or_full(1, 2) == 2


@pytest.mark.cuda
def test_seeding_repeats_on_cuda():
    dev.seed_everything(7)
    a = torch.rand(4, device="cuda")
    dev.seed_everything(7)
    assert torch.equal(a, torch.rand(4, device="cuda"))


# --------------------------------------------------------------------------- regressions: seeds


@pytest.mark.parametrize("bad", [1.9, 1.0, np.float64(3.0), None, "7", np.array(3), -(2**40)])
def test_seed_everything_rejects_non_integer_seeds_naming_seed(bad):
    """1.9 must not act as 1, nor -1 wrap around: seed_everything uses checks.check_seed."""
    with pytest.raises((TypeError, ValueError), match="seed"):
        dev.seed_everything(bad)


@pytest.mark.parametrize("good", [0, np.int64(11), np.uint16(3), 2**32 - 1])
def test_seed_everything_accepts_numpy_integers_up_to_2_32(good):
    assert dev.seed_everything(good).random() == np.random.default_rng(int(good)).random()


def test_release_memory_trims_on_glibc_and_is_a_no_op_elsewhere():
    import sys

    from lessons_lib.device import release_memory

    trimmed = release_memory()
    assert isinstance(trimmed, bool)
    if sys.platform.startswith("linux"):
        import platform

        if platform.libc_ver()[0] == "glibc":
            assert trimmed
    else:
        assert not trimmed


def test_release_memory_collects_reference_cycles_only_when_asked():
    import gc
    import weakref

    from lessons_lib.device import release_memory

    class Holder:
        pass

    gc.disable()  # so no automatic collection frees the cycle behind the test's back
    try:
        holder = Holder()
        holder.tensor, holder.me = torch.ones(1000), holder
        alive = weakref.ref(holder)
        del holder
        release_memory()
        assert alive() is not None  # a cycle survives the cheap default
        release_memory(collect=True)
        assert alive() is None
    finally:
        gc.enable()
    with pytest.raises(TypeError, match="collect"):
        release_memory(collect="yes")


def test_release_memory_returns_freed_heap_pages(tmp_path):
    """Many medium blocks freed by torch stay resident until trimmed (glibc Linux only)."""
    import platform
    import sys

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")
    from lessons_lib.device import release_memory

    def resident_kb() -> int:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    blocks = [torch.ones(8192) for _ in range(20_000)]  # 32 KB each: heap, not mmap
    keep = blocks[::100]  # a few survivors stop the heap top from shrinking by itself
    del blocks
    before = resident_kb()
    release_memory()
    after = resident_kb()
    assert keep and before - after > 100_000, (before, after)  # more than 100 MB returned
