"""``score``: predictions for every row of a table, streamed chunk by chunk into Parquet.

Memory stays flat whatever the input's size: one chunk is read, predicted and written at a time
(the local engine), or chunks are streamed to a pool of Ray actors that each load the model
once (the Ray engine); either way one Parquet file is written, in the input's row order,
first to a temporary file beside the destination and then renamed, so a failure never leaves a
partial file under the destination's name.

Every output records the model that scored it: a ``model_version`` column (``name/version`` for
a registered model, the URI otherwise; dictionary-encoded, so it costs almost nothing) and the
Parquet file's key-value metadata ``mloop.score`` (JSON: the URI given, the registered name and
version it resolved to, the model's source, run and flavor, and the input).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.batch._sources import Source, open_source
from mloop.errors import InvalidArgument, MloopError

if TYPE_CHECKING:
    import pyarrow as pa

    from mloop.models import LoadedModel

__all__ = ["METADATA_KEY", "VERSION_COLUMN", "ModelRef", "ScoreResult", "score"]

#: The key of the Parquet metadata that records the model.
METADATA_KEY = b"mloop.score"
#: The column that names the model version of every row.
VERSION_COLUMN = "model_version"
DEFAULT_CHUNK_ROWS = 100_000
ENGINES = ("local", "ray")

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ModelRef:
    """The model a scoring job used, pinned: a ``models:/name@alias`` is resolved once, before
    the first row, so every row is scored by the same version even if the alias moves."""

    uri: str
    load_uri: str
    name: str | None
    version: int | None
    source: str | None

    @property
    def label(self) -> str:
        """What the ``model_version`` column holds."""
        return f"{self.name}/{self.version}" if self.name is not None else self.uri


@dataclass(frozen=True)
class ScoreResult:
    """What a scoring job did."""

    out: str
    rows: int
    chunks: int
    seconds: float
    engine: str
    model_uri: str
    model_name: str | None
    model_version: int | None
    input: str
    columns: list[str]

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rows_per_s"] = round(self.rows_per_s, 1)
        return out


def resolve_model(uri: str) -> ModelRef:
    """Pin ``uri``: a ``models:/`` URI to the version it names now."""
    if not isinstance(uri, str) or not uri:
        raise InvalidArgument("a model URI is required (models:/name@alias, runs:/..., a folder)")
    if uri.startswith("models:/"):
        from mloop.registry import resolve

        mv = resolve(uri)
        return ModelRef(uri, mv.uri, mv.name, mv.version, mv.source)
    return ModelRef(uri, uri, None, None, None)


def predict_table(model: LoadedModel, table: pa.Table, label: str) -> pa.Table:
    """``table`` with the predictions (and the model version column) appended."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    # The signature check is several times faster on a DataFrame than on an Arrow table.
    out = model.predict(table.to_pandas(split_blocks=True, self_destruct=False))
    n = table.num_rows
    columns: dict[str, Any] = {}
    if isinstance(out, pd.DataFrame):
        for name in out.columns:
            columns[f"prediction_{name}" if name in table.column_names else str(name)] = out[name]
    else:
        arr = np.asarray(out)
        if arr.ndim == 1:
            columns["prediction"] = arr
        elif arr.ndim == 2:
            for j in range(arr.shape[1]):
                columns[f"prediction_{j}"] = arr[:, j]
        else:
            raise MloopError(
                f"the model returned predictions of shape {arr.shape}; batch scoring writes one "
                "or more columns per row (1-D or 2-D output)"
            )
    for name, values in columns.items():
        if len(values) != n:
            raise MloopError(f"the model returned {len(values)} predictions for {n} rows")
        if name in table.column_names:
            raise InvalidArgument(
                f"the input already has a column {name!r}; rename it before scoring"
            )
        table = table.append_column(name, pa.array(values))
    version = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([label])
    )
    return table.append_column(VERSION_COLUMN, version)


class _Writer:
    """One Parquet file, written to a temporary name and renamed on success."""

    def __init__(self, out: Path, metadata: dict[str, Any]) -> None:
        self.out = out
        self.tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
        self.metadata = metadata  # encoded at the first write, once the model is loaded
        self._writer: Any = None
        self.schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            encoded = json.dumps(self.metadata, sort_keys=True).encode()
            self.schema = table.schema.with_metadata({METADATA_KEY: encoded})
            # Dictionary encoding pays off for repeated values (strings, codes), not for
            # floats, where trying it costs most of the write.
            dictionary = [f.name for f in self.schema if not pa.types.is_floating(f.type)]
            self._writer = pq.ParquetWriter(self.tmp, self.schema, use_dictionary=dictionary)
        assert self.schema is not None
        if not table.schema.equals(self.schema, check_metadata=False):
            try:
                table = table.cast(self.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise MloopError(
                    f"a chunk's columns differ from the first chunk's ({exc}); the model must "
                    "return the same columns and types for every chunk"
                ) from exc
        self._writer.write_table(table)

    def commit(self) -> None:
        if self._writer is None:  # no rows: an empty file with no columns would mislead
            raise InvalidArgument("the input has no rows; nothing was written")
        self._writer.close()
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # closing after a failure: the write's error is the one to report
                pass
        self.tmp.unlink(missing_ok=True)


def score(
    model_uri: str,
    data: str,
    out: str | os.PathLike[str],
    *,
    engine: str = "local",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int = 2,
    address: str | None = None,
    format: str | None = None,
    progress: Progress | None = None,
) -> ScoreResult:
    """Score every row of ``data`` with ``model_uri`` into the Parquet file ``out``.

    Args:
        model_uri: ``models:/name@alias``, ``models:/name/3``, ``runs:/<id>/model`` or a folder;
            a registered model is pinned to one version before the first row.
        data: a Parquet or CSV file or URL, or ``datasets:/name/version``.
        out: the Parquet file to write (replaced atomically when the job succeeds).
        engine: ``local`` (this process, chunk by chunk) or ``ray`` (``workers`` model
            replicas as Ray actors).
        chunk_rows: the rows per chunk: what one predict call sees and one write holds.
        workers: model replicas on Ray (``engine="ray"``).
        address: the Ray cluster (default: the one this process is connected to, else
            ``MLOOP_RAY_ADDRESS``, else a local Ray). Workers load the model through the same
            tracking URI, so on a remote cluster it must be a server they reach.
        format: ``parquet`` or ``csv`` when the file name does not tell.
        progress: called with (rows done, total rows or None) after each chunk.

    Returns:
        What was written: rows, chunks, seconds, the model version.

    Raises:
        InvalidArgument: a bad engine, chunk size or input; an input column named like an
            output column.
        ModelNotFound, RegistryError: the model cannot be resolved or loaded.
        SignatureMismatch: a chunk does not match the model's signature.

    Example::

        result = mloop.batch.score("models:/churn@champion", "customers.parquet",
                                   "scores.parquet", chunk_rows=200_000)
        print(result.rows_per_s)
    """
    if engine not in ENGINES:
        raise InvalidArgument(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InvalidArgument(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidArgument(f"workers must be a positive integer, got {workers!r}")
    dest = Path(out).expanduser().resolve()
    if dest.is_dir():
        raise InvalidArgument(f"the output {str(dest)!r} is a folder; name a .parquet file")
    if not dest.parent.is_dir():
        raise InvalidArgument(f"the output folder {str(dest.parent)!r} does not exist")
    ref = resolve_model(model_uri)
    start = time.perf_counter()
    with open_source(data, format=format) as source:
        metadata = {
            "model_uri": ref.uri,
            "model_name": ref.name,
            "model_version": ref.version,
            "model_source": ref.source,
            "input": source.uri,
            "engine": engine,
        }
        writer = _Writer(dest, metadata)
        rows = chunks = 0
        try:
            tables = (
                _local_chunks(ref, source, chunk_rows, metadata)
                if engine == "local"
                else _ray_chunks(ref, source, chunk_rows, workers, address, metadata)
            )
            for table in tables:
                writer.write(table)
                rows += table.num_rows
                chunks += 1
                if progress is not None:
                    progress(rows, source.num_rows)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    assert writer.schema is not None
    return ScoreResult(
        out=str(dest),
        rows=rows,
        chunks=chunks,
        seconds=time.perf_counter() - start,
        engine=engine,
        model_uri=ref.uri,
        model_name=ref.name,
        model_version=ref.version,
        input=source.uri,
        columns=list(writer.schema.names),
    )


def _local_chunks(
    ref: ModelRef, source: Source, chunk_rows: int, metadata: dict[str, Any]
) -> Iterator[pa.Table]:
    import pyarrow as pa

    from mloop.models import load

    model = load(ref.load_uri)
    metadata.update(model_run_id=model.metadata.run_id, flavor=model.flavor)
    label = ref.label
    for batch in source.batches(chunk_rows):
        yield predict_table(model, pa.Table.from_batches([batch]), label)


class _RayPredictor:
    """One model replica (a Ray actor): loads the model once, predicts chunks."""

    def __init__(self, load_uri: str, label: str, settings: str) -> None:
        # The driver's settings (JSON): models:/ and runs:/ URIs resolve through its store.
        from mloop._core._config import settings_from_json
        from mloop.models import load
        from mloop.store._context import set_default

        set_default(settings_from_json(settings))

        self.model = load(load_uri)
        self.label = label

    def predict(self, table: pa.Table) -> pa.Table:
        return predict_table(self.model, table, self.label)


def _cluster_cpus(ray: Any) -> float:
    return float(ray.cluster_resources().get("CPU", 1.0))


def _cpus_per_replica(cluster_cpus: float, workers: int) -> float:
    """One CPU per model replica, unless the replicas would take every CPU of the cluster: the
    tasks that list and read the input need one too, or nothing ever reaches the replicas."""
    if cluster_cpus - workers >= 1:
        return 1.0
    return max(0.1, round((cluster_cpus - 1) / workers, 2))


def _ray_chunks(
    ref: ModelRef,
    source: Source,
    chunk_rows: int,
    workers: int,
    address: str | None,
    metadata: dict[str, Any],
) -> Iterator[pa.Table]:
    try:
        import ray
    except ImportError:
        raise InvalidArgument(
            "the ray engine needs Ray: pip install 'mloop[ray]' (or use --engine local)"
        ) from None
    import pyarrow as pa

    from mloop._core._config import settings_to_json
    from mloop.store import current

    settings = current().settings
    if not ray.is_initialized():
        target = address or settings.ray_address or None
        ray.init(address=target, include_dashboard=False, log_to_driver=False)
    settings_json = settings_to_json(settings)
    # The driver reads the input in order and hands chunks round-robin to `workers` model
    # replicas, at most two each in flight; results are taken back in submission order, so the
    # output keeps the input's row order and memory holds a bounded number of chunks. (Ray
    # Data's read did not keep the row order of one Parquet file here, even with
    # `preserve_order`.)
    replica = ray.remote(num_cpus=_cpus_per_replica(_cluster_cpus(ray), workers))(_RayPredictor)
    actors: list[Any] = [
        replica.remote(ref.load_uri, ref.label, settings_json) for _ in range(workers)
    ]
    metadata.update(ray_workers=workers)
    pending: deque[Any] = deque()
    try:
        for i, batch in enumerate(source.batches(chunk_rows)):
            table = pa.Table.from_batches([batch])
            pending.append(actors[i % workers].predict.remote(table))
            if len(pending) >= 2 * workers:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())
    finally:
        for actor in actors:
            ray.kill(actor)
