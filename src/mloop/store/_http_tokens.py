"""The token half of ``HttpStore``, over ``/api/v1/auth/tokens`` (an admin token needed)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson

from mloop.errors import InvalidArgument
from mloop.store._http_transport import seg
from mloop.store._tokens import ApiToken, NewToken, Role, TokenScopes


class HttpTokens:
    """Mixed into ``HttpStore``; uses its ``_request``."""

    _request: Callable[..., httpx.Response]

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

    def _verify_token(self, token_id: str, secret: str, now: int) -> ApiToken | None:
        raise InvalidArgument(
            "tokens are checked by the server that holds them; open its database to check one"
        )
