"""Markov random fields on the pixel grid: Ising and Potts models, sampling, denoising, learning.

Two models share one grid and one notation.

* The **Ising model** on an ``H × W`` lattice of spins ``x_i ∈ {-1, +1}``::

      p(x) = exp(-β E(x)) / Z,     E(x) = -J Σ_{i~j} x_i x_j - h Σ_i x_i

  with nearest-neighbour pairs ``i ~ j``. :func:`ising_gibbs` samples it on a *periodic*
  lattice (a torus) by checkerboard Gibbs sweeps; :func:`onsager_magnetization` and
  :func:`onsager_energy` are the exact infinite-lattice answers it is checked against.
* **Denoising** a binary image ``y`` observed through flip noise of rate ``p``: the posterior
  over clean images ``x`` is ``p(x | y) ∝ exp(-E(x))`` with::

      E(x) = -β Σ_{i~j} x_i x_j - η Σ_i x_i y_i,      η = ½ ln((1 - p) / p)

  over 4-neighbour pairs with *free* boundaries (:func:`denoise_energy`). :func:`denoise`
  minimizes it by ICM, annealed Gibbs sampling, mean-field or an exact minimum cut.
* The **Potts model** over labels ``z_i ∈ {0, …, K-1}`` with a Gaussian colour likelihood
  segments a photo (:func:`potts_segment`).

Spins are ``±1`` numbers of any dtype; numpy in gives numpy out, a tensor gives a tensor.
``{0, 1}`` and boolean images are refused with an error, not converted (a 0 could be a spin or
a missing value): map them with ``2 * x - 1``.

Extreme finite parameters (β up to 1e308, fields and couplings of any size, noise rates near 0
or ½) give the exact limits rather than NaN: conditional probabilities are computed from
exactly rounded local fields with saturated logits, exact sums over states shift their
log-weights by the largest, and energies divide by their largest coefficient before summing.
Where a returned energy or log-partition function is itself beyond float64's range (about
1.8e308), a ValueError names the parameters instead of returning ±inf. Counts have documented
sanity bounds (sweeps and iterations at most 10**7, at most 2**31 sites in all), so an absurd
argument is refused at once rather than running (effectively) forever.

Files, one idea each
--------------------
``ising`` (energy, magnetization, exact enumeration), ``onsager`` (the exact infinite-lattice
solution), ``gibbs`` (checkerboard Gibbs sampling on the torus), ``posterior`` (flip noise and
the denoising posterior), ``denoise`` (ICM, annealing, MPM, mean field), ``mincut`` (exact MAP),
``learning`` (pseudo-likelihood, noise-rate EM), ``inpaint``, ``prior`` (``IsingPrior``: the
Ising model over {0, 1} images with the course's ``fit``/``inpaint``/``sample`` face),
``potts`` (segmentation, with its colour model in ``_colour_model``), ``diagnostics``
(autocorrelation), ``images`` (test images);
``_free_grid`` and ``_validation`` are shared helpers.
"""

from lessons_lib.mrf._conditionals import _Conditionals as _Conditionals
from lessons_lib.mrf._free_grid import _free_neighbour_sum as _free_neighbour_sum
from lessons_lib.mrf.denoise import (
    DENOISE_METHODS,
    denoise,
    mean_field_marginals,
    posterior_marginals,
)
from lessons_lib.mrf.denoise import _anneal_schedule as _anneal_schedule
from lessons_lib.mrf.diagnostics import autocorrelation, integrated_autocorrelation_time
from lessons_lib.mrf.gibbs import _periodic_colour_masks as _periodic_colour_masks
from lessons_lib.mrf.gibbs import ising_gibbs
from lessons_lib.mrf.images import boundary_length, make_shapes
from lessons_lib.mrf.inpaint import inpaint
from lessons_lib.mrf.ising import ising_energy, ising_exact, magnetization, spin_configurations
from lessons_lib.mrf.learning import estimate_noise_rate, fit_pseudo_likelihood
from lessons_lib.mrf.mincut import min_cut_map
from lessons_lib.mrf.onsager import BETA_CRITICAL, onsager_energy, onsager_magnetization
from lessons_lib.mrf.posterior import denoise_energy, denoise_exact, flip_noise, noise_coupling
from lessons_lib.mrf.potts import potts_energy, potts_segment
from lessons_lib.mrf.prior import IsingPrior

# Private names used by tests/test_mrf.py (imported with "as" to mark the re-export) are kept
# out of __all__: they are not the public API.
__all__ = [
    "BETA_CRITICAL",
    "DENOISE_METHODS",
    "IsingPrior",
    "autocorrelation",
    "boundary_length",
    "denoise",
    "denoise_energy",
    "denoise_exact",
    "estimate_noise_rate",
    "fit_pseudo_likelihood",
    "flip_noise",
    "inpaint",
    "integrated_autocorrelation_time",
    "ising_energy",
    "ising_exact",
    "ising_gibbs",
    "magnetization",
    "make_shapes",
    "mean_field_marginals",
    "min_cut_map",
    "noise_coupling",
    "onsager_energy",
    "onsager_magnetization",
    "posterior_marginals",
    "potts_energy",
    "potts_segment",
    "spin_configurations",
]
