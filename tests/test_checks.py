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


def test_conversions_keep_the_input_type():
    t = torch.ones(2)
    assert isinstance(checks.like_input(t, np.ones(2)), np.ndarray)
    assert isinstance(checks.like_input(t, t), torch.Tensor)
    assert checks.as_tensor(np.ones(2), dtype=torch.float64).dtype == torch.float64
    assert isinstance(checks.as_numpy(t), np.ndarray)
