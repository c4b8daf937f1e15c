"""Shared fixtures: real stores on SQLite, PostgreSQL and over HTTP against a real server.

Also the suite's own rules, as hooks:

- Under ``CI=true`` a skipped test is a failure: CI has every service and browser the suite
  needs, so a skip there means something is missing, not that the test does not apply.
- A test that reaches PostgreSQL carries the ``postgres`` marker (checked at collection), so
  ``-m "not postgres"`` runs with no server.
- ``--fake-now=ISO`` runs the suite as if the wall clock read that instant (it keeps ticking), to
  prove that no test depends on today's date. It moves ``time.time()``, ``datetime.now()`` and
  friends of this process with time-machine; monotonic clocks and child processes keep the real
  time. (libfaketime cannot do it: it breaks Python's timed waits, ``Event.wait(timeout)``.)
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("MLOOP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
# Fixtures and parameter values that mean "this test talks to PostgreSQL".
PG_FIXTURES = {"pg_database", "pg_store", "postgresql_engine"}
PG_PARAMS = {"postgres", "postgresql"}
_TRAVEL = pytest.StashKey[Any]()
# Seconds per test file in the last full run (scripts/test_durations.py writes it).
DURATIONS = Path(__file__).with_name("durations.json")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fake-now",
        metavar="ISO",
        default=None,
        help="run as if the wall clock read this instant, e.g. 2031-02-28T23:30:00-10:00 "
        "(it keeps ticking from there)",
    )


def pytest_configure(config: pytest.Config) -> None:
    when = config.getoption("--fake-now")
    if when:
        import time_machine

        traveller = time_machine.travel(datetime.fromisoformat(when), tick=True)
        traveller.start()
        config.stash[_TRAVEL] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_TRAVEL, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    when = config.getoption("--fake-now")
    return f"fake wall clock: {when} (ticking)" if when else None


def _needs_postgres(item: pytest.Item) -> bool:
    if PG_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(
        isinstance(v, str) and v in PG_PARAMS for v in callspec.params.values()
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        i.nodeid for i in items if _needs_postgres(i) and not i.get_closest_marker("postgres")
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests reach PostgreSQL but are not marked @pytest.mark.postgres (use "
            'pytest.param("postgres", marks=pytest.mark.postgres) for a parameter):\n  '
            + "\n  ".join(unmarked)
        )
    if hasattr(config, "workerinput"):
        _longest_files_first(items)


def _longest_files_first(items: list[pytest.Item]) -> None:
    """Order the collection by file, longest file first (for pytest-xdist's workers).

    With ``--dist loadfile --no-loadscope-reorder`` the workers take files in collection order,
    so the two-minute end-to-end files start at once instead of last, and the run does not end
    with one worker busy while the others wait. Every worker computes the same order (xdist
    checks that the collections are equal); tests inside a file keep their order.
    """
    try:
        seconds: dict[str, float] = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        first.setdefault(item.nodeid.split("::", 1)[0], index)

    def key(item: pytest.Item) -> tuple[float, int]:
        path = item.nodeid.split("::", 1)[0]
        return (-seconds.get(path, 1.0), first[path])

    items.sort(key=key)


def _ci_refuses_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if not (IN_CI and report.skipped) or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, where every test must run: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    _ci_refuses_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    report = yield
    _ci_refuses_skip(report)
    return report


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:  # any failure means: no server to test against
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test process, dropped at the end."""
    problem = _pg_reachable()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required in CI: {problem}")
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {problem}")
    name = f"mloop_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename != 'alembic_version'"
            )
        ]
        if tables:
            # The audit log refuses TRUNCATE by trigger (append-only); a test reset may clear it.
            audit = "registry_audit" in tables
            if audit:
                conn.exec_driver_sql("ALTER TABLE registry_audit DISABLE TRIGGER USER")
            conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            if audit:
                conn.exec_driver_sql("ALTER TABLE registry_audit ENABLE TRIGGER USER")
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[object]:
    from mloop.store import SqlStore

    store = SqlStore(f"sqlite:///{tmp_path / 'mloop.db'}", str(tmp_path / "artifacts"))
    yield store
    store.close()


@pytest.fixture
def pg_store(pg_database: str, tmp_path: Path) -> Iterator[object]:
    from mloop.store import SqlStore

    store = SqlStore(pg_database, str(tmp_path / "artifacts"))
    _truncate_pg(pg_database)
    yield store
    store.close()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    """A real mloop server on an ephemeral 127.0.0.1 port over a fresh SQLite store."""
    from mloop.server import ServerThread, create_app
    from mloop.store import SqlStore

    backend = SqlStore(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "server-artifacts"))
    with ServerThread(create_app(backend)) as server:
        yield server.url
    backend.close()


@pytest.fixture
def http_store(live_server: str) -> Iterator[object]:
    from mloop.store import HttpStore

    store = HttpStore(live_server)
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "http"])
def store(request: pytest.FixtureRequest) -> object:
    """The same contract, on every kind of store."""
    return request.getfixturevalue(
        f"{'pg' if request.param == 'postgres' else request.param}_store"
    )


@pytest.fixture(autouse=True)
def _default_store_context() -> Iterator[None]:
    """Each test starts and ends with the process default store read from the environment:
    a CLI run in-process (whose global options set the default) or a test that set it leaves
    nothing behind."""
    from mloop.store import _context

    _context.set_default()
    yield
    _context.set_default()


@pytest.fixture
def mloop_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated MLOOP_HOME, the current store's default, with the fluent API's state and
    the shared stores reset around the test."""
    from mloop.store import _context
    from mloop.tracking import _client, _fluent

    home = tmp_path / "home"
    monkeypatch.setenv("MLOOP_HOME", str(home))
    monkeypatch.delenv("MLOOP_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLOOP_ARTIFACTS", raising=False)
    monkeypatch.chdir(tmp_path)
    _fluent.reset()
    _context.set_default()
    yield home
    _fluent.reset()
    _client.close_writers()
    _context.close_stores()
    _context.set_default()


@dataclass
class Elsewhere:
    """A store set with ``mloop.set_tracking_uri`` while the working folder is empty."""

    uri: str
    db: Path
    work: Path


@pytest.fixture
def elsewhere(
    mloop_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Elsewhere]:
    """``mloop.set_tracking_uri("sqlite:///.../other.db")`` in an empty working folder with the
    default MLOOP_HOME (``./.mloop``) and the artifacts elsewhere: anything a domain writes to
    ``./.mloop`` means it ignored the store it was told to use (checked after the test)."""
    import mloop

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("MLOOP_HOME")
    monkeypatch.setenv("MLOOP_ARTIFACTS", str(tmp_path / "artifacts"))
    db = tmp_path / "other.db"
    mloop.set_tracking_uri(f"sqlite:///{db}")
    yield Elsewhere(f"sqlite:///{db}", db, work)
    assert not (work / ".mloop").exists(), "something used the default store instead"


# -- a real browser ------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `make test` installs it when missing
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class BrowserPage:
    """A Playwright page in headless Chromium that records what a test should see go wrong:
    console errors and warnings, uncaught page errors, and every URL the page requested."""

    page: Any
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def open(self, path: Path) -> Any:
        """Load a local HTML file and wait until it has rendered; returns the page."""
        self.page.goto(path.resolve().as_uri(), wait_until="load")
        return self.page


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module (Debian's, driven by Playwright)."""
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[BrowserPage]:
    """A fresh page (its own context: no cookies, no cache) with a 1200x900 viewport."""
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    seen = BrowserPage(page)
    page.on(
        "console",
        lambda m: (
            seen.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda exc: seen.console.append(f"page error: {exc}"))
    page.on("request", lambda r: seen.requests.append(r.url))
    try:
        yield seen
    finally:
        context.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """A real S3-compatible server (moto's, in a subprocess) on an ephemeral 127.0.0.1 port;
    each test makes its own bucket with ``s3_server.new_bucket()``."""
    pytest.importorskip("s3fs", reason="the object-storage tests need mloop[s3]")
    from tests.s3server import moto_server

    with moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """A real local Ray with 2 CPUs, started once per test process (and shut down at the end
    only if this fixture started it)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        yield
        return
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()
