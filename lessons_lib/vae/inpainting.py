r"""Completion of partly observed images with a VAE: :math:`E[x_m \mid x_o]`.

Because the decoder treats pixels independently given z, the observed pixels alone have an
exact likelihood :math:`p(x_o \mid z) = \prod_{i \in o} p(x_i \mid z)`, and

.. math::

    E[x_m \mid x_o] = \int E[x_m \mid z]\, p(z \mid x_o)\, dz,
    \qquad p(z \mid x_o) \propto p(x_o \mid z)\, p(z).

Three methods: the pseudo-Gibbs chain of Rezende, Mohamed & Wierstra (2014), which
Mattei & Frellsen (2018) show does not target :math:`p(z \mid x_o)` exactly; adaptive
importance sampling with the exact likelihood of the observed pixels, a consistent estimate
(Mattei & Frellsen 2018, 2019); and a MAP latent found by gradient ascent. The functions
taking ``self`` are bound as methods of :class:`~lessons_lib.vae.model.VAE`.

Images come as (N, C, H, W), or as flat rows (N, C·H·W) with a mask of the same shape; the
result has the shape of the input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from lessons_lib.core.loop import check_count
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import (
    ArrayLike,
    as_tensor,
    check_array,
    check_bool,
    check_one_of,
    check_seed,
    like_input,
)
from lessons_lib.vae.kl import log_standard_normal
from lessons_lib.vae.numerics import randn

if TYPE_CHECKING:
    from lessons_lib.vae.model import VAE

__all__ = [
    "INPAINT_METHODS",
    "importance_fill",
    "inpaint",
    "inpaint_optimize",
    "inpaint_unknown_class",
    "observed_images",
    "observed_mask",
    "pseudo_gibbs",
]

INPAINT_METHODS = ("importance", "gibbs", "optimize")


def inpaint(
    self: VAE,
    x: ArrayLike,
    mask: ArrayLike,
    labels: Any = None,
    *,
    method: str = "importance",
    n_iter: int = 30,
    k: int = 1000,
    n_rounds: int = 8,
    seed: int | None = None,
    return_ess: bool = False,
) -> ArrayLike | tuple[ArrayLike, torch.Tensor]:
    r"""Fill in the missing pixels of ``x`` (``mask`` is True where a pixel is observed).

    Methods (see the module's docstring for the maths):

    * ``"gibbs"``: pseudo-Gibbs (Rezende et al. 2014): fill the holes, encode, draw z,
      decode, put the decoder's mean into the holes, repeat ``n_iter`` times; returns
      the average fill of the second half of the chain.
    * ``"importance"`` (default): after the pseudo-Gibbs warm-up, ``n_rounds`` of
      adaptive importance sampling with ``k`` draws each: z from a Gaussian proposal
      r(z) (first the encoder on the filled image, then a Gaussian matched to the
      previous round's weighted draws), weighted by :math:`p(x_o \mid z) p(z) / r(z)`.
      A consistent estimate of :math:`E[x_m \mid x_o]`, the completion with the least
      expected squared error under the model. For a conditional model with
      ``labels=None`` the class is summed over too (it is unknown; uniform prior).
    * ``"optimize"``: gradient ascent on :math:`\log p(x_o \mid z) + \log p(z)` for
      ``n_iter`` Adam steps (a MAP latent), then decode.

    Parameters
    ----------
    x : (N, C, H, W), or flat rows (N, C·H·W)
        Observed pixels (mask True) finite and in [0, 1] (0/1 for a Bernoulli VAE).
        Values under missing pixels (mask False) are ignored, so they may be anything,
        NaN included (the usual marker of a missing value).
    mask : bool, True where observed
        (N, C, H, W) or (C, H, W) for images; (N, C·H·W) or (C·H·W,) for flat rows.
    labels : int or Tensor (N,), optional for a conditional model (see above)
    method : {"importance", "gibbs", "optimize"}
    n_iter : int
    k : int
        Importance samples per round (``"importance"`` only).
    n_rounds : int
        Rounds of proposal adaptation (``"importance"`` only).
    seed : int, optional
        None: a generator seeded from torch's global one.
    return_ess : bool
        Also return the effective sample size of the last round, shape (N,)
        (``"importance"`` only): a few dozen out of ``k`` means a hard posterior.

    Returns
    -------
    The shape of ``x``, values in [0, 1]: observed pixels unchanged, missing ones filled;
    NumPy when ``x`` was NumPy. With ``return_ess``, a pair (filled, ess).
    """
    check_one_of(method, "method", INPAINT_METHODS)
    n_iter = check_count(n_iter, "n_iter")
    k = check_count(k, "k", min_value=2)
    n_rounds = check_count(n_rounds, "n_rounds")
    check_seed(seed)
    return_ess = check_bool(return_ess, "return_ess")
    if return_ess and method != "importance":
        raise ValueError("return_ess=True needs method='importance'.")
    images, image_mask = _as_images(self, x, mask)
    xt, m = self._observed_images(images, image_mask)
    gen = make_generator(seed, self.device)
    filled, ess = _fill(self, xt, m, labels, method, n_iter, k, n_rounds, gen)
    result = like_input(torch.where(m, xt, filled).clamp(0, 1), x)
    if result.ndim != x.ndim:
        result = result.reshape(x.shape)  # flat rows in, flat rows out
    return (result, ess) if return_ess else result


def _fill(self: VAE, xt, m, labels, method, n_iter, k, n_rounds, gen):
    """The fill of every pixel by ``method`` (observed ones are put back by the caller)."""
    ess = None
    if self.n_classes is not None and labels is None:
        if method != "importance":
            raise ValueError(
                f"method={method!r} needs labels for a conditional VAE; pass labels, or "
                "use method='importance', which sums over the unknown class."
            )
        return self._inpaint_unknown_class(xt, m, n_iter, k, n_rounds, gen)
    cond = self._onehot(labels, len(xt))
    if method == "optimize":
        return self._inpaint_optimize(xt, m, cond, n_iter), ess
    filled, _ = self._pseudo_gibbs(xt, m, cond, n_iter, gen)
    if method == "importance":
        filled, _, ess = self._importance_fill(xt, m, cond, filled, k, n_rounds, gen)
    return filled, ess


def _as_images(self: VAE, x: Any, mask: Any) -> tuple[Any, Any]:
    """Flat rows (N, C·H·W) and their mask as images (N, C, H, W); images unchanged."""
    check_array(x, "x", ndim=(2, 4), kinds="f", finite=False)
    if x.ndim == 4:
        return x, mask
    if x.shape[1] != self.n_pixels:
        raise ValueError(
            f"x must have shape (N, {', '.join(map(str, self.data_shape))}) or, as flat rows, "
            f"(N, {self.n_pixels}) for this model, got {tuple(x.shape)}."
        )
    check_array(mask, "mask", kinds="b", ndim=(1, 2))
    if mask.shape[-1] != self.n_pixels or (mask.ndim == 2 and len(mask) != len(x)):
        raise ValueError(
            f"mask must have the shape of the flat rows x, {tuple(x.shape)}, or of one row, "
            f"({self.n_pixels},); got {tuple(mask.shape)}."
        )
    return x.reshape(len(x), *self.data_shape), mask.reshape(*mask.shape[:-1], *self.data_shape)


def observed_images(self: VAE, x: Any, mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Check a partly observed batch: only pixels under ``mask`` (True) need be valid.

    Returns the images on the model's device with missing pixels set to 1/2 (so that a
    NaN placeholder never reaches the arithmetic) and the expanded mask.
    """
    check_array(x, "x", ndim=4, kinds="f", finite=False)
    if tuple(x.shape[1:]) != self.data_shape:
        raise ValueError(
            f"x must have shape (N, {', '.join(map(str, self.data_shape))}) for this "
            f"model, got {tuple(x.shape)}."
        )
    xt = as_tensor(x, device=self.device)
    m = self._mask(mask, xt)
    observed = xt[m]
    if not bool(torch.isfinite(observed).all()):
        raise ValueError(
            "x has NaN or infinite values at observed pixels (mask True); only missing "
            "pixels (mask False) may hold NaN. Fix x or mark those pixels as missing."
        )
    if observed.numel() and (float(observed.min()) < 0.0 or float(observed.max()) > 1.0):
        raise ValueError(
            f"the observed pixels of x must lie in [0, 1]; they span "
            f"[{float(observed.min()):g}, {float(observed.max()):g}]."
        )
    if self.likelihood == "bernoulli" and not ((observed == 0) | (observed == 1)).all():
        raise ValueError("the observed pixels of x must be binary (0/1) for a Bernoulli VAE.")
    xt = torch.where(m, xt, torch.full_like(xt, 0.5)).to(self.dtype)
    return xt, m


def observed_mask(self: VAE, mask: Any, x: torch.Tensor) -> torch.Tensor:
    """The boolean mask (N, C, H, W) or (C, H, W), checked and expanded to ``x``'s shape."""
    check_array(mask, "mask", kinds="b", ndim=(3, 4))
    if tuple(mask.shape[-3:]) != self.data_shape or (mask.ndim == 4 and len(mask) != len(x)):
        raise ValueError(
            f"mask must have the shape of x, {tuple(x.shape)}, or of one image, "
            f"{self.data_shape}; got {tuple(mask.shape)}."
        )
    return as_tensor(mask, device=self.device).expand_as(x)


def pseudo_gibbs(self: VAE, x, m, cond, n_iter, gen):
    """Pseudo-Gibbs chain; returns (average fill of the 2nd half, last fill)."""
    current = torch.where(m, x, torch.full_like(x, 0.5))
    total, count = torch.zeros_like(x), 0
    with torch.no_grad():
        for it in range(n_iter):
            mu, logvar = self._encode(current, cond)
            z = mu + (0.5 * logvar).exp() * randn(mu.shape, gen, self.device)
            mean = torch.sigmoid(self._decode_out(z, cond))
            current = torch.where(m, x, mean)
            if it >= n_iter // 2:
                total, count = total + mean, count + 1
    return total / count, current


def importance_fill(self: VAE, x, m, cond, proposal_input, k, n_rounds, gen):
    """Adaptive importance estimate of E[x | x_o], log p̂(x_o) and the effective sample size."""

    def log_lik(out: torch.Tensor, n: int) -> torch.Tensor:
        return self._log_px_observed(x.repeat(n, 1, 1, 1), out, m.repeat(n, 1, 1, 1))

    start = torch.where(m, x, proposal_input)
    return self._adaptive_importance(start, cond, k, n_rounds, gen, log_lik, torch.sigmoid)


def inpaint_unknown_class(self: VAE, x, m, n_iter, k, n_rounds, gen):
    """Sum over the unknown class: E[x_m|x_o] = Σ_y p(y|x_o) E[x_m|x_o, y], uniform p(y)."""
    fills, log_ev, ess = [], [], []
    for y in range(self.n_classes):
        cond = self._onehot(torch.full((len(x),), y, dtype=torch.int64), len(x))
        start, _ = self._pseudo_gibbs(x, m, cond, n_iter, gen)
        fill, evidence, e = self._importance_fill(x, m, cond, start, k, n_rounds, gen)
        fills.append(fill)
        log_ev.append(evidence)
        ess.append(e)
    class_post = torch.softmax(torch.stack(log_ev), dim=0)  # (K, N): p(y | x_o)
    fill = (class_post[..., None, None, None] * torch.stack(fills)).sum(0)
    return fill, (class_post * torch.stack(ess)).sum(0)


def inpaint_optimize(self: VAE, x, m, cond, n_iter):
    """A MAP latent of p(z | x_o) by ``n_iter`` Adam steps from the encoder's mean, decoded."""
    with torch.no_grad():
        start = torch.where(m, x, torch.full_like(x, 0.5))
        mu, _ = self._encode(start, cond)
    z = mu.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.05)
    with torch.enable_grad():
        for _ in range(n_iter):
            out = self._decode_out(z, cond)
            loss = -(self._log_px_observed(x, out, m) + log_standard_normal(z)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return torch.sigmoid(self._decode_out(z, cond))
