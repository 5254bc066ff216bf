"""Mixture scores that stay right for points astronomically far from every component.

``log p(x) = logsumexp_k (log pi_k + log N(x; mu_k, Sigma_k))``, the responsibilities (its
softmax) and the most responsible component come from the log-joints. Where those overflow
(a point like 1e200, whose Mahalanobis distances are beyond the float range), the distances
are recomputed from differences divided by a power of two per row, and the components are
compared *before* scaling back (the log-sum-exp trick with an exact rescaling; see Blanchard,
Higham & Higham 2021, "Accurately computing the log-sum-exp and softmax functions"), so the
responsibilities come out one-hot, as the exact ones are, and never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__: list[str] = []


def _centred(x: torch.Tensor, shift: torch.Tensor, name: str) -> torch.Tensor:
    """``x - shift``, refused if it leaves the float range (values near the largest float
    on the other side of the model's centre)."""
    centred = x - shift
    if not bool(torch.isfinite(centred).all()):
        raise ValueError(
            f"{name} has values so far from the model's centre that their difference to it "
            f"overflows {x.dtype}; rescale {name} (and refit on the same scale)."
        )
    return centred


def _combine(
    offset: torch.Tensor, half: torch.Tensor, scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-sum-exp, softmax and argmax over k of ``offset_k - half_nk * scale_n**2``.

    For points astronomically far from every component, whose log-joints are below the float
    range: ``half`` (N, K) is half the Mahalanobis distance divided by ``scale**2`` (a power
    of two per row), finite. The differences between components are formed before the
    scaling back, so the responsibilities come out right (one-hot, as the exact ones are)
    and never NaN; the log-density is ``-inf`` when it is below the float range.

    Returns
    -------
    log_p : (N,), responsibilities : (N, K), best : (N,) int64
    """
    s = scale[:, None]
    offset = offset.expand_as(half)
    best = (offset / s / s - half).argmax(1, keepdim=True)  # the largest log-joint / s^2
    half_best, offset_best = half.gather(1, best), offset.gather(1, best)
    gap = (offset - offset_best) - ((half - half_best) * s) * s
    # inf - inf (a component without weight, or two beyond the range): no contribution.
    gap = torch.where(torch.isnan(gap), -math.inf, gap).scatter(1, best, 0.0)
    total = torch.logsumexp(gap, 1)
    log_p = offset_best[:, 0] - (half_best[:, 0] * scale) * scale + total
    return log_p, torch.exp(gap - total[:, None]), best[:, 0]


def _mixture_scores(
    log_joint: torch.Tensor, x: torch.Tensor, far_terms: Callable, what: str
) -> torch.Tensor:
    """From the log-joints (N, K): ``what`` = "log_p" (N,), "resp" (responsibilities, (N, K))
    or "best" (the most responsible k, (N,)). Rows where the log-joints overflowed (no
    finite entry, or NaN from inf - inf) are recomputed from ``far_terms(rows of x) ->
    (offset, half, scale)`` (see _combine)."""
    log_p = torch.logsumexp(log_joint, 1)
    result = {
        "log_p": lambda: log_p,
        "resp": lambda: torch.softmax(log_joint, 1),
        "best": lambda: log_joint.argmax(1),
    }[what]()
    bad = ~torch.isfinite(log_p)  # NaN anywhere in a row makes its log_p NaN
    if bool(bad.any()):
        rows = torch.nonzero(bad).flatten()
        far = dict(zip(("log_p", "resp", "best"), _combine(*far_terms(x[rows]))))
        result = result.clone()
        result[rows] = far[what]
    return result
