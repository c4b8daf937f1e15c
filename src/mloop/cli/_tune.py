"""``mloop tune FILE:OBJECTIVE``: hyperparameter search, with a progress bar and the best trial."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop.cli._context import CliState
from mloop.cli._output import emit_json, fmt_number, stderr, stdout
from mloop.errors import InvalidArgument

if TYPE_CHECKING:
    from mloop.pipeline._tune import TuneResult


def load_objective(target: str) -> Any:
    """The function ``OBJECTIVE`` of ``FILE:OBJECTIVE`` (a ``.py`` file) or ``module:OBJECTIVE``.

    Raises:
        InvalidArgument: no such file, module or function.
    """
    source, sep, attr = target.rpartition(":")
    if not sep or not source or not attr:
        raise InvalidArgument(
            f"expected FILE:OBJECTIVE (train.py:objective) or module:OBJECTIVE, got {target!r}"
        )
    path = Path(source)
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise InvalidArgument(f"no such file: {source!r}")
        # A unique module name, registered so that the objective pickles by value for Ray.
        name = f"mloop_tune_objective_{path.stem}_{abs(hash(str(path.resolve()))):x}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, str(path.resolve().parent))
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.resolve().parent))
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise InvalidArgument(f"cannot import module {source!r}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise InvalidArgument(f"{source} has no function {attr!r}")
    return fn


def _print_best(result: TuneResult) -> None:
    from rich.table import Table

    console = stdout()
    if result.best_trial_number is None:
        console.print(f"study {result.study_name}: no trial completed")
        return
    table = Table(title=f"best trial of study {result.study_name}", show_edge=False)
    table.add_column("field")
    table.add_column("value", justify="right")
    table.add_row("trial", str(result.best_trial_number))
    if result.best_value is not None:
        table.add_row("value", fmt_number(result.best_value, 6))
    elif result.best_values is not None:
        table.add_row("values", ", ".join(fmt_number(v, 6) for v in result.best_values))
    for name, value in (result.best_params or {}).items():
        shown = fmt_number(value, 6) if isinstance(value, float) else str(value)
        table.add_row(f"params.{name}", shown)
    table.add_row("run", result.best_trial_run_id or "-")
    table.add_row("study run", result.parent_run_id)
    if result.best_model_uri:
        table.add_row("best model", result.best_model_uri)
    table.add_row(
        "trials",
        f"{result.n_complete} complete, {result.n_pruned} pruned, {result.n_failed} failed",
    )
    console.print(table)


def tune(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="FILE:OBJECTIVE",
            help="The objective: a function objective(params, trial) -> float in a .py file "
            "(train.py:objective) or a module (pkg.train:objective).",
            show_default=False,
        ),
    ],
    space: Annotated[
        Path,
        typer.Option(
            "--space", metavar="FILE", help="The search space (YAML).", show_default=False
        ),
    ],
    trials: Annotated[
        int, typer.Option("--trials", "-n", metavar="N", help="Trials the study should reach.")
    ] = 20,
    study: Annotated[
        str | None,
        typer.Option(
            "--study", metavar="NAME", help="The study; an existing one continues. [default: new]"
        ),
    ] = None,
    direction: Annotated[
        str, typer.Option("--direction", metavar="DIR", help="minimize or maximize.")
    ] = "minimize",
    sampler: Annotated[
        str, typer.Option("--sampler", metavar="NAME", help="tpe, random, cmaes, grid or qmc.")
    ] = "tpe",
    pruner: Annotated[
        str, typer.Option("--pruner", metavar="NAME", help="median, hyperband or none.")
    ] = "median",
    engine: Annotated[
        str, typer.Option("--engine", metavar="ENGINE", help="local (threads) or ray.")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            metavar="ADDR",
            help="Ray cluster address. [default: MLOOP_RAY_ADDRESS, else a local Ray]",
            show_default=False,
        ),
    ] = None,
    parallelism: Annotated[
        int, typer.Option("--parallelism", "-j", metavar="N", help="Trials at once.")
    ] = 1,
    seed: Annotated[
        int | None,
        typer.Option("--seed", metavar="N", help="Sampler seed.", show_default=False),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", metavar="SECONDS", help="Start no trial after this.", show_default=False
        ),
    ] = None,
    experiment: Annotated[
        str | None,
        typer.Option(
            "--experiment", metavar="NAME", help="Experiment of the runs. [default: default]"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Search hyperparameters of FILE:OBJECTIVE over the space; each trial is a nested run.

    Running it again with the same --study continues the study up to --trials in total.
    """
    import optuna
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mloop.pipeline._tune import tune as run_tune

    state: CliState = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    objective = load_objective(target)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAILED": 0}
    best: list[float] = []
    sign = 1.0 if direction == "minimize" else -1.0

    progress = Progress(
        TextColumn("[bold]tuning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=stderr(),
        transient=as_json,
    )

    def detail() -> str:
        shown = fmt_number(best[0], 6) if best else "-"
        return (
            f"{counts['COMPLETE']} done, {counts['PRUNED']} pruned, "
            f"{counts['FAILED']} failed, best {shown}"
        )

    with progress:
        task = progress.add_task("tune", total=trials, detail=detail())

        def on_trial(outcome: Any) -> None:
            counts[outcome.state] = counts.get(outcome.state, 0) + 1
            if outcome.value is not None and (not best or sign * outcome.value < sign * best[0]):
                best[:] = [outcome.value]
            progress.update(task, advance=1, detail=detail())

        result = run_tune(
            objective,
            space,
            trials,
            study_name=study,
            direction=direction,
            sampler=sampler,
            pruner=pruner,
            engine=engine,
            parallelism=parallelism,
            address=address,
            timeout=timeout,
            experiment=experiment,
            seed=seed,
            on_trial=on_trial,
            settings=state.settings,
        )
        progress.update(task, completed=result.n_trials, detail=detail())
    if as_json:
        emit_json(result.to_dict())
    else:
        _print_best(result)
