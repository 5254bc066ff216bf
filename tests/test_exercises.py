"""The exercise graders accept right answers and refuse wrong ones."""

import numpy as np
import pytest
from scipy.special import logsumexp

from lessons_lib import check


def log_density(X, mean, cov):
    d = len(mean)
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (X - mean).T)
    return -0.5 * (z**2).sum(0) - np.log(np.diag(chol)).sum() - 0.5 * d * np.log(2 * np.pi)


def responsibilities(X, weights, means, covariances):
    logs = np.stack(
        [np.log(w) + log_density(X, m, c) for w, m, c in zip(weights, means, covariances)], 1
    )
    return np.exp(logs - logsumexp(logs, axis=1, keepdims=True))


def em_step(X, weights, means, covariances):
    gamma = responsibilities(X, weights, means, covariances)
    counts = gamma.sum(0)
    new_means = gamma.T @ X / counts[:, None]
    new_covs = np.stack(
        [
            (gamma[:, k, None] * (X - new_means[k])).T @ (X - new_means[k]) / counts[k]
            for k in range(len(counts))
        ]
    )
    return counts / len(X), new_means, new_covs


def test_right_answers_pass(capsys):
    assert check.gaussian_log_density(log_density)
    assert check.responsibilities(responsibilities)
    assert check.em_step(em_step)
    assert check.ising_conditional(lambda s, beta, h: 1 / (1 + np.exp(-2 * beta * (s + h))))
    assert check.gaussian_kl(lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(-1))
    assert check.reparameterize(lambda mu, lv, eps: mu + (0.5 * lv).exp() * eps)
    assert capsys.readouterr().out.count("correct") == 6


def test_wrong_answers_fail_with_a_hint(capsys):
    assert not check.gaussian_log_density(lambda X, m, c: log_density(X, m, c) + 1.0)
    assert not check.gaussian_log_density(lambda X, m, c: log_density(X, m, c)[:, None])
    assert not check.responsibilities(lambda X, w, m, c: responsibilities(X, w, m, c) * 2)

    def old_means_in_covariance(X, w, m, c):
        weights, means, covs = em_step(X, w, m, c)
        return weights, means, covs + 0.01

    assert not check.em_step(old_means_in_covariance)
    assert not check.em_step(lambda X, w, m, c: w)
    assert not check.ising_conditional(lambda s, beta, h: 1 / (1 + np.exp(-(beta * s + h))))
    # the field not multiplied by beta: a different model from notebook 04's
    assert not check.ising_conditional(lambda s, beta, h: 1 / (1 + np.exp(-2 * (beta * s + h))))
    assert not check.gaussian_kl(lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv))
    assert not check.reparameterize(lambda mu, lv, eps: mu + lv.exp() * eps)
    out = capsys.readouterr().out
    assert out.count("not yet") == 9 and "correct" not in out.replace("not yet", "")


# --------------------------------------------------------------------------- round 2: arguments
# Before: a non-callable ``fn`` failed with "'int' object is not callable" from inside the check,
# and bad seeds reached NumPy or torch (``-1`` accepted by torch, ``True`` taken as 1, ``1.9``
# and ``"1"`` refused with messages that did not name ``seed``).

ALL_CHECKS = [
    "em_step",
    "gaussian_kl",
    "gaussian_log_density",
    "ising_conditional",
    "reparameterize",
    "responsibilities",
]
SEEDED_CHECKS = [name for name in ALL_CHECKS if name != "ising_conditional"]


def _never_called(*args):
    raise AssertionError("the learner's function was called despite a bad argument")


class TestArgumentsAreCheckedFirst:
    @pytest.mark.parametrize("name", ALL_CHECKS)
    @pytest.mark.parametrize("fn", [3, None, "my_function", np.zeros(3)])
    def test_a_non_callable_fn_is_a_clear_type_error(self, name, fn, capsys):
        with pytest.raises(TypeError, match=rf"fn must be your function.*check\.{name}\("):
            getattr(check, name)(fn)
        assert capsys.readouterr().out == ""  # refused before any hint is printed

    @pytest.mark.parametrize("name", SEEDED_CHECKS)
    @pytest.mark.parametrize(
        ("seed", "error"),
        [(-1, ValueError), (2**63, ValueError), (1.9, TypeError), (True, TypeError),
         ("1", TypeError), (None, TypeError)],
    )  # fmt: skip
    def test_a_bad_seed_is_refused_before_fn_is_called(self, name, seed, error, capsys):
        with pytest.raises(error, match=r"seed must be"):
            getattr(check, name)(_never_called, seed=seed)
        assert capsys.readouterr().out == ""

    def test_numpy_integer_seeds_and_other_callables_still_work(self, capsys):
        assert check.gaussian_log_density(log_density, seed=np.int64(3))
        assert check.gaussian_kl(lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(-1), seed=5)

        class Solution:  # a callable object counts as a function
            def __call__(self, s, beta, h):
                return 1 / (1 + np.exp(-2 * beta * (s + h)))

        assert check.ising_conditional(Solution())
        assert capsys.readouterr().out.count("correct") == 3


# --------------------------------------------------------------------------- the rename
# lessons_lib.check became lessons_lib.exercises, its graders grade_*: the old face and the old
# names stay, as the same objects.


def test_the_old_module_is_the_new_one():
    from lessons_lib import exercises

    assert check is exercises
    for name in ALL_CHECKS:
        assert getattr(check, name) is getattr(exercises, f"grade_{name}")
    assert sorted(exercises.__all__) == sorted(f"grade_{name}" for name in ALL_CHECKS)
