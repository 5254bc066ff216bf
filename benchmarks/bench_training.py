"""Training throughput of the course's neural models: lessons_lib against a plain loop.

For each model, the library's training function (built on ``lessons_lib.training.train_loop``)
and a reference written with plain PyTorch only (same architecture, same batch size, same
optimiser, a bare ``for`` loop) train on the same data in the same process. Each prints
images per second (the median of ``--repeats`` alternating runs after a warm-up) and the ratio
library / reference: 1.0 means the library costs nothing on top of the arithmetic.

    python benchmarks/bench_training.py                    # every model, on the CPU
    python benchmarks/bench_training.py --models dcgan-digits --repeats 3
    python benchmarks/bench_training.py --models vae      # the VAEs (bench_training_vae.py)
    python benchmarks/bench_training.py --device cuda      # also on a GPU, when there is one

One function per model (``bench_<model>``), registered in ``BENCHMARKS``; add a model by
writing its function and registering it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

# --------------------------------------------------------------------------- plain reference


class PlainSpread(nn.Module):
    """Class-wise minibatch standard deviation, written out (as in lessons_lib.gan)."""

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        flat = h.flatten(1)
        onehot = F.one_hot(labels, 10).to(flat.dtype)
        counts = onehot.sum(0).clamp_min(1.0)[:, None]
        means = onehot.T @ flat / counts
        variances = onehot.T @ flat.square() / counts - means.square()
        spread = variances.clamp_min(0).add(1e-8).sqrt().mean(1)[labels]
        return torch.cat([h, spread[:, None, None, None].expand_as(h[:, :1])], 1)


class PlainGenerator(nn.Module):
    def __init__(self, side: int, latent_dim: int, width: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, min(latent_dim, 32))
        c0, s0 = 2 * width, side // 4
        self.net = nn.Sequential(
            nn.Linear(latent_dim + min(latent_dim, 32), c0 * s0 * s0),
            nn.Unflatten(1, (c0, s0, s0)),
            nn.BatchNorm2d(c0),
            nn.ReLU(),
            nn.ConvTranspose2d(c0, width, 4, 2, 1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, width // 2, 4, 2, 1),
            nn.BatchNorm2d(width // 2),
            nn.ReLU(),
            nn.Conv2d(width // 2, 1, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, self.embed(y)], 1))


class PlainDiscriminator(nn.Module):
    def __init__(self, side: int, width: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2))
        self.spread = PlainSpread()
        self.trunk = nn.Sequential(
            nn.Conv2d(width + 1, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten()
        )
        n_features = 2 * width * (side // 4) ** 2
        self.head = nn.Linear(n_features, 1)
        self.project = nn.Embedding(10, n_features)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        phi = self.trunk(self.spread(self.stem(x), y))
        return self.head(phi).squeeze(1) + (self.project(y) * phi).sum(1)


def plain_gan_training(images, labels, *, epochs, batch_size, latent_dim, width, device):
    """The reference: a bare non-saturating GAN loop over shuffled mini-batches."""
    side = images.shape[-1]
    gen, disc = PlainGenerator(side, latent_dim, width), PlainDiscriminator(side, width)
    gen.to(device), disc.to(device)
    opt_g = torch.optim.Adam(gen.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), 2e-4, betas=(0.5, 0.999))
    images, labels = images.to(device), labels.to(device)
    n = len(images)
    for _ in range(epochs):
        order = torch.randperm(n, device=device)
        for first in range(0, n - batch_size + 1, batch_size):
            idx = order[first : first + batch_size]
            real, y = images[idx], labels[idx]
            fake = gen(torch.randn(batch_size, latent_dim, device=device), y)
            d_loss = F.softplus(-disc(real, y)).mean() + F.softplus(disc(fake.detach(), y)).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            for p in disc.parameters():
                p.requires_grad_(False)
            g_loss = F.softplus(-disc(fake, y)).mean()
            for p in disc.parameters():
                p.requires_grad_(True)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            float(d_loss), float(g_loss)  # the library logs these too: same synchronisation
    return gen, disc


# --------------------------------------------------------------------------- timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _rates(runs: dict[str, Callable[[], object]], n_images: int, device, repeats: int):
    """Median images per second of each run; the runs alternate, so a busy machine slows
    them alike and the ratio stays fair."""
    for run in runs.values():
        run()  # warm-up: allocator, kernels, caches
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            _sync(device)
            start = time.perf_counter()
            run()
            _sync(device)
            seconds[name].append(time.perf_counter() - start)
    return {name: n_images / statistics.median(values) for name, values in seconds.items()}


def _dcgan(dataset: str, device: torch.device, repeats: int, steps: int) -> dict:
    from lessons_lib.gan import GAN, train_gan

    side = 8 if dataset == "digits" else 28
    batch_size, latent_dim, width = 64, 32, 32
    n = batch_size * steps  # one epoch of `steps` full batches
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, side, side, generator=gen)
    labels = torch.randint(10, (n,), generator=gen)

    def library():
        model = GAN((1, side, side), latent_dim, n_classes=10, arch="dcgan", width=width)
        train_gan(model, images, labels, epochs=1, device=device, progress=False)
        return model

    def reference():
        return plain_gan_training(
            images,
            labels,
            epochs=1,
            batch_size=batch_size,
            latent_dim=latent_dim,
            width=width,
            device=device,
        )

    model = library()
    gen_ref, disc_ref = reference()
    n_lib = sum(p.numel() for p in model.parameters())
    n_ref = sum(p.numel() for p in [*gen_ref.parameters(), *disc_ref.parameters()])
    if n_lib != n_ref:
        raise AssertionError(f"architectures differ: {n_lib} vs {n_ref} parameters")
    rates = _rates({"library": library, "reference": reference}, n, device, repeats)
    return {**rates, "parameters": n_lib}


def bench_dcgan_digits(device: torch.device, repeats: int) -> dict:
    """Class-conditional DCGAN on 8×8 images (the digits model), batch 64."""
    return _dcgan("digits", device, repeats, steps=60)


def bench_dcgan_fashion(device: torch.device, repeats: int) -> dict:
    """Class-conditional DCGAN on 28×28 images (the Fashion-MNIST model), batch 64."""
    return _dcgan("fashion-mnist", device, repeats, steps=15)


#: name → function(device, repeats) returning {"library": img/s, "reference": img/s, ...}
BENCHMARKS: dict[str, Callable[[torch.device, int], dict]] = {
    "dcgan-digits": bench_dcgan_digits,
    "dcgan-fashion": bench_dcgan_fashion,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choices = [*BENCHMARKS, "vae"]  # "vae": the Bernoulli VAEs of bench_training_vae.py
    parser.add_argument("--models", nargs="*", default=choices, choices=choices)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    args = parser.parse_args()
    devices = [torch.device("cpu")]
    if args.device != "cpu":
        devices.append(torch.device(args.device))
    elif torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads"
    )
    for device in devices:
        for name in args.models:
            if name == "vae":
                from bench_training_vae import throughput  # the same directory as this script

                throughput(str(device), args.repeats)
                continue
            result = BENCHMARKS[name](device, args.repeats)
            ratio = result["library"] / result["reference"]
            print(
                f"{name:>14} on {device.type}: lessons_lib {result['library']:8.0f} img/s, "
                f"plain loop {result['reference']:8.0f} img/s, ratio {ratio:.2f} "
                f"({result['parameters']:,} parameters)"
            )


if __name__ == "__main__":
    main()
