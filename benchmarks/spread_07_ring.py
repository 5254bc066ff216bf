"""Spread of notebook 07's ring-of-8 claims over seeds and thread counts (full mode).

For seeds 0..4 and 1 and 2 torch threads, trains the models of notebook 07's sections 3-5 on
the ring of 8 exactly as the notebook does (same data, 4,000 generator updates) and prints,
for each, modes covered and the high-quality share of 2,500 samples (seed 100):

* ``textbook``: minimax loss, no batch norm, constant learning rate, no weight averaging; also
  how far its samples lie (share outside the [-3, 3]² window, median distance to the origin),
  the mean optimal D* on its samples (section 4), and the trained D at the under-served mode
  centres against D on its samples, with D* at those centres;
* ``course``: the recommended recipe, and ``raw``: the same run's generator before the weight
  average is loaded (what a run with ``ema_decay=0`` ends with: the average never feeds back);
* ``minimax``: the recipe with the minimax loss; ``no-bn``: the recipe without batch norm.

Each (seed, threads) trains each model once, in its own process. Run:
``nice -n 5 python benchmarks/spread_07_ring.py`` (about 30 minutes on 2 quiet cores).
"""

from __future__ import annotations

from spread_runner import sweep

CHILD = """
import copy, sys, torch
torch.set_num_threads(int(sys.argv[1]))
seed = int(sys.argv[2])
from lessons_lib.data import make_ring, ring_centers
from lessons_lib.gan import (GAN, kde_log_density, mixture_log_density, mode_coverage,
    optimal_discriminator, recommended_settings, train_gan)
STD, STEPS = 0.02, 4000
centers = ring_centers(8)
data, _ = make_ring(5000, std=STD, seed=0, device="cpu")
epochs = max(1, STEPS // (len(data) // recommended_settings("mlp", "minimax")["batch_size"]))

def coverage(model):
    covered, quality = mode_coverage(model.sample(2500, seed=100).cpu(), centers, STD)
    return f"{covered}/8 {quality:.3f}"

def say(*parts):
    print(f"threads={sys.argv[1]} seed={seed}", *parts, flush=True)

# textbook (section 3) and its discriminator (section 4)
model = GAN((2,), latent_dim=2, batch_norm=False, seed=seed)
train_gan(model, data, epochs=epochs, seed=seed, progress=False, loss="minimax",
          lr_decay=False, ema_decay=0.0)
fakes = model.sample(2500, seed=100).cpu()
outside = float((fakes.abs() > 3).any(1).float().mean())
radius = float(fakes.norm(dim=1).median())
d_star_fakes = optimal_discriminator(mixture_log_density(fakes.double(), centers.double(), STD),
                                     kde_log_density(fakes.double())(fakes.double()))
mass = torch.bincount(torch.cdist(fakes, centers).argmin(1), minlength=8) / len(fakes)
under = mass <= 1 / 8
with torch.no_grad():
    d_centres = torch.sigmoid(model.discriminate(centers))
    d_fakes = torch.sigmoid(model.discriminate(fakes)).mean().item()
d_star_centres = optimal_discriminator(mixture_log_density(centers.double(), centers.double(), STD),
                                       kde_log_density(fakes.double())(centers.double()))
say(f"textbook {coverage(model)} outside={outside:.3f} median_radius={radius:.2f}",
    f"mean_Dstar_fakes={float(d_star_fakes.mean()):.3f} n_under={int(under.sum())}",
    f"D_under={float(d_centres[under].mean()):.3f} D_fakes={d_fakes:.3f}",
    f"Dstar_under={float(d_star_centres[under].mean()):.3f}")

# the course recipe (section 5), and its generator before averaging
model = GAN((2,), latent_dim=2, seed=seed)
raw = {}

def keep(epoch, history):
    if epoch == epochs - 1:
        raw["state"] = copy.deepcopy(model.generator.state_dict())

train_gan(model, data, epochs=epochs, seed=seed, progress=False, on_epoch_end=keep)
say(f"course {coverage(model)}")
model.generator.load_state_dict(raw["state"])
say(f"raw {coverage(model)}")

model = GAN((2,), latent_dim=2, seed=seed)
train_gan(model, data, epochs=epochs, seed=seed, progress=False, loss="minimax")
say(f"minimax {coverage(model)}")

model = GAN((2,), latent_dim=2, batch_norm=False, seed=seed)
train_gan(model, data, epochs=epochs, seed=seed, progress=False)
say(f"no-bn {coverage(model)}")
"""


def main() -> None:
    sweep(CHILD)


if __name__ == "__main__":
    main()
