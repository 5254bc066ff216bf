"""Adding a model is one subclass: a toy model trains with the one loop and samples.

The toy model is the example of ``docs/adding_a_model.md``: a diagonal Gaussian whose mean and
log standard deviation are learned by maximum likelihood with the course's training loop. It
must stay under 40 lines, which the test checks.
"""

import inspect
import math

import pytest
import torch

from lessons_lib.core import GenerativeModule, fit_model
from lessons_lib.core.random import make_generator


class ToyGaussian(GenerativeModule):
    """A diagonal Gaussian over (N, D) points, fitted by maximum likelihood."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mean = torch.nn.Parameter(torch.zeros(dim))
        self.log_std = torch.nn.Parameter(torch.zeros(dim))

    def settings(self) -> dict:
        return {"dim": self.dim}

    def log_prob(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        z = (x - self.mean) / self.log_std.exp()  # (N, D)
        return (-0.5 * z**2 - self.log_std - 0.5 * math.log(2 * math.pi)).sum(1)  # (N,)

    def loss(self, batch: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        nll = -self.log_prob(batch[0]).mean()
        return {"loss": nll, "nll": nll}

    def sample(self, n: int, labels=None, seed: int | None = None) -> torch.Tensor:
        gen = make_generator(seed, self.device)
        noise = torch.randn(n, self.dim, generator=gen, device=self.device)
        return (self.mean + self.log_std.exp() * noise).detach()  # (n, D)


def test_the_toy_model_is_under_40_lines():
    assert len(inspect.getsource(ToyGaussian).splitlines()) < 40


def test_a_toy_model_trains_with_the_loop_and_samples():
    gen = torch.Generator().manual_seed(0)
    data = torch.randn(2000, 3, generator=gen) * torch.tensor([0.5, 1.0, 2.0]) + 3.0
    model = ToyGaussian(3)
    history = fit_model(model, data, epochs=60, batch_size=200, lr=0.05, seed=0, progress=False)
    assert history["nll"][-1] < history["nll"][0]  # the loop really optimised
    # Maximum likelihood: the mean and std of the data, to sampling error.
    assert torch.allclose(model.mean.detach(), data.mean(0), atol=0.05)
    assert torch.allclose(model.log_std.exp().detach(), data.std(0), rtol=0.05)
    samples = model.sample(5000, seed=1)
    assert samples.shape == (5000, 3)
    assert torch.equal(samples, model.sample(5000, seed=1))  # same seed, same numbers
    assert torch.allclose(samples.mean(0), data.mean(0), atol=0.1)


def test_validation_and_early_stopping_use_the_public_loss():
    data = torch.randn(600, 2, generator=torch.Generator().manual_seed(1))
    model = ToyGaussian(2)
    history = fit_model(
        model,
        data[:500],
        validation=data[500:],
        epochs=5,
        batch_size=100,
        seed=0,
        progress=False,
        patience=2,
    )
    assert len(history["val_loss"]) >= 1 and all(math.isfinite(v) for v in history["val_loss"])


def test_fit_model_refuses_what_is_not_a_generative_module():
    with pytest.raises(TypeError, match="GenerativeModule"):
        fit_model(torch.nn.Linear(2, 2), torch.zeros(4, 2), epochs=1)


def test_an_unconditional_model_refuses_labels():
    with pytest.raises(ValueError, match="not conditional"):
        fit_model(ToyGaussian(2), torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64), epochs=1)
