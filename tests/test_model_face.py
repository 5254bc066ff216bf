"""``GenerativeModule.sample_labels``: the one label policy of the neural models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lessons_lib.gan import GAN


@pytest.fixture(scope="module")
def model():
    return GAN((1, 8, 8), latent_dim=4, n_classes=10, seed=0)


def test_none_gives_every_class_in_turn(model):
    assert model.sample_labels(12).tolist() == [*range(10), 0, 1]


def test_an_int_gives_that_class(model):
    assert model.sample_labels(3, 7).tolist() == [7, 7, 7]


@pytest.mark.parametrize(
    "labels",
    [np.array(["a", "b"]), np.array([1, 2], dtype=object), ["a", "b"], [[1], [2, 3]]],
    ids=["numpy str", "numpy object", "list of str", "ragged list"],
)
def test_labels_that_are_not_integers_get_a_clear_type_error(model, labels):
    with pytest.raises(TypeError, match="labels must be"):
        model.sample_labels(2, labels)


def test_integer_arrays_are_accepted(model):
    assert torch.equal(model.sample_labels(2, np.array([3, 4])), torch.tensor([3, 4]))
