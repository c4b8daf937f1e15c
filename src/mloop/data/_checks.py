"""Declarative data checks: ``check(data, checks) -> CheckReport`` and ``infer_checks(data)``.

The YAML format is parsed in ``_checks_spec``. Column value checks (nulls, ranges, allowed
values, patterns, uniqueness, infinities) run through one pandera ``DataFrameSchema`` validated
with ``lazy=True``, so every failure is collected in one pass; mloop adds the type checks (on
Arrow types, or value by value for columns that mix types), the share of nulls, the row count,
custom Python checks, and the report: each failing column and check with counts and example
rows.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mloop.data._checks_frame import (
    Frame,
    is_float_type,
    is_integer_type,
    plain,
    prepare,
    python_kind,
    show,
    type_label,
    type_matches,
    value_fits,
)
from mloop.data._checks_infer import infer_checks
from mloop.data._checks_report import (
    ERROR,
    FAILED,
    MAX_EXAMPLES,
    PASSED,
    CheckReport,
    CheckResult,
    failed_text,
    one_of,
    passed_text,
    pct,
)
from mloop.data._checks_spec import ChecksSpec, ColumnSpec, CustomSpec, load_checks

if TYPE_CHECKING:
    import pandas as pd

    from mloop.store import Store

__all__ = ["CheckReport", "CheckResult", "check", "infer_checks"]

#: Notes about the data kept in a report.
MAX_NOTES = 20
#: Columns of a row shown as the value of a failing custom check (when it names none).
MAX_ROW_COLUMNS = 8


# -- the entry point ---------------------------------------------------------------------------


def check(
    data: Any,
    checks: Any,
    *,
    store: Store | None = None,
    record: bool = True,
    run_id: str | None = None,
) -> CheckReport:
    """Run declarative checks on a table and report every failure.

    When ``data`` is a registered dataset version (a ``datasets:/`` URI or a
    :class:`~mloop.data.Dataset`), the outcome is stored with that version in the metadata
    store (``store.list_dataset_checks(name)``; the UI shows it on the dataset's page): pass or
    fail per check, the counts, the failing checks with their examples, when, by whom and in
    which run. A store that refuses it (a reader's token) leaves a warning, not an error.

    Args:
        data: a pandas DataFrame, a pyarrow Table, the path of a Parquet or CSV file, a
            :class:`~mloop.data.Dataset` or a ``datasets:/`` URI.
        checks: the path of a YAML file, YAML text, or the same as a dict (see docs/data.md).
        store: where ``datasets:/`` URIs are looked up; default the one the settings name.
        record: store the outcome of checking a registered dataset version (default).
        run_id: the run to record it with; default the active run, if any.

    Returns:
        The report; ``report.passed`` says whether every check passed.

    Raises:
        InvalidChecks: malformed checks (names the column, key and YAML line).
        InvalidArgument, InvalidData: data that cannot be read.

    Example::

        report = mloop.data.check(df, '''
        columns:
          age: {type: int64, nullable: false, min: 0, max: 120}
          country: {allowed: [DE, FR, US]}
        table:
          row_count: {min: 1000}
        ''')
        print(report)          # FAILED: ... each failing column with counts and example rows
    """
    spec = load_checks(checks)
    version = None
    if record and _is_dataset_ref(data):
        from mloop.data._dataset import _store, resolve

        store = _store(store)
        version = resolve(data, store)
        data = version  # read the version resolved here: what is recorded is what was checked
    frame = prepare(data, store=store)
    report = _Runner(spec, frame).run()
    if version is not None and store is not None:
        _record(store, version.name, version.version, report, run_id)
    return report


def _is_dataset_ref(data: Any) -> bool:
    if isinstance(data, str):
        return data.startswith("datasets:/")
    return hasattr(data, "name") and hasattr(data, "version") and hasattr(data, "digest")


def _active_run_id() -> str | None:
    """The innermost active run of ``mloop.tracking``, looked up only when tracking is loaded
    (a run can only be active then; ``data`` does not import ``tracking``, its sibling)."""
    fluent = sys.modules.get("mloop.tracking._fluent")
    run = getattr(fluent, "active_run", lambda: None)() if fluent is not None else None
    run_id = getattr(getattr(run, "info", None), "run_id", None)
    return run_id if isinstance(run_id, str) else None


def _record(store: Store, name: str, version: int, report: CheckReport, run_id: str | None) -> None:
    from mloop._core import current_user
    from mloop.errors import MloopError

    try:
        store.log_dataset_check(
            name,
            version,
            report.to_dict(),
            run_id=run_id if run_id is not None else _active_run_id(),
            actor=current_user(),
        )
    except MloopError as exc:
        warnings.warn(
            f"the check result of datasets:/{name}/{version} was not recorded: {exc.message}",
            stacklevel=3,
        )


@dataclass(frozen=True)
class _Failures:
    """What pandera found for one check: failing rows, the first few, or the error it hit."""

    count: int
    first: tuple[tuple[int, Any], ...]
    distinct: int = 0
    error: str | None = None


class _Runner:
    def __init__(self, spec: ChecksSpec, frame: Frame) -> None:
        self.spec = spec
        self.frame = frame
        self.n = frame.num_rows
        self.results: list[CheckResult] = []
        self.notes: list[str] = []
        # checks that cannot apply to a column's type, found before running (errors)
        self._unfit: dict[str, list[CheckResult]] = {}

    # -- helpers -------------------------------------------------------------------------------

    def examples(self, rows: Iterable[int], values: Iterable[Any]) -> tuple[dict[str, Any], ...]:
        out = []
        for row, value in zip(rows, values, strict=False):
            example: dict[str, Any] = {"row": int(row), "value": plain(value)}
            label = self.frame.label(int(row))
            if label is not None:
                example["index"] = label
            out.append(example)
            if len(out) >= MAX_EXAMPLES:
                break
        return tuple(out)

    def _as_declared(self, name: str, value: Any) -> Any:
        """A value as its column's declared type shows it: pandas keeps an integer column
        with missing values as floats, and 200000 should not read 200000.0."""
        import numpy as np

        if isinstance(value, float | np.floating) and float(value).is_integer():
            spec = next((c for c in self.spec.columns if c.name == name), None)
            if spec is not None and spec.type is not None and is_integer_type(spec.type):
                return int(value)
        return value

    def add(self, **kwargs: Any) -> None:
        self.results.append(CheckResult(**kwargs))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def of_rows(self, count: int) -> str:
        return f"{count} of {self.n} rows"

    # -- run -----------------------------------------------------------------------------------

    def run(self) -> CheckReport:
        df = self.frame.df
        present: list[ColumnSpec] = []
        for col in self.spec.columns:
            if col.name in df.columns:
                present.append(col)
            elif col.required:
                shown = ", ".join(map(repr, list(df.columns)[:20]))
                more = " ..." if len(df.columns) > 20 else ""
                self.add(
                    check="present",
                    column=col.name,
                    status=FAILED,
                    expected="the column exists",
                    message=f"column {col.name!r} is named in the checks but missing from the "
                    f"data (its columns: {shown or 'none'}{more})",
                )
        value_results = self.value_checks(present)
        for col in present:
            self.type_check(col)
            self.null_share(col)
            self.results.extend(value_results.get(col.name, []))
        self.table_checks()
        for custom in self.spec.custom:
            self.custom(custom)
        self.data_notes()
        notes = self.notes
        if len(notes) > MAX_NOTES:
            notes = [*notes[:MAX_NOTES], f"... and {len(notes) - MAX_NOTES} more notes"]
        return CheckReport(
            data=self.frame.description,
            checks=self.spec.source,
            num_rows=self.n,
            num_columns=self.frame.num_columns,
            results=tuple(self.results),
            notes=tuple(notes),
        )

    # -- types ---------------------------------------------------------------------------------

    def type_check(self, col: ColumnSpec) -> None:
        if col.type is None:
            return
        expected = col.type
        actual = self.frame.types.get(col.name)
        series = self.frame.df[col.name]
        base: dict[str, Any] = {
            "check": "type",
            "column": col.name,
            "expected": expected,
            "total_rows": self.n,
        }
        if actual is not None and type_matches(expected, actual):
            self.add(
                **base,
                status=PASSED,
                failed_rows=0,
                message=f"column {col.name!r} is {type_label(actual)}",
            )
            return
        import pyarrow as pa

        if actual is None:
            # mixed types: value by value
            values = series.dropna()
            bad = values[~values.map(lambda v: value_fits(expected, v)).astype(bool)]
        elif is_integer_type(expected) and pa.types.is_floating(actual):
            # pandas keeps integers with missing values as floats: whole numbers pass
            values = series.dropna()
            bad = values[~values.map(lambda v: value_fits(expected, v)).astype(bool)]
            if bad.empty:
                self.note(
                    f"column {col.name!r} is {type_label(actual)} holding whole numbers only "
                    f"(as pandas stores integers with missing values); it passes type {expected}"
                )
        elif is_float_type(expected) and pa.types.is_integer(actual):
            self.add(
                **base,
                status=PASSED,
                failed_rows=0,
                message=f"column {col.name!r} is {type_label(actual)}, which widens to {expected}",
            )
            return
        else:  # the column's type is another one: every value fails
            bad = series.dropna()
            self.add(
                **base,
                status=FAILED,
                failed_rows=len(bad),
                examples=self.examples(bad.index, bad.tolist()),
                message=f"column {col.name!r} expected {expected}, got {type_label(actual)}",
            )
            return
        if bad.empty:
            self.add(
                **base,
                status=PASSED,
                failed_rows=0,
                message=f"every value of column {col.name!r} is {expected}",
            )
            return
        rows = bad.index
        got = type_label(actual)
        if actual is None:
            kinds = bad.map(python_kind).value_counts()
            got = " and ".join(str(k) for k in kinds.index[:3])
        self.add(
            **base,
            status=FAILED,
            failed_rows=len(bad),
            examples=self.examples(rows, bad.tolist()),
            message=f"column {col.name!r} expected {expected}, got {got} in "
            f"{self.of_rows(len(bad))} (first at row {rows[0]})",
        )

    # -- null share ----------------------------------------------------------------------------

    def null_share(self, col: ColumnSpec) -> None:
        if col.max_null_share is None:
            return
        nulls = self.frame.df[col.name].isna()
        count = int(nulls.sum())
        share = count / self.n if self.n else 0.0
        limit = col.max_null_share
        base: dict[str, Any] = {
            "check": "max_null_share",
            "column": col.name,
            "expected": f"<= {pct(limit)} nulls",
            "total_rows": self.n,
            "failed_rows": count,
        }
        if share <= limit:
            self.add(
                **base,
                status=PASSED,
                message=f"column {col.name!r} is {pct(share)} null ({self.of_rows(count)})",
            )
            return
        rows = nulls[nulls].index
        self.add(
            **base,
            status=FAILED,
            examples=self.examples(rows, [None] * min(len(rows), MAX_EXAMPLES)),
            message=f"column {col.name!r} is {pct(share)} null ({self.of_rows(count)}), above "
            f"the maximum share {pct(limit)}",
        )

    # -- value checks through pandera ----------------------------------------------------------

    def value_checks(self, columns: list[ColumnSpec]) -> dict[str, list[CheckResult]]:
        """nullable, min, max, finite, allowed, regex and unique of every column, in one lazy
        pandera validation."""
        import pandera.pandas as pa

        out: dict[str, list[CheckResult]] = {}
        schema_columns: dict[str, Any] = {}
        planned: dict[str, list[tuple[str, str]]] = {}  # column -> [(kind, expected)]
        by_number: dict[str, dict[int, str]] = {}  # column -> pandera check number -> kind
        for col in columns:
            checks: list[Any] = []
            numbers: dict[int, str] = {}
            kinds: list[tuple[str, str]] = []
            if col.nullable is False:
                kinds.append(("nullable", "no nulls"))
            for kind, make, expected in self.planned_checks(col, pa.Check):
                kinds.append((kind, expected))
                if make is not None:  # None: trivially true for this column's type
                    numbers[len(checks)] = kind
                    checks.append(make)
            if col.unique:
                kinds.append(("unique", "no duplicates"))
            if not kinds:
                continue
            planned[col.name] = kinds
            by_number[col.name] = numbers
            schema_columns[col.name] = pa.Column(
                checks=checks,
                nullable=col.nullable is not False,
                unique=col.unique,
                required=False,
                name=col.name,
            )
        # checks found unfit before running (e.g. a regex on numbers) are reported as errors
        for name, errors in self._unfit.items():
            out.setdefault(name, []).extend(errors)
        if not schema_columns:
            return self._order(out, planned, {})
        failures: dict[tuple[str, str], _Failures] = {}
        try:
            pa.DataFrameSchema(schema_columns).validate(self.frame.df, lazy=True)
        except pa.errors.SchemaErrors as exc:
            failures = self._collect(exc.failure_cases, by_number)
        except Exception as exc:  # pandera itself failed: every planned check is an error
            for name, kinds in planned.items():
                for kind, expected in kinds:
                    out.setdefault(name, []).append(
                        CheckResult(
                            check=kind,
                            column=name,
                            status=ERROR,
                            expected=expected,
                            message=f"column {name!r}: {kind} could not run: "
                            f"{type(exc).__name__}: {exc}",
                        )
                    )
            return out
        return self._order(out, planned, failures)

    def planned_checks(self, col: ColumnSpec, Check: Any) -> list[tuple[str, Any, str]]:
        """``(kind, pandera check or None, expected)`` for the value checks of a column; a check
        that cannot apply to the column's type is recorded in ``_unfit`` instead."""
        import numpy as np
        import pyarrow as pa

        actual = self.frame.types.get(col.name)
        label = type_label(actual)
        series = self.frame.df[col.name]
        out: list[tuple[str, Any, str]] = []

        def unfit(kind: str, expected: str, why: str) -> None:
            self._unfit.setdefault(col.name, []).append(
                CheckResult(
                    check=kind,
                    column=col.name,
                    status=ERROR,
                    expected=expected,
                    message=f"column {col.name!r}: {kind} {why}",
                )
            )

        orderable = (
            actual is None
            or pa.types.is_null(actual)
            or (
                pa.types.is_integer(actual)
                or pa.types.is_floating(actual)
                or pa.types.is_decimal(actual)
                or pa.types.is_timestamp(actual)
                or pa.types.is_date(actual)
                or pa.types.is_time(actual)
                or pa.types.is_duration(actual)
            )
        )
        for kind, bound, op in (("min", col.min, ">="), ("max", col.max, "<=")):
            if bound is None:
                continue
            expected = f"{op} {bound}"
            if not orderable:
                unfit(kind, expected, f"needs numbers or times; the column holds {label}")
                continue
            value = _bound_for(series, bound)
            make = Check.ge(value) if kind == "min" else Check.le(value)
            out.append((kind, make, expected))
        if col.finite:
            if actual is not None and not pa.types.is_floating(actual):
                out.append(("finite", None, "no infinities"))  # integers cannot be infinite
            else:
                out.append(
                    (
                        "finite",
                        Check(
                            lambda s: ~np.isinf(s.astype(float)),
                            name="finite",
                            error="no infinities",
                        ),
                        "no infinities",
                    )
                )
        if col.allowed is not None:
            out.append(("allowed", Check.isin(list(col.allowed)), one_of(col.allowed)))
        if col.regex is not None:
            expected = f"matches {col.regex!r}"
            texty = actual is None or pa.types.is_null(actual) or type_matches("string", actual)
            if not texty:
                unfit("regex", expected, f"needs text; the column holds {label}")
            else:
                out.append(("regex", Check.str_contains(col.regex), expected))
        return out

    def _collect(
        self, cases: pd.DataFrame, by_number: dict[str, dict[int, str]]
    ) -> dict[tuple[str, str], _Failures]:
        """Pandera's failure cases summed up per (column, kind), vectorized: a check that fails
        on a million rows must not cost a Python loop over them."""
        import pandas as pd

        out: dict[tuple[str, str], _Failures] = {}
        if cases.empty:
            return out
        groups = cases.groupby(["column", "check", "check_number"], dropna=False, sort=False)
        for (column, check_name, number), positions in groups.indices.items():
            if check_name == "not_nullable":
                kind = "nullable"
            elif check_name == "field_uniqueness":
                kind = "unique"
            elif number is not None and not pd.isna(number):
                kind = by_number.get(str(column), {}).get(int(number), str(check_name))
            else:
                kind = str(check_name)
            sub = cases.iloc[positions]
            rows = pd.to_numeric(sub["index"], errors="coerce")
            valid = rows.notna().to_numpy()
            if not valid.any():  # pandera caught an exception while checking
                out[(str(column), kind)] = _Failures(0, (), error=str(sub["failure_case"].iloc[0]))
                continue
            rows = rows[valid].astype("int64")
            values = sub["failure_case"][valid]
            order = rows.to_numpy().argsort(kind="stable")
            head = order[:MAX_EXAMPLES]
            distinct = 0
            if kind == "unique":
                try:
                    distinct = int(values.nunique(dropna=False))
                except TypeError:
                    distinct = int(values.astype(str).nunique())
            out[(str(column), kind)] = _Failures(
                count=int(rows.nunique()),
                first=tuple(
                    zip(
                        rows.to_numpy()[head].tolist(),
                        values.to_numpy()[head].tolist(),
                        strict=True,
                    )
                ),
                distinct=distinct,
            )
        return out

    def _order(
        self,
        out: dict[str, list[CheckResult]],
        planned: dict[str, list[tuple[str, str]]],
        failures: dict[tuple[str, str], _Failures],
    ) -> dict[str, list[CheckResult]]:
        for name, kinds in planned.items():
            for kind, expected in kinds:
                found = failures.get((name, kind))
                out.setdefault(name, []).append(self._value_result(name, kind, expected, found))
        order = {
            k: i
            for i, k in enumerate(
                ("nullable", "min", "max", "finite", "allowed", "regex", "unique")
            )
        }
        for name in out:
            out[name].sort(key=lambda r: order.get(r.check, 99))
        return out

    def _value_result(
        self, name: str, kind: str, expected: str, found: _Failures | None
    ) -> CheckResult:
        base: dict[str, Any] = {
            "check": kind,
            "column": name,
            "expected": expected,
            "total_rows": self.n,
        }
        if found is None:
            return CheckResult(
                **base,
                status=PASSED,
                failed_rows=0,
                message=f"column {name!r}: {passed_text(kind, expected)}",
            )
        if found.error is not None:
            mixed = self.frame.types.get(name) is None
            why = " (the column mixes types)" if mixed else ""
            return CheckResult(
                **base,
                status=ERROR,
                message=f"column {name!r}: {kind} could not run{why}: {found.error}",
            )
        count = found.count
        first = [(r, self._as_declared(name, v)) for r, v in found.first]
        first_row, first_value = first[0]
        examples = self.examples([r for r, _ in first], [v for _, v in first])
        message = failed_text(kind, name, expected, count, self.n, first_row, first_value)
        if kind == "unique":
            distinct = found.distinct
            message = (
                f"column {name!r}: {count} of {self.n} rows share {distinct} duplicated "
                f"value{'s' if distinct != 1 else ''} (first at row {first_row}: "
                f"{show(first_value)})"
            )
        return CheckResult(
            **base, status=FAILED, failed_rows=count, examples=examples, message=message
        )

    # -- table ---------------------------------------------------------------------------------

    def table_checks(self) -> None:
        lo, hi = self.spec.row_count_min, self.spec.row_count_max
        if lo is not None or hi is not None:
            if lo is not None and hi is not None:
                expected = f"between {lo} and {hi} rows"
            elif lo is not None:
                expected = f">= {lo} rows"
            else:
                expected = f"<= {hi} rows"
            if lo is not None and self.n < lo:
                status, message = FAILED, f"the table has {self.n} rows; expected at least {lo}"
            elif hi is not None and self.n > hi:
                status, message = FAILED, f"the table has {self.n} rows; expected at most {hi}"
            else:
                status, message = PASSED, f"the table has {self.n} rows"
            self.add(
                check="row_count",
                column=None,
                status=status,
                expected=expected,
                message=message,
                total_rows=self.n,
            )
        if self.spec.strict:
            named = {c.name for c in self.spec.columns}
            extra = [c for c in self.frame.df.columns if c not in named]
            expected = "only the columns the checks name"
            if extra:
                self.add(
                    check="strict",
                    column=None,
                    status=FAILED,
                    expected=expected,
                    message="the data has columns the checks do not name: "
                    + ", ".join(map(repr, extra)),
                )
            else:
                self.add(
                    check="strict",
                    column=None,
                    status=PASSED,
                    expected=expected,
                    message="every column is named in the checks",
                )

    # -- custom --------------------------------------------------------------------------------

    def custom(self, spec: CustomSpec) -> None:
        import numpy as np
        import pandas as pd

        base: dict[str, Any] = {
            "check": "custom",
            "column": None,
            "name": spec.name,
            "expected": spec.target,
            "total_rows": self.n,
        }
        label = f"custom check {spec.name!r} ({spec.target})"
        df = self.frame.df
        if spec.columns:
            missing = [c for c in spec.columns if c not in df.columns]
            if missing:
                self.add(
                    **base,
                    status=ERROR,
                    message=f"{label} uses columns missing from the "
                    f"data: {', '.join(map(repr, missing))}",
                )
                return
        try:
            result = spec.fn(df)
        except Exception as exc:  # user code: report, never crash the report
            self.add(**base, status=ERROR, message=f"{label} raised {type(exc).__name__}: {exc}")
            return
        if isinstance(result, bool | np.bool_):
            ok = bool(result)
            self.add(
                **base,
                status=PASSED if ok else FAILED,
                failed_rows=None,
                message=f"{label} returned {ok}",
            )
            return
        if isinstance(result, pd.DataFrame):
            result = result.all(axis=1)
        if isinstance(result, np.ndarray | list):
            result = pd.Series(result)
        if not isinstance(result, pd.Series) or len(result) != self.n:
            got = (
                f"a Series of {len(result)} values for {self.n} rows"
                if isinstance(result, pd.Series)
                else type(result).__name__
            )
            self.add(
                **base,
                status=ERROR,
                message=f"{label} returned {got}; a custom check "
                "returns a bool, or a boolean Series with one value per row",
            )
            return
        try:
            ok_rows = result.fillna(False).astype(bool).to_numpy()
        except (TypeError, ValueError):
            self.add(
                **base,
                status=ERROR,
                message=f"{label} returned values that are not true or false ({result.dtype})",
            )
            return
        bad = np.flatnonzero(~ok_rows)
        if bad.size == 0:
            self.add(**base, status=PASSED, failed_rows=0, message=f"{label}: every row passes")
            return
        shown_columns = list(spec.columns) if spec.columns else list(df.columns[:MAX_ROW_COLUMNS])
        head = bad[:MAX_EXAMPLES]
        values = [{c: df[c].iloc[int(i)] for c in shown_columns} for i in head]
        self.add(
            **base,
            status=FAILED,
            failed_rows=int(bad.size),
            examples=self.examples(head.tolist(), values),
            message=f"{label}: {self.of_rows(int(bad.size))} fail (first at row {int(bad[0])})",
        )

    # -- notes about the data ------------------------------------------------------------------

    def data_notes(self) -> None:
        import numpy as np
        import pyarrow as pa

        df = self.frame.df
        if self.n == 0:
            self.note("the table has no rows, so column checks had no values to check")
            return
        finite_checked = {c.name for c in self.spec.columns if c.finite}
        for name in df.columns:
            series = df[name]
            actual = self.frame.types.get(name)
            nulls = int(series.isna().sum())
            if nulls == self.n:
                self.note(f"column {name!r} is entirely null ({self.n} rows)")
                continue
            if actual is None:
                kinds = series.dropna().map(python_kind).value_counts()
                mix = ", ".join(f"{k} ({n} rows)" for k, n in kinds.items())
                self.note(f"column {name!r} mixes types: {mix}")
                continue
            if pa.types.is_floating(actual) and name not in finite_checked:
                values = series.to_numpy(dtype=float, na_value=np.nan)
                inf = np.flatnonzero(np.isinf(values))
                if inf.size:
                    self.note(
                        f"column {name!r} holds {inf.size} infinite value"
                        f"{'s' if inf.size != 1 else ''} (first at row {int(inf[0])}); add "
                        "finite: true to refuse them"
                    )


def _bound_for(series: pd.Series, bound: Any) -> Any:
    """A min or max in the column's terms: dates and times as pandas Timestamps, in the
    column's time zone when it has one."""
    import datetime as dt

    import pandas as pd

    if isinstance(bound, dt.date) and pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamp = pd.Timestamp(bound)
        tz = getattr(series.dtype, "tz", None)
        if tz is not None and stamp.tzinfo is None:
            stamp = stamp.tz_localize(tz)
        return stamp
    return bound
