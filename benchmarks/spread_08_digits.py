"""Spread of notebook 08's digits claims over seeds and thread counts (full mode).

For seeds 0..4 and 1 and 2 torch threads, trains the models of notebook 08's digits sections
exactly as the notebook does (same data, settings and budgets), with the model and training
seed set to ``seed`` (sampling seeds as in the notebook), and prints one JSON line per run:

* ``main``: the conditional DCGAN at the recommended budget: D(x), D(G(z)) over the last
  quarter, FD / FD of uniform noise, class accuracy, within-class diversity against the test
  digits, recall / the floor's recall, median nearest-train distance / the floor's, the widget's
  sevens read as 7, the diversity at truncation 0.5, 1 and none, the slerp walk's largest step
  against its whole, exercise 1's curve and exercise 2's distances;
* ``short``: the same run's generator after ``SHORT`` epochs (exercise 3's budget) and a GAN
  whose discriminator reads the class as ten input channels instead of the projection, trained
  as long: class accuracy and FD of each; exercise 3's run without the minibatch spread;
* ``restore``: the L1-only and the pix2pix restorers: L1 error, FD, bottom-half contrast.

Run: ``nice -n 5 python benchmarks/spread_08_digits.py [seeds...]`` (about 30 minutes on 2
quiet cores for the 10 runs).
"""

from __future__ import annotations

from spread_runner import sweep

CHILD = r"""
import copy, json, sys, torch
import numpy as np
from torch import nn
from torch.nn import functional as F
threads, seed = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
from lessons_lib import metrics
from lessons_lib.data import load_digits
from lessons_lib.gan import (GAN, ImageTranslator, corrupt_images, interpolate_latents,
    recommended_epochs, train_gan, train_translator, within_class_diversity)

SHORT = 40
images, labels = load_digits("train", device="cpu")
test, test_labels = load_digits("test", device="cpu")
out = {"threads": threads, "seed": seed}
r3 = lambda v: round(float(v), 3)

def say(part, **values):
    print(json.dumps({"threads": threads, "seed": seed, "part": part, **values}), flush=True)

model = GAN((1, 8, 8), latent_dim=32, n_classes=10, arch="dcgan", seed=seed)
epochs = recommended_epochs(model, len(images))
early = {}

def keep(epoch, history):
    if epoch == SHORT - 1:
        early["state"] = copy.deepcopy(model.generator.state_dict())

history = train_gan(model, images, labels=labels, epochs=epochs, seed=seed, progress=False,
                    on_epoch_end=keep)
late = slice(-max(1, len(history["d_real"]) // 4), None)
eval_labels = torch.arange(len(test)) % 10
samples = model.sample(len(test), labels=eval_labels, seed=1).cpu()
table = metrics.calibration_table("digits")
row = metrics.evaluate_samples(samples, eval_labels, dataset="digits", name="ours")
floor, noise = table.row("test set (floor)"), table.row("uniform noise")
real_div = within_class_diversity(test, test_labels)
sevens = metrics.classify(model.sample(32, labels=7, seed=0).cpu(), "digits").cpu()
many = torch.arange(500) % 10
trunc = [within_class_diversity(model.sample(500, labels=many, seed=3, truncation=t).cpu(), many)
         for t in (0.5, 1.0, None)]
z0, z1 = model.latent(2, seed=11).cpu()
z1 = z1 / z1.norm() * z0.norm()
walk = model.generate(interpolate_latents(z0, z1, 10), 2).cpu().flatten(1)
curve = []
for t in (0.25, 0.5, 1.0, 1.5, 2.0, None):
    s = model.sample(500, labels=many, seed=5, truncation=t).cpu()
    curve.append([r3(metrics.class_accuracy(s, many, dataset="digits")),
                  r3(within_class_diversity(s, many))])
gan_d = metrics.nearest_train_distance(samples[:300], images).distance
test_d = metrics.nearest_train_distance(test[:300], images).distance
say("main", d_real=r3(np.mean(history["d_real"][late])),
    d_fake=r3(np.mean(history["d_fake"][late])),
    fd=r3(row["fd"]), fd_over_noise=r3(row["fd"] / noise["fd"]), acc=r3(row["class_accuracy"]),
    diversity=r3(within_class_diversity(samples, eval_labels) / real_div),
    recall=r3(row["recall"]), recall_over_floor=r3(row["recall"] / floor["recall"]),
    precision=r3(row["precision"]), ndb=row["ndb"],
    nn_train=r3(row["nearest_train"]),
    nn_over_floor=r3(row["nearest_train"] / floor["nearest_train"]),
    sevens=r3((sevens == 7).float().mean()), trunc=[r3(v) for v in trunc],
    walk_step_over_whole=r3((walk[1:] - walk[:-1]).norm(dim=1).max() / (walk[-1] - walk[0]).norm()),
    curve=curve, ex2_ratio=r3(np.median(gan_d) / np.median(test_d)))

# exercise 3's budget: the same run after SHORT epochs, and a label-as-channels discriminator
class LabelChannels(nn.Module):
    def __init__(self, body, n_classes):
        super().__init__()
        self.body, self.n_classes = body, n_classes
    def forward(self, x, labels):
        planes = F.one_hot(labels, self.n_classes).to(x.dtype)[:, :, None, None]
        return self.body(torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], dim=1), labels)

projection = GAN((1, 8, 8), latent_dim=32, n_classes=10, arch="dcgan", seed=seed)
projection.generator.load_state_dict(early["state"])
channel = GAN((1, 8, 8), latent_dim=32, n_classes=10, arch="dcgan", seed=seed)
channel.discriminator = LabelChannels(
    GAN((11, 8, 8), latent_dim=32, arch="dcgan", seed=seed).discriminator, 10)
train_gan(channel, images, labels=labels, epochs=SHORT, seed=seed, progress=False)
scores = {}
for name, m in (("projection", projection), ("channel", channel)):
    s = m.sample(len(test), labels=eval_labels, seed=1).cpu()
    r = metrics.evaluate_samples(s, eval_labels, dataset="digits", name=name)
    scores[name] = [r3(r["class_accuracy"]), r3(r["fd"]),
                    r3(within_class_diversity(s, eval_labels) / real_div)]
flat_model = GAN((1, 8, 8), latent_dim=32, n_classes=10, arch="dcgan", minibatch_std=False,
                 seed=seed)
train_gan(flat_model, images, labels=labels, epochs=SHORT, seed=seed, progress=False)
ratios = [within_class_diversity(m.sample(500, labels=many, seed=0).cpu(), many) / real_div
          for m in (projection, flat_model)]
say("short", projection_acc_fd_div=scores["projection"], channel_acc_fd_div=scores["channel"],
    ex3_spread_on=r3(ratios[0]), ex3_spread_off=r3(ratios[1]))

erased, test_erased = corrupt_images(images, "mask"), corrupt_images(test, "mask")
res = {}
for adversarial in (False, True):
    restorer = ImageTranslator((1, 8, 8), seed=seed)
    train_translator(restorer, erased, images, epochs=40, adversarial=adversarial, seed=seed,
                     progress=False)
    o = restorer.translate(test_erased).cpu()
    res["adv" if adversarial else "l1"] = [r3((o - test).abs().mean()),
        r3(metrics.frechet_distance(test, o, dataset="digits")),
        r3((o[:, :, 4:] - 0.5).abs().mean())]
say("restore", l1_fd_contrast_L1only=res["l1"], l1_fd_contrast_pix2pix=res["adv"])
"""


def main() -> None:
    sweep(CHILD)


if __name__ == "__main__":
    main()
