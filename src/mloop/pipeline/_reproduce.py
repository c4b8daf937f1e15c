"""``mloop.pipeline.reproduce``: re-run a recorded run and say what differs.

It checks nothing out. It compares what the run recorded (its ``mloop.*`` system tags, params and
dataset inputs) with the current checkout and environment, re-runs what produced the run with
the recorded inputs, and compares the metrics of the new run with the old ones:

- code: the recorded commit against the current HEAD, a working tree with uncommitted changes
  (then and now), and whether the entry file changed since the recorded commit
  (``git diff --quiet COMMIT -- FILE``);
- packages: the recorded ``name==version`` list against what is installed now;
- datasets: each dataset input still resolves to the recorded digest, and its stored file still
  hashes to it;
- params: the params the new run logged against the recorded ones (a changed default shows here).

A pipeline run (tag ``mloop.pipeline.target``) is re-run in this process with
``mloop.pipeline.run(target, params=<recorded params>, cache=False)``; any other run by starting
its recorded entry point with its recorded command line, from its recorded working folder, in a
child process whose environment holds ``MLOOP_REPRODUCE_OF=<run id>``: the run it starts is
tagged ``mloop.reproduces`` and found by that tag.
"""

from __future__ import annotations

import collections
import inspect
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mloop._core._tags import TAG_PIPELINE_ENGINE, TAG_PIPELINE_TARGET
from mloop.errors import (
    InvalidArgument,
    MloopError,
)
from mloop.pipeline._reproduce_checks import (
    DEFAULT_ABS_TOLERANCE,
    DEFAULT_TOLERANCE,
    ReproduceReport,
    check_code,
    check_datasets,
    check_packages,
    check_params,
    check_steps,
    check_tolerance,
    checkout_root,
    compare_metrics,
    final_metrics,
    root_run,
)
from mloop.store import Run, RunStatus
from mloop.tracking import Client
from mloop.tracking import _context as ctx

__all__ = ["reproduce", "script_command"]

#: The last lines a re-run script printed, kept in the report.
_OUTPUT_TAIL_LINES = 60

# -- re-running --------------------------------------------------------------------------------


def _resolve_target(target: str, root: Path | None) -> tuple[str, str]:
    """``(path as given to pipeline.run, path relative to the git root or None)``."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise InvalidArgument(f"recorded pipeline target {target!r} is not 'path.py:name'")
    p = Path(path)
    if p.is_absolute():
        return target, path
    if root is None:
        raise InvalidArgument(
            f"the pipeline {target} was recorded relative to a git repository's root, and the "
            "current folder is not in a git repository: run mloop reproduce from the checkout"
        )
    return f"{root / p}:{name}", path


def _param_value(text: str, parameter: inspect.Parameter | None) -> Any:
    """A recorded param back as the value the pipeline got: the runner records a string as it
    is and anything else as JSON, so a str parameter keeps the text and the others are
    decoded (``"3"`` -> 3, ``"true"`` -> True, ``"[1, 2]"`` -> [1, 2])."""
    if parameter is not None:
        annotation = parameter.annotation
        if annotation in (str, "str") or isinstance(parameter.default, str):
            return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _rerun_pipeline(
    client: Client,
    run: Run,
    target: str,
    engine: str | None,
    report: ReproduceReport,
) -> str | None:
    from mloop import pipeline as _pipeline
    from mloop.pipeline._load import load_target
    from mloop.store._context import use

    try:
        pipe, _ = load_target(target)
    except MloopError as exc:  # the file or the pipeline is gone
        report.rerun_error = exc.message
        return None
    signature = pipe.signature.parameters
    params = {k: _param_value(v, signature.get(k)) for k, v in run.data.params.items()}
    experiment = client.get_experiment(run.info.experiment_id).name
    engine = engine or run.data.tags.get(TAG_PIPELINE_ENGINE) or "local"
    # The pipeline logs through the fluent API: make this client's store current meanwhile.
    try:
        with use(client.settings):
            result = _pipeline.run(
                pipe, params=params, engine=engine, cache=False, experiment=experiment
            )
    except MloopError as exc:
        report.rerun_error = exc.message
        failed = getattr(exc, "run", None)
        new_id = getattr(failed, "run_id", None)
        if isinstance(new_id, str):
            client.set_tag(new_id, ctx.TAG_REPRODUCES, run.info.run_id)
            return new_id
        return None
    new_id = result.run_id
    client.set_tag(new_id, ctx.TAG_REPRODUCES, run.info.run_id)
    if result.status != "finished":
        failed_steps = [s.step_id for s in result.steps if s.status == "failed"]
        report.rerun_error = f"the pipeline re-run ended {result.status}" + (
            f" (failed steps: {', '.join(failed_steps)})" if failed_steps else ""
        )
    return new_id


def script_command(tags: Mapping[str, str], root: Path | None) -> tuple[list[str], Path]:
    """The command line and working folder that re-run a script run in this environment.

    Raises:
        InvalidArgument: the run recorded no command line, ran interactively, or had secret
            option values that were not recorded.
    """
    raw = tags.get(ctx.TAG_ARGV)
    if raw is None:
        raise InvalidArgument(
            "the run recorded no command line (mloop.argv): it was made by an older mloop or "
            "its command line was too long to record; re-run it by hand"
        )
    try:
        argv = json.loads(raw)
    except ValueError:
        argv = None
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise InvalidArgument(f"the recorded command line (mloop.argv) is damaged: {raw[:80]!r}")
    hidden = [
        a
        for a in argv
        if a == ctx.REDACTED or a.endswith(f"={ctx.REDACTED}") or f":{ctx.REDACTED}@" in a
    ]
    if hidden:
        raise InvalidArgument(
            "the recorded command line had secret values that were not recorded "
            f"({len(hidden)} hidden as {ctx.REDACTED}): re-run it by hand"
        )
    entry = tags.get(ctx.TAG_ENTRY_POINT, "<interactive>")
    if entry == "<interactive>":
        raise InvalidArgument(
            "the run was made from an interactive session (a notebook or a REPL): there is no "
            "script to re-run"
        )
    rel_entry, rel_cwd = tags.get(ctx.TAG_GIT_ENTRY_POINT), tags.get(ctx.TAG_GIT_CWD)
    if entry.startswith("-m "):
        head = ["-m", entry[3:]]
    elif root is not None and rel_entry is not None:
        head = [str(root / rel_entry)]
    else:
        head = [entry]
    if root is not None and rel_cwd is not None:
        cwd = root / rel_cwd
    else:
        cwd = Path(tags.get(ctx.TAG_CWD) or ".")
    return [sys.executable, *head, *argv[1:]], cwd


def _child_env(client: Client, run_id: str) -> dict[str, str]:
    """The environment of a re-run script: the one place mloop hands settings to a process
    through ``MLOOP_*`` variables, because the process is the user's own ``python train.py``,
    which has no other channel; its default store context reads them back."""
    settings = client.settings
    env = dict(os.environ)
    # The child starts in another folder: name the store absolutely, so it logs to this one.
    env["MLOOP_HOME"] = str(settings.home.resolve())
    env["MLOOP_TRACKING_URI"] = settings.tracking_uri
    env["MLOOP_ARTIFACTS"] = settings.artifacts
    if settings.token is not None:
        env["MLOOP_TOKEN"] = settings.token.get_secret_value()
    env[ctx.ENV_REPRODUCE_OF] = run_id
    return env


def _run_child(
    cmd: list[str], cwd: Path, env: Mapping[str, str], echo: Callable[[str], None] | None
) -> tuple[int, str]:
    tail: collections.deque[str] = collections.deque(maxlen=_OUTPUT_TAIL_LINES)
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            tail.append(line.rstrip("\n"))
            if echo is not None:
                echo(line.rstrip("\n"))
    return proc.returncode, "\n".join(tail)


def _reproductions(client: Client, run_id: str) -> list[Run]:
    """Top-level runs tagged as re-runs of ``run_id``, newest first."""
    quoted = run_id.replace("'", "''")
    page = client.search_runs(
        None,
        f"tags.`{ctx.TAG_REPRODUCES}` = '{quoted}'",
        order_by="attributes.start_time DESC",
        max_results=1000,
    )
    return [r for r in page.runs if not r.info.parent_run_id]


def _find_new_run(client: Client, run: Run, before: set[str]) -> Run | None:
    # Runs that were not there before the child started: no clock is compared, so a server
    # whose clock differs from this machine's changes nothing.
    new = [r for r in _reproductions(client, run.info.run_id) if r.info.run_id not in before]
    if not new:
        return None
    same_name = [r for r in new if r.info.run_name == run.info.run_name]
    return (same_name or new)[0]


def _rerun_script(
    client: Client,
    run: Run,
    root: Path | None,
    echo: Callable[[str], None] | None,
    report: ReproduceReport,
) -> str | None:
    try:
        cmd, cwd = script_command(run.data.tags, root)
    except InvalidArgument as exc:
        report.rerun_error = exc.message
        return None
    report.target = " ".join(cmd)
    if not cwd.is_dir():
        report.rerun_error = f"the recorded working folder {cwd} does not exist"
        return None
    before = {r.info.run_id for r in _reproductions(client, run.info.run_id)}
    try:
        rc, output = _run_child(cmd, cwd, _child_env(client, run.info.run_id), echo)
    except OSError as exc:
        report.rerun_error = f"could not start {cmd[1]!r}: {exc}"
        return None
    report.rerun_output = output
    new = _find_new_run(client, run, before)
    if rc != 0:
        report.rerun_error = f"the re-run exited with status {rc}"
    elif new is None:
        report.rerun_error = (
            "the re-run finished but started no run tagged mloop.reproduces: does the script "
            "still call mloop.start_run()?"
        )
    elif new.info.status is not RunStatus.FINISHED:
        report.rerun_error = f"the new run {new.info.run_id} ended {new.info.status.value}"
    return new.info.run_id if new is not None else None


# -- the whole -----------------------------------------------------------------------------------


def reproduce(
    run_id: str,
    *,
    tolerance: float | Mapping[str, float] = DEFAULT_TOLERANCE,
    abs_tolerance: float = DEFAULT_ABS_TOLERANCE,
    rerun: bool = True,
    engine: str | None = None,
    client: Client | None = None,
    echo: Callable[[str], None] | None = None,
) -> ReproduceReport:
    """Compare a recorded run with the current environment, re-run it, and compare metrics.

    Args:
        run_id: the run to reproduce (a top-level run: a pipeline run or a script's run).
        tolerance: the relative tolerance of every metric, or ``{metric: tolerance}`` with an
            optional ``"*"`` for the others (default 1e-6); a step's metric ``step/key`` also
            takes the tolerance given for ``key``.
        abs_tolerance: the absolute floor: values this close match even near 0.
        rerun: re-run and compare metrics; ``False`` checks the environment only.
        engine: the pipeline engine of the re-run (default: the recorded one, else ``local``).
        client: the tracking client (default: from the settings).
        echo: called with each line a re-run script prints (default: kept quiet; the last lines
            are in the report).

    Returns:
        a :class:`ReproduceReport`; ``report.ok()`` says whether the run reproduced.

    Raises:
        RunNotFound: no run with that id.
        InvalidArgument: a nested run (reproduce its parent), or a bad tolerance.

    Example::

        report = mloop.pipeline.reproduce(run_id, tolerance={"*": 1e-6, "auc": 0.01})
        assert report.ok(), report.differences
    """
    check_tolerance(tolerance, abs_tolerance)
    client = client or Client()
    run = root_run(client, run_id)
    tags = run.data.tags
    if run.info.parent_run_id and ctx.TAG_PACKAGES not in tags:
        # A nested run shares its parent's process, which holds the package list.
        parent = client.get_run(run.info.parent_run_id).data.tags
        if parent.get(ctx.TAG_PACKAGES_HASH) == tags.get(ctx.TAG_PACKAGES_HASH):
            extra = {k: v for k, v in parent.items() if k.startswith(ctx.TAG_PACKAGES)}
            tags = {**tags, **extra}
    root = checkout_root(tags)
    pipeline_target = tags.get(TAG_PIPELINE_TARGET)
    if pipeline_target is not None:
        report = ReproduceReport(run_id, "pipeline", pipeline_target, rerun=rerun)
        try:
            target, entry = _resolve_target(pipeline_target, root)
        except InvalidArgument as exc:
            target, entry = pipeline_target, None
            report.rerun_error = exc.message
        if entry is not None and Path(entry).is_absolute() and root is not None:
            try:
                entry = Path(entry).resolve().relative_to(root).as_posix()
            except ValueError:
                entry = None
    else:
        report = ReproduceReport(run_id, "script", tags.get(ctx.TAG_ENTRY_POINT, ""), rerun=rerun)
        target, entry = "", tags.get(ctx.TAG_GIT_ENTRY_POINT)
    check_code(tags, root, entry, report)
    check_packages(tags, report)
    check_datasets(client, run_id, report)
    if not rerun:
        return report
    if report.rerun_error is not None:
        return report
    t0 = time.perf_counter()
    if pipeline_target is not None:
        new_id = _rerun_pipeline(client, run, target, engine, report)
    else:
        new_id = _rerun_script(client, run, root, echo, report)
    report.duration_s = round(time.perf_counter() - t0, 3)
    report.new_run_id = new_id
    if new_id is None:
        return report
    new = client.get_run(new_id)
    check_params(run.data.params, new.data.params, report)
    check_steps(client, run, new, report)
    report.metrics = compare_metrics(
        final_metrics(client, run), final_metrics(client, new), tolerance, abs_tolerance
    )
    return report
