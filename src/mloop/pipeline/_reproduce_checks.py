"""What ``mloop reproduce`` checks: the recorded run against the current checkout and
environment (code, packages, datasets, params), and the metrics of a re-run against the
recorded ones; with the report that holds the answers. Re-running is :mod:`._reproduce`'s.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from mloop._core._tags import TAG_PIPELINE_TARGET, TAG_STEP_CACHE_KEY, TAG_STEP_ID
from mloop.errors import ArtifactNotFound, InvalidArgument, NotFound
from mloop.store import Run
from mloop.store._datasets_base import DATA_SUFFIX
from mloop.tracking import Client
from mloop.tracking import _context as ctx

__all__ = [
    "DEFAULT_ABS_TOLERANCE",
    "DEFAULT_TOLERANCE",
    "Difference",
    "MetricComparison",
    "ReproduceReport",
    "check_code",
    "check_datasets",
    "check_packages",
    "check_params",
    "check_tolerance",
    "checkout_root",
    "compare_metrics",
    "final_metrics",
    "root_run",
]

#: Default relative tolerance of a metric.
DEFAULT_TOLERANCE = 1e-6
#: Default absolute floor: two values this close are equal, however small (values near 0).
DEFAULT_ABS_TOLERANCE = 1e-9
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
        unchecked: what could not be compared at all (``code`` outside git), so that
            "no difference" is not read as "the same".
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
    unchecked: list[str] = field(default_factory=list)

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


def root_run(client: Client, run_id: str) -> Run:
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


def checkout_root(tags: Mapping[str, str]) -> Path | None:
    """The root of the checkout to compare against: the one holding the current folder, else
    the one holding the run's recorded working folder."""
    _, root = ctx.read_git(Path.cwd())
    if root is None and tags.get(ctx.TAG_CWD):
        recorded = Path(tags[ctx.TAG_CWD])
        if recorded.is_dir():
            _, root = ctx.read_git(recorded)
    return root


def git_ok(root: Path, *args: str) -> int | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, timeout=30, check=False
        ).returncode
    except (OSError, subprocess.SubprocessError):
        return None


# -- code --------------------------------------------------------------------------------------


def check_code(
    tags: Mapping[str, str], root: Path | None, entry: str | None, report: ReproduceReport
) -> None:
    recorded = tags.get(ctx.TAG_GIT_COMMIT)
    if not recorded:
        report.warnings.append(
            "the run recorded no git commit (it ran outside a git repository): its code "
            "cannot be compared"
        )
        report.unchecked.append("code")
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
        report.unchecked.append("code")
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
    if git_ok(root, "cat-file", "-e", f"{recorded}^{{commit}}") != 0:
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
    if git_ok(root, "cat-file", "-e", f"{recorded}:{entry}") != 0:
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
    rc = git_ok(root, "diff", "--quiet", recorded, "--", entry)
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


def check_packages(tags: Mapping[str, str], report: ReproduceReport) -> None:
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


def check_datasets(client: Client, run_id: str, report: ReproduceReport) -> None:
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


def check_params(old: Mapping[str, str], new: Mapping[str, str], report: ReproduceReport) -> None:
    for key, a, b in _changed(old, new):
        if a is None:
            msg = f"param {key} = {b!r} is new in the re-run"
        elif b is None:
            msg = f"param {key} was not logged by the re-run (recorded {a!r})"
        else:
            msg = f"param {key} is {b!r} in the re-run, {a!r} in the run"
        report.differences.append(Difference("params", key, a, b, msg))


# -- metrics -----------------------------------------------------------------------------------


def check_steps(client: Client, old: Run, new: Run, report: ReproduceReport) -> None:
    """Name each pipeline step whose cache key changed in the re-run (its code, the code it
    calls, its params, its inputs or its declared packages): the steps whose metrics may
    differ, and why."""
    before, after = _children(client, old), _children(client, new)
    for name, child in before.items():
        key = child.data.tags.get(TAG_STEP_CACHE_KEY)
        again = after.get(name)
        now = None if again is None else again.data.tags.get(TAG_STEP_CACHE_KEY)
        if key and now and key != now:
            report.differences.append(
                Difference(
                    "code",
                    f"step {name}",
                    key[:12],
                    now[:12],
                    f"step {name!r} re-ran with another cache key: its code (or the code it "
                    "calls), params, inputs or packages changed since the recorded run "
                    f"(`mloop pipeline explain` says which)",
                )
            )


def changed_steps(report: ReproduceReport) -> set[str]:
    """The steps :func:`check_steps` found changed."""
    return {d.name.removeprefix("step ") for d in report.differences if d.name.startswith("step ")}


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


def final_metrics(client: Client, run: Run) -> dict[str, float]:
    metrics = {k: v.value for k, v in run.data.metrics.items()}
    for name, child in _children(client, run).items():
        metrics.update({f"{name}/{k}": v.value for k, v in child.data.metrics.items()})
    return metrics


def check_tolerance(tolerance: float | Mapping[str, float], abs_tolerance: float) -> None:
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
