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
    # Without a widget frontend the HTML shows the same picture, captioned with the values.
    assert bundle["image/png"] in bundle["text/html"]
    assert sampler.caption in bundle["text/html"]
    for name in sampler.values:
        assert f"{name} = " in sampler.caption


def test_caption_follows_the_controls_and_escapes_markup():
    sampler = widgets.Sampler(
        lambda seed, scale: np.full((1, 4, 4), scale / 2),
        {"seed": widgets.seed_control(3), "scale": (0.5, 2.0)},
        title="a <b> & c",
    )
    sampler.controls["seed"].value = 7
    assert sampler.caption.startswith("a <b> & c: seed = 7, scale = ")
    html_part = sampler._repr_mimebundle_()["text/html"]
    assert "a &lt;b&gt; &amp; c: seed = 7" in html_part and "<b>" not in html_part


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


# --------------------------------------------------------------------------- robustness


class TestControlRegressions:
    @pytest.mark.parametrize(
        ("args", "kwargs", "match"),
        [
            ((5, 1), {}, "min must be <= max"),
            ((1.0, 0.5), {}, "min must be <= max"),
            ((0, 10), {"value": 11}, "value must lie in"),
            ((0.0, 1.0, 0.0), {}, "step must be > 0"),
            ((0.0, 1.0, -0.1), {}, "step must be > 0"),
            ((0.0, float("nan")), {}, "max must be finite"),
            ((float("-inf"), 1.0), {}, "min must be finite"),
        ],
    )
    def test_slider_value_errors(self, args, kwargs, match):
        with pytest.raises(ValueError, match=match):
            widgets.slider(*args, **kwargs)

    @pytest.mark.parametrize(
        ("args", "kwargs", "match"),
        [
            (("0", 1), {}, "min must be a number"),
            ((0, 1), {"value": True}, "value must be a number"),
            ((0, 1), {"description": 3}, "description"),
        ],
    )
    def test_slider_type_errors(self, args, kwargs, match):
        with pytest.raises(TypeError, match=match):
            widgets.slider(*args, **kwargs)

    def test_slider_edge_cases_work(self):
        fixed = widgets.slider(2.0, 2.0)
        assert fixed.value == 2.0 and fixed.step > 0
        wide = widgets.slider(-1e308, 1e308)
        assert np.isfinite(wide.step)
        numpy_ints = widgets.slider(np.int64(0), np.int64(5), value=np.int64(3))
        assert isinstance(numpy_ints, ipywidgets.IntSlider) and numpy_ints.value == 3

    def test_other_controls_refuse_bad_values(self):
        with pytest.raises(ValueError, match="not one of the options"):
            widgets.dropdown(["a", "b"], "c")
        with pytest.raises(ValueError, match="empty"):
            widgets.dropdown([])
        with pytest.raises(TypeError, match="options"):
            widgets.dropdown("abc")
        with pytest.raises(TypeError, match="value"):
            widgets.checkbox("yes")
        for bad, error in [
            (-1, ValueError),
            (2**31, ValueError),
            (1.5, TypeError),
            (True, TypeError),
            (None, TypeError),
        ]:
            with pytest.raises(error, match="value"):
                widgets.seed_control(bad)

    def test_sampler_checks_its_arguments(self):
        with pytest.raises(TypeError, match="controls"):
            widgets.Sampler(noise_images, [("seed", 0)])
        with pytest.raises(ValueError, match="nrow"):
            widgets.Sampler(noise_images, {}, nrow=0)
        with pytest.raises(ValueError, match="upscale"):
            widgets.Sampler(noise_images, {}, upscale="big")
        with pytest.raises(TypeError, match="title"):
            widgets.Sampler(noise_images, {}, title=3)
        with pytest.raises(TypeError, match="control names"):
            widgets.Sampler(noise_images, {"not a name": (0, 1)})


class TestHtmlEscaping:
    def test_title_and_error_text_are_escaped(self):
        def render(k):
            raise ValueError("<img src=x onerror=alert(1)> & <b>")

        sampler = widgets.Sampler(render, {"k": (0, 2)}, title="<script>x</script> & y")
        title = sampler.widget.children[0].value
        assert "<script>" not in title and "&lt;script&gt;x&lt;/script&gt; &amp; y" in title
        assert "<img" not in sampler.status.value
        assert "&lt;img src=x onerror=alert(1)&gt; &amp; &lt;b&gt;" in sampler.status.value
        assert sampler.error == "ValueError: <img src=x onerror=alert(1)> & <b>"


class TestBrowseDatasetLabels:
    def images(self, n=12):
        return np.random.default_rng(0).random((n, 1, 4, 4))

    @pytest.mark.parametrize(
        "labels",
        [np.array([3, 7] * 6), np.array([-1, 5, 100] * 4), np.array([10**12, 0] * 6)],
    )
    def test_arbitrary_integer_labels(self, labels):
        images = self.images()
        browser = widgets.browse_dataset(images, labels, n=4)
        classes = sorted(set(labels.tolist()))
        options = dict(browser.controls["label"].options)
        assert [options[str(c)] for c in classes] == classes
        for c in classes:  # even -1, which used to mean "all classes"
            browser.controls["label"].value = c
            assert browser.error is None
            chosen = browser.result
            assert all(any(np.array_equal(x, w) for w in images[labels == c]) for x in chosen)
        browser.controls["label"].value = widgets.ALL_CLASSES
        assert browser.error is None and len(browser.result) == 4

    def test_class_names_by_value_or_by_distinct_label(self):
        images = self.images()
        labels = np.array([3, 7] * 6)
        names = [f"class {k}" for k in range(10)]
        by_value = widgets.browse_dataset(images, labels, class_names=names)
        assert dict(by_value.controls["label"].options)["class 7"] == 7
        by_order = widgets.browse_dataset(images, labels, class_names=["three", "seven"])
        assert dict(by_order.controls["label"].options)["seven"] == 7
        with pytest.raises(ValueError, match="class_names has 3 names"):
            widgets.browse_dataset(images, labels, class_names=["a", "b", "c"])
        with pytest.raises(TypeError, match="class_names"):
            widgets.browse_dataset(images, labels, class_names="ab")

    def test_bad_browse_arguments(self):
        images, labels = self.images(), np.arange(12) % 3
        with pytest.raises(ValueError, match="n must be >= 1"):
            widgets.browse_dataset(images, labels, n=0)
        with pytest.raises(ValueError, match="nrow"):
            widgets.browse_dataset(images, labels, nrow=0)
        with pytest.raises(ValueError, match="images"):
            widgets.browse_dataset(images * 5, labels)
        with pytest.raises(TypeError, match="labels"):
            widgets.browse_dataset(images, labels.astype(float))


class TestSamplerDisplay:
    def test_out_of_range_renders_are_clipped_for_display_and_timed(self):
        sampler = widgets.Sampler(lambda k: np.full((2, 1, 4, 4), k), {"k": (0.0, 3.0)})
        sampler.controls["k"].value = 3.0
        assert sampler.error is None and sampler.png[:4] == b"\x89PNG"
        failing = widgets.Sampler(lambda k: 1 / 0, {"k": (0, 1)})
        assert failing.error.startswith("ZeroDivisionError")
        assert np.isfinite(failing.last_render_ms)
