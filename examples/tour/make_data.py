"""Make the tour's data: a synthetic telecom churn table, with no download.

    python make_data.py

Writes three Parquet files beside this script (or in the current folder):

- ``train.parquet``   4,000 customers to train on,
- ``holdout.parquet`` 1,500 other customers, labelled, for evaluation and the promotion gate,
- ``batch.parquet``   1,500 customers of a later month: older accounts, more support calls and a
  plan mix that moved towards "basic", so ``mloop drift`` has something to find.

Churn follows a known logistic model of the columns (short tenure, many support calls, the
basic plan and high charges raise it), so a model has something real to learn. ``customer_id``
is an identifier: unique per row and increasing, as exported from a CRM.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

PLANS = np.array(["basic", "pro", "enterprise"])
REGIONS = np.array(["eu", "us", "apac"])


def customers(n: int, *, seed: int, first_id: int, later: bool = False) -> pd.DataFrame:
    """``n`` customers; ``later`` draws them from the shifted, later month."""
    rng = np.random.default_rng(seed)
    plan_p = [0.55, 0.33, 0.12] if later else [0.4, 0.4, 0.2]
    plan = rng.choice(PLANS, size=n, p=plan_p)
    region = rng.choice(REGIONS, size=n, p=[0.4, 0.4, 0.2])
    gender = rng.choice(np.array(["f", "m"]), size=n)
    age = np.clip(rng.normal(44, 13, size=n), 18, 90).round().astype("int64")
    tenure = np.clip(rng.gamma(2.0, 14.0 if later else 11.0, size=n), 1, 120).round()
    tenure = tenure.astype("int64")
    base = pd.Series(plan).map({"basic": 30.0, "pro": 60.0, "enterprise": 95.0}).to_numpy()
    charges = np.round(base + rng.normal(0, 8, size=n), 2)
    calls = rng.poisson(2.2 if later else 1.4, size=n).astype("int64")
    logit = (
        -0.2
        - 0.09 * tenure
        + 0.9 * calls
        + 0.02 * (charges - 55)
        + np.where(plan == "basic", 1.2, 0.0)
        - np.where(plan == "enterprise", 1.0, 0.0)
        + np.where(region == "apac", 0.5, 0.0)
        - 0.02 * (age - 44)
    )
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    return pd.DataFrame(
        {
            "customer_id": np.arange(first_id, first_id + n, dtype="int64"),
            "age": age,
            "gender": gender,
            "region": region,
            "plan": plan,
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_calls": calls,
            "churned": churned,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path.cwd(), help="The folder to write to.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    frames = {
        "train": customers(4_000, seed=1, first_id=100_000),
        "holdout": customers(1_500, seed=2, first_id=104_000),
        "batch": customers(1_500, seed=3, first_id=105_500, later=True),
    }
    for name, frame in frames.items():
        path = args.out / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        rate = frame["churned"].mean()
        print(f"wrote {path.name}: {len(frame):,} rows, {rate:.0%} churned")


if __name__ == "__main__":
    main()
