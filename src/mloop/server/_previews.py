"""``/api/v1`` routes that read stored files and answer JSON a screen can draw: a dataset
version's profile, a model version's manifest (``mloop-model.yaml``), the first rows of a
Parquet artifact. Without them a browser would need a YAML parser, a Parquet reader and the
profile's binary format.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import IO, Annotated, Any

import yaml
from fastapi import APIRouter, Query

from mloop._core import parse_runs_uri
from mloop._web._errors import ERROR_RESPONSES, JsonResponse
from mloop.errors import InvalidArgument, InvalidData, ModelNotFound
from mloop.server._tracking import StoreDep, _artifact_path
from mloop.store import Store

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

#: Files read into memory to answer are refused past this size (a profile is a few kB, a
#: manifest a few hundred bytes; a Parquet head reads only the footer and the first row group
#: when the file is seekable).
MAX_READ_BYTES = 256 * 1024 * 1024
MAX_HEAD_ROWS = 1_000
_MANIFEST = "mloop-model.yaml"


def _read_all(stream: IO[bytes], what: str) -> bytes:
    with stream:
        data = stream.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:
        raise InvalidArgument(f"{what} is over {MAX_READ_BYTES} bytes; too large to preview")
    return data


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _profile_json(blob: bytes) -> dict[str, Any]:
    from mloop.data import Profile

    profile = Profile.from_bytes(blob)
    columns = []
    for name in profile.column_names:
        col = profile[name]
        summary = col.summary()
        entry: dict[str, Any] = {"name": name, **summary}
        entry["quantiles"] = {
            k: _finite(v) for k, v in (summary.get("quantiles") or {}).items()
        } or None
        for key in ("mean", "std", "min", "max"):
            if key in entry:
                entry[key] = _finite(entry[key])
        if col.histogram is not None:
            hist = col.histogram.coarsen(col.histogram.e)
            entry["histogram"] = {
                "edges": hist.edges.tolist(),
                "counts": hist.counts.tolist(),
            }
        entry["top"] = [[_finite(k), c] for k, c in col.top(20)]
        columns.append(entry)
    return {"rows": profile.rows, "warnings": profile.warnings, "columns": columns}


@router.get("/datasets/{name}/versions/{version}/profile", tags=["datasets"])
def get_dataset_profile(name: str, version: int, store: StoreDep) -> JsonResponse:
    """The profile of a dataset version, per column: counts, nulls, distinct values, mean,
    standard deviation, quantiles, a histogram (``edges``, ``counts``) and the top values.
    404 when the version was stored without a profile."""
    dv = store.get_dataset_version(name, version)
    blob = _read_all(store.open_dataset_file(name, f"{dv.digest}.profile.bin"), "the profile")
    try:
        return JsonResponse(_profile_json(blob))
    except InvalidData:
        raise
    except (ValueError, KeyError) as exc:  # a damaged file: say so instead of a 500
        raise InvalidData(f"the profile of {dv.uri} cannot be read: {exc}") from None


def _manifest_location(store: Store, name: str, version: int) -> tuple[str, str]:
    mv = store.get_model_version(name, version)
    if not mv.source.startswith("runs:/"):
        raise ModelNotFound(
            f"{mv.uri} comes from {mv.source!r}, not from a run's artifacts: the server cannot"
            " read its manifest",
            details={"source": mv.source},
        )
    ref = parse_runs_uri(mv.source)
    path = f"{ref.path}/{_MANIFEST}" if ref.path else _MANIFEST
    return ref.run_id, path


@router.get("/registered-models/{name}/versions/{version}/manifest", tags=["registry"])
def get_model_manifest(name: str, version: int, store: StoreDep) -> JsonResponse:
    """The version's ``mloop-model.yaml`` as JSON: flavor, signature, requirements, Python
    version, file digests, run id and training data digests."""
    run_id, path = _manifest_location(store, name, version)
    text = _read_all(store.open_artifact(run_id, path), _MANIFEST)
    try:
        manifest = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidData(f"{_MANIFEST} of {name}/{version} is not valid YAML: {exc}") from None
    if not isinstance(manifest, dict):
        raise InvalidData(f"{_MANIFEST} of {name}/{version} does not hold a mapping")
    manifest.pop("reference_profile", None)  # binary, and large
    return JsonResponse({"run_id": run_id, "path": path, "manifest": manifest})


def _parquet_head(stream: IO[bytes], rows: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source: Any = stream if stream.seekable() else io.BytesIO(_read_all(stream, "the file"))
    try:
        pf = pq.ParquetFile(source)
        batch = next(pf.iter_batches(batch_size=rows), None)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidData(f"not a readable Parquet file: {exc}") from None
    schema = pf.schema_arrow
    table = pa.Table.from_batches([batch], schema=schema) if batch is not None else None
    records = table.to_pylist() if table is not None else []
    names = schema.names
    return {
        "columns": [{"name": f.name, "type": str(f.type)} for f in schema],
        "num_rows": pf.metadata.num_rows,
        "rows": [[_finite(_plain(r[n])) for n in names] for r in records],
    }


def _plain(value: Any) -> Any:
    """A cell as JSON can carry it: numbers, text, dates and times as they are; bytes as hex;
    anything else (decimals, durations, nested values) as its text."""
    if value is None or isinstance(value, (bool, int, float, str, dt.date, dt.time)):
        return value
    if isinstance(value, bytes):
        return value[:64].hex()
    return str(value)[:200]


@router.get("/runs/{run_id}/parquet-head/{path:path}", tags=["artifacts"])
def get_parquet_head(
    run_id: str,
    path: str,
    store: StoreDep,
    rows: Annotated[int, Query(ge=1, le=MAX_HEAD_ROWS)] = 50,
) -> JsonResponse:
    """The schema, row count and first ``rows`` rows of a Parquet artifact."""
    stream = store.open_artifact(run_id, _artifact_path(path))
    with stream:
        head = _parquet_head(stream, rows)
    return JsonResponse(head)
