"""The probability a checkerboard Gibbs update uses, for every local field a spin can see.

A spin's conditional given its four neighbours depends on them only through its local field
``f = J_v v + J_h s + h`` (nine values): heat-bath ``P(x_i = +1) = σ(2βf)`` (Geman & Geman
1984), Metropolis ``min(1, exp(-2β x_i f))`` (Metropolis et al. 1953). :class:`_Conditionals`
tabulates them exactly (``fractions.Fraction`` fields, logits saturated at ±1000), so any
finite β, J and h give the exact limits, and decides whether the sweeps' quicker float32
arithmetic (:func:`_fast_field`, :func:`_fast_probability`) reproduces the table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import torch

from lessons_lib.mrf._validation import _largest_magnitude
from lessons_lib.mrf.ising import _log_abs

#: A logit beyond which σ is exactly 0 or 1 in float64 (and float32): logits are clipped to it,
#: which changes no probability and keeps every product finite.
_SATURATED_LOGIT = 1000.0


#: A logit beyond which σ is exactly 0 or 1 in float64 (and float32): logits are clipped to it,
#: which changes no probability and keeps every product finite.
_SATURATED_LOGIT = 1000.0


def _scaled_logits(values: Sequence[Fraction], factor: np.ndarray) -> np.ndarray:
    """``factor · value`` for exact values and positive float64 factors, clipped to ±1000.

    The sign is exact (a zero value gives exactly 0, however large the factor: the heat-bath
    limit ½ of a zero local field), and the magnitude is computed in log space, so neither a huge
    factor nor a huge value overflows. Shape ``(*factor.shape, len(values))``.
    """
    factor = np.asarray(factor, dtype=np.float64)
    out = np.zeros((*factor.shape, len(values)))
    with np.errstate(divide="ignore"):
        log_factor = np.log(factor)
    for k, value in enumerate(values):
        if value == 0:
            continue
        log_magnitude = log_factor + _log_abs(value)
        magnitude = np.exp(np.minimum(log_magnitude, math.log(_SATURATED_LOGIT)))
        # The sign from a comparison: math.copysign would convert a huge Fraction to float.
        out[..., k] = (1.0 if value > 0 else -1.0) * magnitude
    return out


def _fast_field(
    up_down: torch.Tensor, sides: torch.Tensor, couplings: tuple[float, float], h: float, out
) -> None:
    """``out = J_v v + J_h s + h`` (float32) from int8 neighbour sums; ``up_down`` is clobbered."""
    j_vertical, j_horizontal = couplings
    if j_vertical == j_horizontal:
        up_down.add_(sides)  # the sum of four ±1 fits in int8
        out.copy_(up_down)
        if j_vertical != 1.0:
            out.mul_(j_vertical)
    else:
        out.copy_(up_down).mul_(j_vertical).add_(sides, alpha=j_horizontal)
    if h != 0.0:
        out.add_(h)


def _fast_probability(
    field: torch.Tensor, spins: torch.Tensor, beta: torch.Tensor, method: str
) -> None:
    """In place, float32: heat-bath ``P(x_i = +1) = σ(2β f_i)``; Metropolis ``P(flip) =
    exp(-2β x_i f_i)`` (values above 1 act as 1)."""
    if method == "heat-bath":
        field.mul_(2.0 * beta)
        torch.sigmoid(field, out=field)
    else:
        field.mul_(spins)
        field.mul_(-2.0 * beta)
        field.exp_()


class _Conditionals:
    """The probability each update uses, for every local field a spin can see.

    A spin's local field takes one of nine values ``f = J_v v + J_h s + h``, with ``v, s ∈ {-2,
    0, 2}`` its vertical and horizontal neighbour sums. ``table[..., 17 [x > 0] + 3v + s + 8]``
    holds the heat-bath ``P(x_i = +1)`` or the Metropolis flip probability, computed from the
    exact field (Fractions) and logits ``2βf`` saturated at ±1000: so a huge β gives the exact
    limits 1, 0, or ½ for a zero field, and extreme ``J``, ``h`` neither overflow nor cancel
    wrongly.

    ``fast`` is True when the sweeps' float32 arithmetic (:func:`_fast_field`,
    :func:`_fast_probability`), tried on all nine fields for each lattice, reproduces the table
    to 1e-6: then the sweeps use it (it is quicker); otherwise they look the table up.
    """

    _LEVELS = tuple((v, s) for v in (-2, 0, 2) for s in (-2, 0, 2))

    def __init__(
        self,
        beta: np.ndarray,
        couplings: tuple[float, float],
        h: float,
        method: str,
        device: torch.device,
    ) -> None:
        j_vertical, j_horizontal = couplings
        self.method = method
        self.batch_shape = tuple(beta.shape)
        fields = [
            2 * (Fraction(j_vertical) * v + Fraction(j_horizontal) * s + Fraction(h))
            for v, s in self._LEVELS
        ]
        logits = _scaled_logits(fields, beta)  # (*batch, 9) = 2βf
        table = np.zeros((*self.batch_shape, 2, 17))
        slots = [3 * v + s + 8 for v, s in self._LEVELS]
        with np.errstate(over="ignore"):
            if method == "heat-bath":
                table[..., :, slots] = (1.0 / (1.0 + np.exp(-logits)))[..., None, :]
            else:  # flip x = -1 with min(1, e^{2βf}), x = +1 with min(1, e^{-2βf})
                table[..., 0, slots] = np.minimum(1.0, np.exp(logits))
                table[..., 1, slots] = np.minimum(1.0, np.exp(-logits))
        n_lattices = int(np.prod(self.batch_shape, dtype=np.int64))
        self.table = torch.as_tensor(table.reshape(-1), dtype=torch.float32, device=device)
        offsets = 34 * torch.arange(n_lattices, device=device).reshape(self.batch_shape)
        self.offsets = offsets[..., None, None] if self.batch_shape else offsets
        beta32 = torch.as_tensor(beta, dtype=torch.float32, device=device)
        self.beta32 = beta32[..., None, None] if self.batch_shape else beta32
        moderate = _largest_magnitude(j_vertical, j_horizontal, h) <= 1e30 and beta.max() <= 1e30
        self.fast = bool(moderate) and self._fast_matches(couplings, h, slots, device)

    def _fast_matches(
        self, couplings: tuple[float, float], h: float, slots: list[int], device: torch.device
    ) -> bool:
        """Whether the float32 fast path gives the table's probabilities on every field."""
        levels = torch.tensor(self._LEVELS, dtype=torch.int8, device=device).repeat(2, 1)
        spins = torch.tensor([-1] * 9 + [1] * 9, dtype=torch.int8, device=device)
        field = torch.empty(18, dtype=torch.float32, device=device)
        _fast_field(levels[:, 0].clone(), levels[:, 1].clone(), couplings, h, field)
        beta = self.beta32.reshape(*self.batch_shape, 1)
        field = (field * torch.ones_like(beta)).contiguous()
        _fast_probability(field, spins.float(), beta, self.method)
        exact = self.table.reshape(*self.batch_shape, 2, 17)[..., slots].reshape(field.shape)
        return bool(((field.clamp(max=1.0) - exact).abs() <= 1e-6).all())

    def lookup(self, spins: torch.Tensor, up_down: torch.Tensor, sides: torch.Tensor):
        """The table's probabilities for spins with neighbour sums ``up_down``, ``sides``."""
        index = (3 * up_down + sides).long() + 8 + 17 * (spins > 0).long()
        if self.batch_shape:
            index = index + self.offsets
        return self.table.take(index)
