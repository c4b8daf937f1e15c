"""Object storage benchmark: uploads and downloads through mloop's S3 artifact store beside boto3
called directly and MLflow's own S3 artifact repository, against the same S3-compatible server
(moto's standalone server on 127.0.0.1, started here in a subprocess).

Figures, each the median of ``rounds`` rounds, in MiB/s (higher is better):

1. one large file up (multipart above the part size, 8 MiB here for all three tools),
2. the same file down,
3. a folder of many small files up (where each request's overhead counts, not bandwidth),
4. the same folder down: mloop fetches ``PARALLEL_FILES`` files at once; also timed with one
   file at a time (mloop's download before it fetched concurrently), to show the gain.

Within a round the tools take turns, in a rotating order, so a shared machine's load falls on
all alike. boto3 runs with its default transfer settings (parts in parallel threads), and so
does MLflow, which calls it. mloop adds hashing (the sha256 of every byte, recorded) and path
checks. moto is a Python server: absolute figures say more about it than about S3, so read the
ratios.

Usage::

    .venv/bin/python benchmarks/s3.py [--quick] [--skip-peers] [--json PATH]

Exit status: 0 when every figure was measured, 1 when a measurement failed, 130 on Ctrl-C.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))  # the moto launcher the tests use: tests/s3server.py

from _report import (
    fmt_ratio,
    interrupted,
    load_average,
    log,
    machine_info,
    parse,
    parser,
    print_notes,
    print_table,
    recording,
    run_logged,
    table_row,
    write_json,
)

MiB = 1024 * 1024
PART = 8 * MiB
HEADER = ["figure", "mloop", "boto3 / MLflow", "ratio (mloop / peer)", "target", "met?"]


@dataclass
class Sizes:
    big_mib: int
    small_files: int
    small_kib: int
    rounds: int


@dataclass
class Figures:
    mloop: dict[str, float] = field(default_factory=dict)
    boto3: dict[str, float] = field(default_factory=dict)
    mlflow: dict[str, float] = field(default_factory=dict)
    serial: dict[str, float] = field(default_factory=dict)  # mloop, one file at a time


def _interleaved(mib: float, tools: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Median MiB/s of each tool, the tools taking turns within each round (in a rotating
    order), so that a shared machine's changing load falls on all of them alike."""
    rates: dict[str, list[float]] = {name: [] for name in tools}
    names = list(tools)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            tools[name]()
            rates[name].append(mib / (time.perf_counter() - t0))
    return {name: statistics.median(xs) for name, xs in rates.items()}


def measure(server: Any, sizes: Sizes, work: Path, figures: Figures, skip_peers: bool) -> None:
    import boto3
    from boto3.s3.transfer import TransferConfig

    from mloop._core import Settings
    from mloop.store import _objectstore, open_artifact_store, storage_options

    big = work / "big.bin"
    big.write_bytes(os.urandom(sizes.big_mib * MiB))
    folder = work / "small"
    folder.mkdir()
    for i in range(sizes.small_files):
        (folder / f"f{i:04d}.bin").write_bytes(os.urandom(sizes.small_kib * 1024))
    small_mib = sizes.small_files * sizes.small_kib / 1024
    bucket = server.new_bucket()

    settings = Settings(
        s3_endpoint_url=server.endpoint,
        aws_access_key_id=server.key,
        aws_secret_access_key=server.secret,
        aws_region=server.region,
        upload_part_size=PART,
    )
    store = open_artifact_store(f"s3://{bucket}/mloop", storage_options(settings))
    up: dict[str, Callable[[], Any]] = {"mloop": lambda: store.put_file(big, "big.bin")}
    down: dict[str, Callable[[], Any]] = {
        "mloop": lambda: store.download("big.bin", work / "mloop-down")
    }
    small: dict[str, Callable[[], Any]] = {"mloop": lambda: store.put_dir(folder, "small")}
    small_down: dict[str, Callable[[], Any]] = {
        "mloop": lambda: store.download("small", work / "mloop-small"),
    }

    def one_at_a_time() -> None:
        parallel = _objectstore.PARALLEL_FILES
        _objectstore.PARALLEL_FILES = 1
        try:
            store.download("small", work / "serial-small")
        finally:
            _objectstore.PARALLEL_FILES = parallel

    small_down["serial"] = one_at_a_time

    if not skip_peers:
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=server.key,
            aws_secret_access_key=server.secret,
            region_name=server.region,
        )
        # boto3's defaults: parts in parallel threads, as MLflow and s3fs do too
        config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
        up["boto3"] = lambda: client.upload_file(str(big), bucket, "boto3/big.bin", Config=config)
        down["boto3"] = lambda: client.download_file(
            bucket, "boto3/big.bin", str(work / "b.bin"), Config=config
        )

        def boto3_dir() -> None:
            for p in sorted(folder.iterdir()):
                client.upload_file(str(p), bucket, f"boto3/small/{p.name}", Config=config)

        small["boto3"] = boto3_dir

        def boto3_dir_down() -> None:
            (work / "boto3-small").mkdir(exist_ok=True)
            listed = client.list_objects_v2(Bucket=bucket, Prefix="boto3/small/")
            for obj in listed.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                client.download_file(bucket, obj["Key"], str(work / "boto3-small" / name))

        small_down["boto3"] = boto3_dir_down
        try:
            from mlflow.store.artifact.s3_artifact_repo import S3ArtifactRepository
        except ImportError:
            S3ArtifactRepository = None
            log("MLflow is not installed: its column stays empty")
        if S3ArtifactRepository is not None:
            os.environ["MLFLOW_S3_ENDPOINT_URL"] = server.endpoint
            for name, value in server.env().items():
                os.environ.setdefault(name, value)
            repo = S3ArtifactRepository(f"s3://{bucket}/mlflow")
            (work / "mlflow-down").mkdir()
            up["MLflow"] = lambda: repo.log_artifact(str(big))
            down["MLflow"] = lambda: repo.download_artifacts("big.bin", str(work / "mlflow-down"))
            small["MLflow"] = lambda: repo.log_artifacts(str(folder), "small")
            (work / "mlflow-small").mkdir()
            small_down["MLflow"] = lambda: repo.download_artifacts(
                "small", str(work / "mlflow-small")
            )

    for key, tools, mib in (
        ("big_up", up, sizes.big_mib),
        ("big_down", down, sizes.big_mib),
        ("small_up", small, small_mib),
        ("small_down", small_down, small_mib),
    ):
        for name, rate in _interleaved(mib, tools, sizes.rounds).items():
            getattr(figures, name.lower())[key] = rate
            log(f"{key}: {name} {rate:.2f} MiB/s")


def main(argv: Sequence[str] | None = None) -> int:
    a = parse(parser("Object storage: S3 up and down", peer="peers"), argv)
    sizes = (
        Sizes(big_mib=32, small_files=100, small_kib=16, rounds=3)
        if a.quick
        else Sizes(big_mib=128, small_files=300, small_kib=16, rounds=3)
    )
    figures = Figures()
    failures: list[tuple[str, str]] = []
    info = machine_info()

    def run() -> None:
        from tests.s3server import moto_server

        info["load_before"] = load_average()
        with (
            tempfile.TemporaryDirectory(prefix="mloop-bench-s3-") as tmp,
            moto_server() as server,
            recording("s3", lambda e: failures.append(("s3", e))),
        ):
            measure(server, sizes, Path(tmp), figures, a.skip_peers)
        info["load_after"] = load_average()

    try:
        run_logged(info, run)
    except KeyboardInterrupt:
        return interrupted()

    labels = {
        "big_up": f"{sizes.big_mib} MiB file up (parts of {PART // MiB} MiB)",
        "big_down": f"{sizes.big_mib} MiB file down",
        "small_up": f"{sizes.small_files} files of {sizes.small_kib} KiB up",
        "small_down": f"{sizes.small_files} files of {sizes.small_kib} KiB down",
    }
    rows = []
    for key, label in labels.items():
        mine = figures.mloop.get(key)
        peers = (("boto3", figures.boto3.get(key)), ("MLflow", figures.mlflow.get(key)))
        if key == "small_down":
            peers += (("mloop one at a time", figures.serial.get(key)),)
        for peer, theirs in peers:
            ratio = mine / theirs if mine and theirs else None
            rows.append(
                table_row(
                    f"{label} vs {peer}",
                    "-" if mine is None else f"{mine:,.1f} MiB/s",
                    "-" if theirs is None else f"{theirs:,.1f} MiB/s",
                    fmt_ratio(ratio, ratio, same_within=0.1),
                    "",
                    None,
                )
            )
    print_table(f"S3 through moto (median of {sizes.rounds} rounds)", HEADER, rows)
    print_notes(
        [
            f"machine: {info['nproc']} CPUs ({info['cpu']}), load {info['load_before']} before "
            f"and {info['load_after']} after",
            "ratio above 1: mloop moves more MiB/s than the peer",
        ],
        failures,
    )
    if a.json:
        write_json(
            a.json,
            script=__file__,
            argv=argv,
            machine=info,
            sizes=sizes,
            figures={"s3": figures},
            computed=[],
            details={},
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
