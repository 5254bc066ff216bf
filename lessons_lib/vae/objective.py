r"""The training objective of every VAE: the β-weighted negative ELBO, term by term.

On a batch of B examples the loss is

.. math::

    -\frac1B \sum_i \big[E_q \log p(x_i \mid z) - \beta\, \mathrm{KL}(q(z \mid x_i) \| p(z))\big]

with one reparameterized draw per example (Kingma & Welling 2014); β = 1 is the ELBO, β > 1
the β-VAE of Higgins et al. (2017), and a β rising from 0 the KL warm-up of Bowman et al.
(2016) and Sønderby et al. (2016), which :func:`~lessons_lib.vae.train.train_vae` schedules.
:class:`ELBOModule` is the :class:`~lessons_lib.core.base.GenerativeModule` face shared by
:class:`~lessons_lib.vae.model.VAE` and :class:`~lessons_lib.vae.linear.LinearGaussianVAE`:
a subclass supplies ``_batch_elbo_terms(batch)``, and gets ``loss`` and ``training_step``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from lessons_lib.core.base import GenerativeModule

__all__ = ["ELBOModule"]


class ELBOModule(GenerativeModule):
    """A generative module trained by maximising the (β-weighted) ELBO."""

    @abstractmethod
    def _batch_elbo_terms(self, batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, KL) per example, shape (B,) each, of a batch on the device.

        The hot path of training: the loop checked the whole data set once
        (``check_training_data``), so only what is cheap is checked again.
        """

    def loss(self, batch: Sequence[torch.Tensor], *, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """The β-weighted negative ELBO of ``batch`` (``[x]`` or ``[x, labels]``), with its terms.

        Returns
        -------
        dict of 0-d tensors
            ``loss`` (minimised), ``elbo`` (β = 1), ``reconstruction`` and ``kl`` (means per
            example, nats) and ``beta`` (float64, so that it logs exactly).
        """
        recon, kl = self._batch_elbo_terms(batch)
        loss = -(recon - beta * kl).mean()
        return {
            "loss": loss,
            "elbo": (recon - kl).mean().detach(),
            "reconstruction": recon.mean().detach(),
            "kl": kl.mean().detach(),
            "beta": torch.tensor(beta, dtype=torch.float64),
        }

    def training_step(
        self, batch: Sequence[torch.Tensor], optimizers: Mapping[str, Any], *, beta: float = 1.0
    ) -> dict[str, float]:
        """One Adam step on ``loss(batch, beta=beta)["loss"]``; the terms as Python floats."""
        (optimizer,) = optimizers.values()
        terms = self.loss(batch, beta=beta)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        return {key: float(value.detach()) for key, value in terms.items()}
