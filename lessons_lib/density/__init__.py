"""Classical density models: the Gaussian, Gaussian mixtures fitted by EM, mixtures of factor
analyzers, k-means, and the linear algebra they share.

- :mod:`~lessons_lib.density.linalg`: Cholesky factors, whitening and THE Gaussian
  log-density (:func:`gaussian_log_density`);
- :mod:`~lessons_lib.density.gaussian`: :class:`Gaussian` and the functions ``log_density``,
  ``density``, ``fit_gaussian``, ``sample_gaussian``;
- :mod:`~lessons_lib.density.conditioning`: ``conditional_gaussian`` (inpainting);
- :mod:`~lessons_lib.density.kmeans`: ``kmeans`` and ``kmeans_plusplus``;
- :mod:`~lessons_lib.density.em`: the readable EM, ``e_step`` and ``m_step``;
- :mod:`~lessons_lib.density.gmm`: :class:`GaussianMixture` (the same EM, accelerated);
- :mod:`~lessons_lib.density.mfa`: :class:`MixtureOfFactorAnalyzers`;
- :mod:`~lessons_lib.density.colour`: ``transfer_colours``.

Every model is a :class:`lessons_lib.core.base.DensityModel`: ``fit`` returns the model,
``score_samples``/``score``/``sample(n, seed=)``, NumPy in, NumPy out.
"""

from lessons_lib.core.base import NotFittedError
from lessons_lib.density.colour import transfer_colours
from lessons_lib.density.conditioning import conditional_gaussian
from lessons_lib.density.em import ConvergenceWarning, e_step, m_step
from lessons_lib.density.gaussian import (
    Gaussian,
    density,
    fit_gaussian,
    log_density,
    sample_gaussian,
)
from lessons_lib.density.gmm import GaussianMixture
from lessons_lib.density.kmeans import kmeans, kmeans_plusplus
from lessons_lib.density.linalg import cholesky, gaussian_log_density
from lessons_lib.density.mfa import MixtureOfFactorAnalyzers

__all__ = [
    "ConvergenceWarning",
    "Gaussian",
    "GaussianMixture",
    "MixtureOfFactorAnalyzers",
    "NotFittedError",
    "cholesky",
    "conditional_gaussian",
    "density",
    "e_step",
    "fit_gaussian",
    "gaussian_log_density",
    "kmeans",
    "kmeans_plusplus",
    "log_density",
    "m_step",
    "sample_gaussian",
    "transfer_colours",
]
