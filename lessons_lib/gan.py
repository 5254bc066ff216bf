"""Generative adversarial networks, from the game on 2-D points to conditional DCGANs.

A GAN is two networks playing a game. The generator :math:`G` maps a latent vector
:math:`z \\sim \\mathcal N(0, I)` (and, for a conditional GAN, a class :math:`y`) to a data point;
the discriminator :math:`D` outputs a logit :math:`\\ell(x)` whose sigmoid
:math:`D(x) = \\sigma(\\ell(x))` is its belief that :math:`x` is real. This module holds

* :class:`GAN`: generator and discriminator as multilayer perceptrons (``arch="mlp"``, for
  2-D points) or as a small DCGAN (``arch="dcgan"``, for (C, H, W) images), class-conditional
  when ``n_classes`` is given (label embedding for the generator, projection discriminator);
* :func:`train_gan`: the four classic losses (``"minimax"``, ``"non-saturating"``,
  ``"hinge"``, ``"wgan-gp"``) on top of the course's one loop
  :func:`lessons_lib.training.train_loop`, logging the losses, :math:`D(x)` and
  :math:`D(G(z))`;
* :func:`mode_coverage`: the standard numbers of the 2-D mixture toys (modes covered and
  share of high-quality samples);
* :func:`optimal_discriminator`, :func:`mixture_log_density`, :func:`kde_log_density`: the
  optimal discriminator :math:`D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))` from known or
  estimated densities;
* :class:`ImageTranslator` and :func:`train_translator`: a pix2pix-style paired
  image-to-image model (U-Net generator, patch discriminator that sees the input), trained
  adversarially + L1 or with L1 only, and :func:`corrupt_images` to make the paired task;
* :func:`interpolate_latents` and :func:`within_class_diversity` for the image notebook.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
    check_int,
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
    History,
    TrainingDiverged,
    check_adam,
    check_callable,
    check_count,
    train_loop,
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

ARCHS = ("mlp", "dcgan")
LOSSES = ("non-saturating", "minimax", "hinge", "wgan-gp")

#: The course's recommended training settings, by architecture, then by loss. ``steps`` is
#: the number of generator updates :func:`train_gan` aims for when ``epochs`` is not given.
RECOMMENDED: dict[str, dict[str, dict]] = {
    "mlp": {
        "default": {
            "steps": 4000,
            "batch_size": 256,
            "lr_g": 1e-3,
            "lr_d": 1e-3,
            "betas": (0.5, 0.999),
            "d_steps": 1,
            "lr_decay": True,
            "gp_weight": 0.0,
            "ema_decay": 0.999,
        },
        "wgan-gp": {
            "lr_g": 1e-3,
            "lr_d": 1e-3,
            "betas": (0.5, 0.9),
            "d_steps": 5,
            "gp_weight": 10.0,
        },
    },
    "dcgan": {
        "default": {
            "steps": 3000,
            "batch_size": 64,
            "lr_g": 2e-4,
            "lr_d": 2e-4,
            "betas": (0.5, 0.999),
            "d_steps": 1,
            "lr_decay": False,
            "gp_weight": 0.0,
            "ema_decay": 0.0,
        },
        "wgan-gp": {
            "lr_g": 1e-4,
            "lr_d": 1e-4,
            "betas": (0.0, 0.9),
            "d_steps": 5,
            "gp_weight": 10.0,
        },
    },
}


def recommended_settings(arch: str, loss: str) -> dict:
    """The recommended ``steps``, ``batch_size``, ``lr_g``, ``lr_d``, ``betas``, ``d_steps``."""
    check_one_of(arch, "arch", ARCHS)
    check_one_of(loss, "loss", LOSSES)
    return {**RECOMMENDED[arch]["default"], **RECOMMENDED[arch].get(loss, {})}


def recommended_epochs(
    model: GAN, n_data: int, loss: str = "non-saturating", *, batch_size: int | None = None
) -> int:
    """Epochs that give the recommended number of generator updates for ``n_data`` points.

    ``ceil(steps / batches_per_epoch)`` with ``steps`` from :func:`recommended_settings`; the
    last incomplete batch is dropped, as :func:`train_gan` does.
    """
    if not isinstance(model, GAN):
        raise TypeError(f"model must be a lessons_lib.gan.GAN, got {type(model).__name__}.")
    settings = recommended_settings(model.arch, loss)
    n_data = check_count(n_data, "n_data")
    batch_size = settings["batch_size"] if batch_size is None else batch_size
    batch_size = check_count(batch_size, "batch_size")
    batches = max(1, n_data // batch_size)
    return max(1, math.ceil(settings["steps"] / batches))


# --------------------------------------------------------------------------- networks


def _n_halvings(height: int, width: int) -> int:
    """How many stride-2 stages fit: halve while both sides stay even and at least 2 (max 3)."""
    k = 0
    while k < 3 and height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= 2:
        height, width, k = height // 2, width // 2, k + 1
    return k


class _Generator(nn.Module):
    """z (B, latent_dim) [+ labels (B,)] → x (B, *data_shape)."""

    def __init__(
        self,
        data_shape: tuple[int, ...],
        latent_dim: int,
        n_classes: int | None,
        arch: str,
        width: int,
        bounded: bool,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.data_shape = data_shape
        norm_1d = nn.BatchNorm1d if batch_norm else lambda _: nn.Identity()
        norm_2d = nn.BatchNorm2d if batch_norm else lambda _: nn.Identity()
        self.bounded = bounded
        embed_dim = 0
        if n_classes is not None:
            embed_dim = min(latent_dim, 32)
            self.embed = nn.Embedding(n_classes, embed_dim)
        n_in = latent_dim + embed_dim
        if arch == "mlp":
            # Four hidden layers with batch norm, as in the VEEGAN/PacGAN benchmark generator:
            # without batch norm the 2-D generator spreads its samples far wider than 0.02.
            layers = []
            for n_from in (n_in, width, width, width):
                layers += [nn.Linear(n_from, width), norm_1d(width), nn.ReLU()]
            layers.append(nn.Linear(width, math.prod(data_shape)))
            self.body = nn.Sequential(*layers)
        else:
            channels, height, wide = data_shape
            k = _n_halvings(height, wide)
            h0, w0, c0 = height >> k, wide >> k, width << (k - 1)
            layers: list[nn.Module] = [
                nn.Linear(n_in, c0 * h0 * w0),
                nn.Unflatten(1, (c0, h0, w0)),
                norm_2d(c0),
                nn.ReLU(),
            ]
            c = c0
            for _ in range(k):
                layers += [
                    nn.ConvTranspose2d(c, c // 2, 4, stride=2, padding=1),
                    norm_2d(c // 2),
                    nn.ReLU(),
                ]
                c //= 2
            layers.append(nn.Conv2d(c, channels, 3, padding=1))
            self.body = nn.Sequential(*layers)

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if labels is not None:
            embedding = self.embed(labels)
        if embedding is not None:
            z = torch.cat([z, embedding], dim=1)
        out = self.body(z).reshape(len(z), *self.data_shape)
        return torch.sigmoid(out) if self.bounded else out


class MinibatchStd(nn.Module):
    """Append the batch's spread as one more feature (Karras et al., 2018), class by class.

    (B, C, …) [+ labels (B,)] → (B, C + 1, …). A collapsed generator makes batches with almost
    no spread, which this feature exposes to the discriminator at once; without it, D judges
    each sample alone and cannot see that every fake is the same. With labels, the spread is
    measured among the samples *of the same class* (each sample gets its class's value):
    batch-wide spread would come from the mix of classes and hide a generator that draws one
    image per class. It makes D's output depend on the whole batch, so score a real or a
    fake batch as a whole, never a mix.
    """

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, …) features [+ (B,) integer labels, any values] → (B, C + 1, …)."""
        if not isinstance(h, torch.Tensor):
            raise TypeError(f"h must be a torch tensor (B, C, ...), got {type(h).__name__}.")
        check_array(h, "h", ndim=(2, 3, 4), kinds="f")
        if labels is not None:
            if not isinstance(labels, torch.Tensor):
                raise TypeError(f"labels must be a torch tensor (B,), got {type(labels).__name__}.")
            check_labels(labels, "labels", n=len(h))
        flat = h.flatten(1)
        # In units of the largest feature when it exceeds 1 (detached, so the gradient is
        # unchanged): squares of 1e30 would overflow float32 and turn the spread into inf.
        scale = flat.detach().abs().amax().clamp_min(1.0)
        flat = flat / scale
        if labels is None:
            spread = flat.std(dim=0, unbiased=False).mean().expand(len(h))
        else:
            # Classes renumbered 0..K-1, so any integer labels work (and no huge one-hot).
            _, index = torch.unique(labels, return_inverse=True)
            onehot = F.one_hot(index, int(index.max()) + 1).to(flat.dtype)  # (B, K)
            counts = onehot.sum(0).clamp_min(1.0)[:, None]
            means = (onehot.T @ flat) / counts  # (K, F)
            variances = (onehot.T @ flat.square()) / counts - means.square()
            # The 1e-8 variance floor (keeps sqrt's gradient finite), in the scaled units.
            floor = (1e-8 / scale.square()).clamp_min(torch.finfo(flat.dtype).tiny)
            per_class = (variances.clamp_min(0.0) + floor).sqrt().mean(dim=1)  # (K,)
            spread = per_class[index]
        spread = spread * scale
        return torch.cat([h, spread.reshape(-1, *([1] * (h.ndim - 1))).expand_as(h[:, :1])], 1)


class _Discriminator(nn.Module):
    """x (B, *data_shape) [+ labels (B,)] → logits (B,); projection when conditional."""

    def __init__(
        self,
        data_shape: tuple[int, ...],
        n_classes: int | None,
        arch: str,
        width: int,
        minibatch_std: bool,
        pack: int = 1,
    ) -> None:
        super().__init__()
        extra = int(minibatch_std)
        self.pack = pack
        if arch == "mlp":
            stem: list[nn.Module] = [
                nn.Flatten(),
                nn.Linear(math.prod(data_shape) * pack, width),
                nn.LeakyReLU(0.2),
                nn.Linear(width, width),
                nn.LeakyReLU(0.2),
            ]
            trunk: list[nn.Module] = [nn.Linear(width + extra, width), nn.LeakyReLU(0.2)]
            n_features = width
        else:
            channels, height, wide = data_shape
            k = _n_halvings(height, wide)
            blocks: list[list[nn.Module]] = []
            c_in, c_out = channels, width
            for stage in range(k):
                if stage == k - 1:
                    c_in += extra  # the spread feature enters before the last block (ProGAN)
                blocks.append([nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)])
                c_in, c_out = c_out, c_out * 2
            stem = [layer for block in blocks[:-1] for layer in block]
            trunk = [*blocks[-1], nn.Flatten()]
            n_features = c_in * (height >> k) * (wide >> k)
        self.stem = nn.Sequential(*stem)
        self.spread = MinibatchStd() if minibatch_std else None
        self.trunk = nn.Sequential(*trunk)
        self.head = nn.Linear(n_features, 1)
        # Projection discriminator (Miyato & Koyama, 2018): logit = w·φ(x) + b + e_y·φ(x).
        self.project = nn.Embedding(n_classes, n_features) if n_classes is not None else None
        if self.project is not None:
            nn.init.zeros_(self.project.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.pack > 1:  # PacGAN: one decision per pack of `pack` consecutive samples
            x = x.reshape(len(x) // self.pack, -1)
        h = self.stem(x)
        if self.spread is not None:
            h = self.spread(h, labels)
        phi = self.trunk(h)
        logit = self.head(phi).squeeze(1)
        if labels is not None and self.project is not None:
            logit = logit + (self.project(labels) * phi).sum(dim=1)
        return logit


class GAN(nn.Module):
    """A generator and a discriminator, optionally class-conditional.

    Parameters
    ----------
    data_shape : tuple of int
        Shape of one data point: ``(D,)`` for vectors (e.g. ``(2,)`` for 2-D points) or
        ``(C, H, W)`` for images.
    latent_dim : int
        Size of the latent vector :math:`z \\sim \\mathcal N(0, I)`.
    n_classes : int, optional
        Make the model class-conditional: the generator reads a learned embedding of the
        label beside :math:`z`; the discriminator is a projection discriminator.
    arch : {"mlp", "dcgan"}
        Multilayer perceptrons (three hidden layers of ``width``), or a DCGAN: transposed
        convolutions with batch norm in the generator, strided convolutions with leaky ReLU
        in the discriminator (no batch norm there, so a gradient penalty stays valid).
        ``"dcgan"`` needs image data ``(C, H, W)`` with even ``H`` and ``W``.
    width : int, optional
        Hidden units (mlp, default 128) or channels of the first discriminator layer (dcgan,
        default 32; the generator mirrors it).
    bounded : bool, optional
        Squash generator outputs into [0, 1] with a sigmoid. Default: True for images
        (``len(data_shape) == 3``), False for vectors (2-D points are unbounded).
    minibatch_std : bool, optional
        Give the discriminator the batch's spread as a feature (:class:`MinibatchStd`), the
        cheap cure for mode collapse of ProGAN. Default: True for ``"dcgan"`` (without it
        the 8×8 digits DCGAN collapses to one digit), False for ``"mlp"`` (the 2-D notebook
        shows collapse and cures it by other means; a batch-dependent D would also make its
        heat map meaningless).
    pack : int
        PacGAN (Lin et al., 2018), for ``"mlp"``: the discriminator judges ``pack`` samples at
        once, concatenated, all real or all fake. A pack from a collapsed generator is
        visibly less varied than a real one, so packing penalises mode collapse. Its logits
        then have one entry per pack; batches must be multiples of ``pack``.
    batch_norm : bool
        Batch normalisation in the generator's hidden layers (DCGAN; Radford et al. 2016 found
        it kept the generator from "collapsing all samples to a single point"). Each layer is
        normalised with statistics of the whole minibatch, a coupling between samples that
        the 2-D notebook switches off to show the textbook GAN collapse.
    seed : int, optional
        Seed of the weight initialisation (the global random state is left untouched).

    Attributes
    ----------
    generator, discriminator : nn.Module
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        latent_dim: int,
        n_classes: int | None = None,
        arch: str = "mlp",
        *,
        width: int | None = None,
        bounded: bool | None = None,
        minibatch_std: bool | None = None,
        pack: int = 1,
        batch_norm: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if (
            isinstance(data_shape, str | bytes)
            or not isinstance(data_shape, Sequence)
            or not all(
                isinstance(s, int | np.integer) and not isinstance(s, bool | np.bool_) and s >= 1
                for s in data_shape
            )
        ):
            raise TypeError(
                f"data_shape must be a tuple of positive ints such as (2,) or (1, 8, 8), "
                f"got {data_shape!r}."
            )
        data_shape = tuple(int(s) for s in data_shape)
        if len(data_shape) not in (1, 3):
            raise ValueError(
                f"data_shape must be (D,) for vectors or (C, H, W) for images, got {data_shape}."
            )
        latent_dim = check_int(latent_dim, "latent_dim", min_value=1)
        if n_classes is not None:
            n_classes = check_int(n_classes, "n_classes", min_value=2)
        check_one_of(arch, "arch", ARCHS)
        if arch == "dcgan":
            if len(data_shape) != 3:
                raise ValueError(
                    f"arch='dcgan' needs image data_shape (C, H, W), got {data_shape}; "
                    "use arch='mlp' for vectors."
                )
            if _n_halvings(*data_shape[1:]) == 0:
                raise ValueError(
                    f"arch='dcgan' needs even image sides of at least 4, got {data_shape[1:]}."
                )
        width = check_int(width if width is not None else 128 if arch == "mlp" else 32, "width")
        if width < 2:
            raise ValueError(f"width must be >= 2, got {width}.")
        pack = check_int(pack, "pack", min_value=1)
        seed = check_seed(seed)
        for flag, value in (("bounded", bounded), ("minibatch_std", minibatch_std)):
            if value is not None:
                check_bool(value, flag)
        batch_norm = check_bool(batch_norm, "batch_norm")
        _check_model_size(data_shape, latent_dim, n_classes, arch, width, pack)
        self.data_shape = data_shape
        self.latent_dim = latent_dim
        self.n_classes = n_classes
        self.arch = arch
        self.width = width
        self.bounded = len(data_shape) == 3 if bounded is None else bool(bounded)
        self.minibatch_std = arch == "dcgan" if minibatch_std is None else bool(minibatch_std)
        self.pack = pack
        self.batch_norm = bool(batch_norm)
        if self.pack > 1 and (arch != "mlp" or n_classes is not None):
            raise ValueError("pack > 1 (PacGAN) is for unconditional arch='mlp' models only.")
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.generator = _Generator(
                data_shape, latent_dim, n_classes, arch, width, self.bounded, self.batch_norm
            )
            self.discriminator = _Discriminator(
                data_shape, n_classes, arch, width, self.minibatch_std, self.pack
            )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def extra_repr(self) -> str:
        return (
            f"data_shape={self.data_shape}, latent_dim={self.latent_dim}, "
            f"n_classes={self.n_classes}, arch={self.arch!r}, width={self.width}, "
            f"minibatch_std={self.minibatch_std}, pack={self.pack}, batch_norm={self.batch_norm}"
        )

    # -- pieces ----------------------------------------------------------------------------

    def latent(
        self, n: int, *, seed: int | None = None, truncation: float | None = None
    ) -> torch.Tensor:
        """Draw latent vectors z, shape (n, latent_dim), on the model's device.

        ``truncation`` (the truncation trick), any finite value > 0: every coordinate is drawn
        from the standard normal truncated to :math:`[-t, t]`, i.e. conditioned on
        :math:`|z_j| \\le t`. Smaller values trade variety for typical-looking samples. It is
        sampled exactly by the inverse CDF, :math:`z = \\sqrt2\\,\\mathrm{erf}^{-1}(v\\,
        \\mathrm{erf}(t/\\sqrt2))` with :math:`v \\sim U(-1, 1)`, in float64, so it takes the
        same time for every t (a rejection loop would run for ever as t → 0) and keeps full
        relative precision for tiny t. The draws use a CPU generator seeded with ``seed``, so
        the same seed gives the same z on every device.
        """
        n = check_count(n, "n")
        _check_elements(n * self.latent_dim, "n")
        seed = check_seed(seed)
        if truncation is not None:
            truncation = check_positive(truncation, "truncation")
        gen = torch.Generator().manual_seed(
            seed if seed is not None else int(torch.randint(2**62, ()).item())
        )
        if truncation is None:
            z = torch.randn(n, self.latent_dim, generator=gen)
        else:
            z = _truncated_normal((n, self.latent_dim), truncation, gen)
        return z.to(self.device)

    def _labels(self, labels, n: int, seed: int | None) -> torch.Tensor | None:
        seed = check_seed(seed)
        if self.n_classes is None:
            if labels is not None:
                raise ValueError("labels were given, but this GAN is not conditional (n_classes).")
            return None
        if labels is None:
            gen = torch.Generator().manual_seed(
                (int(seed) + 1) if seed is not None else int(torch.randint(2**62, ()).item())
            )
            return torch.randint(self.n_classes, (n,), generator=gen).to(self.device)
        if isinstance(labels, int | np.integer) and not isinstance(labels, bool | np.bool_):
            if not 0 <= int(labels) < self.n_classes:
                raise ValueError(
                    f"labels must be a class in 0..{self.n_classes - 1}, got {int(labels)}."
                )
            labels = torch.full((n,), int(labels), dtype=torch.int64)
        check_labels(labels, "labels", n=n, n_classes=self.n_classes)
        return as_tensor(labels, dtype=torch.int64, device=self.device)

    def class_embedding(self, labels: ArrayLike | int) -> torch.Tensor:
        """The generator's learned class embeddings :math:`e_y`, shape (B, embed_dim).

        Blend two of them and pass the blend to :meth:`generate` as ``embedding=`` to walk from
        one class to another.
        """
        if self.n_classes is None:
            raise ValueError("this GAN is not conditional: it has no class embeddings.")
        if isinstance(labels, int | np.integer) and not isinstance(labels, bool | np.bool_):
            n = 1
        else:
            check_labels(labels, "labels", n_classes=self.n_classes)
            n = len(labels)
        with torch.no_grad():
            return self.generator.embed(self._labels(labels, n, seed=0)).clone()

    def generate(
        self,
        z: ArrayLike,
        labels: ArrayLike | int | None = None,
        *,
        embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Map latent vectors z (B, latent_dim) [and labels (B,)] to data (B, *data_shape).

        A conditional GAN needs the class: ``labels`` (an int or one per z) or, instead,
        ``embedding`` (B, embed_dim), e.g. a blend of two :meth:`class_embedding` rows. Runs in
        evaluation mode (batch norm uses its running statistics) without gradients; the result
        is on the model's device.
        """
        check_array(z, "z", ndim=2, shape=(None, self.latent_dim), kinds="f")
        check_fits_dtype(z, "z", torch.float32)
        y = self._labels(labels, len(z), seed=0) if labels is not None else None
        if embedding is not None:
            if self.n_classes is None or labels is not None:
                raise ValueError(
                    "embedding= replaces labels= and needs a conditional GAN; pass one of them."
                )
            width = self.generator.embed.embedding_dim
            check_array(embedding, "embedding", shape=(len(z), width), kinds="f")
            check_fits_dtype(embedding, "embedding", torch.float32)
            embedding = as_tensor(embedding, dtype=torch.float32, device=self.device)
        elif self.n_classes is not None and y is None:
            raise ValueError("this GAN is conditional: pass labels (an int or one per z).")
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                z = as_tensor(z, dtype=torch.float32, device=self.device)
                out = self.generator(z, y, embedding)
        finally:
            self.train(was_training)
        return _finite_output(out, "z", z)

    def discriminate(
        self, x: ArrayLike, labels: ArrayLike | int | None = None
    ) -> torch.Tensor | np.ndarray:
        """The discriminator's logits :math:`\\ell(x)`, shape (B,); :math:`D(x)=\\sigma(\\ell)`.

        numpy in, numpy out. Evaluation mode, no gradients.
        """
        check_array(x, "x", shape=(None, *self.data_shape), kinds="f")
        check_fits_dtype(x, "x", torch.float32)
        if len(x) % self.pack:
            raise ValueError(f"x must hold whole packs of {self.pack} points, got {len(x)}.")
        y = self._labels(labels, len(x), seed=0) if labels is not None else None
        if self.n_classes is not None and y is None:
            raise ValueError("this GAN is conditional: pass labels (an int or one per point).")
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                xt = as_tensor(x, dtype=torch.float32, device=self.device)
                logits = self.discriminator(xt, y)
        finally:
            self.train(was_training)
        return like_input(_finite_output(logits, "x", xt), x)

    def sample(
        self,
        n: int,
        labels: ArrayLike | int | None = None,
        seed: int | None = None,
        *,
        truncation: float | None = None,
    ) -> torch.Tensor:
        """Draw n samples, shape (n, *data_shape), on the model's device.

        Parameters
        ----------
        n : int
        labels : int or (n,) ints, optional
            Classes to generate (a conditional GAN). An int repeats one class; ``None`` draws
            classes uniformly at random (from ``seed``).
        seed : int, optional
            The same seed gives the same samples.
        truncation : float, optional
            Truncation trick: latent coordinates limited to ``[-truncation, truncation]``.

        Returns
        -------
        Tensor, shape (n, *data_shape): images in [0, 1], vectors unbounded.
        """
        n = check_count(n, "n")
        _check_elements(n * max(self.latent_dim, math.prod(self.data_shape)), "n")
        seed = check_seed(seed)
        if truncation is not None:
            check_positive(truncation, "truncation")
        y = self._labels(labels, n, seed)
        z = self.latent(n, seed=seed, truncation=truncation)
        return self.generate(z, y)


def _truncated_normal(shape: tuple[int, ...], limit: float, gen: torch.Generator) -> torch.Tensor:
    """Standard normal draws conditioned on ``|z| <= limit``, float32, by the inverse CDF.

    :math:`z = \\sqrt2\\,\\mathrm{erf}^{-1}(v\\,\\mathrm{erf}(t/\\sqrt2))` with
    :math:`v \\sim U(-1, 1)`: ``math.erf`` keeps full relative precision for tiny t (no
    ``Phi(t) - Phi(-t)`` cancellation), and the work is the same for every t.
    """
    mass = math.erf(limit / math.sqrt(2.0))  # P(|Z| <= t)
    v = 2.0 * torch.rand(shape, generator=gen, dtype=torch.float64) - 1.0  # [-1, 1)
    z = math.sqrt(2.0) * torch.special.erfinv(v * mass)
    # erfinv(-1) = -inf (v = -1 when t is large, probability 2**-53); float64 resolution ends
    # near |z| = 8.3 anyway, so 9 is a bound no real draw reaches.
    bound = min(limit, 9.0)
    z = z.clamp(-bound, bound).to(torch.float32)
    # The float32 rounding of a value <= t may exceed t: clamp to the largest float32 <= t.
    top = torch.tensor(bound, dtype=torch.float32)
    if float(top) > bound:
        top = torch.nextafter(top, torch.zeros((), dtype=torch.float32))
    return torch.minimum(torch.maximum(z, -top), top)


#: Most elements a single tensor of one call may have (4 GiB of float32).
MAX_ELEMENTS = MAX_TENSOR_ELEMENTS


def _finite_output(out: torch.Tensor, name: str, given: torch.Tensor) -> torch.Tensor:
    """Refuse a NaN/inf result of finite inputs: float32 activations overflowed."""
    if not bool(torch.isfinite(out).all()):
        raise ValueError(
            f"{name} is too large for this float32 network (max |{name}| = "
            f"{float(given.abs().max()):.3g}): its activations overflowed to inf/NaN. Typical "
            f"values are a few units; rescale {name}."
        )
    return out


def _check_model_size(
    data_shape: tuple[int, ...],
    latent_dim: int,
    n_classes: int | None,
    arch: str,
    width: int,
    pack: int,
) -> None:
    """Refuse a model too large to allocate (a rough count of the largest layers)."""
    d = math.prod(data_shape)
    classes = n_classes or 0
    if arch == "mlp":
        n_params = (latent_dim + 32) * width + 3 * width * width + width * d * (1 + pack)
        n_params += classes * (32 + width)  # label embedding, projection
    else:
        k = _n_halvings(*data_shape[1:])
        first = (width << (k - 1)) * (data_shape[1] >> k) * (data_shape[2] >> k)
        # G's first linear layer, the convolutions of both players, D's linear heads.
        n_params = (latent_dim + 32) * first + 40 * (width << k) ** 2 + (4 + classes) * first
    if n_params > 2**30:  # 4 GiB of float32 weights: far beyond the course's models
        raise ValueError(
            f"this GAN would have about {n_params:.3g} parameters ({4 * n_params / 2**30:.3g} "
            f"GiB): reduce data_shape={data_shape}, latent_dim={latent_dim}, "
            f"n_classes={n_classes}, width={width} or pack={pack}."
        )


# --------------------------------------------------------------------------- losses


def _discriminator_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Loss of D given logits on a real and a fake batch (both (B,))."""
    if loss in ("minimax", "non-saturating"):
        # -[log D(x) + log(1 - D(G(z)))] with log σ(l) = -softplus(-l), log(1-σ(l)) = -softplus(l)
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if loss == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return fake.mean() - real.mean()  # wgan-gp, the penalty is added by the caller


def _generator_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """Loss of G given the discriminator's logits on a fake batch (B,)."""
    if loss == "minimax":
        return -F.softplus(fake).mean()  # E log(1 - D(G(z))), minimised: saturates when D wins
    if loss == "non-saturating":
        return F.softplus(-fake).mean()  # -E log D(G(z))
    return -fake.mean()  # hinge and wgan-gp


def _gradient_penalty(
    discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, labels
) -> torch.Tensor:
    """WGAN-GP: E (||∇ℓ(x̂)|| - 1)^2 on random points x̂ between real and fake."""
    shape = (len(real),) + (1,) * (real.ndim - 1)
    t = torch.rand(shape, device=real.device)
    mixed = (t * real + (1 - t) * fake).requires_grad_(True)
    logits = discriminator(mixed, labels)
    (grad,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Freeze a module's weights for the generator's step: gradients reach the inputs only."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def _mean_output(loss: str, logits: torch.Tensor) -> float:
    """D's mean output: a probability σ(ℓ) for the cross-entropy losses, else the raw score."""
    values = torch.sigmoid(logits) if loss in ("minimax", "non-saturating") else logits
    return float(values.mean())


def _check_data(model: GAN, data, labels):
    check_array(data, "data", shape=(None, *model.data_shape), kinds="f")
    check_fits_dtype(data, "data", torch.float32)
    if len(data) < 2:
        raise ValueError(f"data needs at least 2 points (batch norm), got {len(data)}.")
    if model.bounded:
        check_array(data, "data", min_value=0.0, max_value=1.0)
    if model.n_classes is not None:
        if labels is None:
            raise ValueError("this GAN is conditional (n_classes is set): pass labels=.")
        check_labels(labels, "labels", n=len(data), n_classes=model.n_classes)
    elif labels is not None:
        raise ValueError("labels were given, but the GAN is not conditional; set n_classes.")


def train_gan(
    model: GAN,
    data: ArrayLike,
    labels: ArrayLike | None = None,
    epochs: int | None = None,
    loss: str = "non-saturating",
    *,
    batch_size: int | None = None,
    lr_g: float | None = None,
    lr_d: float | None = None,
    betas: tuple[float, float] | None = None,
    d_steps: int | None = None,
    gp_weight: float | None = None,
    lr_decay: bool | None = None,
    ema_decay: float | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, History], None] | None = None,
) -> History:
    """Train a :class:`GAN` with one of the classic losses.

    Each mini-batch makes ``d_steps`` discriminator updates (fresh z each time, same real
    batch) and one generator update, both with Adam. With logits :math:`\\ell` and
    :math:`D = \\sigma(\\ell)`, the losses are

    ==================  ======================================  ===========================
    loss                discriminator minimises                 generator minimises
    ==================  ======================================  ===========================
    ``minimax``         :math:`-\\log D(x) - \\log(1-D(G(z)))`    :math:`\\log(1 - D(G(z)))`
    ``non-saturating``  same                                    :math:`-\\log D(G(z))`
    ``hinge``           :math:`[1-\\ell(x)]_+ + [1+\\ell(G(z))]_+`  :math:`-\\ell(G(z))`
    ``wgan-gp``         :math:`\\ell(G(z)) - \\ell(x) + \\lambda\\,GP`  :math:`-\\ell(G(z))`
    ==================  ======================================  ===========================

    Parameters
    ----------
    model : GAN
    data : Tensor or ndarray, shape (N, *model.data_shape)
        Images in [0, 1] (a bounded model) or unbounded vectors.
    labels : (N,) ints, optional
        Needed exactly when the model is conditional.
    epochs : int, optional
        Passes over the data. Default: enough for the recommended number of generator
        updates (:data:`RECOMMENDED`), e.g. 6000 for a DCGAN, 3000 for an MLP.
    loss : {"non-saturating", "minimax", "hinge", "wgan-gp"}
    batch_size, lr_g, lr_d, betas, d_steps : optional
        Mini-batch size (>= 1), Adam learning rates of G and D (> 0), Adam betas (two
        numbers in [0, 1)), discriminator updates per generator update (>= 1). Defaults from
        :func:`recommended_settings` (the course's settings).
    gp_weight : float, optional
        :math:`\\lambda` of the gradient penalty :math:`\\mathbb E(\\lVert\\nabla_{\\hat x}
        \\ell(\\hat x)\\rVert - 1)^2` on points between real and fake (Gulrajani et al., 2017).
        Default: the recommended value for the loss (WGAN-GP needs it; for the others it is an
        optional extra, off by default, that keeps D smooth so its gradient reaches far).
    lr_decay : bool, optional
        Decay both learning rates linearly to 0 over the run, so the last steps refine
        instead of jittering (Adam's noise scales with the learning rate). Default: the
        recommended setting (on for the 2-D MLPs, whose modes are 0.02 wide).
    ema_decay : float, optional
        Keep an exponential moving average of the generator's weights
        (:math:`\\bar\\theta \\leftarrow \\beta\\bar\\theta + (1-\\beta)\\theta` after every update)
        and put it in the generator at the end (then re-estimate its batch-norm statistics). The
        players circle the equilibrium rather than sit on it; the average sits closer
        (Yazıcı et al., 2019). The decay warms up as :math:`\\min(\\beta, (1+t)/(10+t))` at
        update :math:`t`, so a short run is not pulled back to its initial weights. Default:
        the recommended setting (0.999 for the 2-D MLPs, off for the DCGAN); 0 turns it off.
    seed : int, optional
        Seeds the loop, the shuffling and every z: same seed, same run on the same device.
        An integer in [0, 2**32).
    device : torch.device or str, optional
    progress : bool
        Show a progress bar.
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, history)``, e.g. to keep a fixed-noise grid as training goes.

    Returns
    -------
    History
        Per-epoch means of ``d_loss``, ``g_loss``, ``d_real`` (mean :math:`D(x)`) and
        ``d_fake`` (mean :math:`D(G(z))`) — probabilities for the cross-entropy losses, raw
        critic scores for hinge and WGAN-GP — plus ``grad_penalty`` for WGAN-GP and
        ``epoch_seconds``.
    """
    if not isinstance(model, GAN):
        raise TypeError(f"model must be a lessons_lib.gan.GAN, got {type(model).__name__}.")
    check_one_of(loss, "loss", LOSSES)
    _check_data(model, data, labels)
    settings = recommended_settings(model.arch, loss)
    batch_size = settings["batch_size"] if batch_size is None else batch_size
    batch_size = check_count(batch_size, "batch_size")
    if model.pack > 1 and (batch_size % model.pack or len(data) < batch_size):
        raise ValueError(
            f"with pack={model.pack}, batch_size ({batch_size}) must be a multiple of it "
            f"and at most the number of points ({len(data)})."
        )
    betas = settings["betas"] if betas is None else betas
    lr_g, betas = check_adam(lr_g if lr_g is not None else settings["lr_g"], betas, "lr_g")
    lr_d = check_adam(lr_d if lr_d is not None else settings["lr_d"], betas, "lr_d")[0]
    d_steps = check_count(d_steps if d_steps is not None else settings["d_steps"], "d_steps")
    gp_weight = check_positive(
        gp_weight if gp_weight is not None else settings["gp_weight"], "gp_weight", strict=False
    )
    n = len(data)
    if epochs is None:
        epochs = recommended_epochs(model, n, loss, batch_size=batch_size)
    epochs = check_count(epochs, "epochs")
    lr_decay = settings["lr_decay"] if lr_decay is None else check_bool(lr_decay, "lr_decay")
    ema_decay = settings["ema_decay"] if ema_decay is None else ema_decay
    ema_decay = check_probability(ema_decay, "ema_decay", inclusive=True, high=0.999999)
    seed = check_seed(seed, max_value=MAX_LOOP_SEED)
    progress = check_bool(progress, "progress")
    check_callable(on_epoch_end, "on_epoch_end")

    target = resolve_device(device)
    model.to(target)
    gen, disc = model.generator, model.discriminator
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr_d, betas=betas)
    total_steps = epochs * max(1, n // batch_size if n >= batch_size else 1)
    schedules = [
        torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.0, 1.0 - k / total_steps))
        for opt in (opt_g, opt_d)
        if lr_decay
    ]
    average = [p.detach().clone() for p in gen.parameters()] if ema_decay > 0 else None
    ema_steps = [0]
    tensors = [as_tensor(data, dtype=torch.float32)]
    if labels is not None:
        tensors.append(as_tensor(labels, dtype=torch.int64))

    def step(batch: list[torch.Tensor]) -> dict[str, float]:
        real = batch[0]
        y = batch[1] if len(batch) > 1 else None
        metrics: dict[str, float] = {}
        for k in range(d_steps):
            # The last D step's fakes keep their graph and are reused by the G step.
            with torch.set_grad_enabled(k == d_steps - 1):
                fake = gen(torch.randn(len(real), model.latent_dim, device=target), y)
            real_logits, fake_logits = disc(real, y), disc(fake.detach(), y)
            d_loss = _discriminator_loss(loss, real_logits, fake_logits)
            if gp_weight > 0:
                penalty = _gradient_penalty(disc, real, fake.detach(), y)
                d_loss = d_loss + gp_weight * penalty
                metrics["grad_penalty"] = penalty.item()
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        with _frozen(disc):
            g_loss = _generator_loss(loss, disc(fake, y))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        for schedule in schedules:
            schedule.step()
        if average is not None:
            # Warm-up (as TensorFlow's ExponentialMovingAverage with num_updates): early on the
            # decay is (1 + t) / (10 + t), so a short run is not averaged back to its init.
            ema_steps[0] += 1
            decay = min(ema_decay, (1 + ema_steps[0]) / (10 + ema_steps[0]))
            with torch.no_grad():
                torch._foreach_lerp_(average, list(gen.parameters()), 1.0 - decay)
        return {
            "d_loss": d_loss.item(),
            "g_loss": g_loss.item(),
            "d_real": _mean_output(loss, real_logits.detach()),
            "d_fake": _mean_output(loss, fake_logits.detach()),
            **metrics,
        }

    try:
        history = train_loop(
            step,
            tensors,
            modules=model,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            device=target,
            progress=progress,
            drop_last=n >= batch_size,  # a tiny last batch gives batch norm noisy statistics
            on_epoch_end=on_epoch_end,
            desc=f"GAN ({loss})",
        )
    except TrainingDiverged as err:
        raise TrainingDiverged(
            f"{err} The settings were loss={loss!r}, lr_g={lr_g:g}, lr_d={lr_d:g}, "
            f"betas={betas}, d_steps={d_steps}, gp_weight={gp_weight:g}, "
            f"ema_decay={ema_decay:g}, and max |data| = {float(tensors[0].abs().max()):.3g}."
        ) from err
    if average is not None:
        with torch.no_grad():
            for param, mean in zip(gen.parameters(), average):
                param.copy_(mean)
        # At most max(N, 256) per batch: a batch_size above N trained on batches of N, and a
        # huge one must not allocate a huge batch here.
        _recalibrate_batch_norm(
            gen, tensors[1] if len(tensors) > 1 else None, model, min(batch_size, max(n, 256))
        )
    return history


def _recalibrate_batch_norm(
    gen: nn.Module, labels: torch.Tensor | None, model: GAN, batch_size: int, n_batches: int = 50
) -> None:
    """Re-estimate the generator's batch-norm statistics for its current (averaged) weights.

    The running statistics were gathered with the raw weights; averaged weights produce
    slightly different activations. Resetting them and averaging over fresh batches (momentum
    None: a plain mean) makes sampling in evaluation mode match the averaged generator.
    """
    norms = [m for m in gen.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    device = next(gen.parameters()).device
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    gen.train()
    with torch.no_grad():
        for _ in range(n_batches):
            z = torch.randn(batch_size, model.latent_dim, device=device)
            y = None
            if labels is not None:
                y = labels[torch.randint(len(labels), (batch_size,), device=labels.device)]
                y = y.to(device)
            gen(z, y)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    gen.eval()


# --------------------------------------------------------------------------- 2-D toy measures

#: The protocol of VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al., 2018): 2,500
#: samples, and a mode counts as covered when at least 20 high-quality samples fall on it.
COVERAGE_MIN_COUNT, COVERAGE_N_SAMPLES = 20, 2500


def _nearest_mode(samples: ArrayLike, centers: ArrayLike, std: float):
    check_array(samples, "samples", ndim=2, kinds="f")
    check_array(centers, "centers", ndim=2, shape=(None, samples.shape[1]), kinds="fiu")
    std = check_positive(std, "std")
    points = as_numpy(samples).astype(np.float64)
    modes = as_numpy(centers).astype(np.float64)
    # Work in units of a power of two near the data's scale: exact, and squares of 1e200
    # (or of 1e-200) neither overflow nor underflow.
    scale = _power_of_two_scale(np.abs(points).max(), np.abs(modes).max(), std)
    points, modes, radius = points / scale, modes / scale, 3.0 * std / scale
    distances = np.sqrt(((points[:, None, :] - modes[None, :, :]) ** 2).sum(-1))  # (N, K)
    nearest = distances.argmin(axis=1)
    high_quality = distances[np.arange(len(points)), nearest] <= radius
    return nearest, high_quality, len(modes)


def _power_of_two_scale(*magnitudes: float) -> float:
    """1, or a power of two near the largest magnitude when it is extreme (> 1e100 or < 1e-100).

    Dividing by a power of two is exact, so results in ordinary ranges do not change.
    """
    largest = max(float(m) for m in magnitudes)
    if largest == 0.0 or 1e-100 <= largest <= 1e100:
        return 1.0
    return math.ldexp(1.0, math.frexp(largest)[1] - 1)  # 2**(e-1) <= largest: never inf


def mode_counts(samples: ArrayLike, centers: ArrayLike, std: float) -> np.ndarray:
    """High-quality samples per mode, shape (K,).

    A sample is *high quality* when it lies within ``3 * std`` (Euclidean distance) of its
    nearest mode centre; it is then counted for that mode.
    """
    nearest, high_quality, n_modes = _nearest_mode(samples, centers, std)
    return np.bincount(nearest[high_quality], minlength=n_modes)


def mode_coverage(
    samples: ArrayLike, centers: ArrayLike, std: float, *, min_count: int | None = None
) -> tuple[int, float]:
    """Modes covered and share of high-quality samples, the standard numbers of the 2-D toys.

    Conventions (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018): a sample is *high
    quality* when it lies within three standard deviations of its nearest mode centre; a mode
    is *covered* when at least ``min_count`` high-quality samples fall on it. The papers draw
    2,500 samples and use 20; by default ``min_count`` keeps that rate, 20 per 2,500 samples
    (at least 1), so the test means the same for other sample sizes.

    Parameters
    ----------
    samples : (N, D) array or Tensor
        Generated points.
    centers : (K, D) array or Tensor
        The mode centres of the true mixture (e.g. ``lessons_lib.data.ring_centers()``).
    std : float
        The standard deviation of each (isotropic) mode.
    min_count : int, optional
        High-quality samples a mode needs to count as covered.

    Returns
    -------
    modes_covered : int
        Between 0 and K.
    high_quality_fraction : float
        In [0, 1].
    """
    counts = mode_counts(samples, centers, std)
    n = len(samples)
    if min_count is None:
        min_count = max(1, round(COVERAGE_MIN_COUNT * n / COVERAGE_N_SAMPLES))
    min_count = check_int(min_count, "min_count", min_value=1)
    return int((counts >= min_count).sum()), float(counts.sum() / n)


# --------------------------------------------------------------------------- optimal D


_MIXTURE_BLOCK_ELEMENTS = 2**21  # 16 MB of float64 per (rows, K) temporary


def mixture_log_density(
    points: ArrayLike, centers: ArrayLike, std: float, weights: ArrayLike | None = None
) -> ArrayLike:
    """Log density of a mixture of isotropic Gaussians :math:`\\sum_k \\pi_k N(x; \\mu_k, s^2 I)`.

    Parameters
    ----------
    points : (N, D)
    centers : (K, D)
        The means :math:`\\mu_k`.
    std : float
        The common standard deviation :math:`s`.
    weights : (K,), optional
        Mixture weights :math:`\\pi_k` (default equal), summing to 1.

    Returns
    -------
    (N,) log densities; numpy in, numpy out.
    """
    check_array(points, "points", ndim=2, kinds="f")
    check_array(centers, "centers", ndim=2, shape=(None, points.shape[1]), kinds="fiu")
    std = check_positive(std, "std")
    k, d = centers.shape
    if weights is not None:
        check_array(weights, "weights", ndim=1, shape=(k,), kinds="fiu", min_value=0.0)
    x = as_tensor(points, dtype=torch.float64)
    mu = as_tensor(centers, dtype=torch.float64, device=x.device)
    if weights is None:
        log_w = torch.full((k,), -math.log(k), dtype=torch.float64, device=x.device)
    else:
        w = as_tensor(weights, dtype=torch.float64, device=x.device)
        if abs(float(w.sum()) - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1, they sum to {float(w.sum()):.6g}.")
        log_w = torch.log(w)
    # Distances in units of std (std**2 underflows for std < 1e-154, making 0/0 at a centre),
    # without the matrix-product shortcut, which cancels catastrophically far from 0.
    # In blocks of rows: the (N, K) temporaries of a KDE over thousands of samples on a fine
    # grid would otherwise take gigabytes (more than a Binder kernel has).
    rows_per_block = max(1, _MIXTURE_BLOCK_ELEMENTS // max(k, 1))
    log_const = -d * math.log(std) - 0.5 * d * math.log(2 * math.pi)
    scaled_mu = mu / std
    result = torch.cat(
        [
            torch.logsumexp(
                log_w
                - 0.5
                * torch.cdist(
                    block / std, scaled_mu, compute_mode="donot_use_mm_for_euclid_dist"
                ).square_()
                + log_const,
                dim=1,
            )
            for block in x.split(rows_per_block)
        ]
    )
    if not bool(torch.isfinite(result).all()):
        # Only when a point lies ~1e154 standard deviations from every centre: its log
        # density is below -1e308, which float64 cannot hold.
        raise ValueError(
            f"some points lie so many standard deviations (std={std:g}) from every centre that "
            "their log density is below the float64 range; rescale points and centers, or use "
            "a larger std."
        )
    return like_input(result, points)


def kde_log_density(
    samples: ArrayLike, bandwidth: float | None = None
) -> Callable[[ArrayLike], ArrayLike]:
    """A Gaussian kernel density estimate of the samples' density, as a log-density function.

    :math:`\\hat p(x) = \\frac1N \\sum_i N(x; x_i, h^2 I)`, with bandwidth :math:`h` by
    Scott's rule :math:`h = \\bar\\sigma N^{-1/(D+4)}` (mean per-axis std) unless given.

    Parameters
    ----------
    samples : (N, D)
    bandwidth : float, optional

    Returns
    -------
    callable
        ``log_density(points (M, D)) -> (M,)``, numpy in, numpy out. Its ``bandwidth``
        attribute holds :math:`h`.
    """
    check_array(samples, "samples", ndim=2, kinds="f")
    n, d = samples.shape
    if bandwidth is None:
        values = as_numpy(samples).astype(np.float64)
        scale = _power_of_two_scale(np.abs(values).max())  # std of 1e200s does not overflow
        spread = float((values / scale).std(axis=0).mean()) * scale
        bandwidth = max(spread, 1e-12) * n ** (-1.0 / (d + 4))
        if not math.isfinite(bandwidth) or bandwidth <= 0:
            raise ValueError(
                f"samples are too spread out for a default bandwidth (spread {spread:.3g}); "
                "pass bandwidth= or rescale the samples."
            )
    bandwidth = check_positive(bandwidth, "bandwidth")

    def log_density(points: ArrayLike) -> ArrayLike:
        check_array(points, "points", ndim=2, shape=(None, d), kinds="f")
        return mixture_log_density(points, samples, bandwidth)

    log_density.bandwidth = bandwidth
    return log_density


def optimal_discriminator(log_p_data: ArrayLike, log_p_g: ArrayLike) -> ArrayLike:
    """The optimal discriminator :math:`D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))`.

    Computed stably from log densities as :math:`\\sigma(\\log p_{data} - \\log p_g)`, so
    points where both densities underflow still get a value (1/2 when they are equal).
    A log density of ``-inf`` (density exactly 0) is allowed: :math:`D^* = 0` or 1 where the
    other is finite, and NaN where both are ``-inf``, since :math:`0/0` has no value there.

    Parameters
    ----------
    log_p_data, log_p_g : (N,) arrays or Tensors
        The two log densities at the same N points (e.g. from :func:`mixture_log_density`
        and :func:`kde_log_density`).

    Returns
    -------
    (N,) values in [0, 1]; numpy in, numpy out.
    """
    check_array(log_p_data, "log_p_data", ndim=1, kinds="f", finite=False)
    check_array(log_p_g, "log_p_g", ndim=1, kinds="f", shape=(len(log_p_data),), finite=False)
    a = as_tensor(log_p_data, dtype=torch.float64)
    b = as_tensor(log_p_g, dtype=torch.float64, device=a.device)
    for name, values in (("log_p_data", a), ("log_p_g", b)):
        if bool(torch.isnan(values).any()) or bool((values == math.inf).any()):
            raise ValueError(
                f"{name} must not hold NaN or +inf (log densities are finite or -inf)."
            )
    both_zero = torch.isneginf(a) & torch.isneginf(b)
    value = torch.sigmoid(a - b)
    value = torch.where(both_zero, torch.full_like(value, math.nan), value)
    return like_input(value, log_p_data)


# --------------------------------------------------------------------------- latent space


def interpolate_latents(
    z0: torch.Tensor, z1: torch.Tensor, n_steps: int, *, method: str = "slerp"
) -> torch.Tensor:
    """Points between two latent vectors, shape (n_steps, latent_dim), ends included.

    ``"slerp"`` (spherical) keeps the norm typical of :math:`\\mathcal N(0, I)` samples,
    which concentrate near the sphere of radius :math:`\\sqrt{d}`; ``"linear"`` cuts through
    the middle, where the midpoint of two independent draws has norm about
    :math:`\\sqrt{d/2}`, a latent the generator almost never saw. When one end is the zero
    vector (no direction) slerp is the straight line; when the two point in exactly opposite
    directions, no great circle is singled out and slerp raises a ``ValueError``.

    Parameters
    ----------
    z0, z1 : Tensor, shape (latent_dim,)
    n_steps : int
        At least 2.
    method : {"slerp", "linear"}
    """
    check_array(z0, "z0", ndim=1, kinds="f")
    check_array(z1, "z1", shape=(len(z0),), kinds="f")
    check_fits_dtype(z0, "z0", torch.float32)  # the path is float32
    check_fits_dtype(z1, "z1", torch.float32)
    n_steps = check_count(n_steps, "n_steps", min_value=2)
    _check_elements(n_steps * len(z0), "n_steps")
    check_one_of(method, "method", ("slerp", "linear"))
    a = as_tensor(z0, dtype=torch.float64)
    b = as_tensor(z1, dtype=torch.float64, device=a.device)
    t = torch.linspace(0, 1, n_steps, dtype=torch.float64, device=a.device)[:, None]
    # float32-range values square safely in float64; a zero vector has no direction.
    norm_a, norm_b = float(a.norm()), float(b.norm())
    degenerate = norm_a == 0.0 or norm_b == 0.0
    cos = torch.clamp((a / max(norm_a, 1e-300)) @ (b / max(norm_b, 1e-300)), -1.0, 1.0)
    omega = torch.arccos(cos)
    if method == "slerp" and not degenerate and float(omega) > math.pi - 1e-6:
        raise ValueError(
            "z0 and z1 point in opposite directions: every great circle joins them, so the "
            "spherical path is undefined. Use method='linear' or another pair of latents."
        )
    if method == "linear" or degenerate or float(omega) < 1e-6:
        path = (1 - t) * a + t * b
    else:
        path = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    return like_input(path.to(torch.float32), z0)


def within_class_diversity(images: ArrayLike, labels: ArrayLike) -> float:
    """Mean pairwise Euclidean distance between images of the same class, averaged over classes.

    A generator that draws one image per class scores 0; real digits score about 2.3 (8×8
    pixels in [0, 1]). Compare a model's value with the real data's to judge variety within a
    class (classes with a single image are skipped).

    Parameters
    ----------
    images : (N, C, H, W) or (N, D)
    labels : (N,) ints
    """
    check_array(images, "images", ndim=(2, 4), kinds="f")
    check_labels(labels, "labels", n=len(images))
    x = as_tensor(images, dtype=torch.float64).reshape(len(images), -1)
    y = as_tensor(labels, dtype=torch.int64, device=x.device)
    scale = _power_of_two_scale(float(x.abs().max()))  # distances of 1e200s do not overflow
    x = x / scale
    per_class = []
    for c in torch.unique(y):
        members = x[y == c]
        m = len(members)
        if m < 2:
            continue
        per_class.append(float(torch.pdist(members).mean()) * scale)
    if not per_class:
        raise ValueError("within_class_diversity needs at least one class with two images.")
    return float(np.mean(per_class))


# --------------------------------------------------------------------------- image translation

CORRUPTIONS = ("mask", "noise")


def corrupt_images(
    images: ArrayLike, kind: str = "mask", *, noise_std: float = 0.3, seed: int | None = None
) -> ArrayLike:
    """Damage images for a paired restoration task (the input of :class:`ImageTranslator`).

    Parameters
    ----------
    images : (N, C, H, W) in [0, 1]
    kind : {"mask", "noise"}
        ``"mask"`` blanks the bottom half (set to 0): several digits share a top half, so the
        completion is ambiguous. ``"noise"`` adds Gaussian noise of ``noise_std`` and clips
        to [0, 1].
    noise_std : float
    seed : int, optional
        Seeds the noise.

    Returns
    -------
    (N, C, H, W) in [0, 1], numpy in, numpy out.
    """
    check_images(images)
    check_one_of(kind, "kind", CORRUPTIONS)
    noise_std = check_positive(noise_std, "noise_std")
    seed = check_seed(seed)
    x = as_tensor(images).clone()
    if kind == "mask":
        x[:, :, x.shape[2] // 2 :, :] = 0.0
    else:
        gen = torch.Generator().manual_seed(
            seed if seed is not None else int(torch.randint(2**62, ()).item())
        )
        noise = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
        x = (x + noise_std * noise).clamp(0.0, 1.0)  # a huge std gives ±inf: clipped to 0, 1
    return like_input(x, images)


class _UNet(nn.Module):
    """(B, C, H, W) → (B, C, H, W) in [0, 1]: two stride-2 levels with skip connections."""

    def __init__(self, channels: int, levels: int, width: int) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2))
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        c = width
        for _ in range(levels):
            self.down.append(
                nn.Sequential(
                    nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),
                    nn.BatchNorm2d(2 * c),
                    nn.LeakyReLU(0.2),
                )
            )
            c *= 2
        for _ in range(levels):
            # input: the level below (c) and, after the first, its skip (c) concatenated
            c_in = c if not self.up else 2 * c
            self.up.append(
                nn.Sequential(
                    nn.ConvTranspose2d(c_in, c // 2, 4, stride=2, padding=1),
                    nn.BatchNorm2d(c // 2),
                    nn.ReLU(),
                )
            )
            c //= 2
        self.out = nn.Conv2d(2 * c, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inp(x)]
        for block in self.down:
            skips.append(block(skips[-1]))
        h = skips.pop()
        for k, block in enumerate(self.up):
            h = block(h if k == 0 else torch.cat([h, skips.pop()], dim=1))
        return torch.sigmoid(self.out(torch.cat([h, skips.pop()], dim=1)))


class ImageTranslator(nn.Module):
    """A pix2pix-style paired image-to-image model (Isola et al., 2017), sized for small images.

    The generator :math:`G` is a small U-Net mapping an input image :math:`a` (e.g. a masked
    digit) to an output :math:`\\hat b = G(a)`; the discriminator is a *patch* discriminator
    that sees the pair :math:`(a, b)` stacked on the channel axis and returns one logit per
    patch, so it judges whether each region of :math:`b` is a plausible completion of
    :math:`a`.

    Parameters
    ----------
    image_shape : (C, H, W)
        H and W even, at least 4.
    width : int
        Channels of the first layers (doubled at each level).
    seed : int, optional
        Seed of the weight initialisation.
    """

    def __init__(self, image_shape: Sequence[int], *, width: int = 32, seed: int | None = None):
        super().__init__()
        if (
            isinstance(image_shape, str | bytes)
            or not isinstance(image_shape, Sequence)
            or len(image_shape) != 3
            or not all(
                isinstance(s, int | np.integer) and not isinstance(s, bool | np.bool_) and s >= 1
                for s in image_shape
            )
        ):
            raise ValueError(f"image_shape must be (C, H, W) positive ints, got {image_shape!r}.")
        channels, height, wide = (int(s) for s in image_shape)
        levels = min(_n_halvings(height, wide), 2)
        if levels == 0:
            raise ValueError(
                f"image_shape must have even sides of at least 4 (H, W), got {height}×{wide}."
            )
        width = check_int(width, "width", min_value=2)
        seed = check_seed(seed)
        if channels * width * width * 64 > 2**30:
            raise ValueError(
                f"an ImageTranslator with {channels} channels and width={width} would not fit "
                "in memory; reduce width."
            )
        self.image_shape = (channels, height, wide)
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.generator = _UNet(channels, levels, width)
            self.discriminator = nn.Sequential(
                nn.Conv2d(2 * channels, width, 4, stride=2, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(width, 2 * width, 3, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(2 * width, 1, 3, padding=1),
            )

    def _check_batch(self, x: Any, name: str, rows: int | None = None) -> None:
        """A float tensor (B, C, H, W) of this model's image shape, finite (B = ``rows``)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch tensor (B, C, H, W), got {type(x).__name__}.")
        check_array(x, name, ndim=4, kinds="f", shape=(rows, *self.image_shape))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """G(a): (B, C, H, W) → (B, C, H, W) in [0, 1] (with gradients, current mode)."""
        self._check_batch(inputs, "inputs")
        return self.generator(inputs)

    def patch_logits(self, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        """The patch discriminator's logits for the pairs (a, b): shape (B, 1, H/2, W/2)."""
        self._check_batch(inputs, "inputs")
        self._check_batch(outputs, "outputs", rows=len(inputs))
        return self._patch_logits(inputs, outputs)

    def _patch_logits(self, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        # Unchecked: the training step's own batches, already valid.
        return self.discriminator(torch.cat([inputs, outputs], dim=1))

    def translate(self, inputs: ArrayLike) -> ArrayLike:
        """Restore a batch (evaluation mode, no gradients): (B, C, H, W) → (B, C, H, W).

        numpy in, numpy out; tensors come back on the model's device.
        """
        check_images(inputs, "inputs", channels=self.image_shape[0], size=self.image_shape[1:])
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                out = self.generator(as_tensor(inputs, dtype=torch.float32, device=device))
        finally:
            self.train(was_training)
        return like_input(out, inputs)


def train_translator(
    model: ImageTranslator,
    inputs: ArrayLike,
    targets: ArrayLike,
    epochs: int = 60,
    *,
    adversarial: bool = True,
    l1_weight: float = 100.0,
    batch_size: int = 64,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    seed: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, History], None] | None = None,
) -> History:
    """Train an :class:`ImageTranslator` on pairs (a, b), pix2pix style.

    The generator minimises :math:`\\lambda\\,\\mathbb E|b - G(a)|_1` plus, when
    ``adversarial``, the non-saturating loss :math:`-\\mathbb E\\log D(a, G(a))` averaged over
    patches; the patch discriminator minimises
    :math:`-\\log D(a, b) - \\log(1 - D(a, G(a)))`. With ``adversarial=False`` this is plain
    L1 regression, whose optimum is the per-pixel *median* of the plausible outputs: a blur
    when the input is ambiguous.

    Parameters
    ----------
    model : ImageTranslator
    inputs, targets : (N, C, H, W) in [0, 1]
        The pairs: damaged and intact images.
    epochs : int
    adversarial : bool
        Add the patch discriminator's loss (pix2pix) or train with L1 only.
    l1_weight : float
        :math:`\\lambda` (pix2pix uses 100).
    batch_size, lr, betas : Adam settings, shared by G and D (``betas`` two numbers in
        [0, 1)).
    seed, device, progress, on_epoch_end : as in :func:`train_gan`.

    Returns
    -------
    History
        Per-epoch ``l1`` (mean absolute error) and, when adversarial, ``g_adv``, ``d_loss``,
        ``d_real`` and ``d_fake`` (mean patch probabilities).
    """
    if not isinstance(model, ImageTranslator):
        raise TypeError(f"model must be an ImageTranslator, got {type(model).__name__}.")
    c, h, w = model.image_shape
    check_images(inputs, "inputs", channels=c, size=(h, w))
    check_images(targets, "targets", channels=c, size=(h, w))
    if len(inputs) != len(targets):
        raise ValueError(
            f"inputs and targets must pair up: {len(inputs)} inputs, {len(targets)} targets."
        )
    epochs = check_count(epochs, "epochs")
    adversarial = check_bool(adversarial, "adversarial")
    l1_weight = check_positive(l1_weight, "l1_weight", strict=False)
    lr, betas = check_adam(lr, betas)
    batch_size = check_count(batch_size, "batch_size")
    seed = check_seed(seed, max_value=MAX_LOOP_SEED)
    progress = check_bool(progress, "progress")
    check_callable(on_epoch_end, "on_epoch_end")
    if not adversarial and l1_weight == 0:
        raise ValueError("with adversarial=False the only loss is L1: l1_weight must be > 0.")
    target_device = resolve_device(device)
    model.to(target_device)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=betas)

    def step(batch: list[torch.Tensor]) -> dict[str, float]:
        a, b = batch
        fake = model.generator(a)
        metrics: dict[str, float] = {}
        if adversarial:
            real_logits = model._patch_logits(a, b)
            fake_logits = model._patch_logits(a, fake.detach())
            d_loss = _discriminator_loss("non-saturating", real_logits, fake_logits)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            metrics = {
                "d_loss": d_loss.item(),
                "d_real": _mean_output("non-saturating", real_logits.detach()),
                "d_fake": _mean_output("non-saturating", fake_logits.detach()),
            }
        l1 = (fake - b).abs().mean()
        g_loss = l1_weight * l1
        if adversarial:
            with _frozen(model.discriminator):
                g_adv = _generator_loss("non-saturating", model._patch_logits(a, fake))
            g_loss = g_loss + g_adv
            metrics["g_adv"] = g_adv.item()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return {"l1": l1.item(), **metrics}

    try:
        return train_loop(
            step,
            [as_tensor(inputs, dtype=torch.float32), as_tensor(targets, dtype=torch.float32)],
            modules=model,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            device=target_device,
            progress=progress,
            drop_last=len(inputs) >= batch_size,
            on_epoch_end=on_epoch_end,
            desc="pix2pix" if adversarial else "L1 only",
        )
    except TrainingDiverged as err:
        raise TrainingDiverged(
            f"{err} The settings were lr={lr:g}, betas={betas}, l1_weight={l1_weight:g}."
        ) from err
