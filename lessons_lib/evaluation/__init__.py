"""Judging a generative model offline: feature networks, FD, precision/recall, NDB and more.

The Fréchet Inception Distance needs Inception weights downloaded from a hub, which a learner
offline, on Binder behind a proxy, or in CI cannot get. So the course brings its own feature
networks: one small convolutional classifier per dataset, trained deterministically (a few
seconds for the 8×8 digits, about a minute for Fashion-MNIST on one CPU core), cached under
``data_dir()/feature_nets`` with the sha256 of its weights and the versions that made it,
and retrained when the file is missing or corrupt. Its penultimate layer gives the features
in which the sample-based metrics are computed.

Modules (all metrics accept images as (N, C, H, W) tensors or arrays in [0, 1], on any
device):

- :mod:`~lessons_lib.evaluation.feature_networks`: :class:`FeatureNet`, its recipe and
  :func:`train_feature_network`;
- :mod:`~lessons_lib.evaluation.feature_space`: the cached :func:`feature_network`,
  :func:`features`, :func:`classify`, :func:`class_accuracy`;
- :mod:`~lessons_lib.evaluation.frechet`: :func:`frechet_distance`, the FID formula on our
  features (Heusel et al. 2017);
- :mod:`~lessons_lib.evaluation.knn_precision_recall`: :func:`precision_recall`
  (Kynkäänniemi et al. 2019);
- :mod:`~lessons_lib.evaluation.ndb_bins`: :func:`ndb`, :class:`NDB` and
  :func:`js_divergence` (Richardson and Weiss 2018), on pixels;
- :mod:`~lessons_lib.evaluation.memorization`: :func:`nearest_train_distance`;
- :mod:`~lessons_lib.evaluation.likelihood`: :func:`bits_per_dim` and
  :func:`likelihood_report` (Theis et al. 2016);
- :mod:`~lessons_lib.evaluation.degradations`: blur and noise for the reference rows;
- :mod:`~lessons_lib.evaluation.calibration`: :func:`calibration_table` and
  :func:`evaluate_samples`, which read a model's numbers against reference rows.
"""

from lessons_lib.evaluation._inputs import (
    DATASETS,
    MAX_BATCH_SIZE,
    MAX_ELEMENTS,
    MAX_IMAGE_SIDE,
    MAX_UNITS,
)
from lessons_lib.evaluation.calibration import (
    COLUMNS,
    N_MEMORIZATION,
    MetricTable,
    calibration_table,
    evaluate_samples,
    to_markdown,
)
from lessons_lib.evaluation.degradations import (
    add_gaussian_noise,
    gaussian_blur,
    uniform_noise_images,
)
from lessons_lib.evaluation.feature_networks import (
    FeatureNet,
    FeatureRecipe,
    recipe_for,
    train_feature_network,
    weights_checksum,
)
from lessons_lib.evaluation.feature_space import (
    class_accuracy,
    classify,
    feature_network,
    feature_network_info,
    feature_network_path,
    features,
)
from lessons_lib.evaluation.frechet import (
    frechet_distance,
    frechet_distance_from_features,
    gaussian_frechet_distance,
)
from lessons_lib.evaluation.knn_precision_recall import (
    PrecisionRecall,
    precision_recall,
    precision_recall_from_features,
)
from lessons_lib.evaluation.likelihood import (
    bits_per_dim,
    dequantized_bits_per_dim,
    likelihood_report,
    nats_to_bits,
)
from lessons_lib.evaluation.memorization import NearestTrain, nearest_train_distance
from lessons_lib.evaluation.ndb_bins import (
    NDB,
    NDBReport,
    NDBResult,
    js_divergence,
    ndb,
    two_proportion_z_test,
)

__all__ = [
    "COLUMNS",
    "DATASETS",
    "MAX_BATCH_SIZE",
    "MAX_ELEMENTS",
    "MAX_IMAGE_SIDE",
    "MAX_UNITS",
    "NDB",
    "N_MEMORIZATION",
    "FeatureNet",
    "FeatureRecipe",
    "MetricTable",
    "NDBReport",
    "NDBResult",
    "NearestTrain",
    "PrecisionRecall",
    "add_gaussian_noise",
    "bits_per_dim",
    "calibration_table",
    "class_accuracy",
    "classify",
    "dequantized_bits_per_dim",
    "evaluate_samples",
    "feature_network",
    "feature_network_info",
    "feature_network_path",
    "features",
    "frechet_distance",
    "frechet_distance_from_features",
    "gaussian_blur",
    "gaussian_frechet_distance",
    "js_divergence",
    "likelihood_report",
    "nats_to_bits",
    "ndb",
    "nearest_train_distance",
    "precision_recall",
    "precision_recall_from_features",
    "recipe_for",
    "to_markdown",
    "train_feature_network",
    "two_proportion_z_test",
    "uniform_noise_images",
    "weights_checksum",
]
