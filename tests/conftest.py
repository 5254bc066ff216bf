"""Shared test set-up: tests run on the CPU, headless; they share the cache in data/ (or
$LESSONS_DATA_DIR), and tests that need an empty data folder make their own."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("LESSONS_DEVICE", "cpu")

import matplotlib.pyplot as plt
import pytest
import torch


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``cuda`` on a machine without a CUDA GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
