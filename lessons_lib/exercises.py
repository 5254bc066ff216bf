"""Graders for the notebooks' exercises: is *your* function right? (without showing the answer)

Each grader calls the learner's function on random inputs, compares with the library's own
implementation (which is itself tested against scikit-learn or exact results) and returns
``True`` or ``False``, printing a hint that names what differs but not how to compute it::

    from lessons_lib import exercises
    exercises.grade_gaussian_log_density(my_log_density)   # prints "correct" or a hint

A grader's name starts with ``grade_``: ``exercises.grade_gaussian_kl`` grades *your*
``gaussian_kl``, which ``lessons_lib.vae.gaussian_kl`` computes. The old names (``em_step``,
``gaussian_kl``, ...) of ``lessons_lib.check``, this module's old home, stay as aliases.

Every grader first validates its arguments, before calling anything: ``fn`` must be a
callable (``TypeError`` otherwise: pass the function, not its result) and ``seed``, where
there is one, an integer in ``[0, 2**63 - 1]`` (``TypeError`` for a float, a bool, a string
or None; ``ValueError`` when negative or larger). Input checks of the library itself are
``lessons_lib.core.validation``: a different thing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from lessons_lib.core.random import make_generator
from lessons_lib.core.validation import check_seed

__all__ = [
    "grade_em_step",
    "grade_gaussian_kl",
    "grade_gaussian_log_density",
    "grade_ising_conditional",
    "grade_reparameterize",
    "grade_responsibilities",
]


def _check_fn(fn: object, check_name: str) -> Callable:
    """Check the learner's answer is a function, before anything is computed or printed.

    ``check_name`` is the exercise's short name (``"em_step"``): the message names the grader
    and its old name in ``lessons_lib.check``, whichever the learner called.
    """
    if not callable(fn):
        # The usual slip is passing the function's *result*: say how to pass the function.
        grader = f"exercises.grade_{check_name}"
        raise TypeError(
            f"fn must be your function (a def or a lambda), got {type(fn).__name__} "
            f"{fn!r:.60}. Pass the function itself, without calling it: "
            f"{grader}(my_function) (or check.{check_name}(my_function), its old name), "
            f"not {grader}(my_function(...))."
        )
    return fn


def _check_arguments(fn: object, seed: object, check_name: str) -> int:
    """Validate ``fn`` (a callable) and ``seed`` (an integer in [0, 2**63 - 1], not None:
    a check is reproducible); return the seed as an int."""
    _check_fn(fn, check_name)
    # The course's one seed validator: 1.9 is not truncated, -1 and True are refused.
    return check_seed(seed, "seed", allow_none=False)


def _report(ok: bool, name: str, hint: str) -> bool:
    print(f"{name}: correct" if ok else f"{name}: not yet. {hint}")
    return ok


def _as_array(value, name: str) -> np.ndarray | None:
    try:
        return np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, float)
    except (TypeError, ValueError):
        print(f"{name} returned {type(value).__name__}, which is not an array.")
        return None


def _random_mixture(rng: np.random.Generator, n: int = 60, d: int = 3, k: int = 3):
    X = rng.normal(size=(n, d)) + rng.choice([-3.0, 0.0, 3.0], size=(n, 1))
    weights = rng.dirichlet(np.ones(k))
    means = rng.normal(size=(k, d)) * 2
    factors = rng.normal(size=(k, d, d)) * 0.5
    covariances = factors @ factors.transpose(0, 2, 1) + np.eye(d)
    return X, weights, means, covariances


def _close(got: np.ndarray | None, want: np.ndarray, rtol: float = 1e-5) -> bool:
    return got is not None and got.shape == want.shape and np.allclose(got, want, rtol, 1e-8)


def grade_gaussian_log_density(fn: Callable, *, seed: int = 0) -> bool:
    """Grade ``fn(X, mean, cov)`` → (N,) log-densities of a multivariate Gaussian.

    ``X`` is (N, D), ``mean`` (D,), ``cov`` (D, D); NumPy arrays in float64.
    """
    seed = _check_arguments(fn, seed, "gaussian_log_density")
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(seed)
    X, _, means, covariances = _random_mixture(rng)
    want = multivariate_normal(means[0], covariances[0]).logpdf(X)
    got = _as_array(fn(X, means[0], covariances[0]), "your function")
    hint = "Check the normalising constant: -D/2 log(2π) - 1/2 log det Σ."
    if got is not None and got.shape != want.shape:
        hint = f"It should return shape {want.shape}, one log-density per row; got {got.shape}."
    return _report(_close(got, want), "gaussian_log_density", hint)


def grade_responsibilities(fn: Callable, *, seed: int = 0) -> bool:
    """Grade ``fn(X, weights, means, covariances)`` → (N, K) posterior probabilities γ."""
    seed = _check_arguments(fn, seed, "responsibilities")
    from lessons_lib.gmm import GaussianMixture

    rng = np.random.default_rng(seed)
    X, weights, means, covariances = _random_mixture(rng)
    model = GaussianMixture.from_parameters(weights, means, covariances)
    want = model.predict_proba(X)
    got = _as_array(fn(X, weights, means, covariances), "your function")
    hint = "Each row must sum to 1, and each entry is proportional to π_k N(x | μ_k, Σ_k)."
    return _report(_close(got, want), "responsibilities", hint)


def grade_em_step(fn: Callable, *, seed: int = 0) -> bool:
    """Grade ``fn(X, weights, means, covariances)`` → the parameters after one EM iteration.

    Shapes: ``X`` (N, D), ``weights`` (K,), ``means`` (K, D), ``covariances`` (K, D, D); it
    returns ``(weights, means, covariances)`` with the same shapes (no covariance floor).
    """
    seed = _check_arguments(fn, seed, "em_step")
    from lessons_lib.gmm import GaussianMixture

    rng = np.random.default_rng(seed)
    X, weights, means, covariances = _random_mixture(rng)
    reference = GaussianMixture(3, max_iter=1, tol=0.0, reg_covar=0.0)
    reference.fit(X, initial={"weights": weights, "means": means, "covariances": covariances})
    result = fn(X, weights, means, covariances)
    if not isinstance(result, tuple | list) or len(result) != 3:
        return _report(False, "em_step", "Return a tuple (weights, means, covariances).")
    names = ("weights", "means", "covariances")
    wanted = (reference.weights_, reference.means_, reference.covariances_)
    for name, got, want in zip(names, result, wanted):
        if not _close(_as_array(got, name), np.asarray(want), rtol=1e-6):
            return _report(
                False,
                "em_step",
                f"The new {name} differ. Use the responsibilities of the *old* "
                "parameters, and the *new* means inside the covariance update.",
            )
    return _report(True, "em_step", "")


def grade_ising_conditional(fn: Callable) -> bool:
    """Grade ``fn(neighbour_sum, beta, h)`` → P(x_i = +1 | neighbours) for an Ising model.

    ``neighbour_sum`` is an array of sums of the four neighbouring spins; ``beta`` and ``h``
    are floats, with p(x) ∝ exp(β (Σ x_i x_j + h Σ x_i)) over spins ±1: notebook 04's model
    with J = 1, the convention of every function of :mod:`lessons_lib.mrf` (the field is in
    units of β), so the answer is σ(2β(n_i + h)).
    """
    _check_fn(fn, "ising_conditional")
    sums = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    ok = True
    for beta, h in [(0.3, 0.0), (0.44, 0.1), (1.0, -0.5)]:
        want = 1.0 / (1.0 + np.exp(-2.0 * beta * (sums + h)))
        ok &= _close(_as_array(fn(sums, beta, h), "your function"), want)
    hint = "Compare the weights of x_i = +1 and x_i = -1: only the terms with x_i change."
    return _report(bool(ok), "ising_conditional", hint)


def grade_gaussian_kl(fn: Callable, *, seed: int = 0) -> bool:
    """Grade ``fn(mu, logvar)`` → (N,) KL(N(mu, diag(exp(logvar))) ‖ N(0, I)) in nats.

    ``mu`` and ``logvar`` are (N, L) torch tensors.
    """
    seed = _check_arguments(fn, seed, "gaussian_kl")
    gen = make_generator(seed)
    mu = torch.randn(8, 4, generator=gen, dtype=torch.float64)
    logvar = torch.randn(8, 4, generator=gen, dtype=torch.float64)
    posterior = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    want = torch.distributions.kl_divergence(posterior, prior).sum(-1).numpy()
    got = _as_array(fn(mu, logvar), "your function")
    hint = "Sum over the latent dimensions; each one gives ½(μ² + σ² − 1 − log σ²)."
    return _report(_close(got, want), "gaussian_kl", hint)


def grade_reparameterize(fn: Callable, *, seed: int = 0) -> bool:
    """Grade ``fn(mu, logvar, eps)`` → z = mu + sigma * eps with sigma = exp(logvar / 2)."""
    seed = _check_arguments(fn, seed, "reparameterize")
    gen = make_generator(seed)
    mu, logvar, eps = (torch.randn(5, 3, generator=gen) for _ in range(3))
    want = (mu + (0.5 * logvar).exp() * eps).numpy()
    got = _as_array(fn(mu, logvar, eps), "your function")
    return _report(_close(got, want), "reparameterize", "logvar is log σ², not log σ.")


# The old names, from when this module was ``lessons_lib.check`` (notebooks written before
# the rename call ``check.em_step(...)``): the same functions.
em_step = grade_em_step
gaussian_kl = grade_gaussian_kl
gaussian_log_density = grade_gaussian_log_density
ising_conditional = grade_ising_conditional
reparameterize = grade_reparameterize
responsibilities = grade_responsibilities
