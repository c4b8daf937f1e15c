"""``mloop drift REFERENCE CURRENT``: per-column drift between two tables, for people and CI.

Exit status: 0 when the dataset does not drift, 1 when it does, 2 on an error (a file that
cannot be read, an unknown column or method, nothing comparable). pandas, pyarrow and scipy
are imported when the command runs, so ``mloop --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop.cli._output import emit_json, print_error, print_notice, stdout
from mloop.errors import InvalidArgument, MloopError

if TYPE_CHECKING:
    from mloop.data._drift import DriftResult

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


# glibc's mallopt parameters: allocations below the first come from the heap, and the heap
# is handed back to the system only when this much is free at its top.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 64 << 20
_TRIM_THRESHOLD = 512 << 20


def use_lean_memory_pool() -> str:
    """Make this process reuse the memory it frees instead of asking the kernel for new pages;
    returns the name of Arrow's pool.

    A drift test allocates and frees arrays of a column's size (2.4 MB for 300,000 numbers)
    dozens of times. glibc maps each one afresh and unmaps it when freed, and pyarrow's default
    pool on Linux (mimalloc) takes fresh huge pages for each large buffer: the kernel then
    zeroes every page again, which was half the command's CPU (0.5 to 0.9 s of system time for
    two 300,000-row files). So: Arrow on jemalloc (else malloc) unless
    ``ARROW_DEFAULT_MEMORY_POOL`` names a pool, and glibc's heap used for arrays up to 64 MB and
    kept (up to 512 MB free) rather than trimmed. Only the command does this: a library call
    leaves the caller's allocators alone.
    """
    import ctypes
    import ctypes.util
    import os

    import pyarrow as pa

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): its own policy stays
        pass
    else:
        for param, value in (
            (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD),
        ):
            mallopt(ctypes.c_int(param), ctypes.c_int(value))
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return str(pa.default_memory_pool().backend_name)
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
    return str(pool.backend_name)


def read_source(path: Path, *, chunk_rows: int | None = None, by_column: bool = False) -> Any:
    """A table (CSV, TSV, Parquet) or a saved profile (``*.profile``) from ``path``.

    Tables are read straight into Arrow. With ``chunk_rows``, or for a file over
    ``STREAM_BYTES``, the file is profiled chunk by chunk instead and its profile returned, so
    memory stays flat whatever the file's size. With ``by_column``, a Parquet file is opened
    for reading a column at a time (:class:`~mloop.data._files.ParquetColumns`) instead of
    read whole.
    """
    from mloop.data._files import (
        DEFAULT_CHUNK_ROWS,
        STREAM_BYTES,
        ParquetColumns,
        file_kind,
        profile_file,
        read_table,
    )
    from mloop.errors import InvalidData

    if path.suffix.lower() == ".profile" and path.is_file():
        from mloop.data._profile import Profile

        return Profile.from_bytes(path.read_bytes())
    if path.suffix.lower() == ".profile":
        raise InvalidData(f"{path}: no such file")
    if chunk_rows is None and path.is_file() and path.stat().st_size > STREAM_BYTES:
        print_notice(
            f"{path.name}: {path.stat().st_size / 2**30:.1f} GiB, read in chunks of "
            f"{DEFAULT_CHUNK_ROWS:,} rows and compared by profile (--chunk-rows to choose)"
        )
        chunk_rows = DEFAULT_CHUNK_ROWS
    if chunk_rows is not None:
        return profile_file(path, chunk_rows=chunk_rows)
    try:
        if by_column and file_kind(path) == "parquet":
            return ParquetColumns(path)
        return read_table(path)
    except InvalidData as exc:
        if "unknown file type" in exc.message:
            raise InvalidData(exc.message.replace("or .parquet", ".parquet or .profile")) from None
        raise


def parse_methods(values: list[str] | None) -> str | dict[str, str] | None:
    """``--method psi`` for every column, ``--method age=psi`` for one; both may be given."""
    if not values:
        return None
    default: str | None = None
    per_column: dict[str, str] = {}
    for v in values:
        if "=" in v:
            col, _, m = v.partition("=")
            if not col or not m:
                raise InvalidArgument(f"--method {v!r}: expected METHOD or COLUMN=METHOD")
            per_column[col] = m
        else:
            default = v
    if not per_column:
        return default
    if default is not None:
        return {"*": default, **per_column}
    return per_column


def drift(
    reference: Annotated[
        Path,
        typer.Argument(
            metavar="REFERENCE",
            help="Reference data: a CSV, TSV or Parquet file, or a saved profile (*.profile).",
            show_default=False,
        ),
    ],
    current: Annotated[
        Path,
        typer.Argument(
            metavar="CURRENT", help="Current data: a CSV, TSV or Parquet file.", show_default=False
        ),
    ],
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            "-m",
            metavar="M",
            help="ks, wasserstein, psi, jensenshannon, chisquare, hellinger or ztest for every "
            "column, or COLUMN=M for one (repeatable) \\[default: Evidently's per column]",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            "-t",
            metavar="T",
            help="The methods' threshold \\[default: 0.05 for p-values, 0.1 for distances]",
            show_default=False,
        ),
    ] = None,
    share: Annotated[
        float,
        typer.Option(
            "--share", metavar="S", help="Dataset drift when this share of columns drift."
        ),
    ] = 0.5,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            "-c",
            metavar="C",
            help="A column to test (repeatable) \\[default: all]",
            show_default=False,
        ),
    ] = None,
    multivariate: Annotated[
        bool,
        typer.Option(
            "--multivariate", help="Also test the numeric columns together (PCA reconstruction)."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON instead of a table.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", metavar="PATH", help="Also write a self-contained HTML report here."
        ),
    ] = None,
    save_profile: Annotated[
        Path | None,
        typer.Option(
            "--save-reference-profile",
            metavar="PATH",
            help="Also save the reference's profile here, to pass as REFERENCE later.",
        ),
    ] = None,
    chunk_rows: Annotated[
        int | None,
        typer.Option(
            "--chunk-rows",
            metavar="N",
            min=1,
            help="Read each file in chunks of N rows and compare their merged profiles: memory "
            "stays flat for files larger than memory (automatic over 1 GiB).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Test each column of CURRENT for drift from REFERENCE.

    Exit status 0: no dataset drift; 1: dataset drift; 2: error.
    """
    try:
        result = _run(
            reference,
            current,
            method=parse_methods(method),
            threshold=threshold,
            share=share,
            columns=column,
            multivariate=multivariate,
            save_profile=save_profile,
            chunk_rows=chunk_rows,
        )
        if html is not None:
            result.to_html(html, title=f"Drift: {current.name} vs {reference.name}")
    except MloopError as exc:
        print_error(exc.message)
        raise typer.Exit(EXIT_ERROR) from None
    except OSError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    if as_json:
        emit_json(result.to_dict())
    else:
        _print(result)
        if html is not None:
            print_notice(f"report: {html}")
    raise typer.Exit(EXIT_DRIFT if result.dataset_drift else EXIT_OK)


def _run(
    reference: Path,
    current: Path,
    *,
    method: str | dict[str, str] | None,
    threshold: float | None,
    share: float,
    columns: list[str] | None,
    multivariate: bool,
    save_profile: Path | None,
    chunk_rows: int | None = None,
) -> DriftResult:
    from mloop.data._drift import drift as run_drift
    from mloop.data._profile import Profile, profile

    use_lean_memory_pool()
    # Column by column unless a test needs the whole table (the multivariate one, a profile).
    by_column = not multivariate and save_profile is None
    ref = read_source(reference, chunk_rows=chunk_rows, by_column=by_column)
    cur = read_source(current, chunk_rows=chunk_rows, by_column=by_column)
    if save_profile is not None:
        prof = ref if isinstance(ref, Profile) else profile(ref)
        save_profile.write_bytes(prof.to_bytes())
        print_notice(f"reference profile: {save_profile}")
    if isinstance(method, dict) and "*" in method:
        default = method.pop("*")
        names = list(columns or [])
        if not names:
            for side in (ref, cur):
                names += [str(c) for c in side.column_names if str(c) not in names]
        method = {**dict.fromkeys(names, default), **method}
    return run_drift(
        ref,
        cur,
        method=method,
        threshold=threshold,
        columns=columns,
        share=share,
        multivariate=multivariate,
    )


def _fmt(v: float | None) -> str:
    from mloop.cli._output import fmt_number

    if v is None:
        return ""
    if v == float("inf"):
        return "inf"
    return fmt_number(v)


def _print(result: DriftResult) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title_justify="left", show_edge=False, pad_edge=False)
    for name, justify in (
        ("column", "left"),
        ("kind", "left"),
        ("method", "left"),
        ("statistic", "right"),
        ("p-value", "right"),
        ("threshold", "right"),
        ("verdict", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in result.columns:
        if not c.tested:
            table.add_row(c.name, c.kind, "-", "", "", "", "skipped", style="dim")
            continue
        table.add_row(
            c.name,
            c.kind,
            c.method or "",
            _fmt(c.statistic),
            _fmt(c.p_value),
            _fmt(c.threshold),
            "DRIFT" if c.drifted else "ok",
            style="red" if c.drifted else None,
        )
    out = stdout()
    out.print(table)
    for c in result.skipped:
        out.print(Text(f"skipped {c.name}: {c.reason}", style="dim"))
    tested = len(result.tested)
    verdict = "DATASET DRIFT" if result.dataset_drift else "no dataset drift"
    out.print(
        Text(
            f"{verdict}: {result.n_drifted} of {tested} tested columns drifted "
            f"({100 * result.drifted_share:.0f}%, threshold {100 * result.share:.0f}%)"
            + (f"; {len(result.skipped)} skipped" if result.skipped else ""),
            style="bold red" if result.dataset_drift else "bold green",
        )
    )
    mv = result.multivariate
    if mv is not None:
        if mv.status == "tested":
            out.print(
                Text(
                    f"multivariate (PCA, {mv.n_components} of {len(mv.columns)} components): "
                    f"error ratio {_fmt(mv.statistic)} vs threshold {_fmt(mv.threshold)}: "
                    + ("DRIFT" if mv.drifted else "ok"),
                    style="red" if mv.drifted else "",
                )
            )
        else:
            out.print(Text(f"multivariate: skipped: {mv.reason}", style="dim"))
