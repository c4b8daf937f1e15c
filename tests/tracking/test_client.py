"""The explicit client, on the embedded default store and through a real server."""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

import pytest

from mloop import Client
from mloop.errors import ExperimentNotFound, InvalidArgument, RunNotFound
from mloop.store import RunStatus

END = 1_800_000_000_000  # an end time given by the caller, in ms since the epoch


@pytest.fixture(params=["embedded", "http"])
def client(request: pytest.FixtureRequest, mloop_home: Path) -> Client:
    """A client on MLOOP_HOME's SQLite store, or on a live server (HttpStore)."""
    if request.param == "embedded":
        return Client()
    return Client(request.getfixturevalue("live_server"))


def test_get_or_create_experiment_creates_once(client: Client) -> None:
    with pytest.raises(ExperimentNotFound):
        client.get_experiment_by_name("churn")
    created = client.get_or_create_experiment("churn")
    again = client.get_or_create_experiment("churn")
    assert again.experiment_id == created.experiment_id
    assert [e.name for e in client.list_experiments()].count("churn") == 1


def _race(uri: str, name: str, out: multiprocessing.Queue[str]) -> None:
    out.put(Client(uri).get_or_create_experiment(name).experiment_id)


@pytest.mark.slow
def test_get_or_create_experiment_when_processes_race(live_server: str, mloop_home: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(live_server, "raced", out)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    ids = {out.get(timeout=10) for _ in procs}
    assert len(ids) == 1  # every process got the one experiment, none an error
    assert ids == {Client(live_server).get_experiment_by_name("raced").experiment_id}


def test_log_artifacts_stores_a_folder_with_digests(client: Client, tmp_path: Path) -> None:
    run = client.create_run(client.get_or_create_experiment("art").experiment_id)
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (folder / "sub" / "config.json").write_text('{"depth": 3}')
    stored = client.log_artifacts(run.run_id, folder, "model")
    by_path = {a.path: a for a in stored if not a.is_dir}
    assert set(by_path) == {"model/weights.bin", "model/sub/config.json"}
    assert by_path["model/weights.bin"].sha256 == hashlib.sha256(b"\x00\x01" * 100).hexdigest()
    assert by_path["model/weights.bin"].size == 200
    listed = {a.path for a in client.list_artifacts(run.run_id, "model")}
    assert listed == {"model/weights.bin", "model/sub"}
    back = client.download_artifacts(run.run_id, "model", tmp_path / "back")
    assert (back / "sub" / "config.json").read_text() == '{"depth": 3}'


def test_log_artifacts_refuses_a_file_or_a_missing_folder(client: Client, tmp_path: Path) -> None:
    run = client.create_run(client.get_or_create_experiment("art").experiment_id)
    a_file = tmp_path / "one.txt"
    a_file.write_text("x")
    with pytest.raises(InvalidArgument, match="is not a folder"):
        client.log_artifacts(run.run_id, a_file)
    with pytest.raises(InvalidArgument, match="is not a folder"):
        client.log_artifacts(run.run_id, tmp_path / "missing")
    assert client.list_artifacts(run.run_id) == []


def test_set_terminated_ends_the_run_after_what_was_logged(client: Client) -> None:
    run = client.create_run(client.get_or_create_experiment("end").experiment_id)
    for step in range(50):
        client.log_metric(run.run_id, "loss", 1 / (step + 1), step=step)
    client.set_terminated(run.run_id, "FAILED", end_time=END)
    ended = client.get_run(run.run_id)
    assert ended.info.status == RunStatus.FAILED
    assert ended.info.end_time == END
    assert len(client.get_metric_history(run.run_id, "loss")) == 50  # durable before the end


def test_set_terminated_without_waiting_is_done_by_flush(client: Client) -> None:
    exp = client.get_or_create_experiment("many").experiment_id
    runs = [client.create_run(exp).run_id for _ in range(5)]
    for run_id in runs:
        client.log_param(run_id, "lr", 0.1)
        client.set_terminated(run_id, RunStatus.FINISHED, end_time=END, wait=False)
    assert client.flush().complete
    for run_id in runs:
        info = client.get_run(run_id).info
        assert (info.status, info.end_time) == (RunStatus.FINISHED, END)


def test_set_terminated_refuses_an_unknown_status_or_run(client: Client) -> None:
    run = client.create_run(client.get_or_create_experiment("bad").experiment_id)
    with pytest.raises(InvalidArgument, match="unknown run status 'DONE'"):
        client.set_terminated(run.run_id, "DONE")
    assert client.get_run(run.run_id).info.status == RunStatus.RUNNING
    with pytest.raises(RunNotFound):
        client.get_run("0" * 32)
