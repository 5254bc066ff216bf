r"""Variational autoencoders: the ELBO, honest log-likelihoods, conditional VAEs, completion.

A VAE (Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014) is a latent-variable model
:math:`p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz` trained by maximising the evidence
lower bound. What lives here, one idea per file:

* :class:`VAE` (``model.py``): MLP or convolutional networks (``networks.py``), Bernoulli or
  Gaussian pixels (``likelihoods.py``), optionally conditioned on a class (a CVAE, Sohn et
  al. 2015); its ELBO and IWAE bound (``bounds.py``, Burda et al. 2016), latent space
  (``latent.py``), completion and denoising (``inpainting.py``, ``importance.py``,
  ``denoising.py``), input checks (``inputs.py``).
* :class:`LinearGaussianVAE` (``linear.py``): probabilistic PCA as a VAE, whose likelihood is
  known exactly; :func:`ppca_mle`, :func:`ppca_log_likelihood` (``ppca.py``, Tipping & Bishop
  1999).
* :func:`gaussian_kl` (``kl.py``), :func:`gradient_estimator_variance` (``gradients.py``),
  :func:`dequantize`, :func:`discrete_log_likelihood` (``dequantize.py``, Theis et al. 2016).
* :func:`train_vae` (``train.py``): the β-weighted ELBO (``objective.py``, Higgins et al.
  2017) with KL warm-up, through :func:`lessons_lib.core.loop.train_loop`.

This file only re-exports.
"""

from lessons_lib.vae.dequantize import dequantize, discrete_log_likelihood
from lessons_lib.vae.gradients import gradient_estimator_variance
from lessons_lib.vae.kl import gaussian_kl
from lessons_lib.vae.linear import LinearGaussianVAE
from lessons_lib.vae.model import VAE
from lessons_lib.vae.ppca import ppca_log_likelihood, ppca_mle
from lessons_lib.vae.train import train_vae

__all__ = [
    "VAE",
    "LinearGaussianVAE",
    "dequantize",
    "discrete_log_likelihood",
    "gaussian_kl",
    "gradient_estimator_variance",
    "ppca_log_likelihood",
    "ppca_mle",
    "train_vae",
]
