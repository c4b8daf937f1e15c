"""``mloop demo``: the loop on a bundled data set, from data checks to a drift preview.

What a new user sees in half a minute: the train and holdout splits registered as datasets and
checked; runs with params, metric histories (boosting stages, trees of a forest), held-out
metrics, their input datasets and a registered model each; the best model gated into
``@champion``; a drift preview against the champion's reference profile; a comparison that the
search language sorts; and the same runs read back through the REST server.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop._core._tags import TAG_ERROR, TAG_SOURCE
from mloop.cli._context import state
from mloop.cli._demo_loop import (
    MODEL_NAME,
    TARGET,
    dataset_json,
    monitor_preview,
    print_loop_summary,
    register_and_gate,
    validate_data,
)
from mloop.cli._output import emit_json, fmt_number, short_id, stderr, stdout
from mloop.errors import ExperimentNotFound, InvalidArgument, MloopError

if TYPE_CHECKING:
    import numpy as np

    from mloop.store import Run, Store
    from mloop.tracking import Client

SKLEARN_HINT = "pip install 'mloop[sklearn]'"
DATASET = "sklearn.datasets.load_breast_cancer"
PRIMARY = "roc_auc"
#: The order the demo sorts by: the search language, compiled to SQL.
ORDER_BY = ("metrics.roc_auc desc", "metrics.log_loss asc")

# Interleaved so that --runs 3 already trains one model of each family.
# The first is the baseline that starts as @champion: a heavily regularized linear model.
CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("logistic_regression", {"C": 0.01}),
    ("random_forest", {"n_estimators": 100, "max_depth": 4}),
    ("gradient_boosting", {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 2}),
    ("logistic_regression", {"C": 1.0}),
    ("random_forest", {"n_estimators": 100, "max_depth": None}),
    ("gradient_boosting", {"n_estimators": 150, "learning_rate": 0.05, "max_depth": 3}),
    ("logistic_regression", {"C": 100.0}),
    ("random_forest", {"n_estimators": 200, "max_depth": 8}),
    ("gradient_boosting", {"n_estimators": 80, "learning_rate": 0.3, "max_depth": 1}),
    ("logistic_regression", {"C": 0.1}),
    ("random_forest", {"n_estimators": 60, "max_depth": 2}),
    ("gradient_boosting", {"n_estimators": 200, "learning_rate": 0.02, "max_depth": 2}),
)
_SHORT = {"logistic_regression": "logreg", "random_forest": "forest", "gradient_boosting": "gboost"}
_ABBREV = {"n_estimators": "n", "learning_rate": "lr", "max_depth": "d"}


@dataclass
class Trial:
    family: str
    params: dict[str, Any]
    seed: int
    name: str = ""
    run_id: str = ""
    model_version: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


def plan(n: int) -> list[Trial]:
    """The first ``n`` trials: the candidates, then again with other seeds."""
    trials = []
    for i in range(n):
        family, params = CANDIDATES[i % len(CANDIDATES)]
        seed = 42 + i // len(CANDIDATES)
        label = "-".join(f"{_ABBREV.get(k, k)}{v}" for k, v in params.items())
        name = f"{_SHORT[family]}-{label}" + (f"-s{seed}" if seed != 42 else "")
        trials.append(Trial(family, dict(params), seed, name))
    return trials


def demo(
    ctx: typer.Context,
    runs: Annotated[
        int, typer.Option("--runs", "-n", min=1, max=60, help="How many models to train.")
    ] = 6,
    no_server: Annotated[
        bool,
        typer.Option(
            "--no-server",
            help="Skip the steps that start servers: the model endpoint, the closed loop and "
            "the REST check.",
        ),
    ] = False,
    no_loop: Annotated[
        bool,
        typer.Option(
            "--no-loop",
            help="Skip the closed loop (the controller's two passes against the served model).",
        ),
    ] = False,
    experiment: Annotated[
        str, typer.Option("--experiment", "-e", help="The experiment to log to.")
    ] = "demo",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout (progress on stderr).")
    ] = False,
) -> None:
    """Run the whole loop on bundled data: check, train, track, gate, serve, monitor.

    The splits become the datasets demo-train and demo-holdout, each model a version of the
    registered model demo-classifier, the best gated into @champion; a drift preview against
    the champion is written to MLOOP_HOME/drift.html. Then @champion is served over HTTP to
    every held-out row, the labels go to POST /v1/feedback, and the accuracy is read back
    from the prediction log.

    Last, the closed loop: the loop controller, ticked on a clock that runs an hour in
    seconds, watches drifted traffic with labels, retrains, gates, rolls the challenger out
    in canary steps and promotes it; a second pass with a retrain that cannot pass the gate
    ends in GATE_FAILED with an alert to a local webhook, the champion still serving. Its
    files are in MLOOP_HOME/demo-loop; `mloop loop history demo-loop` shows every transition.

    Needs scikit-learn: [bold]pip install 'mloop\\[sklearn]'[/].
    """
    started = time.perf_counter()
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise MloopError(f"mloop demo trains scikit-learn models: {SKLEARN_HINT}") from None
    from mloop.registry import Registry
    from mloop.tracking import Client

    cli_state = state(ctx)
    settings = cli_state.settings
    client = Client(settings=settings)
    exp = _experiment(client, experiment)
    data = _load_data()
    trials = plan(runs)
    err = stderr()
    if not as_json:
        err.print(
            f"[bold]mloop demo[/]: {len(trials)} models on breast_cancer "
            f"({data['train_rows']} train / {data['test_rows']} held-out rows) "
            f"-> experiment {exp.name!r} in {client.store.uri}",
            soft_wrap=True,
        )
    validation = validate_data(data, err)
    _train_all(client, exp.experiment_id, trials, data, validation, err)
    ranked = _ranked(client, exp.experiment_id, trials)
    versions = {t.run_id: t.model_version for t in trials}
    registry = Registry(client.store)
    gate = register_and_gate(
        registry,
        trials[0].model_version,
        versions[ranked[0].run_id],
        data["holdout_frame"],
        err,
    )
    monitor = monitor_preview(gate["champion"], data["x_test"], settings.home.resolve(), err)
    serving = None if no_server else _serve(settings, data, err)
    loop = None
    if serving is not None and "skipped" not in serving and not no_loop:
        from mloop.cli._demo_closed_loop import run_closed_loop

        loop = run_closed_loop(settings, client.store, data, err)
    server = None if no_server else _server_check(client.store, exp.experiment_id, ranked)
    elapsed = time.perf_counter() - started
    if as_json:
        emit_json(
            {
                "experiment": {"experiment_id": exp.experiment_id, "name": exp.name},
                "tracking_uri": client.tracking_uri,
                "dataset": {
                    "name": DATASET,
                    "sha256": data["sha256"],
                    "train_rows": data["train_rows"],
                    "test_rows": data["test_rows"],
                },
                "data": {
                    "train": dataset_json(validation["train"]),
                    "holdout": dataset_json(validation["holdout"]),
                    "checks": validation["checks"],
                },
                "order_by": list(ORDER_BY),
                "runs": [
                    {
                        "run_id": r.run_id,
                        "run_name": r.info.run_name,
                        "status": r.info.status.value,
                        "params": r.data.params,
                        "metrics": {k: m.value for k, m in r.data.metrics.items()},
                        "model_version": versions[r.run_id],
                    }
                    for r in ranked
                ],
                "best_run_id": ranked[0].run_id if ranked else None,
                "registry": gate,
                "drift": monitor,
                "serving": serving,
                "loop": loop,
                "server": server,
                "seconds": round(elapsed, 2),
            }
        )
        return
    _print_summary(ranked, exp.name, server)
    console = stdout()
    print_loop_summary(console, validation, gate, monitor)
    _print_next(
        console, ranked, exp.name, cli_state.tracking_uri, monitor["report"], serving, loop, elapsed
    )


# -- training ----------------------------------------------------------------------------------


def _experiment(client: Client, name: str) -> Any:
    try:
        exp = client.get_experiment_by_name(name)
    except ExperimentNotFound:
        return client.create_experiment(name, tags={TAG_SOURCE: "mloop demo"})
    if exp.lifecycle_stage != "active":
        raise InvalidArgument(
            f"experiment {name!r} is deleted: `mloop experiments restore {exp.experiment_id}` "
            "or pass --experiment with another name"
        )
    return exp


def _load_data() -> dict[str, Any]:
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    x = frame.drop(columns=[TARGET]).astype(np.float64)
    y = frame[TARGET].astype(np.int64)
    digest = hashlib.sha256()
    digest.update(f"{x.shape}|{x.to_numpy().dtype}|{y.to_numpy().dtype}".encode())
    digest.update(np.ascontiguousarray(x.to_numpy()).tobytes())
    digest.update(np.ascontiguousarray(y.to_numpy()).tobytes())
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=0
    )
    x_train, x_test = x_train.reset_index(drop=True), x_test.reset_index(drop=True)
    y_train, y_test = y_train.reset_index(drop=True), y_test.reset_index(drop=True)
    return {
        "x_train": x_train,
        "x_test": x_test,
        "y_train": y_train.to_numpy(),
        "y_test": y_test.to_numpy(),
        # The registered splits: the features and the label, as a gate reads them.
        "train_frame": x_train.assign(**{TARGET: y_train}),
        "holdout_frame": x_test.assign(**{TARGET: y_test}),
        "sha256": digest.hexdigest(),
        "train_rows": len(y_train),
        "test_rows": len(y_test),
    }


def _build(trial: Trial) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    p = trial.params
    if trial.family == "logistic_regression":
        return Pipeline(
            [("scale", StandardScaler()), ("model", LogisticRegression(C=p["C"], max_iter=5000))]
        )
    if trial.family == "random_forest":
        return RandomForestClassifier(
            n_estimators=p["n_estimators"], max_depth=p["max_depth"], random_state=trial.seed
        )
    return GradientBoostingClassifier(
        n_estimators=p["n_estimators"],
        learning_rate=p["learning_rate"],
        max_depth=p["max_depth"],
        random_state=trial.seed,
    )


def _train_all(
    client: Client,
    experiment_id: str,
    trials: list[Trial],
    data: dict[str, Any],
    inputs: dict[str, Any],
    err: Any,
) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("training", total=len(trials))
        for trial in trials:
            progress.update(task, description=f"training {trial.name}")
            _train_one(client, experiment_id, trial, data, inputs)
            progress.advance(task)
        first, last = trials[0].model_version, trials[-1].model_version
        progress.update(
            task,
            description=f"trained {len(trials)} models, registered as {MODEL_NAME} "
            + (f"v{first}" if first == last else f"v{first}-v{last}"),
        )


def _train_one(
    client: Client, experiment_id: str, trial: Trial, data: dict[str, Any], inputs: dict[str, Any]
) -> None:
    """One run: params, metric histories and held-out metrics through the client; the input
    datasets and the model (registered) through the fluent API, which needs the run active."""
    import mloop
    from mloop.models import log_model

    active = mloop.start_run(
        experiment_id=experiment_id,
        run_name=trial.name,
        tags={
            "dataset.name": DATASET,
            "dataset.sha256": data["sha256"],
            "model.family": trial.family,
        },
    )
    trial.run_id = run_id = active.run_id
    try:
        mloop.log_input(inputs["train"], context="train")
        mloop.log_input(inputs["holdout"], context="eval")
        client.log_params(
            run_id,
            {
                "model": trial.family,
                **trial.params,
                "seed": trial.seed,
                "test_size": 0.25,
                "train_rows": data["train_rows"],
            },
        )
        model = _build(trial)
        t0 = time.perf_counter()
        model.fit(data["x_train"], data["y_train"])
        fit_s = time.perf_counter() - t0
        _log_history(client, run_id, trial, model, data)
        trial.metrics = _final_metrics(model, data) | {"fit_time_s": fit_s}
        client.log_metrics(run_id, trial.metrics, step=0)
        info = log_model(
            model,
            "model",
            input_example=data["x_train"].head(5),
            registered_model_name=MODEL_NAME,
            reference_data=data["x_train"],
        )
        assert info.registered_model_version is not None
        trial.model_version = info.registered_model_version.version
    except BaseException as exc:
        client.set_tag(run_id, TAG_ERROR, f"{type(exc).__name__}: {exc}"[:1000])
        client.flush()
        active.end("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    client.flush()
    active.end()


def _log_history(
    client: Client, run_id: str, trial: Trial, model: Any, data: dict[str, Any]
) -> None:
    """Metric series where the model has stages: boosting iterations, trees of a forest."""
    import numpy as np

    y = data["y_test"]
    if trial.family == "gradient_boosting":
        probs = np.stack([p[:, 1] for p in model.staged_predict_proba(data["x_test"])])
        steps = np.arange(1, len(probs) + 1, dtype=np.int64)
        client.log_metrics(
            run_id,
            {
                "train_loss": np.asarray(model.train_score_, dtype=np.float64),
                "val_log_loss": _log_losses(probs, y),
                "val_accuracy": ((probs >= 0.5) == y).mean(axis=1),
            },
            step=steps,
        )
    elif trial.family == "random_forest":
        # The trees were fitted on arrays, without the frame's column names.
        x_test = data["x_test"].to_numpy(dtype=np.float32)
        per_tree = np.stack([t.predict_proba(x_test)[:, 1] for t in model.estimators_])
        steps = np.arange(1, len(per_tree) + 1, dtype=np.int64)
        probs = np.cumsum(per_tree, axis=0) / steps[:, None]
        client.log_metrics(
            run_id,
            {"val_log_loss": _log_losses(probs, y), "val_accuracy": ((probs >= 0.5) == y).mean(1)},
            step=steps,
        )
    else:
        client.log_metric(run_id, "n_iter", float(model[-1].n_iter_[0]), step=0)


def _log_losses(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Binary log loss of each row of ``probs`` (stages x samples) against ``y``."""
    import numpy as np

    p = np.clip(probs, 1e-15, 1 - 1e-15)
    return np.asarray(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1))


def _final_metrics(model: Any, data: dict[str, Any]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    y_test = data["y_test"]
    proba = model.predict_proba(data["x_test"])[:, 1]
    pred = (proba >= 0.5).astype(y_test.dtype)
    return {
        "accuracy": float(accuracy_score(y_test, pred)),
        "roc_auc": float(roc_auc_score(y_test, proba)),
        "f1": float(f1_score(y_test, pred)),
        "log_loss": float(log_loss(y_test, proba, labels=[0, 1])),
        "train_accuracy": float(accuracy_score(data["y_train"], model.predict(data["x_train"]))),
    }


def _ranked(client: Client, experiment_id: str, trials: list[Trial]) -> list[Run]:
    """This invocation's runs, best first, ordered by the store (not in Python)."""
    ids = ", ".join(f"'{t.run_id}'" for t in trials)
    page = client.search_runs(
        [experiment_id], f"run_id IN ({ids})", list(ORDER_BY), max_results=len(trials)
    )
    return page.runs


# -- the model endpoint, the server check -------------------------------------------------------


def _serve(settings: Any, data: dict[str, Any], err: Any) -> dict[str, Any]:
    try:
        import mloop.serve  # noqa: F401
        from mloop.cli._demo_serve import serve_preview
    except ImportError as exc:
        return {"skipped": f"{exc.name} is missing: pip install 'mloop[server]'"}
    return serve_preview(settings, data["x_test"], data["y_test"], err)


def _server_check(store: Store, experiment_id: str, runs: list[Run]) -> dict[str, Any]:
    """Serve the store from a background thread, ask /healthz and search the runs over REST."""
    if store.uri.startswith(("http://", "https://")):
        return {"skipped": f"the runs are on the server {store.uri} already"}
    try:
        import httpx

        from mloop.server import ServerThread, create_app
    except ImportError as exc:
        return {"skipped": f"{exc.name} is missing: pip install 'mloop[server]'"}
    t0 = time.perf_counter()
    with ServerThread(create_app(store)) as server:
        startup_s = time.perf_counter() - t0
        with httpx.Client(base_url=server.url, timeout=30) as http:
            health = http.get("/healthz")
            ids = ", ".join(f"'{r.run_id}'" for r in runs)
            found = http.post(
                "/api/v1/runs/search",
                json={
                    "experiment_ids": [experiment_id],
                    "filter": f"run_id IN ({ids})",
                    "order_by": list(ORDER_BY),
                    "max_results": max(1, len(runs)),
                },
            )
        url = server.url
    if health.status_code != 200 or found.status_code != 200:
        raise MloopError(
            f"the server check failed: GET /healthz -> {health.status_code}, "
            f"POST /api/v1/runs/search -> {found.status_code}: {found.text[:300]}"
        )
    served = [r["info"]["run_id"] for r in found.json()["runs"]]
    if served != [r.run_id for r in runs]:
        raise MloopError(
            f"the server check failed: the server returned {len(served)} runs, "
            f"expected {len(runs)} in the same order"
        )
    return {
        "url": url,
        "healthz": health.json().get("status"),
        "runs_visible": len(served),
        "startup_s": round(startup_s, 3),
    }


# -- the summary -------------------------------------------------------------------------------


def _print_summary(
    ranked: list[Run],
    experiment: str,
    server: dict[str, Any] | None,
) -> None:
    from rich.table import Table
    from rich.text import Text

    console = stdout()
    table = Table(
        title=f"{experiment}: {len(ranked)} runs, best first ({ORDER_BY[0]})",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("", no_wrap=True)
    table.add_column("run", no_wrap=True)
    table.add_column(
        "name",
        no_wrap=True,
        min_width=min(26, max(len(r.info.run_name) for r in ranked)) if ranked else None,
    )
    for key in ("roc_auc", "accuracy", "f1", "log_loss"):
        table.add_column(key, justify="right", no_wrap=True)
    for i, run in enumerate(ranked):
        m = run.data.metrics
        table.add_row(
            "★" if i == 0 else str(i + 1),
            short_id(run.run_id),
            run.info.run_name,
            *(
                fmt_number(m[k].value, 4) if k in m else "-"
                for k in ("roc_auc", "accuracy", "f1", "log_loss")
            ),
            style="bold green" if i == 0 else None,
        )
    console.print(table)
    if ranked:
        best = ranked[0]
        console.print(
            Text.assemble(
                "best run: ",
                (best.info.run_name, "bold green"),
                f" ({short_id(best.run_id)}) with {PRIMARY} "
                f"{fmt_number(best.data.metrics[PRIMARY].value, 4)}",
            )
        )
    if server is not None:
        if "skipped" in server:
            console.print(f"[dim]server check skipped: {server['skipped']}[/]")
        else:
            console.print(
                f"server check: GET /healthz -> {server['healthz']!r}, "
                f"POST /api/v1/runs/search -> {server['runs_visible']} runs "
                f"(a server on {server['url']}, up in {server['startup_s']:.2f} s, now stopped)",
                soft_wrap=True,
            )


def _print_next(
    console: Any,
    ranked: list[Run],
    experiment: str,
    tracking_uri: str | None,
    drift_report: str,
    serving: dict[str, Any] | None,
    loop: dict[str, Any] | None,
    elapsed: float,
) -> None:
    from mloop.cli._demo_closed_loop import LOOP_NAME, print_closed_loop, print_endpoint

    prefix = "mloop" if tracking_uri is None else f"mloop --tracking-uri {tracking_uri}"
    exp_arg = (
        experiment
        if experiment.replace("-", "").replace("_", "").isalnum()
        else (f'"{experiment}"')
    )
    console.print(f"drift report: {drift_report}", soft_wrap=True)
    if serving is not None and "skipped" in serving:
        console.print(f"[dim]model endpoint skipped: {serving['skipped']}[/]")
    if loop is not None:
        print_closed_loop(console, loop)
    console.print(f"\ntrained {len(ranked)} models and ran the loop in {elapsed:.1f} s. Next:")
    commands = [f'{prefix} runs list --experiment {exp_arg} --order-by "metrics.roc_auc desc"']
    if len(ranked) >= 2:
        commands.append(
            f"{prefix} runs compare {short_id(ranked[0].run_id)} {short_id(ranked[1].run_id)}"
        )
    if ranked:
        commands.append(f"{prefix} runs show {short_id(ranked[0].run_id)}")
    commands.append(f"{prefix} models history {MODEL_NAME}")
    if loop is not None and "skipped" not in loop:
        commands.append(f"{prefix} loop history {LOOP_NAME}")
    for command in commands:
        console.print(f"  {command}", soft_wrap=True)
    # The end: the endpoint as the demo left it, and where to look at it live.
    if serving is not None and "skipped" not in serving:
        print_endpoint(console, serving, loop)
    console.print(
        f"\n[bold]live[/]: {prefix} serve models:/{MODEL_NAME}@champion --port 8080   "
        "[dim]# OpenAPI at http://127.0.0.1:8080/docs[/]",
        soft_wrap=True,
    )
    console.print(
        f"[bold]UI[/]: {prefix} server, then open "
        f"http://127.0.0.1:5000/ui/monitoring/{MODEL_NAME}   "
        "[dim]# the deployment, aliases and loop of the model; API docs at /docs[/]",
        soft_wrap=True,
    )
