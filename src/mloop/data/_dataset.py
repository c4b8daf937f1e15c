"""Versioned, content-addressed datasets: ``register``, ``load``, ``list_datasets``.

A dataset version is a table stored once as Parquet in the artifact store, under the sha256 of
its bytes (its *digest*). The Parquet file is written canonically, so that the same content
always gives the same bytes and therefore the same digest:

- the table is converted to Arrow; a pandas index is dropped (``reset_index()`` first to keep
  it), and so are the index columns pandas writes into Parquet files;
- schema and field metadata are removed; ``large_string`` and ``large_binary`` columns (pandas 3
  strings, for instance) become ``string`` and ``binary``, also as dictionary values;
- the chunks of every column are combined into one, so the digest does not depend on how the
  table was split into record batches;
- the Parquet writer runs with fixed options (:data:`PARQUET_OPTIONS`): format 2.6, zstd level
  3, dictionary encoding, statistics, data pages of 1 MiB, row groups of 1,048,576 rows.

The digest is stable for a given pyarrow release. Another release may encode the same table
differently: registering it again then gives a new version, never a wrong match, and every
stored version keeps verifying, because loading checks the sha256 of the stored bytes.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from mloop.errors import ArtifactNotFound, DataError, DatasetNotFound, InvalidArgument, InvalidData
from mloop.store import DatasetVersion, Store
from mloop.store._context import current
from mloop.store._datasets_base import (
    DATA_SUFFIX,
    PROFILE_SUFFIX,
    validate_dataset_name,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Dataset", "list_datasets", "load", "register"]

logger = logging.getLogger("mloop.data")

#: Options of the canonical Parquet encoding; changing any of them changes every digest.
PARQUET_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_size": 1 << 20,
    "dictionary_pagesize_limit": 1 << 20,
    "write_batch_size": 1024,
    "data_page_version": "1.0",
    "use_compliant_nested_type": True,
    "store_schema": True,
    "write_page_index": False,
    "write_page_checksum": False,
}
ROW_GROUP_SIZE = 1 << 20
_READ_CHUNK = 1 << 20
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".csv.bz2", ".csv.zst")


@dataclass(frozen=True, eq=True, repr=False)
class Dataset:
    """One registered, immutable version of a dataset.

    Attributes:
        name: the dataset's name.
        version: its number, counting from 1.
        digest: the sha256 (hex) of the stored canonical Parquet file.
        num_rows: rows in the table.
        num_columns: columns in the table.
        schema: each column's Arrow type, in column order (``{"age": "int64", ...}``).
        size_bytes: the size of the stored Parquet file.
        source: where the file lives in the artifact store.
        description: free text given at registration.
        tags: key-value tags given at registration.
        creation_time: when the version was registered (ms since the Unix epoch).

    Example::

        ds = mloop.data.register(df, "churn-train")
        ds.uri          # 'datasets:/churn-train/1'
        same = ds.load()
    """

    name: str
    version: int
    digest: str
    num_rows: int
    num_columns: int
    schema: dict[str, str]
    size_bytes: int
    source: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int = 0
    format: str = "parquet"

    @property
    def uri(self) -> str:
        """``datasets:/<name>/<version>``."""
        return f"datasets:/{self.name}/{self.version}"

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, version={self.version}, digest={self.digest[:12]!r}, "
            f"num_rows={self.num_rows}, num_columns={self.num_columns})"
        )

    @classmethod
    def from_version(cls, version: DatasetVersion) -> Dataset:
        """The dataset of a store record."""
        return cls(
            name=version.name,
            version=version.version,
            digest=version.digest,
            num_rows=version.num_rows,
            num_columns=version.num_columns,
            schema={c.name: c.type for c in version.columns},
            size_bytes=version.size_bytes,
            source=version.source,
            description=version.description,
            tags=dict(version.tags),
            creation_time=version.creation_time,
            format=version.format,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, with the URI."""
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "digest": self.digest,
            "num_rows": self.num_rows,
            "num_columns": self.num_columns,
            "schema": dict(self.schema),
            "size_bytes": self.size_bytes,
            "format": self.format,
            "source": self.source,
            "description": self.description,
            "tags": dict(self.tags),
            "creation_time": self.creation_time,
        }

    @overload
    def load(self, *, as_arrow: Literal[False] = False, store: Store | None = None) -> Any: ...
    @overload
    def load(self, *, as_arrow: Literal[True], store: Store | None = None) -> Any: ...
    def load(self, *, as_arrow: bool = False, store: Store | None = None) -> Any:
        """The table, verified against the digest (see :func:`load`)."""
        if as_arrow:
            return load(self, as_arrow=True, store=store)
        return load(self, store=store)


# -- reading tables ----------------------------------------------------------------------------


def read_table(data: Any) -> pa.Table:
    """An Arrow table from a pandas DataFrame, an Arrow table or record batch, or the path of a
    Parquet file, a folder of Parquet files or a CSV file.

    Raises:
        InvalidArgument: not one of those, or no such file.
        InvalidData: the data cannot be converted to Arrow (the message names the column).
    """
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, str | os.PathLike):
        return _read_path(Path(data))
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        return from_pandas(data)
    raise InvalidArgument(
        "expected a pandas DataFrame, a pyarrow Table or the path of a Parquet or CSV file, "
        f"got {type(data).__name__}"
    )


def from_pandas(df: pd.DataFrame) -> pa.Table:
    """``df`` as Arrow, without its index.

    Raises:
        InvalidData: a column cannot be converted (mixed types, objects Arrow cannot hold).
    """
    import pyarrow as pa

    names = [str(c) for c in df.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidData(
            f"column names must be unique; repeated: {', '.join(map(repr, dupes))}",
            details={"columns": dupes},
        )
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InvalidData(_conversion_message(df, exc), details={"error": str(exc)}) from exc


def _conversion_message(df: pd.DataFrame, exc: Exception) -> str:
    text = str(exc.args[-1] if exc.args else exc)
    detail = str(exc.args[0]) if exc.args else str(exc)
    column = None
    marker = "for column "
    if marker in text:
        column = text.split(marker, 1)[1].rsplit(" with type", 1)[0]
    if column is not None and column in df.columns:
        kinds = df[column].dropna().map(lambda v: type(v).__name__).value_counts()
        mix = ", ".join(f"{k} ({n} rows)" for k, n in kinds.items())
        return (
            f"column {column!r} cannot be stored as one Arrow type: its values mix {mix} "
            f"({detail}); convert it to one type first"
        )
    return f"the table cannot be converted to Arrow: {detail}"


def _read_path(path: Path) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.exists():
        raise InvalidArgument(f"no such file or folder: {str(path)!r}")
    name = path.name.lower()
    if path.is_dir() or name.endswith(_PARQUET_SUFFIXES):
        kind = "parquet"
    elif name.endswith(_CSV_SUFFIXES):
        kind = "csv"
    else:
        with path.open("rb") as fh:
            kind = "parquet" if fh.read(4) == b"PAR1" else "csv"
    try:
        if kind == "parquet":
            table = pq.read_table(path)
            return _drop_pandas_index(table)
        delimiter = "\t" if ".tsv" in name else ","
        return pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidData(
            f"cannot read {str(path)!r} as {kind.upper()}: {exc}", details={"path": str(path)}
        ) from exc


def _drop_pandas_index(table: pa.Table) -> pa.Table:
    meta = table.schema.pandas_metadata
    if not meta:
        return table
    index = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
    keep = [n for n in table.column_names if n not in index]
    return table.select(keep) if len(keep) != table.num_columns else table


# -- the canonical encoding --------------------------------------------------------------------


def canonical_table(table: pa.Table) -> pa.Table:
    """``table`` in canonical form: no metadata, one chunk per column, ``string`` and ``binary``
    rather than their large variants.

    Raises:
        InvalidData: no columns, or column names that are empty or repeated.
    """
    import pyarrow as pa

    names = table.column_names
    if not names:
        raise InvalidData("a dataset needs at least one column")
    if any(not n for n in names):
        raise InvalidData("every column needs a name; one is empty")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidData(
            f"column names must be unique; repeated: {', '.join(map(repr, dupes))}",
            details={"columns": dupes},
        )
    fields = []
    columns = []
    for name, column in zip(names, table.columns, strict=True):
        target = _canonical_type(column.type)
        if target != column.type:
            column = column.cast(target)
        fields.append(pa.field(name, target, nullable=True))
        columns.append(column)
    out = pa.Table.from_arrays(columns, schema=pa.schema(fields))
    try:
        return out.combine_chunks()
    except pa.ArrowInvalid:  # over 2 GiB of text in one column: keep large offsets
        return out.cast(
            pa.schema([pa.field(f.name, _large(f.type)) for f in out.schema])
        ).combine_chunks()


def _canonical_type(type_: pa.DataType) -> pa.DataType:
    import pyarrow as pa

    if pa.types.is_large_string(type_) or pa.types.is_string_view(type_):
        return pa.string()
    if pa.types.is_large_binary(type_) or pa.types.is_binary_view(type_):
        return pa.binary()
    if pa.types.is_dictionary(type_):
        value = _canonical_type(type_.value_type)
        if value != type_.value_type:
            return pa.dictionary(type_.index_type, value, type_.ordered)
    return type_


def _large(type_: pa.DataType) -> pa.DataType:
    import pyarrow as pa

    if pa.types.is_string(type_):
        return pa.large_string()
    if pa.types.is_binary(type_):
        return pa.large_binary()
    return type_


def encode(table: pa.Table) -> bytes:
    """The canonical Parquet bytes of a canonical table (see :func:`canonical_table`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    try:
        pq.write_table(table, sink, row_group_size=ROW_GROUP_SIZE, **PARQUET_OPTIONS)
    except (pa.ArrowException, ValueError) as exc:
        raise InvalidData(f"the table cannot be written as Parquet: {exc}") from exc
    return bytes(sink.getvalue())


def digest_of(data: Any) -> str:
    """The digest a table would be registered under, without registering it."""
    return hashlib.sha256(encode(canonical_table(read_table(data)))).hexdigest()


# -- the store ---------------------------------------------------------------------------------


def _store(store: Store | None) -> Store:
    """``store``, or the current one (:func:`mloop.store.current`)."""
    return store if store is not None else current().store


def resolve(ref: Any, store: Store) -> DatasetVersion:
    """The store record of a ``datasets:/`` URI, a :class:`Dataset` or any object with ``name``
    and ``version`` attributes.

    Raises:
        DatasetNotFound: no such dataset or version.
        DataError: a Dataset whose digest differs from the store's version of that number.
    """
    if isinstance(ref, str):
        return store.get_dataset_version_by_uri(ref)
    name, version = getattr(ref, "name", None), getattr(ref, "version", None)
    if name is None or version is None:
        raise InvalidArgument(
            "expected a datasets:/ URI or a Dataset (an object with name and version), "
            f"got {type(ref).__name__}"
        )
    found = store.get_dataset_version(name, version)
    digest = getattr(ref, "digest", None)
    if isinstance(digest, str) and digest != found.digest:
        raise DataError(
            f"dataset {found.uri} in this store has digest {found.digest[:16]}…, not "
            f"{digest[:16]}… as the Dataset given: it comes from another store",
            details={"uri": found.uri, "digest": found.digest, "given": digest},
        )
    return found


# -- the public API ----------------------------------------------------------------------------


def register(
    data: Any,
    name: str,
    *,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    store: Store | None = None,
) -> Dataset:
    """Store a table as the next version of the dataset ``name``.

    The table is stored once as canonical Parquet under its digest; content that ``name`` holds
    already gives back the existing version (its description and tags are kept). A profile of
    the table is stored beside it when the profiling module is available.

    Args:
        data: a pandas DataFrame, a pyarrow Table, or the path of a Parquet or CSV file.
        name: the dataset, e.g. ``"churn-train"`` (letters, digits, ``_ . -``).
        description: free text for the version.
        tags: key-value tags for the version.
        store: the store; default the current one (:func:`mloop.store.current`).

    Returns:
        The registered version.

    Raises:
        InvalidArgument: an unusable name or argument, or a missing file.
        InvalidData: a table that cannot be stored (mixed types in a column, no columns).

    Example::

        ds = mloop.data.register("train.csv", "churn-train", description="May snapshot")
        print(ds.uri, ds.digest[:12])
    """
    return register_dataset(data, name, description=description, tags=tags, store=store)[0]


def register_dataset(
    data: Any,
    name: str,
    *,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    store: Store | None = None,
) -> tuple[Dataset, bool]:
    """:func:`register`, also saying whether a new version was created."""
    name = validate_dataset_name(name)
    table = canonical_table(read_table(data))
    payload = encode(table)
    digest = hashlib.sha256(payload).hexdigest()
    s = _store(store)
    try:
        return Dataset.from_version(s.get_dataset_version_by_digest(name, digest)), False
    except DatasetNotFound:
        pass
    s.put_dataset_file(name, f"{digest}{DATA_SUFFIX}", io.BytesIO(payload))
    profile = _profile_bytes(table, name)
    if profile is not None:
        s.put_dataset_file(name, f"{digest}{PROFILE_SUFFIX}", io.BytesIO(profile))
    version = s.create_dataset_version(
        name,
        digest=digest,
        num_rows=table.num_rows,
        num_columns=table.num_columns,
        columns=[(f.name, str(f.type)) for f in table.schema],
        size_bytes=len(payload),
        description=description,
        tags=tags,
    )
    return Dataset.from_version(version), True


def _profile_bytes(table: pa.Table, name: str) -> bytes | None:
    """The serialized profile of ``table``, or None when profiling is not available."""
    try:
        from mloop.data._profile import profile
    except ImportError:
        return None
    try:
        return bytes(profile(table).to_bytes())
    except InvalidData as exc:  # a table that cannot be profiled can still be stored
        logger.warning("dataset %r: no profile stored: %s", name, exc)
        return None


@overload
def load(
    ref: Any, *, as_arrow: Literal[False] = False, store: Store | None = None
) -> pd.DataFrame: ...
@overload
def load(ref: Any, *, as_arrow: Literal[True], store: Store | None = None) -> pa.Table: ...
def load(ref: Any, *, as_arrow: bool = False, store: Store | None = None) -> Any:
    """Read a dataset version, refusing bytes that do not match its digest.

    Args:
        ref: ``datasets:/name/3``, ``datasets:/name@latest``, ``datasets:/name@<digest-prefix>``
            (at least 8 hex characters) or a :class:`Dataset`.
        as_arrow: return a pyarrow Table instead of a pandas DataFrame.
        store: the store; default the current one (:func:`mloop.store.current`).

    Raises:
        DatasetNotFound: no such dataset or version.
        InvalidArgument: a malformed URI, or a digest prefix that fits several versions.
        DataError: the stored file is missing, or changed since it was registered.

    Example::

        df = mloop.data.load("datasets:/churn-train@latest")
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    s = _store(store)
    version = resolve(ref, s)
    payload = _read_verified(s, version)
    try:
        table = pq.read_table(pa.BufferReader(payload))
    except pa.ArrowException as exc:  # pragma: no cover - the digest matched
        raise DataError(f"dataset {version.uri}: its file cannot be read: {exc}") from exc
    return table if as_arrow else table.to_pandas()


def _read_verified(store: Store, version: DatasetVersion) -> bytes:
    filename = f"{version.digest}{DATA_SUFFIX}"
    sha = hashlib.sha256()
    parts: list[bytes] = []
    try:
        with store.open_dataset_file(version.name, filename) as fh:
            while chunk := fh.read(_READ_CHUNK):
                sha.update(chunk)
                parts.append(chunk)
    except ArtifactNotFound as exc:
        raise DataError(
            f"dataset {version.uri}: its file {version.source} is missing from the artifact store",
            details={"uri": version.uri, "source": version.source},
        ) from exc
    actual = sha.hexdigest()
    if actual != version.digest:
        raise DataError(
            f"dataset {version.uri}: the stored file {version.source} has sha256 {actual}, "
            f"not the registered digest {version.digest}; it was changed or damaged after "
            "registration, so it is not loaded",
            details={
                "uri": version.uri,
                "source": version.source,
                "digest": version.digest,
                "sha256": actual,
            },
        )
    return b"".join(parts)


def list_datasets(name: str | None = None, *, store: Store | None = None) -> list[Dataset]:
    """The latest version of every dataset, by name; or, given ``name``, every version of that
    dataset, newest first.

    Raises:
        DatasetNotFound: ``name`` is given and no dataset has it.

    Example::

        for ds in mloop.data.list_datasets():
            print(ds.name, ds.version, ds.num_rows)
    """
    s = _store(store)
    versions = s.list_datasets() if name is None else s.list_dataset_versions(name)
    return [Dataset.from_version(v) for v in versions]
