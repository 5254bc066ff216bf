"""Spread of notebook 07's loss table (section 7) over seeds and thread counts (full mode).

Trains one GAN per loss (non-saturating, hinge, WGAN-GP, each with its recommended settings:
WGAN-GP takes five critic updates per generator update) with the model and training seed set
to ``seed`` and prints one JSON line per (part, loss):

* ``ring``: the 2-D MLP GAN of notebook 07 on the ring of 8 (std 0.02), at the budget of
  notebook 07's section 7 (``EPOCHS_2D`` epochs of 19 batches): modes covered and the
  high-quality share of 2,500 samples (seed 100), as ``mode_coverage`` counts them, the same
  counts at five times the mode's std (``coarse_``: within 0.3 of a ring mode, whose
  neighbours are 1.53 away), and the median distance from a sample to its nearest mode;
* ``grid``: the same on the 5×5 grid (std 0.05);
* ``digits``: an unconditional DCGAN (latent 32) on the 8×8 digits for ``DIGIT_STEPS``
  generator updates: the Fréchet distance of as many samples (seed 1) as test digits to the
  test digits, in the features of the course's digits network (``lessons_lib.metrics``, as
  notebook 08 measures it), and the classes covered: digits the same network's classifier
  assigns at least 2% of the samples to (a fifth of a class's share), with the smallest share.

Each line also holds the run's seconds. Run:
``nice -n 5 python benchmarks/spread_07_losses.py [ring grid digits] [--seeds 0 1 ...]
[--threads 1 2]`` (all parts, seeds 0-4, threads 1 and 2 by default; on 2 quiet cores the
ring and grid parts take about a minute per (seed, threads), the digits part several).
"""

from __future__ import annotations

from spread_runner import sweep_parts

PARTS = ("ring", "grid", "digits")

CHILD = r"""
import json, math, sys, time, torch
threads, seed = int(sys.argv[1]), int(sys.argv[2])
parts = sys.argv[3].split(",")
torch.set_num_threads(threads)
from lessons_lib.data import grid_centers, make_grid, make_ring, ring_centers
from lessons_lib.gan import GAN, mode_coverage, recommended_settings, train_gan

LOSSES = ("non-saturating", "hinge", "wgan-gp")
EPOCHS_2D = 30  # notebook 07, section 7: 30 epochs of 19 batches of 256 = 570 G updates
DIGIT_STEPS = 1000


def say(part, **values):
    print(json.dumps({"part": part, **values}), flush=True)


toys = (("ring", make_ring, ring_centers(8), 0.02), ("grid", make_grid, grid_centers(5), 0.05))
for part, make, centers, std in toys:
    if part not in parts:
        continue
    data, _ = make(5000, std=std, seed=0, device="cpu")
    for loss in LOSSES:
        start = time.perf_counter()
        model = GAN((2,), latent_dim=2, seed=seed)
        train_gan(model, data, epochs=EPOCHS_2D, loss=loss, seed=seed, progress=False,
                  device="cpu")
        samples = model.sample(2500, seed=100).cpu()
        covered, quality = mode_coverage(samples, centers, std)
        coarse, coarse_share = mode_coverage(samples, centers, 5 * std)
        distance = torch.cdist(samples, centers).min(1).values.median().item()
        say(part, loss=loss, modes=covered, quality=round(quality, 3), coarse_modes=coarse,
            coarse_share=round(coarse_share, 3), median_distance=round(distance, 4),
            seconds=round(time.perf_counter() - start, 1))

if "digits" in parts:
    from lessons_lib import metrics
    from lessons_lib.data import load_digits
    images, _ = load_digits("train", device="cpu")
    test, _ = load_digits("test", device="cpu")
    for loss in LOSSES:
        start = time.perf_counter()
        model = GAN((1, 8, 8), latent_dim=32, arch="dcgan", seed=seed)
        batches = len(images) // recommended_settings("dcgan", loss)["batch_size"]
        epochs = max(1, math.ceil(DIGIT_STEPS / batches))
        train_gan(model, images, epochs=epochs, loss=loss, seed=seed, progress=False,
                  device="cpu")
        samples = model.sample(len(test), seed=1).cpu()
        fd = metrics.frechet_distance(test, samples, dataset="digits", device="cpu")
        predicted = metrics.classify(samples, "digits", device="cpu").cpu()
        shares = torch.bincount(predicted, minlength=10).double() / len(samples)
        say("digits", loss=loss, epochs=epochs, fd=round(fd, 2),
            classes=int((shares >= 0.02).sum()), smallest_share=round(float(shares.min()), 3),
            seconds=round(time.perf_counter() - start, 1))
"""


def main() -> None:
    sweep_parts(CHILD, PARTS, "Spread of notebook 07's loss table.")


if __name__ == "__main__":
    main()
