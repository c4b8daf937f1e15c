"""Offline runs: a tracking server that does not answer when a script starts.

The script goes on. Its experiment is remembered by name, its runs get their ids here (the
format the server uses, so a run keeps its id once replayed), and everything it logs (the
run's creation, params, metrics, tags, artifacts, its end) waits in order in the local spool.
The background writer sends the spool as soon as the server answers; ``mloop sync`` does the
same later. Replays are idempotent: a run created from the spool with an id that exists is
left as it is, batches carry idempotency keys, and an uploaded artifact's copy is removed.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from mloop._core import Settings, new_run_id
from mloop.errors import InvalidArgument, StoreUnavailable
from mloop.store import ArtifactInfo, Experiment, Run, RunData, RunInfo, RunStatus
from mloop.store._names import friendly_name
from mloop.tracking._writer import RECORD, AsyncWriter

log = logging.getLogger("mloop.tracking")

#: The prefix of the id of an experiment chosen while the server did not answer.
OFFLINE_EXPERIMENT_PREFIX = "offline:"


@dataclass
class _State:
    """What one writer's clients know of offline work (shared by every client of a store)."""

    announced: bool = False
    runs: set[str] = field(default_factory=set)
    experiments: dict[str, str] = field(default_factory=dict)  # placeholder id -> name
    lock: threading.Lock = field(default_factory=threading.Lock)


_states: weakref.WeakKeyDictionary[AsyncWriter, _State] = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


class Offline:
    """The offline side of one client: placeholders, local run ids and spooled records."""

    def __init__(self, settings: Settings, writer: AsyncWriter) -> None:
        self._settings = settings
        self._writer = writer
        with _states_lock:
            self._state = _states.setdefault(writer, _State())

    @property
    def possible(self) -> bool:
        """True for a tracking server (http/https) with a spool: a database that does not
        answer is an error, as it was."""
        uri = self._settings.tracking_uri
        return uri.startswith(("http://", "https://")) and self._writer.spool_directory is not None

    def announce(self, exc: StoreUnavailable) -> None:
        """Say once, in one line, that logging goes to the spool."""
        with self._state.lock:
            if self._state.announced:
                return
            self._state.announced = True
        log.warning(
            "mloop: %s; logging offline to the spool (%s): runs get their ids here, and the "
            "next process that reaches the server, or `mloop sync`, sends everything",
            exc,
            self._writer.spool_directory,
        )

    def has_run(self, run_id: str) -> bool:
        return run_id in self._state.runs

    def depends_on(self, experiment_id: str, parent_run_id: str | None) -> bool:
        """True when a new run must be created offline: its experiment or parent is."""
        return experiment_id in self._state.experiments or (
            parent_run_id is not None and parent_run_id in self._state.runs
        )

    def experiment(self, name: str, exc: StoreUnavailable) -> Experiment:
        """A placeholder for the experiment ``name`` (created on the server at replay)."""
        self.announce(exc)
        placeholder = OFFLINE_EXPERIMENT_PREFIX + name
        self._state.experiments[placeholder] = name
        now = time.time_ns() // 1_000_000
        return Experiment(
            experiment_id=placeholder,
            name=name,
            artifact_location="",
            creation_time=now,
            last_update_time=now,
        )

    def experiment_by_id(self, experiment_id: str, exc: StoreUnavailable) -> Experiment:
        """The experiment ``experiment_id``, unseen (its runs name it by id at replay)."""
        self.announce(exc)
        now = time.time_ns() // 1_000_000
        return Experiment(
            experiment_id=experiment_id,
            name=experiment_id,
            artifact_location="",
            creation_time=now,
            last_update_time=now,
        )

    def create_run(
        self,
        experiment_id: str,
        *,
        run_name: str | None,
        parent_run_id: str | None,
        tags: dict[str, str],
        user: str,
    ) -> Run:
        """A run with a local id; its creation waits in the spool, first of its records."""
        run_id = new_run_id()
        name = run_name or friendly_name()
        start = time.time_ns() // 1_000_000
        spec: dict[str, object] = {
            "run_id": run_id,
            "run_name": name,
            "parent_run_id": parent_run_id,
            "start_time": start,
            "tags": tags,
            "user": user,
        }
        exp_name = self._state.experiments.get(experiment_id)
        if exp_name is not None:
            spec["experiment_name"] = exp_name
        else:
            spec["experiment_id"] = experiment_id
        self._state.runs.add(run_id)
        # The caller just saw the server down: spool at once, without another attempt.
        self._writer.put((RECORD, {"create_run": spec}, False))
        info = RunInfo(
            run_id=run_id,
            experiment_id=experiment_id,
            run_name=name,
            status=RunStatus.RUNNING,
            start_time=start,
            parent_run_id=parent_run_id,
            artifact_uri="",
            user=user,
        )
        return Run(info=info, data=RunData(tags=dict(tags)))

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None
    ) -> list[ArtifactInfo]:
        """Copy a file or folder into the spool; it is uploaded, in order, at replay."""
        local = Path(local_path)
        if not local.exists():
            raise InvalidArgument(f"no file or folder {str(local)!r} to log as an artifact")
        spool = self._writer.spool_directory
        assert spool is not None  # checked by `possible`
        copy = spool / "artifacts" / uuid.uuid4().hex / local.name
        copy.parent.mkdir(parents=True)
        if local.is_dir():
            shutil.copytree(local, copy)
        else:
            shutil.copy2(local, copy)
        record = {
            "artifact": {"run_id": run_id, "local": str(copy), "artifact_path": artifact_path}
        }
        self._writer.put((RECORD, record, True))
        return _describe(copy, artifact_path)


def _describe(copy: Path, artifact_path: str | None) -> list[ArtifactInfo]:
    """What the upload will store: each file with its size and sha256."""
    prefix = f"{artifact_path.strip('/')}/" if artifact_path else ""
    files = sorted(p for p in copy.rglob("*") if p.is_file()) if copy.is_dir() else [copy]
    infos = []
    for f in files:
        rel = f.relative_to(copy.parent).as_posix()
        with f.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        infos.append(
            ArtifactInfo(path=prefix + rel, is_dir=False, size=f.stat().st_size, sha256=digest)
        )
    return infos
