"""Live analysis of a rollout step: the canary (challenger) against the champion, per version,
from the prediction log every replica shares, and optionally the replicas' own ``/metrics``.

Values a rule can name (the same expression language as gate policies), for the canary, and
with ``champion.`` for the champion: ``rows``, ``p50_latency_ms``, ``p99_latency_ms``,
``mean_latency_ms``, ``online.accuracy`` (on joined feedback labels, once at least
``min_labels`` arrived), ``error_rate`` and ``errors`` (failed requests over requests, from
the prediction log's failed rows per version; from the ``/metrics`` of ``rollout.endpoints``
instead when they are given and answer, as those count every request, unsampled; a replica
that is down is reported and skipped).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from mloop.loop._monitor import labelled

if TYPE_CHECKING:
    import pandas as pd

    from mloop.store import ArtifactStore

__all__ = ["ANALYSIS_NAMES", "analyse", "check_rules", "evaluate_rules", "scrape_errors"]

logger = logging.getLogger("mloop.loop")

_SAMPLE = re.compile(
    r"^(mloop_serve_(?:requests|errors)_total)\{([^}]*)\}\s+([0-9.eE+\-]+|NaN|\+Inf)\s*$"
)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
MIN_ONLINE_LABELS = 20


def _version_values(frame: pd.DataFrame) -> dict[str, float | None]:
    values: dict[str, float | None] = {"rows": float(len(frame))}
    if len(frame) and "latency_ms" in frame.columns:
        lat = frame["latency_ms"].dropna()
        if len(lat):
            values["p50_latency_ms"] = float(lat.quantile(0.5))
            values["p99_latency_ms"] = float(lat.quantile(0.99))
            values["mean_latency_ms"] = float(lat.mean())
    labels = labelled(frame)
    if len(labels) >= MIN_ONLINE_LABELS and "output" in labels.columns:
        values["online.accuracy"] = float(
            (labels["output"].astype(str) == labels["label"].astype(str)).mean()
        )
    values["online.labels"] = float(len(labels))
    return values


def scrape_errors(
    endpoints: list[str], model: str
) -> tuple[dict[str, dict[str, float]], list[dict[str, str]]]:
    """Requests and errors per version summed over the replicas' ``/metrics``; and the
    replicas that could not be read."""
    import httpx

    totals: dict[str, dict[str, float]] = {}
    down: list[dict[str, str]] = []
    for url in endpoints:
        try:
            text = httpx.get(url.rstrip("/") + "/metrics", timeout=5.0).text
        except httpx.HTTPError as exc:
            down.append({"endpoint": url, "error": f"{type(exc).__name__}: {exc}"})
            continue
        for line in text.splitlines():
            m = _SAMPLE.match(line)
            if m is None:
                continue
            labels = dict(_LABEL.findall(m.group(2)))
            if labels.get("model") != model:
                continue
            kind = "requests" if m.group(1).startswith("mloop_serve_requests") else "errors"
            bucket = totals.setdefault(labels.get("version", "?"), {"requests": 0.0, "errors": 0.0})
            bucket[kind] += float(m.group(3))
    return totals, down


def analyse(
    artifacts: ArtifactStore,
    model: str,
    *,
    champion: int | None,
    challenger: int,
    start_ms: int,
    end_ms: int,
    endpoints: list[str] | None = None,
) -> dict[str, Any]:
    """The values of the canary and the champion over ``[start, end)``."""
    from mloop.monitor import read_predictions

    frame = read_predictions(
        artifacts, model, start=start_ms / 1000, end=end_ms / 1000, failed=True
    )
    if "shadow" in frame.columns:
        frame = frame[~frame["shadow"].fillna(False).astype(bool)]
    failures: dict[str, dict[str, float]] = {}
    for version, rows in frame.groupby("version"):
        requests = rows["request_id"].nunique()
        bad = rows["request_id"][rows["status"].notna()].nunique() if "status" in rows else 0
        failures[str(version)] = {
            "errors": float(bad),
            "error_rate": bad / requests if requests else 0.0,
        }
    if "status" in frame.columns:
        frame = frame[frame["status"].isna()]
    out: dict[str, Any] = {
        "window_start": start_ms,
        "window_end": end_ms,
        "canary": _version_values(frame[frame["version"] == str(challenger)]),
        "champion": _version_values(frame[frame["version"] == str(champion)])
        if champion is not None
        else {},
    }
    for side, version in (("canary", challenger), ("champion", champion)):
        if version is not None and str(version) in failures:
            out[side].update(failures[str(version)])
    if endpoints:
        totals, down = scrape_errors(endpoints, model)
        out["replicas_down"] = down
        for side, version in (("canary", challenger), ("champion", champion)):
            t = totals.get(str(version))
            if t is not None:
                answered = t["requests"] + t["errors"]
                out[side]["errors"] = t["errors"]
                out[side]["error_rate"] = t["errors"] / answered if answered else 0.0
    return out


class _Values:
    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    @property
    def metrics(self) -> dict[str, Any]:
        return self._values

    def lookup(self, name: str) -> float | None:
        value = self._values.get(name)
        return None if value is None else float(value)


def evaluate_rules(rules: list[str], analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply each analysis rule to the canary (left) and the champion (``champion.``)."""
    from mloop.evaluate import GatePolicy

    policy = GatePolicy.from_rules(rules, source="rollout.analysis")
    applied = policy.apply(_Values(analysis["canary"]), _Values(analysis.get("champion") or {}))
    return [r.to_dict() for r in applied]


#: The names analysis rules may use (besides ``champion.`` of each).
ANALYSIS_NAMES = (
    "rows",
    "p50_latency_ms",
    "p99_latency_ms",
    "mean_latency_ms",
    "online.accuracy",
    "online.labels",
    "error_rate",
    "errors",
)


def check_rules(rules: list[str]) -> None:
    """Parse the analysis rules and refuse unknown names (at load time, with the column)."""
    from mloop.evaluate import GatePolicy

    GatePolicy.from_rules(rules, source="rollout.analysis").check_names(ANALYSIS_NAMES)
