"""Tests of lessons_lib.metrics: each metric against ground truth, the feature networks, inputs.

Digits keep these fast; the Fashion-MNIST tests skip when the dataset is not on the machine.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lessons_lib import metrics
from lessons_lib.data import fashion_mnist_available, load_digits, load_fashion_mnist

# Private names are patched where they live now (metrics is a face over lessons_lib.evaluation).
from lessons_lib.evaluation import feature_networks, feature_space

CPU = "cpu"
needs_fashion = pytest.mark.skipif(
    not fashion_mnist_available(download=False), reason="Fashion-MNIST is not on this machine"
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


# =========================================================================== regressions
# Each test below failed before its fix (fresh-machine crash under no_grad, the lock file
# left behind, silent wrong answers and deep NumPy/torch errors on bad or extreme inputs).


@pytest.fixture
def quick_digits_recipe(tmp_path, monkeypatch):
    """A fresh data folder and a one-epoch digits recipe: training takes a fraction of a second."""
    import dataclasses

    monkeypatch.setenv("LESSONS_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(
        metrics._RECIPES, "digits", dataclasses.replace(metrics._RECIPES["digits"], epochs=1)
    )
    monkeypatch.setattr(feature_space, "_NETWORKS", {})
    monkeypatch.setattr(feature_space, "_DEVICE_COPIES", {})
    return tmp_path


class TestTrainingUnderTheCallersGradMode:
    """The feature network trains on first use, whatever autograd mode the caller is in."""

    @pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
    def test_train_feature_network_inside_no_grad_or_inference_mode(
        self, quick_digits_recipe, mode
    ):
        context = torch.no_grad() if mode == "no_grad" else torch.inference_mode()
        with context:
            net, info = metrics.train_feature_network(device=CPU, progress=False)
            # The caller's mode is given back once training is done.
            assert not torch.is_grad_enabled()
            assert torch.is_inference_mode_enabled() == (mode == "inference_mode")
        assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        assert np.isfinite(info["history"]["loss"]).all()
        assert not any(p.requires_grad for p in net.parameters())

    def test_classify_trains_the_missing_network_under_its_own_no_grad(self, quick_digits_recipe):
        predicted = metrics.classify(torch.zeros(4, 1, 8, 8), device=CPU)
        assert predicted.shape == (4,) and predicted.dtype == torch.int64
        assert metrics.feature_network_path("digits").is_file()

    def test_training_data_made_under_inference_mode_can_be_trained_on(
        self, quick_digits_recipe, monkeypatch
    ):
        # A guard (this already held: train_loop's mini-batches index into fresh tensors).
        load = metrics._load_split

        def inference_split(dataset, split, device="cpu"):
            with torch.inference_mode():
                images, labels = load(dataset, split, device=device)
                return images * 1.0, labels + 0  # inference tensors

        monkeypatch.setattr(feature_networks, "_load_split", inference_split)
        net, _ = metrics.train_feature_network(device=CPU, progress=False)
        assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)

    def test_network_first_loaded_in_inference_mode_still_works_with_autograd(
        self, quick_digits_recipe
    ):
        with torch.inference_mode():
            metrics.feature_network(device=CPU, progress=False)
        net = metrics.feature_network(device=CPU, progress=False)
        assert not any(p.is_inference() for p in net.parameters())
        x = torch.zeros(2, 1, 8, 8, requires_grad=True)
        net(x).sum().backward()  # an inference-mode weight could not be saved for backward
        assert x.grad is not None and x.grad.shape == x.shape


class TestCacheLock:
    """Parallel processes train once, and the lock leaves nothing behind."""

    def test_training_leaves_only_the_checkpoint(self, quick_digits_recipe):
        metrics.feature_network(device=CPU, progress=False)
        files = sorted(p.name for p in quick_digits_recipe.rglob("*") if p.is_file())
        assert files == [metrics.feature_network_path("digits").name]

    def test_the_lock_is_exclusive_creates_no_file_and_removes_the_old_one(self, tmp_path):
        fcntl = pytest.importorskip("fcntl")
        path = tmp_path / "feature_nets" / "digits-abc.pt"
        path.parent.mkdir()
        path.with_suffix(".lock").write_bytes(b"")  # left by an earlier version
        with metrics._exclusive(path):
            probe = os.open(path.parent, os.O_RDONLY)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(probe)
        assert list(path.parent.iterdir()) == []
        probe = os.open(path.parent, os.O_RDONLY)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on exit
        finally:
            os.close(probe)


class TestCovarianceChecks:
    def test_negative_definite_covariance_is_rejected(self):
        zero, eye = np.zeros(3), np.eye(3)
        with pytest.raises(ValueError, match=r"cov1 must be positive semi-definite"):
            metrics.gaussian_frechet_distance(zero, -eye, zero, eye)
        with pytest.raises(ValueError, match=r"cov2 must be positive semi-definite"):
            metrics.gaussian_frechet_distance(zero, eye, zero, np.diag([1.0, -0.5, 1.0]))

    def test_non_symmetric_covariance_is_rejected(self):
        zero, eye = np.zeros(2), np.eye(2)
        with pytest.raises(ValueError, match=r"cov2 must be a symmetric"):
            metrics.gaussian_frechet_distance(zero, eye, zero, np.array([[1.0, 0.5], [0.0, 1.0]]))

    def test_rounding_and_singular_covariances_are_accepted(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(50, 3)).astype(np.float32)
        cov = np.cov(np.c_[x, x], rowvar=False).astype(np.float32)  # singular, float32 noise
        mean = np.zeros(6)
        assert metrics.gaussian_frechet_distance(mean, cov, mean, cov) == pytest.approx(
            0.0, abs=1e-5
        )
        assert metrics.gaussian_frechet_distance(
            mean, np.zeros((6, 6)), mean, np.zeros((6, 6))
        ) == (0.0)

    @pytest.mark.parametrize("power", [-500, 300])
    def test_gaussian_frechet_distance_scales_with_the_square_of_the_features(self, power):
        rng = np.random.default_rng(1)
        m1, m2 = rng.normal(size=3), rng.normal(size=3)
        c1, c2 = _random_spd(rng, 3), _random_spd(rng, 3)
        base = metrics.gaussian_frechet_distance(m1, c1, m2, c2)
        s = 2.0**power
        scaled = metrics.gaussian_frechet_distance(m1 * s, c1 * s * s, m2 * s, c2 * s * s)
        assert scaled == pytest.approx(base * 2.0 ** (2 * power), rel=1e-9)


class TestScaleInvariance:
    """Finite features of any magnitude: the right answer, or a clear refusal."""

    @pytest.mark.parametrize("scale", [1e200, 1e-200, 1e300, 2.0**-1000])
    def test_precision_recall_is_scale_invariant(self, scale):
        rng = np.random.default_rng(3)
        real = rng.normal(size=(120, 4))
        fake = rng.normal(size=(100, 4)) * 1.3 + 0.4
        expected = metrics.precision_recall_from_features(real, fake, device=CPU)
        assert 0.2 < expected.precision < 1 and 0.2 < expected.recall < 1
        got = metrics.precision_recall_from_features(real * scale, fake * scale, device=CPU)
        assert got == expected
        tensors = metrics.precision_recall_from_features(
            torch.from_numpy(real * scale), torch.from_numpy(fake * scale), device=CPU
        )
        assert tensors == expected

    @pytest.mark.parametrize("power", [-600, 450])  # features near 1e-180 and 1e135
    def test_frechet_distance_from_features_at_extreme_magnitudes(self, power):
        rng = np.random.default_rng(4)
        a, b = rng.normal(size=(80, 3)), rng.normal(size=(90, 3)) + 0.5
        base = metrics.frechet_distance_from_features(a, b)
        s = 2.0**power
        got = metrics.frechet_distance_from_features(a * s, b * s)
        assert got == pytest.approx(base * 2.0 ** (2 * power), rel=1e-9)

    def test_frechet_distance_beyond_float64_is_refused_not_inf(self):
        rng = np.random.default_rng(5)
        a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 1.0
        assert metrics.frechet_distance_from_features(a * 1e200, a * 1e200) == 0.0
        with pytest.raises(ValueError, match=r"beyond float64's range"):
            metrics.frechet_distance_from_features(a * 1e200, b * 1e200)

    def test_nearest_train_distance_keeps_float64_precision_and_tiny_images(self):
        rng = np.random.default_rng(6)
        train = rng.uniform(size=(30, 1, 4, 4))
        near = train[[3, 7]] + 1e-12  # float32 would round these to copies (distance 0)
        distance, index = metrics.nearest_train_distance(near, train, device=CPU)
        assert index.tolist() == [3, 7]
        np.testing.assert_allclose(distance, 4e-12, rtol=1e-3)
        tiny = train * 1e-300  # squares underflow to 0 in any float dtype
        distance, index = metrics.nearest_train_distance(tiny[[5, 9]] * 1.5, tiny, device=CPU)
        squares = ((tiny[[5, 9]] * 1.5)[:, None] * 1e300 - tiny[None] * 1e300) ** 2
        expected = squares.reshape(2, 30, -1).sum(2) ** 0.5
        assert index.tolist() == expected.argmin(1).tolist()
        np.testing.assert_allclose(distance * 1e300, expected.min(1), rtol=1e-9)


class TestHistogramsAndProportions:
    def test_js_divergence_accepts_tensors_and_handles_zero_bins(self):
        from scipy.spatial.distance import jensenshannon

        p, q = torch.tensor([3.0, 0.0, 1.0, 0.0]), torch.tensor([0, 2, 2, 0])
        expected = jensenshannon(p.numpy(), q.numpy()) ** 2
        assert metrics.js_divergence(p, q) == pytest.approx(expected, rel=1e-12)
        assert metrics.js_divergence(p.double(), p) == 0.0
        # Counts near float64's limit: normalized without overflowing their sum.
        assert metrics.js_divergence([1e308, 1e308], [1, 1]) == 0.0
        assert metrics.js_divergence([1e308, 0], [0, 5e-324]) == pytest.approx(math.log(2))

    @pytest.mark.parametrize(
        ("p", "q", "error", "match"),
        [
            ([1.0, -1.0], [1.0, 1.0], ValueError, r"p must hold non-negative"),
            ([1.0, 1.0], [0.0, 0.0], ValueError, r"q is all zeros"),
            ([np.nan, 1.0], [1.0, 1.0], ValueError, r"p contains NaN"),
            ([1.0, 1.0], [np.inf, 1.0], ValueError, r"q contains NaN or infinite"),
            ([1.0, 2.0], [1.0, 2.0, 3.0], ValueError, r"same number of bins"),
            ([[1.0, 2.0]], [[1.0, 2.0]], ValueError, r"p must be a 1-D histogram"),
            ([], [1.0], ValueError, r"p is empty"),
            (["a", "b"], [1.0, 1.0], TypeError, r"p must have a"),
            ([1, [2, 3]], [1.0, 1.0], TypeError, r"p must be a 1-D histogram"),
        ],
    )
    def test_js_divergence_rejects_bad_histograms(self, p, q, error, match):
        with pytest.raises(error, match=match):
            metrics.js_divergence(p, q)

    def test_two_proportion_z_test_degenerate_and_extreme_cases(self):
        z, p = metrics.two_proportion_z_test(0.0, 10, 0.0, 20)
        assert (float(z), float(p)) == (0.0, 1.0)
        z, p = metrics.two_proportion_z_test(np.array([1.0, 0.0, 0.5]), 10, 1.0, 10)
        assert z[0] == 0.0 and p[0] == 1.0 and p[2] < 1.0 and np.isfinite(z).all()
        z, p = metrics.two_proportion_z_test(5e-324, 10, 0.0, 10)  # pooled p underflows
        assert np.isfinite(z) and 0.0 < float(z) < 1e-100 and float(p) == pytest.approx(1.0)
        z, p = metrics.two_proportion_z_test(torch.tensor([0.2, 0.4]), 50, [0.3, 0.3], 60)
        assert z.shape == (2,) and np.isfinite(z).all()

    @pytest.mark.parametrize(
        ("args", "error", "match"),
        [
            ((1.5, 10, 0.2, 10), ValueError, r"p1 must hold proportions in \[0, 1\]"),
            ((0.5, 10, -0.1, 10), ValueError, r"p2 must hold proportions"),
            ((np.nan, 10, 0.2, 10), ValueError, r"p1 contains NaN"),
            ((0.5, 0, 0.5, 10), ValueError, r"n1 must be >= 1"),
            ((0.5, 10, 0.5, -3), ValueError, r"n2 must be >= 1"),
            ((0.5, 2.5, 0.5, 10), TypeError, r"n1 must be an integer"),
            ((0.5, True, 0.5, 10), TypeError, r"n1 must be an integer"),
            ((0.5, 10, 0.5, 2**60), ValueError, r"n2 must be <="),
            (([0.1, 0.2], 10, [0.1, 0.2, 0.3], 10), ValueError, r"broadcastable"),
            (("x", 10, 0.5, 10), TypeError, r"p1 must have a"),
        ],
    )
    def test_two_proportion_z_test_rejects_bad_input(self, args, error, match):
        with pytest.raises(error, match=match):
            metrics.two_proportion_z_test(*args)


class TestDegradationsAndLikelihoods:
    def test_gaussian_blur_limits(self):
        x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        assert torch.equal(metrics.gaussian_blur(x, 0.0), x)  # sigma = 0: unchanged
        assert torch.allclose(metrics.gaussian_blur(x, 1e-300), x)
        flat = metrics.gaussian_blur(x, 1e308)  # σ² overflowed, 3σ too: uniform kernel
        assert torch.isfinite(flat).all() and flat.std() < x.std()
        row = metrics.gaussian_blur(torch.rand(2, 1, 1, 8), 1.0)  # one-pixel-high images
        assert row.shape == (2, 1, 1, 8) and torch.isfinite(row).all()

    def test_add_gaussian_noise_limits(self):
        x = torch.rand(2, 1, 8, 8)
        assert torch.equal(metrics.add_gaussian_noise(x, 0.0, seed=1), x)
        huge = metrics.add_gaussian_noise(x, 1e300, seed=1)
        assert not torch.isnan(huge).any() and set(torch.unique(huge).tolist()) <= {0.0, 1.0}

    def test_likelihoods_near_float64_limits(self):
        report = metrics.likelihood_report(np.array([1e308, 1e308]), 10)
        assert report["nll_nats"] == pytest.approx(1e308) and math.isfinite(report["nll_bits"])
        assert metrics.dequantized_bits_per_dim(1.7e308, 2, 256) == pytest.approx(
            1.7e308 / (2 * math.log(2))
        )
        with pytest.raises(ValueError, match=r"nats is so large"):
            metrics.nats_to_bits(1.7e308)
        with pytest.raises(ValueError, match=r"nll_nats must fit in a float64"):
            metrics.bits_per_dim(10**400, 64)
        with pytest.raises(ValueError, match=r"n_dims must be <="):
            metrics.bits_per_dim(1.0, 10**400)


def _images(n: int = 6, size: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(n))


# (call, error type, message pattern). Each of these failed before this review: a deep NumPy
# or torch error, a silent answer, or a check after the work had started.
BAD_INPUTS = [
    (lambda: metrics.features(_images(), dataset=np.array([1, 2])), TypeError, r"dataset must"),
    (lambda: metrics.feature_network_path(3), TypeError, r"dataset must be a str"),
    (
        lambda: metrics.precision_recall_from_features(np.zeros((5, 2)), np.zeros((5, 2)), k=5),
        ValueError,
        r"real_features needs more than k=5",
    ),
    (
        lambda: metrics.precision_recall_from_features(np.zeros((5, 2), complex), np.zeros((5, 2))),
        TypeError,
        r"real_features must have a",
    ),
    (lambda: metrics.NDB(4, max_fit=3).fit(_images(40)), ValueError, r"max_fit=3 must be at"),
    (lambda: metrics.NDB(whiten="yes"), TypeError, r"whiten must be True or False"),
    (lambda: metrics.gaussian_blur(_images(), -1.0), ValueError, r"sigma must be >= 0"),
    (lambda: metrics.add_gaussian_noise(_images(), -0.1), ValueError, r"std must be >= 0"),
    (lambda: metrics.uniform_noise_images(2, 8), TypeError, r"shape must be a sequence"),
    (lambda: metrics.weights_checksum({"w": torch.zeros(2)}), TypeError, r"module must be"),
    (lambda: metrics.FeatureNet((8,), (16, 32)), TypeError, r"image_size must be a pair"),
    (lambda: metrics.FeatureNet((8, 8), (16, 0)), ValueError, r"channels must be >= 1"),
    (lambda: metrics.FeatureNet((8, 8), hidden=0), ValueError, r"hidden must be >= 1"),
    (lambda: metrics.FeatureNet((8, 8))(torch.zeros(2, 1, 28, 28)), ValueError, r"\(N, 1, 8, 8\)"),
    (lambda: metrics.FeatureNet((8, 8))(torch.zeros(2, 1, 8, 8).double()), TypeError, r"dtype"),
    (lambda: metrics.FeatureNet((8, 8)).features(np.zeros((2, 1, 8, 8))), TypeError, r"tensor"),
    (lambda: metrics.to_markdown({"name": "x"}), TypeError, r"rows must be a list"),
    (lambda: metrics.to_markdown([1, 2]), TypeError, r"rows\[0\] must be a dict"),
    (lambda: metrics.MetricTable([{"name": "a"}]).row(1), TypeError, r"name_start must be a str"),
    (lambda: metrics.evaluate_samples(_images(), n_bins=[3]), TypeError, r"n_bins must be an"),
    (lambda: metrics.evaluate_samples(_images(), name=3), TypeError, r"name must be a str"),
    (lambda: metrics.calibration_table(n=400), ValueError, r"n=400 is more than the 359"),
    (lambda: metrics.calibration_table(n_bins=1), ValueError, r"n_bins must be >= 2"),
]

# Checks that already held; kept in the table so the review's changes cannot lose them.
BAD_INPUTS_ALREADY_CHECKED = [
    (lambda: metrics.recipe_for("mnist"), ValueError, r"dataset must be one of"),
    (lambda: metrics.features(_images(), batch_size=0), ValueError, r"batch_size must be >= 1"),
    (lambda: metrics.classify(_images().double() * 2), ValueError, r"images must be <= 1"),
    (lambda: metrics.classify(torch.zeros(0, 1, 8, 8)), ValueError, r"images is empty"),
    (lambda: metrics.classify([[0.0]]), TypeError, r"images must be a NumPy array"),
    (lambda: metrics.class_accuracy(_images(), torch.zeros(6)), TypeError, r"labels must have"),
    (lambda: metrics.class_accuracy(_images(), torch.full((6,), 10)), ValueError, r"labels must"),
    (lambda: metrics.frechet_distance(_images(1), _images()), ValueError, r"real needs at least 2"),
    (lambda: metrics.precision_recall(_images(), _images(), k=0), ValueError, r"k must be >= 1"),
    (lambda: metrics.precision_recall(_images(), _images(), k=6), ValueError, r"real needs at"),
    (
        lambda: metrics.precision_recall_from_features(np.zeros((5, 2)), np.zeros((5, 2)), k=1.5),
        TypeError,
        r"k must be an integer",
    ),
    (
        lambda: metrics.precision_recall_from_features(np.full((5, 2), np.inf), np.zeros((5, 2))),
        ValueError,
        r"real_features contains NaN",
    ),
    (
        lambda: metrics.frechet_distance_from_features(np.zeros((1, 3)), np.zeros((4, 3))),
        ValueError,
        r"features1 needs at least 2 rows",
    ),
    (
        lambda: metrics.frechet_distance_from_features(np.zeros(4), np.zeros((4, 3))),
        ValueError,
        r"features1 must have 2 dimensions",
    ),
    (
        lambda: metrics.gaussian_frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2)),
        ValueError,
        r"cov1 must have shape \(2, 2\)",
    ),
    (
        lambda: metrics.gaussian_frechet_distance(
            np.zeros(2), np.full((2, 2), np.nan), np.zeros(2), np.eye(2)
        ),
        ValueError,
        r"cov1 contains NaN",
    ),
    (lambda: metrics.ndb(_images(40), _images(), n_bins=1), ValueError, r"n_bins must be >= 2"),
    (lambda: metrics.ndb(_images(40), _images(), alpha=1.5), ValueError, r"alpha must lie in"),
    (lambda: metrics.NDB(4).fit(_images(40)).assign(_images(3, 4)), ValueError, r"images must"),
    (
        lambda: metrics.nearest_train_distance(_images(), _images(), batch_size=0),
        ValueError,
        r"batch",
    ),
    (lambda: metrics.gaussian_blur(_images(), float("nan")), TypeError, r"sigma must be a finite"),
    (lambda: metrics.gaussian_blur(_images()[:, 0], 1.0), ValueError, r"images must have 4 dim"),
    (lambda: metrics.add_gaussian_noise(_images(), "0.1"), TypeError, r"std must be a finite"),
    (lambda: metrics.uniform_noise_images(0, (1, 8, 8)), ValueError, r"n must be >= 1"),
    (lambda: metrics.uniform_noise_images(2, (1, 0, 8)), ValueError, r"shape must be >= 1"),
    (lambda: metrics.bits_per_dim(np.array([np.nan]), 64), ValueError, r"nll_nats contains NaN"),
    (lambda: metrics.likelihood_report(1.0, 64, n_levels=1), ValueError, r"n_levels must be >= 2"),
    (lambda: metrics.dequantized_bits_per_dim(1.0, 64, 1), ValueError, r"n_levels must be >= 2"),
    (lambda: metrics.nats_to_bits(np.array([])), ValueError, r"nats is empty"),
    (lambda: metrics.evaluate_samples(_images(), n=3), ValueError, r"n must be >= 4"),
    (lambda: metrics.calibration_table(removed_class=10), ValueError, r"removed_class must be"),
    (lambda: metrics.calibration_table(blur_sigma=0.0), ValueError, r"blur_sigma must be > 0"),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD_INPUTS + BAD_INPUTS_ALREADY_CHECKED)
def test_bad_inputs_raise_clear_errors_before_any_work(call, error, match, monkeypatch):
    # None of these may reach the feature network (it would train on a fresh machine).
    def no_network(*args, **kwargs):
        raise AssertionError("the feature network was reached despite the bad input")

    monkeypatch.setattr(feature_space, "_cached_network", no_network)
    with pytest.raises(error, match=match):
        call()


def test_calibration_table_refuses_an_n_that_leaves_too_few_images(monkeypatch):
    load = metrics._load_split

    def nines_only(dataset, split, device="cpu"):
        images, labels = load(dataset, split, device=device)
        return images, torch.full_like(labels, 9) if split == "test" else labels

    monkeypatch.setattr(feature_networks, "_load_split", nines_only)
    monkeypatch.setattr(feature_space, "_cached_network", lambda *a, **k: pytest.fail("reached"))
    with pytest.raises(ValueError, match=r"without class 9 only 0 test images remain"):
        metrics.calibration_table(n=10, removed_class=9)


SEEDED = [
    lambda seed: metrics.add_gaussian_noise(_images(), 0.1, seed=seed),
    lambda seed: metrics.uniform_noise_images(2, (1, 8, 8), seed=seed),
    lambda seed: metrics.NDB(4, seed=seed),
    lambda seed: metrics.ndb(_images(40), _images(), n_bins=4, seed=seed),
    lambda seed: metrics.evaluate_samples(_images(), seed=seed),
    lambda seed: metrics.calibration_table(seed=seed),
]


@pytest.mark.parametrize("which", range(len(SEEDED)))
@pytest.mark.parametrize(
    ("seed", "error"),
    [(True, TypeError), (1.0, TypeError), ("3", TypeError), (-1, ValueError), (2**32, ValueError)],
)
def test_seeds_must_be_non_negative_integers_below_2_to_the_32(which, seed, error, monkeypatch):
    monkeypatch.setattr(feature_space, "_cached_network", lambda *a, **k: pytest.fail("reached"))
    with pytest.raises(error, match=r"seed must be"):
        SEEDED[which](seed)


def test_noise_seeds_accept_none_and_numpy_integers():
    a = metrics.add_gaussian_noise(_images(), 0.1, seed=np.int64(7))
    assert torch.equal(a, metrics.add_gaussian_noise(_images(), 0.1, seed=7))
    assert metrics.uniform_noise_images(2, (1, 2, 2), seed=None).shape == (2, 1, 2, 2)
    assert metrics.NDB(4, seed=2**32 - 1).seed == 2**32 - 1


# =========================================================================== round 2 regressions
# Before: absurd sizes failed deep in torch ("Overflow when unpacking long long"), NaN/inf
# images went through FeatureNet.features/forward silently, and MetricTable.row raised a bare
# KeyError that did not name its argument.


def _no_network(monkeypatch):
    monkeypatch.setattr(
        feature_space, "_cached_network", lambda *a, **k: pytest.fail("feature network reached")
    )


class TestRound2SizeBounds:
    @pytest.mark.parametrize("argument", ["hidden", "n_classes"])
    @pytest.mark.parametrize("huge", [10**20, 10**28, metrics.MAX_UNITS + 1])
    def test_feature_net_units_are_bounded(self, argument, huge):
        with pytest.raises(ValueError, match=rf"^{argument} must be <= 1048576 \(2\*\*20"):
            metrics.FeatureNet((8, 8), **{argument: huge})

    def test_feature_net_channels_and_image_size_are_bounded(self):
        with pytest.raises(ValueError, match=r"^channels must hold two integers at most"):
            metrics.FeatureNet((8, 8), channels=(4, 10**20))
        with pytest.raises(ValueError, match=r"^image_size must hold two integers at most"):
            metrics.FeatureNet((10**20, 8))

    def test_feature_net_total_weights_are_bounded(self):
        # Every size within its own bound, but (4 · 16384²) · 64 weights in the first Linear.
        with pytest.raises(ValueError, match=r"would have \d+ weights, more than 2147483648"):
            metrics.FeatureNet((2**15, 2**15), channels=(4, 4), hidden=64)

    @pytest.mark.parametrize(
        "call",
        [
            lambda b: metrics.features(_images(), device="cpu", batch_size=b),
            lambda b: metrics.nearest_train_distance(_images(), _images(), batch_size=b),
            lambda b: metrics.precision_recall_from_features(
                np.eye(6), np.eye(6)[::-1], k=2, batch_size=b
            ),
        ],
    )
    @pytest.mark.parametrize("huge", [10**20, 10**30, metrics.MAX_BATCH_SIZE + 1])
    def test_batch_sizes_are_bounded(self, call, huge, monkeypatch):
        _no_network(monkeypatch)
        with pytest.raises(ValueError, match=r"^batch_size must be at most 2147483648"):
            call(huge)

    def test_a_batch_size_at_the_bound_is_one_batch(self):
        x, y = _images(5), _images(7)
        big = metrics.nearest_train_distance(x, y, batch_size=metrics.MAX_BATCH_SIZE)
        small = metrics.nearest_train_distance(x, y, batch_size=2)
        assert torch.equal(big.index, small.index) and torch.allclose(big.distance, small.distance)
        rng = np.random.default_rng(0)
        real, fake = rng.normal(size=(9, 3)), rng.normal(size=(8, 3))
        assert metrics.precision_recall_from_features(
            real, fake, batch_size=metrics.MAX_BATCH_SIZE
        ) == metrics.precision_recall_from_features(real, fake, batch_size=3)

    @pytest.mark.parametrize("n", [10**20, 10**27])
    def test_uniform_noise_images_bounds_the_result_size(self, n):
        with pytest.raises(ValueError, match=rf"^n={n} images of shape \(1, 8, 8\) would hold"):
            metrics.uniform_noise_images(n, (1, 8, 8), seed=0)
        with pytest.raises(ValueError, match=r"at most 1 for this shape"):
            metrics.uniform_noise_images(2, (1, 2**15, 2**16), seed=0)


class TestRound2FeatureNetInputs:
    @pytest.mark.parametrize("method", ["features", "forward"])
    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
    def test_non_finite_images_are_refused(self, method, value):
        net = metrics.FeatureNet((8, 8), channels=(4, 4), hidden=8).eval()
        images = _images(12)
        images[3, 0, 6, 6] = value
        with pytest.raises(ValueError, match=r"^images contains NaN or infinite values"):
            getattr(net, method)(images)

    def test_finite_images_still_pass(self):
        net = metrics.FeatureNet((8, 8), channels=(4, 4), hidden=8).eval()
        assert net(_images(12)).shape == (12, 10)
        assert net.features(_images(12)).shape == (12, 8)


class TestRound2MetricTableRow:
    def test_an_unknown_row_is_a_value_error_naming_name_start(self):
        table = metrics.MetricTable([{"name": "test set"}, {"name": "noise"}])
        with pytest.raises(ValueError, match=r"^name_start='blur' matches no row") as info:
            table.row("blur")
        # Still a KeyError for code written against the earlier behaviour, and shown unquoted.
        assert isinstance(info.value, KeyError)
        assert str(info.value).startswith("name_start=") and "'test set', 'noise'" in str(
            info.value
        )
        assert table.row("noi") == {"name": "noise"}


_TEXT_ROWS = (
    {
        "name": "test set (floor)",
        "n": 359,
        "fd": 1.234,
        "precision": 0.75,
        "recall": 0.8,
        "ndb": "1/20",
        "ndb_count": 1,
        "ndb_bins": 20,
        "js": 0.0123,
        "class_accuracy": 0.98,
        "nearest_train": 1.5,
    },
    {
        "name": "training images (copies) and a much longer name",
        "n": 359,
        "fd": 0.9,
        "precision": 0.7,
        "recall": None,
        "ndb": "0/20",
        "js": 0.0004,
        "class_accuracy": 1.0,
        "nearest_train": 0.0,
    },
)


class TestMetricTableText:
    """Where Markdown is not rendered, a MetricTable prints as a short aligned table (issue 13)."""

    ROWS = _TEXT_ROWS

    def test_repr_and_str_are_one_line_per_row_with_aligned_columns(self):
        table = metrics.MetricTable(self.ROWS)
        text = repr(table)
        assert str(table) == text
        lines = text.splitlines()
        assert lines[0] == "MetricTable, n = 359" and len(lines) == 2 + len(self.ROWS)
        header, *body = lines[1:]
        assert header.split()[:3] == ["candidate", "FD", "prec."]
        assert "ndb_count" not in text and "{" not in text  # no dict dump
        assert body[0].split()[-7:] == ["1.23", "0.75", "0.8", "1/20", "0.0123", "0.98", "1.5"]
        assert body[1].startswith("training images (copies) an…") and "–" in body[1]
        ends = {len(line) for line in lines[1:]}
        assert len(ends) == 1  # numbers right-aligned under their headings
        assert max(len(line) for line in lines) <= 100

    def test_an_empty_table_and_mixed_n(self):
        assert repr(metrics.MetricTable()) == "MetricTable([])"
        mixed = metrics.MetricTable([self.ROWS[0], {**self.ROWS[1], "n": 100}])
        assert repr(mixed).splitlines()[0] == "MetricTable"
        assert metrics.MetricTable(self.ROWS)._repr_markdown_().startswith("| candidate")
