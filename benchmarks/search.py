"""Search at scale: `Client.search_runs` over 10,000 and 100,000 runs, SQLite and PostgreSQL.

The runs are those of ``tracking.py``'s search store (10 params p0..p9, 10 metrics m0..m9 per
run; populated through mloop's API once and cached under ``benchmarks/.work/cache/``). Larger
stores are built from it in SQL: each run copied with a new id (params, metrics and all), so
100,000 runs keep the same distributions. PostgreSQL gets the same rows, copied, in a fresh
database on 127.0.0.1:5432 (trust auth), dropped at the end.

The search is tracking.py's: ``metrics.m0 > 0.5 and params.p0 = 'a'`` ordered by
``metrics.m0 DESC``, first page of 100; the median of 5 timings after one warm-up (which also
lets the store take its planner statistics), with the load average beside each.

Usage::

    .venv/bin/python benchmarks/tracking.py --skip-mlflow --only search   # builds the store once
    .venv/bin/python benchmarks/search.py [--no-postgres] [--scales 10000,100000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _process import loadavg
from _report import print_table, table_row

SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"
SEARCH_ORDER = "metrics.m0 DESC"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGETS_MS = {10_000: 50.0, 100_000: 200.0}
TABLES = ("experiments", "runs", "params", "tags", "latest_metrics")


def source_db() -> Path:
    found = sorted((BENCH / ".work" / "cache").glob("mloop-*-runs10000-*/mloop.db"))
    if not found:
        raise SystemExit("no search store: run benchmarks/tracking.py --only search first")
    return found[-1]


def grow(engine: Any, factor: int) -> None:
    """Copy every run ``factor - 1`` times, with its params, tags and latest metrics."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        base = conn.execute(sa.text("SELECT max(run_pk) FROM runs")).scalar_one()
        for k in range(1, factor):
            off = k * (base + 1)
            conn.execute(
                sa.text(
                    "INSERT INTO runs (run_pk, run_id, experiment_id, run_name, status, "
                    "start_time, end_time, parent_run_id, artifact_uri, lifecycle_stage, "
                    '"user") SELECT run_pk + :off, substr(run_id, 1, 24) || '
                    "lpad_k, experiment_id, run_name, status, start_time + :off, end_time, "
                    'parent_run_id, artifact_uri, lifecycle_stage, "user" FROM runs '
                    "WHERE run_pk <= :base".replace("lpad_k", f"'{k:08d}'")
                ),
                {"off": off, "base": base},
            )
            for table in ("params", "tags"):
                conn.execute(
                    sa.text(
                        f"INSERT INTO {table} (run_pk, key, value) SELECT run_pk + :off, key, "
                        f"value FROM {table} WHERE run_pk <= :base"
                    ),
                    {"off": off, "base": base},
                )
            conn.execute(
                sa.text(
                    'INSERT INTO latest_metrics (run_pk, key, step, "timestamp", value) '
                    'SELECT run_pk + :off, key, step, "timestamp", value FROM latest_metrics '
                    "WHERE run_pk <= :base"
                ),
                {"off": off, "base": base},
            )


def copy_to_postgres(src: Path, url: str) -> None:
    import sqlalchemy as sa

    from mloop.store import SqlStore

    SqlStore(url, "/tmp/mloop-search-bench-artifacts").close()  # the schema
    s = sa.create_engine(f"sqlite:///{src}")
    d = sa.create_engine(url)
    meta = sa.MetaData()
    meta.reflect(d, only=list(TABLES))
    with s.connect() as sc, d.begin() as dc:
        for name in TABLES:
            rows = [dict(r._mapping) for r in sc.execute(sa.text(f"SELECT * FROM {name}"))]
            if name == "experiments":
                dc.execute(sa.text("DELETE FROM experiments"))
            for i in range(0, len(rows), 20_000):
                dc.execute(meta.tables[name].insert(), rows[i : i + 20_000])
        dc.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('runs', 'run_pk'), "
                "(SELECT max(run_pk) FROM runs))"
            )
        )
    s.dispose()
    d.dispose()


def time_search(uri: str) -> tuple[float, int]:
    import mloop

    client = mloop.Client(uri)
    exp = client.get_experiment_by_name("search")
    exp_id = exp.experiment_id if exp is not None else "1"

    def once() -> int:
        return len(client.search_runs([exp_id], SEARCH_FILTER, [SEARCH_ORDER], 100).runs)

    n = once()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, n


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--scales", default="10000,100000")
    a = p.parse_args(argv)
    import sqlalchemy as sa

    src = source_db()
    work = BENCH / ".work" / "search-scale"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = []
    for scale in [int(x) for x in a.scales.split(",")]:
        factor = max(1, scale // 10_000)
        db = work / f"runs{scale}.db"
        shutil.copy(src, db)
        if factor > 1:
            grow(sa.create_engine(f"sqlite:///{db}"), factor)
        load = loadavg()
        ms, n = time_search(f"sqlite:///{db}")
        target = TARGETS_MS.get(scale)
        rows.append(
            table_row(
                f"search {scale:,} runs, SQLite (load {load})",
                f"{ms:,.1f} ms",
                f"{n} runs",
                "-",
                f"< {target:g} ms" if target else "",
                None if target is None else ms < target,
            )
        )
        print(f"[search] SQLite {scale:,}: {ms:.1f} ms (load {load})", file=sys.stderr)
        if a.no_postgres:
            continue
        name = f"mloop_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        try:
            copy_to_postgres(db, url)
            eng = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with eng.connect() as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
            eng.dispose()
            load = loadavg()
            ms, n = time_search(url)
            rows.append(
                table_row(
                    f"search {scale:,} runs, PostgreSQL (load {load})",
                    f"{ms:,.1f} ms",
                    f"{n} runs",
                    "-",
                    f"< {target:g} ms" if target else "",
                    None if target is None else ms < target,
                )
            )
            print(f"[search] PostgreSQL {scale:,}: {ms:.1f} ms (load {load})", file=sys.stderr)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    header = ["figure", "mloop", "page", "ratio", "target", "met?"]
    print_table(f"search_runs: {SEARCH_FILTER} order by {SEARCH_ORDER}", header, rows)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
