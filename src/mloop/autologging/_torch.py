"""PyTorch: a plain training loop has no ``fit`` to patch, so a context manager around it logs
the params (model class and size, optimizer and its hyperparameters) when it starts, each
epoch's metrics when the loop reports them, and the trained model when it ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from mloop.autologging._run import RunLogger

__all__ = ["TorchTraining", "torch_training"]


class TorchTraining:
    """What :func:`torch_training` yields: call :meth:`log_epoch` once per epoch."""

    def __init__(self, model: Any, optimizer: Any, logger: RunLogger) -> None:
        self.model = model
        self.optimizer = optimizer
        self._logger = logger
        self._epoch = 0

    def log_params(self) -> None:
        params: dict[str, Any] = {
            "model": type(self.model).__name__,
            "model_parameters": sum(p.numel() for p in self.model.parameters()),
        }
        if self.optimizer is not None:
            params["optimizer"] = type(self.optimizer).__name__
            group = self.optimizer.param_groups[0] if self.optimizer.param_groups else {}
            for key, value in group.items():
                if key != "params" and isinstance(value, int | float | str | bool | tuple):
                    params[f"optimizer_{key}"] = value
        with self._logger.guard("the training params"):
            self._logger.log_params(params)

    def log_epoch(self, metrics: Mapping[str, Any], epoch: int | None = None) -> None:
        """Log one epoch's metrics (numbers or one-element tensors) at step ``epoch``, by
        default one past the last epoch logged (0 first)."""
        step = self._epoch if epoch is None else epoch
        values = {k: float(v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
        with self._logger.guard("epoch metrics"):
            self._logger.log_metrics(values, step=step)
        self._epoch = step + 1

    def log_model(self, input_example: Any, init_kwargs: Mapping[str, Any] | None) -> None:
        import torch

        example = input_example
        if isinstance(example, torch.Tensor):
            example = example.detach().cpu().numpy()
        with self._logger.guard("the model"):
            if init_kwargs is not None:  # an importable class, saved as its state_dict
                self._logger.log_model(self.model, example, init_kwargs=dict(init_kwargs))
            elif isinstance(self.model, torch.jit.ScriptModule):
                self._logger.log_model(self.model, example)
            else:
                self._logger.log_model(torch.jit.script(self.model), example)


@contextlib.contextmanager
def torch_training(
    model: Any,
    optimizer: Any = None,
    *,
    input_example: Any = None,
    init_kwargs: Mapping[str, Any] | None = None,
    log_models: bool = True,
    run_name: str | None = None,
) -> Iterator[TorchTraining]:
    """Log a plain PyTorch training loop to the active run (or to a run of its own, named
    ``run_name`` or after the model's class, ended with the block).

    When the block starts: the model's class and parameter count, the optimizer's class and
    the hyperparameters of its first parameter group (``optimizer_lr``, ...). Each
    :meth:`TorchTraining.log_epoch`: that epoch's metrics (step = epoch). When the block ends
    without an error: the model as the run's ``model`` artifact, TorchScript-compiled, or, with
    ``init_kwargs``, as a ``state_dict`` of its (importable) class. What the run already holds is
    never logged again, and a failure to log is a warning, never an error of the training.

    Example::

        from mloop.autologging import torch_training

        with mloop.start_run(), torch_training(net, opt, input_example=x[:5]) as training:
            for epoch in range(10):
                loss = train_one_epoch(net, opt, loader)
                training.log_epoch({"loss": loss, "val_loss": evaluate(net, val_loader)})
    """
    import mloop

    own = (
        mloop.start_run(run_name=run_name or type(model).__name__)
        if mloop.active_run() is None
        else contextlib.nullcontext()
    )
    with own:
        training = TorchTraining(model, optimizer, RunLogger("pytorch"))
        training.log_params()
        yield training
        if log_models:
            training.log_model(input_example, init_kwargs)
