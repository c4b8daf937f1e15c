"""Every pipeline run is a tracked run with one nested run per step."""

from __future__ import annotations

from tests.pipeline.conftest import Project, client

import mloop.pipeline as mp

FLOW = """
@step
def load(n: int):
    return list(range(n))

@step
def train(data, alpha: float):
    mloop.log_param("alpha", alpha)
    mloop.log_metric("loss", 1.0 - alpha)
    mloop.set_tag("model", "linear")
    return sum(data) * alpha

@pipeline
def flow(n: int = 3, alphas: list = [0.1, 0.2]):
    data = load(n)
    return [train(data, a) for a in alphas]
"""


def test_pipeline_and_step_runs(project: Project) -> None:
    project.write("flow.py", FLOW)
    target = project.target("flow.py", "flow")
    result = mp.run(target, {"n": 4}, experiment="pipes")
    assert result.status == "finished"
    c = client()
    parent = c.get_run(result.run_id)
    assert parent.info.status.value == "FINISHED"
    tags = parent.data.tags
    assert tags["mloop.pipeline.name"] == "flow"
    assert tags["mloop.pipeline.target"] == f"{project.root / 'flow.py'}:flow"  # not in git
    assert parent.data.params == {"n": "4", "alphas": "[0.1, 0.2]"}
    assert c.get_experiment(parent.info.experiment_id).name == "pipes"
    for s in result.steps:
        run = c.get_run(s.run_id)
        assert run.info.parent_run_id == result.run_id
        assert run.info.status.value == "FINISHED"
        t = run.data.tags
        assert t["mloop.step.name"] == s.name
        assert t["mloop.step.id"] == s.step_id
        assert t["mloop.step.cache_key"] == s.cache_key
        assert t["mloop.step.cached"] == "false"
        assert t["mloop.step.output.sha256"] == s.output_sha256
        assert t["mloop.step.output.path"] == f"pipeline-cache/{s.cache_key}/result.pkl"
    # what a step logs through the fluent API lands on that step's own run
    for step_id, alpha in (("train", 0.1), ("train.1", 0.2)):
        run = c.get_run(result.step(step_id).run_id)
        assert run.data.params == {"alpha": str(alpha)}
        assert run.data.metrics["loss"].value == 1.0 - alpha
        assert run.data.tags["model"] == "linear"
        assert '"from": ["load"]' in run.data.tags["mloop.step.inputs"]
    assert "loss" not in parent.data.metrics


def test_cached_steps_point_at_the_run_that_produced_them(project: Project) -> None:
    project.write("flow.py", FLOW)
    target = project.target("flow.py", "flow")
    first = mp.run(target)
    second = mp.run(target)
    c = client()
    for a, b in zip(first.steps, second.steps, strict=True):
        assert b.status == "cached"
        tags = c.get_run(b.run_id).data.tags
        assert tags["mloop.step.cached"] == "true"
        assert tags["mloop.step.cached_from"] == a.run_id
        assert tags["mloop.step.output.sha256"] == a.output_sha256
        assert c.get_run(b.run_id).info.parent_run_id == second.run_id


def test_a_pipeline_inside_an_active_run_nests_under_it(project: Project) -> None:
    import mloop.tracking as tracking

    project.write("flow.py", FLOW)
    with tracking.start_run(run_name="outer") as outer:
        result = mp.run(project.target("flow.py", "flow"))
        assert tracking.active_run() is outer
    assert client().get_run(result.run_id).info.parent_run_id == outer.run_id


def test_datasets_passed_to_a_step_are_its_inputs(project: Project) -> None:
    import pandas as pd

    import mloop.data

    ds = mloop.data.register(pd.DataFrame({"x": [1, 2, 3]}), "lineage-train")
    project.write(
        "ds.py",
        """
        @step
        def rows(data):
            return data.load().shape[0]

        @pipeline
        def flow(data):
            return rows(data)
        """,
    )
    target = project.target("ds.py", "flow")
    result = mp.run(target, {"data": ds})
    assert result.output == 3
    c = client()
    inputs = c.store.get_run_inputs(result.step("rows").run_id)
    assert [(i.dataset_name, i.dataset_version, i.context) for i in inputs] == [
        ("lineage-train", 1, "data")
    ]
    # the dataset enters the key by its digest: a new version re-runs the step
    assert mp.run(target, {"data": ds}).step("rows").status == "cached"
    ds2 = mloop.data.register(pd.DataFrame({"x": [1, 2, 3, 4]}), "lineage-train")
    assert mp.run(target, {"data": ds2}).output == 4


def test_dataframe_results_are_stored_as_parquet(project: Project) -> None:
    project.write(
        "df.py",
        """
        import pandas as pd

        @step
        def make():
            return pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})

        @step
        def width(df):
            return list(df.columns)

        @pipeline
        def flow():
            return make(), width(make())
        """,
    )
    result = mp.run(project.target("df.py", "flow"))
    assert result.step("make").output_path.endswith("/result.parquet")
    again = mp.run(project.target("df.py", "flow"))
    frame, cols = again.output
    assert list(frame["b"]) == ["x", "y"] and cols == ["a", "b"]
