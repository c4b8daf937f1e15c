"""ID-like integer columns: recognised with a reason, left out of ranges and drift tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import mloop.data as md
from mloop.data._idlike import id_like_column_reason, id_like_reason


def frame(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(10_000, 10_000 + n),
            "hashed": rng.integers(-(2**62), 2**62, size=n),
            "userId": rng.permutation(n) + 7,
            "age": rng.integers(18, 90, size=n),
            "score": rng.normal(size=n),
            "visits": rng.permutation(n),  # distinct, but neither ordered, hashed nor named so
        }
    )


def test_reasons() -> None:
    df = frame()
    assert "increases with the row" in (
        id_like_reason("customer_id", df["customer_id"].to_numpy()) or ""
    )
    assert "decreases with the row" in (
        id_like_reason("n", df["customer_id"].to_numpy()[::-1]) or ""
    )
    assert "like a hash" in (id_like_reason("h", df["hashed"].to_numpy()) or "")
    assert "named like an id" in (id_like_reason("userId", df["userId"].to_numpy()) or "")
    for name in ("age", "visits"):
        assert id_like_reason(name, df[name].to_numpy()) is None, name
    # too few rows, floats, repeated values: no verdict
    assert id_like_reason("id", np.arange(5)) is None
    assert id_like_reason("id", np.arange(100, dtype=float)) is None
    assert id_like_reason("user_id", np.repeat(np.arange(50), 2)) is None


@pytest.mark.parametrize("kind", ["pandas", "nullable", "arrow"])
def test_columns_of_every_table_kind(kind: str) -> None:
    df = frame()
    table: object = df
    if kind == "nullable":
        df = df.astype({"customer_id": "Int64"})
        df.loc[3, "customer_id"] = pd.NA
        table = df
    elif kind == "arrow":
        table = pa.Table.from_pandas(df, preserve_index=False)
    assert id_like_column_reason(table, "customer_id") is not None
    assert id_like_column_reason(table, "score") is None
    assert id_like_column_reason(table, "age") is None


def test_infer_drafts_unique_not_a_range_for_ids() -> None:
    checks = md.infer_checks(frame())["columns"]
    assert checks["customer_id"].get("unique") is True
    assert "min" not in checks["customer_id"] and "max" not in checks["customer_id"]
    assert {"min", "max"} <= set(checks["age"])
    # the next batch's new ids pass the drafted checks
    later = frame(seed=1).assign(customer_id=lambda d: d["customer_id"] + 500)
    assert md.check(later, md.infer_checks(frame())).passed


def test_drift_skips_ids_with_the_reason_unless_asked_for() -> None:
    reference, current = frame(seed=0), frame(seed=1)
    current["customer_id"] += 500  # a holdout of later customers, same distribution
    result = md.drift(reference, current)
    ids = result["customer_id"]
    assert ids.status == "skipped" and not ids.drifted
    assert "ID-like" in (ids.reason or "") and "increases with the row" in (ids.reason or "")
    assert "customer_id" not in result.drifted_columns
    assert result["age"].tested
    # a column named explicitly is tested as asked
    assert md.drift(reference, current, columns=["customer_id"])["customer_id"].tested
