"""Serving benchmark: one scikit-learn model behind mloop, MLflow and BentoML, in one run.

Four HTTP servers, started one at a time on 127.0.0.1 (only one runs while it is measured):

1. ``mloop serve MODEL_PATH``: ``POST /v1/models/{name}:predict`` with ``{"records": [...]}``;
   and the same with ``--optimize`` (the model compiled to ONNX Runtime at load; its log says
   whether the parity check passed), as a fifth server ``mloop --optimize``.
2. ``mlflow models serve -m DIR --env-manager local`` in MLflow's environment: ``POST
   /invocations`` with ``{"dataframe_records": [...]}``.
3. ``bentoml serve`` of ``peers/bentoml_serving.py`` in BentoML's environment, one batchable API
   (adaptive batching on): ``POST /predict`` with ``{"records": [...]}``.
4. A bare ASGI app under uvicorn that reads the body and returns a constant
   (``peers/uvicorn_serving.py``): no model, no framework, the limit of the HTTP stack.

Each is driven by the same bounded closed-loop load client, ``wrk`` (Debian's package: ``apt-get
install wrk``), on loopback: one row per request, the same row for every server; at 1, 32 and 128
concurrent connections, a 2 s warm-up then 10 s measured. Reported per server and concurrency:
requests/s, p50 and p99 latency (wrk's own histogram) and errors (socket errors and non-2xx
answers), with the ratios mloop/MLflow and mloop/BentoML. Before the load, one request to each
model server must return scikit-learn's own prediction for the row (checked).

One model serves all: a ``Pipeline(StandardScaler, LogisticRegression)`` trained once on a
synthetic 20-feature table (``make_classification``, named float64 columns), pickled, and saved
by each tool from the same pickle with the same 5-row input example.

The load client and the server share this machine's CPUs: on a small machine wrk's own thread
takes CPU time from the server, for every server alike.

Usage::

    .venv/bin/python benchmarks/serving.py [--quick] [--skip-mlflow] [--skip-bentoml] [--json PATH]

Exit status: 0 when every figure was measured (targets missed or not), 1 when a measurement
failed (the table says which), 130 on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import time
import timeit
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import pandas as pd

from _peers import ensure_peer, peer_version, run_peer, spawn, stop, venv_bin
from _report import (
    BenchError,
    interrupted,
    load_average,
    log,
    machine_info,
    parse,
    parser,
    print_notes,
    recording,
    run_logged,
    scratch,
    write_json,
)

WORK = BENCH / ".work"
PEERS_DIR = BENCH / "peers"
MLFLOW_SCRIPT = PEERS_DIR / "mlflow_serving.py"

# Only this run's scratch folder is mloop's home (set in main()).
os.environ.pop("MLOOP_TRACKING_URI", None)

# A current BentoML release that installs on this Python; the estimator needs the same
# scikit-learn as the one that pickled it.
BENTOML_REQS = ["bentoml==1.4.40", "scikit-learn==1.9.1", "pandas==3.1.1", "numpy==2.4.6"]
BENTOML_ENV = {"BENTOML_DO_NOT_TRACK": "true", "BENTOML_DISABLE_GPU_ALLOCATION": "true"}

MODEL_NAME = "bench"
N_FEATURES = 20
N_TRAIN = 10_000
N_EXAMPLE = 5
N_CATEGORICAL = 10  # string columns of --model mixed30
SEED = 20240601
START_TIMEOUT_S = 180.0
WRK_TIMEOUT_S = 5  # a request slower than this counts as a socket error (timeout)

TARGET_VS_MLFLOW = 5.0
TARGET_P99_MS = 50.0
TARGET_P50_C1_MS = 2.0

SERVERS = ("mloop", "mloop_onnx", "mlflow", "bentoml", "uvicorn")
TITLES = {
    "mloop": "mloop",
    "mloop_onnx": "mloop --optimize",
    "mlflow": "MLflow",
    "bentoml": "BentoML",
    "uvicorn": "bare uvicorn (constant)",
}


@dataclass(frozen=True)
class Sizes:
    concurrency: tuple[int, ...] = (1, 32, 128)
    warmup_s: int = 2
    measure_s: int = 10


FULL = Sizes()
QUICK = Sizes(warmup_s=1, measure_s=3)


@dataclass
class Load:
    """What wrk measured for one server at one concurrency."""

    connections: int
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int  # connect, read, write and timeout

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


@dataclass
class Result:
    """One server: each concurrency's load, or why it could not be measured."""

    server: str
    loads: dict[int, Load] = field(default_factory=dict)
    error: str = ""
    start_s: float | None = None
    version: str = ""


# -- the model, its inputs and the saved models ------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    model_pkl: Path
    example: Path
    row: dict[str, Any]  # the one row every request sends
    expected: int  # scikit-learn's own prediction for it


def prepare(workdir: Path, model_kind: str = "simple") -> Inputs:
    """Train the model once, pickle it, and write the input example; print what is served.

    ``simple``: ``Pipeline(StandardScaler, LogisticRegression)`` on 20 float columns.
    ``mixed30``: 20 float and 10 string columns through a ``ColumnTransformer`` (scaling and
    one-hot encoding) into a logistic regression, the kind of pipeline whose one-row
    ``predict`` costs milliseconds of scikit-learn's own overhead.
    """
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = make_classification(
        n_samples=N_TRAIN + 1, n_features=N_FEATURES, n_informative=10, random_state=SEED
    )
    columns = [f"f{i:02d}" for i in range(N_FEATURES)]
    table = pd.DataFrame(x.astype(np.float64), columns=columns)
    if model_kind == "mixed30":
        from sklearn.compose import ColumnTransformer
        from sklearn.preprocessing import OneHotEncoder

        rng = np.random.default_rng(SEED)
        categorical = [f"c{i:02d}" for i in range(N_CATEGORICAL)]
        for i, name in enumerate(categorical):
            levels = np.array([f"{name}_{k}" for k in range(3 + 4 * i)])
            # tied to the label a little, so the encoder's columns carry weight
            picks = (rng.integers(0, len(levels), len(table)) + y * (i % 3)) % len(levels)
            table[name] = levels[picks]
        model = Pipeline(
            [
                (
                    "columns",
                    ColumnTransformer(
                        [
                            ("num", StandardScaler(), columns),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
                        ]
                    ),
                ),
                ("clf", LogisticRegression(max_iter=500)),
            ]
        )
    else:
        model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    train = table.iloc[:N_TRAIN]
    model.fit(train, y[:N_TRAIN])
    pkl, example = workdir / "model.pkl", workdir / "example.parquet"
    with pkl.open("wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    train.head(N_EXAMPLE).reset_index(drop=True).to_parquet(example)
    one = table.iloc[N_TRAIN:].reset_index(drop=True)
    row = {k: (v if isinstance(v, str) else float(v)) for k, v in one.iloc[0].items()}
    expected = int(model.predict(one)[0])
    per_call = timeit.repeat(lambda: model.predict(one), number=20, repeat=5)
    print(f"model: {model!r}, trained on {N_TRAIN:,} rows x {table.shape[1]} columns")
    print(
        f"each request: one row of {table.shape[1]} named columns; expected class {expected}; "
        f"scikit-learn's own 1-row predict {min(per_call) / 20 * 1000:.2f} ms"
    )
    print()
    return Inputs(pkl, example, row, expected)


def save_mloop(inputs: Inputs, workdir: Path) -> Path:
    import mloop.models

    path = workdir / MODEL_NAME
    with inputs.model_pkl.open("rb") as fh:
        model = pickle.load(fh)
    if not path.exists():  # saved once; both mloop servers serve the same folder
        mloop.models.save(model, path, input_example=pd.read_parquet(inputs.example))
    return path


def save_mlflow(inputs: Inputs, workdir: Path) -> Path:
    path = workdir / "mlflow-model"
    run_peer(
        "mlflow",
        MLFLOW_SCRIPT,
        [
            "save",
            "--model-pkl",
            str(inputs.model_pkl),
            "--example",
            str(inputs.example),
            "--out",
            str(path),
        ],
        cwd=workdir,
        timeout_s=300,
    )
    return path


# -- servers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """How to start one server and talk to it."""

    cmd: list[str]
    ready_path: str  # GET, 200 when it serves
    predict_path: str
    body: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


def on_path(peer: str) -> dict[str, str]:
    """The peer's ``bin`` first on PATH: its CLI starts its own tools (MLflow execs uvicorn)."""
    return {"PATH": f"{venv_bin(peer, '')}{os.pathsep}{os.environ.get('PATH', '')}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_for(name: str, port: int, inputs: Inputs, workdir: Path) -> Server:
    p = str(port)
    records = [inputs.row]
    if name in ("mloop", "mloop_onnx"):
        mloop_cli = [str(ROOT / ".venv" / "bin" / "mloop"), "serve", "--help"]
        if subprocess.run(mloop_cli, capture_output=True, timeout=60).returncode != 0:
            raise BenchError("`mloop serve --help` fails: this mloop has no `serve` command yet")
        path = save_mloop(inputs, workdir)
        return Server(
            [
                str(ROOT / ".venv" / "bin" / "mloop"),
                "serve",
                str(path),
                "--host",
                "127.0.0.1",
                "--port",
                p,
                *(["--optimize", "--log-level", "info"] if name == "mloop_onnx" else []),
            ],
            "/readyz",
            f"/v1/models/{MODEL_NAME}:predict",
            {"records": records},
            cwd=workdir,
        )
    if name == "mlflow":
        path = save_mlflow(inputs, workdir)
        return Server(
            [
                str(venv_bin("mlflow", "mlflow")),
                "models",
                "serve",
                "-m",
                str(path),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                p,
            ],
            "/ping",
            "/invocations",
            {"dataframe_records": records},
            env=on_path("mlflow"),
            cwd=workdir,
        )
    if name == "bentoml":
        return Server(
            [
                str(venv_bin("bentoml", "bentoml")),
                "serve",
                "bentoml_serving:Serving",
                "--host",
                "127.0.0.1",
                "--port",
                p,
            ],
            "/readyz",
            "/predict",
            {"records": records},
            env={**BENTOML_ENV, **on_path("bentoml"), "BENCH_MODEL_PKL": str(inputs.model_pkl)},
            cwd=PEERS_DIR,
        )
    return Server(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "uvicorn_serving:app",
            "--app-dir",
            str(PEERS_DIR),
            "--host",
            "127.0.0.1",
            "--port",
            p,
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        "/",
        "/",
        {"records": records},
    )


def http(url: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")


def wait_ready(proc: subprocess.Popen[Any], url: str, log_path: Path) -> float:
    """Poll ``url`` every 50 ms until it answers 200; return the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < START_TIMEOUT_S:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            log(f"the server's log ends:\n{tail}")
            last = [ln for ln in tail.splitlines() if any(ch.isalnum() for ch in ln)][-1:] or [
                "(empty log)"
            ]
            raise BenchError(f"the server exited with status {proc.returncode}: {last[0]}")
        with contextlib.suppress(OSError):
            if http(url, timeout=1.0)[0] == 200:
                return time.monotonic() - t0
        time.sleep(0.05)
    raise BenchError(f"no 200 from {url} within {START_TIMEOUT_S:.0f} s")


def first_number(value: Any) -> float | None:
    """The first number in a JSON answer: the prediction, whatever the envelope."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    for v in items:
        n = first_number(v)
        if n is not None:
            return n
    return None


# -- the load client ---------------------------------------------------------------------------

WRK_LUA = """\
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write("WRK_JSON " .. string.format(
    '{{"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}}',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max) .. "\\n")
end
"""


def wrk_script(body: dict[str, Any], workdir: Path, name: str) -> Path:
    path = workdir / f"{name}.lua"
    # A Lua long string holds the JSON as is.
    path.write_text(WRK_LUA.format(body="[==[" + json.dumps(body) + "]==]"))
    return path


def run_wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    """One bounded wrk run: one thread (the CPUs are shared with the server), ``connections``
    connections each with one request in flight (closed loop), for ``seconds``."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"--timeout={WRK_TIMEOUT_S}s"]
    cmd += ["--latency", "-s", str(script), url]
    proc = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk ran past {seconds + 30} s; killed") from None
    finally:
        stop(proc)
    for line in out.splitlines():
        if line.startswith("WRK_JSON "):
            return dict(json.loads(line[len("WRK_JSON ") :]))
    raise BenchError(f"wrk failed (exit {proc.returncode}): {out[-1000:]}")


def measure(url: str, script: Path, connections: int, sizes: Sizes) -> Load:
    run_wrk(url, script, connections, sizes.warmup_s)  # warm-up, not counted
    r = run_wrk(url, script, connections, sizes.measure_s)
    duration = r["duration_us"] / 1e6
    return Load(
        connections=connections,
        requests=r["requests"],
        duration_s=round(duration, 3),
        rps=r["requests"] / duration,
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        max_ms=r["max_us"] / 1000,
        non2xx=r["non2xx"],
        socket_errors=r["connect"] + r["read"] + r["write"] + r["timeout"],
    )


# -- the run -----------------------------------------------------------------------------------


class Bench:
    def __init__(
        self, sizes: Sizes, servers: Sequence[str], workdir: Path, model_kind: str = "simple"
    ) -> None:
        self.sizes = sizes
        self.servers = list(servers)
        self.workdir = workdir
        self.model_kind = model_kind
        self.results = {s: Result(s) for s in self.servers}
        self.details: dict[str, Any] = {}
        self.notes: list[str] = []
        self.failed = False

    def run(self) -> None:
        inputs = prepare(self.workdir, self.model_kind)
        for name in self.servers:
            result = self.results[name]

            def record(msg: str, result: Result = result) -> None:
                self.failed = True
                result.error = msg

            with recording(f"{name} serving", record):
                self.serve_and_load(name, inputs, result)

    def serve_and_load(self, name: str, inputs: Inputs, result: Result) -> None:
        if name == "mlflow":
            ensure_peer("mlflow")
            result.version = peer_version("mlflow", "mlflow")
        if name == "bentoml":
            ensure_peer("bentoml", BENTOML_REQS)
            result.version = peer_version("bentoml", "bentoml")
        port = free_port()
        server = server_for(name, port, inputs, self.workdir)
        log_path = self.workdir / f"{name}-server.log"
        base = f"http://127.0.0.1:{port}"
        with log_path.open("w") as out:
            proc = spawn(
                server.cmd, env=server.env, cwd=server.cwd, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            result.start_s = wait_ready(proc, base + server.ready_path, log_path)
            log(f"{name}: serving on {base} after {result.start_s:.1f} s")
            predict_path = server.predict_path
            if name == "mloop":  # served under the name mloop gives it: ask
                models = json.loads(http(base + "/v1/models")[1])["models"]
                self.details["mloop_models"] = models
                predict_path = f"/v1/models/{models[0]['name']}:predict"
            status, text = http(base + predict_path, server.body, timeout=30.0)
            if status != 200:
                raise BenchError(f"the first request answered {status}: {text[:500]}")
            if name != "uvicorn":
                got = first_number(json.loads(text))
                if got != inputs.expected:
                    raise BenchError(
                        f"predicted {text[:200]!r}, scikit-learn's own call {inputs.expected}"
                    )
            self.details[f"{name}_first_answer"] = text[:500]
            script = wrk_script(server.body, self.workdir, name)
            for c in self.sizes.concurrency:
                load = measure(base + predict_path, script, c, self.sizes)
                result.loads[c] = load
                log(
                    f"{name} c={c}: {load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, "
                    f"p99 {load.p99_ms:.2f} ms, errors {load.errors}"
                )
        finally:
            stop(proc)
            self.details[f"{name}_server_log_tail"] = log_path.read_text(errors="replace")[-2000:]


# -- output ------------------------------------------------------------------------------------


def cell(r: Result, c: int, what: str) -> str:
    if r.error:
        return "FAILED"
    load = r.loads.get(c)
    if load is None:
        return "-"
    if what == "rps":
        return f"{load.rps:,.0f}"
    if what == "errors":
        return f"{load.errors:,}"
    return f"{getattr(load, what):,.2f} ms"


def ratio(a: Result | None, b: Result | None, c: int, what: str) -> str:
    """mloop / peer, with in words how many times better mloop is."""
    if a is None or b is None or c not in a.loads or c not in b.loads or what == "errors":
        return "-"
    x, y = getattr(a.loads[c], what), getattr(b.loads[c], what)
    if not x or not y:
        return "-"
    r = x / y
    better = r if what == "rps" else 1 / r
    word = f"{better:,.1f}x {'more' if what == 'rps' else 'less'}" if better >= 1 else ""
    if better < 1:
        word = f"{1 / better:,.1f}x {'fewer' if what == 'rps' else 'more'}"
    return f"{r:,.2f} ({word})"


def target(bench: Bench, c: int, what: str) -> tuple[str, bool | None]:
    m = bench.results.get("mloop")
    load = m.loads.get(c) if m else None
    if c == 32 and what == "rps":
        f = bench.results.get("mlflow")
        ok = None
        if load and f and 32 in f.loads:
            ok = load.rps >= TARGET_VS_MLFLOW * f.loads[32].rps
        return f">= {TARGET_VS_MLFLOW:g}x MLflow's", ok
    if c == 32 and what == "p99_ms":
        return f"< {TARGET_P99_MS:g} ms", None if load is None else load.p99_ms < TARGET_P99_MS
    if c == 32 and what == "errors":
        return "0", None if load is None else load.errors == 0
    if c == 1 and what == "p50_ms":
        return (
            f"< {TARGET_P50_C1_MS:g} ms",
            None if load is None else load.p50_ms < TARGET_P50_C1_MS,
        )
    return "-", None


WHATS = {"rps": "requests/s", "p50_ms": "p50", "p99_ms": "p99", "errors": "errors"}
MET = {True: "yes", False: "NO", None: "-"}


def header(bench: Bench) -> list[str]:
    return [
        "figure",
        *(TITLES[s] for s in bench.servers),
        *(f"mloop/{TITLES[s]}" for s in ("mloop_onnx", "mlflow", "bentoml") if s in bench.servers),
        "target (mloop)",
        "met?",
    ]


def rows(bench: Bench) -> list[list[str]]:
    res = bench.results
    out = []
    for c in bench.sizes.concurrency:
        for what, label in WHATS.items():
            text, met = target(bench, c, what)
            out.append(
                [
                    f"{label}, {c} concurrent",
                    *(cell(res[s], c, what) for s in bench.servers),
                    *(
                        ratio(res.get("mloop"), res[s], c, what)
                        for s in ("mloop_onnx", "mlflow", "bentoml")
                        if s in bench.servers
                    ),
                    text,
                    MET[met],
                ]
            )
    return out


def print_results(bench: Bench) -> None:
    """The table (rich when installed, a row red when its target was missed), then notes."""
    head, body = header(bench), rows(bench)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        for r in [head, *body]:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    else:
        table = Table(title="mloop vs MLflow vs BentoML: serving", title_justify="left")
        for i, h in enumerate(head):
            table.add_column(h, justify="left" if i in (0, len(head) - 2) else "right")
        for r in body:
            table.add_row(*r, style="red" if r[-1] == "NO" or "FAILED" in r else None)
        Console(width=max(170, shutil.get_terminal_size().columns)).print(table)
    notes = list(bench.notes)
    for s in bench.servers:
        r = bench.results[s]
        if r.start_s is not None:
            notes.append(f"{TITLES[s]}: ready {r.start_s:.1f} s after its start")
    print_notes(notes, [(TITLES[s], r.error) for s, r in bench.results.items() if r.error])


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(
        "Serving benchmark: mloop vs MLflow vs BentoML over HTTP (see benchmarks/README.md).",
        peer="mlflow",
        quick_help="1 s warm-up and 3 s measured per concurrency, a smoke run",
        keep=True,
    )
    p.add_argument("--skip-bentoml", action="store_true", help="do not measure BentoML")
    p.add_argument(
        "--model",
        choices=("simple", "mixed30"),
        default="simple",
        help="simple: scaler + logistic regression on 20 floats; mixed30: 20 floats and 10 "
        "strings through a ColumnTransformer (what --optimize is for)",
    )
    a = parse(p, argv)
    sizes = QUICK if a.quick else FULL
    if shutil.which("wrk") is None:
        log("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu)")
        return 1
    servers = [
        s
        for s in SERVERS
        if not (s == "mlflow" and a.skip_mlflow) and not (s == "bentoml" and a.skip_bentoml)
    ]
    with scratch(WORK / f"serving-{os.getpid()}", keep=a.keep) as workdir:
        bench = Bench(sizes, servers, workdir, a.model)
        try:
            import numpy
            import sklearn
            import uvicorn

            info = machine_info(
                sklearn=sklearn.__version__,
                numpy=numpy.__version__,
                pandas=pd.__version__,
                uvicorn=uvicorn.__version__,
                wrk=wrk_version(),
            )
            info["loadavg_1m_at_start"] = load_average()
            run_logged(info, bench.run)
            info["loadavg_1m_at_end"] = load_average()
            info.update({s: r.version for s, r in bench.results.items() if r.version})
        except KeyboardInterrupt:
            return interrupted()
    print()
    print(
        f"mloop {info['mloop']} vs MLflow {info.get('mlflow', '(skipped)')} vs BentoML "
        f"{info.get('bentoml', '(skipped)')} on {info['cpu']}, {info['nproc']} CPUs, "
        f"Python {info['python']}, uvicorn {info['uvicorn']}, wrk {info['wrk']}"
        + (" [--quick sizes]" if a.quick else "")
    )
    print(
        f"closed loop over loopback, one row per request, {sizes.warmup_s} s warm-up then "
        f"{sizes.measure_s} s measured at each of {', '.join(map(str, sizes.concurrency))} "
        "concurrent connections; wrk -t1 on the same CPUs"
    )
    print_results(bench)
    busy = info.get("loadavg_1m_at_start", 0.0)
    if busy > info["nproc"]:
        print(
            f"  WARNING: other work competed for the CPUs (1-minute load average {busy} on "
            f"{info['nproc']} CPUs at the start): rerun on an idle machine before trusting these"
        )
    if a.json:
        write_json(
            a.json,
            script=__file__,
            argv=argv,
            machine=info,
            sizes=sizes,
            figures={
                f"{s}_c{c}": load for s, r in bench.results.items() for c, load in r.loads.items()
            },
            computed=("errors",),
            details={
                **bench.details,
                "errors": {s: r.error for s, r in bench.results.items() if r.error},
                "start_s": {s: r.start_s for s, r in bench.results.items()},
            },
        )
    return 1 if bench.failed else 0


def wrk_version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    first = (out.stdout or out.stderr or "wrk ?").splitlines()[0]
    return first.split(" [")[0].removeprefix("wrk ")


if __name__ == "__main__":
    sys.exit(main())
