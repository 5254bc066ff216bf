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
