"""Traffic policies (``deploy.yaml``): canary weights over versions, sticky callers, shadow copies.

::

    models:
      churn:                         # a served name
        canary:                      # each request picks one entry by weight
          - {uri: "models:/churn@champion", weight: 90}
          - {version: 4, weight: 10}
        sticky_key: x-user-id        # optional: a header (or top-level body field) that pins a
                                     # caller to one entry: a stable hash, the same on every replica
        shadow: "models:/churn@challenger"   # optional: gets a copy of each request after the
                                             # answer; its result is logged, never returned
        shadow_max_pending: 64       # optional: copies in flight before new ones are dropped

Entries name versions of the served model: a ``models:/<name>`` URI (a version, an alias, which
is followed like the served URI, or latest) or a version number. The file is validated with
pydantic before the server starts; a mistake is an ``InvalidArgument`` naming the file, the line,
the key and what was expected.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import logging
import math
import os
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mloop._core._yaml import load_yaml_with_lines
from mloop.errors import InvalidArgument
from mloop.registry import CanaryEntry, ModelPolicy
from mloop.serve._payload import parse_v1, parse_v2
from mloop.serve._slot import ServedVersion, Track

__all__ = [
    "CanaryEntry",
    "DeployPolicy",
    "ModelPolicy",
    "Router",
    "Shadow",
    "load_deploy_policy",
    "load_policy",
    "version_uri",
]

logger = logging.getLogger("mloop.serve")
shadow_logger = logging.getLogger("mloop.serve.shadow")
# What pydantic adds to an error's location for a branch of a union (``shadow.str``).
_UNION_TAG = re.compile(r"^(str|int|float|bool|none|[a-z-]+\[.*\])$")


class DeployPolicy(BaseModel):
    """A whole ``deploy.yaml``: a policy per served name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: dict[str, ModelPolicy]
    #: Where the policy came from, for error messages (a file name, or "policy").
    source: str = Field(default="policy", exclude=True)


def load_deploy_policy(
    policy: str | os.PathLike[str] | Mapping[str, Any] | DeployPolicy,
) -> DeployPolicy:
    """Read and validate a traffic policy.

    Args:
        policy: a path to a ``deploy.yaml``, the parsed mapping, or a :class:`DeployPolicy`.

    Raises:
        InvalidArgument: the file is missing or not YAML, or a key is unknown or has a value of
            the wrong kind; the message names the file, the line and the key.

    Example::

        policy = load_deploy_policy("deploy.yaml")
        policy.models["churn"].canary
    """
    if isinstance(policy, DeployPolicy):
        return policy
    if isinstance(policy, Mapping):
        return _validate(dict(policy), "policy", {})
    path = Path(os.fspath(policy))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidArgument(
            f"policy file {str(path)!r} does not exist; pass the path of a deploy.yaml",
            details={"source": str(path)},
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"cannot read policy file {str(path)!r}: not UTF-8 text ({exc.reason} at byte "
            f"{exc.start})",
            details={"source": str(path)},
        ) from None
    except OSError as exc:
        raise InvalidArgument(
            f"cannot read policy file {str(path)!r}: {exc.strerror or exc}",
            details={"source": str(path)},
        ) from None
    source = str(path)
    data, lines = load_yaml_with_lines(text, source=source, error=InvalidArgument)
    return _validate(data, source, lines)


def _key(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _validate(data: Any, source: str, lines: dict[tuple[Any, ...], int]) -> DeployPolicy:
    if not isinstance(data, dict):
        raise InvalidArgument(
            f"{source}: expected a mapping with a 'models' key (served name -> policy), "
            f"got {type(data).__name__}",
            details={"source": source, "key": None},
        )
    try:
        policy = DeployPolicy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            # A union's branches add their type name to the location: drop those parts.
            loc = tuple(
                p for i, p in enumerate(err["loc"]) if i < 3 or not _UNION_TAG.match(str(p))
            )
            line = None
            probe = loc
            while probe and line is None:
                line = lines.get(probe)
                probe = probe[:-1]
            where = f"{source} line {line}" if line is not None else source
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                message = "a required key is missing"
            elif err["type"] == "extra_forbidden":
                message = f"unknown key; expected one of {_expected(loc)}"
            elif err["type"] != "value_error" and "input" in err and err["type"] != "missing":
                message += f" (got {err['input']!r})"
            problems.append((f"{where}: {_key(loc)}: {message}", {"key": _key(loc), "line": line}))
        raise InvalidArgument(
            "\n".join(p[0] for p in problems),
            details={"source": source, "errors": [p[1] for p in problems]},
        ) from None
    return policy.model_copy(update={"source": source})


def _expected(loc: Sequence[Any]) -> str:
    depth = len(loc)
    if depth <= 1:
        fields = ["models"]
    elif depth == 3:
        fields = list(ModelPolicy.model_fields)
    else:
        fields = list(CanaryEntry.model_fields)
    return ", ".join(repr(f) for f in fields)


def version_uri(target: str | int, registered: str | None, where: str) -> str:
    """The ``models:/`` URI a policy entry names (a version number becomes
    ``models:/<registered>/<n>``); refuses a URI of another registered model."""
    if registered is None:
        raise InvalidArgument(
            f"{where}: canary and shadow need the served model to come from the registry "
            "(serve a models:/ URI)",
            details={"key": where},
        )
    if isinstance(target, int):
        return f"models:/{registered}/{target}"
    prefix = f"models:/{registered}"
    rest = target[len(prefix) :] if target.startswith(prefix) else None
    if rest is None or (rest not in ("", "/") and rest[0] not in "/@"):
        raise InvalidArgument(
            f"{where}: {target!r} is not a version of {registered!r}; expected "
            f"models:/{registered}/<version>, models:/{registered}@<alias> or a version number",
            details={"key": where, "got": target},
        )
    return target.rstrip("/")


# -- routing -------------------------------------------------------------------------------------


class Router:
    """Picks the version that answers a request: by weight, or by a hash of the sticky key."""

    __slots__ = ("_cumulative", "_header", "_salt", "_total", "shadow", "sticky_key", "tracks")

    def __init__(
        self,
        name: str,
        tracks: list[Track],
        weights: list[float],
        sticky_key: str | None,
        shadow: Shadow | None,
    ) -> None:
        self.tracks = tracks
        self._cumulative: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            self._cumulative.append(total)
        self._total = total
        self.sticky_key = sticky_key
        self._header = sticky_key.lower().encode("latin-1") if sticky_key else None
        self._salt = name.encode() + b"\0"
        self.shadow = shadow

    def pick(self, headers: Sequence[tuple[bytes, bytes]], body: Any) -> ServedVersion:
        tracks = self.tracks
        if len(tracks) == 1:
            return tracks[0].current
        key: bytes | None = None
        if self._header is not None:
            header = self._header
            for k, v in headers:
                if k == header:
                    key = v
                    break
            if key is None and isinstance(body, dict):
                value = body.get(self.sticky_key)  # type: ignore[arg-type]
                if value is not None:
                    key = str(value).encode()
        if key is None:
            point = random.random() * self._total
        else:
            point = sticky_point(self._salt + key) * self._total
        i = bisect.bisect_right(self._cumulative, point)
        return tracks[min(i, len(tracks) - 1)].current

    def describe(self) -> dict[str, Any]:
        weights = [b - a for a, b in zip([0.0, *self._cumulative], self._cumulative, strict=False)]
        out: dict[str, Any] = {
            "canary": [
                {"uri": t.uri, "version": t.current.version, "weight": w}
                for t, w in zip(self.tracks, weights, strict=True)
            ],
            "sticky_key": self.sticky_key,
        }
        if self.shadow is not None:
            out["shadow"] = self.shadow.describe()
        return out


def sticky_point(key: bytes) -> float:
    """A stable number in [0, 1) for ``key``: blake2b, the same in every process and replica."""
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 18446744073709551616.0  # 2 ** 64


# -- shadow copies -------------------------------------------------------------------------------

#: ``hook(request_id, version, inputs, predictions, latency_s, shadow=True)``.
ShadowHook = Callable[..., None]


class Shadow:
    """Sends a copy of each answered request to another version, in the background, bounded:
    with ``max_pending`` copies in flight new copies are dropped (and counted)."""

    def __init__(self, name: str, track: Track, max_pending: int) -> None:
        self.name = name
        self.track = track
        self.max_pending = max_pending
        self.pending = 0
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self.disagreed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def mirror(
        self,
        request_id: str,
        body: Any,
        v2: bool,
        main: ServedVersion,
        predictions: Any,
        hook: ShadowHook | None,
    ) -> None:
        """Queue a copy; never raises, never waits."""
        if self.pending >= self.max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "shadow %s of %s is behind (%d copies in flight): %d copies dropped so far",
                    self.track.uri,
                    self.name,
                    self.pending,
                    self.dropped,
                )
            return
        self.pending += 1
        task = asyncio.get_running_loop().create_task(
            self._run(request_id, body, v2, main, predictions, hook)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self,
        request_id: str,
        body: Any,
        v2: bool,
        main: ServedVersion,
        main_predictions: Any,
        hook: ShadowHook | None,
    ) -> None:
        version = self.track.current
        version.inflight += 1
        try:
            start = time.perf_counter()
            if v2:
                inputs, _ = parse_v2(body, version.signature)
            else:
                inputs = parse_v1(body, version.signature)
            predictions = await version.predict(inputs)
            latency = time.perf_counter() - start
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed += 1
            shadow_logger.warning(
                "%s",
                _json(
                    event="shadow_error",
                    model=self.name,
                    request_id=request_id,
                    main_version=main.version,
                    shadow_version=version.version,
                    error=f"{type(exc).__name__}: {exc}",
                ),
            )
            return
        finally:
            version.inflight -= 1
            self.pending -= 1
        self.sent += 1
        disagreement = disagreement_rate(main_predictions, predictions)
        if disagreement > 0:
            self.disagreed += 1
        shadow_logger.info(
            "%s",
            _json(
                event="shadow",
                model=self.name,
                request_id=request_id,
                main_version=main.version,
                shadow_version=version.version,
                rows=inputs.rows,
                latency_s=round(latency, 6),
                disagreement=disagreement,
            ),
        )
        if hook is not None:
            try:
                hook(request_id, version, inputs, predictions, latency, shadow=True)
            except Exception as exc:
                logger.error("the prediction hook failed: %s", exc, exc_info=exc)

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) for the copies in flight, then cancel what is left."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()

    def describe(self) -> dict[str, Any]:
        return {
            "uri": self.track.uri,
            "version": self.track.current.version,
            "max_pending": self.max_pending,
            "pending": self.pending,
            "sent": self.sent,
            "dropped": self.dropped,
            "failed": self.failed,
            "disagreed": self.disagreed,
        }


def _json(**fields: Any) -> str:
    return orjson.dumps(fields, default=str).decode()


def disagreement_rate(a: Any, b: Any) -> float:
    """The share of rows where two answers differ (numbers compared with a small tolerance)."""
    a, b = _plain(a), _plain(b)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        if not a:
            return 0.0
        return sum(not _same(x, y) for x, y in zip(a, b, strict=True)) / len(a)
    return 0.0 if _same(a, b) else 1.0


def _plain(x: Any) -> Any:
    """Predictions as JSON-like values: arrays (what a batch slice gives) become lists."""
    if hasattr(x, "to_dict") and hasattr(x, "columns"):  # a DataFrame: one dict per row
        return x.to_dict(orient="records")
    tolist = getattr(x, "tolist", None)
    return tolist() if callable(tolist) else x


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, bool) or isinstance(y, bool):
        return bool(x == y)
    if isinstance(x, int | float) and isinstance(y, int | float):
        return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9) or (x != x and y != y)
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y, strict=True))
    return bool(x == y)


#: The former name of :func:`load_deploy_policy`, kept as an alias (``mloop.evaluate`` has a
#: ``load_policy`` of its own, for gate policies: :func:`mloop.evaluate.load_gate_policy`).
load_policy = load_deploy_policy
