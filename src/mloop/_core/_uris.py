"""Parsing of mloop URIs: ``runs:/<run_id>/<path>`` (models and datasets come later)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mloop.errors import InvalidArgument

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class RunArtifactUri:
    """A parsed ``runs:/<run_id>/<artifact/path>``."""

    run_id: str
    path: str


def parse_runs_uri(uri: str) -> RunArtifactUri:
    """Split ``runs:/<run_id>/<path>``.

    Raises:
        InvalidArgument: the URI does not have that form.
    """
    if not uri.startswith("runs:/"):
        raise InvalidArgument(f"expected a URI of the form runs:/<run_id>/<path>, got {uri!r}")
    run_id, _, path = uri[len("runs:/") :].lstrip("/").partition("/")
    if not _RUN_ID.match(run_id):
        raise InvalidArgument(f"{uri!r} does not name a run id (32 hex characters)")
    return RunArtifactUri(run_id=run_id, path=path.strip("/"))
