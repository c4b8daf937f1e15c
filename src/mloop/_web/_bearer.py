"""Bearer tokens on both HTTP servers: reading ``Authorization`` and checking the token against
the store, with a short cache so that the hot path costs one dictionary lookup and a
revocation takes effect within the cache's lifetime."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mloop.errors import Unauthorized
from mloop.store import Store
from mloop.store._tokens import ApiToken

__all__ = ["CACHE_SECONDS", "NEGATIVE_CACHE_SECONDS", "TokenCache", "bearer_token"]

#: How long a verified token is trusted without asking the store again (so a revoked token is
#: refused within this many seconds).
CACHE_SECONDS = 30.0
#: How long a refused token is refused without asking again, where refusals are cached (a
#: token checked over HTTP): short, so a token created just after a refusal works soon.
NEGATIVE_CACHE_SECONDS = 5.0
_MAX_CACHED = 10_000


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header.

    Raises:
        Unauthorized: no header, or not a bearer token.
    """
    if not authorization:
        raise Unauthorized(
            "this server requires a token: send 'Authorization: Bearer <token>' "
            "(MLOOP_TOKEN for the mloop client and CLI)"
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


class TokenCache:
    """Tokens verified against ``store`` in the last ``ttl`` seconds (by ``clock``).

    Successes are cached (keyed by the whole token, so a wrong secret never hits); a cached
    token is still checked for expiry at every use. With ``negative_ttl`` refusals are cached
    too, for that many seconds: a client repeating a bad token then costs the store (an HTTP
    server asked about every token) nothing. An unreachable store is never cached. Each cache
    holds at most 10,000 tokens (it is emptied when full).
    """

    def __init__(
        self,
        store: Store,
        *,
        ttl: float = CACHE_SECONDS,
        negative_ttl: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, ApiToken]] = {}
        self._refused: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> ApiToken | None:
        """The record of ``token`` when it is cached and still valid, else None (no I/O)."""
        hit = self._cache.get(token)
        if hit is None:
            return None
        now = self.clock()
        return hit[1] if now - hit[0] < self.ttl and hit[1].is_valid(int(now * 1000)) else None

    def authenticate(self, token: str) -> ApiToken:
        """The valid token record behind ``token``.

        Raises:
            Unauthorized: malformed, unknown, revoked or expired.
        """
        hit = self.cached(token)
        if hit is not None:
            return hit
        now = self.clock()
        refused = self._refused.get(token)
        if refused is not None and now - refused[0] < self.negative_ttl:
            raise Unauthorized(refused[1])
        now_ms = int(now * 1000)
        try:
            found = self.store.authenticate(token, now=now_ms)
        except Unauthorized as exc:
            if self.negative_ttl > 0:
                with self._lock:
                    if len(self._refused) >= _MAX_CACHED:
                        self._refused.clear()
                    self._refused[token] = (now, exc.message)
            raise
        with self._lock:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[token] = (now, found)
        return found
