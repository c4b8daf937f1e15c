"""``mloop loop``: run the closed loop of a ``loop.yaml`` (the controller), and read its status
and history."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli._context import open_store
from mloop.cli._output import emit_json, fmt_time, print_notice, stdout

app = typer.Typer(
    help="The closed loop: monitor, alert, retrain, gate, roll out and roll back a served model "
    "as a loop.yaml declares, with its state in the metadata store.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
LoopName = Annotated[
    str, typer.Argument(help="The loop's name (name: in loop.yaml).", show_default=False)
]


def _line(t: Any) -> str:
    return f"{fmt_time(t.time)}  #{t.seq:<4} {t.from_state} -> {t.to_state}  {t.reason}"


@app.command("run")
def run(
    ctx: typer.Context,
    loop_file: Annotated[
        Path,
        typer.Argument(help="The loop.yaml.", show_default=False, metavar="LOOP.yaml"),
    ],
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="One tick, then exit: for cron, a Kubernetes CronJob or CI. The state lives "
            "in the store, so the next call resumes where this one stopped.",
        ),
    ] = False,
    interval: Annotated[
        float,
        typer.Option("--interval", min=0.05, help="Seconds between ticks (without --once)."),
    ] = 5.0,
    lease_ttl: Annotated[
        float,
        typer.Option(
            "--lease-ttl",
            min=0.1,
            help="Seconds the controller's lease lasts without renewal (each tick renews it): "
            "after a crash, another controller takes the loop over once it runs out.",
        ),
    ] = 120.0,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            metavar="ENGINE",
            help="local or ray: where monitor runs profile new log segments and the retrain "
            "pipeline runs \\[default: monitor.engine and retrain.engine of LOOP.yaml]",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the loop controller of LOOP.yaml: one controller per loop (a lease in the store; a
    second one exits with a message). Each transition is printed as it is made.

    Example: [bold]mloop loop run loop.yaml --once[/]
    """
    from mloop.loop import Controller, load_loop

    if engine is not None and engine not in ("local", "ray"):
        raise typer.BadParameter(f"{engine!r} is not local or ray", param_hint="--engine")
    spec = load_loop(loop_file)
    if engine is not None:
        spec = spec.with_engine(engine)  # type: ignore[arg-type]
    store = open_store(ctx)
    from mloop.store import current

    made: list[Any] = []

    def show(t: Any) -> None:
        made.append(t)
        if not as_json:
            stdout().print(_line(t), soft_wrap=True)

    controller = Controller(
        spec,
        store=store,
        artifacts=current().artifacts,
        lease_ttl_ms=round(lease_ttl * 1000),
        ray_address=current().settings.ray_address or None,
        on_transition=show,
    )
    if once:
        controller.tick()
        store.release_loop_lease(spec.name, controller.owner)
    else:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        print_notice(f"loop {spec.name}: controller {controller.owner} running (Ctrl-C stops)")
        controller.run(interval_s=interval, should_stop=stop.is_set, sleep=stop.wait)
    if as_json:
        from mloop.loop import loop_status

        emit_json(
            {
                "transitions": [t.model_dump(mode="json") for t in made],
                "status": loop_status(store, spec.name),
            }
        )


@app.command("status")
def status(ctx: typer.Context, name: LoopName, as_json: JsonOption = False) -> None:
    """The state of a loop, its rollout step, its last monitor result and its next action.

    Example: [bold]mloop loop status churn[/]
    """
    from mloop.loop import loop_status

    info = loop_status(open_store(ctx), name)
    if as_json:
        emit_json(info)
        return
    out = stdout()
    out.print(f"loop {info['name']} (model {info['model']}): [bold]{info['state']}[/]")
    if "step" in info:
        out.print(f"  rollout step {info['step']['index']}: canary at {info['step']['weight']}%")
    when = info["next_action_at"]
    out.print(f"  next: {info['next_action']}" + (f" at {fmt_time(when)}" if when else ""))
    if info.get("cooldown_until"):
        out.print(f"  retrain cooldown until {fmt_time(info['cooldown_until'])}")
    last = info["last_monitor"]
    if last is not None:
        result = last["result"]
        drift = (result.get("drift") or {}).get("drifted_share")
        out.print(
            f"  last monitor run {fmt_time(last['time'])}: {last['status']}, "
            f"{result.get('rows', 0)} rows, {result.get('labels', 0)} labels"
            + (f", {drift:.0%} of columns drifted" if drift is not None else "")
        )
    lease = info["lease"]
    if lease["owner"]:
        out.print(f"  controller {lease['owner']} (lease until {fmt_time(lease['expires'])})")


@app.command("history")
def history(ctx: typer.Context, name: LoopName, as_json: JsonOption = False) -> None:
    """Every transition of a loop with its reason and evidence, oldest first.

    Example: [bold]mloop loop history churn --json[/]
    """
    store = open_store(ctx)
    transitions = store.list_loop_transitions(name)
    if as_json:
        emit_json([t.model_dump(mode="json") for t in transitions])
        return
    for t in transitions:
        stdout().print(_line(t), soft_wrap=True)
    if not transitions:
        stdout().print(f"loop {name} has made no transition yet")
