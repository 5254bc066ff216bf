"""Spread of notebook 08's unconditional-DCGAN claims over seeds and thread counts (full mode).

For seeds 0..4 and 1 and 2 torch threads, trains the models of notebook 08's section 1 and of
its "what conditioning adds" comparison exactly as the notebook does (same data, settings and
budget, ``UNCOND_EPOCHS`` epochs), with the model and training seed set to ``seed`` (sampling
seeds as in the notebook), and prints one JSON line per part:

* ``uncond``: the unconditional DCGAN of section 1: D(x), D(G(z)) over the last quarter, FD, FD
  / FD of uniform noise, FD / the test set without the nines' FD, precision, recall / the
  floor's recall, median nearest-train distance / the floor's, the classes the feature
  network's classifier reads among its 359 samples (counts, classes covered by at least
  ``MIN_COUNT`` samples, the largest and smallest share) and the seconds of training;
* ``cond``: the class-conditional DCGAN of section 2 after the same number of epochs (the
  notebook reads it from its long run at that epoch: the same weights, since the shuffling
  and every z are drawn epoch by epoch from the run's seed and the DCGAN settings have no
  learning-rate decay or weight average): the same numbers for samples asked for classes
  0-9 in turn, plus class accuracy;
* ``init``: the unconditional DCGAN with Radford et al.'s N(0, 0.02) initialisation
  (exercise 4's ``dcgan_init``, drawn from a generator seeded with ``seed``), trained the same
  way: the same numbers as ``uncond``; the notebook does not train it (it states no number of
  it), the line says what exercise 4's optional last step would find.

Run: ``nice -n 5 python benchmarks/spread_08_unconditional.py [part ...] [--seeds 0 1 ...]
[--threads 1 2]`` (all parts, seeds 0-4 and threads 1 and 2 by default; about a minute per
part and run on 2 quiet cores).
"""

from __future__ import annotations

from spread_runner import sweep_parts

PARTS = ("uncond", "cond", "init")

CHILD = r"""
import json, sys, time, torch
import numpy as np
from torch import nn
threads, seed = int(sys.argv[1]), int(sys.argv[2])
parts = sys.argv[3].split(",")
torch.set_num_threads(threads)
from lessons_lib import metrics
from lessons_lib.data import load_digits
from lessons_lib.gan import GAN, train_gan

UNCOND_EPOCHS = 40  # the notebook's budget of section 1 (SHORT, the conditional short runs')
MIN_COUNT = 10  # a class is covered when the classifier reads it in >= 10 of the 359 samples
images, labels = load_digits("train", device="cpu")
test, test_labels = load_digits("test", device="cpu")
eval_labels = torch.arange(len(test)) % 10
table = metrics.calibration_table("digits")
floor, noise = table.row("test set (floor)"), table.row("uniform noise")
without = table.row("test set without class 9")
r3 = lambda v: round(float(v), 3)


def say(part, **values):
    print(json.dumps({"part": part, **values}), flush=True)


def dcgan_init(module, generator):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02, generator=generator)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02, generator=generator)
        nn.init.zeros_(module.bias)


def measure(model, conditional):
    start = time.perf_counter()
    history = train_gan(model, images, labels=labels if conditional else None,
                        epochs=UNCOND_EPOCHS, seed=seed, progress=False)
    seconds = time.perf_counter() - start
    late = slice(-max(1, len(history["d_real"]) // 4), None)
    wanted = eval_labels if conditional else None
    samples = model.sample(len(test), labels=wanted, seed=1).cpu()
    row = metrics.evaluate_samples(samples, wanted, dataset="digits", name="ours")
    counts = torch.bincount(metrics.classify(samples, "digits").cpu(), minlength=10)
    share = counts.float() / len(samples)
    out = dict(
        d_real=r3(np.mean(history["d_real"][late])), d_fake=r3(np.mean(history["d_fake"][late])),
        fd=r3(row["fd"]), fd_over_noise=r3(row["fd"] / noise["fd"]),
        fd_over_without9=r3(row["fd"] / without["fd"]), precision=r3(row["precision"]),
        recall_over_floor=r3(row["recall"] / floor["recall"]),
        nn_over_floor=r3(row["nearest_train"] / floor["nearest_train"]),
        counts=counts.tolist(), covered=int((counts >= MIN_COUNT).sum()),
        max_share=r3(share.max()), min_share=r3(share.min()), train_s=round(seconds, 1),
    )
    if conditional:
        out["acc"] = r3(row["class_accuracy"])
    return out


if "uncond" in parts:
    say("uncond", **measure(GAN((1, 8, 8), latent_dim=32, arch="dcgan", seed=seed), False))
if "cond" in parts:
    cond = GAN((1, 8, 8), latent_dim=32, n_classes=10, arch="dcgan", seed=seed)
    say("cond", **measure(cond, True))
if "init" in parts:
    model = GAN((1, 8, 8), latent_dim=32, arch="dcgan", seed=seed)
    generator = torch.Generator().manual_seed(seed)
    model.apply(lambda m: dcgan_init(m, generator))
    say("init", **measure(model, False))
"""


def main() -> None:
    sweep_parts(CHILD, PARTS, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
