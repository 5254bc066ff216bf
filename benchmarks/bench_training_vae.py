"""VAE training throughput (lessons_lib against a plain loop) and the VAE quality numbers.

Throughput (default): ``lessons_lib.vae.train_vae`` (built on ``training.train_loop``) and a
reference written with plain PyTorch only (the same MLP, the same Adam, cosine learning-rate
decay and KL warm-up, a bare ``for`` loop that logs the loss of every step) train the same
Bernoulli VAE on the same binarized images in the same process. Prints images per second (the
median of ``--repeats`` timed runs after a warm-up) and the ratio library / reference: 1.0
means the library costs nothing on top of the arithmetic.

Quality (``--quality``, minutes on a CPU): the numbers quoted in ``benchmarks/README.md`` with
the course's recommended settings: the pPCA gap, test log-likelihoods (IWAE, k = 1000) of
binarized digits and Fashion-MNIST beside a Gaussian mixture's, the conditional VAE's class
accuracy and within-class diversity, inpainting errors against the GMM, training times.

    python benchmarks/bench_training_vae.py                 # throughput, CPU
    python benchmarks/bench_training_vae.py --repeats 5 --device cuda
    python benchmarks/bench_training_vae.py --quality       # the quality table
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

# --------------------------------------------------------------------------- plain reference


def plain_mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes[:-1]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def plain_train(
    x: torch.Tensor, latent: int, hidden: tuple[int, ...], epochs: int, batch: int, lr: float
) -> float:
    """A Bernoulli VAE trained with a bare loop; returns the last epoch's mean ELBO."""
    n, d = len(x), x[0].numel()
    encoder = plain_mlp([d, *hidden, 2 * latent]).to(x.device)
    decoder = plain_mlp([latent, *reversed(hidden), d]).to(x.device)
    params = [*encoder.parameters(), *decoder.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    steps_per_epoch = math.ceil(n / batch)
    total = epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, total) / total))
    )
    warmup, step, flat = max(1, epochs // 10), 0, x.flatten(1)
    for _ in range(epochs):
        order = torch.randperm(n, device=x.device)
        elbos = []
        for first in range(0, n, batch):
            xb = flat[order[first : first + batch]]
            mu, logvar = encoder(xb).chunk(2, 1)
            logvar = logvar.clamp(-12, 8)
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
            recon = -F.binary_cross_entropy_with_logits(decoder(z), xb, reduction="none").sum(1)
            kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
            weight = min(1.0, step / steps_per_epoch / warmup)
            loss = -(recon - weight * kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            step += 1
            elbos.append(float((recon - kl).mean().detach()))
    return sum(elbos) / len(elbos)


# --------------------------------------------------------------------------- throughput


def timed_pair(first, second, repeats: int) -> tuple[float, float, object, object]:
    """Median seconds of two functions, run alternately (so a busy machine slows both alike)."""
    first(), second()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    results = [None, None]
    for _ in range(repeats):
        for i, fn in enumerate((first, second)):
            start = time.perf_counter()
            results[i] = fn()
            times[i].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1]), results[0], results[1]


def throughput(device: str, repeats: int) -> None:
    from lessons_lib.data import fashion_mnist_available, load_digits, load_fashion_mnist
    from lessons_lib.vae import VAE, train_vae

    cases = [("binarized digits 8x8", load_digits("train", binarize=True, device=device)[0], 8, 30)]
    if fashion_mnist_available():
        fashion = load_fashion_mnist("train", binarize=True, device=device)[0][:10_000]
        cases.append(("binarized Fashion-MNIST 28x28 (10k)", fashion, 16, 2))
    print(f"{'case':38}{'library img/s':>15}{'plain img/s':>13}{'ratio':>8}{'ELBO lib/plain':>18}")
    for name, x, latent, epochs in cases:
        hidden = (512, 256) if x[0].numel() > 256 else (256, 256)

        def library(x=x, latent=latent, epochs=epochs):
            model = VAE(tuple(x.shape[1:]), latent, seed=0)
            history = train_vae(model, x, epochs=epochs, seed=0, device=device, progress=False)
            return history["elbo"][-1]

        def plain(x=x, latent=latent, epochs=epochs, hidden=hidden):
            torch.manual_seed(0)
            return plain_train(x, latent, hidden, epochs, 64, 2e-3)

        t_lib, t_ref, elbo_lib, elbo_ref = timed_pair(library, plain, repeats)
        rate_lib, rate_ref = len(x) * epochs / t_lib, len(x) * epochs / t_ref
        print(
            f"{name:38}{rate_lib:15.0f}{rate_ref:13.0f}{rate_lib / rate_ref:8.2f}"
            f"{elbo_lib:9.1f} /{elbo_ref:7.1f}"
        )


# --------------------------------------------------------------------------- quality


def quality(device: str) -> None:
    from scipy.linalg import subspace_angles

    from lessons_lib import metrics
    from lessons_lib.data import fashion_mnist_available, load_digits, load_fashion_mnist
    from lessons_lib.gmm import GaussianMixture
    from lessons_lib.vae import (
        VAE,
        LinearGaussianVAE,
        dequantize,
        discrete_log_likelihood,
        ppca_log_likelihood,
        ppca_mle,
        train_vae,
    )

    def clock(fn):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - start_wall, time.process_time() - start_cpu

    # pPCA
    gen = torch.Generator().manual_seed(0)
    W_true = torch.randn(10, 2, generator=gen) * torch.tensor([2.0, 1.0])
    b_true = torch.randn(10, generator=gen)
    X = torch.randn(1000, 2, generator=gen) @ W_true.T + b_true
    X = (X + 0.5 * torch.randn(1000, 10, generator=gen)).to(device)
    W, b, s2 = ppca_mle(X, 2)
    best = float(ppca_log_likelihood(X, W, b, s2).mean())
    for posterior in ("full", "diagonal"):
        lin = LinearGaussianVAE(10, 2, posterior=posterior, seed=0)
        train_vae(
            lin, X, epochs=150, batch_size=100, lr=2e-2, seed=0, device=device, progress=False
        )
        with torch.no_grad():
            elbo = float(lin.elbo(X).mean())
        angle = subspace_angles(lin.W.detach().cpu().numpy(), W.cpu().numpy()).max()
        print(
            f"pPCA ({posterior} posterior): ELBO {elbo:.4f}, exact max {best:.4f}, gap "
            f"{100 * (best - elbo) / abs(best):.3f}%, "
            f"max principal angle {math.degrees(angle):.3f} deg"
        )

    # binarized digits: Bernoulli VAE vs GMM on dequantized data
    x, _ = load_digits("train", binarize=True, device=device)
    xv, _ = load_digits("val", binarize=True, device=device)
    xt, _ = load_digits("test", binarize=True, device=device)
    bern = VAE((1, 8, 8), latent_dim=8, likelihood="bernoulli", seed=0)
    _, wall, cpu = clock(lambda: train_vae(bern, x, seed=0, device=device, progress=False))
    print(f"Bernoulli VAE, digits, default settings: trained in {wall:.0f} s wall, {cpu:.0f} s CPU")
    with torch.no_grad():
        elbo = float(bern.elbo(xt, n_samples=100, seed=0).mean())
    iwae = float(bern.log_likelihood(xt, k=1000, seed=0).mean())
    y_train = dequantize(x, 2, seed=0).flatten(1)
    fits = {}
    for cov, n_comp, reg in [
        ("diag", 20, 1e-3),
        ("diag", 40, 1e-3),
        ("full", 5, 1e-2),
        ("full", 10, 1e-2),
    ]:
        gmm = GaussianMixture(n_comp, cov, reg_covar=reg, seed=0, device=device).fit(y_train)
        val = float(discrete_log_likelihood(gmm.score_samples, xv, 2, k=50, seed=1).mean())
        fits[val] = (gmm, (cov, n_comp, reg))
    gmm, setting = fits[max(fits)]
    gmm_ll = float(discrete_log_likelihood(gmm.score_samples, xt, 2, k=1000, seed=2).mean())
    for name, value in (
        ("ELBO", elbo),
        ("IWAE k=1000", iwae),
        (f"GMM {setting}, cell k=1000", gmm_ll),
    ):
        print(
            f"  binarized digits test {name:36}{value:9.2f} nats "
            f"{metrics.bits_per_dim(-value, 64):.4f} bits/dim"
        )

    # binarized Fashion-MNIST
    if fashion_mnist_available():
        ft, _ = load_fashion_mnist("train", binarize=True, device=device)
        fe = load_fashion_mnist("test", binarize=True, device=device)[0][:1000]
        fashion = VAE((1, 28, 28), latent_dim=16, seed=0)
        _, wall, cpu = clock(lambda: train_vae(fashion, ft, seed=0, device=device, progress=False))
        print(f"Bernoulli VAE, Fashion-MNIST, default epochs: {wall:.0f} s wall, {cpu:.0f} s CPU")
        with torch.no_grad():
            f_elbo = float(fashion.elbo(fe, n_samples=20, seed=0).mean())
        f_iwae = float(fashion.log_likelihood(fe, k=1000, seed=0).mean())
        f_gmm = GaussianMixture(20, "diag", reg_covar=1e-3, seed=0, device=device)
        f_gmm.fit(dequantize(ft[:20_000], 2, seed=0).flatten(1))
        f_gmm_ll = float(discrete_log_likelihood(f_gmm.score_samples, fe, 2, k=1000, seed=0).mean())
        for name, value in (
            ("ELBO", f_elbo),
            ("IWAE k=1000", f_iwae),
            ("GMM diag K=20, cell k=1000", f_gmm_ll),
        ):
            print(
                f"  Fashion-MNIST test (1000) {name:30}{value:9.2f} nats "
                f"{metrics.bits_per_dim(-value, 784):.4f} bits/dim"
            )

    # conditional VAE on grey digits
    xg, yg = load_digits("train", device=device)
    xgt, ygt = load_digits("test", device=device)
    cvae = VAE((1, 8, 8), latent_dim=8, likelihood="gaussian", n_classes=10, seed=0)
    _, wall, cpu = clock(
        lambda: train_vae(cvae, xg, labels=yg, seed=0, device=device, progress=False)
    )
    print(f"CVAE, grey digits, default settings: trained in {wall:.0f} s wall, {cpu:.0f} s CPU")
    wanted = torch.arange(10, device=device).repeat_interleave(200)
    samples = cvae.decoder_means(len(wanted), wanted, seed=1)
    acc = metrics.class_accuracy(samples, wanted, "digits", device=device)
    ratios = []
    for images, labels in ((samples, wanted), (xgt, ygt)):
        feats = metrics.features(images, "digits", device)
        ratios.append(torch.stack([torch.pdist(feats[labels == c]).mean() for c in range(10)]))
    spread = (ratios[0] / ratios[1]).cpu()
    print(f"  class accuracy of samples {acc:.3f}; within-class spread / real (features) "
          f"mean {spread.mean():.2f}, min {spread.min():.2f}")  # fmt: skip

    # inpainting, grey and binary, GMM vs VAE, the same masks
    for kind, train, test, likelihood in (
        ("grey", xg, xgt, "gaussian"),
        ("binary", x, xt, "bernoulli"),
    ):
        vae = VAE((1, 8, 8), latent_dim=8, likelihood=likelihood, seed=0)
        train_vae(vae, train, seed=0, device=device, progress=False)
        mask_gen = torch.Generator().manual_seed(0)
        masks = {"random 50%": (torch.rand(test.shape, generator=mask_gen) > 0.5).to(device)}
        masks["bottom half"] = torch.ones_like(test, dtype=torch.bool)
        masks["bottom half"][:, :, 4:] = False
        for mask_name, mask in masks.items():
            errors = {}
            for n_comp in (5, 10, 20):
                for reg in (1e-3, 1e-2, 1e-1):
                    g = GaussianMixture(n_comp, "full", reg_covar=reg, seed=0, device=device)
                    filled = g.fit(train.flatten(1)).inpaint(test.flatten(1), mask.flatten(1))
                    filled = filled.view_as(test).float().clamp(0, 1)
                    errors[n_comp, reg] = float(((filled - test)[~mask] ** 2).mean())
            filled, ess = vae.inpaint(test, mask, seed=0, return_ess=True)
            vae_mse = float(((filled - test)[~mask] ** 2).mean())
            best_gmm = min(errors, key=errors.get)
            print(
                f"  inpainting {kind:6} {mask_name:11}: VAE {vae_mse:.4f} (median ESS "
                f"{float(ess.median()):.0f}/1000) | best GMM {errors[best_gmm]:.4f} {best_gmm} "
                "(chosen on the test masks: the GMM's best case)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality", action="store_true", help="the quality table (minutes)")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, device {args.device}"
    )
    if args.quality:
        quality(args.device)
    else:
        throughput(args.device, args.repeats)


if __name__ == "__main__":
    main()
