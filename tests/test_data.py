import dataclasses
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from lessons_lib import data

# --------------------------------------------------------------------------- IDX helpers


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def small_dataset_files(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "train_images": rng.integers(0, 256, (40, 4, 4), dtype=np.uint8),
        "train_labels": np.repeat(np.arange(10, dtype=np.uint8), 4),
        "test_images": rng.integers(0, 256, (10, 4, 4), dtype=np.uint8),
        "test_labels": np.arange(10, dtype=np.uint8),
    }


def make_spec(arrays, base_url="http://127.0.0.1:9/", name="fake") -> data.RemoteDataset:
    files = {}
    for key, array in arrays.items():
        content = idx_bytes(array)
        files[key] = data.RemoteFile(
            f"{key}.gz",
            hashlib.md5(gzip.compress(content, mtime=0)).hexdigest(),
            hashlib.sha256(content).hexdigest(),
            array.shape,
        )
    return data.RemoteDataset(name=name, urls=(base_url,), files=files)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LESSONS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data.time, "sleep", lambda s: None)
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
    monkeypatch.setattr(data, "FASHION_MNIST", spec)
    images, labels = data.load_fashion_mnist("test", download=False, device="cpu")
    assert images.shape == (10, 1, 4, 4) and labels.dtype == torch.int64
    np.testing.assert_allclose(images[:, 0].numpy(), arrays["test_images"] / 255.0, atol=1e-7)


def test_local_corrupt_copy_names_the_file_and_the_fix(cache, monkeypatch):
    arrays = small_dataset_files(np.random.default_rng(0))
    spec = make_spec(arrays)
    tampered = dict(arrays, test_images=arrays["test_images"] ^ 1)
    write_local(cache / "fake", tampered)
    monkeypatch.setattr(data, "FASHION_MNIST", spec)
    with pytest.raises(data.DataIntegrityError, match=r"test_images.gz does not match.*Delete"):
        data.load_fashion_mnist("test", download=False, device="cpu")


def test_missing_files_without_download(cache, monkeypatch):
    monkeypatch.setattr(
        data, "FASHION_MNIST", make_spec(small_dataset_files(np.random.default_rng(0)))
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
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

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
        monkeypatch.setattr(data, "MNIST", spec)
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
        monkeypatch.setattr(data, "MNIST", spec)
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
        monkeypatch.setattr(data, "MNIST", spec)
        with pytest.raises(data.DataIntegrityError, match="md5"):
            data.load_mnist("test", device="cpu")
    finally:
        server.close()
    assert not (cache / "fake" / "test_images.gz").exists()
    assert leftovers(cache) == []


def test_offline_download_says_how_to_fix(cache, monkeypatch):
    spec = make_spec(small_dataset_files(np.random.default_rng(0)), base_url="http://127.0.0.1:9/")
    monkeypatch.setattr(data, "MNIST", spec)
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
    fake = dataclasses.replace(data.FASHION_MNIST, local_dirs=(tmp_path / "nowhere",))
    monkeypatch.setattr(data, "FASHION_MNIST", fake)
    assert not data.fashion_mnist_available()


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
