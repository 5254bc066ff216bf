r"""The VAE's two networks: the encoder q(z | x) and the decoder p(x | z), MLP or conv.

The encoder outputs the mean and log-variance of a diagonal Gaussian over z, the decoder the
logits of each pixel's mean (Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014). A
conditional VAE (Sohn, Lee & Yan 2015) gives the one-hot class to both, concatenated to the
image features and to z. Two architectures: fully connected (``"mlp"``), and small
convolutions that halve the image down to at most 7×7 and upsample back (``"conv"``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "ConvDecoder",
    "ConvEncoder",
    "MLPDecoder",
    "MLPEncoder",
    "build_networks",
    "check_network_size",
    "conv_sizes",
]


class MLPEncoder(nn.Module):
    """Fully connected encoder: (image[, one-hot class]) → (mean, log-variance) of z."""

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


class MLPDecoder(nn.Module):
    """Fully connected decoder: (z[, one-hot class]) → the logits of every pixel's mean."""

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


def conv_sizes(size: int) -> list[int]:
    """Spatial sizes of the conv encoder: halve (rounding up) until at most 7 pixels."""
    sizes = [size]
    while sizes[-1] > 7:
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


class ConvEncoder(nn.Module):
    """Stride-2 convolutions down to at most 7×7, then a fully connected head."""

    def __init__(self, data_shape, cond_dim: int, hidden: int, latent_dim: int, channels: int):
        super().__init__()
        c, h, w = data_shape
        n_down = len(conv_sizes(min(h, w))) - 1
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


class ConvDecoder(nn.Module):
    """A fully connected layer to small feature maps, then nearest upsampling and convolutions."""

    def __init__(self, latent_dim: int, cond_dim: int, hidden: int, data_shape, channels: int):
        super().__init__()
        c, h, w = data_shape
        sizes_h, sizes_w = conv_sizes(h), conv_sizes(w)
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


def build_networks(
    data_shape: tuple[int, int, int],
    latent_dim: int,
    n_classes: int | None,
    arch: str,
    hidden: int | tuple[int, ...],
    channels: int,
) -> tuple[nn.Module, nn.Module]:
    """The (encoder, decoder) pair of a VAE; their weights come from torch's global generator."""
    cond = n_classes or 0
    if arch == "mlp":
        encoder = MLPEncoder(math.prod(data_shape), cond, hidden, latent_dim)
        return encoder, MLPDecoder(latent_dim, cond, hidden, data_shape)
    encoder = ConvEncoder(data_shape, cond, hidden, latent_dim, channels)
    return encoder, ConvDecoder(latent_dim, cond, hidden, data_shape, channels)


def check_network_size(
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
        n_params += 9 * channels * channels * 2 * len(conv_sizes(max(data_shape[1:])))
        n_params += channels * n_pixels  # one feature map of the full image per example
    if n_params > 2**30:  # 4 GiB of float32 weights: far beyond the course's models
        raise ValueError(
            f"this VAE would have about {n_params:.3g} weights ({4 * n_params / 2**30:.3g} GiB): "
            f"reduce data_shape={data_shape}, latent_dim={latent_dim}, n_classes={n_classes}, "
            f"hidden={hidden} or channels={channels}."
        )
