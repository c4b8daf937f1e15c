"""Peer tools (MLflow, ...) for side-by-side benchmarks, each in its own virtual environment.

A peer lives in ``benchmarks/.venvs/<name>`` (git-ignored), created on first use with the
peer's pinned requirements and reused afterwards; a marker file records what was installed, so
a changed pin rebuilds the environment. A peer script runs in that environment as a child
process and hands back one JSON object through a result file.

Every child started here (peer scripts, servers) is tracked and its whole process group is
killed at exit, also on Ctrl-C or SIGTERM: a benchmark never leaves a server behind.

Example::

    from _peers import ensure_peer, run_peer

    py = ensure_peer("mlflow")
    result = run_peer("mlflow", "benchmarks/peers/mlflow_tracking.py", ["log-local", "--db", p])
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import venv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
VENVS = BENCH_DIR / ".venvs"
MARKER = ".mloop-peer-requirements"

# Pinned so that a rerun measures the same thing; bump deliberately (the venv is rebuilt).
# 3.17.2: the newest MLflow whose mlflow-skinny release is on PyPI as of this writing.
PEERS: dict[str, list[str]] = {
    "mlflow": ["mlflow==3.17.2"],
    # benchmarks/pipeline.py: a 20-step flow run locally (no cloud services, no card server).
    "metaflow": ["metaflow==2.19.39"],
}

# No peer phones home from a benchmark: all traffic stays on 127.0.0.1.
PEER_ENV: dict[str, str] = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "PYTHONUNBUFFERED": "1",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
}

INSTALL_TIMEOUT_S = 1800


class PeerError(RuntimeError):
    """A peer environment could not be built, or a peer script failed."""


# -- child processes ---------------------------------------------------------------------------

_children: list[subprocess.Popen[Any]] = []
_children_lock = threading.Lock()


def spawn(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> subprocess.Popen[Any]:
    """Start a child in its own process group, tracked so that it is killed at exit."""
    full_env = {**os.environ, **PEER_ENV, **(env or {})}
    proc = subprocess.Popen([str(c) for c in cmd], env=full_env, start_new_session=True, **kwargs)
    with _children_lock:
        _children.append(proc)
    return proc


def stop(proc: subprocess.Popen[Any], grace_s: float = 5.0) -> None:
    """Stop a child and everything it started: SIGTERM to its group, SIGKILL after a grace."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    # The leader may be gone while workers it forked live on in the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    with _children_lock:
        if proc in _children:
            _children.remove(proc)


def stop_all() -> None:
    """Stop every child still running (called at exit and on SIGTERM)."""
    with _children_lock:
        procs = list(_children)
    for proc in procs:
        stop(proc, grace_s=3.0)


def _on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


atexit.register(stop_all)
if threading.current_thread() is threading.main_thread():
    # Ctrl-C raises KeyboardInterrupt and SIGTERM SystemExit, so atexit runs in both cases.
    signal.signal(signal.SIGTERM, _on_sigterm)


# -- environments ------------------------------------------------------------------------------


def venv_python(name: str) -> Path:
    return VENVS / name / "bin" / "python"


def venv_bin(name: str, exe: str) -> Path:
    return VENVS / name / "bin" / exe


def ensure_peer(name: str, requirements: Sequence[str] | None = None) -> Path:
    """Create (once) the environment of peer ``name`` and return its Python.

    Raises:
        PeerError: pip failed or ran past its time limit; its output is in the message.
    """
    reqs = sorted(requirements if requirements is not None else PEERS[name])
    home = VENVS / name
    marker = home / MARKER
    python = venv_python(name)
    wanted = "\n".join(reqs) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(
        f"[peers] building {home} with {' '.join(reqs)} (once; later runs reuse it)",
        file=sys.stderr,
        flush=True,
    )
    if marker.exists():
        marker.unlink()
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *reqs]
    proc = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise PeerError(f"installing {reqs} took over {INSTALL_TIMEOUT_S} s; gave up") from None
    finally:
        stop(proc)
    if proc.returncode != 0:
        raise PeerError(f"pip install {reqs} failed (exit {proc.returncode}):\n{out[-4000:]}")
    marker.write_text(wanted)
    return python


def peer_version(name: str, dist: str) -> str:
    """The installed version of distribution ``dist`` in peer ``name``'s environment."""
    out = subprocess.run(
        [
            str(venv_python(name)),
            "-c",
            f"import importlib.metadata as m; print(m.version({dist!r}))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def run_peer(
    name: str,
    script: str | os.PathLike[str],
    args: Sequence[str],
    *,
    timeout_s: float = 900.0,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Run ``script args --result FILE`` in peer ``name``'s environment; return FILE's JSON.

    The peer's stdout and stderr pass through to ours, so its progress shows. ``cwd`` keeps
    whatever a peer writes beside itself (MLflow's ``mlruns/``) out of the repository.

    Raises:
        PeerError: the script failed, wrote no result, or ran past ``timeout_s``.
    """
    python = ensure_peer(name)
    with tempfile.TemporaryDirectory(prefix=f"peer-{name}-") as tmp:
        result = Path(tmp) / "result.json"
        proc = spawn([python, str(script), *args, "--result", str(result)], env=env, cwd=cwd)
        t0 = time.monotonic()
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop(proc)
            raise PeerError(
                f"{name} peer {' '.join(args)} ran past {timeout_s:.0f} s; killed"
            ) from None
        finally:
            stop(proc)
        if rc != 0:
            raise PeerError(f"{name} peer {' '.join(args)} failed with exit status {rc}")
        if not result.exists():
            raise PeerError(f"{name} peer {' '.join(args)} wrote no result")
        data: dict[str, Any] = json.loads(result.read_text())
        data.setdefault("_wall_s", time.monotonic() - t0)
        return data


if __name__ == "__main__":
    # `python benchmarks/_peers.py mlflow`: build a peer environment ahead of a benchmark.
    for peer in sys.argv[1:] or list(PEERS):
        print(ensure_peer(peer))
