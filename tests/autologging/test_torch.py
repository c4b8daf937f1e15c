"""``torch_training``: a plain PyTorch loop's params, per-epoch metrics and
model, logged once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mloop
import mloop.models
from mloop.autologging import TorchTraining, torch_training
from mloop.store import RunStatus

pytestmark = [
    pytest.mark.slow,  # loads torch
    pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning"),
]

torch = pytest.importorskip("torch")


def _train(training: TorchTraining, epochs: int) -> list[float]:
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 64).reshape(-1, 2)
    y = x.sum(dim=1, keepdim=True)
    losses = []
    for _ in range(epochs):
        training.optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(training.model(x), y)
        loss.backward()
        training.optimizer.step()
        training.log_epoch({"loss": loss})  # a tensor, as a loop has it
        losses.append(float(loss.item()))
    return losses


def _net() -> tuple[object, object]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    return net, torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)


def test_a_training_loop_logs_params_epochs_and_the_model(mloop_home: Path) -> None:
    net, opt = _net()
    example = torch.linspace(-1, 1, 10).reshape(-1, 2)
    with mloop.start_run() as run:
        mloop.log_param("optimizer_lr", 0.05)  # logged by hand: not logged again
        with torch_training(net, opt, input_example=example) as training:
            losses = _train(training, epochs=3)
    client = mloop.Client()
    data = client.get_run(run.run_id).data
    assert data.params["model"] == "Sequential"
    assert data.params["model_parameters"] == str(2 * 4 + 4 + 4 + 1)
    assert data.params["optimizer"] == "SGD"
    assert data.params["optimizer_momentum"] == "0.9"
    assert data.params["optimizer_lr"] == "0.05"
    history = client.get_metric_history(run.run_id, "loss")
    assert list(history.steps) == [0, 1, 2]
    np.testing.assert_allclose(history.values, losses)
    assert losses[-1] < losses[0]

    model = mloop.models.load(f"runs:/{run.run_id}/model")
    with torch.no_grad():
        expected = net(example).numpy()
    np.testing.assert_allclose(np.asarray(model.predict(example.numpy())), expected, rtol=1e-6)


def test_without_an_active_run_it_starts_and_ends_its_own(mloop_home: Path) -> None:
    net, opt = _net()
    with torch_training(net, opt, log_models=False) as training:
        _train(training, epochs=2)
        own = mloop.active_run()
        assert own is not None and own.info.run_name == "Sequential"
    assert mloop.active_run() is None
    run = mloop.Client().get_run(own.run_id)
    assert run.info.status is RunStatus.FINISHED
    assert list(mloop.Client().get_metric_history(own.run_id, "loss").steps) == [0, 1]
    assert not mloop.Client().list_artifacts(own.run_id)
