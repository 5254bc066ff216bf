"""The sample metrics: the old home of :mod:`lessons_lib.evaluation`, re-exported here.

The code lives in the modules of :mod:`lessons_lib.evaluation` (feature networks, Fréchet
distance, precision/recall, NDB, memorization, likelihoods, degradations, calibration); every
name this module offered, public or used by the tests, is importable from here unchanged.

To monkeypatch a private name, patch it where it now lives: ``_cached_network``,
``_NETWORKS`` and ``_DEVICE_COPIES`` in :mod:`lessons_lib.evaluation.feature_space`,
``_load_split`` in :mod:`lessons_lib.evaluation.feature_networks`. The dictionaries here are
the same objects, so ``metrics._NETWORKS.clear()`` and ``metrics._RECIPES[...] = ...`` work.
"""

# The MAX_* bounds are not in __all__ (as before) but are importable from here.
from lessons_lib.evaluation import (  # noqa: F401
    COLUMNS,
    DATASETS,
    MAX_BATCH_SIZE,
    MAX_ELEMENTS,
    MAX_IMAGE_SIDE,
    MAX_UNITS,
    N_MEMORIZATION,
    NDB,
    FeatureNet,
    FeatureRecipe,
    MetricTable,
    NDBReport,
    NDBResult,
    NearestTrain,
    PrecisionRecall,
    add_gaussian_noise,
    bits_per_dim,
    calibration_table,
    class_accuracy,
    classify,
    dequantized_bits_per_dim,
    evaluate_samples,
    feature_network,
    feature_network_info,
    feature_network_path,
    features,
    frechet_distance,
    frechet_distance_from_features,
    gaussian_blur,
    gaussian_frechet_distance,
    js_divergence,
    likelihood_report,
    nats_to_bits,
    ndb,
    nearest_train_distance,
    precision_recall,
    precision_recall_from_features,
    recipe_for,
    to_markdown,
    train_feature_network,
    two_proportion_z_test,
    uniform_noise_images,
    weights_checksum,
)

# Importable from here as before, though not in __all__: the private names the tests use.
from lessons_lib.evaluation.feature_networks import _RECIPES, _load_split  # noqa: F401
from lessons_lib.evaluation.feature_space import (  # noqa: F401
    _DEVICE_COPIES,
    _NETWORKS,
    _cached_network,
    _exclusive,
)

__all__ = [
    "COLUMNS",
    "DATASETS",
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
