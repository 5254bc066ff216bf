import time

import ipywidgets
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lessons_lib import widgets
from lessons_lib.data import load_digits


def noise_images(seed: int, n: int, brightness: float = 1.0) -> np.ndarray:
    return brightness * np.random.default_rng(seed).random((n, 1, 8, 8))


def make_sampler(**kwargs):
    return widgets.Sampler(
        noise_images,
        {"seed": widgets.seed_control(), "n": (1, 16), "brightness": (0.0, 1.0, 0.1)},
        **kwargs,
    )


def test_initial_render_and_controls():
    sampler = make_sampler()
    assert sampler.n_renders == 1 and sampler.error is None
    assert sampler.values == {"seed": 0, "n": 1, "brightness": 0.0}
    assert isinstance(sampler.controls["n"], ipywidgets.IntSlider)
    assert isinstance(sampler.controls["brightness"], ipywidgets.FloatSlider)
    assert not sampler.controls["n"].continuous_update
    assert sampler.png[:4] == b"\x89PNG" and sampler.image.value == sampler.png


def test_setting_a_value_redraws_the_picture():
    sampler = make_sampler()
    sampler.controls["brightness"].value = 1.0
    before = sampler.png
    sampler.controls["seed"].value = 7
    assert sampler.n_renders == 3
    assert sampler.png != before
    np.testing.assert_allclose(sampler.result, noise_images(7, 1, 1.0))
    sampler.controls["n"].value = 9
    assert sampler.result.shape == (9, 1, 8, 8)


def test_sample_again_increments_the_seed():
    sampler = make_sampler()
    sampler.button.click()
    assert sampler.values["seed"] == 1 and sampler.n_renders == 2


def test_small_images_are_enlarged_nearest_neighbour():
    sampler = make_sampler()
    sampler.controls["brightness"].value = 1.0
    picture = sampler.picture
    assert picture.shape == (64 + 16, 64 + 16)  # 1 px padding each side, 8× enlarged
    block = picture[8:16, 8:16]
    assert np.all(block == block[0, 0])


def test_redraw_is_fast():
    sampler = widgets.Sampler(
        lambda seed: noise_images(seed, 100), {"seed": widgets.seed_control()}, nrow=10
    )
    start = time.perf_counter()
    for seed in range(1, 6):
        sampler.controls["seed"].value = seed
    assert (time.perf_counter() - start) / 5 < 0.25  # generous bound; typically ~10 ms
    assert sampler.last_render_ms < 250


def test_errors_are_shown_not_raised():
    def render(k):
        if k > 2:
            raise ValueError("k too large")
        return np.zeros((8, 8))

    sampler = widgets.Sampler(render, {"k": (0, 5)})
    good = sampler.png
    sampler.controls["k"].value = 4
    assert sampler.error == "ValueError: k too large"
    assert "k too large" in sampler.status.value and sampler.png == good
    sampler.controls["k"].value = 1
    assert sampler.error is None and sampler.status.value == ""


def test_figure_results_and_single_images():
    def render(scale):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, scale])
        return fig

    sampler = widgets.Sampler(render, {"scale": (1.0, 2.0)})
    assert isinstance(sampler.result, Figure) and sampler.picture is None
    assert sampler.png[:4] == b"\x89PNG"
    photo = widgets.Sampler(lambda k: np.full((5, 7, 3), k / 10), {"k": (0, 10)}, upscale=1)
    assert photo.picture.shape == (5, 7, 3)


def test_display_bundle_carries_view_and_png():
    sampler = make_sampler()
    bundle = sampler._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == sampler.widget.model_id and view["version_major"] == 2
    import base64

    assert base64.b64decode(bundle["image/png"]) == sampler.png
    assert "Sampler" in bundle["text/plain"]


def test_shorthand_controls():
    sampler = widgets.Sampler(
        lambda label, flag: np.zeros((2, 1, 4, 4)),
        {"label": ["a", "b"], "flag": True},
    )
    assert isinstance(sampler.controls["label"], ipywidgets.Dropdown)
    assert isinstance(sampler.controls["flag"], ipywidgets.Checkbox)
    with pytest.raises(TypeError, match="control 'x'"):
        widgets.Sampler(lambda x: x, {"x": object()})
    with pytest.raises(TypeError, match="callable"):
        widgets.Sampler("not a function", {})


def test_browse_dataset_filters_by_class():
    images, labels = load_digits("val", device="cpu")
    browser = widgets.browse_dataset(images, labels, n=8)
    browser.controls["label"].value = 3
    chosen = torch.as_tensor(browser.result)
    wanted = images[labels == 3]
    assert all(any(torch.equal(c, w) for w in wanted) for c in chosen)
    with pytest.raises(ValueError, match="labels must have shape"):
        widgets.browse_dataset(images, labels[:5])
