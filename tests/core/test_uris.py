"""Parsing of ``runs:/`` and ``models:/`` URIs: every accepted form, and clear refusals."""

from __future__ import annotations

import pytest

from mloop._core import ModelUri, RunArtifactUri, parse_models_uri, parse_runs_uri
from mloop.errors import InvalidArgument

RUN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"runs:/{RUN}/model", RunArtifactUri(RUN, "model")),
        (f"runs:/{RUN}/a/b/c.txt", RunArtifactUri(RUN, "a/b/c.txt")),
        (f"runs:///{RUN}/model/", RunArtifactUri(RUN, "model")),  # extra slashes dropped
        (f"runs:/{RUN}", RunArtifactUri(RUN, "")),  # the run's artifact root
    ],
)
def test_runs_uris_split(uri: str, expected: RunArtifactUri) -> None:
    assert parse_runs_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/churn/1", "expected a URI of the form runs:/<run_id>/<path>"),
        ("runs:/abc/model", "does not name a run id"),
        (f"runs:/{RUN.upper()}/model", "does not name a run id"),
        ("", "expected a URI of the form runs:/"),
    ],
)
def test_bad_runs_uris_are_refused(uri: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_runs_uri(uri)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/churn/3", ModelUri("churn", 3, None)),
        ("models:/churn@champion", ModelUri("churn", None, "champion")),
        ("models:/churn", ModelUri("churn", None, "latest")),
        ("models:/churn/", ModelUri("churn", None, "latest")),
        ("models:/a.b-c_d/12", ModelUri("a.b-c_d", 12, None)),
        ("models:/m@_blue-2", ModelUri("m", None, "_blue-2")),
    ],
)
def test_models_uris_split(uri: str, expected: ModelUri) -> None:
    assert parse_models_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "models:/",
        "models:/churn/notanumber",
        "models:/churn@",
        "models:/churn@1st",  # an alias starts with a letter or '_'
        "models:/-churn/1",
        "models:/churn/1/extra",
        "models:/" + "m" * 257,
        "runs:/x/model",
        None,
        3,
    ],
)
def test_bad_models_uris_are_refused(uri: object) -> None:
    with pytest.raises(InvalidArgument, match=r"expected models:/<name>/<version>"):
        parse_models_uri(uri)  # type: ignore[arg-type]
