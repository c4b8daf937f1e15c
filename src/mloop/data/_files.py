"""Tables from files, straight into Arrow: ``read_table(path)`` and ``profile_file(path)``.

CSV, TSV and Parquet files are read by pyarrow into a ``pyarrow.Table`` (multi-threaded, no
pandas round trip): profiles and drift compute on its columns directly. A file too large for
memory is read in chunks instead (Parquet row groups or CSV blocks, ``iter_batches``): each
chunk is profiled and the profiles merged (:func:`~mloop.data.merge_profiles`), so memory holds
one chunk and the sketches, whatever the file's size.

pyarrow infers CSV types itself: ``2024-01-31`` becomes a timestamp and ``true``/``false`` a
boolean, where pandas would read both as strings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mloop.errors import InvalidData

if TYPE_CHECKING:
    from mloop.data._profile import Profile

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "STREAM_BYTES",
    "TABLE_SUFFIXES",
    "ParquetColumns",
    "file_kind",
    "iter_batches",
    "profile_file",
    "read_table",
]

FileKind = Literal["csv", "tsv", "parquet"]
TABLE_SUFFIXES: dict[str, FileKind] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Files above this size are profiled chunk by chunk unless told otherwise: a 1 GiB Parquet
# file of numbers can take several GiB once decoded.
STREAM_BYTES = 1 << 30
DEFAULT_CHUNK_ROWS = 1_000_000
_CSV_BLOCK_BYTES = 64 << 20


def file_kind(path: Path) -> FileKind:
    """The table format of ``path`` from its suffix.

    Raises:
        InvalidData: the file is missing, a folder, or of an unknown type.
    """
    if not path.exists():
        raise InvalidData(f"{path}: no such file")
    if path.is_dir():
        raise InvalidData(f"{path}: is a folder; give a CSV, TSV or Parquet file")
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InvalidData(
            f"{path}: unknown file type {path.suffix or '(none)'}; use .csv, .tsv or .parquet"
        )
    return kind


def _fail(path: Path, kind: str, exc: BaseException) -> InvalidData:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InvalidData(f"{path}: cannot read it as {kind}: {first}")


def _csv_parse(kind: FileKind) -> Any:
    import pyarrow.csv as pacsv

    return pacsv.ParseOptions(delimiter="\t" if kind == "tsv" else ",")


def _parquet_file(path: Path, **options: Any) -> Any:
    """A ``ParquetFile`` whose string columns decode as dictionaries: a categorical column of
    300,000 rows is then counted by index, with no string materialized (10x less CPU)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    strings = [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    return pq.ParquetFile(path, read_dictionary=strings, **options)


def _csv_convert() -> Any:
    import pyarrow.csv as pacsv

    # Strings as dictionaries while they repeat (as for _parquet_file); ID-like columns stay
    # plain strings past pyarrow's cardinality limit.
    return pacsv.ConvertOptions(auto_dict_encode=True)


def read_table(path: str | Path) -> Any:
    """The whole of a CSV, TSV or Parquet file as a ``pyarrow.Table``.

    Raises:
        InvalidData: the file is missing, of an unknown type, or cannot be parsed (the message
            gives the parser's first line).

    Example::

        >>> t = read_table("train.parquet")
        >>> t.num_rows, t.column_names
    """
    path = Path(path)
    kind = file_kind(path)
    try:
        if kind == "parquet":
            # ParquetFile, not read_table: pyarrow.dataset imports pandas (a second of CPU).
            return _parquet_file(path).read()
        import pyarrow.csv as pacsv

        return pacsv.read_csv(path, parse_options=_csv_parse(kind), convert_options=_csv_convert())
    except Exception as exc:  # pyarrow's errors (ArrowInvalid, OSError, ...) share no base
        raise _fail(path, kind, exc) from exc


class ParquetColumns:
    """A Parquet file read one column at a time, where a ``pyarrow.Table`` is taken
    (:func:`~mloop.data.drift`, :func:`~mloop.data.profile`): ``column_names``, ``num_rows``
    and ``column(name)``, which reads that column (strings as dictionaries, as
    :func:`read_table` reads them).

    Memory then holds the columns being compared rather than both files: the freed buffers of
    one column are reused for the next, where reading the whole files first made the kernel
    hand out (and zero) fresh pages for every one of them. The last column read in each thread
    is kept, so that checks that read a column twice read the file once.

    Raises:
        InvalidData: as :func:`read_table`, when the file is opened or a column read.
    """

    #: Read where a ``pyarrow.Table`` is (``mloop.data._columns`` checks this, not the class).
    lazy_columns = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if file_kind(self.path) != "parquet":
            raise InvalidData(f"{self.path}: ParquetColumns reads Parquet files only")
        try:
            self._file = _parquet_file(self.path)
        except Exception as exc:
            raise _fail(self.path, "parquet", exc) from exc
        self.schema = self._file.schema_arrow
        self.column_names: list[str] = list(self.schema.names)
        self.num_rows = int(self._file.metadata.num_rows)
        self._lock = threading.Lock()  # one reader of the file at a time
        self._last = threading.local()

    def __len__(self) -> int:
        return self.num_rows

    def column(self, name: str) -> Any:
        """The column ``name`` as a ``pyarrow.ChunkedArray``."""
        last = getattr(self._last, "column", None)
        if last is not None and last[0] == name:
            return last[1]
        self._last.column = None  # the previous column's memory goes back first
        if name not in self.column_names:
            raise InvalidData(f"{self.path}: no column {name!r}")
        try:
            with self._lock:
                col = self._file.read(columns=[name], use_threads=False).column(0)
        except Exception as exc:
            raise _fail(self.path, "parquet", exc) from exc
        self._last.column = (name, col)
        return col

    def read(self) -> Any:
        """The whole file as a ``pyarrow.Table``."""
        return read_table(self.path)


def iter_batches(path: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Any]:
    """The file as a sequence of ``pyarrow.Table`` chunks of at most ``chunk_rows`` rows
    (Parquet: read a row group at a time, so memory holds the largest row group) or one 64 MiB
    block (CSV), read one at a time.

    Raises:
        InvalidData: as :func:`read_table`; also for a CSV block whose types differ from the
            first block's (pyarrow infers the types from the first block).
    """
    import pyarrow as pa

    if chunk_rows < 1:
        raise InvalidData(f"chunk_rows must be at least 1, got {chunk_rows}")
    path = Path(path)
    kind = file_kind(path)
    try:
        if kind == "parquet":
            # One row group at a time, handing its memory back before the next: iter_batches
            # reads ahead, and the pool keeps freed pages, so its peak grows with the file.
            pf = _parquet_file(path, pre_buffer=False)
            pool = pa.default_memory_pool()
            for i in range(pf.num_row_groups):
                group = pf.read_row_group(i)
                for start in range(0, max(group.num_rows, 1), chunk_rows):
                    yield group.slice(start, chunk_rows)
                del group
                pool.release_unused()
            return
        import pyarrow.csv as pacsv

        batches = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
            parse_options=_csv_parse(kind),
        )
        for batch in batches:
            yield pa.Table.from_batches([batch])
    except InvalidData:
        raise
    except Exception as exc:
        raise _fail(path, kind, exc) from exc


def profile_file(path: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Profile:
    """Profile a CSV, TSV or Parquet file chunk by chunk, merging the chunks' profiles.

    Memory holds one chunk (see :func:`iter_batches`) and the profiles' sketches, so a file
    larger than memory can be profiled. Counts, nulls, means, variances, min and max are exact;
    quantiles and frequencies are within their sketches' documented error
    (:func:`~mloop.data.merge_profiles`).

    Raises:
        InvalidData: as :func:`iter_batches`, or the file has no rows and no columns.

    Example::

        >>> p = profile_file("events-2024.parquet", chunk_rows=500_000)
        >>> p.rows, p["amount"].quantile(0.99)
    """
    from mloop.data._profile import merge_profiles, profile

    merged: Profile | None = None
    chunks = iter_batches(path, chunk_rows=chunk_rows)
    while (chunk := next(chunks, None)) is not None:
        part = profile(chunk)
        del chunk  # before the next read, so that its memory can go back first
        # Merge as we go: memory holds two profiles, not one per chunk.
        merged = part if merged is None else merge_profiles(merged, part)
    if merged is None:
        import pyarrow.parquet as pq

        if file_kind(Path(path)) == "parquet":
            schema = pq.read_schema(path)
            return profile(schema.empty_table())
        raise InvalidData(f"{path}: the file holds no rows")
    return merged
