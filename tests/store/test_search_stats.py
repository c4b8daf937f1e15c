"""The SQLite planner's statistics: taken when a store has grown, so a search starts from its
rarer condition. Results never depend on them; these tests check when they are taken."""

from __future__ import annotations

from typing import Any

from mloop.store._entities import ViewType


def _grow(store: Any, runs: int) -> str:
    """``runs`` runs with a param and a metric each, copied in SQL (the API would take
    minutes); returns the experiment id."""
    exp = store.create_experiment("stats").experiment_id
    run = store.create_run(exp, run_name="seed")
    with store.db.engine.begin() as conn:
        conn.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO runs (run_id, experiment_id, run_name, status, start_time, "
            "artifact_uri, lifecycle_stage, user) "
            "SELECT printf('%032x', i), experiment_id, 'r' || i, status, start_time + i, "
            "artifact_uri, lifecycle_stage, user FROM runs, n WHERE run_id = ?",
            (runs - 1, run.info.run_id),
        )
        conn.exec_driver_sql(
            "INSERT INTO params (run_pk, key, value) "
            "SELECT run_pk, 'p', CASE run_pk % 5 WHEN 0 THEN 'a' ELSE 'b' END FROM runs"
        )
        conn.exec_driver_sql(
            'INSERT INTO latest_metrics (run_pk, key, step, "timestamp", value) '
            "SELECT run_pk, 'm', 0, 0, (run_pk % 97) / 97.0 FROM runs"
        )
        for k in range(9):  # ten keys of each, as runs usually have
            conn.exec_driver_sql(
                f"INSERT INTO params (run_pk, key, value) SELECT run_pk, 'q{k}', run_pk % 7 "
                "FROM runs"
            )
            conn.exec_driver_sql(
                'INSERT INTO latest_metrics (run_pk, key, step, "timestamp", value) '
                f"SELECT run_pk, 'n{k}', 0, 0, run_pk % 13 FROM runs"
            )
    return str(exp)


def _has_stats(store: Any) -> bool:
    with store.db.engine.connect() as conn:
        return bool(
            conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).scalar()
        )


def test_a_small_store_is_left_alone(sqlite_store: Any) -> None:
    _grow(sqlite_store, 50)
    assert sqlite_store.db.refresh_stats() is False
    assert not _has_stats(sqlite_store)


def test_statistics_are_taken_once_then_again_when_the_runs_double(sqlite_store: Any) -> None:
    _grow(sqlite_store, 1500)
    assert sqlite_store.db.refresh_stats() is True
    assert _has_stats(sqlite_store)
    assert sqlite_store.db.refresh_stats() is False  # fresh: nothing to do
    with sqlite_store.db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO runs (run_id, experiment_id, run_name, status, start_time, "
            "artifact_uri, lifecycle_stage, user) "
            "SELECT 'x' || substr(run_id, 2), experiment_id, run_name, status, start_time, "
            "artifact_uri, lifecycle_stage, user FROM runs"
        )
        conn.exec_driver_sql(
            "INSERT INTO runs (run_id, experiment_id, run_name, status, start_time, "
            "artifact_uri, lifecycle_stage, user) "
            "SELECT 'y' || substr(run_id, 2), experiment_id, run_name, status, start_time, "
            "artifact_uri, lifecycle_stage, user FROM runs WHERE run_id LIKE 'x%'"
        )
    assert sqlite_store.db.refresh_stats() is True


def test_a_search_takes_them_and_returns_the_same_runs(sqlite_store: Any) -> None:
    exp = _grow(sqlite_store, 1500)
    text = "metrics.m > 0.2 and params.p = 'a'"
    assert not _has_stats(sqlite_store)
    page = sqlite_store.search_runs([exp], text, ["metrics.m DESC"], 1000, None, ViewType.ALL)
    assert _has_stats(sqlite_store)
    again = sqlite_store.search_runs([exp], text, ["metrics.m DESC"], 1000, None, ViewType.ALL)
    assert [r.info.run_id for r in again.runs] == [r.info.run_id for r in page.runs]
    values = [r.data.metrics["m"].value for r in page.runs]
    assert values == sorted(values, reverse=True)
    assert all(r.data.params["p"] == "a" for r in page.runs)
    assert len(page.runs) == sum(
        1 for pk in range(1, 1501) if pk % 5 == 0 and (pk % 97) / 97.0 > 0.2
    )


def test_a_page_walks_the_order_key_and_falls_back_when_few_runs_match(
    sqlite_store: Any,
) -> None:
    from mloop.store._search import compile_search

    exp = _grow(sqlite_store, 2000)
    common, rare = "metrics.m > 0.5 and params.p = 'a'", "metrics.m > 0.5 and params.q0 = '9'"
    page = sqlite_store.search_runs([exp], common, ["metrics.m DESC"], 50, None, ViewType.ACTIVE)
    values = [(r.data.metrics["m"].value, r.info.start_time) for r in page.runs]
    assert len(values) == 50
    assert values == sorted(values, reverse=True)
    assert all(r.data.params["p"] == "a" and r.data.metrics["m"].value > 0.5 for r in page.runs)
    # q0 is run_pk % 7, never 9: walking m's index would visit every run; the budget stops
    # it and the planner's plan answers.
    none = sqlite_store.search_runs([exp], rare, ["metrics.m DESC"], 50, None, ViewType.ACTIVE)
    assert none.runs == []
    query = compile_search(
        experiment_ids=[int(exp)],
        stages=["active"],
        filter=rare,
        order_by=["metrics.m DESC"],
        ordered=True,
    ).limit(51)
    with sqlite_store.db.engine.connect() as conn:
        assert sqlite_store._ordered_page(conn, query, steps=1000) is None
        assert sqlite_store._ordered_page(conn, query, steps=10**9) == []
