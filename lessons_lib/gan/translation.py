"""Paired image-to-image translation in the style of pix2pix (Isola et al., 2017).

* :func:`corrupt_images` damages images (a masked bottom half, or Gaussian noise) to make the
  paired restoration task.
* :class:`ImageTranslator`: a small U-Net generator (Ronneberger et al., 2015) that maps an
  input :math:`a` to :math:`\\hat b = G(a)`, and a PatchGAN discriminator that sees the pair
  :math:`(a, b)` and judges each patch.
* :func:`train_translator`: the conditional adversarial loss (non-saturating, Goodfellow et
  al., 2014) plus :math:`\\lambda` L1, or L1 only, through the course's one loop.

``ImageTranslator`` stays a plain ``nn.Module`` rather than a
:class:`~lessons_lib.core.base.GenerativeModule`: it models :math:`p(b \\mid a)` for an input
*image* and has no latent noise, so ``sample(n, labels=None, seed=None)`` has nothing to draw
from without inputs, and the class-label policy of that face does not apply to images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lessons_lib.core.device import resolve_device
from lessons_lib.core.loop import (
    MAX_LOOP_SEED,
    History,
    TrainingDiverged,
    check_adam,
    check_callable,
    check_count,
    train_loop,
)
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_tensor,
    check_array,
    check_bool,
    check_images,
    check_int,
    check_one_of,
    check_positive,
    check_seed,
    like_input,
)
from lessons_lib.gan.losses import _discriminator_loss, _frozen, _generator_loss, _mean_output
from lessons_lib.gan.networks import _n_halvings

__all__ = ["CORRUPTIONS", "ImageTranslator", "corrupt_images", "train_translator"]

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
        gen = make_generator(seed)
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
        return _pair_logits(self.discriminator, inputs, outputs)

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
    settings = _check_translator_arguments(
        model, inputs, targets, epochs, adversarial, l1_weight, batch_size, lr, betas, seed,
        progress, on_epoch_end,
    )  # fmt: skip
    adversarial, l1_weight, lr, betas = (settings[k] for k in ("adversarial", "l1", "lr", "betas"))
    target_device = resolve_device(device)
    model.to(target_device)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=betas)

    def step(batch: list[torch.Tensor]) -> dict[str, float]:
        return _translation_step(model, batch, opt_g, opt_d, adversarial, l1_weight)

    try:
        return train_loop(
            step,
            [as_tensor(inputs, dtype=torch.float32), as_tensor(targets, dtype=torch.float32)],
            modules=model,
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            seed=settings["seed"],
            device=target_device,
            progress=progress,
            drop_last=len(inputs) >= settings["batch_size"],
            on_epoch_end=on_epoch_end,
            desc="pix2pix" if adversarial else "L1 only",
        )
    except TrainingDiverged as err:
        raise TrainingDiverged(
            f"{err} The settings were lr={lr:g}, betas={betas}, l1_weight={l1_weight:g}."
        ) from err


def _check_translator_arguments(
    model, inputs, targets, epochs, adversarial, l1_weight, batch_size, lr, betas, seed, progress,
    on_epoch_end,
) -> dict[str, Any]:  # fmt: skip
    """:func:`train_translator`'s arguments, checked in the order of its signature."""
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
    check_bool(progress, "progress")
    check_callable(on_epoch_end, "on_epoch_end")
    if not adversarial and l1_weight == 0:
        raise ValueError("with adversarial=False the only loss is L1: l1_weight must be > 0.")
    return {
        "epochs": epochs,
        "adversarial": adversarial,
        "l1": l1_weight,
        "lr": lr,
        "betas": betas,
        "batch_size": batch_size,
        "seed": seed,
    }


def _translation_step(
    model: ImageTranslator,
    batch: list[torch.Tensor],
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    adversarial: bool,
    l1_weight: float,
) -> dict[str, float]:
    """One pix2pix step on a pair batch [a, b]: D on (a, b) vs (a, G(a)), then G (L1 + adv)."""
    a, b = batch
    fake = model.generator(a)
    metrics: dict[str, float] = {}
    if adversarial:
        real_logits = _pair_logits(model.discriminator, a, b)
        fake_logits = _pair_logits(model.discriminator, a, fake.detach())
        d_loss = _discriminator_loss("non-saturating", real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        metrics = {
            "d_loss": d_loss.item(),
            "d_real": float(_mean_output("non-saturating", real_logits.detach())),
            "d_fake": float(_mean_output("non-saturating", fake_logits.detach())),
        }
    l1 = (fake - b).abs().mean()
    g_loss = l1_weight * l1
    if adversarial:
        with _frozen(model.discriminator):
            g_adv = _generator_loss("non-saturating", _pair_logits(model.discriminator, a, fake))
        g_loss = g_loss + g_adv
        metrics["g_adv"] = g_adv.item()
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    return {"l1": l1.item(), **metrics}


def _pair_logits(discriminator: nn.Module, inputs: torch.Tensor, outputs: torch.Tensor):
    """The patch logits of the pairs (a, b), stacked on the channel axis (unchecked)."""
    return discriminator(torch.cat([inputs, outputs], dim=1))
