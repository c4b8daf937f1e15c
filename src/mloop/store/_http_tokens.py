"""The token half of ``HttpStore``: ``/api/v1/auth/tokens`` (an admin token needed), and
:meth:`HttpTokens.authenticate`, which asks the server about a token somebody presented."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson

from mloop.errors import InvalidArgument, StoreUnavailable, Unauthorized
from mloop.store._http_transport import error_from_response, seg
from mloop.store._tokens import ApiToken, NewToken, Role, TokenScopes, parse_token

#: Seconds to wait for the server's answer about a token (a request waits on it).
VERIFY_TIMEOUT_S = 5.0


class HttpTokens:
    """Mixed into ``HttpStore``; uses its ``_request``."""

    _request: Callable[..., httpx.Response]
    _client: httpx.Client
    uri: str

    def _create_token(
        self, name: str, role: Role, scopes: TokenScopes, expires_at: int | None, created_by: str
    ) -> NewToken:
        body = {
            "name": name,
            "role": role.value,
            "scopes": scopes.model_dump(mode="json"),
            "expires_at": expires_at,
        }
        response = self._request("POST", "/auth/tokens", json=body)
        return NewToken.model_validate_json(response.content)

    def _list_tokens(self) -> list[ApiToken]:
        response = self._request("GET", "/auth/tokens")
        return [ApiToken.model_validate(x) for x in orjson.loads(response.content)]

    def _revoke_token(self, token_id: str) -> ApiToken:
        response = self._request("POST", f"/auth/tokens/{seg(token_id)}/revoke")
        return ApiToken.model_validate_json(response.content)

    def authenticate(self, token: str, *, now: int | None = None) -> ApiToken:
        """The record of ``token`` as the server that holds it sees it: ``GET
        /api/v1/auth/whoami`` sent with that token (so any valid token can be checked, and the
        server does the hashing, the revocation and the expiry).

        Raises:
            Unauthorized: malformed, or the server refuses it (unknown, revoked, expired).
            StoreUnavailable: the server cannot be reached or does not answer in time, or it
                runs without ``--auth`` and so cannot vouch for any token.
        """
        parse_token(token)  # a malformed token costs no request
        try:
            response = self._client.get(
                "/auth/whoami",
                headers={"Authorization": f"Bearer {token}"},
                timeout=VERIFY_TIMEOUT_S,
            )
        except httpx.TransportError as exc:
            raise StoreUnavailable(
                f"cannot check the token: the mloop server at {self.uri} cannot be reached "
                f"({type(exc).__name__})",
                details={"uri": self.uri},
            ) from exc
        if response.status_code == 401:
            raise Unauthorized("the token is unknown, revoked or expired")
        if response.is_error:
            raise error_from_response(response.status_code, response.content)
        found = orjson.loads(response.content)
        if not found.get("auth_enabled") or not found.get("token_id"):
            raise StoreUnavailable(
                f"cannot check the token: the mloop server at {self.uri} runs without --auth, "
                "so it vouches for no token; start it with --auth",
                details={"uri": self.uri},
            )
        return ApiToken(
            token_id=found["token_id"],
            name=found["name"],
            role=Role(found["role"]),
            scopes=TokenScopes.model_validate(found.get("scopes") or {}),
            created_at=0,
            expires_at=found.get("expires_at"),
        )

    def _verify_token(self, token_id: str, secret: str, now: int) -> ApiToken | None:
        raise InvalidArgument(  # authenticate() above asks the server instead
            "tokens are checked by the server that holds them; use authenticate()"
        )
