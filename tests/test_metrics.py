"""Tests of lessons_lib.metrics: each metric against ground truth, the feature networks, inputs.

Digits keep these fast; the Fashion-MNIST tests skip when the dataset is not on the machine.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lessons_lib import metrics
from lessons_lib.data import fashion_mnist_available, load_digits, load_fashion_mnist

CPU = "cpu"
needs_fashion = pytest.mark.skipif(
    not fashion_mnist_available(), reason="Fashion-MNIST is not on this machine"
)


@pytest.fixture(scope="module")
def digits():
    train, train_labels = load_digits("train", device=CPU)
    val, val_labels = load_digits("val", device=CPU)
    test, test_labels = load_digits("test", device=CPU)
    return {
        "train": train,
        "train_labels": train_labels,
        "val": val,
        "val_labels": val_labels,
        "test": test,
        "test_labels": test_labels,
    }


# --------------------------------------------------------------------------- Fréchet distance


def _random_spd(rng: np.random.Generator, dim: int) -> np.ndarray:
    a = rng.normal(size=(dim, dim))
    return a @ a.T + 0.1 * np.eye(dim)


def test_frechet_distance_is_zero_for_identical_features():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(500, 16)) * rng.uniform(0.1, 10, size=16)
    assert metrics.frechet_distance_from_features(feats, feats) == pytest.approx(0.0, abs=1e-8)
    singular = np.c_[feats[:, :3], feats[:, :3]]  # a rank-3 covariance in 6 dimensions
    assert metrics.frechet_distance_from_features(singular, singular) == pytest.approx(
        0.0, abs=1e-8
    )


@given(
    st.integers(1, 6),
    st.integers(0, 10_000),
)
@settings(max_examples=40, deadline=None)
def test_gaussian_frechet_distance_matches_closed_forms(dim, seed):
    rng = np.random.default_rng(seed)
    m1, m2 = rng.normal(size=dim), rng.normal(size=dim)
    # Diagonal (commuting) covariances: d² = |m1 - m2|² + Σ (√a - √b)².
    a, b = rng.uniform(0.01, 5, size=dim), rng.uniform(0.01, 5, size=dim)
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = metrics.gaussian_frechet_distance(m1, np.diag(a), m2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # General covariances: the FID formula with scipy's sqrtm of the (non-symmetric) product.
    from scipy.linalg import sqrtm

    c1, c2 = _random_spd(rng, dim), _random_spd(rng, dim)
    cross = sqrtm(c1 @ c2)
    assert np.abs(np.imag(cross)).max() < 1e-6 * np.abs(cross).max()
    expected = np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(cross).real
    got = metrics.gaussian_frechet_distance(m1, c1, m2, c2)
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-8)
    # A distance: symmetric.
    assert metrics.gaussian_frechet_distance(m2, c2, m1, c1) == pytest.approx(got, rel=1e-9)


def test_frechet_distance_of_samples_approaches_the_closed_form_of_their_gaussians():
    rng = np.random.default_rng(1)
    m1, m2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 0.0, -1.0])
    c1, c2 = _random_spd(rng, 3), np.diag([0.5, 2.0, 1.0])
    x = rng.multivariate_normal(m1, c1, size=200_000)
    y = rng.multivariate_normal(m2, c2, size=200_000)
    truth = metrics.gaussian_frechet_distance(m1, c1, m2, c2)
    assert truth > 1.0
    assert metrics.frechet_distance_from_features(x, y) == pytest.approx(truth, rel=0.02)
    # One dimension: the squared 2-Wasserstein distance (m1 - m2)² + (s1 - s2)².
    assert metrics.gaussian_frechet_distance(
        np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]])
    ) == pytest.approx(9.0 + 1.0)


def test_frechet_distance_on_digits_is_symmetric_and_orders_degradations(digits):
    train, test = digits["train"], digits["test"]
    assert metrics.frechet_distance(test, test, device=CPU) == pytest.approx(0.0, abs=1e-6)
    floor = metrics.frechet_distance(train, test, device=CPU)
    assert metrics.frechet_distance(test, train, device=CPU) == pytest.approx(floor, rel=1e-6)
    blurred = metrics.frechet_distance(test, metrics.gaussian_blur(test, 0.5), device=CPU)
    noise = metrics.uniform_noise_images(len(test), (1, 8, 8), seed=0, device=CPU)
    uniform = metrics.frechet_distance(test, noise, device=CPU)
    assert 0 < floor < blurred < uniform
    # NumPy in works the same.
    assert metrics.frechet_distance(train.numpy(), test.numpy(), device=CPU) == pytest.approx(
        floor, rel=1e-6
    )


# --------------------------------------------------------------------------- precision / recall


def _brute_force_precision_recall(real: np.ndarray, fake: np.ndarray, k: int):
    from sklearn.neighbors import NearestNeighbors

    def radii(points):
        distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
        return distances[:, k]

    def covered(queries, points, r):
        d = np.linalg.norm(queries[:, None, :] - points[None, :, :], axis=2)
        return (d <= r[None, :]).any(1).mean()

    return covered(fake, real, radii(real)), covered(real, fake, radii(fake))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_matches_a_brute_force_computation(k):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(300, 5))
    fake = rng.normal(size=(250, 5)) * 1.3 + 0.4
    precision, recall = metrics.precision_recall_from_features(real, fake, k=k, device=CPU)
    expected = _brute_force_precision_recall(real, fake, k)
    assert (precision, recall) == pytest.approx(expected, abs=1e-12)
    assert 0.2 < precision < 1 and 0.2 < recall < 1


def test_precision_recall_behave_as_the_paper_says(digits):
    test, labels = digits["test"], digits["test_labels"]
    reference = digits["train"][torch.randperm(1259, generator=torch.Generator().manual_seed(0))]
    reference = reference[: len(test)]
    # A sample equal to the reference is fully precise and fully covers it.
    assert metrics.precision_recall(test, test.clone(), device=CPU) == (1.0, 1.0)
    floor = metrics.precision_recall(reference, test, device=CPU)
    assert floor.precision > 0.8 and floor.recall > 0.8
    # Dropping classes (mode dropping) lowers recall, not precision.
    dropped = metrics.precision_recall(reference, test[labels < 7], device=CPU)
    assert dropped.recall < floor.recall - 0.15
    assert dropped.precision > floor.precision - 0.05
    # Noise lowers precision.
    noisy = metrics.add_gaussian_noise(test, 0.3, seed=0)
    assert metrics.precision_recall(reference, noisy, device=CPU).precision < floor.precision - 0.3


# --------------------------------------------------------------------------- NDB


@given(st.integers(1, 500), st.integers(1, 500), st.integers(0, 500), st.integers(0, 500))
@settings(max_examples=60, deadline=None)
def test_two_proportion_z_test_equals_the_chi_square_test(n1, n2, k1, k2):
    from scipy.stats import chi2_contingency

    k1, k2 = min(k1, n1), min(k2, n2)
    z, p = metrics.two_proportion_z_test(k1 / n1, n1, k2 / n2, n2)
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]])
    if (table.sum(0) == 0).any():  # a proportion of 0 or 1 in both: nothing to test
        assert z == 0 and p == 1
        return
    chi2, p_chi2, _, _ = chi2_contingency(table, correction=False)
    assert z**2 == pytest.approx(chi2, rel=1e-9, abs=1e-12)
    assert p == pytest.approx(p_chi2, rel=1e-7, abs=1e-12)


def test_js_divergence_matches_scipy():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(20)), rng.dirichlet(np.ones(20))
    q[3] = 0.0
    assert metrics.js_divergence(p, q) == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-9)
    assert metrics.js_divergence(p, p) == 0.0
    assert metrics.js_divergence([1, 0], [0, 1]) == pytest.approx(math.log(2))


def test_ndb_bins_are_sorted_and_reproduce_the_training_proportions(digits):
    train = digits["train"]
    estimator = metrics.NDB(12, seed=0).fit(train)
    assert estimator.centers_.shape == (12, 64)
    assert np.all(np.diff(estimator.proportions_) <= 0)
    assert estimator.proportions_.sum() == pytest.approx(1.0)
    report = estimator.evaluate(train)  # the training set against itself: nothing differs
    assert report.n_different == 0 and report.js_divergence == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(report.proportions, estimator.proportions_)
    # Each bin is the Voronoi cell of its centre: a brute-force assignment agrees.
    flat = train.reshape(len(train), -1).numpy()
    nearest = np.argmin(((flat[:, None] - estimator.centers_[None]) ** 2).sum(2), axis=1)
    np.testing.assert_array_equal(report.assignments, nearest)


def test_ndb_is_near_zero_for_held_out_digits_and_grows_when_a_class_is_missing(digits):
    train, test, labels = digits["train"], digits["test"], digits["test_labels"]
    count, js = metrics.ndb(train, test, seed=0)  # unpacks as a pair
    missing = metrics.ndb(train, test[labels != 9], seed=0)
    many_missing = metrics.ndb(train, test[labels < 7], seed=0)
    # With K = 20 bins and alpha = 0.05, about one bin differs by chance alone.
    assert count <= 1
    assert missing.n_different > count and missing.js_divergence > js
    assert many_missing.n_different >= 4 and many_missing.js_divergence > missing.js_divergence


@needs_fashion
def test_ndb_reproduces_the_order_of_the_authors_mnist_reference():
    # Richardson and Weiss (MNIST, 100 bins): 0 bins for a validation split, 11 without nines.
    train, _ = load_fashion_mnist("train", device=CPU)
    val, val_labels = load_fashion_mnist("val", device=CPU)
    estimator = metrics.NDB(100, seed=0).fit(train)
    held_out = estimator.evaluate(val)
    no_nines = estimator.evaluate(val[val_labels != 9])
    assert held_out.n_different <= 10  # ≈ alpha·K = 5 by chance
    assert no_nines.n_different >= 11
    assert no_nines.js_divergence > 3 * held_out.js_divergence


# --------------------------------------------------------------------------- feature networks


def test_digits_feature_network_is_accurate_and_gives_features(digits):
    net = metrics.feature_network("digits", device=CPU)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert net.info["test_accuracy"] >= 0.97
    accuracy = metrics.class_accuracy(digits["test"], digits["test_labels"], device=CPU)
    assert accuracy == pytest.approx(net.info["test_accuracy"])
    assert accuracy >= 0.97
    shuffled = digits["test_labels"][torch.randperm(359, generator=torch.Generator())]
    assert metrics.class_accuracy(digits["test"], shuffled, device=CPU) < 0.3
    feats = metrics.features(digits["test"][:10], device=CPU)
    assert feats.shape == (10, net.n_features) and feats.dtype == torch.float32
    assert torch.equal(feats, metrics.features(digits["test"][:10].numpy(), device=CPU))


def test_cached_feature_network_is_reproduced_bit_for_bit(tmp_path, monkeypatch):
    monkeypatch.setenv("LESSONS_DATA_DIR", str(tmp_path))
    path = metrics.feature_network_path("digits")
    assert str(path).startswith(str(tmp_path)) and not path.exists()
    cached = metrics.feature_network("digits", device=CPU, progress=False)
    assert path.is_file()
    info = metrics.feature_network_info("digits")
    assert info["weights_sha256"] == metrics.weights_checksum(cached)
    assert {"torch", "numpy", "lessons_lib"} <= set(info["versions"])
    # Same seed, same device: the same weights, bit for bit; the caller's random state is kept.
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    again, again_info = metrics.train_feature_network("digits", device=CPU, progress=False)
    assert torch.equal(torch.rand(3), expected_draw)
    assert again_info["weights_sha256"] == info["weights_sha256"]
    for (name, a), (_, b) in zip(cached.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    # A corrupted file fails its checksum and is retrained to the same weights.
    metrics._NETWORKS.clear()
    payload = torch.load(path, weights_only=True)
    payload["state"]["model"]["head.bias"][0] += 1.0
    torch.save(payload, path)
    with pytest.warns(UserWarning, match="sha256"):
        retrained = metrics.feature_network("digits", device=CPU, progress=False)
    assert metrics.weights_checksum(retrained) == info["weights_sha256"]
    # An unreadable file is retrained too.
    metrics._NETWORKS.clear()
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="unreadable"):
        metrics.feature_network("digits", device=CPU, progress=False)
    metrics._NETWORKS.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (
            metrics.weights_checksum(metrics.feature_network("digits", device=CPU))
            == (info["weights_sha256"])
        )


@pytest.mark.slow
@needs_fashion
def test_fashion_feature_network_reaches_90_percent():
    # Uses the cached network; trains it (about a minute on one core) the first time.
    net = metrics.feature_network("fashion-mnist", device=CPU)
    test, labels = load_fashion_mnist("test", device=CPU)
    accuracy = metrics.class_accuracy(test, labels, "fashion-mnist", device=CPU)
    assert accuracy >= 0.90
    assert accuracy == pytest.approx(net.info["test_accuracy"], abs=1e-6)
    assert metrics.features(test[:5], "fashion-mnist", device=CPU).shape == (5, 64)


# --------------------------------------------------------------------------- memorization


def test_nearest_train_distance_finds_copies_and_matches_brute_force(digits):
    train = digits["train"]
    copies = train[[5, 17, 400]]
    distance, index = metrics.nearest_train_distance(copies, train, device=CPU)
    assert torch.equal(distance, torch.zeros(3, dtype=torch.float64))
    assert index.tolist() == [5, 17, 400]
    test = digits["test"][:50]
    distance, index = metrics.nearest_train_distance(test.numpy(), train.numpy(), device=CPU)
    assert isinstance(distance, np.ndarray) and distance.shape == (50,)
    brute = torch.cdist(
        test.reshape(50, -1).double(),
        train.reshape(len(train), -1).double(),
        compute_mode="donot_use_mm_for_euclid_dist",
    )
    np.testing.assert_allclose(distance, brute.min(1).values.numpy(), rtol=1e-6)
    assert np.all(distance > 0)


# --------------------------------------------------------------------------- likelihoods


def test_bits_per_dim_and_likelihood_report():
    assert metrics.bits_per_dim(64 * math.log(2), 64) == pytest.approx(1.0)
    assert metrics.nats_to_bits(math.log(8)) == pytest.approx(3.0)
    per_image = torch.tensor([10.0, 20.0])
    assert torch.allclose(
        metrics.bits_per_dim(per_image, 10), per_image.double() / (10 * math.log(2))
    )
    # A uniform density on [0, 1]^D has nll 0; with 256 grey levels that is 8 bits per value.
    assert metrics.dequantized_bits_per_dim(0.0, 784) == pytest.approx(8.0)
    # A fair coin per binary pixel: one bit per dimension.
    report = metrics.likelihood_report(np.full(5, 64 * math.log(2)), 64)
    assert report["bits_per_dim"] == pytest.approx(1.0)
    assert report["nats_per_dim"] == pytest.approx(math.log(2))
    assert report["nll_bits"] == pytest.approx(64.0)
    assert metrics.likelihood_report(0.0, 784, n_levels=256)["bits_per_dim"] == pytest.approx(8.0)


# --------------------------------------------------------------------------- calibration


def test_calibration_table_rows_are_ordered_and_evaluate_samples_agrees(digits):
    table = metrics.calibration_table("digits", device=CPU)
    floor = table.row("test set (floor)")
    missing = table.row("test set without class 9")
    blurred = table.row("test set, blurred")
    noisy = table.row("test set + Gaussian noise")
    uniform = table.row("uniform noise")
    copies = table.row("training images (copies)")
    assert floor["fd"] < noisy["fd"] < uniform["fd"]
    assert floor["fd"] < blurred["fd"] < uniform["fd"]
    assert missing["recall"] < floor["recall"] and noisy["precision"] < floor["precision"]
    assert floor["ndb_count"] < missing["ndb_count"] < uniform["ndb_count"]
    assert floor["class_accuracy"] >= 0.97 and uniform["class_accuracy"] < 0.3
    assert copies["nearest_train"] == 0 < floor["nearest_train"]
    text = table.to_markdown()
    assert text.count("\n") == len(table) + 1 and "FD" in text
    # A model's samples go through exactly the same protocol.
    test, labels = load_digits("test", device=CPU)
    row = metrics.evaluate_samples(test, labels, name="test set (floor)", device=CPU)
    for key in ("fd", "precision", "recall", "ndb", "js", "class_accuracy", "nearest_train"):
        assert row[key] == pytest.approx(floor[key]), key


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs_are_rejected_with_clear_errors(digits):
    test = digits["test"]
    with pytest.raises(ValueError, match=r"fake must be <= 1.0.*clamp"):
        metrics.frechet_distance(test, test * 2)
    with pytest.raises(ValueError, match=r"real must be >= 0.0"):
        metrics.precision_recall(test - 1, test)
    with pytest.raises(ValueError, match=r"real must be 8×8 images"):
        metrics.frechet_distance(torch.zeros(5, 1, 28, 28), test)
    with pytest.raises(ValueError, match=r"fake must have 4 dimensions"):
        metrics.frechet_distance(test, test[:, 0])
    with pytest.raises(ValueError, match=r"channel"):
        metrics.features(torch.zeros(4, 3, 8, 8))
    with pytest.raises(ValueError, match=r"dataset must be one of"):
        metrics.features(test, dataset="mnist")
    with pytest.raises(ValueError, match=r"NaN"):
        metrics.class_accuracy(torch.full_like(test, float("nan")), digits["test_labels"])
    with pytest.raises(ValueError, match=r"labels must have shape \(10\)"):
        metrics.class_accuracy(test[:10], digits["test_labels"])
    with pytest.raises(ValueError, match=r"fake needs at least 4 images"):
        metrics.precision_recall(test, test[:3])
    with pytest.raises(ValueError, match=r"same \(C, H, W\)"):
        metrics.nearest_train_distance(test, torch.zeros(3, 1, 28, 28))
    with pytest.raises(ValueError, match=r"same \(C, H, W\)"):
        metrics.ndb(test, torch.zeros(3, 1, 28, 28))
    with pytest.raises(ValueError, match=r"at least 2 \* n_bins"):
        metrics.ndb(test[:30], test, n_bins=20)
    with pytest.raises(ValueError, match=r"same number of columns"):
        metrics.frechet_distance_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"n_dims must be >= 1"):
        metrics.bits_per_dim(1.0, 0)
    with pytest.raises(TypeError, match=r"nll_nats must be a number"):
        metrics.bits_per_dim("1.0", 64)
    with pytest.raises(RuntimeError, match=r"not fitted"):
        metrics.NDB().evaluate(test)


# --------------------------------------------------------------------------- other devices


@pytest.mark.cuda
def test_metrics_on_cuda_agree_with_the_cpu(digits):
    train, test = digits["train"], digits["test"]
    gpu = metrics.features(test.cuda(), device="cuda")
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), metrics.features(test, device=CPU), atol=1e-4, rtol=1e-4)
    fd_cpu = metrics.frechet_distance(train, test, device=CPU)
    assert metrics.frechet_distance(train, test, device="cuda") == pytest.approx(fd_cpu, rel=1e-3)
    pr_cpu = metrics.precision_recall(train, test, device=CPU)
    pr_gpu = metrics.precision_recall(train.cuda(), test.cuda(), device="cuda")
    assert pr_gpu == pytest.approx(pr_cpu, abs=0.01)
    distance, index = metrics.nearest_train_distance(test.cuda(), train.cuda(), device="cuda")
    assert index.device.type == "cuda"
    cpu_distance, _ = metrics.nearest_train_distance(test, train, device=CPU)
    torch.testing.assert_close(distance.cpu(), cpu_distance, atol=1e-5, rtol=1e-5)
