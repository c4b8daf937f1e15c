"""The read views of the ``Store`` interface that screens need: a runs table of chosen columns,
the keys runs were logged with, and metric series thinned for a chart, for many runs at once.

They answer in one call what would otherwise take one call per run (a run page with 5 charts, a
comparison of 10 runs, a table of 10,000 runs), and send only what is drawn.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import numpy as np

from mloop._core import validate_key
from mloop.errors import InvalidArgument
from mloop.store._entities import MetricHistory, ModelVersion, ViewType, _Record, encode_float

#: The most runs one table page holds (as a search page).
MAX_TABLE_ROWS = 50_000
#: The most metric, param and tag columns one table request names, all kinds together.
MAX_TABLE_COLUMNS = 200
#: The most runs and keys one history request names, and the most series it returns.
MAX_HISTORY_RUNS = 100
MAX_HISTORY_KEYS = 100
MAX_HISTORY_SERIES = 1_000
#: The most buckets (pixel columns) a thinned series is cut into.
MAX_POINTS = 20_000

RUN_ATTRIBUTES = (
    "run_id",
    "run_name",
    "status",
    "start_time",
    "end_time",
    "parent_run_id",
    "experiment_id",
    "user",
)


class XAxis(StrEnum):
    """What a metric chart draws on x: the step, or the wall-clock time of each point."""

    STEP = "step"
    TIME = "time"


class RunTable(_Record):
    """Chosen columns of the runs one search found, one list per column, one entry per run, in
    the search's order.

    ``attributes`` always holds ``run_id``, ``run_name``, ``status``, ``start_time``,
    ``end_time``, ``parent_run_id``, ``experiment_id`` and ``user``; ``metrics`` (latest
    values; NaN as ``"NaN"``), ``params`` and ``tags`` hold the keys asked for, ``None`` where a
    run lacks the key.
    """

    attributes: dict[str, list[Any]]
    metrics: dict[str, list[float | str | None]]
    params: dict[str, list[str | None]]
    tags: dict[str, list[str | None]]
    next_page_token: str | None = None

    def __len__(self) -> int:
        return len(self.attributes["run_id"])


class RunKeys(_Record):
    """The metric, param and tag keys the runs of some experiments were logged with, sorted."""

    metrics: list[str]
    params: list[str]
    tags: list[str]


class MetricSeries(MetricHistory):
    """A metric series of one run, perhaps thinned for a chart (see :func:`downsample_indices`).

    Attributes:
        run_id: the run.
        total: how many points the series has in the requested x range.
        sampled: True when points were left out; False when every point is here.
    """

    __slots__ = ("run_id", "sampled", "total")

    def __init__(
        self,
        run_id: str,
        key: str,
        steps: np.ndarray,
        timestamps: np.ndarray,
        values: np.ndarray,
        *,
        total: int,
        sampled: bool,
    ) -> None:
        super().__init__(key, steps, timestamps, values)
        self.run_id = run_id
        self.total = total
        self.sampled = sampled

    def __repr__(self) -> str:
        return (
            f"MetricSeries(run_id={self.run_id!r}, key={self.key!r}, points={len(self)}, "
            f"total={self.total}, sampled={self.sampled})"
        )

    def to_json_dict(self, *, arrays: bool = False) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            **super().to_json_dict(arrays=arrays),
            "total": self.total,
            "sampled": self.sampled,
        }

    @classmethod
    def from_json_dict(cls, body: dict[str, Any]) -> MetricSeries:
        h = MetricHistory.from_json_dict(body)
        return cls(
            str(body["run_id"]),
            h.key,
            h.steps,
            h.timestamps,
            h.values,
            total=int(body["total"]),
            sampled=bool(body["sampled"]),
        )


def encode_values(values: list[float | None]) -> list[float | str | None]:
    """Metric values for JSON: NaN and infinities as strings, missing as None."""
    return [v if v is None or v - v == 0 else encode_float(v) for v in values]


def _ids(values: Any, what: str, limit: int) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if values is None:
        return []
    if not isinstance(values, Sequence):
        raise InvalidArgument(f"{what}s must be a list of strings")
    out: list[str] = []
    for v in values:
        v = str(v) if isinstance(v, int) and not isinstance(v, bool) else v
        if not isinstance(v, str) or not v or len(v) > 64:
            raise InvalidArgument(
                f"each {what} must be a non-empty string of at most 64 characters"
            )
        if v not in out:
            out.append(v)
    if len(out) > limit:
        raise InvalidArgument(f"at most {limit} {what}s, got {len(out)}")
    return out


def _keys(values: Any, what: str) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Sequence):
        raise InvalidArgument(f"{what} keys must be a list of strings")
    out: list[str] = []
    for v in values:
        key = validate_key(v, f"{what} key")
        if key not in out:
            out.append(key)
    return out


def _optional_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise InvalidArgument(f"{what} must be a 64-bit integer, got {value!r:.40}")
    return value


def _view_type(view: ViewType | str) -> ViewType:
    try:
        return ViewType(view)
    except ValueError:
        raise InvalidArgument(f"view must be active, deleted or all, got {view!r}") from None


class RunViewStore(ABC):
    """Views for screens: the runs table, run keys and chart series (see the module docstring)."""

    def search_run_table(
        self,
        experiment_ids: Sequence[str] | str | None = None,
        filter: str = "",
        order_by: Sequence[str] | str = (),
        *,
        metrics: Sequence[str] = (),
        params: Sequence[str] = (),
        tags: Sequence[str] = (),
        max_results: int = 1_000,
        page_token: str | None = None,
        view: ViewType | str = ViewType.ACTIVE,
    ) -> RunTable:
        """The runs :meth:`Store.search_runs` finds, with only the columns asked for.

        The same filter language, order and page tokens as ``search_runs`` (a token of one
        works for the other); a run's attributes always come along.

        Example::

            table = store.search_run_table(["1"], "metrics.auc > 0.9", "metrics.auc desc",
                                           metrics=["auc"], params=["model"])
            table.attributes["run_id"], table.metrics["auc"], table.params["model"]

        Raises:
            InvalidFilter: the filter or an order-by clause does not parse (names the position).
            InvalidArgument: over 200 columns, a bad key, max_results outside 1..50,000.
        """
        exp_ids = _ids(experiment_ids, "experiment id", 10_000)
        if not isinstance(filter, str):
            raise InvalidArgument("filter must be a string")
        orders = [order_by] if isinstance(order_by, str) else list(order_by)
        orders = [o for o in orders if isinstance(o, str) and o.strip()] if orders else []
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise InvalidArgument("max_results must be an integer")
        if not 1 <= max_results <= MAX_TABLE_ROWS:
            raise InvalidArgument(f"max_results must be between 1 and {MAX_TABLE_ROWS}")
        columns = (_keys(metrics, "metric"), _keys(params, "param"), _keys(tags, "tag"))
        count = sum(len(c) for c in columns)
        if count > MAX_TABLE_COLUMNS:
            raise InvalidArgument(
                f"a table holds at most {MAX_TABLE_COLUMNS} metric, param and tag columns; "
                f"{count} were asked for"
            )
        return self._search_run_table(
            exp_ids, filter, orders, *columns, max_results, page_token, _view_type(view)
        )

    def list_run_keys(
        self,
        experiment_ids: Sequence[str] | str | None = None,
        view: ViewType | str = ViewType.ACTIVE,
    ) -> RunKeys:
        """Every metric, param and tag key of the runs of ``experiment_ids`` (all experiments
        when empty): what a table's columns can be chosen from."""
        return self._list_run_keys(_ids(experiment_ids, "experiment id", 10_000), _view_type(view))

    def get_metric_histories(
        self,
        run_ids: Sequence[str] | str,
        keys: Sequence[str] | str,
        *,
        max_points: int | None = None,
        x_axis: XAxis | str = XAxis.STEP,
        x_min: int | None = None,
        x_max: int | None = None,
    ) -> list[MetricSeries]:
        """The series of ``keys`` of each of ``run_ids`` in one call, run by run, key by key;
        a run that did not log a key is left out.

        Args:
            max_points: thin each series for a chart this many pixels wide: per x bucket, the
                lowest and highest point are kept (at most about ``2 * max_points`` points); a
                series that small is returned whole. ``None``: every point.
            x_axis: ``step`` or ``time``: what the buckets and ``x_min``/``x_max`` measure
                (for ``time``, points are ordered by timestamp).
            x_min, x_max: only points with x in this closed range (a zoomed chart).

        Raises:
            RunNotFound: a run does not exist.
            InvalidArgument: over 100 runs or keys, over 1,000 series, a bad key or range.
        """
        runs = _ids(run_ids, "run id", MAX_HISTORY_RUNS)
        names = _keys(keys, "metric")
        if not runs or not names:
            raise InvalidArgument("name at least one run id and one metric key")
        if len(names) > MAX_HISTORY_KEYS:
            raise InvalidArgument(f"at most {MAX_HISTORY_KEYS} metric keys, got {len(names)}")
        if len(runs) * len(names) > MAX_HISTORY_SERIES:
            raise InvalidArgument(
                f"at most {MAX_HISTORY_SERIES} series (runs x keys) a call, got "
                f"{len(runs)} x {len(names)}"
            )
        if max_points is not None and (
            isinstance(max_points, bool)
            or not isinstance(max_points, int)
            or not 1 <= max_points <= MAX_POINTS
        ):
            raise InvalidArgument(f"max_points must be between 1 and {MAX_POINTS}, or None")
        try:
            axis = XAxis(x_axis)
        except ValueError:
            raise InvalidArgument(f"x_axis must be step or time, got {x_axis!r:.40}") from None
        lo, hi = _optional_int(x_min, "x_min"), _optional_int(x_max, "x_max")
        if lo is not None and hi is not None and lo > hi:
            raise InvalidArgument(f"x_min ({lo}) must not be above x_max ({hi})")
        return self._get_metric_histories(runs, names, max_points, axis, lo, hi)

    def get_run_outputs(self, run_id: str) -> list[ModelVersion]:
        """The model versions registered from a run (its outputs), by model name then newest
        version first. Raises: RunNotFound."""
        return self._get_run_outputs(_ids(run_id, "run id", 1)[0])

    # -- hooks ---------------------------------------------------------------------------------

    @abstractmethod
    def _search_run_table(
        self,
        experiment_ids: list[str],
        filter: str,
        order_by: list[str],
        metrics: list[str],
        params: list[str],
        tags: list[str],
        max_results: int,
        page_token: str | None,
        view: ViewType,
    ) -> RunTable: ...

    @abstractmethod
    def _list_run_keys(self, experiment_ids: list[str], view: ViewType) -> RunKeys: ...

    @abstractmethod
    def _get_metric_histories(
        self,
        run_ids: list[str],
        keys: list[str],
        max_points: int | None,
        x_axis: XAxis,
        x_min: int | None,
        x_max: int | None,
    ) -> list[MetricSeries]: ...

    @abstractmethod
    def _get_run_outputs(self, run_id: str) -> list[ModelVersion]: ...


def thin_series(
    run_id: str,
    history: MetricHistory,
    max_points: int | None,
    x_axis: XAxis,
    x_min: int | None,
    x_max: int | None,
) -> MetricSeries:
    """A full history cut to ``[x_min, x_max]`` and thinned to ``max_points`` buckets."""
    from mloop.store._downsample import downsample_indices

    steps, stamps, values = history.steps, history.timestamps, history.values
    if x_axis is XAxis.TIME and len(stamps) > 1 and bool((np.diff(stamps) < 0).any()):
        order = np.argsort(stamps, kind="stable")
        steps, stamps, values = steps[order], stamps[order], values[order]
    x = steps if x_axis is XAxis.STEP else stamps
    if x_min is not None or x_max is not None:
        lo = 0 if x_min is None else int(np.searchsorted(x, x_min, side="left"))
        hi = len(x) if x_max is None else int(np.searchsorted(x, x_max, side="right"))
        steps, stamps, values, x = steps[lo:hi], stamps[lo:hi], values[lo:hi], x[lo:hi]
    total = len(x)
    if max_points is not None and total > 2 * max_points:
        keep = downsample_indices(x, values, max_points)
        steps, stamps, values = steps[keep], stamps[keep], values[keep]
    return MetricSeries(
        run_id, history.key, steps, stamps, values, total=total, sampled=len(values) < total
    )
