"""Models benchmark: mloop and MLflow side by side on one scikit-learn model, in one run.

Figures (each for mloop and MLflow, with the ratio mloop/MLflow and mloop's target):

1. The overhead of the wrapper's ``predict`` over scikit-learn's own ``predict``, for one row:
   mloop's ``mloop.models.load(uri).predict`` and MLflow's ``mlflow.pyfunc.load_model(uri)
   .predict``, both loaded from the registry by alias.
2. The same for 10,000 rows.
3. Loading the registered model by alias, ``models:/bench@champion``, in a fresh process per
   try: the load call alone, not the interpreter's start or the tool's import.

One model serves both tools: a ``Pipeline(StandardScaler, LogisticRegression)`` trained once on
a synthetic 20-feature table (``make_classification``), pickled, and logged by each tool from
the same pickle. The inputs are pandas DataFrames with named float64 columns, read by both tools
from the same Parquet files. Both tools log the model with the same input example, so both
infer a signature and check inputs against it on every ``predict``; both must return the same
predictions as scikit-learn's own call (checked).

MLflow runs in its own virtual environment (``benchmarks/.venvs/mlflow``, built on first use).
Every child process is stopped at exit, also on Ctrl-C; nothing listens on a port.

Usage::

    .venv/bin/python benchmarks/models.py [--quick] [--skip-mlflow] [--json PATH]

Exit status: 0 when every figure was measured (targets missed or not), 1 when a measurement
failed (the table says which), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import pandas as pd

from _peers import ensure_peer, peer_version, run_peer, spawn, stop
from _report import (
    BenchError,
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
    scratch,
    table_row,
    write_json,
)
from _timing import CASES, digest, run_cases

WORK = BENCH / ".work"
PEER_SCRIPT = BENCH / "peers" / "mlflow_models.py"

# Only the store in this run's scratch folder is used: a developer's own tracking URI must not
# redirect the fluent API (MLOOP_HOME is set to the scratch folder in main()).
os.environ.pop("MLOOP_TRACKING_URI", None)

MODEL_NAME = "bench"
ALIAS = "champion"
MODEL_URI = f"models:/{MODEL_NAME}@{ALIAS}"
N_FEATURES = 20
N_TRAIN = 10_000
N_MANY = 10_000
N_EXAMPLE = 5
SEED = 20240601
LOAD_TIMEOUT_S = 300.0
PREDICT_TIMEOUT_S = 900.0

TARGET_OVERHEAD_US = 50.0
TARGET_VS_MLFLOW = 3.0


@dataclass(frozen=True)
class Sizes:
    batch_one: int = 200  # calls per timed batch, one row
    rounds_one: int = 40  # timed batches of each call, one row (raw and wrapper alternate)
    batch_many: int = 5  # calls per timed batch, 10,000 rows
    rounds_many: int = 30
    warmup: int = 50  # untimed calls of each before the batches
    max_s: float = 60.0  # time limit of one comparison (at least 5 rounds run)
    loads: int = 3  # timed cold loads, each in a fresh process, after one untimed load


FULL = Sizes()
QUICK = Sizes(
    batch_one=50, rounds_one=10, batch_many=2, rounds_many=6, warmup=10, max_s=10.0, loads=1
)


@dataclass
class Figure:
    """One row of the table; lower is better for every figure here."""

    key: str
    label: str
    unit: str  # "us", "ms" or "s"
    target: str = ""
    mloop: float | None = None
    mlflow: float | None = None
    met: bool | None = None
    mloop_error: str = ""
    mlflow_error: str = ""
    better: str = "faster"  # the word for mloop's advantage: "faster", "less"
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.mloop is None or self.mlflow is None or self.mlflow == 0:
            return None
        return self.mloop / self.mlflow

    @property
    def speedup(self) -> float | None:
        """How many times less mloop takes (above 1) or more (below 1); None when either
        figure is missing or not positive (an overhead within the noise)."""
        if self.mloop is None or self.mlflow is None or self.mloop <= 0 or self.mlflow <= 0:
            return None
        return self.mlflow / self.mloop


# -- the model and its inputs ------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """The files both tools read: the pickled estimator and the Parquet inputs."""

    model_pkl: Path
    example: Path  # the input example both tools log the model with
    one: Path  # one row
    many: Path  # N_MANY rows


def prepare(workdir: Path) -> Inputs:
    """Train the model once, pickle it, and write the inputs; print what the tools are fed."""
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = make_classification(
        n_samples=N_TRAIN + N_MANY,
        n_features=N_FEATURES,
        n_informative=10,
        random_state=SEED,
    )
    columns = [f"f{i:02d}" for i in range(N_FEATURES)]
    table = pd.DataFrame(x.astype(np.float64), columns=columns)
    train, rest = table.iloc[:N_TRAIN], table.iloc[N_TRAIN:].reset_index(drop=True)
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    model.fit(train, y[:N_TRAIN])
    inputs = Inputs(
        model_pkl=workdir / "model.pkl",
        example=workdir / "example.parquet",
        one=workdir / "one.parquet",
        many=workdir / "many.parquet",
    )
    with inputs.model_pkl.open("wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    train.iloc[:N_EXAMPLE].reset_index(drop=True).to_parquet(inputs.example)
    rest.iloc[:1].to_parquet(inputs.one)
    rest.to_parquet(inputs.many)

    one, many = pd.read_parquet(inputs.one), pd.read_parquet(inputs.many)
    print(f"model: {model!r}, trained on {N_TRAIN:,} rows x {N_FEATURES} features")
    print(
        f"inputs (the same Parquet files for both tools): pandas DataFrames with "
        f"{len(one.columns)} columns {one.columns[0]}..{one.columns[-1]}, dtypes "
        f"{', '.join(sorted({str(d) for d in one.dtypes}))}; one row and {len(many):,} rows"
    )
    with pd.option_context("display.width", 200, "display.max_columns", 8):
        print(one.to_string(max_cols=8, float_format="{:.3f}".format))
    print()
    return inputs


def load_inputs(inputs: Inputs) -> tuple[Any, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with inputs.model_pkl.open("rb") as fh:
        model = pickle.load(fh)
    return (
        model,
        pd.read_parquet(inputs.example),
        pd.read_parquet(inputs.one),
        pd.read_parquet(inputs.many),
    )


# -- mloop's side ------------------------------------------------------------------------------


def mloop_register(inputs: Inputs) -> dict[str, Any]:
    """log_model (with the input example: a signature is inferred) and registration, then the
    alias; the model store is the fresh one under MLOOP_HOME."""
    import mloop
    import mloop.models
    import mloop.registry

    model, example, _, _ = load_inputs(inputs)
    mloop.set_experiment("models")
    t0 = time.perf_counter()
    with mloop.start_run() as run:
        info = mloop.models.log_model(
            model, "model", input_example=example, registered_model_name=MODEL_NAME
        )
    t1 = time.perf_counter()
    version = int(info.registered_model_version.version)
    mloop.registry.set_alias(MODEL_NAME, ALIAS, version)
    t2 = time.perf_counter()
    log(f"mloop: logged and registered {MODEL_NAME} v{version} in {t1 - t0:.2f} s, alias {ALIAS}")
    return {
        "run_id": run.run_id,
        "version": version,
        "model_uri": info.model_uri,
        "log_model_s": t1 - t0,
        "set_alias_s": t2 - t1,
        "signature": str(info.signature),
    }


def child_load(example: str) -> dict[str, Any]:
    """In a fresh process: import mloop.models, then time ``load(MODEL_URI)`` alone, and once
    more."""
    t0 = time.perf_counter()
    import mloop.models

    t1 = time.perf_counter()
    sklearn_before = "sklearn" in sys.modules
    model = mloop.models.load(MODEL_URI)
    t2 = time.perf_counter()
    mloop.models.load(MODEL_URI)
    t3 = time.perf_counter()
    pred = model.predict(pd.read_parquet(example))
    return {
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "load_again_s": t3 - t2,
        "sklearn_imported_before_load": sklearn_before,
        "digest": digest(pred),
    }


def child_predict(inputs: dict[str, str], sizes: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process, as MLflow's side: ``loaded.predict`` against scikit-learn's own
    ``predict`` (the same pickle), one row and many."""
    import mloop.models

    raw, _, one, many = load_inputs(Inputs(**{k: Path(v) for k, v in inputs.items()}))
    loaded = mloop.models.load(MODEL_URI)
    frames = {"one": one, "many": many}
    return run_cases(raw.predict, loaded.predict, frames, sizes, lambda m: log(f"mloop {m}"))


def run_child(kind: str, args: dict[str, Any], workdir: Path, timeout_s: float) -> dict[str, Any]:
    """Run ``child_<kind>(**args)`` in a fresh process (this script with ``--child``), as the
    MLflow side runs in its own; returns what it returned."""
    with tempfile.TemporaryDirectory(prefix=f"mloop-{kind}-", dir=workdir) as tmp:
        result = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--child-args",
            json.dumps(args),
            "--child-result",
            str(result),
        ]
        proc = spawn(cmd, cwd=workdir)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise BenchError(f"mloop's {kind} ran past {timeout_s:.0f} s; killed") from None
        finally:
            stop(proc)
        if rc != 0 or not result.exists():
            raise BenchError(f"mloop's {kind} process failed with exit status {rc}")
        return dict(json.loads(result.read_text()))


CHILDREN: dict[str, Callable[..., dict[str, Any]]] = {"load": child_load, "predict": child_predict}


def cold_loads(load_once: Any, tool: str, tries: int) -> dict[str, Any]:
    """One untimed load (the first: it fills mloop's model cache, and the OS's file cache for
    both tools), then ``tries`` timed loads, each in a fresh process."""
    first = load_once()
    log(f"{tool} first load (untimed): {first['load_s']:.3f} s")
    timed = []
    for _ in range(tries):
        r = load_once()
        log(
            f"{tool} cold load: {r['load_s']:.3f} s (import {r['import_s']:.3f} s, "
            f"again {r['load_again_s'] * 1000:.1f} ms)"
        )
        timed.append(r)
    return {
        "first": first,
        "tries": timed,
        "load_s": statistics.median(r["load_s"] for r in timed),
        "load_again_s": statistics.median(r["load_again_s"] for r in timed),
        "import_s": statistics.median(r["import_s"] for r in timed),
        "digests": sorted({r["digest"] for r in [first, *timed]}),
    }


# -- MLflow's side -----------------------------------------------------------------------------


def mlflow_peer(
    command: str, workdir: Path, *, timeout_s: float = 900.0, **options: Any
) -> dict[str, Any]:
    """Run one command of the MLflow peer script in MLflow's environment, from ``workdir``."""
    args = [command, "--uri", f"sqlite:///{workdir / 'mlflow.db'}"]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return run_peer("mlflow", PEER_SCRIPT, args, timeout_s=timeout_s, cwd=workdir)


# -- the run -----------------------------------------------------------------------------------


class Bench:
    def __init__(self, sizes: Sizes, with_mlflow: bool, only: set[str], workdir: Path) -> None:
        self.sizes = sizes
        self.with_mlflow = with_mlflow
        self.only = only
        self.workdir = workdir
        self.details: dict[str, Any] = {}
        self.failed = False
        many = f"{N_MANY:,} rows"
        target = f"< {TARGET_OVERHEAD_US:g} µs, >= {TARGET_VS_MLFLOW:g}x less than MLflow's"
        new = "a new DataFrame each call"
        self.fig = {
            "raw_one": Figure("raw_one", "scikit-learn's own predict, 1 row", "us"),
            "wrapped_one": Figure("wrapped_one", "loaded model's predict, 1 row", "us"),
            "overhead_one": Figure(
                "overhead_one", "overhead, 1 row (the same DataFrame)", "us", target, better="less"
            ),
            "overhead_one_new": Figure(
                "overhead_one_new", f"overhead, 1 row ({new})", "us", target, better="less"
            ),
            "raw_many": Figure("raw_many", f"scikit-learn's own predict, {many}", "us"),
            "wrapped_many": Figure("wrapped_many", f"loaded model's predict, {many}", "us"),
            "overhead_many": Figure(
                "overhead_many", f"overhead, {many} (the same DataFrame)", "us", better="less"
            ),
            "overhead_many_new": Figure(
                "overhead_many_new", f"overhead, {many} ({new})", "us", better="less"
            ),
            "load_cold": Figure("load_cold", f"load {MODEL_URI}, fresh process (median)", "s"),
            "load_again": Figure("load_again", "the same load again, same process", "ms"),
        }

    def wants(self, part: str) -> bool:
        return not self.only or part in self.only

    def measuring(
        self, figs: Sequence[Figure], tool: str
    ) -> contextlib.AbstractContextManager[None]:
        """Record a failed measurement in the figures and go on with the next one."""

        def record(msg: str) -> None:
            self.failed = True
            for fig in figs:
                setattr(fig, f"{tool}_error", msg)

        return recording(f"{tool} {', '.join(f.key for f in figs)}", record)

    @property
    def predict_figs(self) -> list[Figure]:
        return [self.fig[k] for k in self.fig if not k.startswith("load_")]

    @property
    def load_figs(self) -> list[Figure]:
        return [self.fig["load_cold"], self.fig["load_again"]]

    def all_figs(self) -> list[Figure]:
        return (self.predict_figs if self.wants("predict") else []) + (
            self.load_figs if self.wants("load") else []
        )

    def run(self) -> None:
        inputs = prepare(self.workdir)
        self.mloop_side(inputs)
        if self.with_mlflow:
            self.mlflow_side(inputs)
        self.cross_check()
        self.judge()

    def mloop_side(self, inputs: Inputs) -> None:
        registered = False
        with self.measuring(self.all_figs(), "mloop"):
            self.details["mloop_register"] = mloop_register(inputs)
            registered = True
        if not registered:
            return
        if self.wants("load"):
            with self.measuring(self.load_figs, "mloop"):
                r = cold_loads(
                    lambda: run_child(
                        "load", {"example": str(inputs.example)}, self.workdir, LOAD_TIMEOUT_S
                    ),
                    "mloop",
                    self.sizes.loads,
                )
                self.details["mloop_load"] = r
                self.fig["load_cold"].mloop = r["load_s"]
                self.fig["load_again"].mloop = r["load_again_s"] * 1000
        if self.wants("predict"):
            with self.measuring(self.predict_figs, "mloop"):
                r = run_child(
                    "predict",
                    {
                        "inputs": {k: str(v) for k, v in asdict(inputs).items()},
                        "sizes": asdict(self.sizes),
                    },
                    self.workdir,
                    PREDICT_TIMEOUT_S,
                )
                self.details["mloop_predict"] = r
                self.set_predict(r, "mloop")

    def mlflow_side(self, inputs: Inputs) -> None:
        w = self.workdir
        registered = False
        with self.measuring(self.all_figs(), "mlflow"):
            ensure_peer("mlflow")
            self.details["mlflow_register"] = mlflow_peer(
                "register",
                w,
                model_pkl=inputs.model_pkl,
                example=inputs.example,
                artifacts=w / "mlflow-artifacts",
                name=MODEL_NAME,
                alias=ALIAS,
            )
            registered = True
        if not registered:
            return
        if self.wants("load"):
            with self.measuring(self.load_figs, "mlflow"):
                r = cold_loads(
                    lambda: mlflow_peer("load", w, model_uri=MODEL_URI, example=inputs.example),
                    "mlflow",
                    self.sizes.loads,
                )
                self.details["mlflow_load"] = r
                self.fig["load_cold"].mlflow = r["load_s"]
                self.fig["load_again"].mlflow = r["load_again_s"] * 1000
        if self.wants("predict"):
            s = self.sizes
            with self.measuring(self.predict_figs, "mlflow"):
                r = mlflow_peer(
                    "predict",
                    w,
                    model_uri=MODEL_URI,
                    model_pkl=inputs.model_pkl,
                    one=inputs.one,
                    many=inputs.many,
                    sizes=json.dumps(asdict(s)),
                )
                self.details["mlflow_predict"] = r
                self.set_predict(r, "mlflow")

    def set_predict(self, r: dict[str, Any], tool: str) -> None:
        name = "mloop" if tool == "mloop" else "MLflow"
        for case, (which, new) in CASES.items():
            c = r[case]
            if c["digest_raw"] != c["digest_wrapped"]:
                raise BenchError(
                    f"{name}'s predict on {c['rows']:,} rows disagrees with scikit-learn's own"
                )
            if not new:  # raw and wrapper per call: the same-DataFrame case
                setattr(self.fig[f"raw_{which}"], tool, c["raw_us"])
                setattr(self.fig[f"wrapped_{which}"], tool, c["wrapped_us"])
            setattr(self.fig[f"overhead_{case}"], tool, c["overhead_us"])

    def cross_check(self) -> None:
        """Both tools must have predicted the same thing as scikit-learn, on the same rows."""
        d = self.details
        if "mloop_predict" in d and "mlflow_predict" in d:
            for case, (which, _) in CASES.items():
                a, b = d["mloop_predict"][case], d["mlflow_predict"][case]
                if a["digest_raw"] != b["digest_raw"]:
                    self.failed = True
                    self.fig[f"raw_{which}"].notes.append(
                        f"the two tools' raw predictions on {a['rows']:,} rows differ: "
                        "not the same model or inputs"
                    )
            self.fig["raw_one"].notes.append(
                "both tools returned scikit-learn's own predictions, on 1 and on "
                f"{N_MANY:,} rows (checked)"
            )
        for case in ("one", "one_new"):
            spread = [
                f"{name} {r[case]['overhead_q1_us']:,.1f} to {r[case]['overhead_q3_us']:,.1f} µs"
                for name, r in (
                    ("mloop", d.get("mloop_predict")),
                    ("MLflow", d.get("mlflow_predict")),
                )
                if r is not None
            ]
            if spread:
                fig = self.fig[f"overhead_{case}"]
                fig.notes.append(f"{fig.label}, middle half of the rounds: " + "; ".join(spread))
        if "mloop_load" in d and "mlflow_load" in d:
            digests = {*d["mloop_load"]["digests"], *d["mlflow_load"]["digests"]}
            if len(digests) != 1:
                self.failed = True
                self.fig["load_cold"].notes.append(
                    "the loaded models' predictions on the example differ between tools"
                )
        if "mloop_load" in d:
            first = d["mloop_load"]["first"]["load_s"]
            self.fig["load_cold"].notes.append(
                f"mloop's first load, into an empty model cache: {first:.3f} s (untimed); "
                "the timed loads read the cache"
            )
        for tool in ("mloop", "mlflow"):
            if f"{tool}_load" in d:
                r = d[f"{tool}_load"]
                self.fig["load_cold"].notes.append(
                    f"{'MLflow' if tool == 'mlflow' else 'mloop'}: import before the load "
                    f"{r['import_s']:.3f} s (not counted); loads "
                    + ", ".join(f"{t['load_s']:.3f}" for t in r["tries"])
                    + " s"
                )

    def judge(self) -> None:
        for key in ("overhead_one", "overhead_one_new"):
            fig = self.fig[key]
            if fig.mloop is None:
                continue
            fast = fig.mloop < TARGET_OVERHEAD_US
            if fig.mlflow is None:
                fig.met = fast
                fig.notes.append(f"{fig.label}: only the absolute target was checked (no MLflow)")
            elif fig.mloop <= 0:
                # within the timing noise: any positive MLflow overhead is 3x more
                fig.met = fast and fig.mlflow > 0
                fig.notes.append(f"{fig.label}: mloop's overhead is within the timing noise")
            else:
                fig.met = fast and fig.mlflow / fig.mloop >= TARGET_VS_MLFLOW


# -- output ------------------------------------------------------------------------------------


def fmt_value(v: float | None, unit: str, err: str) -> str:
    if err:
        return "FAILED"
    if v is None:
        return "-"
    if unit == "us":
        return f"{v:,.1f} µs"
    if unit == "ms":
        return f"{v:,.1f} ms"
    return f"{v:.3f} s"


def ratio_text(fig: Figure) -> str:
    worse = {"faster": "slower", "less": "more"}[fig.better]
    return fmt_ratio(
        fig.ratio, fig.speedup, better=fig.better, worse=worse, places=2, same_within=0.05
    )


HEADER = ["figure", "mloop", "MLflow", "ratio mloop/MLflow", "target (mloop)", "met?"]


def rows(bench: Bench) -> list[list[str]]:
    return [
        table_row(
            fig.label,
            fmt_value(fig.mloop, fig.unit, fig.mloop_error),
            fmt_value(fig.mlflow, fig.unit, fig.mlflow_error),
            ratio_text(fig),
            fig.target,
            fig.met,
        )
        for fig in bench.fig.values()
        if fig.mloop is not None or fig.mlflow is not None or fig.mloop_error or fig.mlflow_error
    ]


def print_results(bench: Bench) -> None:
    print_table("mloop vs MLflow: models", HEADER, rows(bench))
    figs = bench.fig.values()
    print_notes(
        [n for fig in figs for n in fig.notes],
        [
            (f"{tool}, {fig.label}", err)
            for fig in figs
            for tool, err in (("mloop", fig.mloop_error), ("MLflow", fig.mlflow_error))
            if err
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(
        "Models benchmark: mloop vs MLflow side by side (see benchmarks/README.md).",
        peer="mlflow",
        quick_help="fewer rounds and loads, a smoke run",
        parts=["predict", "load"],
        keep=True,
    )
    # mloop's measuring processes (see run_child); not for people.
    p.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    p.add_argument("--child-args", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--child-result", type=Path, help=argparse.SUPPRESS)
    a = parse(p, argv)
    if a.child:
        result = CHILDREN[a.child](**json.loads(a.child_args))
        a.child_result.write_text(json.dumps(result))
        return 0
    sizes = QUICK if a.quick else FULL

    # Peers are stopped by _peers at exit; the scratch folder goes with the block.
    with scratch(WORK / f"models-{os.getpid()}", keep=a.keep) as workdir:
        bench = Bench(sizes, not a.skip_mlflow, a.only, workdir)
        try:
            # Not imported at the top: a --child process times what it imports itself.
            import numpy
            import sklearn

            info = machine_info(
                sklearn=sklearn.__version__, numpy=numpy.__version__, pandas=pd.__version__
            )
            info["loadavg_1m_at_start"] = load_average()
            if bench.with_mlflow:
                ensure_peer("mlflow")
                info["mlflow"] = peer_version("mlflow", "mlflow")
                info["mlflow_sklearn"] = peer_version("mlflow", "scikit-learn")
            run_logged(info, bench.run)
            info["loadavg_1m_at_end"] = load_average()
        except KeyboardInterrupt:
            return interrupted()
    print()
    print(
        f"mloop {info['mloop']} vs MLflow {info.get('mlflow', '(skipped)')} on {info['cpu']}, "
        f"{info['nproc']} CPUs, Python {info['python']}, scikit-learn {info['sklearn']}, "
        f"numpy {info['numpy']}, pandas {info['pandas']}" + (" [--quick sizes]" if a.quick else "")
    )
    print_results(bench)
    busy = info.get("loadavg_1m_at_end", 0.0)
    if busy > info["nproc"]:
        print(
            f"  WARNING: other work competed for the CPUs (1-minute load average {busy} on "
            f"{info['nproc']} CPUs at the end): rerun on an idle machine before trusting these"
        )
    if a.json:
        write_json(
            a.json,
            script=__file__,
            argv=argv,
            machine=info,
            sizes=sizes,
            figures=bench.fig,
            computed=("ratio", "speedup"),
            details=bench.details,
        )
    return 1 if bench.failed else 0


if __name__ == "__main__":
    sys.exit(main())
