"""The download path of ``lessons_lib.data``, end to end, against a loopback HTTP server.

Each test builds its own small IDX files and a ``RemoteDataset`` spec with their checksums (the
real published checksums stay in the code), serves them from ``http.server`` on 127.0.0.1 (port
0, in a thread) and checks that every failure (a truncated body, a wrong checksum, a dropped
connection, HTTP errors, a timeout) ends in a clear error or in a retry that succeeds, and never
leaves a partial file in the data folder. Retries are instant (``LESSONS_DOWNLOAD_BACKOFF=0``).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import os
import shutil
import socket
import struct
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import fake_spec, idx_bytes

from lessons_lib import data
from lessons_lib.data import idx, mnist

# --------------------------------------------------------------------------- fixtures


def small_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(1, 256, (40, 4, 4), dtype=np.uint8),
        "train_labels": np.repeat(np.arange(10, dtype=np.uint8), 4),
        "test_images": rng.integers(1, 256, (10, 4, 4), dtype=np.uint8),
        "test_labels": np.arange(10, dtype=np.uint8),
    }


def gz_files(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    return {f"{key}.gz": gzip.compress(idx_bytes(a), mtime=0) for key, a in arrays.items()}


def write_gz_files(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """The ``.gz`` files of ``arrays`` in ``folder`` (made if missing), as a cache holds them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in gz_files(arrays).items():
        (folder / name).write_bytes(body)


def make_spec(arrays, urls=(), name="fake") -> data.RemoteDataset:
    """A dataset spec whose checksums are those of ``arrays``; label files hold 10 classes."""
    return fake_spec(arrays, urls, name, n_classes=10)


class Server:
    """A loopback file server whose misbehaviour is chosen per file.

    ``behaviour[name]`` is a list of modes used one request after the other (the last one
    repeats): "ok", "lie" (announces 100 bytes more than it sends), "drop" (resets the
    connection mid-body), "chunked-cut" (a chunked body cut short), "slow" (waits 1 s before
    answering), or an int HTTP status.
    """

    def __init__(self, files: dict[str, bytes], behaviour: dict[str, list] | None = None):
        self.files = files
        self.behaviour = behaviour or {}
        self.requests: Counter[str] = Counter()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests[name] += 1
                modes = server.behaviour.get(name, ["ok"])
                mode = modes[min(server.requests[name], len(modes)) - 1]
                body = server.files.get(name)
                if isinstance(mode, int):
                    self.send_error(mode)
                    return
                if body is None:
                    self.send_error(404)
                    return
                if mode == "slow":
                    time.sleep(1.0)
                if mode == "chunked-cut":
                    self.protocol_version = "HTTP/1.1"
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(f"{len(body):x}\r\n".encode() + body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_response(200)
                extra = 100 if mode == "lie" else 0
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                if mode == "drop":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    # SO_LINGER 0: close() sends a TCP reset, as a dropped connection does.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a client that gave up
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty cache, no system data, no mirror, instant retries, a short timeout."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("LESSONS_DATA_DIR", str(cache))
    monkeypatch.setenv("LESSONS_SYSTEM_DATA", "0")
    monkeypatch.setenv("LESSONS_DOWNLOAD_BACKOFF", "0")
    monkeypatch.setenv("LESSONS_DOWNLOAD_TIMEOUT", "5")
    monkeypatch.delenv("LESSONS_DOWNLOAD_RETRIES", raising=False)
    monkeypatch.delenv("LESSONS_DATA_MIRROR", raising=False)
    return cache


@pytest.fixture
def serve():
    servers = []

    def start(files, behaviour=None):
        servers.append(Server(files, behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def in_folder(files: dict[str, bytes], folder: str) -> dict[str, bytes]:
    return {f"{folder}/{name}": body for name, body in files.items()}


def leftovers(root: Path) -> list[str]:
    """Anything half-written (``*.part``) under ``root``."""
    return sorted(str(p) for p in root.rglob("*") if ".part" in p.name)


def data_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- good downloads


def test_mirror_serves_good_files_end_to_end(env, serve, monkeypatch):
    arrays = small_arrays(1)
    server = serve(in_folder(gz_files(arrays), "fake"))
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays))  # no official URL at all
    monkeypatch.setenv("LESSONS_DATA_MIRROR", server.url.rstrip("/"))  # "/" is optional
    images, labels = data.load_mnist("test", device="cpu")
    np.testing.assert_allclose(images[:, 0].numpy(), arrays["test_images"] / 255.0, atol=1e-7)
    assert labels.tolist() == list(range(10))
    assert data_files(env) == sorted(gz_files(arrays))
    assert leftovers(env) == []
    assert set(server.requests.values()) == {1}
    # A second load reads the verified cache: no new request.
    data.load_mnist("train", device="cpu")
    assert sum(server.requests.values()) == 4


def test_mirror_is_tried_first_then_the_official_host(env, serve, monkeypatch):
    arrays = small_arrays(2)
    mirror = serve({})  # an empty classroom mirror: 404 for everything
    official = serve(gz_files(arrays))
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays, urls=(official.url,)))
    monkeypatch.setenv("LESSONS_DATA_MIRROR", mirror.url)
    data.load_mnist("test", device="cpu")
    assert mirror.requests == Counter({f"fake/{name}": 1 for name in gz_files(arrays)})
    assert official.requests == Counter({name: 1 for name in gz_files(arrays)})
    assert data_files(env) == sorted(gz_files(arrays))


def test_a_good_mirror_spares_the_official_host(env, serve, monkeypatch):
    arrays = small_arrays(3)
    mirror = serve(in_folder(gz_files(arrays), "fake"))
    official = serve(gz_files(arrays))
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays, urls=(official.url,)))
    monkeypatch.setenv("LESSONS_DATA_MIRROR", mirror.url)
    data.load_mnist("val", device="cpu")
    assert sum(mirror.requests.values()) == 4 and sum(official.requests.values()) == 0


def test_a_mirror_can_be_a_plain_folder(env, tmp_path, monkeypatch):
    arrays = small_arrays(4)
    folder = tmp_path / "usb-stick" / "fake"
    write_gz_files(folder, arrays)
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays))
    monkeypatch.setenv("LESSONS_DATA_MIRROR", str(tmp_path / "usb-stick"))
    images, _ = data.load_mnist("test", device="cpu")
    assert images.shape == (10, 1, 4, 4) and data_files(env) == sorted(gz_files(arrays))


def test_recompressed_files_are_accepted_by_content(env, serve, monkeypatch):
    # Debian recompresses the .gz files: other md5, same content sha256.
    arrays = small_arrays(5)
    files = {f"{k}.gz": gzip.compress(idx_bytes(a), compresslevel=1) for k, a in arrays.items()}
    server = serve(files)
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays, urls=(server.url,)))
    images, _ = data.load_mnist("test", device="cpu")
    np.testing.assert_allclose(images[:, 0].numpy(), arrays["test_images"] / 255.0, atol=1e-7)


def test_a_corrupt_cached_file_is_replaced_by_a_verified_download(env, serve, monkeypatch):
    arrays = small_arrays(6)
    good = gz_files(arrays)
    server = serve(good)
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays, urls=(server.url,)))
    (env / "fake").mkdir(parents=True)
    for name, body in good.items():
        (env / "fake" / name).write_bytes(body)
    bad = gzip.compress(idx_bytes(arrays["test_images"] ^ 7), mtime=0)
    (env / "fake" / "test_images.gz").write_bytes(bad)
    with pytest.raises(data.DataIntegrityError, match=r"test_images.gz does not match.*Delete"):
        data.load_mnist("test", device="cpu", download=False)
    images, _ = data.load_mnist("test", device="cpu")
    assert server.requests == Counter({"test_images.gz": 1})
    assert (env / "fake" / "test_images.gz").read_bytes() == good["test_images.gz"]
    np.testing.assert_allclose(images[:, 0].numpy(), arrays["test_images"] / 255.0, atol=1e-7)
    assert leftovers(env) == []


# --------------------------------------------------------------------------- failures


def failing_load(env, serve, monkeypatch, behaviour, files=None, retries=3):
    """Serve ``files`` with ``behaviour`` for test_images.gz; return (error, server)."""
    arrays = small_arrays(7)
    server = serve(files or gz_files(arrays), behaviour)
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays, urls=(server.url,)))
    monkeypatch.setenv("LESSONS_DOWNLOAD_RETRIES", str(retries))
    with pytest.raises(data.DownloadError) as info:
        data.load_mnist("test", device="cpu")
    assert leftovers(env) == []
    assert "test_images.gz" not in data_files(env)
    return str(info.value), server


def test_truncated_body_is_retried_then_reported(env, serve, monkeypatch):
    message, server = failing_load(env, serve, monkeypatch, {"test_images.gz": ["lie"]})
    assert server.requests["test_images.gz"] == 3
    assert "truncated" in message and "after 3 attempts" in message
    assert "LESSONS_DATA_MIRROR" in message and "LESSONS_DATA_DIR" in message


def test_truncated_body_then_a_good_one_succeeds(env, serve, monkeypatch):
    arrays = small_arrays(8)
    server = serve(gz_files(arrays), {"test_images.gz": ["lie", "ok"]})
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays, urls=(server.url,)))
    images, _ = data.load_mnist("test", device="cpu")
    assert server.requests["test_images.gz"] == 2 and leftovers(env) == []
    np.testing.assert_allclose(images[:, 0].numpy(), arrays["test_images"] / 255.0, atol=1e-7)


def test_dropped_connection_is_retried_then_reported(env, serve, monkeypatch):
    message, server = failing_load(env, serve, monkeypatch, {"test_images.gz": ["drop"]})
    assert server.requests["test_images.gz"] == 3
    assert "dropped" in message or "truncated" in message


def test_dropped_connection_then_a_good_one_succeeds(env, serve, monkeypatch):
    arrays = small_arrays(9)
    server = serve(gz_files(arrays), {"test_images.gz": ["drop", "drop", "ok"]})
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays, urls=(server.url,)))
    data.load_mnist("test", device="cpu")
    assert server.requests["test_images.gz"] == 3 and leftovers(env) == []


def test_cut_chunked_body_is_an_incomplete_read(env, serve, monkeypatch):
    message, _ = failing_load(env, serve, monkeypatch, {"test_images.gz": ["chunked-cut"]})
    assert "truncated" in message or "dropped" in message


def test_wrong_checksum_is_rejected_without_retrying(env, serve, monkeypatch):
    arrays = small_arrays(7)
    files = gz_files(arrays)
    files["test_images.gz"] = gzip.compress(idx_bytes(arrays["test_images"] ^ 3), mtime=0)
    message, server = failing_load(env, serve, monkeypatch, {}, files=files)
    assert server.requests["test_images.gz"] == 1  # the same URL would send the same bytes
    assert "checksum mismatch" in message and "md5" in message


def test_a_web_page_instead_of_the_file_is_named_as_such(env, serve, monkeypatch):
    files = gz_files(small_arrays(7))
    files["test_images.gz"] = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    message, _ = failing_load(env, serve, monkeypatch, {}, files=files)
    assert "web page" in message


def test_http_404_is_reported_at_once(env, serve, monkeypatch):
    message, server = failing_load(env, serve, monkeypatch, {"test_images.gz": [404]})
    assert server.requests["test_images.gz"] == 1 and "HTTP 404" in message


def test_http_500_is_retried_then_reported(env, serve, monkeypatch):
    message, server = failing_load(env, serve, monkeypatch, {"test_images.gz": [500]})
    assert server.requests["test_images.gz"] == 3 and "HTTP 500" in message


def test_http_503_then_a_good_answer_succeeds(env, serve, monkeypatch):
    arrays = small_arrays(10)
    server = serve(gz_files(arrays), {"test_images.gz": [503, "ok"]})
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays, urls=(server.url,)))
    data.load_mnist("test", device="cpu")
    assert server.requests["test_images.gz"] == 2


def test_a_silent_server_times_out(env, serve, monkeypatch):
    monkeypatch.setenv("LESSONS_DOWNLOAD_TIMEOUT", "0.2")
    start = time.perf_counter()
    message, _ = failing_load(env, serve, monkeypatch, {"train_images.gz": ["slow"]}, retries=1)
    assert "timed out" in message and time.perf_counter() - start < 5


def test_an_unreachable_host_is_not_waited_for_again_per_file(env, monkeypatch):
    with socket.socket() as sock:  # a free port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    arrays = small_arrays(11)
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays, urls=(f"http://127.0.0.1:{port}/",)))
    with pytest.raises(data.DownloadError, match=r"refused: this machine is offline") as info:
        data.load_mnist("train", device="cpu")
    assert "apt-get install -y dataset-fashion-mnist" in str(info.value)
    assert not env.exists() or data_files(env) == []


def test_an_interrupted_download_leaves_nothing(env, serve, monkeypatch):
    arrays = small_arrays(12)
    server = serve(gz_files(arrays))
    monkeypatch.setattr(mnist, "MNIST", make_spec(arrays, urls=(server.url,)))

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(idx, "_check_file_bytes", interrupt)  # Ctrl-C while verifying
    with pytest.raises(KeyboardInterrupt):
        data.load_mnist("test", device="cpu")
    assert not env.exists() or data_files(env) == []


# --------------------------------------------------------------------------- availability


def test_available_downloads_missing_files_and_reports(env, serve, monkeypatch):
    arrays = small_arrays(13)
    server = serve(gz_files(arrays))
    monkeypatch.setattr(mnist, "FASHION_MNIST", make_spec(arrays, urls=(server.url,)))
    assert not data.fashion_mnist_available(download=False)
    assert "not found" in data.fashion_mnist_status() and sum(server.requests.values()) == 0
    assert data.fashion_mnist_available()
    assert sum(server.requests.values()) == 4
    assert data.fashion_mnist_status().startswith("Fashion-MNIST is ready")
    assert data_files(env) == sorted(gz_files(arrays))


def test_unavailable_says_why_and_is_not_retried_at_once(env, serve, monkeypatch):
    arrays = small_arrays(14)
    server = serve(gz_files(arrays), {"train_images.gz": [404]})
    monkeypatch.setattr(mnist, "FASHION_MNIST", make_spec(arrays, urls=(server.url,)))
    assert not data.fashion_mnist_available()
    status = data.fashion_mnist_status()
    assert status.startswith("Fashion-MNIST is not available") and "HTTP 404" in status
    assert "apt-get install -y dataset-fashion-mnist" in status
    assert "LESSONS_DATA_MIRROR" in status and str(env / "fake") in status
    assert not data.fashion_mnist_available()  # a second cell asking: no new request
    assert server.requests["train_images.gz"] == 1
    # Files that appear in the meantime are seen at once, without a new download.
    write_gz_files(env / "fake", arrays)
    assert data.fashion_mnist_available()
    assert server.requests["train_images.gz"] == 1


def test_available_is_false_while_a_corrupt_file_is_cached(env, monkeypatch):
    arrays = small_arrays(15)
    monkeypatch.setattr(mnist, "FASHION_MNIST", make_spec(arrays))
    write_gz_files(env / "fake", arrays)
    assert data.fashion_mnist_available()
    corrupt = env / "fake" / "train_labels.gz"
    corrupt.write_bytes(gzip.compress(idx_bytes(arrays["train_labels"][::-1]), mtime=0))
    assert not data.fashion_mnist_available()
    assert str(corrupt) in data.fashion_mnist_status() and "Delete" in data.fashion_mnist_status()


def test_verification_is_cached_per_file_state(env, monkeypatch):
    arrays = small_arrays(16)
    monkeypatch.setattr(mnist, "FASHION_MNIST", make_spec(arrays))
    write_gz_files(env / "fake", arrays)
    calls = Counter()
    check = idx._check_file_bytes

    def counting(raw, spec, where, fix):
        calls[spec.name] += 1
        return check(raw, spec, where, fix)

    monkeypatch.setattr(idx, "_check_file_bytes", counting)
    assert data.fashion_mnist_available(download=False)
    assert data.fashion_mnist_available(download=False)
    assert sum(calls.values()) == 4  # the second call only looked at the files' state
    touched = env / "fake" / "test_images.gz"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    assert data.fashion_mnist_available(download=False)
    assert calls["test_images.gz"] == 2 and sum(calls.values()) == 5


def test_bad_settings_are_named(env, monkeypatch):
    monkeypatch.setenv("LESSONS_DATA_MIRROR", "ftp://example.org/")
    with pytest.raises(ValueError, match="LESSONS_DATA_MIRROR"):
        data.fashion_mnist_available()
    monkeypatch.delenv("LESSONS_DATA_MIRROR")
    monkeypatch.setenv("LESSONS_SYSTEM_DATA", "maybe")
    with pytest.raises(ValueError, match="LESSONS_SYSTEM_DATA"):
        data.fashion_mnist_available()
    monkeypatch.setenv("LESSONS_SYSTEM_DATA", "0")
    monkeypatch.setenv("LESSONS_DOWNLOAD_RETRIES", "0")
    monkeypatch.setattr(mnist, "MNIST", make_spec(small_arrays(0), urls=("http://127.0.0.1:9/",)))
    with pytest.raises(ValueError, match="LESSONS_DOWNLOAD_RETRIES"):
        data.load_mnist("test", device="cpu")
    with pytest.raises(TypeError, match="download must be True or False"):
        data.fashion_mnist_available(download="yes")


# --------------------------------------------------------------------------- the real files

needs_debian = pytest.mark.skipif(
    not data.DEBIAN_FASHION_DIR.is_dir(),
    reason="no Fashion-MNIST Debian package (apt-get install dataset-fashion-mnist)",
)


@needs_debian
def test_real_fashion_mnist_through_a_local_mirror(env, serve, monkeypatch):
    """The real loader and the real checksums, with Debian's copy hidden and served instead."""
    files = {
        f"fashion-mnist/{p.name}": p.read_bytes() for p in data.DEBIAN_FASHION_DIR.glob("*.gz")
    }
    assert len(files) == 4
    server = serve(files)
    official = data.FASHION_MNIST.urls
    monkeypatch.setattr(mnist, "FASHION_MNIST", dataclasses.replace(data.FASHION_MNIST, urls=()))
    assert not data.fashion_mnist_available(download=False)  # LESSONS_SYSTEM_DATA=0 hides it
    monkeypatch.setenv("LESSONS_DATA_MIRROR", server.url)
    assert data.fashion_mnist_available()
    assert sum(server.requests.values()) == 4 and leftovers(env) == []
    assert data_files(env) == sorted(Path(name).name for name in files)
    images, labels = data.load_fashion_mnist("test", device="cpu")
    assert images.shape == (10000, 1, 28, 28) and labels.shape == (10000,)
    assert sorted(set(labels.tolist())) == list(range(10))
    assert official  # the real spec keeps its official host
    # The same files, recompressed by Debian, are checked by the published content sha256.
    real = {spec.name: spec for spec in data.FASHION_MNIST.files.values()}
    for path in (env / "fashion-mnist").iterdir():
        content = gzip.decompress(path.read_bytes())
        assert hashlib.sha256(content).hexdigest() == real[path.name].content_sha256
    shutil.rmtree(env)
