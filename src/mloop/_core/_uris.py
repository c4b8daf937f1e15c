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


_MODEL_URI = re.compile(
    r"^models:/(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]{0,255})"
    r"(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z_][A-Za-z0-9_\-]{0,63}))?/?$"
)


@dataclass(frozen=True, slots=True)
class ModelUri:
    """A parsed ``models:/<name>/<version>``, ``models:/<name>@<alias>`` or ``models:/<name>``
    (the latest version)."""

    name: str
    version: int | None = None
    alias: str | None = None


def parse_models_uri(uri: str) -> ModelUri:
    """Split a ``models:/`` URI.

    Raises:
        InvalidArgument: the URI does not have one of the three forms.
    """
    m = _MODEL_URI.match(uri) if isinstance(uri, str) else None
    if m is None:
        raise InvalidArgument(
            f"expected models:/<name>/<version>, models:/<name>@<alias> or models:/<name>, "
            f"got {uri!r}"
        )
    version = m.group("version")
    alias = m.group("alias")
    if version is None and alias is None:
        alias = "latest"
    return ModelUri(m.group("name"), int(version) if version else None, alias)
