r"""Variational autoencoders: the ELBO, honest log-likelihoods, conditional VAEs, completion.

A VAE is a latent-variable model :math:`p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz`
with a standard normal prior :math:`p(z) = \mathcal N(0, I)` and a neural decoder
:math:`p_\theta(x \mid z)`, trained by maximising the evidence lower bound (ELBO)

.. math::

    \mathcal L(x) = \mathbb E_{q_\phi(z\mid x)}[\log p_\theta(x\mid z)]
                   - \mathrm{KL}(q_\phi(z\mid x)\,\|\,p(z)) \le \log p_\theta(x)

with a Gaussian encoder :math:`q_\phi(z \mid x) = \mathcal N(\mu_\phi(x),
\mathrm{diag}\,\sigma^2_\phi(x))` and the reparameterization :math:`z = \mu + \sigma
\odot \varepsilon`.

What lives here:

* :class:`VAE`: MLP or convolutional, Bernoulli (binary images) or Gaussian (grey levels,
  learned per-pixel variance) likelihood, optionally conditioned on a class (a CVAE: the
  one-hot class goes to the encoder *and* the decoder). ``elbo``, the importance-weighted
  ``log_likelihood`` (IWAE bound with ``k`` samples), ``sample`` (the decoder's mean by
  default, ``noise=True`` to draw from the likelihood), ``reconstruct``, ``inpaint``,
  ``interpolate``, ``kl_per_dimension``.
* :class:`LinearGaussianVAE`: the linear-Gaussian model whose marginal likelihood is known in
  closed form (probabilistic PCA), with an analytic ELBO: the check against the truth.
* :func:`ppca_mle`, :func:`ppca_log_likelihood`: the closed-form pPCA solution
  (Tipping & Bishop 1999) and its exact log-likelihood.
* :func:`gaussian_kl`: the closed-form KL between diagonal Gaussians.
* :func:`gradient_estimator_variance`: score-function versus reparameterization gradients.
* :func:`train_vae`: training through :func:`lessons_lib.training.train_loop`.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lessons_lib.core.device import resolve_device
from lessons_lib.core.validation import (
    MAX_TENSOR_ELEMENTS,
    ArrayLike,
    as_numpy,
    as_tensor,
    check_array,
    check_bool,
    check_fits_dtype,
    check_images,
    check_labels,
    check_one_of,
    check_positive,
    check_probability,
    check_seed,
    like_input,
)
from lessons_lib.core.validation import (
    check_elements as _check_elements,
)
from lessons_lib.training import (
    MAX_LOOP_SEED,
    MAX_LR,
    History,
    TrainingDiverged,
    check_callable,
    check_count,
    train_loop,
)

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

LOG_2PI = math.log(2 * math.pi)
LIKELIHOODS = ("bernoulli", "gaussian")
ARCHS = ("mlp", "conv")
INPAINT_METHODS = ("importance", "gibbs", "optimize")
# Elements of a (samples × examples × pixels) block evaluated at once: bounds memory.
_BLOCK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------- small helpers


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A generator on ``device`` seeded from ``seed``, or None (use the global RNG)."""
    seed = check_seed(seed)
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(seed)


def _randn(
    shape: Sequence[int],
    gen: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=gen, device=device, dtype=dtype)


def gaussian_kl(
    mu_q: torch.Tensor,
    logvar_q: torch.Tensor,
    mu_p: torch.Tensor | float = 0.0,
    logvar_p: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    r"""Closed-form :math:`\mathrm{KL}(\mathcal N(\mu_q, \sigma_q^2) \| \mathcal N(\mu_p,
    \sigma_p^2))` between diagonal Gaussians, summed over the last axis.

    .. math::

        \mathrm{KL} = \tfrac12 \sum_j \Big[\log\sigma_{p,j}^2 - \log\sigma_{q,j}^2
        + \frac{\sigma_{q,j}^2 + (\mu_{q,j} - \mu_{p,j})^2}{\sigma_{p,j}^2} - 1\Big]

    With the defaults (:math:`\mu_p = 0`, :math:`\log\sigma_p^2 = 0`) it is the VAE's KL to
    the standard normal prior, :math:`\tfrac12\sum_j(\mu_j^2 + \sigma_j^2 - 1 - \log
    \sigma_j^2)`.

    Parameters
    ----------
    mu_q, logvar_q : Tensor, shape (..., L)
        Mean and log-variance of q.
    mu_p, logvar_p : Tensor broadcastable to (..., L), or float
        Mean and log-variance of p (default the standard normal).

    Returns
    -------
    Tensor, shape (...)
        KL in nats.
    """
    check_array(mu_q, "mu_q", kinds="f")
    check_array(logvar_q, "logvar_q", kinds="f")
    if mu_q.shape != logvar_q.shape:
        raise ValueError(
            f"mu_q and logvar_q must have the same shape, got {tuple(mu_q.shape)} and "
            f"{tuple(logvar_q.shape)}."
        )
    mq = as_tensor(mu_q)
    lq = as_tensor(logvar_q, dtype=mq.dtype, device=mq.device)
    params = []
    for name, value in (("mu_p", mu_p), ("logvar_p", logvar_p)):
        if isinstance(value, np.ndarray | torch.Tensor):
            check_array(value, name, kinds="fiu")
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a float or an array/tensor, got {value!r}.")
        elif not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}.")
        elif abs(value) > float(torch.finfo(mq.dtype).max):
            raise ValueError(f"{name}={value:g} is beyond the range of {mq.dtype}.")
        if isinstance(value, np.ndarray | torch.Tensor):
            check_fits_dtype(value, name, mq.dtype)
        params.append(as_tensor(value, dtype=mq.dtype, device=mq.device))
    mp, lp = params
    try:
        torch.broadcast_shapes(mq.shape, mp.shape, lp.shape)
    except RuntimeError as err:
        raise ValueError(
            f"mu_p {tuple(mp.shape)} and logvar_p {tuple(lp.shape)} must broadcast to the "
            f"shape of mu_q, {tuple(mq.shape)}."
        ) from err
    # In ratios and logs, so that neither exp(logvar) over- or underflows on its own:
    # sigma_q^2 / sigma_p^2 = exp(lq - lp) and (mu_q - mu_p)^2 / sigma_p^2 = exp(2 log|d| - lp)
    # (0 where d = 0); exp(r) - 1 - r as expm1(r) - r, which is >= 0 also when rounded.
    diff = mq - mp
    log_ratio = lq - lp
    zero = diff == 0
    safe = torch.where(zero, torch.ones_like(diff), diff)
    mean_term = torch.where(zero, torch.zeros_like(diff), torch.exp(2 * torch.log(safe.abs()) - lp))
    kl = 0.5 * (torch.expm1(log_ratio) - log_ratio + mean_term).sum(-1)
    if not bool(torch.isfinite(kl).all()):
        raise ValueError(
            f"the KL overflows {mq.dtype}: mu_q, logvar_q, mu_p and logvar_p are too far apart "
            f"(largest |mu_q - mu_p| = {float(diff.abs().max()):.3g}, largest |logvar_q - "
            f"logvar_p| = {float(log_ratio.abs().max()):.3g}). Use float64 or rescale."
        )
    return like_input(kl, mu_q)


def _log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last axis."""
    return -0.5 * (z**2 + LOG_2PI).sum(-1)


def _log_diag_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last axis."""
    return -0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + LOG_2PI).sum(-1)


def _check_seed(seed: int | None) -> None:
    check_seed(seed)


#: Most elements a single tensor of one call may have (4 GiB of float32).
MAX_ELEMENTS = MAX_TENSOR_ELEMENTS


def _finite_result(module: nn.Module, value: torch.Tensor, name: str, given: Any) -> torch.Tensor:
    """Refuse a NaN/inf result of finite inputs, saying whether the weights or the input."""
    if bool(torch.isfinite(value).all()):
        return value
    if not all(bool(torch.isfinite(p).all()) for p in module.parameters()):
        raise ValueError(
            "the model's weights hold NaN or inf (training diverged?): retrain or reload it."
        )
    largest = float(as_tensor(given).detach().abs().max())
    dtype = next(module.parameters()).dtype
    raise ValueError(
        f"{name} is too large for this {dtype} model (max |{name}| = {largest:.3g}): the "
        f"result overflows {dtype}. Rescale {name}, or convert the model with .double()."
    )


def _no_nan(value: torch.Tensor, name: str, given: Any) -> torch.Tensor:
    """Refuse a NaN result of finite inputs: the network's activations overflowed."""
    if bool(torch.isnan(value).any()):
        largest = float(as_tensor(given).abs().max()) if given is not None else math.nan
        raise ValueError(
            f"{name} is too large for this model (max |{name}| = {largest:.3g}): its "
            f"activations overflowed to inf/NaN. Typical values are a few units; rescale {name}."
        )
    return value


# --------------------------------------------------------------------------- networks


class _MLPEncoder(nn.Module):
    def __init__(self, in_dim: int, cond_dim: int, hidden: Sequence[int], latent_dim: int):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim + cond_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2 * latent_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        h = x.flatten(1)
        if cond is not None:
            h = torch.cat([h, cond], dim=1)
        return self.head(self.body(h))


class _MLPDecoder(nn.Module):
    def __init__(self, latent_dim: int, cond_dim: int, hidden: Sequence[int], data_shape):
        super().__init__()
        layers: list[nn.Module] = []
        width = latent_dim + cond_dim
        for h in reversed(hidden):
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        layers.append(nn.Linear(width, math.prod(data_shape)))
        self.net = nn.Sequential(*layers)
        self.data_shape = tuple(data_shape)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], dim=1)
        return self.net(z).view(-1, *self.data_shape)


def _conv_sizes(size: int) -> list[int]:
    """Spatial sizes of the conv encoder: halve (rounding up) until at most 7 pixels."""
    sizes = [size]
    while sizes[-1] > 7:
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


class _ConvEncoder(nn.Module):
    def __init__(self, data_shape, cond_dim: int, hidden: int, latent_dim: int, channels: int):
        super().__init__()
        c, h, w = data_shape
        n_down = len(_conv_sizes(min(h, w))) - 1
        layers: list[nn.Module] = [nn.Conv2d(c, channels, 3, padding=1), nn.SiLU()]
        for _ in range(n_down):
            layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.SiLU()]
        self.conv = nn.Sequential(*layers)
        with torch.no_grad():
            n_features = self.conv(torch.zeros(1, *data_shape)).numel()
        self.head = nn.Sequential(
            nn.Linear(n_features + cond_dim, hidden), nn.SiLU(), nn.Linear(hidden, 2 * latent_dim)
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        h = self.conv(x).flatten(1)
        if cond is not None:
            h = torch.cat([h, cond], dim=1)
        return self.head(h)


class _ConvDecoder(nn.Module):
    def __init__(self, latent_dim: int, cond_dim: int, hidden: int, data_shape, channels: int):
        super().__init__()
        c, h, w = data_shape
        sizes_h, sizes_w = _conv_sizes(h), _conv_sizes(w)
        n_up = max(len(sizes_h), len(sizes_w)) - 1
        sizes_h += [sizes_h[-1]] * (n_up + 1 - len(sizes_h))
        sizes_w += [sizes_w[-1]] * (n_up + 1 - len(sizes_w))
        self.start = (channels, sizes_h[-1], sizes_w[-1])
        self.fc = nn.Sequential(
            nn.Linear(latent_dim + cond_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, math.prod(self.start)),
            nn.SiLU(),
        )
        layers: list[nn.Module] = []
        for k in range(n_up, 0, -1):
            layers += [
                nn.Upsample(size=(sizes_h[k - 1], sizes_w[k - 1]), mode="nearest"),
                nn.Conv2d(channels, channels, 3, padding=1),
                nn.SiLU(),
            ]
        layers.append(nn.Conv2d(channels, c, 3, padding=1))
        self.conv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], dim=1)
        return self.conv(self.fc(z).view(-1, *self.start))


def _check_vae_size(
    data_shape: tuple[int, ...],
    latent_dim: int,
    n_classes: int | None,
    arch: str,
    hidden: int | tuple[int, ...],
    channels: int,
) -> None:
    """Refuse a VAE too large to allocate (its layers, counted roughly)."""
    n_pixels, cond = math.prod(data_shape), n_classes or 0
    if arch == "mlp":
        encoder = [n_pixels + cond, *hidden, 2 * latent_dim]
        decoder = [latent_dim + cond, *reversed(hidden), n_pixels]
        n_params = sum(a * b for chain in (encoder, decoder) for a, b in itertools.pairwise(chain))
    else:
        # Fully connected parts (features of at most 7×7 maps), then 3×3 convolutions.
        features = channels * 49
        n_params = (features + cond + latent_dim + cond) * hidden + 2 * hidden * features
        n_params += 9 * channels * channels * 2 * len(_conv_sizes(max(data_shape[1:])))
        n_params += channels * n_pixels  # one feature map of the full image per example
    if n_params > 2**30:  # 4 GiB of float32 weights: far beyond the course's models
        raise ValueError(
            f"this VAE would have about {n_params:.3g} weights ({4 * n_params / 2**30:.3g} GiB): "
            f"reduce data_shape={data_shape}, latent_dim={latent_dim}, n_classes={n_classes}, "
            f"hidden={hidden} or channels={channels}."
        )


# --------------------------------------------------------------------------- the VAE


class VAE(nn.Module):
    r"""A variational autoencoder for images, optionally conditioned on a class (a CVAE).

    Generative model: :math:`z \sim \mathcal N(0, I_L)`, then each pixel independently

    * ``likelihood="bernoulli"``: :math:`x_i \sim \mathrm{Bernoulli}(\lambda_i(z))` for
      binary images (a probability *mass*, so the log-likelihood is ≤ 0);
    * ``likelihood="gaussian"``: :math:`x_i \sim \mathcal N(m_i(z), s_i^2)` for grey levels,
      with a learned per-pixel standard deviation :math:`s_i \ge` ``min_std`` (a *density*
      on real-valued pixels; the floor stops it from collapsing on pixels that are always 0).

    The decoder's mean (:math:`\lambda(z)` or :math:`m(z)`, through a sigmoid, so in [0, 1])
    is what :meth:`sample` returns by default. With ``n_classes`` the one-hot class is given to
    both the encoder :math:`q(z \mid x, y)` and the decoder :math:`p(x \mid z, y)`.

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
        The constructor arguments (stored with checkpoints).

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
        super().__init__()
        data_shape = (
            tuple(data_shape)
            if isinstance(data_shape, Sequence) and not isinstance(data_shape, str)
            else data_shape
        )
        if (
            not isinstance(data_shape, tuple)
            or len(data_shape) != 3
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in data_shape)
        ):
            raise ValueError(
                f"data_shape must be (C, H, W), three positive ints, got {data_shape!r}."
            )
        latent_dim = check_count(latent_dim, "latent_dim")
        check_one_of(likelihood, "likelihood", LIKELIHOODS)
        check_one_of(arch, "arch", ARCHS)
        if n_classes is not None:
            n_classes = check_count(n_classes, "n_classes", min_value=2)
        channels = check_count(channels, "channels")
        min_std = check_positive(min_std, "min_std")
        n_pixels = math.prod(data_shape)
        if arch == "mlp":
            if hidden is None:
                hidden = (512, 256) if n_pixels > 256 else (256, 256)
            if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
                hidden = (hidden,)
            if isinstance(hidden, str) or not isinstance(hidden, Sequence):
                raise TypeError(
                    f"hidden must be an int or a sequence of ints (layer widths), got {hidden!r}."
                )
            hidden = tuple(check_count(width, "hidden") for width in hidden)
        else:
            hidden = 256 if hidden is None else check_count(hidden, "hidden")
        _check_seed(seed)
        _check_vae_size(data_shape, latent_dim, n_classes, arch, hidden, channels)
        self.data_shape = data_shape
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.n_classes = n_classes
        self.arch = arch
        self.min_std = min_std
        self.settings = {
            "data_shape": data_shape,
            "latent_dim": latent_dim,
            "likelihood": likelihood,
            "n_classes": n_classes,
            "arch": arch,
            "hidden": hidden,
            "channels": channels,
            "min_std": min_std,
        }
        _check_seed(seed)
        cond = n_classes or 0
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            if arch == "mlp":
                self.encoder = _MLPEncoder(n_pixels, cond, hidden, latent_dim)
                self.decoder = _MLPDecoder(latent_dim, cond, hidden, data_shape)
            else:
                self.encoder = _ConvEncoder(data_shape, cond, hidden, latent_dim, channels)
                self.decoder = _ConvDecoder(latent_dim, cond, hidden, data_shape, channels)
        if likelihood == "gaussian":
            # Unconstrained; s = min_std + softplus(raw). Starts near s = 0.1.
            start = math.log(math.expm1(max(0.1 - min_std, 1e-3)))
            self.raw_std = nn.Parameter(torch.full(data_shape, start))

    # -- plumbing ------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def n_pixels(self) -> int:
        return math.prod(self.data_shape)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.settings.items())

    def pixel_std(self) -> torch.Tensor:
        """The Gaussian likelihood's per-pixel standard deviation, shape (C, H, W)."""
        if self.likelihood != "gaussian":
            raise AttributeError("pixel_std exists only for likelihood='gaussian'.")
        return self.min_std + F.softplus(self.raw_std)

    def _images(self, x: Any, name: str = "x", *, binary_check: bool = True) -> torch.Tensor:
        """Check a batch of images against the model and move it to the model's device."""
        check_images(x, name)
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(
                f"{name} must have shape (N, {', '.join(map(str, self.data_shape))}) for this "
                f"model, got {tuple(x.shape)}."
            )
        x = as_tensor(x, dtype=self.dtype, device=self.device)
        if binary_check and self.likelihood == "bernoulli" and not ((x == 0) | (x == 1)).all():
            raise ValueError(
                f"{name} must be binary (0/1) for a Bernoulli likelihood, which is a probability "
                "of binary images; binarize it (load_digits(binarize=True)) or use "
                "likelihood='gaussian' for grey levels."
            )
        return x

    def _onehot(self, labels: Any, n: int, name: str = "labels") -> torch.Tensor | None:
        """One-hot (n, n_classes) for a conditional model; None for an unconditional one."""
        if self.n_classes is None:
            if labels is not None:
                raise ValueError(
                    f"{name} given, but this VAE is unconditional (n_classes=None); pass "
                    f"{name}=None or build VAE(..., n_classes=K)."
                )
            return None
        if labels is None:
            raise ValueError(
                f"this VAE is conditional (n_classes={self.n_classes}); pass {name}, an int "
                f"or an (N,) int64 tensor of classes in 0..{self.n_classes - 1}."
            )
        if isinstance(labels, int | np.integer) and not isinstance(labels, bool):
            if not 0 <= int(labels) < self.n_classes:
                raise ValueError(
                    f"{name} must be a class in 0..{self.n_classes - 1}, got {int(labels)}."
                )
            labels = torch.full((n,), int(labels), dtype=torch.int64)
        check_labels(labels, name, n=n, n_classes=self.n_classes)
        labels = as_tensor(labels, dtype=torch.int64, device=self.device)
        return F.one_hot(labels, self.n_classes).float()

    # -- the two networks ----------------------------------------------------------------

    def _encode(self, x: torch.Tensor, cond: torch.Tensor | None):
        mu, logvar = self.encoder(x, cond).chunk(2, dim=1)
        # Bounded so that exp() never overflows early in training.
        return mu, logvar.clamp(-12.0, 8.0)

    def _decode_out(self, z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """The decoder's raw output: logits of the mean, shape (M, C, H, W)."""
        return self.decoder(z, cond)

    def _log_px(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x | z) per example from the decoder output; x (M, C, H, W) → (M,)."""
        if self.likelihood == "bernoulli":
            logp = -F.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            std = self.pixel_std()
            logp = -0.5 * ((x - torch.sigmoid(out)) / std) ** 2 - std.log() - 0.5 * LOG_2PI
        return logp.flatten(1).sum(1)

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
            return _no_nan(torch.sigmoid(self._decode_out(z, cond)), "z", z)

    # -- the ELBO ------------------------------------------------------------------------

    def elbo_terms(
        self,
        x: ArrayLike,
        labels: Any = None,
        *,
        n_samples: int = 1,
        seed: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The two terms of the ELBO, per example.

        Returns
        -------
        reconstruction : Tensor, shape (N,)
            Monte Carlo estimate of :math:`\mathbb E_q[\log p(x \mid z)]` (``n_samples``
            reparameterized draws of z per example), nats.
        kl : Tensor, shape (N,)
            :math:`\mathrm{KL}(q(z \mid x) \| p(z))` in closed form, nats.
        """
        n_samples = check_count(n_samples, "n_samples")
        _check_seed(seed)
        x = self._images(x)
        _check_elements(n_samples * len(x) * max(self.n_pixels, self.latent_dim), "n_samples")
        cond = self._onehot(labels, len(x))
        return self._elbo_terms(x, cond, n_samples, _generator(seed, self.device))

    def _elbo_terms(self, x, cond, n_samples: int = 1, gen=None):
        """ELBO terms of checked inputs (the training step calls this directly)."""
        mu, logvar = self._encode(x, cond)
        # The KL to N(0, I) in closed form (gaussian_kl without its input checks: hot path).
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(1)
        eps = _randn((n_samples, *mu.shape), gen, self.device, mu.dtype)
        z = mu + (0.5 * logvar).exp() * eps
        if n_samples == 1:
            return self._log_px(x, self._decode_out(z[0], cond)), kl
        rep = lambda t: t.repeat(n_samples, *([1] * (t.dim() - 1)))
        cond_rep = None if cond is None else rep(cond)
        out = self._decode_out(z.reshape(-1, self.latent_dim), cond_rep)
        return self._log_px(rep(x), out).view(n_samples, -1).mean(0), kl

    def elbo(
        self, x: ArrayLike, labels: Any = None, *, n_samples: int = 1, seed: int | None = None
    ) -> torch.Tensor:
        """The evidence lower bound per example, in nats (≤ log p(x) in expectation).

        Parameters
        ----------
        x : Tensor, shape (N, C, H, W), values in [0, 1] (binary for a Bernoulli likelihood)
        labels : int or Tensor (N,), for a conditional model
        n_samples : int
            Draws of z averaged in the reconstruction term (more: less Monte Carlo noise).
        seed : int, optional

        Returns
        -------
        Tensor, shape (N,)
            Differentiable when gradients are enabled (training uses it).
        """
        recon, kl = self.elbo_terms(x, labels, n_samples=n_samples, seed=seed)
        return recon - kl

    def kl_per_dimension(self, x: ArrayLike, labels: Any = None) -> torch.Tensor:
        """Mean KL of each latent dimension over the batch, shape (L,): the *rate* per unit.

        A dimension with KL ≈ 0 carries no information about x (it is *collapsed*).
        """
        with torch.no_grad():
            mu, logvar = self.encode(x, labels)
            return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).mean(0)

    # -- honest log-likelihood -----------------------------------------------------------

    def log_likelihood(
        self,
        x: ArrayLike,
        labels: Any = None,
        *,
        k: int = 1000,
        seed: int | None = None,
        progress: bool = False,
    ) -> torch.Tensor:
        r"""Importance-weighted estimate of :math:`\log p(x)` per example (IWAE bound), nats.

        .. math::

            \log p(x) \ge \mathcal L_k(x) = \mathbb E\Big[\log \frac1k \sum_{j=1}^k
            \frac{p(x \mid z_j)\, p(z_j)}{q(z_j \mid x)}\Big], \quad z_j \sim q(z \mid x)

        :math:`\mathcal L_1` is the ELBO, :math:`\mathcal L_k` grows with k and tends to
        :math:`\log p(x)` (Burda et al. 2016). Computed in blocks of samples and examples so
        memory stays bounded whatever k.

        Parameters
        ----------
        x : Tensor, shape (N, C, H, W)
        labels : int or Tensor (N,), for a conditional model
        k : int
            Importance samples per example (≥ 1000 for a number worth reporting).
        seed : int, optional
        progress : bool
            A progress bar over blocks of examples.

        Returns
        -------
        Tensor, shape (N,)
        """
        k = check_count(k, "k")
        _check_seed(seed)
        progress = check_bool(progress, "progress")
        x = self._images(x)
        cond = self._onehot(labels, len(x))
        gen = _generator(seed, self.device)
        n_ex = max(1, min(len(x), 256, _BLOCK_ELEMENTS // (self.n_pixels * min(k, 64))))
        n_k = max(1, min(k, _BLOCK_ELEMENTS // (self.n_pixels * n_ex)))
        from tqdm.auto import tqdm

        out = []
        with torch.no_grad():
            for first in tqdm(range(0, len(x), n_ex), disable=not progress, desc="IWAE"):
                xb = x[first : first + n_ex]
                cb = None if cond is None else cond[first : first + n_ex]
                mu, logvar = self._encode(xb, cb)
                logw = [
                    self._log_weights(xb, cb, mu, logvar, min(n_k, k - done), gen)
                    for done in range(0, k, n_k)
                ]
                out.append(torch.logsumexp(torch.cat(logw), dim=0) - math.log(k))
        return torch.cat(out)

    def _log_weights(self, x, cond, mu, logvar, n, gen) -> torch.Tensor:
        """log p(x|z) + log p(z) − log q(z|x) for n draws z ~ q, shape (n, B)."""
        eps = _randn((n, *mu.shape), gen, self.device)
        z = mu + (0.5 * logvar).exp() * eps  # (n, B, L)
        flat = z.reshape(-1, self.latent_dim)
        cond_rep = None if cond is None else cond.repeat(n, 1)
        out = self._decode_out(flat, cond_rep)
        log_px = self._log_px(x.repeat(n, 1, 1, 1), out).view(n, -1)
        return log_px + _log_standard_normal(z) - _log_diag_normal(z, mu, logvar)

    # -- generating ----------------------------------------------------------------------

    def _labels_for(self, labels: Any, n: int) -> Any:
        if self.n_classes is not None and labels is None:
            # Every class in turn, so a batch of samples shows all of them.
            return torch.arange(n) % self.n_classes
        return labels

    def _emit(self, out: torch.Tensor, noise: bool, gen) -> torch.Tensor:
        """Decoder output → image: the mean, or a draw from the likelihood."""
        mean = torch.sigmoid(out)
        if not noise:
            return mean
        if self.likelihood == "bernoulli":
            return torch.bernoulli(mean, generator=gen)
        draw = mean + self.pixel_std() * torch.randn(mean.shape, generator=gen, device=mean.device)
        # The Gaussian puts some mass outside [0, 1]; clip so the result is a valid image.
        return draw.clamp(0.0, 1.0)

    def sample(
        self,
        n: int,
        labels: Any = None,
        seed: int | None = None,
        *,
        noise: bool = False,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        r"""Generate images: :math:`z \sim \mathcal N(0, \tau^2 I)`, then decode.

        Parameters
        ----------
        n : int
        labels : int or Tensor (n,), optional
            Classes for a conditional model (default: 0, 1, …, K−1, 0, 1, … in turn).
        seed : int, optional
        noise : bool
            False (default): the decoder's mean :math:`E[x \mid z]`, a clean image.
            True: a draw :math:`x \sim p(x \mid z)` (binary pixels for Bernoulli; for the
            Gaussian, mean plus pixel noise, clipped to [0, 1]).
        temperature : float
            Scale τ of the prior draw (τ < 1: more typical, less varied images). τ = 1 is
            sampling the model; τ = 0 decodes z = 0, which is *one* image, not a sample.

        Returns
        -------
        Tensor, shape (n, C, H, W), values in [0, 1]
        """
        n = check_count(n, "n")
        _check_elements(n * max(self.n_pixels, self.latent_dim), "n")
        _check_seed(seed)
        noise = check_bool(noise, "noise")
        temperature = check_positive(temperature, "temperature", strict=False)
        labels = self._labels_for(labels, n)
        cond = self._onehot(labels, n)
        gen = _generator(seed, self.device)
        with torch.no_grad():
            z = temperature * _randn((n, self.latent_dim), gen, self.device, self.dtype)
            if not bool(torch.isfinite(z).all()):
                raise ValueError(
                    f"temperature={temperature:g} is too large: the scaled latents overflow "
                    f"{self.dtype}. Use a temperature of a few units at most."
                )
            out = self._decode_out(z, cond)
            _no_nan(out, "temperature", torch.tensor(temperature))
            return self._emit(out, noise, gen)

    def reconstruct(
        self,
        x: ArrayLike,
        labels: Any = None,
        *,
        sample_latent: bool = False,
        seed: int | None = None,
    ) -> ArrayLike:
        """Encode then decode: the decoder's mean at the encoder's mean (or a draw) of z.

        Parameters
        ----------
        x : (N, C, H, W) in [0, 1]
        labels : int or Tensor (N,), for a conditional model
        sample_latent : bool
            Decode a draw z ~ q(z | x) instead of its mean.

        Returns
        -------
        (N, C, H, W) in [0, 1], NumPy when ``x`` was NumPy
        """
        _check_seed(seed)
        sample_latent = check_bool(sample_latent, "sample_latent")
        with torch.no_grad():
            xt = self._images(x, binary_check=False)
            cond = self._onehot(labels, len(xt))
            mu, logvar = self._encode(xt, cond)
            if sample_latent:
                gen = _generator(seed, self.device)
                mu = mu + (0.5 * logvar).exp() * _randn(mu.shape, gen, self.device)
            return like_input(torch.sigmoid(self._decode_out(mu, cond)), x)

    def interpolate(
        self,
        x_start: ArrayLike,
        x_end: ArrayLike,
        n_steps: int = 8,
        labels: Any = None,
        *,
        method: str = "slerp",
    ) -> torch.Tensor:
        """Decode a path between the encoder means of two images.

        ``"linear"`` walks the straight line; ``"slerp"`` (default) follows a great circle,
        keeping the norm of z typical for the Gaussian prior (a straight line between two
        typical codes passes through the unusually small norms near 0).

        Parameters
        ----------
        x_start, x_end : (1, C, H, W) or (C, H, W)
        n_steps : int
        labels : int or (1,) ints, optional (conditional model: the class of the path)

        Returns
        -------
        Tensor, shape (n_steps, C, H, W)
        """
        n_steps = check_count(n_steps, "n_steps", min_value=2)
        _check_elements(n_steps * self.n_pixels, "n_steps")
        check_one_of(method, "method", ("linear", "slerp"))
        if isinstance(labels, torch.Tensor | np.ndarray):
            check_labels(labels, "labels", n=1, n_classes=self.n_classes)
            labels = int(labels[0])  # one class for the whole path
        ends = []
        for name, x in (("x_start", x_start), ("x_end", x_end)):
            check_array(x, name, ndim=(3, 4), kinds="f")
            x = x[None] if x.ndim == 3 else x
            if len(x) != 1:
                raise ValueError(f"{name} must be one image, got a batch of {len(x)}.")
            if tuple(x.shape[1:]) != self.data_shape:
                raise ValueError(
                    f"{name} must be one ({', '.join(map(str, self.data_shape))}) image for "
                    f"this model, got shape {tuple(x.shape)}."
                )
            check_images(x, name)
            ends.append(self.encode(x, labels)[0][0])
        t = torch.linspace(0, 1, n_steps, device=self.device, dtype=self.dtype)[:, None]
        a, b = ends
        # A zero code has no direction: slerp is then the straight line.
        if method == "linear" or float(a.norm()) == 0.0 or float(b.norm()) == 0.0:
            z = (1 - t) * a + t * b
        else:
            omega = torch.arccos(F.cosine_similarity(a, b, dim=0).clamp(-1 + 1e-6, 1 - 1e-6))
            norms = (1 - t) * a.norm() + t * b.norm()
            unit = torch.sin((1 - t) * omega) * a / a.norm() + torch.sin(t * omega) * b / b.norm()
            z = norms * unit / torch.sin(omega)
        with torch.no_grad():
            return self.decode(z, self._labels_for(labels, n_steps) if labels is None else labels)

    # -- completion ----------------------------------------------------------------------

    def inpaint(
        self,
        x: ArrayLike,
        mask: ArrayLike,
        labels: Any = None,
        *,
        method: str = "importance",
        n_iter: int = 30,
        k: int = 1000,
        n_rounds: int = 8,
        seed: int | None = None,
        return_ess: bool = False,
    ) -> ArrayLike | tuple[ArrayLike, torch.Tensor]:
        r"""Fill in the missing pixels of ``x`` (``mask`` is True where a pixel is observed).

        Because the decoder treats pixels independently given z, the observed pixels alone
        have an exact likelihood :math:`p(x_o \mid z) = \prod_{i \in o} p(x_i \mid z)`, and

        .. math::

            E[x_m \mid x_o] = \int E[x_m \mid z]\, p(z \mid x_o)\, dz,
            \qquad p(z \mid x_o) \propto p(x_o \mid z)\, p(z).

        Methods:

        * ``"gibbs"``: pseudo-Gibbs (Rezende et al. 2014): fill the holes, encode, draw z,
          decode, put the decoder's mean into the holes, repeat ``n_iter`` times; returns
          the average fill of the second half of the chain.
        * ``"importance"`` (default): after the pseudo-Gibbs warm-up, ``n_rounds`` of
          adaptive importance sampling with ``k`` draws each: z from a Gaussian proposal
          r(z) (first the encoder on the filled image, then a Gaussian matched to the
          previous round's weighted draws), weighted by :math:`p(x_o \mid z) p(z) / r(z)`.
          A consistent estimate of :math:`E[x_m \mid x_o]`, the completion with the least
          expected squared error under the model. For a conditional model with
          ``labels=None`` the class is summed over too (it is unknown; uniform prior).
        * ``"optimize"``: gradient ascent on :math:`\log p(x_o \mid z) + \log p(z)` for
          ``n_iter`` Adam steps (a MAP latent), then decode.

        Parameters
        ----------
        x : (N, C, H, W)
            Observed pixels (mask True) finite and in [0, 1] (0/1 for a Bernoulli VAE).
            Values under missing pixels (mask False) are ignored, so they may be anything,
            NaN included (the usual marker of a missing value).
        mask : bool (N, C, H, W) or (C, H, W), True where observed
        labels : int or Tensor (N,), optional for a conditional model (see above)
        method : {"importance", "gibbs", "optimize"}
        n_iter : int
        k : int
            Importance samples per round (``"importance"`` only).
        n_rounds : int
            Rounds of proposal adaptation (``"importance"`` only).
        seed : int, optional
        return_ess : bool
            Also return the effective sample size of the last round, shape (N,)
            (``"importance"`` only): a few dozen out of ``k`` means a hard posterior.

        Returns
        -------
        (N, C, H, W) in [0, 1]: observed pixels unchanged, missing ones filled; NumPy when
        ``x`` was NumPy. With ``return_ess``, a pair (filled, ess).
        """
        check_one_of(method, "method", INPAINT_METHODS)
        n_iter = check_count(n_iter, "n_iter")
        k = check_count(k, "k", min_value=2)
        n_rounds = check_count(n_rounds, "n_rounds")
        _check_seed(seed)
        return_ess = check_bool(return_ess, "return_ess")
        if return_ess and method != "importance":
            raise ValueError("return_ess=True needs method='importance'.")
        xt, m = self._observed_images(x, mask)
        gen = _generator(seed, self.device)
        if self.n_classes is not None and labels is None:
            if method != "importance":
                raise ValueError(
                    f"method={method!r} needs labels for a conditional VAE; pass labels, or "
                    "use method='importance', which sums over the unknown class."
                )
            filled, ess = self._inpaint_unknown_class(xt, m, n_iter, k, n_rounds, gen)
        else:
            cond = self._onehot(labels, len(xt))
            if method == "optimize":
                filled = self._inpaint_optimize(xt, m, cond, n_iter)
            else:
                filled, _ = self._pseudo_gibbs(xt, m, cond, n_iter, gen)
                if method == "importance":
                    filled, _, ess = self._importance_fill(xt, m, cond, filled, k, n_rounds, gen)
        result = like_input(torch.where(m, xt, filled).clamp(0, 1), x)
        return (result, ess) if return_ess else result

    def _observed_images(self, x: Any, mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Check a partly observed batch: only pixels under ``mask`` (True) need be valid.

        Returns the images on the model's device with missing pixels set to 1/2 (so that a
        NaN placeholder never reaches the arithmetic) and the expanded mask.
        """
        check_array(x, "x", ndim=4, kinds="f", finite=False)
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(
                f"x must have shape (N, {', '.join(map(str, self.data_shape))}) for this "
                f"model, got {tuple(x.shape)}."
            )
        xt = as_tensor(x, device=self.device)
        m = self._mask(mask, xt)
        observed = xt[m]
        if not bool(torch.isfinite(observed).all()):
            raise ValueError(
                "x has NaN or infinite values at observed pixels (mask True); only missing "
                "pixels (mask False) may hold NaN. Fix x or mark those pixels as missing."
            )
        if observed.numel() and (float(observed.min()) < 0.0 or float(observed.max()) > 1.0):
            raise ValueError(
                f"the observed pixels of x must lie in [0, 1]; they span "
                f"[{float(observed.min()):g}, {float(observed.max()):g}]."
            )
        if self.likelihood == "bernoulli" and not ((observed == 0) | (observed == 1)).all():
            raise ValueError("the observed pixels of x must be binary (0/1) for a Bernoulli VAE.")
        xt = torch.where(m, xt, torch.full_like(xt, 0.5)).to(self.dtype)
        return xt, m

    def _mask(self, mask: Any, x: torch.Tensor) -> torch.Tensor:
        check_array(mask, "mask", kinds="b", ndim=(3, 4))
        if tuple(mask.shape[-3:]) != self.data_shape or (mask.ndim == 4 and len(mask) != len(x)):
            raise ValueError(
                f"mask must have the shape of x, {tuple(x.shape)}, or of one image, "
                f"{self.data_shape}; got {tuple(mask.shape)}."
            )
        return as_tensor(mask, device=self.device).expand_as(x)

    def _pseudo_gibbs(self, x, m, cond, n_iter, gen):
        """Pseudo-Gibbs chain; returns (average fill of the 2nd half, last fill)."""
        current = torch.where(m, x, torch.full_like(x, 0.5))
        total, count = torch.zeros_like(x), 0
        with torch.no_grad():
            for it in range(n_iter):
                mu, logvar = self._encode(current, cond)
                z = mu + (0.5 * logvar).exp() * _randn(mu.shape, gen, self.device)
                mean = torch.sigmoid(self._decode_out(z, cond))
                current = torch.where(m, x, mean)
                if it >= n_iter // 2:
                    total, count = total + mean, count + 1
        return total / count, current

    def _importance_fill(self, x, m, cond, proposal_input, k, n_rounds, gen):
        """Adaptive importance estimate of E[x | x_o], log p̂(x_o) and the effective sample size."""

        def log_lik(out: torch.Tensor, n: int) -> torch.Tensor:
            return self._log_px_observed(x.repeat(n, 1, 1, 1), out, m.repeat(n, 1, 1, 1))

        start = torch.where(m, x, proposal_input)
        return self._adaptive_importance(start, cond, k, n_rounds, gen, log_lik, torch.sigmoid)

    def _adaptive_importance(self, start, cond, k, n_rounds, gen, log_lik, value):
        """Self-normalised importance sampling of the posterior p(z | evidence), adapted.

        ``log_lik(out, n)`` is the log-likelihood of the evidence given the decoder outputs of
        ``n`` draws for each image, shape (n·N,); ``value(out)`` is the quantity averaged
        under the posterior, shape (n·N, C, H, W). Round 0 proposes from the encoder on
        ``start`` with its variance doubled; each later round proposes from a Gaussian
        matched to the previous round's weighted draws (variance doubled again, so the
        proposal stays wider than the target). The last round's weights give the estimates.

        Returns
        -------
        estimate : (N, C, H, W), log_evidence : (N,), ess : (N,)
        """
        n_images = len(start)
        with torch.no_grad():
            mu, logvar = self._encode(start, cond)
            logvar = logvar + math.log(2.0)
            n_k = max(1, min(k, _BLOCK_ELEMENTS // (self.n_pixels * n_images)))
            for _ in range(n_rounds):
                logws, values, zs = [], [], []
                for done in range(0, k, n_k):
                    n = min(n_k, k - done)
                    z = mu + (0.5 * logvar).exp() * _randn((n, *mu.shape), gen, self.device)
                    cond_rep = None if cond is None else cond.repeat(n, 1)
                    out = self._decode_out(z.reshape(-1, self.latent_dim), cond_rep)
                    logws.append(
                        log_lik(out, n).view(n, -1)
                        + _log_standard_normal(z)
                        - _log_diag_normal(z, mu, logvar)
                    )
                    values.append(value(out).view(n, *start.shape))
                    zs.append(z)
                logw, z = torch.cat(logws), torch.cat(zs)  # (k, N), (k, N, L)
                weights = torch.softmax(logw, dim=0)
                mu = (weights[..., None] * z).sum(0)
                var = (weights[..., None] * (z - mu) ** 2).sum(0)
                logvar = (2.0 * var + 1e-6).log()
            estimate = (weights[..., None, None, None] * torch.cat(values)).sum(0)
            log_evidence = torch.logsumexp(logw, 0) - math.log(k)
            ess = 1.0 / (weights**2).sum(0)
        return estimate, log_evidence, ess

    def denoise(
        self,
        noisy: ArrayLike,
        noise_rate: float,
        labels: Any = None,
        *,
        k: int = 1000,
        n_rounds: int = 4,
        seed: int | None = None,
    ) -> ArrayLike:
        r"""Posterior marginals :math:`P(x_i = 1 \mid y)` of binary images seen through flip noise.

        The VAE is the prior over clean images; the noise flips each pixel independently with
        probability :math:`p`. Given z the pixels are independent, so with the decoder's
        :math:`\lambda_i(z)`,

        .. math::

            p(y_i \mid z) = (1-p)\,\lambda_i^{y_i} (1-\lambda_i)^{1-y_i}
                + p\,\lambda_i^{1-y_i} (1-\lambda_i)^{y_i},
            \qquad P(x_i = 1 \mid y_i, z) = \frac{\lambda_i\, p(y_i \mid x_i = 1)}
                {p(y_i \mid z)},

        and :math:`P(x_i = 1 \mid y) = E_{p(z \mid y)} P(x_i = 1 \mid y_i, z)`, estimated by
        the adaptive importance sampling of :meth:`inpaint` (``k`` draws, ``n_rounds`` rounds).
        Thresholding at 1/2 gives the restoration with the fewest expected wrong pixels under
        the model (the MPM estimate of notebook 05).

        Parameters
        ----------
        noisy : (N, C, H, W), binary 0/1
            The observed images y.
        noise_rate : float in (0, 0.5)
            The flip probability p.
        labels : int or Tensor (N,), optional
            Classes, for a conditional model (required there).
        k, n_rounds : int
        seed : int, optional

        Returns
        -------
        (N, C, H, W) probabilities in [0, 1]; NumPy when ``noisy`` was NumPy.
        """
        if self.likelihood != "bernoulli":
            raise ValueError("denoise needs a Bernoulli VAE (binary images and flip noise).")
        p = check_probability(noise_rate, "noise_rate", low=0.0, high=0.5)
        k = check_count(k, "k", min_value=2)
        n_rounds = check_count(n_rounds, "n_rounds")
        _check_seed(seed)
        y = self._images(noisy, "noisy")
        cond = self._onehot(labels, len(y))
        # In log space: with a tiny p, or lambda(z) rounded to exactly 0 or 1, the products
        # underflow to 0 and log(0) = -inf for every draw would make every weight NaN.
        log_keep, log_flip = math.log1p(-p), math.log(p)

        def pixel_terms(out: torch.Tensor, n: int):
            y_rep = y.repeat(n, 1, 1, 1) == 1
            keep = torch.full_like(out, log_keep)
            flip = torch.full_like(out, log_flip)
            log_like_one = torch.where(y_rep, keep, flip)  # log p(y_i | x_i = 1)
            log_like_zero = torch.where(y_rep, flip, keep)  # log p(y_i | x_i = 0)
            log_numerator = F.logsigmoid(out) + log_like_one  # log lambda p(y_i | x_i = 1)
            log_evidence = torch.logaddexp(log_numerator, F.logsigmoid(-out) + log_like_zero)
            return log_numerator, log_evidence  # log p(y_i | z) second

        def log_lik(out: torch.Tensor, n: int) -> torch.Tensor:
            return pixel_terms(out, n)[1].flatten(1).sum(1)

        def marginal(out: torch.Tensor) -> torch.Tensor:
            log_numerator, log_evidence = pixel_terms(out, len(out) // len(y))
            return torch.exp(log_numerator - log_evidence)

        gen = _generator(seed, self.device)
        estimate, _, _ = self._adaptive_importance(y, cond, k, n_rounds, gen, log_lik, marginal)
        return like_input(estimate.clamp(0, 1), noisy)

    def _log_px_observed(self, x, out, m) -> torch.Tensor:
        """log p(x_o | z): the likelihood of the observed pixels only, shape (M,)."""
        if self.likelihood == "bernoulli":
            logp = -F.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            std = self.pixel_std()
            logp = -0.5 * ((x - torch.sigmoid(out)) / std) ** 2 - std.log() - 0.5 * LOG_2PI
        return (logp * m).flatten(1).sum(1)

    def _inpaint_unknown_class(self, x, m, n_iter, k, n_rounds, gen):
        """Sum over the unknown class: E[x_m|x_o] = Σ_y p(y|x_o) E[x_m|x_o, y], uniform p(y)."""
        fills, log_ev, ess = [], [], []
        for y in range(self.n_classes):
            cond = self._onehot(torch.full((len(x),), y, dtype=torch.int64), len(x))
            start, _ = self._pseudo_gibbs(x, m, cond, n_iter, gen)
            fill, evidence, e = self._importance_fill(x, m, cond, start, k, n_rounds, gen)
            fills.append(fill)
            log_ev.append(evidence)
            ess.append(e)
        class_post = torch.softmax(torch.stack(log_ev), dim=0)  # (K, N): p(y | x_o)
        fill = (class_post[..., None, None, None] * torch.stack(fills)).sum(0)
        return fill, (class_post * torch.stack(ess)).sum(0)

    def _inpaint_optimize(self, x, m, cond, n_iter):
        with torch.no_grad():
            start = torch.where(m, x, torch.full_like(x, 0.5))
            mu, _ = self._encode(start, cond)
        z = mu.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=0.05)
        with torch.enable_grad():
            for _ in range(n_iter):
                out = self._decode_out(z, cond)
                loss = -(self._log_px_observed(x, out, m) + _log_standard_normal(z)).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            return torch.sigmoid(self._decode_out(z, cond))

    # -- training ------------------------------------------------------------------------

    def _check_training_data(
        self, data: Any, labels: Any, names: tuple[str, str] = ("data", "labels")
    ) -> None:
        self._images(data, names[0])
        if self.n_classes is not None and labels is None:
            raise ValueError(
                f"this VAE is conditional (n_classes={self.n_classes}); pass {names[1]}, an "
                "(N,) int64 tensor."
            )
        if labels is not None:
            self._onehot(labels, len(data), names[1])


# --------------------------------------------------------------------------- pPCA


class LinearGaussianVAE(nn.Module):
    r"""A VAE whose exact marginal likelihood is known: probabilistic PCA.

    Decoder :math:`p(x \mid z) = \mathcal N(W z + b, \sigma^2 I_D)`, prior
    :math:`\mathcal N(0, I_L)`, so :math:`p(x) = \mathcal N(b, W W^\top + \sigma^2 I)`
    exactly, and the exact posterior is :math:`p(z \mid x) = \mathcal N(M^{-1} W^\top
    (x - b),\ \sigma^2 M^{-1})` with :math:`M = W^\top W + \sigma^2 I`.

    Encoder :math:`q(z \mid x) = \mathcal N(\mu, \Sigma_q)`, :math:`\mu = V x + c`, with
    one covariance :math:`\Sigma_q = S S^\top` for every x (the true posterior's covariance
    does not depend on x either): ``posterior="full"`` (S lower triangular) can match the
    true posterior for any W; ``posterior="diagonal"`` (the usual VAE) only when the columns
    of W are orthogonal, which training reaches slowly. The ELBO is computed in closed form:

    .. math::

        \mathcal L(x) = \log\mathcal N(x; W\mu + b, \sigma^2 I)
        - \frac{\operatorname{tr}(W \Sigma_q W^\top)}{2\sigma^2}
        - \mathrm{KL}(\mathcal N(\mu, \Sigma_q) \| \mathcal N(0, I)).

    Parameters
    ----------
    data_dim : int
        D.
    latent_dim : int
        L < D.
    posterior : {"full", "diagonal"}
    seed : int, optional
        Seeds the initial weights.
    """

    def __init__(
        self,
        data_dim: int,
        latent_dim: int,
        *,
        posterior: str = "full",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        data_dim = check_count(data_dim, "data_dim", min_value=2)
        latent_dim = check_count(latent_dim, "latent_dim")
        if latent_dim >= data_dim:
            raise ValueError(f"latent_dim must be < data_dim={data_dim}, got {latent_dim}.")
        check_one_of(posterior, "posterior", ("full", "diagonal"))
        _check_seed(seed)
        if 2 * data_dim * latent_dim + latent_dim**2 > 2**30:
            raise ValueError(
                f"this LinearGaussianVAE would not fit in memory: reduce data_dim={data_dim} or "
                f"latent_dim={latent_dim}."
            )
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        self.data_dim, self.latent_dim, self.posterior = data_dim, latent_dim, posterior
        self.settings = {"data_dim": data_dim, "latent_dim": latent_dim, "posterior": posterior}
        self.W = nn.Parameter(0.1 * torch.randn(data_dim, latent_dim, generator=gen))
        self.b = nn.Parameter(torch.zeros(data_dim))
        self.log_sigma2 = nn.Parameter(torch.zeros(()))
        self.V = nn.Parameter(0.1 * torch.randn(latent_dim, data_dim, generator=gen))
        self.c = nn.Parameter(torch.zeros(latent_dim))
        self.log_s2 = nn.Parameter(torch.zeros(latent_dim))  # log of diag(S)**2
        if posterior == "full":
            self.S_lower = nn.Parameter(torch.zeros(latent_dim, latent_dim))

    @property
    def device(self) -> torch.device:
        return self.W.device

    def _data(self, x: Any, name: str = "x") -> torch.Tensor:
        check_array(x, name, ndim=2, kinds="f", shape=(None, self.data_dim))
        check_fits_dtype(x, name, self.W.dtype)
        return as_tensor(x, dtype=self.W.dtype, device=self.device)

    def _check_training_data(
        self, data: Any, labels: Any, names: tuple[str, str] = ("data", "labels")
    ) -> None:
        self._data(data, names[0])
        if labels is not None:
            raise ValueError(f"LinearGaussianVAE is unconditional; pass {names[1]}=None.")

    def posterior_scale(self) -> torch.Tensor:
        """S, the lower-triangular square root of the encoder's covariance, shape (L, L)."""
        scale = torch.diag((0.5 * self.log_s2).exp())
        if self.posterior == "full":
            scale = scale + torch.tril(self.S_lower, -1)
        return scale

    def encode(self, x: ArrayLike, labels: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x): means (N, L) and the shared covariance S Sᵀ (L, L)."""
        if labels is not None:
            raise ValueError("LinearGaussianVAE is unconditional; pass labels=None.")
        x = self._data(x)
        scale = self.posterior_scale()
        return x @ self.V.T + self.c, scale @ scale.T

    def true_posterior(self, x: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact p(z | x): means (N, L) and the shared covariance σ² M⁻¹ (L, L)."""
        x = self._data(x)
        with torch.no_grad():
            sigma2 = self.log_sigma2.exp()
            M = self.W.T @ self.W + sigma2 * torch.eye(self.latent_dim, device=self.device)
            mean = torch.linalg.solve(M, self.W.T @ (x - self.b).T).T
            return mean, sigma2 * torch.linalg.inv(M)

    def posterior_kl(self, x: ArrayLike) -> torch.Tensor:
        """KL(q(z | x) ‖ p(z | x)) per example, shape (N,): exactly log p(x) − ELBO."""
        with torch.no_grad():
            mu_q, cov_q = self.encode(x)
            mu_p, cov_p = self.true_posterior(x)
            _finite_result(self, mu_q, "x", x)
            _finite_result(self, mu_p, "x", x)
            q = torch.distributions.MultivariateNormal(mu_q, cov_q, validate_args=False)
            p = torch.distributions.MultivariateNormal(mu_p, cov_p, validate_args=False)
            return _finite_result(self, torch.distributions.kl_divergence(q, p), "x", x)

    def elbo_terms(self, x: ArrayLike, labels: Any = None, **_: Any):
        """Closed-form expected log-likelihood (N,) and KL to the prior (N,), nats."""
        if labels is not None:
            raise ValueError("LinearGaussianVAE is unconditional; pass labels=None.")
        recon, kl = self._elbo_terms(self._data(x))
        _finite_result(self, recon, "x", x)
        return recon, _finite_result(self, kl, "x", x)

    def _elbo_terms(self, x: torch.Tensor):
        """The closed-form terms of a checked batch (the training step calls this)."""
        mu = x @ self.V.T + self.c
        scale = self.posterior_scale()
        sigma2 = self.log_sigma2.exp()
        resid = ((x - mu @ self.W.T - self.b) ** 2).sum(1)
        trace = ((self.W @ scale) ** 2).sum()
        recon = -0.5 * self.data_dim * (LOG_2PI + self.log_sigma2) - (resid + trace) / (2 * sigma2)
        # KL(N(mu, S Sᵀ) ‖ N(0, I)); log det(S Sᵀ) = Σ log_s2.
        kl = 0.5 * ((scale**2).sum() + (mu**2).sum(1) - self.latent_dim - self.log_s2.sum())
        return recon, kl

    def elbo(self, x: ArrayLike, labels: Any = None, **_: Any) -> torch.Tensor:
        """The ELBO per example in closed form (exact, not estimated), shape (N,), nats."""
        recon, kl = self.elbo_terms(x, labels)
        return _finite_result(self, recon - kl, "x", x)

    def exact_log_likelihood(self, x: ArrayLike) -> ArrayLike:
        r""":math:`\log \mathcal N(x; b, W W^\top + \sigma^2 I)` per example, shape (N,)."""
        with torch.no_grad():
            values = ppca_log_likelihood(self._data(x), self.W, self.b, self.log_sigma2.exp())
            return like_input(_finite_result(self, values, "x", x), x)

    def log_likelihood(
        self, x: ArrayLike, labels: Any = None, *, k: int = 1000, seed: int | None = None
    ) -> torch.Tensor:
        """Importance-weighted (IWAE) estimate of log p(x) per example, shape (N,), nats."""
        k = check_count(k, "k")
        _check_seed(seed)
        mu, _ = self.encode(x, labels)
        x = self._data(x)
        gen = _generator(seed, self.device)
        with torch.no_grad():
            mu = mu.detach()
            scale = self.posterior_scale()
            log_det = 0.5 * self.log_s2.sum()
            sigma2 = self.log_sigma2.exp()
            n_k = max(1, min(k, _BLOCK_ELEMENTS // (self.data_dim * len(x))))
            logws = []
            for done in range(0, k, n_k):
                eps = _randn((min(n_k, k - done), *mu.shape), gen, self.device, mu.dtype)
                z = mu + eps @ scale.T
                resid = ((x - z @ self.W.T - self.b) ** 2).sum(-1)
                log_px = -0.5 * self.data_dim * (LOG_2PI + self.log_sigma2) - resid / (2 * sigma2)
                log_q = _log_standard_normal(eps) - log_det
                logws.append(log_px + _log_standard_normal(z) - log_q)
            estimate = torch.logsumexp(torch.cat(logws), 0) - math.log(k)
            return _finite_result(self, estimate, "x", x)

    def sample(
        self, n: int, labels: Any = None, seed: int | None = None, *, noise: bool = False
    ) -> torch.Tensor:
        """Draw n points: the decoder mean W z + b (default) or with the N(0, σ²I) noise."""
        n = check_count(n, "n")
        _check_elements(n * self.data_dim, "n")
        _check_seed(seed)
        noise = check_bool(noise, "noise")
        if labels is not None:
            raise ValueError("LinearGaussianVAE is unconditional; pass labels=None.")
        gen = _generator(seed, self.device)
        with torch.no_grad():
            dtype = self.W.dtype
            x = _randn((n, self.latent_dim), gen, self.device, dtype) @ self.W.T + self.b
            if noise:
                x = x + self.log_sigma2.exp().sqrt() * _randn(x.shape, gen, self.device, dtype)
            return x


def ppca_mle(X: ArrayLike, latent_dim: int) -> tuple[ArrayLike, ArrayLike, float]:
    r"""The maximum-likelihood probabilistic PCA in closed form (Tipping & Bishop 1999).

    With :math:`\lambda_1 \ge \dots \ge \lambda_D` the eigenvalues of the sample
    covariance (divided by N) and :math:`U_L` the top-L eigenvectors:
    :math:`b = \bar x`, :math:`\sigma^2 = \frac{1}{D-L}\sum_{j>L}\lambda_j`,
    :math:`W = U_L(\Lambda_L - \sigma^2 I)^{1/2}` (up to a rotation).

    Parameters
    ----------
    X : (N, D)
    latent_dim : int

    Returns
    -------
    W : (D, L)
    mean : (D,)
    sigma2 : float
    """
    check_array(X, "X", ndim=2, kinds="f")
    latent_dim = check_count(latent_dim, "latent_dim")
    n, d = X.shape
    if latent_dim >= d:
        raise ValueError(f"latent_dim must be < the data dimension {d}, got {latent_dim}.")
    Xt = torch.as_tensor(as_numpy(X), dtype=torch.float64)
    # In units of a power of two near the data's size (exact): squares of 1e200 stay finite.
    largest = float(Xt.abs().max())
    scale = 1.0 if largest == 0 else math.ldexp(1.0, math.frexp(largest)[1] - 1)
    Xs = Xt / scale
    mean = Xs.mean(0)
    cov = (Xs - mean).T @ (Xs - mean) / n
    evals, evecs = torch.linalg.eigh(cov)
    evals, evecs = evals.flip(0), evecs.flip(1)
    sigma2_scaled = float(evals[latent_dim:].mean())
    if not sigma2_scaled > 64 * np.finfo(np.float64).eps * max(float(evals[0]), 1e-300):
        raise ValueError(
            f"X varies in at most latent_dim={latent_dim} directions ({n} points): the noise "
            "variance sigma2 of the pPCA MLE would be 0 and the likelihood unbounded. Use more "
            "points, a smaller latent_dim, or add noise."
        )
    W = evecs[:, :latent_dim] * (evals[:latent_dim] - sigma2_scaled).clamp_min(0).sqrt() * scale
    mean = mean * scale
    sigma2 = sigma2_scaled * scale * scale  # inf, not OverflowError, when too large
    if not math.isfinite(sigma2):
        raise ValueError(
            f"X is too large (max |X| = {largest:.3g}): its variance overflows float64; rescale X."
        )
    if isinstance(X, torch.Tensor):
        return W.to(X.device, X.dtype), mean.to(X.device, X.dtype), sigma2
    return W.numpy(), mean.numpy(), sigma2


def ppca_log_likelihood(
    X: ArrayLike, W: ArrayLike, mean: ArrayLike, sigma2: float | ArrayLike
) -> ArrayLike:
    r"""Exact :math:`\log\mathcal N(x; \text{mean}, W W^\top + \sigma^2 I)` per row.

    Parameters
    ----------
    X : (N, D)
    W : (D, L)
    mean : (D,)
    sigma2 : float or 0-d tensor, > 0

    Returns
    -------
    (N,) log-densities in nats; NumPy when X is NumPy.
    """
    check_array(X, "X", ndim=2, kinds="f")
    d = X.shape[1]
    check_array(W, "W", ndim=2, kinds="f", shape=(d, None))
    check_array(mean, "mean", ndim=1, kinds="f", shape=(d,))
    if isinstance(sigma2, np.ndarray | torch.Tensor):
        check_array(sigma2, "sigma2", ndim=0, kinds="f", finite=False)
        sigma2 = float(sigma2)
    if isinstance(sigma2, bool) or not isinstance(sigma2, numbers.Real):
        raise TypeError(f"sigma2 must be a positive float or a 0-d tensor, got {sigma2!r}.")
    if not sigma2 > 0:
        raise ValueError(f"sigma2 must be > 0, got {float(sigma2)}.")
    if not math.isfinite(sigma2):
        raise ValueError(f"sigma2 must be finite, got {sigma2}.")
    Xt = as_tensor(X)
    dev, dtype = Xt.device, Xt.dtype
    # float64 whatever the input: a float32 sigma2 of 1e-300 would be 0 (a singular matrix).
    wide = torch.float32 if dev.type == "mps" else torch.float64
    Wt = as_tensor(W, dtype=wide, device=dev)
    cov = Wt @ Wt.T + sigma2 * torch.eye(d, dtype=wide, device=dev)
    chol, info = torch.linalg.cholesky_ex(cov)
    if int(info) != 0 or not bool(torch.isfinite(chol).all()):
        raise ValueError(
            f"W W^T + sigma2 I is not numerically positive definite (sigma2 = {sigma2:.3g}, "
            f"max |W| = {float(Wt.abs().max()):.3g}); use a larger sigma2 or a smaller W."
        )
    dist = torch.distributions.MultivariateNormal(
        as_tensor(mean, dtype=wide, device=dev), scale_tril=chol, validate_args=False
    )
    return like_input(dist.log_prob(Xt.to(wide)).to(dtype), X)


# --------------------------------------------------------------------------- gradients


def gradient_estimator_variance(
    f: Callable[[torch.Tensor], torch.Tensor],
    mu: ArrayLike,
    sigma: ArrayLike,
    *,
    n_samples: int = 1,
    n_trials: int = 2000,
    baseline: float | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> dict[str, dict[str, torch.Tensor]]:
    r"""Compare two unbiased estimators of :math:`\nabla_{\mu,\sigma}\,
    \mathbb E_{z\sim\mathcal N(\mu, \sigma^2)}[f(z)]`.

    * reparameterization: :math:`z = \mu + \sigma\varepsilon`, gradient
      :math:`(f'(z),\ f'(z)\,\varepsilon)`;
    * score function (REINFORCE): :math:`(f(z) - b)\,\nabla\log\mathcal N(z;\mu,\sigma^2)
      = (f(z) - b)\big(\frac{z-\mu}{\sigma^2},\ \frac{(z-\mu)^2 - \sigma^2}{\sigma^3}\big)`,
      with an optional constant baseline b (a control variate; unbiased for any constant).

    Each estimate averages ``n_samples`` draws; it is repeated ``n_trials`` times to measure
    its mean and variance.

    Parameters
    ----------
    f : callable
        Maps z of shape (..., D) to (...): a differentiable torch function.
    mu, sigma : (D,)
        Mean and standard deviation (> 0) of the diagonal Gaussian.
    n_samples, n_trials : int
    baseline : float, optional
    seed : int, optional
    device : optional

    Returns
    -------
    dict
        ``{"reparameterization": {"mean", "variance"}, "score_function": {"mean",
        "variance"}}``; each value a tensor of shape (2, D): row 0 the gradient with respect
        to μ, row 1 with respect to σ.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}.")
    n_samples = check_count(n_samples, "n_samples")
    n_trials = check_count(n_trials, "n_trials", min_value=2)
    _check_seed(seed)
    if baseline is not None:
        if isinstance(baseline, bool) or not isinstance(baseline, numbers.Real):
            raise TypeError(f"baseline must be a float or None, got {baseline!r}.")
        if not math.isfinite(baseline):
            raise ValueError(f"baseline must be finite, got {baseline!r}.")
    target = resolve_device(device)
    check_array(mu, "mu", ndim=1, kinds="f")
    check_array(sigma, "sigma", ndim=1, kinds="f", shape=mu.shape, min_value=0.0)
    dtype = torch.float32 if target.type == "mps" else torch.float64  # MPS has no float64
    check_fits_dtype(mu, "mu", dtype)
    check_fits_dtype(sigma, "sigma", dtype)
    _check_elements(n_trials * n_samples * len(mu), "n_trials and n_samples")
    mu_t = as_tensor(mu, dtype=dtype, device=target)
    sigma_t = as_tensor(sigma, dtype=dtype, device=target)
    if bool((sigma_t <= 0).any()):
        raise ValueError("sigma must be > 0 everywhere.")
    gen = _generator(seed, target)
    eps = torch.randn((n_trials, n_samples, len(mu_t)), generator=gen, dtype=dtype, device=target)
    z = (mu_t + sigma_t * eps).requires_grad_(True)
    values = f(z)
    if values.shape != z.shape[:-1]:
        raise ValueError(
            f"f must map z of shape (..., D) to shape (...); got {tuple(values.shape)} for z of "
            f"shape {tuple(z.shape)}."
        )
    (fprime,) = torch.autograd.grad(values.sum(), z)
    reparam = torch.stack([fprime, fprime * eps]).mean(2)  # (2, trials, D)
    centred = (values.detach() - (baseline or 0.0))[..., None]
    # (z - mu) / sigma^2 = eps / sigma and ((z - mu)^2 - sigma^2) / sigma^3 = (eps^2 - 1) / sigma:
    # the same scores without sigma^2, which underflows (0/0) for sigma < 1e-154.
    score_mu = eps / sigma_t
    score_sigma = (eps**2 - 1.0) / sigma_t
    score = torch.stack([centred * score_mu, centred * score_sigma]).mean(2)
    result = {
        name: {"mean": g.mean(1), "variance": g.var(1)}
        for name, g in (("reparameterization", reparam), ("score_function", score))
    }
    if not all(bool(torch.isfinite(v).all()) for r in result.values() for v in r.values()):
        raise ValueError(
            "the gradient estimates overflow: f's values minus the baseline "
            f"(largest |f - baseline| = {float(centred.abs().max()):.3g}) or its gradient are "
            "too large for their variance to be represented; rescale f or the baseline."
        )
    return result


# --------------------------------------------------------------------------- dequantization


def dequantize(
    images: ArrayLike,
    n_levels: int,
    *,
    copies: int = 1,
    seed: int | None = None,
) -> torch.Tensor:
    r"""Spread discrete pixel values uniformly over their cells: :math:`y = (k + u) / L`.

    A pixel with L levels :math:`k/(L-1)`, :math:`k \in \{0, \dots, L-1\}`, is mapped to
    :math:`(k + u)/L` with :math:`u \sim U(0, 1)`: the cell :math:`[k/L, (k+1)/L)` of width
    1/L. A density :math:`p` on such data defines a probability of the discrete image,
    :math:`P(k) = \int_{\text{cell}} p(y)\, dy = L^{-D}\, E_u[p((k+u)/L)] \ge L^{-D}
    \exp E_u[\log p]`, so continuous and discrete models can be compared in the same units
    (:func:`lessons_lib.metrics.dequantized_bits_per_dim`).

    Parameters
    ----------
    images : (N, C, H, W) with values on the grid k / (L − 1)
        Binary images for L = 2; the 8×8 digits (grey levels 0..16) for L = 17.
    n_levels : int
        L.
    copies : int
        Stack this many independently dequantized copies (for training).
    seed : int, optional

    Returns
    -------
    Tensor, shape (copies · N, C, H, W), values in [0, 1)
    """
    n_levels = check_count(n_levels, "n_levels", min_value=2)
    copies = check_count(copies, "copies")
    _check_seed(seed)
    check_images(images, "images")
    x = as_tensor(images)
    _check_on_grid(x, n_levels)
    _check_elements(copies * x.numel(), "copies")
    n = len(x)
    shape = (copies * n, *x.shape[1:])
    gen = _generator(seed, x.device)
    u = torch.rand(shape, generator=gen, device=x.device, dtype=x.dtype)
    # Row r of the result dequantizes image r % N, in blocks: the wide (float64) temporaries
    # of the whole batch took 500 MB for 20,000 Fashion-MNIST images.
    out = torch.empty_like(u)
    rows = max(1, _BLOCK_ELEMENTS // max(1, math.prod(x.shape[1:])))
    for copy in range(copies):
        for start in range(0, n, rows):
            k = _levels(x[start : start + rows], n_levels)
            at = slice(copy * n + start, copy * n + start + len(k))
            out[at] = _below_one((k + u[at].to(k.dtype)) / n_levels, x.dtype)
    return out


def _levels(x: torch.Tensor, n_levels: int) -> torch.Tensor:
    """(x · (L − 1)) in float64 (float32 on MPS), not yet rounded."""
    wide = torch.float32 if x.device.type == "mps" else torch.float64
    return (x.to(wide) * float(n_levels - 1)).round()


def _check_on_grid(x: torch.Tensor, n_levels: int) -> None:
    """Raise unless every value of ``x`` is k / (L − 1) for an integer k (checked in blocks)."""
    wide = torch.float32 if x.device.type == "mps" else torch.float64
    eps = 4 * float(torch.finfo(x.dtype).eps) * (n_levels - 1)
    for block in x.reshape(-1).split(_BLOCK_ELEMENTS):
        levels = block.to(wide) * float(n_levels - 1)
        k = levels.round()
        # As torch.allclose(levels, k, atol=1e-4) did, plus the rounding of the grid values to
        # x's dtype, scaled by L - 1 (float32 cannot hold k / 100000 to 1e-4 after scaling).
        if not bool(((levels - k).abs() <= 1e-4 + 1e-5 * k.abs() + eps).all()):
            raise ValueError(
                f"images must take values k / {n_levels - 1} (n_levels={n_levels}); these do "
                "not. Pass the number of grey levels the images really have (2 for binary "
                "images)."
            )


def _grid_levels(images: Any, n_levels: int) -> torch.Tensor:
    """Check images lie on the grid k / (L - 1) and return k, float64 (float32 on MPS)."""
    check_images(images, "images")
    x = as_tensor(images)
    _check_on_grid(x, n_levels)
    return _levels(x, n_levels)


def _below_one(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cast to ``dtype`` keeping values below 1: (L - 1 + u) / L can round up to 1.0."""
    top = torch.nextafter(torch.ones((), dtype=dtype), torch.zeros((), dtype=dtype))
    return y.to(dtype).clamp_max(top.to(y.device))


def discrete_log_likelihood(
    log_density: Callable[[torch.Tensor], ArrayLike],
    images: ArrayLike,
    n_levels: int,
    *,
    k: int = 1000,
    seed: int | None = None,
) -> torch.Tensor:
    r"""Log-probability of discrete images under a *continuous* density, per image.

    The density :math:`p` (e.g. a GMM fitted to dequantized images) gives each discrete image
    the probability of its cell, :math:`P(x) = \int_{\text{cell}(x)} p(y)\, dy =
    L^{-D} E_u[p((k + u)/L)]`. It is estimated with ``k`` uniform draws u per image,

    .. math::

        \log \hat P(x) = \log \frac1k \sum_{j=1}^k p\big((k + u_j)/L\big) - D \log L ,

    an importance-sampling estimate with the uniform proposal: a lower bound in expectation
    that tightens with k, exactly like the IWAE bound of a VAE (and ``k = 1`` is the Jensen
    bound). So a density and a discrete model (a Bernoulli VAE) can be compared in the same
    units: log-probabilities of the same discrete test images.

    Parameters
    ----------
    log_density : callable
        Maps points of shape (M, D) (flattened images, on the images' device) to (M,)
        log-densities, e.g. ``gmm.score_samples``.
    images : (N, C, H, W) with values k / (L − 1)
    n_levels : int
        L (2 for binary images).
    k : int
        Uniform draws per image.
    seed : int, optional

    Returns
    -------
    Tensor, shape (N,): log-probabilities in nats (≤ 0 up to Monte Carlo error).
    """
    if not callable(log_density):
        raise TypeError(f"log_density must be callable, got {type(log_density).__name__}.")
    k = check_count(k, "k")
    n_levels = check_count(n_levels, "n_levels", min_value=2)
    _check_seed(seed)
    grid = _grid_levels(images, n_levels)  # checks every image and the grid before any work
    x = as_tensor(images)
    n, d = len(x), math.prod(x.shape[1:])
    gen = _generator(seed, x.device)
    per_block = max(1, min(k, _BLOCK_ELEMENTS // (n * d)))
    logps = []
    for done in range(0, k, per_block):
        m = min(per_block, k - done)
        levels = grid.repeat(m, 1, 1, 1)
        u = torch.rand(levels.shape, generator=gen, device=x.device, dtype=x.dtype)
        points = _below_one((levels + u.to(levels.dtype)) / n_levels, x.dtype).flatten(1)
        values = log_density(points)
        if not isinstance(values, np.ndarray | torch.Tensor) or tuple(values.shape) != (m * n,):
            raise ValueError(
                f"log_density must map points of shape {tuple(points.shape)} to an array of "
                f"shape ({m * n},), got {getattr(values, 'shape', type(values).__name__)}."
            )
        values = as_tensor(values).to(torch.float64)
        if bool(torch.isnan(values).any()) or bool((values == math.inf).any()):
            raise ValueError("log_density returned NaN or +inf; it must return log-densities.")
        logps.append(values.view(m, n))
    return torch.logsumexp(torch.cat(logps), 0) - math.log(k) - d * math.log(n_levels)


# --------------------------------------------------------------------------- training


def _default_epochs(n: int, batch_size: int) -> int:
    """About 4,000 optimisation steps, between 5 and 200 passes over the data."""
    steps_per_epoch = math.ceil(n / batch_size)
    return int(min(200, max(5, round(4000 / steps_per_epoch))))


def train_vae(
    model: VAE | LinearGaussianVAE,
    data: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    epochs: int | None = None,
    beta: float = 1.0,
    batch_size: int = 64,
    lr: float = 2e-3,
    warmup_epochs: int | None = None,
    validation: Sequence[ArrayLike] | None = None,
    patience: int | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, History], None] | None = None,
) -> History:
    r"""Train a VAE by maximising the (β-weighted) ELBO with Adam, through ``train_loop``.

    The loss of a batch is :math:`-\frac1B\sum_i\big[E_q\log p(x_i\mid z) - \beta_t\,
    \mathrm{KL}(q(z\mid x_i)\|p(z))\big]` with one reparameterized draw per example;
    :math:`\beta_t` rises linearly from 0 to ``beta`` over ``warmup_epochs`` (KL warm-up, so
    the latent units are in use before the KL starts pulling them to the prior), and the
    learning rate decays with a cosine to 5% of ``lr``. The defaults are the course's
    recommended settings.

    Parameters
    ----------
    model : VAE or LinearGaussianVAE
    data : Tensor, shape (N, C, H, W) (VAE) or (N, D) (LinearGaussianVAE)
    labels : Tensor (N,) int64, for a conditional VAE
    epochs : int, optional
        Default: about 4,000 optimisation steps, between 5 and 200 epochs (200 epochs of the
        1,259 training digits, 5 of Fashion-MNIST's 55,000 images).
    beta : float
        Weight of the KL term (β-VAE; β = 1 is the ELBO).
    batch_size : int
    lr : float
        Adam's initial learning rate.
    warmup_epochs : int, optional
        KL warm-up length (default: a tenth of the epochs; 0 switches it off).
    validation : (x_val,) or (x_val, labels_val), optional
        Logs ``val_elbo`` (ELBO in nats, mean per example) and ``val_loss`` (its negative)
        after each epoch.
    patience : int, optional
        Early stopping on ``val_loss`` after this many epochs (>= 1) without improvement
        (needs ``validation``); the best weights are restored.
    seed : int, optional
        Seeds the shuffling and the draws of z (see Notes); an integer in [0, 2**32).
    device : optional
        Default ``get_device()``.
    progress : bool
        Progress bar.
    on_epoch_end : callable, optional
        Passed on to ``train_loop``.

    Returns
    -------
    History
        Per-epoch means of ``loss``, ``elbo``, ``reconstruction`` and ``kl`` (nats per
        example; ``elbo`` uses β = 1), ``beta``, and ``val_elbo``/``val_loss`` with
        ``validation``.

    Notes
    -----
    ``seed`` seeds the shuffling and the draws of z; the initial weights are seeded by the
    model's own ``seed=`` argument.
    """
    if not isinstance(model, VAE | LinearGaussianVAE):
        raise TypeError(f"model must be a VAE or LinearGaussianVAE, got {type(model).__name__}.")
    beta = check_positive(beta, "beta", strict=False)
    lr = check_positive(lr, "lr")
    if lr > MAX_LR:
        raise ValueError(f"lr must be at most {MAX_LR:.3g} (float32), got {lr:g}.")
    batch_size = check_count(batch_size, "batch_size")
    seed = check_seed(seed, max_value=MAX_LOOP_SEED)
    progress = check_bool(progress, "progress")
    check_callable(on_epoch_end, "on_epoch_end")
    if patience is not None:
        patience = check_count(patience, "patience")
    model._check_training_data(data, labels)
    n = len(data)
    epochs = _default_epochs(n, batch_size) if epochs is None else epochs
    epochs = check_count(epochs, "epochs")
    warmup = max(1, epochs // 10) if warmup_epochs is None else warmup_epochs
    warmup = check_count(warmup, "warmup_epochs", min_value=0)
    val_x, val_labels = _validation_parts(validation)
    if val_x is not None:
        model._check_training_data(val_x, val_labels, ("validation[0]", "validation[1]"))
    if patience is not None and val_x is None:
        raise ValueError("patience needs validation=(x_val,) or (x_val, labels_val).")
    target = resolve_device(device)
    model.to(target)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch
    floor = 0.05
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda t: (
            floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, total_steps) / total_steps))
        ),
    )
    counter = {"step": 0}

    def step(batch: list[torch.Tensor]) -> dict[str, torch.Tensor | float]:
        x = batch[0]
        y = batch[1] if len(batch) > 1 else None
        epoch_float = counter["step"] / steps_per_epoch
        weight = beta * min(1.0, epoch_float / warmup) if warmup > 0 else beta
        if isinstance(model, VAE):
            cond = None if y is None else F.one_hot(y, model.n_classes).float()
            recon, kl = model._elbo_terms(x, cond)
        else:
            recon, kl = model._elbo_terms(x.to(model.W.dtype))
        loss = -(recon - weight * kl).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        counter["step"] += 1
        return {
            "loss": loss.detach(),
            "elbo": (recon - kl).mean().detach(),
            "reconstruction": recon.mean().detach(),
            "kl": kl.mean().detach(),
            "beta": weight,
        }

    validate = None
    if val_x is not None:
        vx = as_tensor(val_x, dtype=torch.float32, device=target)
        vy = None if val_labels is None else as_tensor(val_labels, device=target)

        def validate() -> dict[str, float]:
            elbo = float(model.elbo(vx, vy, seed=0).mean())
            return {"val_elbo": elbo, "val_loss": -elbo}

    tensors = [as_tensor(data, dtype=torch.float32)]
    if labels is not None:
        tensors.append(as_tensor(labels, dtype=torch.int64))
    try:
        return train_loop(
            step,
            tensors,
            modules=model,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            device=target,
            progress=progress,
            validate=validate,
            patience=patience,
            on_epoch_end=on_epoch_end,
            desc=f"VAE ({model.__class__.__name__})",
        )
    except TrainingDiverged as err:
        raise TrainingDiverged(
            f"{err} The settings were lr={lr:g}, beta={beta:g}, batch_size={batch_size}, "
            f"warmup_epochs={warmup}."
        ) from err


def _validation_parts(validation: Any) -> tuple[Any, Any]:
    if validation is None:
        return None, None
    if isinstance(validation, torch.Tensor | np.ndarray):
        return validation, None
    if isinstance(validation, str | bytes) or not isinstance(validation, Sequence):
        raise TypeError(
            f"validation must be (x_val,) or (x_val, labels_val), got {type(validation).__name__}."
        )
    parts = list(validation)
    if len(parts) not in (1, 2):
        raise ValueError(
            f"validation must be (x_val,) or (x_val, labels_val), got {len(parts)} entries."
        )
    return parts[0], parts[1] if len(parts) == 2 else None
