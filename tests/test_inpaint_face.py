"""The one inpainting face: ``model.inpaint(x, mask)``, mask True where observed, for every model.

Each model is called on the same damaged digits in three layouts (images (N, 1, 8, 8), flat
rows (N, 64), and images with one mask for all) and must give the same completion, in the
caller's shape, with the observed pixels untouched.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lessons_lib import mrf
from lessons_lib.core.inpainting import as_flat_rows
from lessons_lib.data import load_digits
from lessons_lib.density import Gaussian, GaussianMixture
from lessons_lib.vae import VAE

N = 6


@pytest.fixture(scope="module")
def digits():
    images, _ = load_digits("train", binarize=True, device="cpu")
    return images


def _models(digits):
    flat = digits.flatten(1).double()
    vae = VAE((1, 8, 8), latent_dim=2, likelihood="bernoulli", seed=0)
    return {
        "Gaussian": (Gaussian(device="cpu").fit(flat + 0.05 * torch.randn_like(flat)), {}),
        "GaussianMixture": (
            GaussianMixture(3, "full", reg_covar=1e-2, seed=0, device="cpu").fit(flat),
            {},
        ),
        "IsingPrior": (mrf.IsingPrior(device="cpu").fit(digits), {"n_samples": 4, "seed": 0}),
        "VAE": (vae, {"k": 16, "n_rounds": 1, "n_iter": 2, "seed": 0}),
    }


MODELS = ["Gaussian", "GaussianMixture", "IsingPrior", "VAE"]


@pytest.fixture(scope="module")
def models(digits):
    return _models(digits)


@pytest.fixture(scope="module")
def damaged(digits):
    x = digits[:N].clone()
    shared = torch.ones(1, 8, 8, dtype=torch.bool)
    shared[:, 4:, :] = False  # the bottom half is missing
    return x, shared


def _fill(model, kwargs, x, mask):
    return model.inpaint(x, mask, **kwargs)


@pytest.mark.parametrize("name", MODELS)
def test_image_and_flat_layouts_agree(models, damaged, name):
    model, kwargs = models[name]
    x, shared = damaged
    full = shared.expand_as(x).clone()
    as_images = _fill(model, kwargs, x, full)
    as_rows = _fill(model, kwargs, x.flatten(1), full.flatten(1))
    with_one_mask = _fill(model, kwargs, x, shared)
    assert as_images.shape == x.shape and as_rows.shape == (N, 64)
    torch.testing.assert_close(as_rows.reshape(x.shape), as_images)
    torch.testing.assert_close(with_one_mask, as_images)


@pytest.mark.parametrize("name", MODELS)
def test_observed_pixels_are_kept_and_missing_ones_filled(models, damaged, name):
    model, kwargs = models[name]
    x, shared = damaged
    holes = x.clone()
    holes[:, :, 4:, :] = float("nan")  # what is under the mask is ignored, NaN included
    filled = _fill(model, kwargs, holes, shared)
    mask = shared.expand_as(x)
    assert torch.equal(filled[mask].to(x.dtype), x[mask])
    assert torch.isfinite(filled).all()
    assert (filled[~mask] != 0).any()  # something was filled in, not left at a placeholder


@pytest.mark.parametrize("name", ["Gaussian", "GaussianMixture", "IsingPrior"])
def test_numpy_in_numpy_out(models, damaged, name):
    model, kwargs = models[name]
    x, shared = damaged
    filled = _fill(model, kwargs, x.numpy(), shared.numpy())
    assert isinstance(filled, np.ndarray) and filled.shape == tuple(x.shape)


@pytest.mark.parametrize("name", MODELS)
def test_a_mask_of_the_wrong_shape_names_both_shapes(models, damaged, name):
    model, kwargs = models[name]
    x, _ = damaged
    with pytest.raises(ValueError, match="mask"):
        _fill(model, kwargs, x, torch.ones(8, 7, dtype=torch.bool))


def test_gmm_sample_conditional_keeps_the_image_shape(models, damaged):
    model, _ = models["GaussianMixture"]
    x, shared = damaged
    drawn = model.sample_conditional(x, shared, seed=0)
    assert drawn.shape == x.shape
    assert torch.equal(drawn[shared.expand_as(x)].float(), x[shared.expand_as(x)])


def test_as_flat_rows_refuses_items_of_another_size():
    with pytest.raises(ValueError, match="64 values each"):
        as_flat_rows(torch.zeros(2, 1, 7, 7), torch.ones(1, 7, 7, dtype=torch.bool), 64)


def test_ising_prior_fills_with_the_probability_of_ink(models):
    """On a 2×2 lattice with one pixel missing, P(ink) is exact: σ(2β(n + h))."""
    beta, h = 0.7, 0.2
    prior = mrf.IsingPrior.from_parameters(beta, h, image_shape=(2, 2), device="cpu")
    x = torch.tensor([[[[1.0, 1.0], [0.0, float("nan")]]]])  # neighbours of (1, 1): 1 and 0
    mask = torch.tensor([[True, True], [True, False]])
    p_ink = prior.inpaint(x, mask, n_samples=20_000, n_sweeps=1, seed=0)[0, 0, 1, 1]
    exact = torch.sigmoid(torch.tensor(2 * beta * (1 - 1 + h)))  # spins +1 and -1: n = 0
    assert abs(float(p_ink) - float(exact)) < 0.015  # 4 standard errors of 20,000 draws


def test_ising_prior_refuses_grey_images():
    with pytest.raises(ValueError, match="binary images with values 0 or 1"):
        mrf.IsingPrior(device="cpu").fit(torch.full((3, 1, 4, 4), 0.5))


def test_ising_prior_recovers_the_coupling_of_its_own_samples():
    """Over 30 seeds: |beta - 0.3| at most 0.014 (sd 0.005), |h| at most 0.035 (sd 0.013)."""
    truth = mrf.IsingPrior.from_parameters(0.3, 0.0, image_shape=(12, 12), device="cpu")
    fitted = mrf.IsingPrior(device="cpu").fit(truth.sample(100, n_sweeps=50, seed=0))
    assert abs(fitted.beta_ - 0.3) < 0.025 and abs(fitted.h_) < 0.06  # about 4.5 sd
