"""The two players' networks: MLP and DCGAN generators and discriminators.

* Multilayer perceptrons for 2-D points, as in the toy benchmarks of VEEGAN (Srivastava et al.,
  2017) and PacGAN (Lin et al., 2018): four hidden layers with batch norm in the generator;
  PacGAN's packed discriminator judges ``pack`` samples at once.
* A small DCGAN (Radford et al., 2016) for (C, H, W) images: transposed convolutions with batch
  norm in the generator, strided convolutions with leaky ReLU and no batch norm in the
  discriminator (so a WGAN-GP gradient penalty, Gulrajani et al. 2017, stays valid).
* Class conditioning (Mirza & Osindero, 2014): a learned label embedding beside z in the
  generator, and a projection discriminator (Miyato & Koyama, 2018) whose logit adds
  :math:`e_y \\cdot \\phi(x)`.
* :class:`MinibatchStd`, the batch's spread as one more feature (Karras et al., 2018, ProGAN).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from lessons_lib.core.validation import check_array, check_labels

__all__ = ["ARCHS", "MinibatchStd"]

ARCHS = ("mlp", "dcgan")


def _n_halvings(height: int, width: int) -> int:
    """How many stride-2 stages fit: halve while both sides stay even and at least 2 (max 3)."""
    k = 0
    while k < 3 and height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= 2:
        height, width, k = height // 2, width // 2, k + 1
    return k


def _norm(batch_norm: bool, dims: int):
    """A batch-norm layer factory (1-D or 2-D), or one that makes identities."""
    if not batch_norm:
        return lambda _: nn.Identity()
    return nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d


def _mlp_generator_body(n_in: int, width: int, n_out: int, batch_norm: bool) -> nn.Sequential:
    # Four hidden layers with batch norm, as in the VEEGAN/PacGAN benchmark generator:
    # without batch norm the 2-D generator spreads its samples far wider than 0.02.
    norm = _norm(batch_norm, 1)
    layers: list[nn.Module] = []
    for n_from in (n_in, width, width, width):
        layers += [nn.Linear(n_from, width), norm(width), nn.ReLU()]
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def _dcgan_generator_body(
    n_in: int, data_shape: tuple[int, ...], width: int, batch_norm: bool
) -> nn.Sequential:
    """Linear to a (c0, h0, w0) map, then ``k`` transposed convolutions that double the sides."""
    norm = _norm(batch_norm, 2)
    channels, height, wide = data_shape
    k = _n_halvings(height, wide)
    h0, w0, c0 = height >> k, wide >> k, width << (k - 1)
    layers: list[nn.Module] = [
        nn.Linear(n_in, c0 * h0 * w0),
        nn.Unflatten(1, (c0, h0, w0)),
        norm(c0),
        nn.ReLU(),
    ]
    c = c0
    for _ in range(k):
        layers += [nn.ConvTranspose2d(c, c // 2, 4, stride=2, padding=1), norm(c // 2), nn.ReLU()]
        c //= 2
    layers.append(nn.Conv2d(c, channels, 3, padding=1))
    return nn.Sequential(*layers)


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
        self.bounded = bounded
        embed_dim = 0
        if n_classes is not None:  # built first: the weight initialisation draws in this order
            embed_dim = min(latent_dim, 32)
            self.embed = nn.Embedding(n_classes, embed_dim)
        n_in = latent_dim + embed_dim
        if arch == "mlp":
            self.body = _mlp_generator_body(n_in, width, math.prod(data_shape), batch_norm)
        else:
            self.body = _dcgan_generator_body(n_in, data_shape, width, batch_norm)

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
        return self._unchecked(h, labels)

    def _unchecked(self, h: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` without its input checks, for callers that have checked ``h`` and
        ``labels`` already (the discriminator, three times per training step)."""
        flat = h.flatten(1)
        # In units of the largest feature when it exceeds 1 (detached, so the gradient is
        # unchanged): squares of 1e30 would overflow float32 and turn the spread into inf.
        scale = flat.detach().abs().amax().clamp_min(1.0)
        flat = flat / scale
        if labels is None:
            spread = flat.std(dim=0, unbiased=False).mean().expand(len(h))
        else:
            spread = _per_class_spread(flat, labels, scale)
        spread = spread * scale
        return torch.cat([h, spread.reshape(-1, *([1] * (h.ndim - 1))).expand_as(h[:, :1])], 1)


def _per_class_spread(flat: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor):
    """Each sample's class's mean feature std, (B,), in the scaled units of ``flat`` (B, F)."""
    # Classes renumbered 0..K-1, so any integer labels work (and no huge one-hot).
    _, index = torch.unique(labels, return_inverse=True)
    onehot = F.one_hot(index, int(index.max()) + 1).to(flat.dtype)  # (B, K)
    counts = onehot.sum(0).clamp_min(1.0)[:, None]
    means = (onehot.T @ flat) / counts  # (K, F)
    variances = (onehot.T @ flat.square()) / counts - means.square()
    # The 1e-8 variance floor (keeps sqrt's gradient finite), in the scaled units.
    floor = (1e-8 / scale.square()).clamp_min(torch.finfo(flat.dtype).tiny)
    per_class = (variances.clamp_min(0.0) + floor).sqrt().mean(dim=1)  # (K,)
    return per_class[index]


def _mlp_discriminator_layers(
    data_shape: tuple[int, ...], width: int, extra: int, pack: int
) -> tuple[list[nn.Module], list[nn.Module], int]:
    """The stem (before the spread feature), the trunk and the feature width of the MLP D."""
    stem: list[nn.Module] = [
        nn.Flatten(),
        nn.Linear(math.prod(data_shape) * pack, width),
        nn.LeakyReLU(0.2),
        nn.Linear(width, width),
        nn.LeakyReLU(0.2),
    ]
    trunk: list[nn.Module] = [nn.Linear(width + extra, width), nn.LeakyReLU(0.2)]
    return stem, trunk, width


def _dcgan_discriminator_layers(
    data_shape: tuple[int, ...], width: int, extra: int
) -> tuple[list[nn.Module], list[nn.Module], int]:
    """Strided convolutions that halve the sides; the last block reads the spread feature."""
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
    return stem, trunk, c_in * (height >> k) * (wide >> k)


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
            stem, trunk, n_features = _mlp_discriminator_layers(data_shape, width, extra, pack)
        else:
            stem, trunk, n_features = _dcgan_discriminator_layers(data_shape, width, extra)
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
            # The model checked x and labels once per batch; the layer need not again.
            h = self.spread._unchecked(h, labels)
        phi = self.trunk(h)
        logit = self.head(phi).squeeze(1)
        if labels is not None and self.project is not None:
            logit = logit + (self.project(labels) * phi).sum(dim=1)
        return logit


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
