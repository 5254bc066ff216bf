"""Spread of the claims of notebook 11_conditional_vae, over seeds and thread counts (full mode).

Each (seed, threads) trains, as notebook 11 does in full mode (same data, same settings, the
seed in place of the notebook's 0 for the models, their training and the GMM fits), the models
its claims need, each once, and prints one line per part as it finishes:

- ``cvae``: the CVAE of sections 1-4 and exercises 1-2: class accuracy of samples (means and
  draws), within-class spread relative to the real digits (features: mean and worst class;
  pixels: samples against the model's reconstructions), the widget's share of 7s, the style
  transfer's accuracy and ink correlation, the generative classifier's accuracy, and tau = 0.5;
- ``inpaint``: section 6 and exercise 3: the inpainting errors of every method on both masks,
  the VAE's median effective sample sizes, the cheap VAE's error and the MAP completion's;
- ``augment``: section 5: train/test ELBO gaps of a Gaussian VAE trained with and without
  augmentation, with the same number of steps.

Run: ``python benchmarks/spread_11_cvae.py [part ...] [--seeds 0 1 ...] [--threads 1 2]`` (all
parts, seeds 0-4 and threads 1 and 2 by default).
"""

from __future__ import annotations

from spread_runner import sweep_parts

PARTS = ("cvae", "inpaint", "augment")

CHILD = r"""
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
seed = int(sys.argv[2])
parts = sys.argv[3].split(",")
from lessons_lib.data import augment, load_digits
from lessons_lib.gmm import GaussianMixture
from lessons_lib.metrics import class_accuracy, classify, features
from lessons_lib.vae import VAE, train_vae

device = "cpu"
x, y = load_digits("train", device=device)
x_val, y_val = load_digits("val", device=device)
x_test, y_test = load_digits("test", device=device)


def report(part, **values):
    print(json.dumps({"part": part, **values}), flush=True)


def r(value, digits=4):
    return round(float(value), digits)


need_cvae = "cvae" in parts or "inpaint" in parts
if need_cvae:
    cvae = VAE((1, 8, 8), latent_dim=8, likelihood="gaussian", n_classes=10, seed=seed)
    train_vae(cvae, x, labels=y, seed=seed, device=device, progress=False)

def part_cvae():
    wanted = torch.arange(10).repeat_interleave(200)
    samples = cvae.decoder_means(len(wanted), wanted, seed=1)
    drawn = cvae.sample(len(wanted), wanted, seed=1)
    acc_mean = class_accuracy(samples, wanted, "digits", device=device)
    acc_drawn = class_accuracy(drawn, wanted, "digits", device=device)

    def spread(images, labels, space):
        points = images.flatten(1) if space == "pixels" else features(images, "digits", device)
        return torch.stack([torch.pdist(points[labels == c]).mean() for c in range(10)])

    real_f = spread(x_test, y_test, "features")
    samples_f = spread(samples, wanted, "features")
    feature_ratio = samples_f / real_f
    real_p = spread(x_test, y_test, "pixels")
    samples_p = (spread(samples, wanted, "pixels") / real_p).mean()
    recon_p = (spread(cvae.reconstruct(x_test, y_test), y_test, "pixels") / real_p).mean()
    widget = cvae.decoder_means(16, 7, seed=0, temperature=1.0)
    agree = (classify(widget, "digits", device) == 7).float().mean()
    many_sources, many_labels = x_test[:100], y_test[:100]
    style, _ = cvae.encode(many_sources, many_labels)
    transferred = torch.stack([cvae.decode(style, c) for c in range(10)])
    targets = torch.arange(10).repeat_interleave(100)
    transfer_acc = class_accuracy(transferred.flatten(0, 1), targets, "digits", device=device)
    ink = torch.stack([many_sources.mean((1, 2, 3)), transferred.mean((0, 2, 3, 4))])
    ink_corr = torch.corrcoef(ink)[0, 1]
    subset, subset_labels = x_test[:100], y_test[:100]
    log_lik = torch.stack([cvae.log_likelihood(subset, c, k=100, seed=0) for c in range(10)], 1)
    bayes = (log_lik.argmax(1) == subset_labels).float().mean()
    cold = cvae.decoder_means(len(wanted), wanted, seed=1, temperature=0.5)
    cold_acc = class_accuracy(cold, wanted, "digits", device=device)
    cold_ratio = (spread(cold, wanted, "features") / samples_f).mean()
    report("cvae", acc_mean=r(acc_mean), acc_drawn=r(acc_drawn),
           feature_mean=r(feature_ratio.mean(), 3), feature_min=r(feature_ratio.min(), 3),
           pixel_samples=r(samples_p, 3), pixel_recon=r(recon_p, 3), widget_7s=r(agree, 3),
           transfer_acc=r(transfer_acc), ink_corr=r(ink_corr, 3), bayes=r(bayes, 3),
           cold_minus_warm=r(cold_acc - acc_mean), cold_ratio=r(cold_ratio, 3))

def part_inpaint():
    truth = x_test[:150]
    mask_gen = torch.Generator().manual_seed(0)
    masks = {
        "random 50%": torch.rand(truth.shape, generator=mask_gen) > 0.5,
        "bottom half": torch.ones_like(truth, dtype=torch.bool),
    }
    masks["bottom half"][:, :, 4:, :] = False
    val_masks = {"random 50%": torch.rand(x_val.shape, generator=mask_gen) > 0.5}
    val_masks["bottom half"] = torch.ones_like(x_val, dtype=torch.bool)
    val_masks["bottom half"][:, :, 4:, :] = False
    settings = [(n, reg) for n in (5, 10, 20) for reg in (1e-3, 1e-2)]
    gmms = {s: GaussianMixture(s[0], "full", reg_covar=s[1], seed=seed, device=device).fit(
        x.flatten(1)) for s in settings}
    gmm_choice = {}
    for mask_name, val_mask in val_masks.items():
        errors = {}
        for s, gmm in gmms.items():
            filled = gmm.inpaint(x_val, val_mask).float()
            errors[s] = float(((filled - x_val)[~val_mask] ** 2).mean())
        gmm_choice[mask_name] = gmms[min(errors, key=errors.get)]
    vae = VAE((1, 8, 8), latent_dim=8, likelihood="gaussian", seed=seed)
    train_vae(vae, x, seed=seed, device=device, progress=False)
    k, n_rounds = 1000, 8
    mean_image = x.mean(0, keepdim=True)
    mse, ess = {}, {}
    for mask_name, mask in masks.items():
        vae_fill, ess_m = vae.inpaint(truth, mask, k=k, n_rounds=n_rounds, seed=0, return_ess=True)
        ess[mask_name] = r(ess_m.median(), 1)
        fills = {
            "mean": torch.where(mask, truth, mean_image),
            "gmm": gmm_choice[mask_name].inpaint(truth, mask).float(),
            "vae": vae_fill,
            "cvae_unknown": cvae.inpaint(truth, mask, k=k // 2, n_rounds=n_rounds // 2 + 1, seed=0),
            "cvae_true": cvae.inpaint(truth, mask, y_test[:150], k=k, n_rounds=n_rounds, seed=0),
        }
        for method, filled in fills.items():
            mse[mask_name, method] = float(((filled - truth)[~mask] ** 2).mean())
    cheap = vae.inpaint(truth, masks["bottom half"], k=max(8, k // 8), n_rounds=1, seed=0)
    cheap_mse = float(((cheap - truth)[~masks["bottom half"]] ** 2).mean())
    mask = masks["random 50%"]
    map_fill = vae.inpaint(truth, mask, method="optimize", n_iter=200)
    mean_fill = vae.inpaint(truth, mask, k=1000, n_rounds=8, seed=1)
    report("inpaint", **{f"{m}|{meth}": r(v) for (m, meth), v in mse.items()},
           ess_random=ess["random 50%"], ess_bottom=ess["bottom half"], cheap=r(cheap_mse),
           map=r(((map_fill - truth)[~mask] ** 2).mean()),
           posterior_mean=r(((mean_fill - truth)[~mask] ** 2).mean()))

def part_augment():
    augmented = torch.cat([x, augment(x, copies=3, seed=seed)])
    values = {}
    for name, data in (("plain", x), ("augmented", augmented)):
        model = VAE((1, 8, 8), latent_dim=8, likelihood="gaussian", seed=seed)
        train_vae(model, data, seed=seed, device=device, progress=False)
        with torch.no_grad():
            train_elbo = float(model.elbo(x, n_samples=10, seed=0).mean())
            test_elbo = float(model.elbo(x_test, n_samples=10, seed=0).mean())
        values[name] = (train_elbo, test_elbo)
    report("augment", **{f"{n}_{w}": r(v, 2) for n, tv in values.items()
                         for w, v in zip(("train", "test"), tv)},
           gap_plain=r(values["plain"][0] - values["plain"][1], 2),
           gap_augmented=r(values["augmented"][0] - values["augmented"][1], 2))

for name in parts:
    globals()[f"part_{name}"]()
"""


def main() -> None:
    sweep_parts(CHILD, PARTS, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
