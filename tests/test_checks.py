import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lessons_lib import checks

finite_floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4), elements=finite_floats))
def test_finite_arrays_pass_and_come_back_unchanged(x):
    assert checks.check_array(x, "x") is x
    t = torch.from_numpy(x)
    assert checks.check_array(t, "x") is t


@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3), elements=finite_floats),
    st.sampled_from([np.nan, np.inf, -np.inf]),
    st.data(),
)
def test_any_non_finite_value_is_rejected(x, bad, data):
    index = tuple(data.draw(st.integers(0, s - 1)) for s in x.shape)
    x = x.copy()
    x[index] = bad
    with pytest.raises(ValueError, match="x contains NaN or infinite"):
        checks.check_array(x, "x")
    with pytest.raises(ValueError, match="NaN"):
        checks.check_array(torch.from_numpy(x), "x")


@given(hnp.array_shapes(min_dims=1, max_dims=5), st.integers(1, 5))
def test_ndim_check_names_the_argument(shape, ndim):
    x = np.zeros(shape)
    if len(shape) == ndim:
        checks.check_array(x, "weights", ndim=ndim)
    else:
        with pytest.raises(ValueError, match=rf"weights must have {ndim} dimensions"):
            checks.check_array(x, "weights", ndim=ndim)


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=4, max_dims=4, max_side=4)))
def test_check_images_accepts_exactly_unit_interval(x):
    x = np.nan_to_num(x)
    inside = bool(((x >= 0) & (x <= 1)).all())
    if inside:
        checks.check_images(x)
    else:
        with pytest.raises(ValueError, match="images must be"):
            checks.check_images(x)


@given(st.integers(-3, 3), st.integers(-3, 3))
def test_binary_spins(a, b):
    x = np.array([a, b])
    if {a, b} <= {-1, 1}:
        checks.check_binary_spins(x)
    else:
        with pytest.raises(ValueError, match="only -1 and \\+1"):
            checks.check_binary_spins(x)


@given(st.one_of(st.floats(allow_nan=True), st.integers(-5, 5)))
def test_check_positive(value):
    if isinstance(value, float) and not np.isfinite(value):
        with pytest.raises(TypeError):
            checks.check_positive(value, "beta")
    elif value > 0:
        assert checks.check_positive(value, "beta") == value
    else:
        with pytest.raises(ValueError, match="beta must be > 0"):
            checks.check_positive(value, "beta")


@given(st.floats(-1, 2, allow_nan=False))
def test_check_probability_open_interval(p):
    if 0 < p < 0.5:
        checks.check_probability(p, "noise_rate", high=0.5)
    else:
        with pytest.raises(ValueError, match=r"noise_rate must lie in \(0.0, 0.5\)"):
            checks.check_probability(p, "noise_rate", high=0.5)


def test_type_errors_are_clear():
    with pytest.raises(TypeError, match="X must be a NumPy array or a torch tensor, got list"):
        checks.check_array([1, 2], "X")
    with pytest.raises(TypeError, match="floating-point"):
        checks.check_array(np.zeros(3, dtype=int), "X", kinds="f")
    with pytest.raises(TypeError, match="must be an integer"):
        checks.check_int(2.0, "n")
    with pytest.raises(TypeError, match="must be an integer"):
        checks.check_int(True, "n")


def test_shape_and_empty_and_bounds():
    with pytest.raises(ValueError, match=r"mask must have shape \(\*, 3\)"):
        checks.check_array(np.zeros((2, 4)), "mask", shape=(None, 3))
    with pytest.raises(ValueError, match="is empty"):
        checks.check_array(np.zeros((0, 3)), "X")
    assert checks.check_array(np.zeros((0, 3)), "X", allow_empty=True).shape == (0, 3)
    with pytest.raises(ValueError, match="minimum"):
        checks.check_array(np.array([-1.0]), "X", min_value=0)


def test_check_images_channels_and_size():
    x = torch.rand(2, 1, 8, 8)
    assert checks.check_images(x, channels=1, size=(8, 8)) is x
    with pytest.raises(ValueError, match="channel"):
        checks.check_images(x, channels=3)
    with pytest.raises(ValueError, match="28×28"):
        checks.check_images(x, size=(28, 28))
    with pytest.raises(ValueError, match="4 dimensions"):
        checks.check_images(torch.rand(8, 8))


def test_check_labels():
    checks.check_labels(torch.tensor([0, 9]), n=2, n_classes=10)
    with pytest.raises(ValueError, match="labels must have shape"):
        checks.check_labels(torch.tensor([0, 9]), n=3)
    with pytest.raises(ValueError, match="<= 9"):
        checks.check_labels(torch.tensor([0, 10]), n_classes=10)


def test_check_one_of_lists_options():
    with pytest.raises(ValueError, match="'train', 'test'"):
        checks.check_one_of("dev", "split", ("train", "test"))


def test_check_str_one_of_refuses_a_non_string_by_name():
    assert checks.check_str_one_of("test", "split", ("train", "test")) == "test"
    with pytest.raises(TypeError, match=r"^split must be a string, one of 'train', 'test'; got"):
        checks.check_str_one_of(np.array(["test"]), "split", ("train", "test"), "a string")
    with pytest.raises(ValueError, match="'train', 'test'"):
        checks.check_str_one_of("dev", "split", ("train", "test"))


def test_conversions_keep_the_input_type():
    t = torch.ones(2)
    assert isinstance(checks.like_input(t, np.ones(2)), np.ndarray)
    assert isinstance(checks.like_input(t, t), torch.Tensor)
    assert checks.as_tensor(np.ones(2), dtype=torch.float64).dtype == torch.float64
    assert isinstance(checks.as_numpy(t), np.ndarray)


# --------------------------------------------------------------------------- regressions: seeds


class TestCheckSeed:
    """The shared seed validator: None or an integer in [0, 2**63 - 1]; 1.9 is not 1."""

    @pytest.mark.parametrize("good", [None, 0, 7, np.int64(3), np.uint32(5), 2**63 - 1])
    def test_accepts_integers_and_none(self, good):
        result = checks.check_seed(good)
        assert result == good and (result is None or type(result) is int)

    @pytest.mark.parametrize(
        ("bad", "error"),
        [
            (-1, ValueError),
            (2**63, ValueError),
            (1.9, TypeError),
            (1.0, TypeError),
            (np.float64(2.0), TypeError),
            (True, TypeError),
            ("1", TypeError),
            (np.array(3), TypeError),
        ],
    )
    def test_rejects_everything_else_naming_the_seed(self, bad, error):
        with pytest.raises(error, match="seed"):
            checks.check_seed(bad)

    def test_name_allow_none_and_max_value(self):
        with pytest.raises(TypeError, match="loop_seed"):
            checks.check_seed(None, "loop_seed", allow_none=False)
        with pytest.raises(ValueError, match=r"\[0, 4294967295\]"):
            checks.check_seed(2**32, max_value=2**32 - 1)
        assert checks.check_seed(2**32 - 1, max_value=2**32 - 1) == 2**32 - 1


# ------------------------------------------------------------------ regressions: covariances


def _spd(dim: int = 3, seed: int = 0) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(dim, dim))
    return a @ a.T + 0.5 * np.eye(dim)


class TestCheckCovariance:
    """Non-symmetric matrices were used as their lower triangle; non-PD ones failed late."""

    def test_symmetric_positive_definite_passes_unchanged(self):
        cov = _spd()
        assert checks.check_covariance(cov, "cov") is cov
        batch = torch.as_tensor(np.stack([_spd(3, s) for s in range(4)]))
        assert checks.check_covariance(batch, "covariances", batched=True, n_matrices=4) is batch
        small = _spd() * 1e-200  # the tolerance is relative: tiny covariances are fine
        checks.check_covariance(small, "cov")
        checks.check_covariance(np.eye(2, dtype=int), "cov")

    def test_rounding_level_asymmetry_passes(self):
        cov = _spd()
        cov[0, 1] *= 1 + 1e-13
        checks.check_covariance(cov, "cov")
        cov32 = torch.as_tensor(_spd(), dtype=torch.float32)
        cov32[0, 1] *= 1 + 1e-6  # float32 rounding
        checks.check_covariance(cov32, "cov")

    @pytest.mark.parametrize("scale", [1.0, 1e-200, 1e200])
    def test_non_symmetric_is_rejected_at_any_scale(self, scale):
        with pytest.raises(ValueError, match=r"cov must be symmetric positive definite.*not sym"):
            checks.check_covariance(np.array([[1.0, 5.0], [0.0, 1.0]]) * scale, "cov")

    def test_batch_names_the_component(self):
        batch = np.stack([np.eye(2), np.array([[1.0, 5.0], [0.0, 1.0]])])
        with pytest.raises(ValueError, match=r"component 1 \(covariances\[1\]\) is not symm"):
            checks.check_covariance(batch, "covariances")
        batch = np.stack([np.eye(2), np.eye(2), np.array([[1.0, 2.0], [2.0, 1.0]])])
        with pytest.raises(ValueError, match=r"component 2.*not positive definite"):
            checks.check_covariance(torch.as_tensor(batch), "covariances")

    def test_numerically_singular_is_rejected(self):
        """A matrix that is singular up to rounding (a component collapsed on a line) may
        "factor" on some BLAS; it must be refused everywhere the same way."""
        v = np.array([1.0, 2.0])
        collapsed = 1.6544e-24 * np.outer(v, v)
        collapsed[1, 1] *= 1 + 2e-16
        with pytest.raises(ValueError, match="not positive definite"):
            checks.check_covariance(collapsed, "cov")
        with pytest.raises(ValueError, match="not positive definite"):
            checks.check_covariance(np.zeros((2, 2)), "cov")

    @pytest.mark.parametrize(
        ("bad", "error", "match"),
        [
            (np.eye(2, dtype=bool), TypeError, "dtype"),
            (np.eye(2) + 0j, TypeError, "dtype"),
            (np.eye(2).astype(object), TypeError, "dtype"),
            (np.ones(3), ValueError, "dimensions"),
            (np.ones((2, 3)), ValueError, "square"),
            (np.array([[np.nan, 0.0], [0.0, 1.0]]), ValueError, "NaN"),
            (np.zeros((0, 0)), ValueError, "empty"),
            ([[1.0, 0.0], [0.0, 1.0]], TypeError, "NumPy array"),
        ],
    )
    def test_bad_inputs(self, bad, error, match):
        with pytest.raises(error, match=match) as info:
            checks.check_covariance(bad, "cov")
        assert "cov" in str(info.value)

    def test_expected_sizes(self):
        with pytest.raises(ValueError, match=r"\(3, 3\)"):
            checks.check_covariance(np.eye(2), "cov", dim=3)
        with pytest.raises(ValueError, match="3 dimensions"):
            checks.check_covariance(np.eye(2), "cov", batched=True)
        with pytest.raises(ValueError, match="2 matrices"):
            checks.check_covariance(np.stack([np.eye(2)] * 3), "cov", n_matrices=2)


def test_as_tensor_accepts_big_endian_and_long_double_arrays():
    """torch.as_tensor refuses non-native byte order and has no long double."""
    x = np.arange(6.0).reshape(2, 3)
    torch.testing.assert_close(checks.as_tensor(x.astype(">f8")), torch.as_tensor(x))
    converted = checks.as_tensor(x.astype(np.longdouble), dtype=torch.float64)
    torch.testing.assert_close(converted, torch.as_tensor(x))


class TestCheckFitsDtypeMemory:
    """The overflow check runs in blocks, without boolean indexing (notebook 08 once peaked at
    2.2 GB: the index tensors of ``x[isfinite(x)]`` on 60,000 images took 1.2 GB)."""

    def test_largest_finite_magnitude_skips_nan_and_inf_across_blocks(self):
        from lessons_lib.checks import _largest_finite_magnitude

        values = np.array([np.nan, -3.0, np.inf, 2.0, -np.inf, 1.5, np.nan])
        assert _largest_finite_magnitude(values, block=2) == 3.0
        assert _largest_finite_magnitude(torch.tensor(values), block=3) == 3.0
        assert _largest_finite_magnitude(np.array([np.nan, np.inf]), block=1) is None

    def test_float64_beyond_float32_is_refused_and_float32_passes_untouched(self):
        from lessons_lib.checks import check_fits_dtype

        big = np.zeros((3, 5))
        big[2, 4] = -1e39
        with pytest.raises(ValueError, match="data has values up to 1e"):
            check_fits_dtype(big, "data", torch.float32)
        x = torch.rand(4, 1, 8, 8)
        assert check_fits_dtype(x, "data", torch.float32) is x
        assert check_fits_dtype(torch.tensor(big[:2]), "data", torch.float32) is not None
