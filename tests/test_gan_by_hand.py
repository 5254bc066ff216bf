"""The GAN step written by hand, as notebooks 07 and 08 write it, is the library's, bit for bit.

Notebook 07 (section 2) writes both players' losses from logits, one alternating update with
``zero_grad`` / ``backward`` / ``step``, the loop that ``train_gan`` runs, and a ``GAN``
subclass whose ``training_step`` is the hand-written one; it then trains its ring GANs with
that subclass and promises the library's numbers. These tests keep that promise checked
without running the notebook: if the library's step changes its order of operations, they fail.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn import functional as F

from lessons_lib import seed_everything
from lessons_lib.data import make_ring
from lessons_lib.gan import GAN, train_gan

CPU = "cpu"


def _d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


G_LOSSES = {
    "minimax": lambda fake_logits: -F.softplus(fake_logits).mean(),
    "non-saturating": lambda fake_logits: F.softplus(-fake_logits).mean(),
}


def _step(model: GAN, real: torch.Tensor, opt_g, opt_d, g_loss) -> dict[str, float]:
    """The notebook's ``gan_step``: one D update on detached fakes, one G update through D."""
    generator, discriminator = model.generator, model.discriminator
    fake = generator(torch.randn(len(real), model.latent_dim, device=real.device))
    real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
    d_loss = _d_loss(real_logits, fake_logits)
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    discriminator.requires_grad_(False)
    g = g_loss(discriminator(fake))
    opt_g.zero_grad()
    g.backward()
    opt_g.step()
    discriminator.requires_grad_(True)
    return {
        "d_loss": d_loss.item(),
        "g_loss": g.item(),
        "d_real": torch.sigmoid(real_logits).mean().item(),
        "d_fake": torch.sigmoid(fake_logits).mean().item(),
    }


class _HandGAN(GAN):
    """The notebook's ``MyGAN``."""

    def training_step(self, batch, optimizers):
        run = self.adversarial_run
        out = _step(
            self, batch[0], optimizers["generator"], optimizers["discriminator"], G_LOSSES[run.loss]
        )
        run.after_generator_update(self.generator)
        return out


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("loss", ["non-saturating", "minimax"])
def test_one_hand_step_is_the_library_step(loss):
    real, _ = make_ring(64, std=0.02, seed=1, device=CPU)
    library = GAN((2,), latent_dim=2, width=16, seed=0)
    mine = copy.deepcopy(library)
    library_opt = library.configure_optimizers(loss=loss)
    my_opt = mine.configure_optimizers(loss=loss)
    torch.manual_seed(7)
    expected = library.training_step([real], library_opt)
    torch.manual_seed(7)
    got = _step(mine, real, my_opt["generator"], my_opt["discriminator"], G_LOSSES[loss])
    assert got == expected
    for p, q in zip(library.parameters(), mine.parameters()):
        assert torch.equal(p.grad, q.grad)
    assert _same_state(library, mine)


def test_the_hand_loop_is_train_gan():
    data, _ = make_ring(256, std=0.02, seed=2, device=CPU)
    by_hand = GAN((2,), latent_dim=2, width=16, seed=0)
    opt = by_hand.configure_optimizers()
    seed_everything(0)
    shuffler = torch.Generator().manual_seed(0)
    for _ in range(2):
        order = torch.randperm(len(data), generator=shuffler)
        for first in range(0, len(data) - 64 + 1, 64):
            real = data[order[first : first + 64]]
            _step(by_hand, real, opt["generator"], opt["discriminator"], G_LOSSES["non-saturating"])
    library = GAN((2,), latent_dim=2, width=16, seed=0)
    train_gan(library, data, epochs=2, batch_size=64, seed=0, lr_decay=False, ema_decay=0.0,
              progress=False, device=CPU)  # fmt: skip
    assert _same_state(library, by_hand)


@pytest.mark.parametrize("loss", ["non-saturating", "minimax"])
def test_a_subclass_with_the_hand_step_reproduces_train_gan(loss):
    """With the full 2-D recipe: learning-rate decay, weight average, its final loading."""
    data, _ = make_ring(256, std=0.02, seed=2, device=CPU)
    models = [cls((2,), latent_dim=2, width=16, seed=0) for cls in (GAN, _HandGAN)]
    histories = [
        train_gan(m, data, epochs=3, batch_size=64, loss=loss, seed=0, progress=False, device=CPU)
        for m in models
    ]
    assert _same_state(*models)
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert histories[0][key] == histories[1][key]


def test_hinge_losses_by_hand_are_the_library_loss():
    """Notebook 07's exercise 4, graded against ``GAN.loss``."""
    model = GAN((2,), latent_dim=2, width=16, seed=0)
    model.configure_optimizers(loss="hinge")
    batch, _ = make_ring(64, std=0.02, seed=3, device=CPU)
    torch.manual_seed(5)
    terms = model.loss([batch])
    torch.manual_seed(5)
    fake = model.generator(torch.randn(len(batch), model.latent_dim))
    d = F.relu(1 - model.discriminator(batch)).mean() + F.relu(1 + model.discriminator(fake)).mean()
    assert torch.equal(terms["d_loss"], d)
    assert torch.equal(terms["g_loss"], -model.discriminator(fake).mean())


def test_the_naive_log_sigmoid_fails_where_softplus_does_not():
    """Why the notebook writes the losses with softplus: log σ(ℓ) underflows for ℓ = -120."""
    logit = torch.tensor([-120.0], requires_grad=True)
    (naive,) = torch.autograd.grad(torch.log(torch.sigmoid(logit)).sum(), logit)
    (stable,) = torch.autograd.grad((-F.softplus(-logit)).sum(), logit)
    assert torch.isnan(naive).all() and stable.item() == 1.0


# Notebook 08 (section 2) writes where the class enters a conditional DCGAN: G reads [z, e_y],
# the projection logit is w·φ(x) + b + v_y·φ(x), and each fake gets its real neighbour's class.


def _conditional_losses(model: GAN, real: torch.Tensor, y: torch.Tensor, z: torch.Tensor):
    generator, discriminator = model.generator, model.discriminator
    fake = torch.sigmoid(
        generator.body(torch.cat([z, generator.embed(y)], 1)).reshape(len(z), *model.data_shape)
    )

    def logits(x):
        h = discriminator.stem(x)
        if discriminator.spread is not None:  # the class-wise minibatch spread
            h = discriminator.spread(h, y)
        phi = discriminator.trunk(h)
        return discriminator.head(phi).squeeze(1) + (discriminator.project(y) * phi).sum(1)

    d_loss = F.softplus(-logits(real)).mean() + F.softplus(logits(fake.detach())).mean()
    return d_loss, F.softplus(-logits(fake)).mean()


@pytest.mark.parametrize("minibatch_std", [True, False])
def test_conditional_losses_by_hand_equal_the_library_loss(minibatch_std):
    torch.manual_seed(3)
    real = torch.rand(32, 1, 8, 8)
    y = torch.randint(0, 10, (32,))
    model = GAN((1, 8, 8), latent_dim=8, n_classes=10, arch="dcgan", seed=0,
                minibatch_std=minibatch_std)  # fmt: skip
    with torch.no_grad():  # a trained-looking projection, so the class term is not zero
        model.discriminator.project.weight.normal_(0.0, 0.1)
    mine, library = copy.deepcopy(model), copy.deepcopy(model)
    torch.manual_seed(7)
    d_mine, g_mine = _conditional_losses(mine, real, y, torch.randn(32, 8))
    torch.manual_seed(7)
    out = library.loss([real, y])
    assert torch.equal(d_mine, out["d_loss"]) and torch.equal(g_mine, out["g_loss"])
    for net in ("discriminator", "generator"):
        loss_mine, loss_lib = (d_mine, out["d_loss"]) if net == "discriminator" else (
            g_mine, out["g_loss"])  # fmt: skip
        mine_grads = torch.autograd.grad(loss_mine, list(getattr(mine, net).parameters()),
                                         retain_graph=True)  # fmt: skip
        lib_grads = torch.autograd.grad(loss_lib, list(getattr(library, net).parameters()),
                                        retain_graph=True, allow_unused=True)  # fmt: skip
        assert all(torch.equal(a, b) for a, b in zip(mine_grads, lib_grads))
    torch.manual_seed(7)
    step = model.training_step([real, y], model.configure_optimizers())
    assert step["d_loss"] == d_mine.item()
