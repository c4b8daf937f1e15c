"""The screen views of every Store (SQLite, PostgreSQL, HTTP): the runs table, run keys,
thinned metric series and run outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mloop.errors import InvalidArgument, InvalidFilter, RunNotFound
from mloop.store import MetricSeries, Store

MISSING_RUN = "0" * 32


def _runs(store: Store, n: int = 5) -> tuple[str, list[str]]:
    exp = store.create_experiment("views")
    ids = []
    for i in range(n):
        run = store.create_run(
            exp.experiment_id, run_name=f"r{i}", start_time=1_000 + i, tags={"team": f"t{i % 2}"}
        )
        store.log_batch(
            run.run_id,
            metrics=[("auc", 0.5 + i / 10, 0, 1), ("loss", 1.0 / (i + 1), 0, 1)],
            params={"lr": str(0.1 * (i + 1)), "model": "rf" if i % 2 else "lgbm"},
        )
        ids.append(run.run_id)
    return exp.experiment_id, ids


def test_run_table_has_only_the_columns_asked_for(store: Store) -> None:
    exp_id, ids = _runs(store)
    table = store.search_run_table([exp_id], metrics=["auc"], params=["model"], tags=["team"])
    # newest first, as search_runs
    assert table.attributes["run_id"] == ids[::-1]
    assert table.attributes["run_name"] == ["r4", "r3", "r2", "r1", "r0"]
    assert table.attributes["experiment_id"] == [exp_id] * 5
    assert table.attributes["start_time"] == [1004, 1003, 1002, 1001, 1000]
    assert table.attributes["status"] == ["RUNNING"] * 5
    assert list(table.metrics) == ["auc"]
    assert table.metrics["auc"] == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.5])
    assert table.params == {"model": ["lgbm", "rf", "lgbm", "rf", "lgbm"]}
    assert table.tags == {"team": ["t0", "t1", "t0", "t1", "t0"]}
    assert len(table) == 5
    assert table.next_page_token is None


def test_run_table_filters_orders_and_pages_like_search(store: Store) -> None:
    exp_id, ids = _runs(store, 7)
    store.log_batch(ids[0], metrics=[("extra", 1.0, 0, 1)])
    found = store.search_runs([exp_id], "metrics.auc > 0.6", "metrics.auc asc")
    first = store.search_run_table(
        [exp_id], "metrics.auc > 0.6", "metrics.auc asc", metrics=["auc", "extra"], max_results=2
    )
    assert first.next_page_token is not None
    rest = store.search_run_table(
        [exp_id],
        "metrics.auc > 0.6",
        "metrics.auc asc",
        metrics=["auc", "extra"],
        max_results=10,
        page_token=first.next_page_token,
    )
    assert rest.next_page_token is None
    got = first.attributes["run_id"] + rest.attributes["run_id"]
    assert got == [r.run_id for r in found.runs]
    # a run lacking a key has None, not a missing entry
    assert first.metrics["extra"] == [None, None]


def test_run_table_nan_missing_and_no_columns(store: Store) -> None:
    exp_id, ids = _runs(store, 2)
    store.log_batch(ids[0], metrics=[("odd", math.nan, 0, 1)])
    store.log_batch(ids[1], metrics=[("odd", math.inf, 0, 1)])
    table = store.search_run_table([exp_id], metrics=["odd", "none"])
    # NaN and infinities travel as strings, so the HTTP store gets them back unchanged
    assert table.metrics["odd"] == ["Infinity", "NaN"]
    assert table.metrics["none"] == [None, None]
    bare = store.search_run_table([exp_id])
    assert bare.metrics == bare.params == bare.tags == {}
    assert len(bare.attributes["run_id"]) == 2


def test_run_table_nested_runs_and_views(store: Store) -> None:
    exp_id, ids = _runs(store, 2)
    child = store.create_run(exp_id, run_name="child", parent_run_id=ids[0])
    table = store.search_run_table([exp_id], f"attributes.parent_run_id = '{ids[0]}'")
    assert table.attributes["run_id"] == [child.run_id]
    assert table.attributes["parent_run_id"] == [ids[0]]
    store.delete_run(ids[1])
    assert ids[1] not in store.search_run_table([exp_id]).attributes["run_id"]
    assert store.search_run_table([exp_id], view="deleted").attributes["run_id"] == [ids[1]]


def test_run_table_bad_input(store: Store) -> None:
    exp_id, _ = _runs(store, 1)
    with pytest.raises(InvalidFilter) as info:
        store.search_run_table([exp_id], "metrics.auc >> 1")
    assert info.value.details["position"] == 13  # the second ">"
    with pytest.raises(InvalidArgument, match="at most 200"):
        store.search_run_table([exp_id], metrics=[f"m{i}" for i in range(201)])
    with pytest.raises(InvalidArgument, match="max_results"):
        store.search_run_table([exp_id], max_results=0)
    with pytest.raises(InvalidArgument):
        store.search_run_table([exp_id], params=["bad\x00key"])
    with pytest.raises(InvalidArgument, match="page token"):
        store.search_run_table([exp_id], page_token="garbage")


def test_list_run_keys(store: Store) -> None:
    exp_id, _ids = _runs(store, 2)
    other = store.create_experiment("other")
    run = store.create_run(other.experiment_id)
    store.log_batch(run.run_id, metrics=[("elsewhere", 1.0, 0, 1)], params={"p": "1"})
    keys = store.list_run_keys([exp_id])
    assert keys.metrics == ["auc", "loss"]
    assert keys.params == ["lr", "model"]
    assert keys.tags == ["team"]
    assert "elsewhere" in store.list_run_keys().metrics
    assert store.list_run_keys([other.experiment_id]).params == ["p"]


def test_histories_of_many_runs_in_one_call(store: Store) -> None:
    _exp_id, ids = _runs(store, 3)
    for j, run_id in enumerate(ids):
        store.log_batch(run_id, metrics=[("curve", float(s * j), s, 10 * s) for s in range(50)])
    series = store.get_metric_histories(ids, ["curve", "absent"])
    assert [(s.run_id, s.key) for s in series] == [(r, "curve") for r in ids]
    for j, s in enumerate(series):
        assert isinstance(s, MetricSeries)
        assert s.steps.tolist() == list(range(50))
        assert s.timestamps.tolist() == [10 * i for i in range(50)]
        assert s.values.tolist() == [float(i * j) for i in range(50)]
        assert (s.total, s.sampled) == (50, False)
    with pytest.raises(RunNotFound):
        store.get_metric_histories([ids[0], MISSING_RUN], ["curve"])


def test_histories_thinned_for_a_chart_keep_every_extreme(store: Store) -> None:
    _exp_id, ids = _runs(store, 1)
    n = 20_000
    rng = np.random.default_rng(3)
    values = np.cumsum(rng.normal(size=n))
    values[1234] = 1e6  # a spike a naive stride would miss
    store.log_batch(ids[0], metrics=[("w", float(v), i, i) for i, v in enumerate(values)])
    (s,) = store.get_metric_histories(ids, ["w"], max_points=100)
    assert s.sampled and s.total == n
    assert len(s) <= 2 * 100 + 2
    assert 1e6 in s.values.tolist()
    assert s.values.min() == values.min()
    # every kept point is a real point, in step order
    assert np.all(np.diff(s.steps) > 0)
    assert np.array_equal(s.values, values[s.steps])

    # a zoomed range at full detail: exact when small
    (zoom,) = store.get_metric_histories(ids, ["w"], max_points=100, x_min=1200, x_max=1299)
    assert (zoom.total, zoom.sampled) == (100, False)
    assert zoom.steps.tolist() == list(range(1200, 1300))


def test_thinned_series_are_the_points_the_whole_series_would_give(store: Store) -> None:
    """However a store thins (SQLite seeks each bucket's step range; others group), it keeps
    exactly the points ``downsample_indices`` picks from the whole series: ties keep the first,
    a bucket of NaN only keeps its first point, gaps in the steps stay gaps."""
    from mloop.store._downsample import downsample_indices

    _exp_id, ids = _runs(store, 1)
    rng = np.random.default_rng(7)
    steps = np.sort(rng.choice(np.arange(20_000), size=3_000, replace=False))
    steps = steps[(steps < 5_000) | (steps > 7_000)]  # a gap: empty buckets
    values = np.round(rng.normal(size=len(steps)), 1)  # rounded: many ties
    values[100:160] = np.nan  # whole buckets of NaN
    values[400:600:3] = np.nan  # NaN among values
    points = [("w", float(v), int(s), 5 * int(s) + 1) for s, v in zip(steps, values, strict=True)]
    points.append(("w", 9.5, int(steps[-1]), 5 * int(steps[-1]) + 2))  # two points at the last step
    store.log_batch(ids[0], metrics=points)
    whole = store.get_metric_history(ids[0], "w")
    for buckets, lo, hi in ((300, None, None), (200, 1_000, 15_000), (600, None, None)):
        (s,) = store.get_metric_histories(ids, ["w"], max_points=buckets, x_min=lo, x_max=hi)
        inside = (whole.steps >= (lo if lo is not None else -1)) & (
            whole.steps <= (hi if hi is not None else 2**62)
        )
        x, y, t = whole.steps[inside], whole.values[inside], whole.timestamps[inside]
        keep = downsample_indices(x, y, buckets)
        assert (s.total, s.sampled) == (len(x), len(keep) < len(x))
        assert s.steps.tolist() == x[keep].tolist()
        assert s.timestamps.tolist() == t[keep].tolist()
        assert np.array_equal(s.values, y[keep], equal_nan=True)


def test_histories_on_the_time_axis(store: Store) -> None:
    _exp_id, ids = _runs(store, 1)
    # steps and timestamps disagree in order: the time axis orders by timestamp
    store.log_batch(ids[0], metrics=[("t", float(s), s, 1000 - s) for s in range(10)])
    (s,) = store.get_metric_histories(ids, ["t"], x_axis="time", x_min=995)
    assert s.timestamps.tolist() == [995, 996, 997, 998, 999, 1000]
    assert s.values.tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run_ids": [], "keys": ["a"]}, "at least one"),
        ({"run_ids": ["x"] * 1 + [f"r{i}" for i in range(101)], "keys": ["a"]}, "at most 100"),
        ({"run_ids": ["r"], "keys": ["a"], "max_points": 0}, "max_points"),
        ({"run_ids": ["r"], "keys": ["a"], "x_axis": "epoch"}, "x_axis"),
        ({"run_ids": ["r"], "keys": ["a"], "x_min": 5, "x_max": 1}, "x_min"),
    ],
)
def test_history_arguments_are_checked(store: Store, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        store.get_metric_histories(**kwargs)


def test_run_outputs(store: Store) -> None:
    _exp_id, ids = _runs(store, 2)
    store.create_model_version("b-model", f"runs:/{ids[0]}/model", run_id=ids[0])
    store.create_model_version("a-model", f"runs:/{ids[0]}/model", run_id=ids[0])
    store.create_model_version("a-model", f"runs:/{ids[0]}/m2", run_id=ids[0])
    store.create_model_version("a-model", f"runs:/{ids[1]}/model", run_id=ids[1])
    outputs = store.get_run_outputs(ids[0])
    assert [(v.name, v.version) for v in outputs] == [
        ("a-model", 2),
        ("a-model", 1),
        ("b-model", 1),
    ]
    assert store.get_run_outputs(ids[1])[0].version == 3
    with pytest.raises(RunNotFound):
        store.get_run_outputs(MISSING_RUN)
