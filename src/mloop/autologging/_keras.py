"""Keras 3: a callback that logs the fit's params, every epoch's metrics (``loss``,
``val_accuracy``, ...; step = epoch) and the trained model; ``mloop.autolog()`` adds it to every
``Model.fit`` that has none."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from mloop.autologging._run import RunLogger, logging_call

__all__ = ["keras_callback", "patch_keras"]


def keras_callback(*, log_models: bool = True) -> Any:
    """A ``keras.callbacks.Callback`` that logs to the active run: the fit's params (epochs,
    batch size, steps, the optimizer and its learning rate) when training begins, each
    epoch's metrics as it ends, and the model (``model``) when training ends.

    Example::

        with mloop.start_run():
            model.fit(x, y, epochs=5, validation_split=0.2,
                      callbacks=[mloop.autologging.keras_callback()])
    """
    from mloop.models._keras import import_keras

    keras = import_keras()

    class MloopCallback(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.logger: RunLogger | None = None

        def _logger(self) -> RunLogger:
            if self.logger is None:
                self.logger = RunLogger("keras")
            return self.logger

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            logger = self._logger()
            with logger.guard("the fit's params"):
                params = {f"fit_{k}": v for k, v in (self.params or {}).items() if v is not None}
                optimizer = getattr(self.model, "optimizer", None)
                if optimizer is not None:
                    params["optimizer"] = type(optimizer).__name__
                    rate = getattr(optimizer, "learning_rate", None)
                    if rate is not None:
                        params["learning_rate"] = float(keras.ops.convert_to_numpy(rate))
                logger.log_params(params)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logger = self._logger()
            with logger.guard("epoch metrics"):
                values = {k: float(v) for k, v in (logs or {}).items()}
                if values:
                    logger.log_metrics(values, step=epoch)

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            if log_models:
                logger = self._logger()
                with logger.guard("the model"):
                    logger.log_model(self.model)

    return MloopCallback()


def patch_keras() -> Callable[[], None]:
    """Wrap ``keras.Model.fit`` so that it logs through :func:`keras_callback`."""
    from mloop.models._keras import import_keras

    keras = import_keras()
    original = keras.Model.fit
    if getattr(original, "_mloop_autolog", False):
        return lambda: None

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        with logging_call("keras", type(self).__name__) as logger:
            if logger is None:
                return original(self, *args, **kwargs)
            callbacks = list(kwargs.pop("callbacks", None) or [])
            if not any(type(c).__name__ == "MloopCallback" for c in callbacks):
                callbacks.append(keras_callback())
            return original(self, *args, callbacks=callbacks, **kwargs)

    fit._mloop_autolog = True  # type: ignore[attr-defined]
    keras.Model.fit = fit

    def undo() -> None:
        keras.Model.fit = original

    return undo
