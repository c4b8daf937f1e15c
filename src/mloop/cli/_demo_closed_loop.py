"""The demo's closed loop: the loop controller runs ``demo-loop`` on ``demo-classifier``.

A real ``mloop serve`` app follows the model's deployment record; the demo sends it drifted
traffic and the labels as feedback, and ticks the controller with an accelerated clock (shared
with the prediction log), so an hour of the loop passes in seconds:

1. a new scanner reads every size feature 50% larger: the monitor run finds the drift, the loop
   retrains on the labelled window, gates the result, rolls it out in canary steps (traffic
   sent at each step, the live analysis read from the prediction log) and promotes it;
2. the texture features drift too, and the retrain is one that cannot pass the gate (it always
   answers the commonest class): the loop ends in ``GATE_FAILED``, alerts a local webhook, and
   the champion keeps serving.

The loop's files (``loop.yaml``, ``gate.yaml``, ``flows.py``) are written to
``MLOOP_HOME/demo-loop/`` for the user to read and run again.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from mloop.cli._demo_loop import LOOP_NAME, MODEL_NAME, TARGET

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from mloop._core import Settings
    from mloop.loop import Controller
    from mloop.store import LoopTransition, Store

__all__ = ["LOOP_NAME", "run_closed_loop"]

#: What the first pass's drift scales (a scanner that reads sizes 50% larger): the champion
#: loses more than a tenth of its accuracy, a model retrained on the drifted labels does not.
SIZE_FEATURES = ("radius", "perimeter", "area")
SIZE_FACTOR = 1.5
#: What the second pass's drift scales on top.
TEXTURE_FACTOR = 1.5
MIN = 60_000
#: The monitor window of the demo's loop.yaml.
WINDOW_MS = 10 * MIN
# Requests per batch: the monitored window, then each canary step.
_WINDOW_ROWS = 240
_STEP_ROWS = 120
_CLIENTS = 2

FLOWS = '''\
"""The retrain pipeline of the demo's loop: `data` is the labelled window of live traffic."""

import mloop
import mloop.data
import mloop.models


@mloop.step(packages=["scikit-learn"])
def fit(data: str, label: str, model: str):
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = mloop.data.load(data)
    X, y = frame.drop(columns=[label]), frame[label].astype(int)
    if model == "majority":  # a retrain that cannot pass the gate: always the commonest class
        estimator = DummyClassifier(strategy="most_frequent")
    else:
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    estimator.fit(X, y)
    info = mloop.models.log_model(estimator, "model", input_example=X.head(5), reference_data=X)
    return info.model_uri


@mloop.pipeline
def train(data: str, label: str = "target", model: str = "logistic_regression"):
    return fit(data, label, model)
'''

GATE = """\
# The gate of the demo's loop, on the held-out part of the labelled window.
rules:
  - accuracy >= champion.accuracy
  - roc_auc >= 0.9
"""

LOOP = """\
# The demo's loop. `mloop demo` ticks it with an accelerated clock; for real traffic run
# `mloop loop run {path}` beside `mloop serve models:/{model}@champion`.
name: {name}
model: {model}
monitor:
  every: 1m
  window: {window}m
  min_rows: 100
  drift: {{share: 0.05}}
  performance: {{metric: accuracy, min_labels: 100, max_drop: 0.05}}
retrain:
  pipeline: flows.py:train
  params: {{model: {family}}}
  on: [drift, performance]
  cooldown: 30m
  label: {target}
  holdout: 0.3
gate: {{policy: gate.yaml}}
rollout:
  steps: [25, 50, 100]
  hold: 2m
  min_rows: 20
  analysis:
    - online.accuracy >= champion.online.accuracy - 0.05
    # a demo step sees a few dozen canary requests, so its p99 is its slowest one: the margin
    # catches a challenger that is slower by a second, not a busy machine's scheduling
    - p99_latency_ms <= 3 * champion.p99_latency_ms + 1000
alerts:
  - webhook: {webhook}
    retries: 1
    timeout: 2s
    dedup: 10m
"""

_STYLE = {
    "PROMOTED": "bold green",
    "GATE_FAILED": "bold red",
    "ROLLED_BACK": "bold red",
    "RETRAIN_FAILED": "bold red",
    "ROLLING_OUT": "cyan",
}


class DemoClock:
    """The loop's clock and the prediction log's: moved forward by the demo, not by time."""

    def __init__(self, start_ms: int) -> None:
        self.start_ms = self._ms = start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._ms

    def seconds(self) -> float:
        return self.now_ms() / 1000

    def advance(self, ms: int) -> None:
        with self._lock:
            self._ms += ms


def write_loop_files(folder: Path, webhook: str) -> dict[str, Path]:
    """``flows.py``, ``gate.yaml``, and one loop file per pass (the second's retrain is the
    majority-class one)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flows.py").write_text(FLOWS, encoding="utf-8")
    (folder / "gate.yaml").write_text(GATE, encoding="utf-8")
    paths = {}
    for key, filename, family in (
        ("retrain", "loop.yaml", "logistic_regression"),
        ("broken", "loop-broken-retrain.yaml", "majority"),
    ):
        path = folder / filename
        path.write_text(
            LOOP.format(
                name=LOOP_NAME,
                model=MODEL_NAME,
                path=path,
                family=family,
                target=TARGET,
                webhook=webhook,
                window=WINDOW_MS // MIN,
            ),
            encoding="utf-8",
        )
        paths[key] = path
    return paths


def drifted(population: pd.DataFrame, n: int, seed: int, *, texture: bool) -> pd.DataFrame:
    """``n`` rows drawn from ``population`` (features and target) with the sizes read 50%
    larger, and with ``texture`` the textures 50% larger too."""
    sample = population.sample(n=n, replace=True, random_state=seed).reset_index(drop=True)
    for column in sample.columns:
        if any(word in column for word in SIZE_FEATURES):
            sample[column] = sample[column] * SIZE_FACTOR
        elif texture and "texture" in column:
            sample[column] = sample[column] * TEXTURE_FACTOR
    return sample


class _Driver:
    """Traffic to the served model and ticks of the controller, on the demo's clock."""

    def __init__(
        self,
        url: str,
        controller: Controller,
        log: Any,
        clock: DemoClock,
        alerts: list[dict[str, Any]],
    ) -> None:
        self.url = url
        self.alerts = alerts  # what the local webhook received
        self.alerts_shown = 0
        self.controller = controller
        self.log = log
        self.clock = clock
        self.batch = uuid.uuid4().hex[:8]
        self.sent = 0
        self.versions: dict[str, int] = {}

    def send(self, rows: pd.DataFrame) -> dict[str, int]:
        """One request per row from a few threads, then the labels as feedback; waits until
        the prediction log has written them."""
        import httpx

        features = rows.drop(columns=[TARGET]).to_dict(orient="records")
        ids = [f"{self.batch}-{self.sent + i}" for i in range(len(features))]
        self.sent += len(features)
        path = f"/v1/models/{MODEL_NAME}:predict"
        with httpx.Client(base_url=self.url, timeout=30) as http:

            def call(i: int) -> str:
                r = http.post(
                    path, json={"records": [features[i]]}, headers={"x-request-id": ids[i]}
                )
                r.raise_for_status()
                return str(r.json()["model"]["version"])

            with ThreadPoolExecutor(_CLIENTS) as pool:
                answered = list(pool.map(call, range(len(features))))
            items = [
                {"request_id": rid, "label": int(y)}
                for rid, y in zip(ids, rows[TARGET], strict=True)
            ]
            http.post("/v1/feedback", json={"items": items}).raise_for_status()
        if not self.log.flush(60):
            raise RuntimeError("the prediction log did not write the demo's traffic in 60 s")
        versions: dict[str, int] = {}
        for version in answered:
            versions[version] = versions.get(version, 0) + 1
            self.versions[version] = self.versions.get(version, 0) + 1
        return versions

    def wait_generation(self, timeout: float = 60.0) -> None:
        """Until the server follows the deployment record the controller wrote."""
        import httpx

        want = self.controller.store.get_deployment(MODEL_NAME).generation
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while True:
                models = http.get("/v1/models").json()["models"]
                got = next(m for m in models if m["name"] == MODEL_NAME)["deployment"]
                if got.get("generation") == want and not got.get("error"):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the model server did not follow deployment generation {want}: {got}"
                    )
                time.sleep(0.02)

    def state(self) -> str:
        return self.controller.store.get_loop(LOOP_NAME).state


def _webhook_receiver() -> tuple[Any, list[dict[str, Any]]]:
    """A local webhook: the loop's alerts arrive here as they would in a chat channel."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    received: list[dict[str, Any]] = []

    async def alert(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/alerts", alert, methods=["POST"])]), received


def start_ms(store: Store, wall_ms: int) -> int | str:
    """Where the demo's clock starts: after the wall clock and after everything an earlier
    demo's clock did (its traffic, its cooldown), so that the loop's window reads only this
    demo's traffic. A string says why the loop cannot run now."""
    from mloop.errors import LoopNotFound

    try:
        record = store.get_loop(LOOP_NAME)
    except LoopNotFound:
        return wall_ms + WINDOW_MS
    if record.state != "IDLE":
        return (
            f"loop {LOOP_NAME} is in state {record.state} (an interrupted demo): "
            f"`mloop loop status {LOOP_NAME}`, or start again with a fresh MLOOP_HOME"
        )
    last = max(record.updated_at, int(record.context.get("cooldown_until") or 0))
    return max(wall_ms, last) + WINDOW_MS


def run_closed_loop(
    settings: Settings, store: Store, data: dict[str, Any], err: Console
) -> dict[str, Any]:
    """Serve ``@champion`` following its deployment record, and run the two passes of the loop
    against it (see the module's docstring). Returns a JSON-ready summary."""
    import pandas as pd

    from mloop.loop import Controller, load_loop
    from mloop.monitor import PredictionLog
    from mloop.serve import create_serve_app
    from mloop.server import ServerThread
    from mloop.store import open_artifact_store, storage_options

    start = start_ms(store, time.time_ns() // 1_000_000)
    if isinstance(start, str):
        return {"skipped": start}
    clock = DemoClock(start)
    artifacts = open_artifact_store(settings.artifacts, storage_options(settings))
    population = pd.concat([data["train_frame"], data["holdout_frame"]], ignore_index=True)
    log = PredictionLog(artifacts, clock=clock.seconds)
    uri = f"models:/{MODEL_NAME}@champion"
    app = create_serve_app([uri], prediction_log=log, poll_interval_s=0.05)
    hook_app, received = _webhook_receiver()
    folder = settings.home.resolve() / LOOP_NAME
    owner = f"mloop-demo:{uuid.uuid4().hex[:8]}"
    made: list[LoopTransition] = []

    def show(t: LoopTransition) -> None:
        made.append(t)
        style = _STYLE.get(t.to_state, "")
        to = f"[{style}]{t.to_state}[/]" if style else t.to_state
        err.print(
            f"  [dim]t+{(t.time - clock.start_ms) / MIN:>3.0f}m[/] {t.from_state} → {to}  "
            f"[dim]{escape(t.reason)}[/]",
            soft_wrap=True,
            highlight=False,
        )

    started = time.perf_counter()
    with ServerThread(hook_app) as hook, ServerThread(app) as server:
        paths = write_loop_files(folder, f"{hook.url}/alerts")
        err.print(
            f"\n[bold]closed loop[/] {LOOP_NAME} on {uri} served at {server.url}, on a clock "
            f"that runs an hour in seconds [dim](files in {folder})[/]",
            soft_wrap=True,
        )
        controller = Controller(
            load_loop(paths["retrain"]),
            store=store,
            artifacts=artifacts,
            clock=clock,
            owner=owner,
            on_transition=show,
        )
        driver = _Driver(server.url, controller, log, clock, received)
        champion_before = _champion(store)
        try:
            first = _first_pass(driver, population, err)
            controller = Controller(
                load_loop(paths["broken"]),
                store=store,
                artifacts=artifacts,
                clock=clock,
                owner=owner,
                on_transition=show,
            )
            driver.controller = controller
            second = _second_pass(driver, population, err)
        finally:
            store.release_loop_lease(LOOP_NAME, owner)
        url = server.url
    alerts = [
        {"condition": a.condition, "status": a.status, "text": a.payload.get("text")}
        for a in store.list_alert_deliveries(LOOP_NAME, limit=200)
        if a.time >= clock.start_ms
    ]
    return {
        "name": LOOP_NAME,
        "files": {k: str(p) for k, p in paths.items()},
        "url": url,
        "clock_minutes": round((clock.now_ms() - clock.start_ms) / MIN, 1),
        "seconds": round(time.perf_counter() - started, 2),
        "champion_before": champion_before,
        "champion": _champion(store),
        "passes": [first, second],
        "transitions": [t.model_dump(mode="json", exclude={"evidence"}) for t in made],
        "alerts": alerts,
        "webhook_received": [a.get("text") for a in received],
        "requests": driver.sent,
        "versions": driver.versions,
    }


def _champion(store: Store) -> int:
    return store.get_model_version_by_alias(MODEL_NAME, "champion").version


def _tick(driver: _Driver, err: Console, what: str) -> None:
    with err.status(f"controller tick: {what}"):
        driver.controller.tick()
    # The webhook answered before the tick went on: what it received is all here.
    for alert in driver.alerts[driver.alerts_shown :]:
        err.print(f"  [yellow]webhook received[/]: {escape(alert['text'])}", soft_wrap=True)
    driver.alerts_shown = len(driver.alerts)


def _send(driver: _Driver, rows: pd.DataFrame, err: Console, what: str) -> dict[str, int]:
    from mloop.cli._demo_loop import step

    with step(err, f"sending {len(rows)} {what} requests with their labels") as line:
        versions = driver.send(rows)
        split = ", ".join(f"v{v} {n}" for v, n in sorted(versions.items()))
        line["done"] = f"sent {len(rows)} {what} requests with their labels (answered by {split})"
    return versions


def _first_pass(driver: _Driver, population: pd.DataFrame, err: Console) -> dict[str, Any]:
    clock, spec = driver.clock, driver.controller.spec
    err.print(
        f"[bold]pass 1[/]: a new scanner reads the sizes {SIZE_FACTOR:g}x larger; "
        "the retrain learns them from the labels",
        soft_wrap=True,
    )
    champion = _champion(driver.controller.store)
    seq = _seq(driver.controller.store)
    _send(driver, drifted(population, _WINDOW_ROWS, 1, texture=False), err, "drifted")
    clock.advance(spec.monitor.every_ms)
    _tick(driver, err, "monitor, retrain, gate")
    for step in range(12):  # each canary step: traffic, the hold, the analysis
        if driver.state() != "ROLLING_OUT":
            break
        driver.wait_generation()
        _send(driver, drifted(population, _STEP_ROWS, 10 + step, texture=False), err, "drifted")
        clock.advance(spec.rollout.hold_ms)
        _tick(driver, err, "analyse the canary step")
    return _outcome(driver, seq, champion)


def _second_pass(driver: _Driver, population: pd.DataFrame, err: Console) -> dict[str, Any]:
    clock, spec = driver.clock, driver.controller.spec
    store = driver.controller.store
    record = store.get_loop(LOOP_NAME)
    err.print(
        f"[bold]pass 2[/]: the textures read {TEXTURE_FACTOR:g}x larger too; the retrain is "
        "one that cannot pass the gate (it always answers the commonest class)",
        soft_wrap=True,
    )
    champion = _champion(store)
    # Past the cooldown of the first pass, and past its traffic's window.
    resume = max(int(record.context.get("cooldown_until") or 0), clock.now_ms())
    clock.advance(resume - clock.now_ms() + spec.monitor.window_ms)
    driver.wait_generation()
    _send(driver, drifted(population, _WINDOW_ROWS, 2, texture=True), err, "drifted")
    clock.advance(spec.monitor.every_ms)
    _tick(driver, err, "monitor, retrain, gate")
    outcome = _outcome(driver, record.seq, champion)
    served = _send(driver, drifted(population, 10, 3, texture=True), err, "more")
    outcome["served_after"] = served
    return outcome


def _seq(store: Store) -> int:
    """The loop's transition count (0 before its first tick)."""
    from mloop.errors import LoopNotFound

    try:
        return store.get_loop(LOOP_NAME).seq
    except LoopNotFound:
        return 0


def _outcome(driver: _Driver, after_seq: int, champion_before: int) -> dict[str, Any]:
    """The pass's transitions from the store, and where they ended."""
    store = driver.controller.store
    transitions = store.list_loop_transitions(LOOP_NAME, after_seq=after_seq)
    ends = ("PROMOTED", "GATE_FAILED", "ROLLED_BACK", "RETRAIN_FAILED")
    outcome = next((t.to_state for t in reversed(transitions) if t.to_state in ends), None)
    if outcome is None and transitions:  # the pass stopped short of an end (shown as is)
        outcome = transitions[-1].to_state
    challenger = next(
        (t.evidence.get("version") for t in transitions if t.to_state == "GATING"), None
    )
    return {
        "states": [t.to_state for t in transitions],
        "outcome": outcome,
        "challenger": challenger,
        "champion_before": champion_before,
        "champion": _champion(store),
    }


# -- the summary -------------------------------------------------------------------------------


def _path(states: list[str]) -> str:
    """``A → B x3 → C``: the states of a pass, repeats folded."""
    parts: list[list[Any]] = []
    for state in states:
        if parts and parts[-1][0] == state:
            parts[-1][1] += 1
        else:
            parts.append([state, 1])
    return " → ".join(s if n == 1 else f"{s} x{n}" for s, n in parts)


def print_closed_loop(console: Console, loop: dict[str, Any]) -> None:
    """Each pass's states and outcome, and the alerts."""
    if "skipped" in loop:
        console.print(f"[dim]closed loop skipped: {loop['skipped']}[/]", soft_wrap=True)
        return
    console.print(
        f"\nclosed loop {loop['name']}: {loop['clock_minutes']:g} min of loop time in "
        f"{loop['seconds']:.1f} s",
        soft_wrap=True,
    )
    for i, one in enumerate(loop["passes"], 1):
        outcome = one["outcome"]
        style = _STYLE.get(outcome or "", "bold")
        moved = one["champion"] != one["champion_before"]
        console.print(
            f"  pass {i}: {_path(one['states'])}: [{style}]{outcome}[/] "
            f"(challenger v{one['challenger']}), @champion "
            + (
                f"v{one['champion_before']} -> v{one['champion']}"
                if moved
                else f"stays v{one['champion']}"
            ),
            soft_wrap=True,
            highlight=False,
        )
    if loop["alerts"]:
        listed = ", ".join(f"{a['condition']} ({a['status']})" for a in reversed(loop["alerts"]))
        console.print(
            f"  alerts: {listed}; {len(loop['webhook_received'])} received by the local webhook",
            soft_wrap=True,
        )


def print_endpoint(console: Console, serving: dict[str, Any], loop: dict[str, Any] | None) -> None:
    """The served model as the demo left it: what answered, how fast, what the log holds."""
    latency = serving["latency_ms"]
    console.print(
        f"\n[bold]model endpoint[/]: {serving['model_uri']} (v{serving['version']}) answered "
        f"{serving['requests']} held-out requests at {serving['url']}/v1/models/{MODEL_NAME}"
        f":predict (server time p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms); "
        f"{serving['logged']} rows with their labels in {serving['prediction_log']}, accuracy "
        f"{serving['accuracy_from_feedback']:.3f}",
        soft_wrap=True,
    )
    if loop is not None and "skipped" not in loop:
        split = ", ".join(
            f"v{v} {n}" for v, n in sorted(loop["versions"].items(), key=lambda kv: int(kv[0]))
        )
        console.print(
            f"then, following its deployment record, {loop['requests']} requests during the "
            f"loop ({split}); [bold]@champion is v{loop['champion']}[/] now "
            f"(v{loop['champion_before']} before the loop). Both servers stopped with the demo.",
            soft_wrap=True,
        )
