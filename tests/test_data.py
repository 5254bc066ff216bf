import dataclasses
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import fake_spec, idx_bytes

from lessons_lib import data
from lessons_lib.data import download, locate, mnist

# --------------------------------------------------------------------------- IDX helpers


def small_dataset_files(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "train_images": rng.integers(0, 256, (40, 4, 4), dtype=np.uint8),
        "train_labels": np.repeat(np.arange(10, dtype=np.uint8), 4),
        "test_images": rng.integers(0, 256, (10, 4, 4), dtype=np.uint8),
        "test_labels": np.arange(10, dtype=np.uint8),
    }


def make_spec(arrays, base_url="http://127.0.0.1:9/", name="fake") -> data.RemoteDataset:
    return fake_spec(arrays, (base_url,), name)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LESSONS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(download.time, "sleep", lambda s: None)
    return tmp_path


def test_read_idx_round_trip_raw_and_gzip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = tmp_path / "a-ubyte"
    raw.write_bytes(idx_bytes(array))
    gz = tmp_path / "a-ubyte.gz"
    gz.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(data.read_idx(raw), array)
    np.testing.assert_array_equal(data.read_idx(gz), array)
    np.testing.assert_array_equal(data.read_idx(idx_bytes(array)), array)


def test_read_idx_rejects_a_truncated_file(tmp_path):
    path = tmp_path / "t-ubyte"
    path.write_bytes(idx_bytes(np.zeros((5, 4, 4), np.uint8))[:-7])
    with pytest.raises(data.DataIntegrityError, match=r"t-ubyte.*truncated or corrupt"):
        data.read_idx(path)


def test_read_idx_rejects_garbage(tmp_path):
    path = tmp_path / "g-ubyte"
    path.write_bytes(b"hello world")
    with pytest.raises(data.DataIntegrityError, match="not an IDX file"):
        data.read_idx(path)
    with pytest.raises(data.DataIntegrityError, match="unknown IDX type"):
        data.read_idx(bytes([0, 0, 0x42, 1, 0, 0, 0, 0]))


def test_read_idx_rejects_a_damaged_gzip(tmp_path):
    path = tmp_path / "d-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((50, 8), np.uint8)))[:-12])
    with pytest.raises(data.DataIntegrityError, match=r"d-ubyte.gz is a damaged or truncated gzip"):
        data.read_idx(path)


# --------------------------------------------------------------------------- local copies


def write_local(folder: Path, arrays, level=9):
    folder.mkdir(parents=True, exist_ok=True)
    for key, array in arrays.items():
        (folder / f"{key}.gz").write_bytes(gzip.compress(idx_bytes(array), compresslevel=level))


def test_local_recompressed_copy_is_checked_by_content(cache, monkeypatch):
    arrays = small_dataset_files(np.random.default_rng(0))
    spec = make_spec(arrays)
    # A different compression level changes the .gz bytes (like Debian's recompression)
    # but not the content, which is what a local copy is checked by.
    write_local(cache / "fake", arrays, level=1)
    monkeypatch.setattr(mnist, "FASHION_MNIST", spec)
    images, labels = data.load_fashion_mnist("test", download=False, device="cpu")
    assert images.shape == (10, 1, 4, 4) and labels.dtype == torch.int64
    np.testing.assert_allclose(images[:, 0].numpy(), arrays["test_images"] / 255.0, atol=1e-7)


def test_local_corrupt_copy_names_the_file_and_the_fix(cache, monkeypatch):
    arrays = small_dataset_files(np.random.default_rng(0))
    spec = make_spec(arrays)
    tampered = dict(arrays, test_images=arrays["test_images"] ^ 1)
    write_local(cache / "fake", tampered)
    monkeypatch.setattr(mnist, "FASHION_MNIST", spec)
    with pytest.raises(data.DataIntegrityError, match=r"test_images.gz does not match.*Delete"):
        data.load_fashion_mnist("test", download=False, device="cpu")


def test_missing_files_without_download(cache, monkeypatch):
    monkeypatch.setattr(
        mnist, "FASHION_MNIST", make_spec(small_dataset_files(np.random.default_rng(0)))
    )
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        data.load_fashion_mnist("train", download=False, device="cpu")


# --------------------------------------------------------------------------- downloads


class FileServer:
    """A loopback HTTP server; ``lie`` announces more bytes than it sends (a cut download)."""

    def __init__(self, files: dict[str, bytes], lie: bool = False):
        served = files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = served.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + (100 if lie else 0)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def served_files(arrays):
    return {f"{k}.gz": gzip.compress(idx_bytes(a), mtime=0) for k, a in arrays.items()}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part"))


def test_download_writes_verified_files_atomically(cache, monkeypatch):
    arrays = small_dataset_files(np.random.default_rng(1))
    server = FileServer(served_files(arrays))
    try:
        spec = dataclasses.replace(make_spec(arrays), urls=(server.url,))
        monkeypatch.setattr(mnist, "MNIST", spec)
        train, _ = data.load_mnist("train", device="cpu")
        val, _ = data.load_mnist("val", device="cpu")
        everything, _ = data.load_mnist("all", device="cpu")
    finally:
        server.close()
    assert sorted(p.name for p in (cache / "fake").iterdir()) == sorted(served_files(arrays))
    assert leftovers(cache) == []
    assert len(train) + len(val) == 40 and len(everything) == 50
    assert train.min() >= 0 and train.max() <= 1


def test_truncated_download_leaves_nothing(cache, monkeypatch):
    arrays = small_dataset_files(np.random.default_rng(2))
    server = FileServer(served_files(arrays), lie=True)
    try:
        spec = dataclasses.replace(make_spec(arrays), urls=(server.url,))
        monkeypatch.setattr(mnist, "MNIST", spec)
        with pytest.raises(data.DataIntegrityError, match=r"truncated.*LESSONS_DATA_DIR"):
            data.load_mnist("test", device="cpu")
    finally:
        server.close()
    assert not (cache / "fake").exists() or list((cache / "fake").iterdir()) == []


def test_download_with_a_wrong_checksum_is_rejected(cache, monkeypatch):
    arrays = small_dataset_files(np.random.default_rng(3))
    files = served_files(arrays)
    files["test_images.gz"] = gzip.compress(idx_bytes(arrays["test_images"] ^ 3), mtime=0)
    server = FileServer(files)
    try:
        spec = dataclasses.replace(make_spec(arrays), urls=(server.url,))
        monkeypatch.setattr(mnist, "MNIST", spec)
        with pytest.raises(data.DataIntegrityError, match="md5"):
            data.load_mnist("test", device="cpu")
    finally:
        server.close()
    assert not (cache / "fake" / "test_images.gz").exists()
    assert leftovers(cache) == []


def test_offline_download_says_how_to_fix(cache, monkeypatch):
    spec = make_spec(small_dataset_files(np.random.default_rng(0)), base_url="http://127.0.0.1:9/")
    monkeypatch.setattr(mnist, "MNIST", spec)
    with pytest.raises(data.DataIntegrityError, match="offline"):
        data.load_mnist("train", device="cpu")


# --------------------------------------------------------------------------- the real data


def test_digits_splits_are_disjoint_stratified_and_fixed():
    parts = {s: data.load_digits(s, device="cpu") for s in ("train", "val", "test", "all")}
    images, labels = parts["train"]
    assert images.shape == (1259, 1, 8, 8) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and images.min() >= 0 and images.max() <= 1
    assert sum(len(parts[s][0]) for s in ("train", "val", "test")) == len(parts["all"][0]) == 1797
    flat = {s: {tuple(x.flatten().tolist()) for x in parts[s][0]} for s in ("val", "test")}
    assert len(flat["val"] & flat["test"]) < 3  # a handful of digits are exact duplicates
    assert torch.bincount(parts["test"][1]).min() >= 35
    again, _ = data.load_digits("train", device="cpu")
    assert torch.equal(again, images)


def test_digits_binarize():
    hard, _ = data.load_digits("val", binarize=True, device="cpu")
    assert set(hard.unique().tolist()) == {0.0, 1.0}
    soft1, _ = data.load_digits("val", binarize="stochastic", device="cpu")
    soft2, _ = data.load_digits("val", binarize="stochastic", device="cpu")
    assert torch.equal(soft1, soft2) and not torch.equal(soft1, hard)
    with pytest.raises(ValueError, match="binarize"):
        data.load_digits("val", binarize="yes", device="cpu")


@pytest.mark.parametrize("bad", ["training", "dev", ""])
def test_unknown_split(bad):
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_digits(bad)


needs_fashion = pytest.mark.skipif(
    not data.DEBIAN_FASHION_DIR.is_dir(),
    reason="no Fashion-MNIST Debian package (apt-get install dataset-fashion-mnist)",
)


@needs_fashion
def test_real_fashion_mnist_from_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("LESSONS_DATA_DIR", str(tmp_path))  # force the Debian copy
    assert data.fashion_mnist_available()
    sizes = {"train": 55000, "val": 5000, "test": 10000}
    for split, n in sizes.items():
        images, labels = data.load_fashion_mnist(split, download=False, device="cpu")
        assert images.shape == (n, 1, 28, 28) and labels.shape == (n,)
        assert torch.bincount(labels, minlength=10).min() > 0.09 * n
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    assert list(tmp_path.iterdir()) == []  # read in place, nothing copied


def test_fashion_mnist_available_is_false_without_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LESSONS_DATA_DIR", str(tmp_path))
    # No local copy and no URL to download from (so no real download on a networked machine).
    fake = dataclasses.replace(data.FASHION_MNIST, local_dirs=(tmp_path / "nowhere",), urls=())
    monkeypatch.setattr(mnist, "FASHION_MNIST", fake)
    monkeypatch.delenv("LESSONS_DATA_MIRROR", raising=False)
    assert not data.fashion_mnist_available()
    assert "not available" in data.fashion_mnist_status()


def test_photos():
    china = data.load_photo("china")
    assert china.shape == (427, 640, 3) and china.dtype == np.float32
    assert 0 <= china.min() and china.max() <= 1
    small = data.load_photo("flower", downscale=4)
    assert small.shape == (106, 160, 3)
    np.testing.assert_allclose(small[0, 0], data.load_photo("flower")[:4, :4].mean((0, 1)), 1e-6)
    with pytest.raises(ValueError, match="'china', 'flower'"):
        data.load_photo("lena")


def test_toy_sets_are_seeded_and_shaped():
    points, labels = data.make_ring(500, seed=3, device="cpu")
    again, _ = data.make_ring(500, seed=3, device="cpu")
    assert points.shape == (500, 2) and torch.equal(points, again)
    centers = data.ring_centers(8, 2.0)
    assert torch.allclose(centers.norm(dim=1), torch.full((8,), 2.0))
    assert (points - centers[labels]).norm(dim=1).max() < 0.2
    _, grid_labels = data.make_grid(300, seed=0, device="cpu")
    assert data.grid_centers().shape == (25, 2) and grid_labels.max() < 25
    moons, moon_labels = data.make_moons(100, seed=0, device="cpu")
    assert moons.shape == (100, 2) and set(moon_labels.tolist()) == {0, 1}


def test_mixture_2d_matches_its_parameters():
    points, labels = data.make_mixture_2d(40000, seed=0, device="cpu")
    for k, weight in enumerate(data.MIXTURE_2D["weights"]):
        chosen = points[labels == k].numpy()
        assert abs(len(chosen) / 40000 - weight) < 0.01
        np.testing.assert_allclose(chosen.mean(0), data.MIXTURE_2D["means"][k], atol=0.05)
        np.testing.assert_allclose(np.cov(chosen.T), data.MIXTURE_2D["covariances"][k], atol=0.05)


def test_toy_sets_reject_bad_sizes():
    with pytest.raises(ValueError, match="n must be >= 1"):
        data.make_ring(0)
    with pytest.raises(ValueError, match="std must be > 0"):
        data.make_grid(10, std=-1.0)


def test_augment_without_change_is_the_identity_and_flips_mirror():
    from lessons_lib.data import augment, load_digits

    x, _ = load_digits("train", device="cpu")
    x = x[:20]
    same = augment(x, max_rotation=0, max_shift=0, max_scale=0, seed=0)
    assert torch.allclose(same, x, atol=1e-6)
    flipped = augment(x, max_rotation=0, max_shift=0, max_scale=0, hflip=True, seed=0)
    mirrored = [bool(torch.allclose(f, i.flip(-1), atol=1e-6)) for f, i in zip(flipped, x)]
    kept = [bool(torch.allclose(f, i, atol=1e-6)) for f, i in zip(flipped, x)]
    assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)


def test_augment_draws_reproducible_random_maps():
    from lessons_lib.data import augment, load_digits

    x, _ = load_digits("train", device="cpu")
    a = augment(x[:10], copies=3, seed=1)
    assert a.shape == (30, 1, 8, 8) and 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a, augment(x[:10], copies=3, seed=1))
    assert not torch.allclose(a[:10], a[10:20])  # each copy has its own maps
    # A pure shift of at most 0.5 px moves the centre of mass by at most about 0.5 px.
    cols = torch.arange(8.0)
    shifted = augment(x[:10], max_rotation=0, max_scale=0, max_shift=0.5, seed=2)
    centre = lambda im: (im.sum(-2) * cols).sum(-1) / im.sum((-2, -1))
    assert float((centre(shifted) - centre(x[:10])).abs().max()) < 0.75
    with pytest.raises(ValueError, match="max_scale"):
        augment(x[:2], max_scale=1.0)
    with pytest.raises(ValueError, match="max_rotation"):
        augment(x[:2], max_rotation=-1.0)


# --------------------------------------------------------------------------- regressions
# Each test below failed before the fix it guards.


class TestMnistIsVerified:
    """MNIST copies used to be accepted on shape alone (no content checksum is published)."""

    def test_forged_uncompressed_labels_are_rejected(self, cache):
        folder = cache / "mnist"
        folder.mkdir()
        forged = folder / "train-labels-idx1-ubyte"
        forged.write_bytes(idx_bytes(np.full(60000, 255, np.uint8)))
        with pytest.raises(data.DataIntegrityError, match=r"labels from 255 to 255") as info:
            data.load_mnist("train", download=False, device="cpu")
        assert str(forged) in str(info.value) and "Delete" in str(info.value)

    def test_forged_gz_of_the_right_shape_is_rejected(self, cache):
        folder = cache / "mnist"
        folder.mkdir()
        forged = folder / "t10k-labels-idx1-ubyte.gz"
        forged.write_bytes(gzip.compress(idx_bytes(np.arange(10000, dtype=np.uint8) % 10)))
        with pytest.raises(data.DataIntegrityError, match=r"checksum mismatch") as info:
            data.load_mnist("test", download=False, device="cpu")
        assert str(forged) in str(info.value)

    def test_blank_uncompressed_images_are_rejected(self, cache, monkeypatch):
        arrays = small_dataset_files(np.random.default_rng(0))
        spec = make_spec(arrays)
        files = {
            k: dataclasses.replace(f, content_sha256=None, n_classes=10 if "lab" in k else None)
            for k, f in spec.files.items()
        }
        monkeypatch.setattr(mnist, "MNIST", dataclasses.replace(spec, files=files))
        folder = cache / "fake"
        folder.mkdir()
        for key, array in arrays.items():
            (folder / key).write_bytes(idx_bytes(array))  # uncompressed copies
        blank = folder / "test_images"
        blank.write_bytes(idx_bytes(np.zeros((10, 4, 4), np.uint8)))
        with (
            pytest.warns(UserWarning, match="no published checksum"),
            pytest.raises(data.DataIntegrityError, match="blank image"),
        ):
            data.load_mnist("test", download=False, device="cpu")
        # A plausible uncompressed copy is used, with a warning that no checksum could be checked.
        blank.write_bytes(idx_bytes(arrays["test_images"] | 1))
        with pytest.warns(UserWarning, match="no published checksum"):
            images, _ = data.load_mnist("test", download=False, device="cpu")
        assert images.shape == (10, 1, 4, 4)

    def test_the_real_spec_has_the_published_md5s(self):
        md5 = {f.name: f.md5 for f in data.MNIST.files.values()}
        assert md5 == {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        }
        assert all(f.n_classes == 10 for k, f in data.MNIST.files.items() if "labels" in k)


@needs_fashion
def test_real_fashion_mnist_content_checksums_match_the_debian_files():
    for spec in data.FASHION_MNIST.files.values():
        content = gzip.decompress((data.DEBIAN_FASHION_DIR / spec.name).read_bytes())
        assert hashlib.sha256(content).hexdigest() == spec.content_sha256


class TestIntegrityErrorsNameTheFile:
    def test_a_truncated_uncompressed_copy_names_its_path(self, cache, monkeypatch):
        arrays = small_dataset_files(np.random.default_rng(0))
        spec = make_spec(arrays)
        files = {k: dataclasses.replace(f, content_sha256=None) for k, f in spec.files.items()}
        monkeypatch.setattr(mnist, "MNIST", dataclasses.replace(spec, files=files))
        folder = cache / "fake"
        folder.mkdir()
        for key, array in arrays.items():
            (folder / key).write_bytes(idx_bytes(array)[:-3])
        with pytest.raises(data.DataIntegrityError, match="truncated or corrupt") as info:
            data.load_mnist("test", download=False, device="cpu")
        message = str(info.value)
        assert "<bytes>" not in message and str(folder / "train_images") in message
        assert "Delete" in message

    def test_overflowing_idx_dimensions_are_a_clear_error(self):
        # 65536**4 == 2**64: a 64-bit product wraps to 0, which matched the empty body.
        header = bytes([0, 0, 0x08, 4]) + np.full(4, 65536, dtype=">u4").tobytes()
        with pytest.raises(data.DataIntegrityError, match=r"header promises 18446744073709551616"):
            data.read_idx(header)
        huge = bytes([0, 0, 0x08, 255]) + np.full(255, 2**32 - 1, dtype=">u4").tobytes()
        with pytest.raises(data.DataIntegrityError, match="truncated or corrupt"):
            data.read_idx(huge)

    def test_bytes_errors_do_not_say_delete(self):
        with pytest.raises(data.DataIntegrityError) as info:
            data.read_idx(bytes([0, 0, 0x08, 1, 0, 0, 0, 5, 1, 2]))
        assert "IDX data given" in str(info.value) and "Delete" not in str(info.value)
        with pytest.raises(data.DataIntegrityError, match="0 dimensions"):
            data.read_idx(bytes([0, 0, 0x08, 0]))

    def test_read_idx_rejects_a_non_path(self):
        with pytest.raises(TypeError, match="source must be a path"):
            data.read_idx(123)


class TestLoaderArguments:
    @pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool, torch.complex64])
    def test_non_floating_dtypes_are_refused(self, dtype):
        with pytest.raises(ValueError, match="dtype must be a floating dtype"):
            data.load_digits("train", dtype=dtype, device="cpu")

    def test_a_dtype_that_is_not_a_torch_dtype(self):
        with pytest.raises(TypeError, match="dtype must be a torch floating dtype"):
            data.load_digits("train", dtype="float32", device="cpu")

    def test_float64_keeps_the_grey_levels(self):
        images, _ = data.load_digits("val", dtype=torch.float64, device="cpu")
        assert images.dtype == torch.float64
        levels = images * 16
        assert torch.equal(levels, levels.round()) and float(levels.max()) == 16.0

    def test_numpy_bools_binarize(self):
        hard, _ = data.load_digits("val", binarize=np.True_, device="cpu")
        assert set(hard.unique().tolist()) == {0.0, 1.0}

    @pytest.mark.parametrize(
        "kwargs, error, match",
        [
            ({"split": 3}, TypeError, "split must be a string"),
            ({"split": "bad"}, ValueError, "split must be one of"),
            ({"dtype": torch.int64}, ValueError, "dtype must be a floating dtype"),
            ({"binarize": "yes"}, ValueError, "binarize must be"),
            ({"device": "gpu"}, ValueError, "device"),
            ({"download": "yes"}, TypeError, "download must be True or False"),
        ],
    )
    def test_bad_arguments_fail_before_any_download(self, monkeypatch, kwargs, error, match):
        def no_io(*args, **kw):
            raise AssertionError("looked for files before checking the arguments")

        monkeypatch.setattr(locate, "_dataset_paths", no_io)
        for loader in (data.load_fashion_mnist, data.load_mnist):
            with pytest.raises(error, match=match):
                loader(**{"split": "test", "device": "cpu", **kwargs})


class TestToySetsAndPhotosRobustness:
    @pytest.mark.parametrize(
        "call, error, match",
        [
            (lambda: data.ring_centers(8, float("nan")), TypeError, "radius must be a finite"),
            (lambda: data.ring_centers(8, 1e300), ValueError, "radius must be at most"),
            (lambda: data.ring_centers(8, -1.0), ValueError, "radius must be > 0"),
            (lambda: data.grid_centers(3, float("inf")), TypeError, "spacing must be a finite"),
            (lambda: data.grid_centers(10**6, 1e30), ValueError, "half-width"),
            (lambda: data.make_ring(10, std=1e300), ValueError, "std must be at most"),
            (lambda: data.make_moons(10, noise=1e300), ValueError, "noise must be at most"),
            (
                lambda: data.make_ring(10, seed=1.5),
                TypeError,
                "seed must be None or a non-negative",
            ),
            (
                lambda: data.make_ring(10, seed=2**70),
                ValueError,
                r"seed must be an integer in \[0, 4294967295\]",
            ),
            (
                lambda: data.make_moons(10, seed=-1),
                ValueError,
                r"seed must be an integer in \[0, 4294967295\]",
            ),
            (lambda: data.make_mixture_2d(10, seed=True), TypeError, "seed must be None"),
            (lambda: data.load_photo("china", downscale=1000), ValueError, "downscale must be at"),
            (lambda: data.load_photo(["china"]), TypeError, "name must be a string"),
        ],
    )
    def test_bad_values_are_refused_clearly(self, call, error, match):
        with pytest.raises(error, match=match):
            call()

    def test_extreme_but_representable_scales_stay_finite(self):
        assert torch.isfinite(data.ring_centers(8, 1e30)).all()
        points, _ = data.make_ring(100, radius=1e30, std=1e28, seed=0, device="cpu")
        assert torch.isfinite(points).all()
        assert torch.isfinite(data.grid_centers(5, 1e29)).all()
        assert data.load_photo("flower", downscale=427).shape == (1, 1, 3)

    def test_a_huge_shift_gives_black_images_not_nan(self):
        x, _ = data.load_digits("train", device="cpu")
        out = data.augment(x[:6], max_shift=1e300, seed=0)
        assert torch.isfinite(out).all() and float(out.abs().max()) == 0.0
        # Shifts within the frame are untouched by the clipping that makes this safe.
        a = data.augment(x[:6], max_shift=3.0, seed=1)
        assert float(a.max()) > 0

    def test_augment_flag_and_seed_types(self):
        x, _ = data.load_digits("train", device="cpu")
        with pytest.raises(TypeError, match="hflip must be True or False"):
            data.augment(x[:2], hflip="no")
        with pytest.raises(TypeError, match="seed must be None or a non-negative integer"):
            data.augment(x[:2], seed=0.5)


# --------------------------------------------------------------------------- round 2: size bounds
# Before: an absurd size reached torch or NumPy and failed there ("Overflow when unpacking long
# long", "int too big to convert", "Maximum allowed size exceeded"), naming no argument.


class TestSizeBounds:
    @pytest.mark.parametrize("huge", [10**20, 10**29])
    @pytest.mark.parametrize(
        "make", [data.make_ring, data.make_grid, data.make_moons, data.make_mixture_2d]
    )
    def test_a_huge_number_of_points_is_refused_by_name(self, make, huge):
        with pytest.raises(ValueError, match=r"^n must be at most 1073741824 \(2\*\*30 points"):
            make(huge, seed=0, device="cpu")

    def test_the_point_bound_is_just_above_2_to_the_30(self):
        with pytest.raises(ValueError, match=r"n must be at most"):
            data.make_mixture_2d(data.MAX_POINTS + 1, seed=0, device="cpu")
        assert data.MAX_POINTS == 2**30

    @pytest.mark.parametrize(
        "call",
        [
            lambda: data.ring_centers(10**20),
            lambda: data.ring_centers(data.MAX_POINTS + 1),
            lambda: data.make_ring(10, n_modes=10**27, seed=0, device="cpu"),
        ],
    )
    def test_a_huge_number_of_modes_is_refused_by_name(self, call):
        with pytest.raises(ValueError, match=r"^n_modes must be at most 1073741824"):
            call()

    @pytest.mark.parametrize(
        "call",
        [
            lambda: data.grid_centers(10**20),
            lambda: data.grid_centers(data.MAX_PER_SIDE + 1, 1e-3),
            lambda: data.make_grid(10, n_per_side=10**29, seed=0, device="cpu"),
        ],
    )
    def test_a_huge_grid_is_refused_by_name(self, call):
        with pytest.raises(ValueError, match=r"^n_per_side must be at most 32768"):
            call()

    def test_a_grid_too_wide_for_float64_says_so(self):
        # (n_per_side - 1) / 2 overflows a float: still the clear half-width error.
        with pytest.raises(ValueError, match=r"n_per_side=10{400} makes a grid of half-width"):
            data.grid_centers(10**400, 1.0)

    @pytest.mark.parametrize("copies", [10**20, 10**22])
    def test_a_huge_number_of_copies_is_refused_by_name(self, copies):
        images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        with pytest.raises(ValueError, match=rf"^copies={copies} of a batch of 256 values"):
            data.augment(images, copies=copies, seed=0)

    def test_copies_are_bounded_by_the_size_of_the_result(self):
        images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        most = data.MAX_ELEMENTS // images.numel()
        with pytest.raises(ValueError, match=rf"at most {most} for this batch"):
            data.augment(images, copies=most + 1, seed=0)
        assert data.augment(images, copies=3, seed=0).shape == (12, 1, 8, 8)
