"""A Gaussian mixture prior on image patches, and its Wiener-filter denoising step (EPLL).

Zoran and Weiss (2011) fit a GMM to ``p × p`` patches *with their mean removed*: a patch's
mean (its DC component) carries the local brightness, which the mixture need not model. With
the eigendecomposition ``Σ_k = U_k diag(s_k) U_kᵀ`` of each component, everything the
restoration step needs is in closed form for any noise variance ``σ²``:

* the log-density of a noisy patch under component k, ``log N(z; μ_k, Σ_k + σ² I)``;
* the Wiener filter of that component, ``μ_k + U_k diag(s_k / (s_k + σ²)) U_kᵀ (z - μ_k)``,
  the posterior mean of the clean patch given the noisy one, if it came from component k.

:meth:`PatchPrior.denoise_patches` picks for each patch the component with the highest
posterior probability and applies its filter (EPLL's approximate MAP of one patch).
"""

from __future__ import annotations

import math

import torch

from lessons_lib.core.validation import check_array, check_int, check_positive
from lessons_lib.density.gmm import GaussianMixture

# Patches per batch in the z-step: K × batch × p² floats at a time (20 × 8,192 × 64 in float64
# is 84 MB), small enough for a Binder kernel.
_BATCH = 8192


class PatchPrior:
    """A GMM on mean-removed ``size × size`` patches, ready for EPLL.

    Parameters
    ----------
    mixture : GaussianMixture
        Fitted with ``covariance_type="full"`` on rows of ``size²`` mean-removed patch pixels.
    size : int
        The patch side p.

    Attributes
    ----------
    log_weights : Tensor (K,)
    means : Tensor (K, p²)
    eigenvalues : Tensor (K, p²), eigenvectors : Tensor (K, p², p²)
        Of each component's covariance, clipped below at ``1e-8`` (mean removal makes the
        covariances singular along the constant patch).
    mixture : GaussianMixture
        The fitted mixture itself (its ``history_``, ``sample``, ``score``).
    """

    def __init__(self, mixture: GaussianMixture, size: int) -> None:
        size = check_int(size, "size", min_value=1)
        means = torch.as_tensor(mixture.means_, dtype=torch.float64)
        if means.shape[1] != size * size:
            raise ValueError(
                f"the mixture models {means.shape[1]} values per row, but size={size} patches "
                f"have {size * size}."
            )
        if mixture.covariance_type != "full":
            raise ValueError("the mixture must have full covariances (covariance_type='full').")
        covariances = torch.as_tensor(mixture.covariances_, dtype=torch.float64)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariances)
        self.size = size
        self.mixture = mixture
        self.log_weights = torch.as_tensor(mixture.weights_, dtype=torch.float64).log()
        self.means = means
        self.eigenvalues = eigenvalues.clamp_min(1e-8)
        self.eigenvectors = eigenvectors

    @property
    def n_components(self) -> int:
        return len(self.means)

    def to(self, device: torch.device | str) -> PatchPrior:
        """The same prior with its tensors on ``device`` (float64 throughout)."""
        for name in ("log_weights", "means", "eigenvalues", "eigenvectors"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def _whitened(self, centred: torch.Tensor, variances: torch.Tensor) -> torch.Tensor:
        # (K, B, D): (z - μ_k) U_k diag(v_k)^(-1/2), each patch's offset from each mean in the
        # whitened eigenbasis, as one batched matmul (z W_k - μ_k W_k) that never forms the
        # (K, B, D) offsets; its squared norm is the Mahalanobis distance.
        scaled = self.eigenvectors * variances.rsqrt()  # (K, D, D): column e divided by √v_ke
        mean_coordinates = torch.einsum("kd,kde->ke", self.means, scaled)
        return torch.matmul(centred, scaled).sub_(mean_coordinates[:, None])

    def component_log_likelihoods(self, patches: torch.Tensor, noise_var: float) -> torch.Tensor:
        """``log π_k + log N(z - mean(z); μ_k, Σ_k + σ² I)`` for every patch and component.

        Parameters
        ----------
        patches : Tensor, shape (B, p²)
        noise_var : float
            σ² ≥ 0, the variance of the noise on each pixel of the patches.

        Returns
        -------
        Tensor, shape (K, B)
        """
        variances = self.eigenvalues[:, None] + noise_var  # (K, 1, D)
        centred = patches - patches.mean(dim=1, keepdim=True)
        squared = self._whitened(centred, variances).square_().sum(dim=2)  # (K, B)
        log_det = variances.log().sum(dim=2)  # (K, 1)
        dims = patches.shape[1]
        return self.log_weights[:, None] - 0.5 * (squared + log_det + dims * math.log(2 * math.pi))

    def log_prob(self, patches: torch.Tensor, noise_var: float = 0.0) -> torch.Tensor:
        """Log-density of each mean-removed patch under the mixture, (B,)."""
        patches = self._checked(patches)
        noise_var = check_positive(noise_var, "noise_var", strict=False)
        return torch.cat(
            [
                torch.logsumexp(self.component_log_likelihoods(chunk, noise_var), dim=0)
                for chunk in patches.split(_BATCH)
            ]
        )

    def denoise_patches(self, patches: torch.Tensor, noise_var: float) -> torch.Tensor:
        """EPLL's patch step: each patch through the Wiener filter of its likeliest component.

        Parameters
        ----------
        patches : Tensor, shape (B, p²)
            Noisy patches, noise of variance ``noise_var`` on each pixel.
        noise_var : float
            σ² > 0.

        Returns
        -------
        Tensor, shape (B, p²)
            The patch mean kept, plus ``μ_k + U_k diag(s_k/(s_k + σ²)) U_kᵀ (z̃ - μ_k)`` for the
            mean-removed patch z̃ and the component k of highest posterior probability.
        """
        patches = self._checked(patches)
        noise_var = check_positive(noise_var, "noise_var")
        return torch.cat([self._denoise(chunk, noise_var) for chunk in patches.split(_BATCH)])

    def _denoise(self, patches: torch.Tensor, noise_var: float) -> torch.Tensor:
        dc = patches.mean(dim=1, keepdim=True)
        centred = patches - dc
        best = self.component_log_likelihoods(patches, noise_var).argmax(dim=0)  # (B,)
        restored = torch.empty_like(centred)
        # One matmul per component over its patches: gathering a (D, D) basis per patch would
        # move B × D² floats.
        for k in best.unique().tolist():
            rows = (best == k).nonzero().squeeze(1)
            basis = self.eigenvectors[k]  # (D, D), columns the eigenvectors
            shrink = self.eigenvalues[k] / (self.eigenvalues[k] + noise_var)  # (D,)
            coefficients = ((centred[rows] - self.means[k]) @ basis) * shrink
            restored[rows] = self.means[k] + coefficients @ basis.T
        return dc + restored

    def _checked(self, patches: torch.Tensor) -> torch.Tensor:
        check_array(patches, "patches", shape=(None, self.size * self.size), kinds="f")
        return patches.to(dtype=torch.float64, device=self.means.device)


def fit_patch_prior(
    images: list[torch.Tensor],
    *,
    size: int = 8,
    n_components: int = 20,
    n_patches: int = 50_000,
    max_iter: int = 100,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> PatchPrior:
    """Fit a :class:`PatchPrior` with the course's EM on random patches of grey images.

    Parameters
    ----------
    images : list of Tensor, each (H, W), values in [0, 1]
    size : int
        Patch side p (8 in Zoran and Weiss).
    n_components : int
        K (200 in Zoran and Weiss, for millions of patches; 20 is enough for one photo).
    n_patches : int
        How many patches, drawn uniformly from every position of every image (with seed).
    seed : int
        Seeds the choice of patches and EM's initialisation.

    Returns
    -------
    PatchPrior
    """
    from lessons_lib.restoration.patches import extract_patches

    if not isinstance(images, list | tuple) or not images:
        raise TypeError("images must be a non-empty list of grey images (H, W).")
    n_patches = check_int(n_patches, "n_patches", min_value=1)
    every = torch.cat(
        [extract_patches(torch.as_tensor(im, dtype=torch.float64), size) for im in images]
    )
    if n_components > len(every):
        raise ValueError(
            f"n_components={n_components} is larger than the {len(every)} patches of the images."
        )
    generator = torch.Generator().manual_seed(check_int(seed, "seed", min_value=0))
    chosen = every[torch.randperm(len(every), generator=generator)[:n_patches]]
    centred = chosen - chosen.mean(dim=1, keepdim=True)
    mixture = GaussianMixture(
        n_components, max_iter=max_iter, reg_covar=1e-6, seed=seed, device=device
    ).fit(centred)
    return PatchPrior(mixture, size)  # on the device the mixture was fitted on
