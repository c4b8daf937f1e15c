"""mloop quickstart: track a small training loop with the fluent API.

Fits a linear model by gradient descent on synthetic data (numpy only), three times with three
learning rates, each a tracked run with its params, a loss curve and the weights as an artifact.

    python examples/quickstart.py
    mloop runs list --experiment quickstart --order-by "metrics.val_loss asc"
    mloop runs compare <run> <run>
    mloop server            # then open http://127.0.0.1:5000/docs

Runs go to ``MLOOP_TRACKING_URI`` (default: ``sqlite:///.mloop/mloop.db`` in this folder).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

import mloop


def make_data(n: int = 1_000, features: int = 5, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    true_w = rng.normal(size=features)
    y = x @ true_w + rng.normal(scale=0.1, size=n)
    split = int(n * 0.8)
    return x[:split], y[:split], x[split:], y[split:]


def train(lr: float, epochs: int = 50) -> str:
    x_train, y_train, x_val, y_val = make_data()
    with mloop.start_run(run_name=f"gd-lr{lr}", tags={"example": "quickstart"}) as run:
        mloop.log_params({"lr": lr, "epochs": epochs, "features": x_train.shape[1]})
        w = np.zeros(x_train.shape[1])
        for epoch in range(epochs):
            grad = 2 * x_train.T @ (x_train @ w - y_train) / len(y_train)
            w -= lr * grad
            train_loss = float(np.mean((x_train @ w - y_train) ** 2))
            val_loss = float(np.mean((x_val @ w - y_val) ** 2))
            mloop.log_metrics({"train_loss": train_loss, "val_loss": val_loss}, step=epoch)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "weights.npy"
            np.save(path, w)
            mloop.log_artifact(path, "model")
        return run.run_id


def main() -> None:
    mloop.set_experiment("quickstart")
    run_ids = [train(lr) for lr in (0.01, 0.05, 0.2)]
    mloop.flush()
    print("logged runs:", ", ".join(r[:8] for r in run_ids))
    print('next: mloop runs list --experiment quickstart --order-by "metrics.val_loss asc"')
    print(f"      mloop runs compare {' '.join(r[:8] for r in run_ids)}")


if __name__ == "__main__":
    main()
