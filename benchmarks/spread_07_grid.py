"""Spread of notebook 07's 25-mode grid claim over seeds and thread counts (full mode).

Trains the course's 2-D GAN on the 5×5 grid exactly as notebook 07 does (same data, same
budget), for seeds 0..4 and 1 and 2 threads, and prints the modes covered and the share of
high-quality samples. Run: ``python benchmarks/spread_07_grid.py`` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
from lessons_lib.data import grid_centers, make_grid, make_ring
from lessons_lib.gan import GAN, mode_coverage, recommended_settings, train_gan
STEPS = {steps}
ring, _ = make_ring(5000, std=0.02, seed=0, device="cpu")
epochs = max(1, STEPS // (len(ring) // recommended_settings("mlp", "minimax")["batch_size"]))
seed = int(sys.argv[2])
data, _ = make_grid(5000, std=0.05, seed=0, device="cpu")
model = GAN((2,), latent_dim=2, seed=seed)
train_gan(model, data, epochs=epochs, seed=seed, progress=False, device="cpu")
covered, quality = mode_coverage(model.sample(2500, seed=100).cpu(), grid_centers(5), 0.05)
print(covered, round(quality, 3))
"""


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    for threads in (1, 2):
        for seed in range(5):
            out = subprocess.run(
                [sys.executable, "-c", CHILD.format(steps=steps), str(threads), str(seed)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            print(f"threads={threads} seed={seed}: {out[0]}/25 modes, {out[1]} high quality")


if __name__ == "__main__":
    main()
