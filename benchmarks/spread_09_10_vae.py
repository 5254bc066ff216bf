"""Spread of the claims of notebooks 09_elbo and 10_vae, over seeds and thread counts (full mode).

Each (seed, threads) trains, as the notebooks do in full mode (same data, same settings, the
seed in place of the notebooks' 0 for the models and their training), the models their claims
need, each once, and prints one line per part as it finishes:

- ``ae``: the autoencoder of 10_vae section 1 (beta = 0): its KL to the prior (the rate of
  section 8) and its mean encoder std;
- ``linear``: the linear VAEs of 09_elbo section 5: gap to the pPCA maximum (%), largest
  principal angle, and the diagonal posterior's gap minus the full posterior's;
- ``iwae_exact``: 09_elbo section 6 and exercise 4: the IWAE bound of the untrained linear VAE
  for k = 1, 10, 100, 1000 (the seed seeds the draws), the share of the ELBO's gap left at
  k = 1000, L_1 - ELBO in standard errors, and the trained full-posterior VAE's largest
  |L_1 - log p(x)|;
- ``bern``: the Bernoulli VAE of 10_vae sections 2-3 and 5: ELBO rise, the share of test
  digits whose code z ~ q(z|x) has |z| < 1 and their mean |z|, the spread of decoder means,
  |decode(0) - E[x]|, the IWAE bound for k = 1, 10, 100, 1000, and exercise 1's variety at
  tau = 0.3, 0.6, 1;
- ``grey``: the Gaussian VAE of 10_vae section 4: the largest corner std against the median;
- ``deq``: 10_vae section 5's grey-level comparison: the Gaussian VAE's IWAE bound and the
  GMM's exact log-density on the same dequantized test digits;
- ``flat``: the 2-D latent of 10_vae section 7: the aggregate posterior's second moments;
- ``wide``: the 32-unit VAE of 10_vae section 8: the number of active units (KL > 0.05 nats);
- ``betas``: the beta sweep of 10_vae section 8: rates and distortions;
- ``by_hand``: 10_vae section 9: the VAE written by hand, its ELBO minus the library's on the
  same batch and seed (weights copied from an untrained library VAE), and the rise of its
  ELBO over 20 epochs of ``fit_model`` (the seed seeds its weights and the loop).

Run: ``python benchmarks/spread_09_10_vae.py [part ...] [--seeds 0 1 ...] [--threads 1 2]`` (all
parts, seeds 0-4 and threads 1 and 2 by default; about an hour on 2 quiet cores).
"""

from __future__ import annotations

from spread_runner import sweep_parts

PARTS = ("ae", "linear", "iwae_exact", "bern", "grey", "deq", "flat", "wide", "betas", "by_hand")

CHILD = r"""
import json, math, sys, torch
torch.set_num_threads(int(sys.argv[1]))
seed = int(sys.argv[2])
parts = sys.argv[3].split(",")
import numpy as np
from scipy.linalg import subspace_angles
from torch import nn
from torch.nn import functional as F
from lessons_lib import seed_everything
from lessons_lib.core import GenerativeModule, fit_model
from lessons_lib.data import load_digits
from lessons_lib.gmm import GaussianMixture
from lessons_lib.vae import (
    VAE, LinearGaussianVAE, dequantize, ppca_log_likelihood, ppca_mle, train_vae
)

device = "cpu"
x_bin, _ = load_digits("train", binarize=True, device=device)
x_bin_test, _ = load_digits("test", binarize=True, device=device)
x_grey, _ = load_digits("train", device=device)
x_grey_val, _ = load_digits("val", device=device)
x_grey_test, _ = load_digits("test", device=device)


def report(part, **values):
    print(json.dumps({"part": part, **values}), flush=True)


def part_ae():
    ae = VAE((1, 8, 8), latent_dim=8, seed=seed)
    train_vae(ae, x_bin, beta=0.0, seed=seed, device=device, progress=False)
    _, logvar = ae.encode(x_bin_test)
    report("ae", kl=round(float(ae.kl_per_dimension(x_bin_test).sum()), 1),
           std=round(float((0.5 * logvar).exp().mean()), 4))

def linear_data():
    gen = torch.Generator().manual_seed(0)
    D, L, N = 10, 2, 1000
    W_true = torch.randn(D, L, generator=gen) * torch.tensor([2.0, 1.0])
    b_true = torch.randn(D, generator=gen)
    X = torch.randn(N, L, generator=gen) @ W_true.T + b_true
    return X + 0.5 * torch.randn(N, D, generator=gen), D, L

def part_linear():
    X, D, L = linear_data()
    W_mle, b_mle, sigma2_mle = ppca_mle(X, L)
    exact_best = float(ppca_log_likelihood(X, W_mle, b_mle, sigma2_mle).mean())
    linear = LinearGaussianVAE(D, L, seed=seed)
    settings = dict(epochs=150, batch_size=100, lr=2e-2, seed=seed, device=device, progress=False)
    train_vae(linear, X, **settings)
    with torch.no_grad():
        elbo_linear = float(linear.elbo(X).mean())
    exact_linear = float(linear.exact_log_likelihood(X).mean())
    angles = np.degrees(subspace_angles(linear.W.detach().numpy(), W_mle.numpy()))
    diagonal = LinearGaussianVAE(D, L, posterior="diagonal", seed=seed)
    train_vae(diagonal, X, **settings)
    with torch.no_grad():
        gap_diag = float((diagonal.exact_log_likelihood(X) - diagonal.elbo(X)).mean())
    report("linear", gap_percent=round(100 * (exact_best - elbo_linear) / abs(exact_best), 4),
           max_angle=round(float(angles.max()), 4),
           diag_minus_full=round(gap_diag - (exact_linear - elbo_linear), 5))

def part_iwae_exact():
    # The notebook's untrained model (seed=1) and data are fixed; the seed seeds the draws.
    X, D, L = linear_data()
    untrained = LinearGaussianVAE(D, L, seed=1)
    with torch.no_grad():
        elbo = untrained.elbo(X)
    exact = untrained.exact_log_likelihood(X)
    iwae = {k: untrained.log_likelihood(X, k=k, seed=seed) for k in (1, 10, 100, 1000)}
    one_draw = iwae[1] - elbo
    stderr = one_draw.std() / math.sqrt(len(X))
    gap_left = float((exact.mean() - iwae[1000].mean()) / (exact.mean() - elbo.mean()))
    linear = LinearGaussianVAE(D, L, seed=0)
    train_vae(linear, X, epochs=150, batch_size=100, lr=2e-2, seed=0, device=device,
              progress=False)
    trained_err = float((linear.log_likelihood(X, k=1, seed=seed)
                         - linear.exact_log_likelihood(X)).abs().max())
    report("iwae_exact", elbo=round(float(elbo.mean()), 3), exact=round(float(exact.mean()), 3),
           iwae=[round(float(v.mean()), 3) for v in iwae.values()],
           gap_left_percent=round(100 * gap_left, 2),
           l1_minus_elbo_stderr=round(float(one_draw.mean() / stderr), 2),
           untrained_err=round(float((iwae[1] - exact).abs().max()), 3),
           trained_err=round(trained_err, 5))

def part_bern():
    bern = VAE((1, 8, 8), latent_dim=8, likelihood="bernoulli", seed=seed)
    hist = train_vae(bern, x_bin, seed=seed, device=device, progress=False)
    mu, logvar = bern.encode(x_bin_test)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))
    code_norms = (mu + (0.5 * logvar).exp() * eps).norm(dim=1)
    zero_image = bern.decode(torch.zeros(1, 8))
    many = bern.decoder_means(2000, seed=2)
    spread = float(torch.cdist(many[:200].flatten(1), many[:200].flatten(1)).mean())
    distance = float((zero_image - many.mean(0, keepdim=True)).norm())
    iwae = [
        round(float(bern.log_likelihood(x_bin_test, k=k, seed=0).mean()), 3)
        for k in (1, 10, 100, 1000)
    ]
    with torch.no_grad():
        elbo = float(bern.elbo(x_bin_test, n_samples=100, seed=0).mean())
    variety = []
    for tau in (0.3, 0.6, 1.0):
        images = bern.decoder_means(300, seed=5, temperature=tau).flatten(1)
        variety.append(round(float(torch.cdist(images, images).mean()), 3))
    report("bern", elbo_rise=round(hist["elbo"][-1] - hist["elbo"][0], 2),
           below_1=round(float((code_norms < 1).float().mean()), 4),
           mean_norm=round(float(code_norms.mean()), 3), spread=round(spread, 3),
           distance=round(distance, 3), elbo=round(elbo, 3), iwae=iwae, variety=variety,
           unique_means=len(torch.unique(bern.decoder_means(16, seed=1))))

def part_grey():
    grey = VAE((1, 8, 8), latent_dim=8, likelihood="gaussian", seed=seed)
    train_vae(grey, x_grey, seed=seed, device=device, progress=False)
    pixel_std = grey.pixel_std().detach()
    corners = pixel_std[0, [0, 0, -1, -1], [0, -1, 0, -1]]
    report("grey", corner_max=round(float(corners.max()), 4),
           median=round(float(pixel_std.median()), 4))

def part_deq():
    y_grey_train = dequantize(x_grey, 17, copies=4, seed=0)
    y_grey_val = dequantize(x_grey_val, 17, seed=1)
    y_grey_eval = dequantize(x_grey_test, 17, seed=2)
    deq_vae = VAE((1, 8, 8), latent_dim=8, likelihood="gaussian", seed=seed)
    train_vae(deq_vae, y_grey_train, seed=seed, device=device, progress=False)
    with torch.no_grad():
        elbo_deq = float(deq_vae.elbo(y_grey_eval, n_samples=100, seed=0).mean())
    iwae_deq = float(deq_vae.log_likelihood(y_grey_eval, k=1000, seed=0).mean())
    fits = {n: GaussianMixture(n, "full", reg_covar=1e-3, seed=seed, device=device).fit(
        y_grey_train.flatten(1)) for n in (5, 10, 20)}
    best_k = max(fits, key=lambda n: float(fits[n].score(y_grey_val.flatten(1))))
    gmm_ll = float(torch.as_tensor(fits[best_k].score_samples(y_grey_eval.flatten(1))).mean())
    report("deq", elbo=round(elbo_deq, 2), iwae=round(iwae_deq, 2), gmm=round(gmm_ll, 2),
           gmm_k=best_k, iwae_minus_gmm=round(iwae_deq - gmm_ll, 2))

def part_flat():
    flat = VAE((1, 8, 8), latent_dim=2, likelihood="bernoulli", seed=seed)
    train_vae(flat, x_bin, seed=seed, device=device, progress=False)
    mu, logvar = flat.encode(x_bin_test)
    report("flat", second_moment=[round(float(v), 3) for v in (mu**2 + logvar.exp()).mean(0)])

def part_wide():
    wide = VAE((1, 8, 8), latent_dim=32, likelihood="bernoulli", seed=seed)
    train_vae(wide, x_bin, seed=seed, device=device, progress=False)
    kl_units = wide.kl_per_dimension(x_bin_test)
    report("wide", active=int((kl_units > 0.05).sum()),
           kl_sorted=[round(float(v), 3) for v in kl_units.sort(descending=True).values[:14]])

def part_betas():
    rates, distortions = [], []
    for beta in (0.1, 0.3, 1.0, 3.0, 8.0):
        model = VAE((1, 8, 8), latent_dim=8, likelihood="bernoulli", seed=seed)
        train_vae(model, x_bin, beta=beta, epochs=100, seed=seed, device=device, progress=False)
        with torch.no_grad():
            recon, kl = model.elbo_terms(x_bin_test, n_samples=10, seed=0)
        rates.append(round(float(kl.mean()), 2))
        distortions.append(round(float(-recon.mean()), 2))
    report("betas", rates=rates, distortions=distortions)

class Encoder(nn.Module):
    def __init__(self, n_pixels=64, hidden=256, latent_dim=8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(n_pixels, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2 * latent_dim))

    def forward(self, x):
        return self.net(x).chunk(2, dim=1)

class Decoder(nn.Module):
    def __init__(self, latent_dim=8, hidden=256, shape=(1, 8, 8)):
        super().__init__()
        self.shape = shape
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, math.prod(shape)))

    def forward(self, z):
        return self.net(z).view(-1, *self.shape)

def elbo_by_hand(encoder, decoder, x):
    mu, logvar = encoder(x)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    logits = decoder(z)
    log_px = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    return log_px - 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)

class ByHandVAE(GenerativeModule):
    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = Encoder(), Decoder()

    def loss(self, batch):
        elbo = elbo_by_hand(self.encoder, self.decoder, batch[0]).mean()
        return {"loss": -elbo, "elbo": elbo.detach()}

    def sample(self, n, labels=None, seed=None):
        raise NotImplementedError

def part_by_hand():
    library = VAE((1, 8, 8), latent_dim=8, likelihood="bernoulli", seed=seed)
    encoder, decoder = Encoder(), Decoder()
    with torch.no_grad():
        for mine, theirs in ((encoder, library.encoder), (decoder, library.decoder)):
            for a, b in zip(mine.parameters(), theirs.parameters(), strict=True):
                a.copy_(b)
        torch.manual_seed(seed)
        theirs = float(library.loss([x_bin_test[:128]])["elbo"])
        torch.manual_seed(seed)
        mine = float(elbo_by_hand(encoder, decoder, x_bin_test[:128]).mean())
    seed_everything(seed)
    model = ByHandVAE()
    hist = fit_model(model, x_bin, epochs=20, batch_size=128, seed=seed, device=device,
                     progress=False)
    report("by_hand", match_diff=mine - theirs, first=round(hist["elbo"][0], 2),
           last=round(hist["elbo"][-1], 2), rise=round(hist["elbo"][-1] - hist["elbo"][0], 2))

for name in parts:
    globals()[f"part_{name}"]()
"""


def main() -> None:
    sweep_parts(CHILD, PARTS, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
