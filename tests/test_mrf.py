"""Tests of lessons_lib.mrf against exact answers: enumeration of tiny models, Onsager's solution,
brute-force minima, and the model's own samples."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lessons_lib import mrf

CPU = "cpu"


def _se(samples: np.ndarray, axis: int = 0) -> np.ndarray:
    """Standard error of the mean of independent samples."""
    return samples.std(axis=axis) / math.sqrt(samples.shape[axis])


# --------------------------------------------------------------------------- exact enumeration


@pytest.mark.parametrize(
    ("shape", "method"),
    [
        ((4, 4), "heat-bath"),
        ((4, 4), "metropolis"),
        ((3, 3), "heat-bath"),
        ((2, 4), "heat-bath"),
    ],
)
def test_sampler_matches_exact_enumeration(shape, method):
    beta, h = 0.35, 0.1
    exact = mrf.ising_exact(shape, beta, h=h)
    n_chains = 20000
    final = mrf.ising_gibbs((n_chains, *shape), beta, 150, h=h, method=method, seed=1, device=CPU)
    x = final.numpy().reshape(n_chains, -1).astype(np.float64)
    # Per-site marginals P(x_i = +1).
    plus = (x > 0).astype(np.float64)
    tolerance = 5 * _se(plus) + 1e-3
    assert np.all(np.abs(plus.mean(0) - exact["marginals"].ravel()) <= tolerance)
    # Pair correlations E[x_i x_j] for every pair.
    products = x[:, :, None] * x[:, None, :]
    tolerance = 5 * _se(products) + 1e-3
    assert np.all(np.abs(products.mean(0) - exact["correlations"]) <= tolerance)
    # Energy per spin and |m|.
    energies = np.asarray(mrf.ising_energy(final.numpy(), h=h))
    assert abs(energies.mean() - exact["energy"]) <= 5 * _se(energies)
    abs_m = np.abs(x.mean(1))
    assert abs(abs_m.mean() - exact["abs_magnetization"]) <= 5 * _se(abs_m)


def test_exact_enumeration_sums_to_one_and_is_symmetric():
    exact = mrf.ising_exact((3, 3), 0.4)
    assert exact["probabilities"].sum() == pytest.approx(1.0)
    assert exact["magnetization"] == pytest.approx(0.0, abs=1e-12)  # h = 0: symmetric
    np.testing.assert_allclose(exact["marginals"], 0.5, atol=1e-12)
    # A 2×2 torus by hand: each site has its two neighbours twice (4 bonds per pair of rows).
    tiny = mrf.ising_exact((2, 2), 0.3)
    states = mrf.spin_configurations(4).reshape(-1, 2, 2).astype(float)
    total = np.array(
        [
            sum(
                s[i, j] * (2 * s[(i + 1) % 2, j] + 2 * s[i, (j + 1) % 2])
                for i in (0, 1)
                for j in (0, 1)
            )
            for s in states
        ]
    )
    log_z = np.log(np.exp(0.3 * total / 2).sum())  # each bond counted from both ends: halve
    assert tiny["log_partition"] == pytest.approx(log_z)


def test_metropolis_warns_on_tiny_lattices():
    with pytest.warns(RuntimeWarning, match="not ergodic"):
        mrf.ising_gibbs((3, 3), 0.4, 2, method="metropolis", seed=0, device=CPU)


@pytest.mark.parametrize("shape", list(itertools.product(range(2, 8), range(2, 8))))
def test_colour_classes_share_no_bond(shape):
    masks = mrf._periodic_colour_masks(*shape, torch.device("cpu"))
    assert torch.stack(masks).sum(0).eq(1).all()  # a partition of the sites
    for mask in masks:
        for axis in (0, 1):
            if shape[axis] > 1:
                assert not (mask & torch.roll(mask, 1, axis)).any()


@pytest.mark.parametrize("shape", [(2, 6, 8), (5, 7), (2, 10, 6)])
def test_trace_agrees_with_final_state(shape):
    spins, trace = mrf.ising_gibbs(
        shape, 0.5, 5, h=0.2, J=(1.0, 0.5), seed=3, device=CPU, trace=True
    )
    assert trace["energy"].shape == (5, *shape[:-2])
    final_energy = mrf.ising_energy(spins, J=(1.0, 0.5), h=0.2)
    final_m = mrf.magnetization(spins)
    np.testing.assert_allclose(np.asarray(trace["energy"][-1]), np.asarray(final_energy), atol=1e-6)
    np.testing.assert_allclose(np.asarray(trace["magnetization"][-1]), np.asarray(final_m))


def test_sampler_types_seeds_and_continuation():
    a = mrf.ising_gibbs((16, 16), 0.4, 10, seed=5, device=CPU)
    b = mrf.ising_gibbs((16, 16), 0.4, 10, seed=5, device=CPU)
    assert isinstance(a, torch.Tensor) and a.dtype == torch.float32 and a.shape == (16, 16)
    assert torch.equal(a, b)
    assert set(a.unique().tolist()) <= {-1.0, 1.0}
    start = np.ones((8, 8), dtype=np.int8)
    continued = mrf.ising_gibbs(start, 2.0, 3, seed=0, device=CPU)
    assert isinstance(continued, np.ndarray) and continued.dtype == np.int8
    assert continued.mean() > 0.9  # cold lattice started ordered stays ordered
    assert torch.equal(mrf.ising_gibbs(a, 0.4, 0, seed=1), a)  # zero sweeps: unchanged


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_autocorrelation_of_an_ar1_chain(phi):
    """An AR(1) chain s_t = φ s_{t-1} + noise has ρ(t) = φ^t and τ = (1 + φ) / (1 - φ)."""
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(20000, 8))
    chain = np.zeros_like(noise)
    for t in range(1, len(chain)):
        chain[t] = phi * chain[t - 1] + noise[t]
    np.testing.assert_allclose(mrf.autocorrelation(chain, 4), phi ** np.arange(5), atol=0.02)
    tau = mrf.integrated_autocorrelation_time(chain)
    assert tau == pytest.approx((1 + phi) / (1 - phi), rel=0.1)


def test_boundary_length_counts_disagreeing_pairs():
    labels = np.array([[0, 0, 1], [2, 0, 1]])
    assert mrf.boundary_length(labels) == 4  # 0-2 down; 0-1 right in both rows; 2-0 right
    assert mrf.boundary_length(np.ones((5, 5))) == 0


# --------------------------------------------------------------------------- Onsager


def _onsager_energy_by_integration(beta: float, n: int = 600) -> float:
    """-d/dβ of Onsager's free energy per spin,
    ln Z/N = ln 2 + (1/8π²) ∬ ln[cosh²2β - sinh2β (cos a + cos b)] da db (midpoint rule)."""
    theta = (np.arange(n) + 0.5) * 2 * np.pi / n
    total = np.cos(theta)[:, None] + np.cos(theta)[None, :]
    c, s = np.cosh(2 * beta), np.sinh(2 * beta)
    derivative = (4 * c * s - 2 * c * total) / (c**2 - s * total)
    return float(-derivative.mean() / 2)


@pytest.mark.parametrize("beta", [0.1, 0.3, 0.6, 1.0])
def test_onsager_energy_is_the_derivative_of_the_free_energy(beta):
    assert mrf.onsager_energy(beta) == pytest.approx(_onsager_energy_by_integration(beta), abs=1e-9)


def test_onsager_limits_and_series():
    assert mrf.onsager_energy(mrf.BETA_CRITICAL) == pytest.approx(-math.sqrt(2))
    # High-temperature series: ln Z/N = ln 2 + 2 ln cosh β + t⁴ + O(t⁶), t = tanh β (the
    # smallest closed loop has 4 bonds), so u = -2t - 4t³ + O(t⁵).
    t = math.tanh(1e-3)
    assert mrf.onsager_energy(1e-3) == pytest.approx(-2 * t - 4 * t**3, abs=1e-13)
    assert mrf.onsager_energy(8.0) == pytest.approx(-2.0, abs=1e-12)
    x = math.exp(-2 * 1.5)  # low-temperature series m = 1 - 2x⁴ - 8x⁶ - 34x⁸ - …
    assert mrf.onsager_magnetization(1.5) == pytest.approx(1 - 2 * x**4 - 8 * x**6, abs=5e-9)
    betas = np.array([0.2, 0.44, 0.441, 0.5, 1.0])
    m = mrf.onsager_magnetization(betas)
    assert isinstance(m, np.ndarray) and m[0] == 0 and m[1] == 0 and np.all(np.diff(m[2:]) > 0)
    np.testing.assert_allclose(mrf.onsager_energy(betas), [mrf.onsager_energy(b) for b in betas])


def test_lattice_64_agrees_with_onsager():
    cold, hot = [0.5, 0.6, 0.8], [0.25, 0.35]
    betas = np.repeat(cold + hot, 2)
    ordered = torch.as_tensor(np.isin(betas, cold))
    random_start = torch.randint(
        0, 2, (len(betas), 64, 64), generator=torch.Generator().manual_seed(0)
    )
    start = torch.where(ordered[:, None, None], 1.0, 2.0 * random_start - 1.0)
    _, trace = mrf.ising_gibbs(start, betas, 700, seed=2, device=CPU, trace=True)
    after_burn_in = slice(200, None)
    abs_m = trace["magnetization"][after_burn_in].abs().mean(0).numpy()
    energy = trace["energy"][after_burn_in].mean(0).numpy()
    for k, beta in enumerate(betas):
        assert abs(energy[k] - mrf.onsager_energy(beta)) < 0.03, (beta, energy[k])
        if beta >= 0.5:
            assert abs(abs_m[k] - mrf.onsager_magnetization(beta)) < 0.03, (beta, abs_m[k])
        else:
            assert abs_m[k] < 0.1, (beta, abs_m[k])


# --------------------------------------------------------------------------- denoising


def _test_images() -> list[tuple[np.ndarray, float, float]]:
    """(clean ±1 image, beta, noise rate): random shapes and upscaled digits."""
    from lessons_lib.data import load_digits

    digits, _ = load_digits("test", binarize=True)
    cases = [
        (mrf.make_shapes(40, 40, 5, seed=s), b, p)
        for s, b, p in [(0, 0.8, 0.1), (1, 0.5, 0.25), (2, 1.2, 0.35)]
    ]
    for k, (b, p) in enumerate([(0.7, 0.15), (1.0, 0.3)]):
        digit = np.kron(2.0 * digits[k, 0].numpy() - 1.0, np.ones((4, 4)))
        cases.append((digit.astype(np.float32), b, p))
    return cases


@pytest.mark.parametrize("case", range(5))
def test_min_cut_has_the_lowest_energy_of_all_methods(case):
    clean, beta, p = _test_images()[case]
    noisy = mrf.flip_noise(clean, p, seed=case)
    exact, gap = mrf.min_cut_map(noisy, beta, p)
    best = mrf.denoise_energy(exact, noisy, beta, p)
    assert gap == 0.0  # the certificate proves optimality
    energies = {}
    for method in mrf.DENOISE_METHODS:
        restored = mrf.denoise(
            noisy, beta, p, method=method, n_sweeps=120, burn_in=20, seed=0, device=CPU
        )
        assert restored.shape == noisy.shape and set(np.unique(restored)) <= {-1.0, 1.0}
        energies[method] = mrf.denoise_energy(restored, noisy, beta, p)
    assert energies["min-cut"] == pytest.approx(best)
    for method, energy in energies.items():
        assert best <= energy + 1e-9, (method, energy, best)
    for x in (clean, noisy):  # the truth and the observation are candidates too
        assert best <= mrf.denoise_energy(x, noisy, beta, p) + 1e-9


@settings(max_examples=40, deadline=None)
@given(
    bits=st.lists(st.booleans(), min_size=12, max_size=12),
    beta=st.floats(0.05, 3.0),
    p=st.floats(0.01, 0.49),
)
def test_min_cut_equals_brute_force(bits, beta, p):
    noisy = np.where(np.array(bits).reshape(3, 4), 1.0, -1.0)
    x, gap = mrf.min_cut_map(noisy, beta, p)
    exact = mrf.denoise_exact(noisy, beta, p)
    assert mrf.denoise_energy(x, noisy, beta, p) <= exact["min_energy"] + gap + 1e-9
    assert gap < 1e-6


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.floats(0.1, 2.0), p=st.floats(0.02, 0.45))
def test_icm_never_raises_the_energy(seed, beta, p):
    noisy = np.where(np.random.default_rng(seed).random((10, 12)) < 0.5, 1.0, -1.0)
    previous = mrf.denoise_energy(noisy, noisy, beta, p)
    for n_iter in range(1, 6):  # ICM with n_iter sweeps continues the run of n_iter - 1
        restored = mrf.denoise(noisy, beta, p, method="icm", n_iter=n_iter, device=CPU)
        energy = mrf.denoise_energy(restored, noisy, beta, p)
        assert energy <= previous + 1e-9
        previous = energy


def test_gibbs_marginals_match_exact_posterior():
    noisy = np.where(np.random.default_rng(4).random((3, 4)) < 0.5, 1.0, -1.0)
    exact = mrf.denoise_exact(noisy, 0.6, 0.2)
    q = mrf.posterior_marginals(
        noisy, 0.6, 0.2, n_sweeps=3000, burn_in=50, n_chains=8, seed=0, device=CPU
    )
    np.testing.assert_allclose(q, exact["marginals"], atol=0.02)
    mpm = mrf.denoise(noisy, 0.6, 0.2, method="mpm", n_sweeps=3000, seed=0, device=CPU)
    decided = np.abs(exact["marginals"] - 0.5) > 0.05
    np.testing.assert_array_equal(
        mpm[decided], np.where(exact["marginals"] > 0.5, 1.0, -1.0)[decided]
    )


def test_mean_field_is_a_fixed_point():
    noisy = mrf.flip_noise(mrf.make_shapes(24, 24, 3, seed=1), 0.2, seed=2)
    q = mrf.mean_field_marginals(noisy, 0.7, 0.2, n_iter=500, tol=1e-12, device=CPU)
    m = torch.as_tensor(2 * q - 1)
    field = 0.7 * mrf._free_neighbour_sum(m) + mrf.noise_coupling(0.2) * torch.as_tensor(
        noisy, dtype=torch.float64
    )
    np.testing.assert_allclose(m.numpy(), torch.tanh(field).numpy(), atol=1e-9)


def test_denoise_keeps_the_container():
    noisy = mrf.flip_noise(mrf.make_shapes(16, 16, 2, seed=0), 0.1, seed=0)
    as_tensor = mrf.denoise(torch.as_tensor(noisy), 0.8, 0.1, method="min-cut")
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.dtype == torch.float32
    as_int = mrf.denoise(noisy.astype(np.int64), 0.8, 0.1, method="icm", device=CPU)
    assert isinstance(as_int, np.ndarray) and as_int.dtype == np.int64
    np.testing.assert_array_equal(
        mrf.denoise(noisy, 0.8, 0.1, method="gibbs", seed=3, device=CPU),
        mrf.denoise(noisy, 0.8, 0.1, method="gibbs", seed=3, device=CPU),
    )


# --------------------------------------------------------------------------- inpainting, learning


def test_inpainting_samples_the_exact_conditional():
    rng = np.random.default_rng(0)
    image = np.where(rng.random((4, 4)) < 0.5, 1.0, -1.0)
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True
    beta, h = 0.6, 0.2
    samples = mrf.inpaint(image, mask, beta, h=h, n_sweeps=30, n_samples=8000, seed=1, device=CPU)
    assert samples.shape == (8000, 4, 4)
    np.testing.assert_array_equal(samples[:, ~mask], np.broadcast_to(image[~mask], (8000, 12)))
    # Exact conditional over the 16 fillings of the 2×2 hole.
    fills = mrf.spin_configurations(4).astype(float)
    weights = []
    for fill in fills:
        x = image.copy()
        x[mask] = fill
        pairs = (x[1:] * x[:-1]).sum() + (x[:, 1:] * x[:, :-1]).sum()
        weights.append(math.exp(beta * (pairs + h * x.sum())))
    exact = np.array(weights) / sum(weights)
    codes = ((samples[:, mask] > 0).astype(int) * (2 ** np.arange(3, -1, -1))).sum(1)
    frequencies = np.bincount(codes, minlength=16) / len(codes)
    se = np.sqrt(exact * (1 - exact) / len(codes))
    assert np.all(np.abs(frequencies - exact) <= 5 * se + 1e-3)


@pytest.mark.parametrize(
    ("beta", "h", "shape"),
    [(0.25, 0.0, (8, 48, 48)), (0.35, 0.05, (8, 48, 48)), (0.6, 0.0, (16, 64, 64))],
)
def test_pseudo_likelihood_recovers_beta(beta, h, shape):
    ordered = beta > mrf.BETA_CRITICAL  # start cold lattices ordered: no stuck domain walls
    start = torch.ones(shape) if ordered else shape
    samples = mrf.ising_gibbs(start, beta, 300, h=h, seed=7, device=CPU)
    beta_hat, h_hat = mrf.fit_pseudo_likelihood(samples, boundary="periodic")
    assert abs(beta_hat - beta) / beta < 0.1
    if not ordered:  # in the ordered phase nearly every n_i = ±4, so β and h are confounded
        assert abs(h_hat - h) < 0.05


def test_pseudo_likelihood_accepts_image_batches():
    from lessons_lib.data import load_digits

    digits, _ = load_digits("train", binarize=True)
    images = 2.0 * digits[:200].numpy() - 1.0  # (200, 1, 8, 8)
    beta, h = mrf.fit_pseudo_likelihood(images)
    assert 0.1 < beta < 3.0 and np.isfinite(h)


def test_em_estimates_the_noise_rate():
    beta, _ = mrf.fit_pseudo_likelihood(
        np.stack([mrf.make_shapes(64, 64, 6, seed=s) for s in range(10, 16)])
    )
    clean = mrf.make_shapes(64, 64, 6, seed=0)
    for method in ("gibbs", "mean-field"):
        noisy = mrf.flip_noise(clean, 0.15, seed=1)
        realized = float((noisy != clean).mean())
        rate, history = mrf.estimate_noise_rate(
            noisy, beta, init=0.3, method=method, seed=0, device=CPU
        )
        assert history[0] == 0.3 and history[-1] == rate
        assert abs(rate - realized) < 0.02, (method, rate, realized)


# --------------------------------------------------------------------------- Potts segmentation


def _three_region_image(noise: float = 0.12, size: int = 36):
    rng = np.random.default_rng(0)
    truth = np.zeros((size, size), dtype=np.int64)
    truth[:, size // 3 :] = 1
    rows, cols = np.mgrid[0:size, 0:size]
    truth[(rows - size * 0.6) ** 2 + (cols - size * 0.65) ** 2 < (size * 0.22) ** 2] = 2
    colours = np.array([[0.2, 0.3, 0.7], [0.5, 0.5, 0.4], [0.8, 0.3, 0.3]])
    image = colours[truth] + noise * rng.normal(size=(size, size, 3))
    return image.astype(np.float32), truth


def _accuracy(labels: np.ndarray, truth: np.ndarray) -> float:
    k = int(truth.max()) + 1
    return max(
        float((np.array(perm)[labels] == truth).mean()) for perm in itertools.permutations(range(k))
    )


def test_potts_segmentation_beats_the_mixture_alone():
    from sklearn.mixture import GaussianMixture

    image, truth = _three_region_image()
    pixels = image.reshape(-1, 3)
    gmm = GaussianMixture(3, covariance_type="full", random_state=0).fit(pixels)
    alone = gmm.predict(pixels).reshape(truth.shape)
    same = mrf.potts_segment(image, 3, 0.0, gmm, em_iter=0, n_sweeps=1, device=CPU)
    np.testing.assert_array_equal(same, alone)  # beta = 0: the mixture's own labels
    base = _accuracy(alone, truth)
    for method in ("mean-field", "icm"):
        labels, details = mrf.potts_segment(
            image, 3, 1.5, gmm, method=method, return_details=True, device=CPU
        )
        assert labels.dtype == np.int64 and labels.shape == truth.shape
        assert _accuracy(labels, truth) > max(base, 0.97), (method, base)
        objective = np.array(details["objective"])
        assert np.all(np.diff(objective) <= 1e-6 * np.abs(objective[:-1])), method
        assert details["marginals"].shape == (*truth.shape, 3)
    without_model = mrf.potts_segment(image, 3, 1.5, seed=0, device=CPU)
    assert _accuracy(without_model, truth) > 0.97


def test_potts_rejects_a_mismatched_colour_model():
    from sklearn.mixture import GaussianMixture

    image, _ = _three_region_image(size=12)
    pixels = image.reshape(-1, 3)
    with pytest.raises(ValueError, match="n_components=3"):
        mrf.potts_segment(image, 3, 1.0, GaussianMixture(2, random_state=0).fit(pixels))
    diag = GaussianMixture(3, covariance_type="diag", random_state=0).fit(pixels)
    with pytest.raises(ValueError, match="full"):
        mrf.potts_segment(image, 3, 1.0, diag)
    with pytest.raises(TypeError, match="weights_"):
        mrf.potts_segment(image, 3, 1.0, object())


# --------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors():
    noisy = mrf.make_shapes(8, 8, 2, seed=0)
    with pytest.raises(ValueError, match=r"noisy must contain only -1 and \+1"):
        mrf.denoise((noisy + 1) / 2, 1.0, 0.1)
    for beta in (0.0, -1.0):
        with pytest.raises(ValueError, match="beta must be > 0"):
            mrf.denoise(noisy, beta, 0.1)
        with pytest.raises(ValueError, match="beta must be > 0"):
            mrf.ising_gibbs((4, 4), beta, 1)
    for rate in (0.0, 0.5, 0.7, -0.1):
        with pytest.raises(ValueError, match=r"noise_rate must lie in \(0.0, 0.5\)"):
            mrf.denoise(noisy, 1.0, rate)
        with pytest.raises(ValueError, match="noise_rate"):
            mrf.denoise_energy(noisy, noisy, 1.0, rate)
    with pytest.raises(ValueError, match="method"):
        mrf.denoise(noisy, 1.0, 0.1, method="bp")
    with pytest.raises(ValueError, match="spins_or_shape must contain only"):
        mrf.ising_gibbs(np.zeros((4, 4)), 0.5, 1)
    with pytest.raises(ValueError, match="H, W >= 2"):
        mrf.ising_gibbs((1, 8), 0.5, 1)
    with pytest.raises(ValueError, match="one value per lattice"):
        mrf.ising_gibbs((3, 4, 4), [0.5, 0.6], 1)
    with pytest.raises(ValueError, match="x has shape"):
        mrf.denoise_energy(noisy[:4], noisy, 1.0, 0.1)
    with pytest.raises(ValueError, match="images must contain only"):
        mrf.fit_pseudo_likelihood(np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="no finite maximum"):
        mrf.fit_pseudo_likelihood(np.ones((2, 5, 5)))
    with pytest.raises(ValueError, match="beta must be finite and > 0"):
        mrf.onsager_energy(0.0)


# --------------------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_sampler_on_cuda_agrees_with_onsager():
    start = torch.ones(4, 64, 64, device="cuda")
    spins, trace = mrf.ising_gibbs(start, 0.6, 400, seed=0, trace=True)
    assert spins.device.type == "cuda"
    assert abs(float(trace["magnetization"][100:].mean()) - mrf.onsager_magnetization(0.6)) < 0.03
    noisy = mrf.flip_noise(
        torch.as_tensor(mrf.make_shapes(32, 32, 3, seed=0), device="cuda"), 0.1, seed=0
    )
    restored = mrf.denoise(noisy, 0.8, 0.1, method="min-cut")
    assert restored.device.type == "cuda"


# =========================================================================== robustness
# Regression tests of the robustness pass: extreme finite parameters give exact limits (not NaN
# or a biased answer), and every bad argument gets a clear ValueError / TypeError naming it.


def _spin_mean_and_se(spins) -> tuple[float, float]:
    values = np.asarray(spins, dtype=np.float64).ravel()
    return float(values.mean()), float(values.std() / math.sqrt(values.size))


class TestSamplerAtExtremeParameters:
    """The conditional probabilities are exact for any finite β, J, h (no 0·inf = NaN)."""

    @pytest.mark.parametrize("beta", [3e38, 1e300])
    @pytest.mark.parametrize("shape", [(4000, 4, 4), (4000, 3, 5)])  # split and masked paths
    def test_zero_field_gives_one_half_at_huge_beta(self, beta, shape):
        # J = 0, h = 0: every local field is 0, so each spin is +1 with probability ½ exactly.
        spins = mrf.ising_gibbs(shape, beta, 1, J=0.0, seed=0, device=CPU)
        mean, se = _spin_mean_and_se(spins)
        assert abs(mean) < 5 * se

    @pytest.mark.parametrize("shape", [(2000, 4, 4), (2000, 3, 3)])
    def test_tiny_field_times_huge_beta_is_exact(self, shape):
        # 2 β h = 2: P(x = +1) = σ(2), E[x] = tanh(1), even though h underflows float32.
        beta = np.full(shape[0], 1e300)  # one β per lattice, beyond float32's range
        spins = mrf.ising_gibbs(shape, beta, 1, J=0.0, h=1e-300, seed=1, device=CPU)
        mean, se = _spin_mean_and_se(spins)
        assert abs(mean - math.tanh(1.0)) < 5 * se

    @pytest.mark.parametrize("shape", [(4, 4), (5, 5)])
    def test_metropolis_flips_every_zero_field_spin_at_huge_beta(self, shape):
        # ΔE = 0: the flip is accepted with probability min(1, e^0) = 1, however large β is.
        spins = mrf.ising_gibbs(
            torch.ones(shape), 1e300, 1, J=0.0, method="metropolis", seed=0, device=CPU
        )
        assert torch.equal(spins, -torch.ones(shape))

    @pytest.mark.parametrize("method", ["heat-bath", "metropolis"])
    def test_ground_state_is_kept_beyond_float32_beta(self, method):
        start = torch.ones(2, 6, 6)
        spins = mrf.ising_gibbs(start, [1e39, 1e300], 3, method=method, seed=0, device=CPU)
        assert torch.equal(spins, start)

    @pytest.mark.parametrize("J", [(1e300, -1e300), (1e307, 1e307), 1e300])
    def test_extreme_couplings_run_and_trace_finite_energies(self, J):
        spins, trace = mrf.ising_gibbs((2, 4, 6), 1.0, 3, J=J, h=-1e300, seed=0, trace=True)
        assert set(spins.unique().tolist()) <= {-1.0, 1.0}
        energy = trace["energy"][-1].numpy()
        assert np.all(np.isfinite(energy))
        np.testing.assert_allclose(energy, mrf.ising_energy(spins, J=J, h=-1e300), rtol=1e-12)

    def test_ordinary_parameters_keep_the_fast_float32_path(self):
        # The exact table is used only where float32 would be wrong; the speed path stays.
        for beta, couplings, h, method in [
            (0.44, (1.0, 1.0), 0.0, "heat-bath"),
            (0.6, (1.0, 0.5), 0.2, "metropolis"),
        ]:
            conditionals = mrf._Conditionals(
                np.asarray(beta), couplings, h, method, torch.device(CPU)
            )
            assert conditionals.fast
        slow = mrf._Conditionals(np.asarray(1e300), (1.0, 1.0), 0.0, "heat-bath", torch.device(CPU))
        assert not slow.fast
        # Table entries: σ(2βf) for the nine fields f = v + s, v, s in {-2, 0, 2}.
        table = slow.table.reshape(2, 17)[
            0, [3 * v + s + 8 for v in (-2, 0, 2) for s in (-2, 0, 2)]
        ]
        expected = [0, 0, 0.5, 0, 0.5, 1, 0.5, 1, 1]
        np.testing.assert_array_equal(table.numpy(), expected)

    def test_ising_energy_does_not_overflow_on_the_way(self):
        spins = np.ones((4, 4))
        assert mrf.ising_energy(spins, J=(1e308, 1e308), h=-1e308) == pytest.approx(-1e308)


class TestExactLimits:
    """Exact and analytic answers at huge β: the ground-state limits, never NaN."""

    @pytest.mark.parametrize("beta", [3e38, 1e300])
    @pytest.mark.parametrize("shape", [(2, 2), (3, 3), (4, 4)])
    def test_ising_exact_ground_state_limit(self, beta, shape):
        exact = mrf.ising_exact(shape, beta)
        assert exact["probabilities"].sum() == pytest.approx(1.0)
        assert exact["energy"] == pytest.approx(-2.0)  # -2J per spin on the square lattice
        assert exact["abs_magnetization"] == pytest.approx(1.0)
        assert exact["magnetization_squared"] == pytest.approx(1.0)
        assert exact["magnetization"] == pytest.approx(0.0, abs=1e-12)  # both ground states
        np.testing.assert_allclose(exact["marginals"], 0.5)
        assert exact["log_partition"] == pytest.approx(2 * beta * shape[0] * shape[1])

    def test_ising_exact_field_breaks_the_tie_even_when_it_is_below_rounding(self):
        exact = mrf.ising_exact((3, 3), 1e300, h=1e-20)  # β h N = 9e280: all +1 wins
        assert exact["magnetization"] == pytest.approx(1.0)
        np.testing.assert_allclose(exact["marginals"], 1.0)

    def test_onsager_at_huge_and_tiny_beta(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow warnings either
            assert mrf.onsager_energy(1e300) == -2.0
            assert mrf.onsager_energy(400.0) == -2.0
            assert mrf.onsager_energy(2.0, J=1e300) == pytest.approx(-2e300)
            assert mrf.onsager_magnetization(1e300) == 1.0
            energies = mrf.onsager_energy(np.array([1e-300, 1e-8, 1e300]))
        # High temperature: u = -2t - 4t³ + …, t = tanh β ≈ β (no cancellation left).
        np.testing.assert_allclose(energies, [-2e-300, -2e-8, -2.0], rtol=1e-12)

    def test_denoise_exact_at_huge_beta(self):
        noisy = np.where(np.arange(12).reshape(3, 4) < 7, 1.0, -1.0)  # 7 of 12 pixels +1
        exact = mrf.denoise_exact(noisy, 1e300, 0.2)
        assert exact["probabilities"].sum() == pytest.approx(1.0)
        np.testing.assert_array_equal(exact["map"], np.ones((3, 4)))  # the majority constant
        # Only the two constants remain, with odds exp(2η Σ y): each pixel's marginal is σ(2η Σy).
        eta = mrf.noise_coupling(0.2)
        np.testing.assert_allclose(exact["marginals"], 1 / (1 + math.exp(-2 * eta * 2)))

    def test_noise_coupling_near_zero_and_one_half(self):
        assert mrf.noise_coupling(5e-324) == pytest.approx(0.5 * 744.4400719213812)
        p = 0.5 - 1e-12
        assert mrf.noise_coupling(p) == pytest.approx(1 - 2 * p, rel=1e-9)


class TestDenoisingAtExtremeParameters:
    @pytest.mark.parametrize("method", mrf.DENOISE_METHODS)
    @pytest.mark.parametrize(
        ("beta", "noise_rate"),
        [
            (1e300, 0.1),
            (3e38, 0.3),
            (1e-300, 0.1),
            (5e-324, 0.4),
            (1.0, 1e-300),
            (1.0, 5e-324),
            (1e300, 1e-300),
            (1e300, 0.5 - 1e-16),
        ],
    )
    def test_every_method_returns_a_binary_image(self, method, beta, noise_rate):
        noisy = mrf.flip_noise(mrf.make_shapes(10, 12, 2, seed=0), 0.2, seed=0)
        restored = mrf.denoise(
            noisy, beta, noise_rate, method=method, n_sweeps=8, burn_in=2, seed=0, device=CPU
        )
        assert restored.shape == noisy.shape and set(np.unique(restored)) <= {-1.0, 1.0}
        if noise_rate <= 1e-300 and beta == 1.0:  # the data term dominates: y itself
            np.testing.assert_array_equal(restored, noisy)

    @pytest.mark.parametrize("method", ["icm", "gibbs", "mpm"])
    def test_huge_beta_acts_as_its_limit(self, method):
        """Above β ≈ 1e3 η every non-zero neighbour sum saturates, so β = 1e300 must give exactly
        what β = 1e6 gives (same seed): a zero neighbour sum leaves the data term to decide."""
        noisy = mrf.flip_noise(mrf.make_shapes(16, 16, 3, seed=0), 0.3, seed=0)
        kwargs = {"method": method, "n_sweeps": 20, "seed": 0, "device": CPU}
        np.testing.assert_array_equal(
            mrf.denoise(noisy, 1e300, 0.3, **kwargs), mrf.denoise(noisy, 1e6, 0.3, **kwargs)
        )

    def test_posterior_marginal_of_an_isolated_pixel_ignores_beta(self):
        q = mrf.posterior_marginals(np.ones((1, 1)), 1e300, 0.1, n_sweeps=3, seed=0, device=CPU)
        assert q[0, 0] == pytest.approx(0.9)  # σ(2η) = 1 - p

    @pytest.mark.parametrize(
        ("beta", "noise_rate", "expected"),
        [
            (1e300, 0.1, "constant"),
            (3e38, 0.45, "constant"),
            (1e-300, 0.1, "y"),
            (1.0, 5e-324, "y"),
        ],
    )
    def test_min_cut_at_out_of_range_ratios(self, beta, noise_rate, expected):
        noisy = np.where(np.random.default_rng(3).random((3, 4)) < 0.6, 1.0, -1.0)
        x, gap = mrf.min_cut_map(noisy, beta, noise_rate)
        assert gap == 0.0
        majority = 1.0 if (noisy > 0).sum() > (noisy < 0).sum() else -1.0
        want = np.full(noisy.shape, majority) if expected == "constant" else noisy
        np.testing.assert_array_equal(x, want)
        np.testing.assert_array_equal(x, mrf.denoise_exact(noisy, beta, noise_rate)["map"])

    def test_annealing_with_extreme_temperatures(self):
        noisy = mrf.flip_noise(mrf.make_shapes(8, 8, 2, seed=0), 0.1, seed=0)
        restored = mrf.denoise(
            noisy, 1.0, 0.1, method="gibbs", n_sweeps=5, t_start=1e300, t_end=1e-320, seed=0
        )
        assert set(np.unique(restored)) <= {-1.0, 1.0}
        schedule = mrf._anneal_schedule(5, 1e300, 1e-320)
        assert schedule[0] == 1e300 and schedule[-1] == 1e-320 and min(schedule) > 0


class TestInpaintMask:
    def test_nan_under_the_mask_is_accepted(self):
        image = mrf.make_shapes(8, 8, 2, seed=0)
        mask = np.zeros((8, 8), dtype=bool)
        mask[2:5, 3:6] = True
        holes = image.copy()
        holes[mask] = np.nan
        for data, where in ((holes, mask), (torch.as_tensor(holes), torch.as_tensor(mask))):
            filled = np.asarray(mrf.inpaint(data, where, 0.8, n_sweeps=5, seed=0, device=CPU))
            assert np.isfinite(filled).all() and set(np.unique(filled)) <= {-1.0, 1.0}
            np.testing.assert_array_equal(filled[~mask], image[~mask])

    def test_nan_outside_the_mask_is_an_error(self):
        image = mrf.make_shapes(8, 8, 2, seed=0)
        image[0, 0] = np.nan
        mask = np.zeros((8, 8), dtype=bool)
        mask[4, 4] = True
        with pytest.raises(ValueError, match="observed pixels"):
            mrf.inpaint(image, mask, 0.8)
        image[0, 0] = 0.0
        with pytest.raises(ValueError, match=r"image \(observed pixels.*-1 and \+1"):
            mrf.inpaint(image, mask, 0.8)

    def test_an_all_missing_image_samples_the_prior(self):
        filled = mrf.inpaint(np.full((4, 4), np.nan), np.ones((4, 4), bool), 0.5, n_sweeps=3)
        assert set(np.unique(filled)) <= {-1.0, 1.0}

    @pytest.mark.parametrize(("h", "expected"), [(0.0, 0.0), (1e-300, math.tanh(1.0))])
    def test_zero_neighbour_sum_at_huge_beta(self, h, expected):
        # The missing pixel sits between +1 and -1: its local field is β h, so its mean is
        # tanh(β h) (0 for h = 0; tanh(1) for β h = 1), not -1 as 0·inf = NaN once gave.
        image = np.array([[1.0, np.nan, -1.0]])
        mask = np.array([[False, True, False]])
        samples = mrf.inpaint(image, mask, 1e300, h=h, n_sweeps=1, n_samples=4000, seed=0)
        mean, se = _spin_mean_and_se(samples[:, 0, 1])
        assert abs(mean - expected) < 5 * se


class TestPottsAtExtremes:
    def test_potts_energy_in_float64_at_huge_beta(self):
        labels = np.zeros((4, 4), dtype=np.int64)
        scores = np.full((2, 4, 4), -1.0)
        assert mrf.potts_energy(labels, scores, 1e300) == pytest.approx(16 - 1e300 * 24)
        # Opposite terms near 1e308 do not overflow to inf - inf: each sum is 2**1024 (beyond
        # float64), their difference exactly 0.
        big = 2.0**1022
        zeros = np.zeros((2, 2), dtype=np.int64)
        assert mrf.potts_energy(zeros, np.full((2, 2, 2), -big), big) == 0.0
        # An energy truly beyond float64 (16e307 - 24e308) is refused, not returned as -inf.
        with pytest.raises(ValueError, match=r"beyond float64's range .* beta=1e\+308"):
            mrf.potts_energy(labels, np.full((2, 4, 4), -1e307), 1e308)

    @pytest.mark.parametrize("method", ["mean-field", "icm"])
    @pytest.mark.parametrize("beta", [1e300, 1e308])
    def test_segmentation_at_huge_beta_is_finite(self, method, beta):
        image = np.random.default_rng(0).random((6, 6, 3))
        labels, details = mrf.potts_segment(
            image, 2, beta, method=method, seed=0, return_details=True, device=CPU
        )
        assert labels.shape == (6, 6)
        assert np.isfinite(details["marginals"]).all()  # no inf - inf in the softmax
        np.testing.assert_allclose(details["marginals"].sum(-1), 1.0)
        if beta == 1e300:  # (at 1e308, β times 60 pairs is itself beyond float64)
            assert all(np.isfinite(v) for v in details["objective"] + details["energy"])

    def test_a_degenerate_colour_model_is_lifted(self):
        class Model:
            weights_ = np.array([0.5, 0.5])
            means_ = np.array([[0.2, 0.2, 0.2], [0.8, 0.8, 0.8]])
            covariances_ = np.zeros((2, 3, 3))  # singular: lifted to the 1e-9 floor

        image = np.where(np.arange(36).reshape(6, 6, 1) < 18, 0.2, 0.8) * np.ones(3)
        labels = mrf.potts_segment(image, 2, 1.0, Model(), em_iter=0, device=CPU)
        np.testing.assert_array_equal(labels.ravel(), np.repeat([0, 1], 18))


class TestChainDiagnosticsAtExtremes:
    @pytest.mark.parametrize("scale", [1e300, 1e-170, 1e-300])
    def test_autocorrelation_is_scale_free(self, scale):
        series = np.random.default_rng(0).normal(size=50)
        np.testing.assert_allclose(
            mrf.autocorrelation(series * scale), mrf.autocorrelation(series), atol=1e-12
        )
        tau = mrf.integrated_autocorrelation_time(series * scale)
        assert tau == pytest.approx(mrf.integrated_autocorrelation_time(series))

    def test_integrated_autocorrelation_time_is_not_negative(self):
        assert mrf.integrated_autocorrelation_time(np.array([1.0, -1.0, 1.0, 0.0])) >= 0.0


_IMG = mrf.make_shapes(8, 8, 2, seed=0)
_MASK = np.zeros((8, 8), dtype=bool)
_MASK[2, 2] = True
_PIXELS = np.random.default_rng(0).random((6, 6, 3))


class _BadModel:
    weights_ = np.array([0.5, 0.5])
    means_ = np.zeros((2, 3))
    covariances_ = np.stack([-np.eye(3)] * 2)


_BAD_INPUTS = [
    # (call, exception, message fragment)
    (lambda: mrf.ising_gibbs((4, 4), 1.0, 1, seed=2**64), ValueError, "seed"),
    (lambda: mrf.ising_gibbs((4, 4), ["a", "b"], 1), TypeError, "beta"),
    (lambda: mrf.ising_gibbs((4, 4), np.array(1e309 / 1e309), 1), TypeError, "beta"),
    (lambda: mrf.ising_gibbs((2, 4, 4), [1.0, float("nan")], 1), ValueError, "beta"),
    (lambda: mrf.ising_gibbs("44", 1.0, 1), TypeError, "spins_or_shape"),
    (lambda: mrf.ising_gibbs((10**6, 10**6), 1.0, 1, device=CPU), ValueError, "memory"),
    (lambda: mrf.ising_gibbs(np.ones((4, 4), bool), 1.0, 1), TypeError, "2 \\* spins_or_shape"),
    (lambda: mrf.ising_gibbs(np.ones((1, 1)), 1.0, 1), ValueError, "spins_or_shape"),
    (lambda: mrf.ising_gibbs((4, 4), 1.0, -1), ValueError, "n_sweeps"),
    (lambda: mrf.ising_gibbs((4, 4), 1.0, 1, J=(1, 2, 3)), ValueError, "J"),
    (lambda: mrf.ising_energy(np.zeros((4, 4))), ValueError, "spins must contain only"),
    (lambda: mrf.magnetization(np.ones((0, 4))), ValueError, "spins is empty"),
    (lambda: mrf.onsager_energy("a"), TypeError, "beta"),
    (lambda: mrf.onsager_energy(True), TypeError, "beta"),
    (lambda: mrf.onsager_magnetization(-1.0), ValueError, "beta"),
    (lambda: mrf.onsager_energy(0.5, J=0.0), ValueError, "J must be > 0"),
    (lambda: mrf.ising_exact(np.array([2, 2]), 1.0), TypeError, "shape"),
    (lambda: mrf.ising_exact((1, 4), 1.0), ValueError, "shape"),
    (lambda: mrf.ising_exact((5, 5), 1.0), ValueError, "shape"),
    (lambda: mrf.ising_exact((2, 2), 1.0, h=float("nan")), ValueError, "h must be finite"),
    (lambda: mrf.spin_configurations(0), ValueError, "n_sites"),
    (lambda: mrf.denoise_exact(_IMG, 1.0, 0.1), ValueError, "noisy has 64 pixels"),
    (lambda: mrf.noise_coupling(0.5), ValueError, "noise_rate"),
    (lambda: mrf.flip_noise(_IMG, 1.5), ValueError, "noise_rate"),
    (lambda: mrf.flip_noise(_IMG > 0, 0.1), TypeError, "2 \\* image"),
    (lambda: mrf.denoise(_IMG, 1.0, 0.1, method="icm", burn_in=-1), ValueError, "burn_in"),
    (lambda: mrf.denoise(_IMG, 1.0, 0.1, method="icm", t_end=0.0), ValueError, "t_end"),
    (lambda: mrf.denoise(_IMG, 1.0, 0.1, n_iter=0), ValueError, "n_iter"),
    (lambda: mrf.denoise(np.ones((0, 5)), 1.0, 0.1), ValueError, "noisy is empty"),
    (lambda: mrf.denoise(np.ones((2, 5, 5)), 1.0, 0.1), ValueError, "noisy must have 2"),
    (lambda: mrf.denoise(_IMG, float("inf"), 0.1), TypeError, "beta"),
    (lambda: mrf.denoise_energy(_IMG, _IMG, 1.0, 1e-400), ValueError, "noise_rate"),
    (lambda: mrf.mean_field_marginals(_IMG, 1.0, 0.1, tol=float("nan")), TypeError, "tol"),
    (lambda: mrf.mean_field_marginals(_IMG, 1.0, 0.1, tol=-1.0), ValueError, "tol"),
    (lambda: mrf.posterior_marginals(_IMG, 1.0, 0.1, n_chains=0), ValueError, "n_chains"),
    (
        lambda: mrf.estimate_noise_rate(_IMG, 1.0, method="mean-field", n_sweeps=0),
        ValueError,
        "n_sweeps",
    ),
    (lambda: mrf.estimate_noise_rate(_IMG, 1.0, tol=float("nan")), TypeError, "tol"),
    (lambda: mrf.estimate_noise_rate(_IMG, 1.0, init=0.5), ValueError, "init"),
    (lambda: mrf.inpaint(_IMG, _MASK.astype(int), 1.0), TypeError, "mask"),
    (lambda: mrf.inpaint(_IMG, _MASK[:4], 1.0), ValueError, "mask"),
    (lambda: mrf.inpaint(_IMG, _MASK, 1.0, n_samples=0), ValueError, "n_samples"),
    (lambda: mrf.fit_pseudo_likelihood(np.stack([_IMG, _IMG]), max_iter=0), ValueError, "max_iter"),
    (lambda: mrf.fit_pseudo_likelihood(np.stack([_IMG, _IMG]), tol=-1.0), ValueError, "tol"),
    (lambda: mrf.potts_energy(np.full((4, 4), 2), np.zeros((2, 4, 4)), 1.0), ValueError, r"0\.\.1"),
    (lambda: mrf.potts_energy(np.full((4, 4), -1), np.zeros((2, 4, 4)), 1.0), ValueError, "labels"),
    (
        lambda: mrf.potts_energy(np.zeros((3, 3), int), np.zeros((2, 4, 4)), 1.0),
        ValueError,
        "shape",
    ),
    (lambda: mrf.potts_energy(np.zeros((4, 4)), np.zeros((2, 4, 4)), 1.0), TypeError, "labels"),
    (lambda: mrf.potts_segment(_PIXELS, 0, 1.0), ValueError, "n_labels"),
    (lambda: mrf.potts_segment(_PIXELS * 1e300, 2, 1.0), ValueError, "rescale the image"),
    (lambda: mrf.potts_segment(_PIXELS, 2, 1.0, _BadModel()), ValueError, "positive semi"),
    (lambda: mrf.potts_segment(_PIXELS, 2, 1.0, method="bp"), ValueError, "method"),
    (lambda: mrf.potts_segment(_PIXELS, 2, -1.0), ValueError, "beta"),
    (lambda: mrf.autocorrelation(np.array([1.0, 1.0, 1.0])), ValueError, "constant"),
    (lambda: mrf.autocorrelation(np.array([1 + 1j, 2j])), TypeError, "series"),
    (lambda: mrf.integrated_autocorrelation_time(np.arange(5.0), 0.0), ValueError, "window"),
    (lambda: mrf.make_shapes(1, 5), ValueError, "height"),
]


@pytest.mark.parametrize(("call", "error", "match"), _BAD_INPUTS)
def test_bad_inputs_raise_clear_errors_table(call, error, match):
    with pytest.raises(error, match=match):
        call()


_SEEDED = {
    "ising_gibbs": lambda seed: mrf.ising_gibbs((4, 4), 0.5, 1, seed=seed, device=CPU),
    "flip_noise": lambda seed: mrf.flip_noise(_IMG, 0.1, seed=seed),
    "denoise icm": lambda seed: mrf.denoise(_IMG, 1.0, 0.1, method="icm", seed=seed),
    "denoise gibbs": lambda seed: mrf.denoise(_IMG, 1.0, 0.1, method="gibbs", seed=seed),
    "denoise min-cut": lambda seed: mrf.denoise(_IMG, 1.0, 0.1, method="min-cut", seed=seed),
    "posterior_marginals": lambda seed: mrf.posterior_marginals(_IMG, 1.0, 0.1, seed=seed),
    "estimate_noise_rate": lambda seed: mrf.estimate_noise_rate(_IMG, 1.0, seed=seed),
    "inpaint": lambda seed: mrf.inpaint(_IMG, _MASK, 1.0, seed=seed),
    "potts_segment": lambda seed: mrf.potts_segment(_PIXELS, 2, 1.0, seed=seed),
    "make_shapes": lambda seed: mrf.make_shapes(8, 8, seed=seed),
}


@pytest.mark.parametrize("name", sorted(_SEEDED))
@pytest.mark.parametrize(
    ("seed", "error"),
    [(True, TypeError), (1.0, TypeError), ("1", TypeError), (-1, ValueError), (2**70, ValueError)],
)
def test_every_seed_is_checked(name, seed, error):
    with pytest.raises(error, match="seed"):
        _SEEDED[name](seed)


# =========================================================================== robustness, round 2
# Regression tests of the second robustness pass: absurd counts are refused before any work
# (never a hang or an OverflowError from numpy/torch), a lag beyond the data is an error rather
# than silently clipped, and a huge but finite β, J or h whose energy or log Z is beyond float64
# is refused clearly instead of returning ±inf (or is computed exactly where it is finite).

_HUGE = 10**20
_ABOVE = 10**7 + 1  # just above the documented bound on sweeps and iterations
_SPINS8 = mrf.make_shapes(8, 8, 2, seed=0)

_TOO_MANY = [
    # (call with the bad count, the argument's name)
    (lambda n: mrf.denoise(_IMG, 1.0, 0.1, method="gibbs", n_sweeps=n), "n_sweeps"),
    (lambda n: mrf.denoise(_IMG, 1.0, 0.1, method="icm", n_iter=n), "n_iter"),
    (lambda n: mrf.denoise(_IMG, 1.0, 0.1, method="mpm", burn_in=n), "burn_in"),
    (lambda n: mrf.ising_gibbs((4, 4), 0.4, n, seed=0, device=CPU), "n_sweeps"),
    (lambda n: mrf.estimate_noise_rate(_IMG, 0.8, n_iter=n, seed=0), "n_iter"),
    (lambda n: mrf.estimate_noise_rate(_IMG, 0.8, n_sweeps=n, seed=0), "n_sweeps"),
    (lambda n: mrf.estimate_noise_rate(_IMG, 0.8, burn_in=n, seed=0), "burn_in"),
    (lambda n: mrf.inpaint(_IMG, _MASK, 0.8, n_sweeps=n, seed=0), "n_sweeps"),
    (lambda n: mrf.posterior_marginals(_IMG, 0.8, 0.1, n_sweeps=n, seed=0), "n_sweeps"),
    (lambda n: mrf.posterior_marginals(_IMG, 0.8, 0.1, burn_in=n, seed=0), "burn_in"),
    (lambda n: mrf.mean_field_marginals(_IMG, 0.8, 0.1, n_iter=n), "n_iter"),
    (lambda n: mrf.fit_pseudo_likelihood(np.stack([_IMG, _IMG]), max_iter=n), "max_iter"),
    (lambda n: mrf.potts_segment(_PIXELS, 2, 1.0, n_sweeps=n, seed=0), "n_sweeps"),
    (lambda n: mrf.potts_segment(_PIXELS, 2, 1.0, em_iter=n, seed=0), "em_iter"),
]


class TestCountsHaveSanityBounds:
    @pytest.mark.parametrize("value", [_ABOVE, _HUGE])
    @pytest.mark.parametrize(("call", "name"), _TOO_MANY)
    def test_sweeps_and_iterations_above_ten_million_are_refused(self, call, name, value):
        with pytest.raises(ValueError, match=rf"{name} must be at most 10,000,000 .*{value}"):
            call(value)

    @pytest.mark.parametrize(
        ("call", "name"),
        [
            (lambda n: mrf.posterior_marginals(_IMG, 0.8, 0.1, n_chains=n, seed=0), "n_chains"),
            (lambda n: mrf.inpaint(_IMG, _MASK, 0.8, n_samples=n, seed=0), "n_samples"),
        ],
    )
    def test_chains_and_samples_are_bounded_by_the_total_number_of_sites(self, call, name):
        limit = 2**31 // 64  # an 8×8 image
        for value in (limit + 1, _HUGE):
            with pytest.raises(ValueError, match=rf"{name} must be at most {limit:,} .*2\*\*31"):
                call(value)

    def test_a_lattice_of_more_than_2_to_the_31_sites_is_refused(self):
        for shape in [(_HUGE, 4), (2**30, 2, 2)]:
            with pytest.raises(ValueError, match=r"spins_or_shape .*2\*\*31.*memory"):
                mrf.ising_gibbs(shape, 0.4, 1, device=CPU)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"height": _HUGE}, "height must be at most"),
            ({"width": _HUGE}, "width must be at most"),
            ({"height": 2**15, "width": 2**14}, r"height × width must be at most 2\*\*28"),
            ({"n_shapes": _HUGE}, "n_shapes must be at most 100,000"),
            ({"n_shapes": 10**5 + 1}, "n_shapes must be at most 100,000"),
        ],
    )
    def test_make_shapes_sizes_are_bounded(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            mrf.make_shapes(**{"height": 8, "width": 8, "n_shapes": 2, **kwargs})

    @pytest.mark.parametrize("n_labels", [1001, _HUGE])
    def test_potts_labels_are_bounded(self, n_labels):
        with pytest.raises(ValueError, match="n_labels must be at most 1,000"):
            mrf.potts_segment(_PIXELS, n_labels, 1.0, seed=0)

    def test_potts_labels_times_pixels_are_bounded(self):
        image = np.zeros((1500, 1500))  # 2.25 million pixels × 1000 labels > 2**31
        with pytest.raises(ValueError, match=r"n_labels × pixels = 1000 × .*2\*\*31"):
            mrf.potts_segment(image, 1000, 1.0)


class TestOutOfRangeArgumentsAreNotClipped:
    def test_autocorrelation_max_lag_beyond_the_series_is_an_error(self):
        series = np.random.default_rng(0).normal(size=50)
        assert mrf.autocorrelation(series, 49).shape == (50,)  # T - 1 is the largest lag
        for lag in (50, 87, _HUGE):
            with pytest.raises(ValueError, match=r"max_lag must be at most T - 1 = 49"):
                mrf.autocorrelation(series, lag)

    def test_flip_noise_refuses_a_one_dimensional_image(self):
        with pytest.raises(ValueError, match=r"image must have shape \(\.\.\., H, W\)"):
            mrf.flip_noise(np.ones(8), 0.1, seed=0)
        assert mrf.flip_noise(np.ones((2, 8)), 0.1, seed=0).shape == (2, 8)  # 2-D still works


class TestResultsBeyondFloat64AreRefused:
    def test_denoise_energy_beyond_float64_names_beta(self):
        # 112 agreeing pairs times β = 1.4e307 is about 1.6e309.
        with pytest.raises(ValueError, match=r"energy is beyond float64.*beta=1\.4e\+307"):
            mrf.denoise_energy(_SPINS8, _SPINS8, 1.4e307, 0.1)
        assert mrf.denoise_energy(_SPINS8, _SPINS8, 1e300, 0.1) < -1e301  # finite: computed

    @pytest.mark.parametrize(
        ("kwargs", "name"),
        [({"beta": 5e307}, "beta"), ({"J": 8.7e307}, "J"), ({"h": 9.1e307}, "h")],
    )
    def test_ising_exact_log_partition_beyond_float64_is_refused(self, kwargs, name):
        call = {"beta": 0.4, "h": 0.1, "J": 1.0, **kwargs}
        with pytest.raises(ValueError, match=rf"log_partition .*beyond float64.*{name}="):
            mrf.ising_exact((2, 3), **call)

    def test_denoise_exact_log_partition_beyond_float64_is_refused(self):
        noisy = _SPINS8[:3, :4].copy()
        with pytest.raises(ValueError, match=r"log_partition .*beyond float64.*beta=5e\+307"):
            mrf.denoise_exact(noisy, 5e307, 0.1)

    def test_ising_energy_beyond_float64_is_refused(self):
        with pytest.raises(ValueError, match=r"energy per spin is beyond float64.*J=.*h="):
            mrf.ising_energy(np.ones((4, 4)), J=(1e308, 1e308), h=1e308)  # -3e308 per spin

    def test_ising_gibbs_with_a_coupling_near_float64_max_samples_its_limit(self):
        # Once the float conversion of the exact field overflowed (OverflowError); the logits
        # saturate, so J = 9.96e307 samples exactly what J = 1e6 does (same seed).
        start = torch.as_tensor(_SPINS8)
        huge = mrf.ising_gibbs(start, 0.4, 2, J=9.958e307, seed=0, device=CPU)
        large = mrf.ising_gibbs(start, 0.4, 2, J=1e6, seed=0, device=CPU)
        assert torch.equal(huge, large)
        with pytest.raises(ValueError, match=r"traced energy per spin is beyond float64.*J="):
            mrf.ising_gibbs(torch.ones(4, 4), 0.4, 1, J=1e308, h=1e308, seed=0, trace=True)
