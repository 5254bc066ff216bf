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
