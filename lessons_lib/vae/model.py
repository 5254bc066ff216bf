r"""The variational autoencoder for images, optionally conditioned on a class (a CVAE).

A VAE (Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014) is a latent-variable model
:math:`p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz` with a standard normal prior, a
neural decoder and a Gaussian encoder :math:`q_\phi(z \mid x)`, trained by maximising the
ELBO; the conditional VAE of Sohn, Lee & Yan (2015) gives the one-hot class to both networks.

This file holds the class, its constructor, the two networks' plumbing, sampling and the
:class:`~lessons_lib.core.base.GenerativeModule` face. Each group of methods lives in its own
file and is bound in the class body below, so that the class reads as a table of contents:
:mod:`~lessons_lib.vae.inputs` (checks), :mod:`~lessons_lib.vae.bounds` (ELBO, IWAE),
:mod:`~lessons_lib.vae.latent` (reconstructions, interpolation, rate per unit),
:mod:`~lessons_lib.vae.inpainting`, :mod:`~lessons_lib.vae.importance` and
:mod:`~lessons_lib.vae.denoising` (completion and denoising).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lessons_lib.core.loop import check_count
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_tensor,
    check_array,
    check_bool,
    check_elements,
    check_fits_dtype,
    check_positive,
    check_seed,
)
from lessons_lib.vae import bounds, denoising, importance, inpainting, inputs, latent
from lessons_lib.vae.likelihoods import draw_pixels, initial_raw_std, pixel_log_prob, pixel_std
from lessons_lib.vae.networks import build_networks
from lessons_lib.vae.numerics import no_nan, randn
from lessons_lib.vae.objective import ELBOModule

__all__ = ["VAE"]


class VAE(ELBOModule):
    r"""A variational autoencoder for images, optionally conditioned on a class (a CVAE).

    Generative model: :math:`z \sim \mathcal N(0, I_L)`, then each pixel independently

    * ``likelihood="bernoulli"``: :math:`x_i \sim \mathrm{Bernoulli}(\lambda_i(z))` for
      binary images (a probability *mass*, so the log-likelihood is ≤ 0);
    * ``likelihood="gaussian"``: :math:`x_i \sim \mathcal N(m_i(z), s_i^2)` for grey levels,
      with a learned per-pixel standard deviation :math:`s_i \ge` ``min_std`` (a *density*
      on real-valued pixels; the floor stops it from collapsing on pixels that are always 0).

    :meth:`sample` draws images from the model (z from the prior, then x from the
    likelihood); :meth:`decoder_means` gives the decoder's mean (:math:`\lambda(z)` or
    :math:`m(z)`, through a sigmoid, so in [0, 1]) at the same z, which is not a sample.
    With ``n_classes`` the one-hot class is given to both the encoder :math:`q(z \mid x, y)`
    and the decoder :math:`p(x \mid z, y)`.

    Parameters
    ----------
    data_shape : (C, H, W)
        Shape of one image.
    latent_dim : int
        Dimension L of z.
    likelihood : {"bernoulli", "gaussian"}
    n_classes : int, optional
        Make it a conditional VAE over this many classes.
    arch : {"mlp", "conv"}
        Fully connected layers, or small convolutions (stride-2 down, nearest-upsample up).
    hidden : int or sequence of int, optional
        MLP: widths of the hidden layers (default (256, 256), or (512, 256) for images of more
        than 256 pixels). Conv: width of the fully connected layer (default 256).
    channels : int
        Feature maps of the conv layers (``arch="conv"`` only).
    min_std : float
        Lower bound on the Gaussian likelihood's standard deviation (``"gaussian"`` only).
    seed : int, optional
        Seeds the initial weights (without touching the global random state).

    Attributes
    ----------
    settings : dict
        The constructor arguments (stored with checkpoints); also callable,
        ``settings()``, as :class:`~lessons_lib.core.base.GenerativeModule` asks.

    Examples
    --------
    >>> x, _ = load_digits("train", binarize=True)
    >>> model = VAE((1, 8, 8), latent_dim=8)
    >>> history = train_vae(model, x)
    >>> model.log_likelihood(x[:10], k=1000)   # nats per image, shape (10,)
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        latent_dim: int,
        likelihood: str = "bernoulli",
        n_classes: int | None = None,
        arch: str = "mlp",
        *,
        hidden: int | Sequence[int] | None = None,
        channels: int = 32,
        min_std: float = 0.02,
        seed: int | None = None,
    ) -> None:
        settings = inputs.check_vae_arguments(
            data_shape, latent_dim, likelihood, n_classes, arch, hidden, channels, min_std, seed
        )
        super().__init__(n_classes=settings["n_classes"])
        self.data_shape = settings["data_shape"]
        self.latent_dim = settings["latent_dim"]
        self.likelihood = settings["likelihood"]
        self.arch = settings["arch"]
        self.min_std = settings["min_std"]
        self.settings = settings
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.encoder, self.decoder = build_networks(
                self.data_shape,
                self.latent_dim,
                self.n_classes,
                self.arch,
                settings["hidden"],
                settings["channels"],
            )
        if self.likelihood == "gaussian":
            # Unconstrained; s = min_std + softplus(raw). Starts near s = 0.1.
            start = initial_raw_std(self.min_std)
            self.raw_std = nn.Parameter(torch.full(self.data_shape, start))

    # -- plumbing ------------------------------------------------------------------------

    @property
    def n_pixels(self) -> int:
        return math.prod(self.data_shape)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.settings.items())

    def pixel_std(self) -> torch.Tensor:
        """The Gaussian likelihood's per-pixel standard deviation, shape (C, H, W)."""
        if self.likelihood != "gaussian":
            raise AttributeError("pixel_std exists only for likelihood='gaussian'.")
        return pixel_std(self.raw_std, self.min_std)

    # -- input checks (vae/inputs.py) ----------------------------------------------------

    _images = inputs.images
    _onehot = inputs.onehot

    # -- the two networks and the likelihood ---------------------------------------------

    def _encode(self, x: torch.Tensor, cond: torch.Tensor | None):
        mu, logvar = self.encoder(x, cond).chunk(2, dim=1)
        # Bounded so that exp() never overflows early in training.
        return mu, logvar.clamp(-12.0, 8.0)

    def _decode_out(self, z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """The decoder's raw output: logits of the mean, shape (M, C, H, W)."""
        return self.decoder(z, cond)

    def _pixel_log_prob(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        std = self.pixel_std() if self.likelihood == "gaussian" else None
        return pixel_log_prob(self.likelihood, x, out, std)

    def _log_px(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x | z) per example from the decoder output; x (M, C, H, W) → (M,)."""
        return self._pixel_log_prob(x, out).flatten(1).sum(1)

    def _log_px_observed(self, x, out, m) -> torch.Tensor:
        """log p(x_o | z): the likelihood of the observed pixels only, shape (M,)."""
        return (self._pixel_log_prob(x, out) * m).flatten(1).sum(1)

    def encode(self, x: ArrayLike, labels: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The encoder's Gaussian :math:`q(z \mid x[, y])` (no gradients: for inference).

        Parameters
        ----------
        x : Tensor, shape (N, C, H, W), values in [0, 1]
        labels : int or Tensor (N,), for a conditional model

        Returns
        -------
        mu, logvar : Tensor, shape (N, L)
        """
        x = self._images(x, binary_check=False)
        with torch.no_grad():
            return self._encode(x, self._onehot(labels, len(x)))

    def decode(self, z: ArrayLike, labels: Any = None) -> torch.Tensor:
        """The decoder's mean image for each latent code (no gradients: for inference).

        Parameters
        ----------
        z : Tensor, shape (N, L)
            Finite, within the range of the model's dtype (float64 1e39 is refused for a
            float32 model rather than cast to inf).
        labels : int or Tensor (N,), for a conditional model

        Returns
        -------
        Tensor, shape (N, C, H, W), values in [0, 1]

        Raises
        ------
        ValueError
            Non-finite z, z beyond the dtype's range, or z so large that the network's
            activations overflow (NaN).
        """
        check_array(z, "z", ndim=2, kinds="f", shape=(None, self.latent_dim))
        check_fits_dtype(z, "z", self.dtype)
        cond = self._onehot(labels, len(z))
        z = as_tensor(z, dtype=self.dtype, device=self.device)
        with torch.no_grad():
            # sigmoid(+-inf) is the right 1 or 0; only inf - inf (NaN) is an overflow.
            return no_nan(torch.sigmoid(self._decode_out(z, cond)), "z", z)

    # -- bounds on log p(x) (vae/bounds.py) ----------------------------------------------

    elbo_terms = bounds.elbo_terms
    _elbo_terms = bounds.batch_elbo_terms
    elbo = bounds.elbo
    log_likelihood = bounds.log_likelihood
    _log_weights = bounds.log_weights

    # -- the latent space (vae/latent.py) ------------------------------------------------

    reconstruct = latent.reconstruct
    interpolate = latent.interpolate
    kl_per_dimension = latent.kl_per_dimension

    # -- completion and denoising (vae/inpainting.py, importance.py, denoising.py) -------

    inpaint = inpainting.inpaint
    _observed_images = inpainting.observed_images
    _mask = inpainting.observed_mask
    _pseudo_gibbs = inpainting.pseudo_gibbs
    _importance_fill = inpainting.importance_fill
    _inpaint_unknown_class = inpainting.inpaint_unknown_class
    _inpaint_optimize = inpainting.inpaint_optimize
    _adaptive_importance = importance.adaptive_importance
    denoise = denoising.denoise

    # -- generating ----------------------------------------------------------------------

    def sample(
        self,
        n: int,
        labels: Any = None,
        seed: int | None = None,
        *,
        noise: bool = True,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        r"""Images drawn from the model: z ~ N(0, τ² I), then x ~ p(x | z).

        A sample of a VAE is a draw from its likelihood, not the decoder's mean: for a
        Bernoulli VAE it is a binary image, for a Gaussian VAE the mean plus pixel noise. The
        mean :math:`E[x \mid z]` is a smoother, cleaner picture, but no image the model
        generates looks like it (a grey probability map is not a binary digit), and statistics
        of means (pixel histograms, distances to real images) are not those of the model. Use
        :meth:`decoder_means` for the means at the same z.

        Parameters
        ----------
        n : int
        labels : int or Tensor (n,), optional
            Classes for a conditional model (default: 0, 1, …, K−1, 0, 1, … in turn, the
            policy of :meth:`~lessons_lib.core.base.GenerativeModule.sample_labels`).
        seed : int, optional
            An integer gives the same images on the same device; None draws from a generator
            seeded by torch's global one (reproducible after ``torch.manual_seed``).
        noise : bool
            True (default): a draw :math:`x \sim p(x \mid z)` (binary pixels for Bernoulli;
            for the Gaussian, mean plus pixel noise, clipped to [0, 1]). False: the decoder's
            mean, exactly :meth:`decoder_means` (kept for old code; prefer that method).
        temperature : float
            Scale τ of the prior draw (τ < 1: more typical, less varied images). τ = 1 is
            sampling the model; τ = 0 decodes z = 0, which is *one* image, not a sample.

        Returns
        -------
        Tensor, shape (n, C, H, W), values in [0, 1]
            The z are the same as :meth:`decoder_means` draws for the same ``seed``; the
            pixel draws come after them from the same generator.
        """
        noise = check_bool(noise, "noise")
        return self._generate(n, labels, seed, noise, temperature)

    def decoder_means(
        self,
        n: int,
        labels: Any = None,
        seed: int | None = None,
        *,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        r"""The decoder's means :math:`E[x \mid z]` at :math:`z \sim \mathcal N(0, \tau^2 I)`.

        These are **not samples** of the model: each is the average of the images the model
        would generate from one z (for a Bernoulli VAE a grey map of ink probabilities, for a
        Gaussian VAE the image without its pixel noise). They make clean pictures and are what
        most papers show; :meth:`sample` draws the images themselves. The z are the ones
        :meth:`sample` draws for the same ``seed``, so ``decoder_means(n, seed=s)`` are the
        means behind ``sample(n, seed=s)``.

        Parameters
        ----------
        n : int
        labels : int or Tensor (n,), optional
            Classes for a conditional model (default: every class in turn).
        seed : int, optional
            An integer gives the same images on the same device; None draws from a generator
            seeded by torch's global one.
        temperature : float
            Scale τ of the prior draw; τ = 0 decodes z = 0, *one* image.

        Returns
        -------
        Tensor, shape (n, C, H, W), values in [0, 1]
        """
        return self._generate(n, labels, seed, False, temperature)

    def _generate(
        self, n: int, labels: Any, seed: int | None, noise: bool, temperature: float
    ) -> torch.Tensor:
        """z from the scaled prior, then the decoder's mean or a draw of x (checked inputs)."""
        n = check_count(n, "n")
        check_elements(n * max(self.n_pixels, self.latent_dim), "n")
        check_seed(seed)
        temperature = check_positive(temperature, "temperature", strict=False)
        cond = self._onehot(self.sample_labels(n) if labels is None else labels, n)
        gen = make_generator(seed, self.device)
        with torch.no_grad():
            z = temperature * randn((n, self.latent_dim), gen, self.device, self.dtype)
            if not bool(torch.isfinite(z).all()):
                raise ValueError(
                    f"temperature={temperature:g} is too large: the scaled latents overflow "
                    f"{self.dtype}. Use a temperature of a few units at most."
                )
            out = self._decode_out(z, cond)
            no_nan(out, "temperature", torch.tensor(temperature))
            std = self.pixel_std() if self.likelihood == "gaussian" and noise else None
            return draw_pixels(self.likelihood, out, std, noise, gen)

    # -- the GenerativeModule face -------------------------------------------------------

    def log_prob(
        self, x: ArrayLike, labels: Any = None, *, k: int = 1000, seed: int | None = None
    ) -> torch.Tensor:
        """log p(x) per example, shape (N,): the IWAE estimate :meth:`log_likelihood`."""
        return self.log_likelihood(x, labels, k=k, seed=seed)

    def check_training_data(
        self, data: Any, labels: Any = None, *, names: tuple[str, str] = ("data", "labels")
    ) -> None:
        """Raise a clear error unless ``data`` (and ``labels``) can train this VAE.

        ``names`` are the arguments' names in the messages (e.g. ``validation[0]``).
        """
        self._images(data, names[0])
        if self.n_classes is not None and labels is None:
            raise ValueError(
                f"this VAE is conditional (n_classes={self.n_classes}); pass {names[1]}, an "
                "(N,) int64 tensor."
            )
        if labels is not None:
            self._onehot(labels, len(data), names[1])

    def _batch_elbo_terms(self, batch: Sequence[torch.Tensor]):
        x = batch[0]
        y = batch[1] if len(batch) > 1 else None
        if (y is None) != (self.n_classes is None):
            self._onehot(y, len(x))  # raises the message of a missing or unexpected label
        cond = None if y is None else F.one_hot(y, self.n_classes).float()
        return self._elbo_terms(x.to(self.dtype), cond)
