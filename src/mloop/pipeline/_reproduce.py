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
import hashlib
import inspect
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from mloop.errors import (
    ArtifactNotFound,
    InvalidArgument,
    MloopError,
    NotFound,
)
from mloop.pipeline._runner import TAG_ENGINE, TAG_STEP_ID, TAG_TARGET
from mloop.store import Run, RunStatus
from mloop.store._datasets_base import DATA_SUFFIX
from mloop.tracking import Client
from mloop.tracking import _context as ctx

#: Default relative tolerance of a metric.
DEFAULT_TOLERANCE = 1e-6
#: Default absolute floor: two values this close are equal, however small (values near 0).
DEFAULT_ABS_TOLERANCE = 1e-9
# The tags a pipeline run writes (one definition, in the runner).
TAG_PIPELINE_TARGET = TAG_TARGET
TAG_PIPELINE_ENGINE = TAG_ENGINE
_OUTPUT_TAIL_LINES = 60
_HASH_CHUNK = 1 << 20

Category = Literal["code", "packages", "datasets", "params"]
MetricStatus = Literal["match", "differs", "missing_in_new", "missing_in_old"]


@dataclass(frozen=True)
class Difference:
    """One way the recorded run and the current environment (or the new run) differ.

    Attributes:
        category: ``code``, ``packages``, ``datasets`` or ``params``.
        name: what differs: ``commit``, ``dirty``, ``entry file``, a package, a dataset URI, a
            param.
        recorded: its recorded value (None: absent then).
        current: its value now (None: absent now).
        message: one sentence for a person.
    """

    category: Category
    name: str
    recorded: str | None
    current: str | None
    message: str


@dataclass(frozen=True)
class MetricComparison:
    """A metric's final value in the recorded run and in the new one.

    ``key`` is the metric's key, prefixed with ``<step>/`` for a metric of a child run (a
    pipeline step). ``within`` is ``|new - old| <= max(tolerance * |old|, abs_tolerance)``.
    """

    key: str
    old: float | None
    new: float | None
    diff: float | None
    tolerance: float
    within: bool
    status: MetricStatus


@dataclass
class ReproduceReport:
    """What :func:`reproduce` found.

    Attributes:
        run_id: the recorded run.
        kind: ``pipeline`` or ``script``.
        target: the pipeline target (``path.py:name``) or the command line re-run.
        differences: every environment difference (code, packages, datasets, params).
        warnings: what could not be checked, and why.
        rerun: whether a re-run was asked for.
        new_run_id: the run the re-run made, if it made one.
        rerun_error: why the re-run failed or could not start, if it did.
        rerun_output: the last lines the re-run printed (a script run), for a failure's cause.
        metrics: each metric, old against new (empty without a re-run).
        duration_s: the re-run's wall time.
    """

    run_id: str
    kind: Literal["pipeline", "script"]
    target: str
    differences: list[Difference] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rerun: bool = True
    new_run_id: str | None = None
    rerun_error: str | None = None
    rerun_output: str = ""
    metrics: list[MetricComparison] = field(default_factory=list)
    duration_s: float | None = None

    @property
    def environment_matches(self) -> bool:
        """No code, package, dataset or params difference."""
        return not self.differences

    @property
    def metrics_match(self) -> bool:
        """The re-run finished and every metric is on both sides and within its tolerance
        (trivially true without a re-run)."""
        if not self.rerun:
            return True
        return self.rerun_error is None and all(m.within for m in self.metrics)

    def ok(self, *, strict: bool = False) -> bool:
        """Reproduced: the metrics match (and, with ``strict``, the environment does too)."""
        return self.metrics_match and (self.environment_matches or not strict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["environment_matches"] = self.environment_matches
        out["metrics_match"] = self.metrics_match
        out["ok"] = self.ok()
        return out


# -- the recorded run --------------------------------------------------------------------------


def _root_run(client: Client, run_id: str) -> Run:
    run = client.get_run(run_id)  # RunNotFound names the id
    parent = run.info.parent_run_id
    # A pipeline run names all it needs in its tags, nested or not; a child run of a script
    # can only be re-made by re-running the script, which reproduces its parent.
    if parent and TAG_PIPELINE_TARGET not in run.data.tags:
        raise InvalidArgument(
            f"run {run_id} is nested in run {parent} (a pipeline step or a child run): "
            f"reproduce the run that started it, `mloop reproduce {parent}`"
        )
    return run


def _checkout_root(tags: Mapping[str, str]) -> Path | None:
    """The root of the checkout to compare against: the one holding the current folder, else
    the one holding the run's recorded working folder."""
    _, root = ctx.read_git(Path.cwd())
    if root is None and tags.get(ctx.TAG_CWD):
        recorded = Path(tags[ctx.TAG_CWD])
        if recorded.is_dir():
            _, root = ctx.read_git(recorded)
    return root


def _git_ok(root: Path, *args: str) -> int | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, timeout=30, check=False
        ).returncode
    except (OSError, subprocess.SubprocessError):
        return None


# -- code --------------------------------------------------------------------------------------


def _check_code(
    tags: Mapping[str, str], root: Path | None, entry: str | None, report: ReproduceReport
) -> None:
    recorded = tags.get(ctx.TAG_GIT_COMMIT)
    if not recorded:
        report.warnings.append(
            "the run recorded no git commit (it ran outside a git repository): its code "
            "cannot be compared"
        )
        return
    if tags.get(ctx.TAG_GIT_DIRTY) == "true":
        report.differences.append(
            Difference(
                "code",
                "dirty when recorded",
                "true",
                None,
                f"the run was made from a working tree with uncommitted changes on top of "
                f"{recorded[:12]}: the code it ran is not recorded exactly",
            )
        )
    if root is None:
        report.warnings.append(
            "the current folder is not in a git repository: the code cannot be compared with "
            f"commit {recorded[:12]}"
        )
        return
    current, _ = ctx.read_git(root)
    head = current.get(ctx.TAG_GIT_COMMIT)
    if head != recorded:
        report.differences.append(
            Difference(
                "code",
                "commit",
                recorded,
                head,
                f"HEAD is {(head or 'none')[:12]}, the run was made at {recorded[:12]}",
            )
        )
    if current.get(ctx.TAG_GIT_DIRTY) == "true":
        report.differences.append(
            Difference(
                "code",
                "dirty",
                tags.get(ctx.TAG_GIT_DIRTY),
                "true",
                f"the working tree in {root} has uncommitted changes",
            )
        )
    if entry is None:
        return
    if _git_ok(root, "cat-file", "-e", f"{recorded}^{{commit}}") != 0:
        report.differences.append(
            Difference(
                "code",
                "commit missing",
                recorded,
                None,
                f"commit {recorded[:12]} is not in the repository at {root} (fetch it to compare "
                "the entry file)",
            )
        )
        return
    if _git_ok(root, "cat-file", "-e", f"{recorded}:{entry}") != 0:
        report.differences.append(
            Difference(
                "code",
                "entry file",
                None,
                entry,
                f"{entry} was not committed at {recorded[:12]}: the code the run used is unknown",
            )
        )
        return
    rc = _git_ok(root, "diff", "--quiet", recorded, "--", entry)
    if rc == 1:
        report.differences.append(
            Difference(
                "code",
                "entry file",
                recorded,
                "changed",
                f"{entry} differs from its version at {recorded[:12]} "
                f"(see `git diff {recorded[:12]} -- {entry}`)",
            )
        )
    elif rc != 0:
        report.warnings.append(f"could not compare {entry} with commit {recorded[:12]}")


# -- packages ----------------------------------------------------------------------------------


def _check_packages(tags: Mapping[str, str], report: ReproduceReport) -> None:
    recorded = ctx.decode_packages(tags)
    # Listed afresh: a long-lived process may have installed or upgraded something since.
    current = ctx.installed_packages.__wrapped__()
    now = ctx.parse_requirements(current)
    if recorded is None:
        old_hash = tags.get(ctx.TAG_PACKAGES_HASH)
        if old_hash is None:
            report.warnings.append("the run recorded no package list: packages not compared")
        elif old_hash != (new_hash := ctx.hash_packages(current)):
            report.differences.append(
                Difference(
                    "packages",
                    "environment",
                    old_hash[:12],
                    new_hash[:12],
                    "the installed packages differ from the run's (it recorded only their "
                    "hash, so which ones is unknown)",
                )
            )
        return
    for name, old, new in _changed(recorded, now):
        if old is None:
            msg = f"{name} {new} is installed; the run did not have it"
        elif new is None:
            msg = f"{name} {old} is not installed; the run had it"
        else:
            msg = f"{name} is {new}; the run had {old}"
        report.differences.append(Difference("packages", name, old, new, msg))


# -- datasets ----------------------------------------------------------------------------------


def _file_sha256(client: Client, name: str, digest: str) -> str:
    sha = hashlib.sha256()
    with client.store.open_dataset_file(name, f"{digest}{DATA_SUFFIX}") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _check_datasets(client: Client, run_id: str, report: ReproduceReport) -> None:
    for inp in client.store.get_run_inputs(run_id):
        uri = inp.dataset_uri
        try:
            version = client.store.get_dataset_version(inp.dataset_name, inp.dataset_version)
        except NotFound:
            report.differences.append(
                Difference(
                    "datasets", uri, inp.digest, None, f"{uri} ({inp.context}) no longer exists"
                )
            )
            continue
        if version.digest != inp.digest:
            report.differences.append(
                Difference(
                    "datasets",
                    uri,
                    inp.digest,
                    version.digest,
                    f"{uri} ({inp.context}) now has digest {version.digest[:12]}, the run read "
                    f"{inp.digest[:12]}",
                )
            )
            continue
        try:
            actual = _file_sha256(client, inp.dataset_name, inp.digest)
        except ArtifactNotFound:
            report.differences.append(
                Difference(
                    "datasets",
                    uri,
                    inp.digest,
                    None,
                    f"{uri} ({inp.context}): its file {version.source} is missing",
                )
            )
            continue
        if actual != inp.digest:
            report.differences.append(
                Difference(
                    "datasets",
                    uri,
                    inp.digest,
                    actual,
                    f"{uri} ({inp.context}): its file {version.source} has sha256 {actual[:12]}, "
                    f"not its digest {inp.digest[:12]}: it was changed or damaged",
                )
            )


# -- params ------------------------------------------------------------------------------------


def _changed(
    old: Mapping[str, str], new: Mapping[str, str]
) -> Iterator[tuple[str, str | None, str | None]]:
    """``(key, old value, new value)`` for every key whose value differs or is on one side only,
    in key order."""
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a != b:
            yield key, a, b


def _check_params(old: Mapping[str, str], new: Mapping[str, str], report: ReproduceReport) -> None:
    for key, a, b in _changed(old, new):
        if a is None:
            msg = f"param {key} = {b!r} is new in the re-run"
        elif b is None:
            msg = f"param {key} was not logged by the re-run (recorded {a!r})"
        else:
            msg = f"param {key} is {b!r} in the re-run, {a!r} in the run"
        report.differences.append(Difference("params", key, a, b, msg))


# -- metrics -----------------------------------------------------------------------------------


def _tolerance_for(key: str, tolerance: float | Mapping[str, float]) -> float:
    if isinstance(tolerance, Mapping):
        if key in tolerance:
            return float(tolerance[key])
        # A step's metric "train/loss" also takes the tolerance given for "loss".
        parts = key.split("/")
        for i in range(1, len(parts)):
            short = "/".join(parts[i:])
            if short in tolerance:
                return float(tolerance[short])
        return float(tolerance.get("*", DEFAULT_TOLERANCE))
    return float(tolerance)


def compare_metrics(
    old: Mapping[str, float],
    new: Mapping[str, float],
    tolerance: float | Mapping[str, float] = DEFAULT_TOLERANCE,
    abs_tolerance: float = DEFAULT_ABS_TOLERANCE,
) -> list[MetricComparison]:
    """Each metric of either side, old against new, within a relative tolerance with an
    absolute floor (NaN equals NaN; infinities equal themselves).

    Example::

        compare_metrics({"auc": 0.91}, {"auc": 0.905}, {"auc": 0.01})[0].within  # True
    """
    out = []
    for key in sorted(old.keys() | new.keys()):
        tol = _tolerance_for(key, tolerance)
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            status: MetricStatus = "missing_in_old" if a is None else "missing_in_new"
            out.append(MetricComparison(key, a, b, None, tol, False, status))
            continue
        if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
            same = (math.isnan(a) and math.isnan(b)) or a == b
            diff = 0.0 if same else math.nan
        else:
            diff = b - a
            same = abs(diff) <= max(tol * abs(a), abs_tolerance)
        out.append(MetricComparison(key, a, b, diff, tol, same, "match" if same else "differs"))
    return out


def _children(client: Client, run: Run) -> dict[str, Run]:
    """The run's child runs by step id (or run name); a name seen twice gets ``#2``, ..."""
    page = client.search_runs(
        [run.info.experiment_id],
        f"attributes.parent_run_id = '{run.info.run_id}'",
        order_by="attributes.start_time ASC",
        max_results=1000,
    )
    out: dict[str, Run] = {}
    for child in page.runs:
        name = child.data.tags.get(TAG_STEP_ID) or child.info.run_name
        key, n = name, 1
        while key in out:
            n += 1
            key = f"{name}#{n}"
        out[key] = child
    return out


def _final_metrics(client: Client, run: Run) -> dict[str, float]:
    metrics = {k: v.value for k, v in run.data.metrics.items()}
    for name, child in _children(client, run).items():
        metrics.update({f"{name}/{k}": v.value for k, v in child.data.metrics.items()})
    return metrics


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
    _check_tolerance(tolerance, abs_tolerance)
    client = client or Client()
    run = _root_run(client, run_id)
    tags = run.data.tags
    if run.info.parent_run_id and ctx.TAG_PACKAGES not in tags:
        # A nested run shares its parent's process, which holds the package list.
        parent = client.get_run(run.info.parent_run_id).data.tags
        if parent.get(ctx.TAG_PACKAGES_HASH) == tags.get(ctx.TAG_PACKAGES_HASH):
            extra = {k: v for k, v in parent.items() if k.startswith(ctx.TAG_PACKAGES)}
            tags = {**tags, **extra}
    root = _checkout_root(tags)
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
    _check_code(tags, root, entry, report)
    _check_packages(tags, report)
    _check_datasets(client, run_id, report)
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
    _check_params(run.data.params, new.data.params, report)
    report.metrics = compare_metrics(
        _final_metrics(client, run), _final_metrics(client, new), tolerance, abs_tolerance
    )
    return report


def _check_tolerance(tolerance: float | Mapping[str, float], abs_tolerance: float) -> None:
    values: Iterable[tuple[str, Any]] = (
        tolerance.items() if isinstance(tolerance, Mapping) else [("tolerance", tolerance)]
    )
    for key, value in [*values, ("abs_tolerance", abs_tolerance)]:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise InvalidArgument(
                f"the tolerance of {key} must be a finite number >= 0, got {value!r}"
            )
