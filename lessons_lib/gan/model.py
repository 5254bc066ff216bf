"""The GAN: a generator and a discriminator, optionally class-conditional, as a GenerativeModule.

A GAN is two networks playing a game (Goodfellow et al., 2014). The generator :math:`G` maps a
latent vector :math:`z \\sim \\mathcal N(0, I)` (and, for a conditional GAN, a class :math:`y`;
Mirza & Osindero, 2014) to a data point; the discriminator :math:`D` outputs a logit
:math:`\\ell(x)` whose sigmoid :math:`D(x) = \\sigma(\\ell(x))` is its belief that :math:`x` is
real. The networks are MLPs or a DCGAN (Radford et al., 2016) with a projection discriminator
(Miyato & Koyama, 2018), optionally packed (PacGAN, Lin et al., 2018); see
:mod:`lessons_lib.gan.networks`.

:class:`GAN` shows the face of every neural model of the course
(:class:`~lessons_lib.core.base.GenerativeModule`): ``sample``, the one label policy
``sample_labels``, ``loss(batch)``, ``configure_optimizers`` and ``training_step``, which
makes the alternating discriminator and generator updates of one mini-batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from lessons_lib.core.base import GenerativeModule
from lessons_lib.core.loop import check_adam, check_count
from lessons_lib.core.validation import (
    MAX_TENSOR_ELEMENTS,
    ArrayLike,
    as_tensor,
    check_array,
    check_bool,
    check_elements,
    check_fits_dtype,
    check_int,
    check_labels,
    check_one_of,
    check_positive,
    check_probability,
    check_seed,
    like_input,
)
from lessons_lib.gan._validation import (
    _check_arguments,
    _check_batch,
    _check_optimizers,
    _finite_output,
)
from lessons_lib.gan.latent import _draw_latents
from lessons_lib.gan.losses import LOSSES, _discriminator_terms, _generator_term
from lessons_lib.gan.networks import _Discriminator, _Generator
from lessons_lib.gan.recommended import _step_settings, recommended_settings
from lessons_lib.gan.run import AdversarialRun, recalibrate_batch_norm, start_run

__all__ = ["GAN"]

#: Most elements a single tensor of one call may have (4 GiB of float32).
MAX_ELEMENTS = MAX_TENSOR_ELEMENTS


class GAN(GenerativeModule):
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
        Multilayer perceptrons (hidden layers of ``width``: four in the generator, three in the
        discriminator), or a DCGAN: transposed convolutions with batch norm in the generator,
        strided convolutions with leaky ReLU in the discriminator (no batch norm there, so a
        gradient penalty stays valid).
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
    adversarial_run : AdversarialRun or None
        The training run that :meth:`configure_optimizers` started (None outside training).
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
        checked = _check_arguments(
            data_shape, latent_dim, n_classes, arch, width, bounded, minibatch_std, pack,
            batch_norm, seed,
        )  # fmt: skip
        super().__init__(n_classes=checked["n_classes"])
        self.data_shape = data_shape = checked["data_shape"]
        self.latent_dim = latent_dim = checked["latent_dim"]
        self.arch = arch
        self.width = width = checked["width"]
        self.bounded = len(data_shape) == 3 if bounded is None else bool(bounded)
        self.minibatch_std = arch == "dcgan" if minibatch_std is None else bool(minibatch_std)
        self.pack = checked["pack"]
        self.batch_norm = bool(batch_norm)
        self.adversarial_run: AdversarialRun | None = None
        with torch.random.fork_rng(devices=[]):
            if checked["seed"] is not None:
                torch.manual_seed(checked["seed"])
            self.generator = _Generator(
                data_shape, latent_dim, self.n_classes, arch, width, self.bounded, self.batch_norm
            )
            self.discriminator = _Discriminator(
                data_shape, self.n_classes, arch, width, self.minibatch_std, self.pack
            )

    def settings(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this GAN (for checkpoints)."""
        return {
            "data_shape": self.data_shape,
            "latent_dim": self.latent_dim,
            "n_classes": self.n_classes,
            "arch": self.arch,
            "width": self.width,
            "bounded": self.bounded,
            "minibatch_std": self.minibatch_std,
            "pack": self.pack,
            "batch_norm": self.batch_norm,
        }

    def extra_repr(self) -> str:
        return (
            f"data_shape={self.data_shape}, latent_dim={self.latent_dim}, "
            f"n_classes={self.n_classes}, arch={self.arch!r}, width={self.width}, "
            f"minibatch_std={self.minibatch_std}, pack={self.pack}, batch_norm={self.batch_norm}"
        )

    # -- sampling ----------------------------------------------------------------------------

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
        check_elements(n * self.latent_dim, "n")
        seed = check_seed(seed)
        if truncation is not None:
            truncation = check_positive(truncation, "truncation")
        return _draw_latents(n, self.latent_dim, seed, truncation).to(self.device)

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
            return self.generator.embed(self.sample_labels(n, labels)).clone()

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
        y = self._labels(len(z), labels) if labels is not None else None
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
        y = self._labels(len(x), labels) if labels is not None else None
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
            Classes to generate (a conditional GAN). An int repeats one class; ``None`` gives
            every class in turn, ``arange(n) % n_classes`` (the label policy of
            :meth:`~lessons_lib.core.base.GenerativeModule.sample_labels`).
        seed : int, optional
            The same seed gives the same samples.
        truncation : float, optional
            Truncation trick: latent coordinates limited to ``[-truncation, truncation]``.

        Returns
        -------
        Tensor, shape (n, *data_shape): images in [0, 1], vectors unbounded.
        """
        n = check_count(n, "n")
        check_elements(n * max(self.latent_dim, math.prod(self.data_shape)), "n")
        seed = check_seed(seed)
        if truncation is not None:
            check_positive(truncation, "truncation")
        y = self._labels(n, labels)
        z = self.latent(n, seed=seed, truncation=truncation)
        return self.generate(z, y)

    # -- training ----------------------------------------------------------------------------

    def check_training_data(self, data: ArrayLike, labels: ArrayLike | None = None) -> None:
        """Raise a clear error when ``data`` (N, *data_shape) and ``labels`` cannot train it.

        ``data`` is floating, fits float32, holds at least 2 points (batch norm) and, for a
        bounded model, lies in [0, 1]; ``labels`` (N,) are given exactly when the model is
        conditional.
        """
        check_array(data, "data", shape=(None, *self.data_shape), kinds="f")
        check_fits_dtype(data, "data", torch.float32)
        if len(data) < 2:
            raise ValueError(f"data needs at least 2 points (batch norm), got {len(data)}.")
        if self.bounded:
            check_array(data, "data", min_value=0.0, max_value=1.0)
        if self.n_classes is not None:
            if labels is None:
                raise ValueError("this GAN is conditional (n_classes is set): pass labels=.")
            check_labels(labels, "labels", n=len(data), n_classes=self.n_classes)
        elif labels is not None:
            raise ValueError("labels were given, but the GAN is not conditional; set n_classes.")

    def configure_optimizers(
        self,
        lr: float | None = None,
        *,
        loss: str = "non-saturating",
        lr_g: float | None = None,
        lr_d: float | None = None,
        betas: tuple[float, float] | None = None,
        d_steps: int | None = None,
        gp_weight: float | None = None,
        lr_decay: bool = False,
        total_steps: int | None = None,
        ema_decay: float = 0.0,
    ) -> dict[str, torch.optim.Adam]:
        """Start a training run: ``{"generator": Adam, "discriminator": Adam}``.

        The run's settings and state (an :class:`~lessons_lib.gan.run.AdversarialRun`) become
        :attr:`adversarial_run`, read by :meth:`loss` and :meth:`training_step` and ended by
        :meth:`finish_training`.

        Parameters
        ----------
        lr : float, optional
            Both learning rates (``lr_g`` and ``lr_d`` override it).
        loss : {"non-saturating", "minimax", "hinge", "wgan-gp"}
        lr_g, lr_d, betas, d_steps, gp_weight : optional
            As in :func:`~lessons_lib.gan.train_gan`; defaults from
            :func:`~lessons_lib.gan.recommended_settings` for this architecture and loss.
        lr_decay : bool
            Decay both learning rates linearly to 0 over ``total_steps`` generator updates.
        total_steps : int, optional
            Needed with ``lr_decay``.
        ema_decay : float
            Average the generator's weights with this decay (0: off); :meth:`finish_training`
            puts the average in the generator.
        """
        check_one_of(loss, "loss", LOSSES)
        if lr is not None:
            lr = check_adam(lr, (0.5, 0.999), "lr")[0]  # the betas are checked below
            lr_g, lr_d = (lr if lr_g is None else lr_g), (lr if lr_d is None else lr_d)
        step = _step_settings(
            recommended_settings(self.arch, loss),
            lr_g=lr_g, lr_d=lr_d, betas=betas, d_steps=d_steps, gp_weight=gp_weight,
        )  # fmt: skip
        lr_decay = check_bool(lr_decay, "lr_decay")
        if total_steps is not None or lr_decay:
            if total_steps is None:
                raise ValueError("lr_decay=True needs total_steps=, the number of G updates.")
            total_steps = check_int(total_steps, "total_steps", min_value=1)
        ema_decay = check_probability(ema_decay, "ema_decay", inclusive=True, high=0.999999)
        betas = step["betas"]
        optimizers = {
            "generator": torch.optim.Adam(
                self.generator.parameters(), lr=step["lr_g"], betas=betas
            ),
            "discriminator": torch.optim.Adam(
                self.discriminator.parameters(), lr=step["lr_d"], betas=betas
            ),
        }
        self.adversarial_run = start_run(
            optimizers, self.generator, loss=loss, d_steps=step["d_steps"],
            gp_weight=step["gp_weight"], lr_decay=lr_decay, total_steps=total_steps,
            ema_decay=ema_decay,
        )  # fmt: skip
        return optimizers

    def loss(self, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Both players' losses on one batch ``[x]`` or ``[x, labels]``, for fresh z.

        The terms are ``d_loss`` (with the gradient penalty when the run has one), ``g_loss``,
        ``d_real`` and ``d_fake`` (D's mean outputs) and ``grad_penalty``; ``"loss"`` is the
        discriminator's loss, the game's value up to its sign (for the optimal D and the
        cross-entropy losses, :math:`\\log 4 - 2\\,JS(p_{data}, p_g)`; Goodfellow et al.,
        2014). No GAN loss measures sample quality, so early stopping on it means little.
        The loss and penalty are the current run's (:meth:`configure_optimizers`), else the
        non-saturating loss without penalty. Draws z from torch's global random state.
        """
        real, y = _check_batch(batch, self.data_shape, self.conditional, self.pack)
        run = self.adversarial_run if self.adversarial_run is not None else AdversarialRun()
        fake = self.generator(torch.randn(len(real), self.latent_dim, device=real.device), y)
        terms = _discriminator_terms(
            self.discriminator, real, fake.detach(), y, run.loss, run.gp_weight
        )
        g_loss = _generator_term(self.discriminator, fake, y, run.loss)
        d_loss = terms.pop("d_loss")
        return {"loss": d_loss, "d_loss": d_loss, "g_loss": g_loss, **terms}

    def training_step(
        self, batch: Sequence[torch.Tensor], optimizers: Mapping[str, Any]
    ) -> dict[str, float]:
        """One mini-batch of the game: ``d_steps`` updates of D, then one of G.

        Each D update draws fresh z (torch's global random state) against the same real
        batch; the G update reuses the last D update's fakes and scores them with the updated
        D, whose weights are frozen meanwhile. Then the run's learning-rate schedules step and
        the generator's weights join the average. Returns ``d_loss``, ``g_loss``, ``d_real``,
        ``d_fake`` (and ``grad_penalty``) of the last D update, as floats.
        """
        real, y = _check_batch(batch, self.data_shape, self.conditional, self.pack)
        opt_g, opt_d = _check_optimizers(optimizers)
        run = self.adversarial_run
        if run is None:
            raise ValueError(
                "this GAN has no training run: call model.configure_optimizers(...) first and "
                "pass the optimizers it returns."
            )
        for k in range(run.d_steps):
            # The last D step's fakes keep their graph and are reused by the G step.
            with torch.set_grad_enabled(k == run.d_steps - 1):
                fake = self.generator(
                    torch.randn(len(real), self.latent_dim, device=real.device), y
                )
            terms = _discriminator_terms(
                self.discriminator, real, fake.detach(), y, run.loss, run.gp_weight
            )
            _minimise(opt_d, terms["d_loss"])
        g_loss = _generator_term(self.discriminator, fake, y, run.loss)
        _minimise(opt_g, g_loss)
        run.after_generator_update(self.generator)
        metrics = {"d_loss": terms.pop("d_loss").item(), "g_loss": g_loss.item()}
        return {**metrics, **{key: value.item() for key, value in terms.items()}}

    def finish_training(self, labels: ArrayLike | None = None, *, batch_size: int = 256) -> None:
        """End the training run: put the generator's weight average (if any) in the generator.

        The batch-norm statistics are then re-estimated for the averaged weights over 50
        batches of ``batch_size`` fresh z (torch's global random state); a conditional
        generator draws their classes from ``labels`` (N,), its training labels. Without an
        average this only forgets the run (:attr:`adversarial_run` becomes None).
        """
        batch_size = check_count(batch_size, "batch_size")
        if self.n_classes is not None:
            if labels is None:
                raise ValueError("this GAN is conditional: pass its training labels=.")
            check_labels(labels, "labels", n_classes=self.n_classes)
            if len(labels) == 0:
                raise ValueError("labels must hold at least one label, got 0.")
            labels = as_tensor(labels, dtype=torch.int64)
        elif labels is not None:
            raise ValueError("labels were given, but the GAN is not conditional; set n_classes.")
        check_elements(batch_size * max(self.latent_dim, math.prod(self.data_shape)), "batch_size")
        run, self.adversarial_run = self.adversarial_run, None
        if run is not None and run.load_average(self.generator):
            recalibrate_batch_norm(self.generator, self.latent_dim, labels, batch_size)

    def _labels(self, n: int, labels: Any) -> torch.Tensor | None:
        """:meth:`sample_labels`, the one label policy, after ``check_labels`` on an array.

        The check first, so that any bad array (strings, objects, floats) gets an error that
        names ``labels`` before torch tries to convert it.
        """
        is_int = isinstance(labels, int | np.integer) and not isinstance(labels, bool | np.bool_)
        if self.conditional and labels is not None and not is_int:
            check_labels(labels, "labels", n=n, n_classes=self.n_classes)
        return self.sample_labels(n, labels)


def _minimise(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
