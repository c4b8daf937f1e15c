"""What batch scoring reads: Parquet and CSV files (local or any fsspec URL) and registered
datasets (``datasets:/name/3``), as a stream of Arrow record batches of bounded size.

Nothing here reads a whole table into memory: Parquet is read a batch at a time, CSV with
Arrow's streaming reader. A ``datasets:/`` version is copied once to a local temporary file
while its sha256 is checked against the registered digest (a changed file is refused), then
streamed like any Parquet file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.errors import DataError, InvalidArgument

if TYPE_CHECKING:
    import pyarrow as pa

    from mloop.store import Store

__all__ = ["Source", "open_source"]

_CHUNK = 1 << 20


@dataclass
class Source:
    """An input table, read as record batches of at most ``chunk_rows`` rows.

    Attributes:
        uri: what was asked for.
        path: the local file or URL read (a verified local copy for ``datasets:/``).
        format: ``parquet`` or ``csv``.
        num_rows: the row count when the format records it (Parquet), else None.
        size_bytes: the size of the file read.
    """

    uri: str
    path: str
    format: str
    num_rows: int | None
    size_bytes: int | None
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)

    def batches(self, chunk_rows: int) -> Iterator[pa.RecordBatch]:
        """The rows as record batches of at most ``chunk_rows`` rows, in order."""
        import pyarrow as pa

        if self.format == "parquet":
            import pyarrow.parquet as pq

            if "://" not in self.path:
                # Arrow's own file reader: read through a Python file object, the row groups
                # already read stayed in memory (about one chunk more per chunk).
                reader = pq.ParquetFile(self.path, pre_buffer=False)
                yield from reader.iter_batches(batch_size=chunk_rows)
                return
            with _open(self.path) as fh:
                reader = pq.ParquetFile(fh, pre_buffer=False)
                yield from reader.iter_batches(batch_size=chunk_rows)
            return
        import pyarrow.csv as pcsv

        with _open(self.path) as fh:
            # A block is what the reader parses at a time; rows are then cut to chunk_rows.
            reader = pcsv.open_csv(fh, read_options=pcsv.ReadOptions(block_size=16 << 20))
            pending: list[pa.RecordBatch] = []
            pending_rows = 0
            for batch in reader:
                pending.append(batch)
                pending_rows += batch.num_rows
                while pending_rows >= chunk_rows:
                    table = pa.Table.from_batches(pending)
                    head, rest = table.slice(0, chunk_rows), table.slice(chunk_rows)
                    yield from head.combine_chunks().to_batches()
                    pending = rest.to_batches()
                    pending_rows = rest.num_rows
            if pending_rows:
                yield from pa.Table.from_batches(pending).combine_chunks().to_batches()

    def close(self) -> None:
        """Remove the local copy of a ``datasets:/`` version, if one was made."""
        self._stack.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: str) -> Any:
    if "://" in path:
        import fsspec

        return fsspec.open(path, "rb").open()
    return open(path, "rb")


def _format_of(path: str, given: str | None) -> str:
    if given is not None:
        if given not in ("parquet", "csv"):
            raise InvalidArgument(f"the input format must be parquet or csv, got {given!r}")
        return given
    name = path.lower().split("?", 1)[0]
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    raise InvalidArgument(
        f"cannot tell the format of {path!r} from its name: name it .parquet or .csv, or pass "
        "the format (--format parquet|csv)"
    )


def open_source(uri: str, *, format: str | None = None, store: Store | None = None) -> Source:
    """Open ``uri`` for batch reading.

    Args:
        uri: a local Parquet or CSV file, an fsspec URL (``s3://bucket/x.parquet``), or a
            registered dataset (``datasets:/name/3``, ``datasets:/name@latest``).
        format: ``parquet`` or ``csv``; default from the file name.
        store: for ``datasets:/`` URIs; default the store the settings name.

    Raises:
        InvalidArgument: no such file, or a format that cannot be told.
        DatasetNotFound: no such dataset version.
        DataError: the dataset's stored file is missing or does not match its digest.

    Example::

        with open_source("datasets:/churn@latest") as src:
            for batch in src.batches(100_000):
                ...
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidArgument("the input must be a path, a URL or a datasets:/ URI")
    if uri.startswith("datasets:/"):
        return _open_dataset(uri, store)
    fmt = _format_of(uri, format)
    size: int | None = None
    if "://" in uri and not uri.startswith("file://"):
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(uri)
            size = int(fs.size(path))
        except FileNotFoundError:
            raise InvalidArgument(f"no such input file: {uri!r}") from None
        except (ValueError, ImportError) as exc:
            raise InvalidArgument(f"cannot open {uri!r}: {exc}") from exc
        path = uri
    else:
        local = Path(uri.removeprefix("file://")).expanduser()
        if not local.is_file():
            raise InvalidArgument(f"no such input file: {str(local)!r}")
        path, size = str(local), local.stat().st_size
    rows = _parquet_rows(path) if fmt == "parquet" else None
    return Source(uri=uri, path=path, format=fmt, num_rows=rows, size_bytes=size)


def _parquet_rows(path: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with _open(path) as fh:
            return int(pq.ParquetFile(fh).metadata.num_rows)
    except pa.ArrowException as exc:
        raise InvalidArgument(f"{path!r} is not a readable Parquet file: {exc}") from exc


def _open_dataset(uri: str, store: Store | None) -> Source:
    from mloop.store import current

    stack = ExitStack()
    if store is None:
        store = current().store
    try:
        version = store.get_dataset_version_by_uri(uri)
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="mloop-score-"))
        local = os.path.join(folder, "data.parquet")
        sha = hashlib.sha256()
        with (
            store.open_dataset_file(version.name, f"{version.digest}.parquet") as src,
            open(local, "wb") as dst,
        ):
            while chunk := src.read(_CHUNK):
                sha.update(chunk)
                dst.write(chunk)
        if sha.hexdigest() != version.digest:
            raise DataError(
                f"dataset {version.uri}: the stored file has sha256 {sha.hexdigest()}, not the "
                f"registered digest {version.digest}; it is not read",
                details={"uri": version.uri},
            )
    except BaseException:
        stack.close()
        raise
    source = Source(
        uri=uri,
        path=local,
        format="parquet",
        num_rows=version.num_rows,
        size_bytes=version.size_bytes,
    )
    source._stack = stack
    return source
