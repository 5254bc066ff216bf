"""Generative adversarial networks, from the game on 2-D points to conditional DCGANs.

A GAN is two networks playing a game (Goodfellow et al., 2014). The generator :math:`G` maps a
latent vector :math:`z \\sim \\mathcal N(0, I)` (and, for a conditional GAN, a class :math:`y`)
to a data point; the discriminator :math:`D` outputs a logit :math:`\\ell(x)` whose sigmoid
:math:`D(x) = \\sigma(\\ell(x))` is its belief that :math:`x` is real. The package holds

* :mod:`~lessons_lib.gan.model`: :class:`GAN`, generator and discriminator as multilayer
  perceptrons (``arch="mlp"``, for 2-D points) or as a small DCGAN (``arch="dcgan"``, for
  (C, H, W) images), class-conditional when ``n_classes`` is given;
* :mod:`~lessons_lib.gan.networks`: the players' networks and :class:`MinibatchStd`;
* :mod:`~lessons_lib.gan.losses`: the four classic losses (``"minimax"``,
  ``"non-saturating"``, ``"hinge"``, ``"wgan-gp"``) and the gradient penalty;
* :mod:`~lessons_lib.gan.train` and :mod:`~lessons_lib.gan.recommended`: :func:`train_gan`
  on top of the course's one loop, and the recommended settings;
* :mod:`~lessons_lib.gan.run`: a training run's learning-rate decay and weight average;
* :mod:`~lessons_lib.gan.latent`: latent draws, truncation and :func:`interpolate_latents`;
* :mod:`~lessons_lib.gan.diversity`: :func:`within_class_diversity`;
* :mod:`~lessons_lib.gan.translation`: :class:`ImageTranslator` and :func:`train_translator`,
  a pix2pix-style paired image-to-image model, and :func:`corrupt_images`.

The 2-D diagnostics (:func:`mode_coverage`, :func:`optimal_discriminator`,
:func:`mixture_log_density`, :func:`kde_log_density`) live in
:mod:`lessons_lib.evaluation.gan_2d` and are re-exported here.
"""

from lessons_lib.evaluation.gan_2d import (
    COVERAGE_MIN_COUNT as COVERAGE_MIN_COUNT,
)
from lessons_lib.evaluation.gan_2d import (
    COVERAGE_N_SAMPLES as COVERAGE_N_SAMPLES,
)
from lessons_lib.evaluation.gan_2d import (
    kde_log_density,
    mixture_log_density,
    mode_counts,
    mode_coverage,
    optimal_discriminator,
)
from lessons_lib.gan.diversity import within_class_diversity
from lessons_lib.gan.latent import interpolate_latents
from lessons_lib.gan.losses import LOSSES
from lessons_lib.gan.losses import _discriminator_loss as _discriminator_loss
from lessons_lib.gan.losses import _generator_loss as _generator_loss
from lessons_lib.gan.losses import _gradient_penalty as _gradient_penalty
from lessons_lib.gan.model import GAN
from lessons_lib.gan.model import MAX_ELEMENTS as MAX_ELEMENTS
from lessons_lib.gan.networks import ARCHS, MinibatchStd
from lessons_lib.gan.recommended import RECOMMENDED, recommended_settings
from lessons_lib.gan.train import recommended_epochs, train_gan
from lessons_lib.gan.translation import CORRUPTIONS as CORRUPTIONS
from lessons_lib.gan.translation import (
    ImageTranslator,
    corrupt_images,
    train_translator,
)

__all__ = [
    "ARCHS",
    "GAN",
    "LOSSES",
    "RECOMMENDED",
    "ImageTranslator",
    "MinibatchStd",
    "corrupt_images",
    "interpolate_latents",
    "kde_log_density",
    "mixture_log_density",
    "mode_counts",
    "mode_coverage",
    "optimal_discriminator",
    "recommended_epochs",
    "recommended_settings",
    "train_gan",
    "train_translator",
    "within_class_diversity",
]
