import numpy as np
import pytest
import torch
from torch import nn

from lessons_lib import training


def regression_problem(seed=0, n=256):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(n, generator=gen)
    return x, y


def make_step(model, lr=0.05):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def step(batch):
        x, y = batch
        loss = ((model(x).squeeze(-1) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss}

    return step


def train(seed, epochs=5, **kwargs):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    history = training.train_loop(
        make_step(model),
        regression_problem(),
        modules=model,
        epochs=epochs,
        batch_size=32,
        seed=seed,
        device="cpu",
        progress=False,
        **kwargs,
    )
    return model, history


def test_loss_goes_down_and_history_is_per_epoch():
    model, history = train(seed=1)
    assert len(history["loss"]) == 5 and len(history["epoch_seconds"]) == 5
    assert history["loss"][-1] < 0.2 * history["loss"][0]
    assert not model.training  # left in eval mode
    assert history.seconds > 0


def test_same_seed_same_numbers():
    a, ha = train(seed=3)
    b, hb = train(seed=3)
    _, hc = train(seed=4)
    assert ha["loss"] == hb["loss"] and torch.equal(a.weight, b.weight)
    assert ha["loss"] != hc["loss"]


def test_batches_cover_the_data_once_per_epoch():
    seen = []
    data = torch.arange(10)
    training.train_loop(
        lambda batch: seen.append(batch[0].clone()) or {},
        data,
        epochs=2,
        batch_size=4,
        seed=0,
        device="cpu",
        progress=False,
    )
    assert [len(b) for b in seen] == [4, 4, 2, 4, 4, 2]
    assert sorted(torch.cat(seen[:3]).tolist()) == list(range(10))
    seen.clear()
    training.train_loop(
        lambda batch: seen.append(batch[0]) or {},
        data,
        epochs=1,
        batch_size=4,
        drop_last=True,
        shuffle=False,
        device="cpu",
        progress=False,
    )
    assert [b.tolist() for b in seen] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_early_stopping_restores_the_best_weights():
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    scores = iter([5.0, 3.0, 4.0, 6.0, 7.0, 1.0])
    weights = []

    def step(batch):
        with torch.no_grad():
            model.weight += 1.0
        return {}

    def validate():
        weights.append(float(model.weight))
        return {"val_loss": next(scores)}

    history = training.train_loop(
        step,
        torch.zeros(4),
        modules=model,
        epochs=6,
        batch_size=4,
        validate=validate,
        patience=2,
        device="cpu",
        progress=False,
    )
    assert history.stopped_early and history.best_epoch == 1
    assert len(history["val_loss"]) == 4
    assert model.weight.item() == weights[1]


def test_on_epoch_end_is_called():
    calls = []
    train(seed=0, epochs=3, on_epoch_end=lambda epoch, history: calls.append(epoch))
    assert calls == [0, 1, 2]


def test_bad_arguments():
    with pytest.raises(ValueError, match="same first axis"):
        training.train_loop(
            lambda b: {}, [torch.zeros(3), torch.zeros(4)], epochs=1, device="cpu", progress=False
        )
    with pytest.raises(ValueError, match="patience needs validate"):
        training.train_loop(lambda b: {}, torch.zeros(3), epochs=1, patience=2, device="cpu")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        training.train_loop(lambda b: {}, torch.zeros(3), epochs=1, batch_size=0, device="cpu")


def test_checkpoint_round_trip_is_atomic(tmp_path):
    model, history = train(seed=0, epochs=2)
    path = training.save_checkpoint(
        tmp_path / "ckpt" / "linear.pt", model, settings={"lr": 0.05}, history=history
    )
    assert [p.name for p in path.parent.iterdir()] == ["linear.pt"]
    fresh = nn.Linear(3, 1)
    payload = training.load_checkpoint(path, fresh)
    assert torch.equal(fresh.weight, model.weight)
    assert payload["settings"] == {"lr": 0.05}
    assert payload["history"]["loss"] == history["loss"]
    assert payload["versions"]["torch"] == torch.__version__


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train the model first"):
        training.load_checkpoint(tmp_path / "missing.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="delete it and retrain"):
        training.load_checkpoint(broken)
    model, _ = train(seed=0, epochs=1)
    path = training.save_checkpoint(tmp_path / "m.pt", {"generator": model})
    with pytest.raises(KeyError, match="discriminator"):
        training.load_checkpoint(path, {"discriminator": model})


def test_history_helpers():
    history = training.History()
    history.log(loss=2.0, acc=0.5)
    history.log(loss=1.0)
    assert history.last("loss") == 1.0
    assert isinstance(history.as_arrays()["loss"], np.ndarray)


# --------------------------------------------------------------------------- robustness


class TestCheckpointRegressions:
    """Regressions: all-or-nothing loading, settings that round-trip, atomic writes."""

    def test_load_into_another_architecture_changes_nothing_and_names_the_keys(self, tmp_path):
        saved = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
        path = training.save_checkpoint(tmp_path / "a.pt", saved)
        # Same first layer, then a different second one and an extra third one.
        other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Linear(2, 1))
        before = {k: v.clone() for k, v in other.state_dict().items()}
        with pytest.raises(ValueError) as info:
            training.load_checkpoint(path, other)
        message = str(info.value)
        assert "missing keys: 3.weight, 3.bias" in message
        assert "2.weight (checkpoint (1, 4), model (2, 4))" in message
        assert "nothing was loaded" in message
        after = other.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)  # not even layer 0

    def test_unexpected_keys_are_named_and_all_modules_are_checked_first(self, tmp_path):
        big, small = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), nn.Sequential(nn.Linear(2, 2))
        path = training.save_checkpoint(tmp_path / "m.pt", {"g": small, "d": big})
        fresh_g, wrong_d = nn.Sequential(nn.Linear(2, 2)), nn.Sequential(nn.Linear(2, 2))
        g_before = fresh_g[0].weight.clone()
        with pytest.raises(ValueError, match=r"'d': unexpected keys: 1.weight, 1.bias"):
            training.load_checkpoint(path, {"g": fresh_g, "d": wrong_d})
        assert torch.equal(fresh_g[0].weight, g_before)  # "g" fitted, but was not loaded

    def test_a_missing_module_is_a_key_error_and_a_value_error(self, tmp_path):
        path = training.save_checkpoint(tmp_path / "m.pt", {"g": nn.Linear(1, 1)})
        with pytest.raises(KeyError, match="discriminator"):
            training.load_checkpoint(path, {"discriminator": nn.Linear(1, 1)})
        with pytest.raises(ValueError, match="discriminator"):
            training.load_checkpoint(path, {"discriminator": nn.Linear(1, 1)})

    def test_numpy_and_other_settings_round_trip(self, tmp_path):
        settings = {
            "lr": np.float32(0.5),
            "steps": np.int64(7),
            "flag": np.bool_(True),
            "mean": np.array([[1.0, 2.0]]),
            "shape": (1, np.int64(8), 8),
            "size": torch.Size([3, 4]),
            "nested": {"a": [np.float64(1.5), {"b": np.arange(3)}], 2: "two"},
            "folder": tmp_path / "x",
            "dtype": torch.float32,
            "set": {1, 2},
            "none": None,
            "weights": torch.ones(2),
        }
        history = {"loss": np.array([1.0, 0.5]), "acc": [np.float32(0.25)]}
        path = training.save_checkpoint(
            tmp_path / "s.pt", nn.Linear(1, 1), settings=settings, history=history
        )
        loaded = training.load_checkpoint(path, nn.Linear(1, 1))
        got = loaded["settings"]
        assert got["lr"] == 0.5 and type(got["lr"]) is float
        assert got["steps"] == 7 and type(got["steps"]) is int
        assert got["flag"] is True
        assert got["mean"] == [[1.0, 2.0]]
        assert got["shape"] == (1, 8, 8) and type(got["shape"][1]) is int
        assert got["size"] == (3, 4)
        assert got["nested"] == {"a": [1.5, {"b": [0, 1, 2]}], 2: "two"}
        assert got["folder"] == str(tmp_path / "x")
        assert got["dtype"] == "torch.float32" and got["set"] == {1, 2} and got["none"] is None
        assert torch.equal(got["weights"], torch.ones(2))
        assert loaded["history"] == {"loss": [1.0, 0.5], "acc": [0.25]}

    def test_unstorable_settings_are_refused_before_writing(self, tmp_path):
        target = tmp_path / "bad.pt"
        with pytest.raises(TypeError, match=r"settings\['fn'\]"):
            training.save_checkpoint(target, nn.Linear(1, 1), settings={"fn": lambda: 1})
        with pytest.raises(TypeError, match="history"):
            training.save_checkpoint(target, nn.Linear(1, 1), history={"loss": 1.0})
        assert list(tmp_path.iterdir()) == []

    def test_failed_write_leaves_the_old_file_and_no_partial_file(self, tmp_path, monkeypatch):
        model = nn.Linear(2, 1)
        path = training.save_checkpoint(tmp_path / "c.pt", model, settings={"v": 1})
        good = path.read_bytes()

        def broken_save(obj, f, *args, **kwargs):
            f.write(b"half a checkpoint")
            raise OSError("disk full")

        monkeypatch.setattr(training.torch, "save", broken_save)
        with pytest.raises(OSError, match="disk full"):
            training.save_checkpoint(path, model, settings={"v": 2})
        monkeypatch.undo()
        assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
        assert path.read_bytes() == good
        assert training.load_checkpoint(path)["settings"] == {"v": 1}

    @pytest.mark.parametrize(
        ("call", "error", "match"),
        [
            (lambda p: training.save_checkpoint(p / "x.pt", "model"), TypeError, "modules"),
            (lambda p: training.save_checkpoint(p / "x.pt", {}), ValueError, "empty"),
            (
                lambda p: training.save_checkpoint(p / "x.pt", {1: nn.Linear(1, 1)}),
                TypeError,
                "str names",
            ),
            (lambda p: training.save_checkpoint(p, nn.Linear(1, 1)), ValueError, "folder"),
            (lambda p: training.save_checkpoint(3, nn.Linear(1, 1)), TypeError, "path"),
            (
                lambda p: training.save_checkpoint(p / "x.pt", nn.Linear(1, 1), settings=[1]),
                TypeError,
                "settings",
            ),
            (
                lambda p: training.load_checkpoint(p / "x.pt", map_location="gpu0"),
                ValueError,
                "map_location",
            ),
            (
                lambda p: training.load_checkpoint(p / "x.pt", nn.Linear(1, 1).weight),
                TypeError,
                "modules",
            ),
        ],
    )
    def test_bad_checkpoint_arguments(self, tmp_path, call, error, match):
        with pytest.raises(error, match=match):
            call(tmp_path)

    def test_a_foreign_torch_file_is_refused_clearly(self, tmp_path):
        path = tmp_path / "plain.pt"
        torch.save(nn.Linear(1, 1).state_dict(), path)
        with pytest.raises(ValueError, match="not a checkpoint of save_checkpoint"):
            training.load_checkpoint(path, nn.Linear(1, 1))

    @pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
    def test_unavailable_map_location_is_not_called_a_broken_file(self, tmp_path):
        path = training.save_checkpoint(tmp_path / "c.pt", nn.Linear(1, 1))
        with pytest.raises(ValueError, match="no CUDA GPU") as info:
            training.load_checkpoint(path, map_location="cuda")
        assert "delete it" not in str(info.value)


def _loop(**kwargs):
    args = {"epochs": 1, "device": "cpu", "progress": False}
    args.update(kwargs)
    step = args.pop("step", lambda batch: {"loss": 1.0})
    data = args.pop("data", torch.zeros(4, 2))
    return training.train_loop(step, data, **args)


class TestTrainLoopRegressions:
    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"epochs": 0}, ValueError, "epochs must be >= 1"),
            ({"epochs": 2.0}, TypeError, "epochs"),
            ({"batch_size": 0}, ValueError, "batch_size"),
            ({"batch_size": True}, TypeError, "batch_size"),
            ({"seed": -1}, ValueError, "seed"),
            ({"seed": 1.5}, TypeError, "seed"),
            ({"seed": True}, TypeError, "seed"),
            ({"seed": 2**32}, ValueError, "seed"),
            ({"step": "not callable"}, TypeError, "step"),
            ({"validate": 3}, TypeError, "validate"),
            ({"on_epoch_end": 3}, TypeError, "on_epoch_end"),
            ({"validate": lambda: {}, "patience": 0}, ValueError, "patience"),
            ({"progress": "yes"}, TypeError, "progress"),
            ({"shuffle": 1}, TypeError, "shuffle"),
            ({"monitor": 3, "validate": lambda: {}}, TypeError, "monitor"),
            ({"data": torch.zeros(0, 2)}, ValueError, "no examples"),
            ({"data": []}, ValueError, "data is empty"),
            ({"data": torch.tensor(1.0)}, ValueError, "0-d"),
            ({"data": [torch.zeros(3), [1, 2, 3]]}, TypeError, r"data\[1\]"),
            ({"data": "abc"}, TypeError, "data"),
            ({"modules": "net"}, TypeError, "modules"),
            ({"modules": [nn.Linear(1, 1), 3]}, TypeError, "entry 1"),
        ],
    )
    def test_bad_arguments_fail_before_any_step(self, kwargs, error, match):
        calls = []
        kwargs.setdefault("step", lambda batch: calls.append(1) or {})
        with pytest.raises(error, match=match):
            _loop(**kwargs)
        assert calls == []

    @pytest.mark.parametrize(
        ("result", "error", "match"),
        [
            ({"loss": float("nan")}, ValueError, "diverged"),
            ({"loss": torch.tensor(float("inf"))}, ValueError, "diverged"),
            ({"loss": torch.ones(3)}, TypeError, "one number"),
            ({"loss": "low"}, TypeError, "numbers"),
            ([1.0], TypeError, "mapping"),
        ],
    )
    def test_bad_step_results_are_clear(self, result, error, match):
        with pytest.raises(error, match=match):
            _loop(step=lambda batch: result)

    def test_non_finite_validation_metric_and_missing_monitor(self):
        with pytest.raises(ValueError, match="validate returned non-finite"):
            _loop(validate=lambda: {"val_loss": float("nan")})
        with pytest.raises(KeyError, match="monitor"):
            _loop(validate=lambda: {"val_elbo": 1.0}, patience=1)
        with pytest.raises(ValueError, match="monitor"):
            _loop(validate=lambda: {"val_elbo": 1.0}, patience=1)

    def test_numpy_data_and_numpy_metrics_are_accepted(self):
        history = _loop(data=np.zeros((4, 2)), step=lambda b: {"loss": np.float32(2.0)})
        assert history["loss"] == [2.0]

    def test_check_adam(self):
        assert training.check_adam(0.1, (0.5, 0.999)) == (0.1, (0.5, 0.999))
        for betas, error in [
            ((0.5,), ValueError),
            ((0.5, 1.0), ValueError),
            ((-0.1, 0.9), ValueError),
            ("ab", TypeError),
            ((0.5, float("nan")), TypeError),
            (0.5, TypeError),
            ((0.5, True), TypeError),
        ]:
            with pytest.raises(error, match="betas"):
                training.check_adam(0.1, betas)
        with pytest.raises(ValueError, match="lr"):
            training.check_adam(0.0, (0.5, 0.9))


class TestCountAndKeyRegressions:
    def test_huge_counts_are_refused_by_name(self):
        for kwargs, match in [
            ({"epochs": 10**20}, "epochs"),
            ({"batch_size": 10**20}, "batch_size"),
            ({"validate": lambda: {"val_loss": 1.0}, "patience": 10**20}, "patience"),
        ]:
            with pytest.raises(ValueError, match=match):
                _loop(**kwargs)

    def test_history_last_names_the_key(self):
        history = training.History()
        history.log(loss=1.0)
        with pytest.raises(ValueError, match=r"key 'acc'"):
            history.last("acc")
        with pytest.raises(KeyError):
            history.last("acc")

    def test_divergence_is_a_training_diverged_value_error(self):
        with pytest.raises(training.TrainingDiverged) as info:
            _loop(step=lambda batch: {"loss": float("nan")})
        assert isinstance(info.value, ValueError)
