"""Completing missing coordinates with a Gaussian mixture: the posterior over components
given the observed coordinates, and each component's conditional Gaussian.

With observed coordinates o and missing m,
:math:`E[x_m | x_o] = \\sum_k p(k | x_o)\\, \\mu_{k, m|o}` where
:math:`p(k | x_o) \\propto \\pi_k \\mathcal N(x_o; \\mu_{k,o}, \\Sigma_{k,oo})` (the marginal of a
mixture is the mixture of the marginals; Bishop, *Pattern Recognition and Machine Learning*,
2006, §2.3 and §9.2; Ghahramani & Jordan 1994, "Supervised learning from incomplete data via
an EM approach"). A random completion draws k from that posterior, then x_m from component
k's conditional.

:class:`_MixtureCompletion` holds the methods; :class:`~lessons_lib.density.gmm.GaussianMixture`
inherits them (they read its fitted ``_params``, ``_shift``, ``covariance_type``).
"""

from __future__ import annotations

import torch

from lessons_lib.core.inpainting import restore_shape
from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import ArrayLike
from lessons_lib.density._inputs import check_finite_result, like
from lessons_lib.density._scores import _centred, _combine, _mixture_scores
from lessons_lib.density.conditioning import _condition, check_inpaint_inputs, group_rows_by_mask
from lessons_lib.density.em import full_covariances
from lessons_lib.density.linalg import _factor

__all__: list[str] = []


class _MixtureCompletion:
    """Inpainting and conditional sampling of a fitted Gaussian mixture."""

    def _condition_on(self, x: torch.Tensor, observed: torch.Tensor):
        """Per mask pattern: rows, posterior p(k | x_o) (G, K), conditional means and covs."""
        params = self._params
        covariances = full_covariances(
            params.covariances, self.covariance_type, self.n_components, self.n_features_in_
        )
        for pattern, rows in group_rows_by_mask(observed):
            if bool(pattern.all()):
                continue
            x_o = x[rows][:, pattern]
            cond_means, cond_covs, (half, log_norm, scale) = _condition(
                params.means, covariances, pattern, x_o, with_log_marginal=True
            )  # (K, G, |m|), (K, |m|, |m|), ((K, G), (K,), (G,))
            offset = log_norm + torch.log(params.weights)
            if scale is None:  # p(k | x_o) from the log-marginals log_norm_k - half_kg
                posterior = torch.softmax(offset - half.T, 1)
            else:
                # Observed values far out (1e300), where the log-marginals overflow: compare
                # the components before scaling back, for the right weights and no NaN.
                _, posterior, _ = _combine(offset, half.T, scale)
            yield pattern, rows, posterior, cond_means, cond_covs

    def inpaint(
        self, X: ArrayLike, mask: ArrayLike, *, return_posterior: bool = False
    ) -> ArrayLike | tuple[ArrayLike, ArrayLike]:
        """Fill the missing values with their conditional mean given the observed ones.

        With observed coordinates o and missing m,
        :math:`E[x_m | x_o] = \\sum_k p(k | x_o)\\, \\mu_{k, m|o}` where
        :math:`p(k | x_o) \\propto \\pi_k \\mathcal N(x_o; \\mu_{k,o}, \\Sigma_{k,oo})` and
        :math:`\\mu_{k,m|o} = \\mu_{k,m} + \\Sigma_{k,mo}\\Sigma_{k,oo}^{-1}(x_o - \\mu_{k,o})`.

        Parameters
        ----------
        X : shape (N, D), or images (N, C, H, W) with C·H·W = D
            Values at missing positions are ignored (they may be NaN).
        mask : bool, the shape of ``X`` or of one row or image
            True where a value is observed (the course's one inpainting face,
            :mod:`lessons_lib.core.inpainting`).
        return_posterior : bool
            Also return p(k | x_o), shape (N, K).

        Returns
        -------
        filled : the shape of ``X``
            ``X`` where observed, the conditional mean where missing.
        posterior : shape (N, K), only with ``return_posterior``
        """
        self._check_fitted()
        raw, observed = check_inpaint_inputs(X, mask, self.n_features_in_, self.dtype, self.device)
        x = _centred(raw, self._shift, "X")
        filled = x.clone()
        complete = torch.where(observed, x, 0.0)
        posterior_all = _mixture_scores(
            self._log_joint(complete), complete, self._far_terms, "resp"
        )
        for pattern, rows, posterior, cond_means, _ in self._condition_on(x, observed):
            missing = (~pattern).nonzero().flatten()
            # A component without weight adds nothing, even where its mean overflowed.
            weighted = torch.where(posterior.T[:, :, None] > 0, cond_means, 0.0)
            filled[rows[:, None], missing[None]] = torch.einsum("gk,kgm->gm", posterior, weighted)
            posterior_all[rows] = posterior
        # Observed values come back untouched (adding the shift back would round them).
        filled = torch.where(observed, raw, filled + self._shift)
        check_finite_result(filled, "the conditional means")
        filled = restore_shape(like(filled, X), X)
        if return_posterior:
            return filled, like(posterior_all, X)
        return filled

    def sample_conditional(
        self, X: ArrayLike, mask: ArrayLike, *, seed: int | None = None
    ) -> ArrayLike:
        """One random completion per row: k ~ p(k | x_o), then x_m ~ N(mu_{k,m|o}, Sigma_{k,m|o}).

        Same arguments as :meth:`inpaint`; returns the shape of ``X``, observed values kept.
        """
        self._check_fitted()
        raw, observed = check_inpaint_inputs(X, mask, self.n_features_in_, self.dtype, self.device)
        x = _centred(raw, self._shift, "X")
        generator = make_generator(seed)
        filled = x.clone()
        for pattern, rows, posterior, cond_means, cond_covs in self._condition_on(x, observed):
            missing = (~pattern).nonzero().flatten()
            picks = torch.multinomial(posterior.cpu(), 1, generator=generator)[:, 0]
            picks = picks.to(self.device)
            z = torch.randn(len(rows), len(missing), generator=generator, dtype=self.dtype)
            eye = torch.eye(len(missing), dtype=self.dtype, device=self.device)
            # The conditional covariance is a Schur complement: floor it like the model's own.
            factors = _factor(cond_covs + self.reg_covar * eye, "a conditional covariance")
            noise = torch.einsum("gij,gj->gi", factors[picks], z.to(self.device))
            chosen_means = cond_means[picks, torch.arange(len(rows), device=self.device)]
            filled[rows[:, None], missing[None]] = chosen_means + noise
        filled = torch.where(observed, raw, filled + self._shift)
        return restore_shape(like(check_finite_result(filled, "the completions"), X), X)
