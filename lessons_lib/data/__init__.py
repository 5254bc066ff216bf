"""Datasets of the course, all offline first.

Every image loader returns ``(images, labels)``: float tensors in [0, 1] of shape
(N, 1, H, W) and int64 labels of shape (N,), with a fixed, deterministic
train/validation/test split.

* ``load_digits``: scikit-learn's bundled 8×8 digits (1,797 images, no download).
* ``load_fashion_mnist`` / ``load_mnist``: 28×28 IDX files, found in ``data/``, in
  ``LESSONS_DATA_DIR``, in Debian's ``/usr/share/datasets/fashion-mnist`` (package
  ``dataset-fashion-mnist``), or else downloaded, checked by checksum and written atomically.
  ``fashion_mnist_available()`` obtains Fashion-MNIST the same way (downloading it when it is
  missing) and ``fashion_mnist_status()`` says, in words, why it is or is not available.
* ``load_photo``: scikit-learn's two sample photos as float arrays (H, W, 3).
* Small 2-D toy sets (a ring and a grid of Gaussians, two moons, a known 2-D mixture).

This is the only package of ``lessons_lib`` that touches files or the network.

Environment variables
---------------------
``LESSONS_DATA_DIR``
    The cache folder (default: the checkout's ``data/``, else ``~/.cache/lessons_lib``).
    Datasets live in its sub-folders ``fashion-mnist/`` and ``mnist/``.
``LESSONS_SYSTEM_DATA``
    ``0`` (or ``false``/``no``/``off``) hides system-wide copies, i.e. Debian's
    ``/usr/share/datasets/fashion-mnist``, as on a machine without the package. Default ``1``.
``LESSONS_DATA_MIRROR``
    Base URL of a mirror (``http://``, ``https://`` or ``file://``; a plain folder path works
    too) laid out like the cache: ``<mirror>/fashion-mnist/train-images-idx3-ubyte.gz`` and so
    on. It is tried **first**; the official hosts are still tried after it, so a classroom
    mirror that is down or incomplete costs nothing. A classroom can serve its own cache with
    ``python -m http.server --directory data 8000`` and set
    ``LESSONS_DATA_MIRROR=http://<that machine>:8000/``. Files from a mirror are verified
    exactly like official ones (published md5 of the ``.gz``, or sha256 of the content).
``LESSONS_DOWNLOAD_RETRIES``, ``LESSONS_DOWNLOAD_BACKOFF``, ``LESSONS_DOWNLOAD_TIMEOUT``
    Attempts per URL (default 3), the first pause between attempts in seconds (default 1,
    doubling each time, at most 10 s; ``0`` retries at once) and the network timeout in
    seconds (default 30).

Every file written goes to a temporary file in the same folder, is verified there, and only then
is renamed into place (``os.replace``): an interrupted or failed download never leaves a partial
or unverified file in the data folder.

Modules
-------
``paths``         the data folder and the environment variables above
``idx``           the IDX format, the file specs (``RemoteFile``, ``RemoteDataset``), verification
``download``      one URL to one verified file: retries, backoff, atomic writes
``locate``        local copies first, then the mirror, then the official hosts
``splits``        the loaders' argument checks, the fixed splits, arrays to image tensors
``digits``        ``load_digits``
``mnist``         ``MNIST``, ``FASHION_MNIST``, ``load_mnist``, ``load_fashion_mnist``, availability
``photos``        ``load_photo``
``toy2d``         the 2-D toy sets
``augmentation``  ``augment``
``cache``         files computed once per machine (the feature networks), under a lock

This ``__init__`` only re-exports. To replace a name for a test, patch it in the module that
holds it (``lessons_lib.data.mnist.MNIST``, ``lessons_lib.data.locate._dataset_paths``,
``lessons_lib.data.idx._check_file_bytes``): the package attribute is a copy.
"""

from lessons_lib.data.augmentation import MAX_ELEMENTS as MAX_ELEMENTS
from lessons_lib.data.augmentation import augment
from lessons_lib.data.cache import InvalidCacheFile as InvalidCacheFile
from lessons_lib.data.cache import cache_path as cache_path
from lessons_lib.data.cache import load_or_create as load_or_create
from lessons_lib.data.cache import locked_folder as locked_folder
from lessons_lib.data.digits import DIGIT_CLASSES, load_digits
from lessons_lib.data.download import DownloadError
from lessons_lib.data.idx import DataIntegrityError, read_idx
from lessons_lib.data.idx import RemoteDataset as RemoteDataset
from lessons_lib.data.idx import RemoteFile as RemoteFile
from lessons_lib.data.mnist import (
    FASHION_CLASSES,
    fashion_mnist_available,
    fashion_mnist_status,
    load_fashion_mnist,
    load_mnist,
)
from lessons_lib.data.mnist import FASHION_MNIST as FASHION_MNIST
from lessons_lib.data.mnist import MNIST as MNIST
from lessons_lib.data.paths import DEBIAN_FASHION_DIR as DEBIAN_FASHION_DIR
from lessons_lib.data.paths import data_dir
from lessons_lib.data.photos import PHOTOS as PHOTOS
from lessons_lib.data.photos import load_photo
from lessons_lib.data.splits import SPLITS as SPLITS
from lessons_lib.data.toy2d import MAX_PER_SIDE as MAX_PER_SIDE
from lessons_lib.data.toy2d import MAX_POINTS as MAX_POINTS
from lessons_lib.data.toy2d import MIXTURE_2D as MIXTURE_2D
from lessons_lib.data.toy2d import (
    grid_centers,
    make_grid,
    make_mixture_2d,
    make_moons,
    make_ring,
    ring_centers,
)

# The public API, as before the split. The names imported ``as`` themselves are re-exported
# too, though not listed: the file specs, size bounds and folders (as before the split), and
# the cache protocol of ``data.cache`` (for lessons_lib.evaluation, not for the notebooks).
__all__ = [
    "DIGIT_CLASSES",
    "FASHION_CLASSES",
    "DataIntegrityError",
    "DownloadError",
    "augment",
    "data_dir",
    "fashion_mnist_available",
    "fashion_mnist_status",
    "grid_centers",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_photo",
    "make_grid",
    "make_mixture_2d",
    "make_moons",
    "make_ring",
    "read_idx",
    "ring_centers",
]
