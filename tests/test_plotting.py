import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lessons_lib import plotting


def test_tile_images_layouts_and_padding():
    batch = torch.rand(6, 1, 8, 8)
    grid = plotting.tile_images(batch, nrow=3, padding=1)
    assert grid.shape == (2 * 9 + 1, 3 * 9 + 1)
    np.testing.assert_allclose(grid[1:9, 1:9], batch[0, 0].numpy())
    np.testing.assert_allclose(grid[10:18, 19:27], batch[5, 0].numpy())
    colour = plotting.tile_images(np.random.default_rng(0).random((4, 3, 5, 5)), padding=0)
    assert colour.shape == (10, 10, 3)
    rows = plotting.tile_images(torch.rand(2, 5, 1, 4, 4), padding=0)
    assert rows.shape == (8, 20)
    assert plotting.tile_images(torch.rand(3, 4, 4), padding=0).shape == (8, 8)


def test_tile_images_upscales_with_nearest_neighbour():
    image = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    big = plotting.tile_images(image, padding=0, upscale=3)
    assert big.shape == (6, 6)
    np.testing.assert_array_equal(big[:3, :3], 0.0)
    np.testing.assert_array_equal(big[:3, 3:], 1.0)
    assert plotting.tile_images(torch.rand(1, 1, 8, 8), padding=0, upscale="auto").shape == (64, 64)


def test_tile_images_rejects_bad_layouts():
    with pytest.raises(ValueError, match="1 or 3 channels"):
        plotting.tile_images(torch.rand(2, 2, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        plotting.tile_images(torch.full((1, 1, 2, 2), float("nan")))


def test_show_images_returns_a_titled_figure():
    fig = plotting.show_images(torch.rand(10, 1, 8, 8), nrow=5, title="digits")
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "digits"
    fig = plotting.show_images(torch.rand(3, 1, 8, 8), titles=["a", "b", "c"])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="titles"):
        plotting.show_images(torch.rand(3, 1, 8, 8), titles=["a"])


def test_show_images_uses_nearest_neighbour():
    fig = plotting.show_images(torch.rand(4, 1, 8, 8))
    assert fig.axes[0].images[0].get_interpolation() == "nearest"


def test_compare_images_labels_each_row():
    fig = plotting.compare_images(
        {"truth": torch.rand(4, 1, 8, 8), "restored": torch.rand(4, 1, 8, 8)}
    )
    assert [ax.get_ylabel() for ax in fig.axes] == ["truth", "restored"]
    with pytest.raises(ValueError, match="empty"):
        plotting.compare_images({})


def test_plot_history_labels_axes():
    fig = plotting.plot_history({"loss": [3, 2, 1], "val_loss": [3, 2.5, 2]}, ylabel="nats")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "nats"
    assert len(ax.lines) == 2
    with pytest.raises(KeyError, match="acc"):
        plotting.plot_history({"loss": [1]}, keys=["acc"])


def test_draw_ellipse_follows_the_eigenvectors():
    fig = plotting.scatter_2d(torch.randn(10, 2))
    ax = fig.axes[0]
    patch = plotting.draw_ellipse(ax, [1.0, 2.0], [[4.0, 0.0], [0.0, 1.0]], n_std=1.0)
    assert patch.width == pytest.approx(4.0) and patch.height == pytest.approx(2.0)
    assert patch.angle % 180 == pytest.approx(0.0)
    rotated = plotting.draw_ellipse(ax, [0.0, 0.0], [[1.0, 0.0], [0.0, 9.0]], n_std=2.0)
    assert rotated.width == pytest.approx(12.0) and rotated.angle % 180 == pytest.approx(90.0)
    assert ax.get_xlabel() and ax.get_ylabel()


def test_plot_density_2d_evaluates_the_density():
    seen = {}

    def log_density(points):
        seen["shape"] = points.shape
        return -0.5 * (points**2).sum(1) - np.log(2 * np.pi)

    fig = plotting.plot_density_2d(
        log_density,
        xlim=(-3, 3),
        ylim=(-3, 3),
        resolution=50,
        means=np.zeros((1, 2)),
        covariances=np.eye(2)[None],
    )
    assert seen["shape"] == (2500, 2)
    assert fig.axes[0].get_xlabel() == "$x_1$"


def test_png_encoders():
    png = plotting.array_to_png(np.random.default_rng(0).random((20, 30)))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert plotting.array_to_png(np.zeros((4, 4, 3)))[:4] == b"\x89PNG"
    assert plotting.figure_to_png(plotting.plot_history({"a": [1, 2]}))[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- robustness


class TestPlottingRegressions:
    @pytest.mark.parametrize(
        ("call", "error", "match"),
        [
            (lambda: plotting.tile_images(torch.rand(2, 1, 4, 4), nrow=0), ValueError, "nrow"),
            (
                lambda: plotting.tile_images(torch.rand(2, 1, 4, 4), padding=-1),
                ValueError,
                "padding",
            ),
            (
                lambda: plotting.tile_images(torch.rand(2, 1, 4, 4), upscale="big"),
                ValueError,
                "upscale",
            ),
            (
                lambda: plotting.tile_images(torch.rand(2, 1, 4, 4), upscale=10**5),
                ValueError,
                "pixels",
            ),
            (
                lambda: plotting.tile_images(torch.rand(2, 1, 4, 4), pad_value=float("nan")),
                ValueError,
                "pad_value",
            ),
            (lambda: plotting.tile_images(np.array([["a"]])), TypeError, "numbers"),
            (lambda: plotting.tile_images(np.full((1, 1, 2, 2), 1e39)), ValueError, "Rescale"),
            (lambda: plotting.upscale_nearest(np.zeros(4), 2), ValueError, "image"),
            (lambda: plotting.show_images(torch.rand(2, 1, 4, 4), nrow=-1), ValueError, "nrow"),
            (
                lambda: plotting.show_images(torch.rand(2, 1, 4, 4), vmin=1.0, vmax=0.0),
                ValueError,
                "vmin",
            ),
            (lambda: plotting.show_images(torch.rand(2, 1, 4, 4), cmap="nope"), ValueError, "cmap"),
            (lambda: plotting.show_images(torch.rand(2, 1, 4, 4), scale=0), ValueError, "scale"),
            (
                lambda: plotting.show_images(torch.rand(2, 1, 4, 4), titles="ab"),
                TypeError,
                "titles",
            ),
            (lambda: plotting.compare_images([torch.rand(2, 1, 4, 4)]), TypeError, "rows"),
            (
                lambda: plotting.compare_images({"a": torch.rand(2, 2, 4, 4)}),
                ValueError,
                r"rows\['a'\]",
            ),
            (
                lambda: plotting.compare_images({"a": torch.rand(2, 1, 4, 4)}, ncol=0),
                ValueError,
                "ncol",
            ),
            (lambda: plotting.plot_history([1, 2]), TypeError, "history"),
            (lambda: plotting.plot_history({"a": [[1, 2], [3, 4]]}), ValueError, "1-D"),
            (lambda: plotting.plot_history({"a": [1]}, logy="no"), TypeError, "logy"),
            (lambda: plotting.scatter_2d(np.zeros((3, 2)), np.zeros(4)), ValueError, "labels"),
            (lambda: plotting.scatter_2d(np.zeros((3, 2)), alpha=2.0), ValueError, "alpha"),
            (lambda: plotting.scatter_2d(np.full((3, 2), 1.7e308)), ValueError, "Rescale"),
            (lambda: plotting.figure_to_png("fig"), TypeError, "fig"),
            (
                lambda: plotting.figure_to_png(plotting.plot_history({"a": [1]}), dpi=10**5),
                ValueError,
                "dpi",
            ),
            (lambda: plotting.array_to_png(np.array([[np.inf, 0.0]])), ValueError, "infinite"),
            (lambda: plotting.array_to_png(np.zeros((4, 4, 2))), ValueError, "colour"),
            (lambda: plotting.array_to_png(np.zeros((4, 4)), cmap="nope"), ValueError, "cmap"),
        ],
    )
    def test_bad_arguments_are_named(self, call, error, match):
        with pytest.raises(error, match=match):
            call()

    def test_plot_history_accepts_one_key_as_a_string(self):
        fig = plotting.plot_history({"loss": [3, 2, 1], "acc": [0, 1, 1]}, "loss")
        assert [line.get_label() for line in fig.axes[0].lines] == ["loss"]

    def test_array_to_png_refuses_values_outside_the_unit_range(self):
        for bad in (np.array([[1e39, 0.0]]), np.array([[1.001, 0.0]]), np.array([[-0.5, 0.0]])):
            with pytest.raises(ValueError, match="image must be"):
                plotting.array_to_png(bad)
        with pytest.raises(TypeError, match="image"):
            plotting.array_to_png(np.zeros((2, 2), dtype=bool))

    @pytest.mark.parametrize(
        "call",
        [
            lambda: plotting.tile_images(np.zeros((2, 1, 4, 4), dtype=bool)),
            lambda: plotting.scatter_2d(np.zeros((3, 2), dtype=bool)),
            lambda: plotting.draw_ellipse(
                plotting.scatter_2d(np.zeros((2, 2))).axes[0], np.zeros(2, dtype=bool), np.eye(2)
            ),
            lambda: plotting.upscale_nearest(np.array([["a"]]), 2),
        ],
    )
    def test_bool_or_text_arrays_are_not_numbers_to_plot(self, call):
        with pytest.raises(TypeError, match="real numbers"):
            call()

    def test_show_images_refuses_values_outside_vmin_vmax(self):
        with pytest.raises(ValueError, match=r"\[vmin, vmax\]"):
            plotting.show_images(np.full((2, 1, 4, 4), 1.5))
        fig = plotting.show_images(np.full((2, 1, 4, 4), 1.5), vmin=0.0, vmax=2.0)
        assert isinstance(fig, Figure)
        with pytest.raises(ValueError, match=r"\[vmin, vmax\]"):
            plotting.show_images(np.full((2, 1, 4, 4), -1e-4))

    def test_show_images_accepts_rounding_just_outside_the_range(self):
        # A mixture's mean of 0/1 pixels came out at -2.8e-17 with one thread (notebook 03).
        images = np.linspace(0, 1, 32).reshape(2, 1, 4, 4)
        images[0, 0, 0, 0], images[1, 0, 3, 3] = -2.8e-17, 1 + 1e-12
        assert isinstance(plotting.show_images(images), Figure)

    def test_missing_history_keys_name_keys_and_are_value_errors(self):
        with pytest.raises(ValueError, match="keys"):
            plotting.plot_history({"loss": [1.0]}, keys=["acc"])
        with pytest.raises(KeyError, match="history"):
            plotting.plot_history({}, keys=["loss"])

    def test_upscale_nearest_refuses_nan_and_tile_refuses_huge_padding(self):
        with pytest.raises(ValueError, match="NaN"):
            plotting.upscale_nearest(np.array([[np.nan, 0.0]]), 2)
        with pytest.raises(ValueError, match="padding"):
            plotting.tile_images(np.zeros((2, 1, 4, 4)), padding=10**20)
        with pytest.raises(ValueError, match="pad_value"):
            plotting.tile_images(np.zeros((2, 1, 4, 4)), pad_value=1e300)
        with pytest.raises(ValueError, match="scale"):
            plotting.show_images(np.zeros((2, 1, 4, 4)), scale=1e300)

    def test_draw_ellipse_refuses_non_covariances_and_handles_extreme_scales(self):
        ax = plotting.scatter_2d(np.zeros((2, 2))).axes[0]
        with pytest.raises(ValueError, match="symmetric"):
            plotting.draw_ellipse(ax, [0, 0], [[1.0, 0.5], [-0.5, 1.0]])
        with pytest.raises(ValueError, match="semi-definite"):
            plotting.draw_ellipse(ax, [0, 0], [[1.0, 0.0], [0.0, -1.0]])
        with pytest.raises(ValueError, match="n_std"):
            plotting.draw_ellipse(ax, [0, 0], np.eye(2), n_std=0)
        with pytest.raises(TypeError, match="ax"):
            plotting.draw_ellipse(None, [0, 0], np.eye(2))
        tiny = plotting.draw_ellipse(ax, [0, 0], np.eye(2) * 1e-300, n_std=1.0)
        assert tiny.width == pytest.approx(2e-150)
        flat = plotting.draw_ellipse(ax, [0, 0], [[1.0, 1.0], [1.0, 1.0]], n_std=1.0)
        assert flat.height == pytest.approx(0.0, abs=1e-7)

    def test_plot_density_2d_extreme_log_densities(self):
        peaked = plotting.plot_density_2d(
            lambda p: 1000.0 - (p**2).sum(1), xlim=(-1, 1), ylim=(-1, 1), resolution=20
        )
        colourbar = peaked.axes[-1]
        assert "p_{max}" in colourbar.get_ylabel()
        with pytest.raises(ValueError, match="-inf"):
            plotting.plot_density_2d(
                lambda p: np.full(len(p), -np.inf), xlim=(0, 1), ylim=(0, 1), resolution=5
            )
        with pytest.raises(ValueError, match="NaN"):
            plotting.plot_density_2d(
                lambda p: np.full(len(p), np.nan), xlim=(0, 1), ylim=(0, 1), resolution=5
            )
        with pytest.raises(ValueError, match="shape"):
            plotting.plot_density_2d(lambda p: np.zeros(3), xlim=(0, 1), ylim=(0, 1), resolution=5)

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"xlim": (1, 0)}, ValueError, "xlim"),
            ({"ylim": (0, float("inf"))}, ValueError, r"ylim\[1\]"),
            ({"xlim": 3}, TypeError, "xlim"),
            ({"resolution": 1}, ValueError, "resolution"),
            ({"resolution": 10**5}, ValueError, "resolution"),
            ({"means": np.zeros((1, 2))}, ValueError, "both"),
            (
                {"means": np.zeros((1, 2)), "covariances": np.zeros((2, 2, 2))},
                ValueError,
                "covariances",
            ),
            ({"points": np.zeros((3, 3))}, ValueError, "points"),
            ({"log_density": 3}, TypeError, "log_density"),
        ],
    )
    def test_plot_density_2d_bad_arguments(self, kwargs, error, match):
        args = {
            "log_density": lambda p: -(p**2).sum(1),
            "xlim": (0, 1),
            "ylim": (0, 1),
            "resolution": 5,
            **kwargs,
        }
        with pytest.raises(error, match=match):
            plotting.plot_density_2d(**args)

    def test_plot_mixture_2d_checks_weights_and_covariances(self):
        points, means = np.zeros((4, 2)), np.zeros((2, 2))
        good = plotting.plot_mixture_2d(points, np.array([0.5, 0.5]), means, np.ones(2))
        assert good.axes[0].get_title() == "mixture of 2 Gaussians"
        with pytest.raises(ValueError, match="weights"):
            plotting.plot_mixture_2d(points, np.array([0.5]), means, np.ones(2))
        with pytest.raises(ValueError, match="weights"):
            plotting.plot_mixture_2d(points, np.array([-0.5, 1.5]), means, np.ones(2))
        with pytest.raises(ValueError, match="semi-definite"):
            plotting.plot_mixture_2d(points, np.array([0.5, 0.5]), means, np.array([1.0, -1.0]))
        with pytest.raises(ValueError, match="covariances"):
            plotting.plot_mixture_2d(points, np.array([0.5, 0.5]), means, np.ones(3))


def test_tile_separators_are_mid_grey_so_binary_images_stay_apart():
    white = np.ones((2, 1, 3, 3), dtype=np.float32)
    grid = plotting.tile_images(white, nrow=2, padding=1)
    assert grid[0, 0] == 0.5 and grid[1, 4] == 0.5  # the frame and the line between the tiles
    np.testing.assert_array_equal(grid[1:4, 1:4], 1.0)
    assert plotting.tile_images(white, padding=1, pad_value=1.0)[1, 4] == 1.0  # still settable


def test_show_and_compare_images_separate_tiles_with_grey():
    fig = plotting.show_images(np.ones((2, 1, 3, 3)), nrow=2)
    shown = fig.axes[0].images[0].get_array()
    assert shown[0, 0] == 0.5 and shown[1, 4] == 0.5
    fig = plotting.show_images(np.full((2, 1, 3, 3), 2.0), nrow=2, vmin=0.0, vmax=4.0)
    assert fig.axes[0].images[0].get_array()[1, 4] == 2.0  # halfway between vmin and vmax
    fig = plotting.show_images(np.ones((2, 1, 3, 3)), nrow=2, pad_value=0.0)
    assert fig.axes[0].images[0].get_array()[1, 4] == 0.0
    fig = plotting.compare_images({"a": np.zeros((2, 1, 3, 3)), "b": np.ones((2, 1, 3, 3))})
    for ax in fig.axes:
        assert ax.images[0].get_array()[1, 4] == 0.5
    with pytest.raises(TypeError, match="pad_value"):
        plotting.show_images(np.ones((2, 1, 3, 3)), pad_value="grey")


def test_titled_grids_and_comparisons_use_constrained_layout():
    fig = plotting.show_images(torch.rand(3, 1, 8, 8), titles=["a", "b", "c"], title="all")
    assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"
    fig = plotting.compare_images({"a": torch.rand(2, 1, 4, 4)}, title="t")
    assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"
