"""The web UI: static files shipped in the package, served under ``/ui/`` (``/`` redirects there).

The assets hold no data and need no token; every page is the same ``index.html``, whose ES
modules read the data from the public REST API under ``/api/v1`` (with the user's token, once
auth is on). Responses carry a strict Content-Security-Policy: scripts only from this server, no
inline script, no remote origin, no plugins, not framable.
"""

from __future__ import annotations

import hashlib
import mimetypes
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from mloop.errors import NotFound

UI_ROOT = Path(__file__).with_name("ui")

#: Inline styles are allowed for the HTML reports shown in sandboxed frames (their ``<style>``
#: element; a ``srcdoc`` frame inherits this policy); scripts never are.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "frame-src 'self' blob: data:",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}

router = APIRouter(include_in_schema=False)


@cache
def _asset(rel: str) -> tuple[bytes, str, str]:
    """The bytes, media type and ETag of the file ``rel`` under the UI folder."""
    root = UI_ROOT.resolve()
    path = (root / rel).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound(f"the UI has no file {rel!r}", details={"path": rel})
    data = path.read_bytes()
    media = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    return data, media or "application/octet-stream", etag


def _send(request: Request, rel: str, *, cache_control: str) -> Response:
    data, media, etag = _asset(rel)
    headers = {**SECURITY_HEADERS, "ETag": etag, "Cache-Control": cache_control}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media, headers=headers)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui/experiments", status_code=307)


@router.get("/ui")
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/experiments", status_code=307)


@router.get("/ui/{page:path}")
def ui(page: str, request: Request) -> Response:
    """An asset under ``/ui/assets/`` or ``/ui/vendor/``; any other path is a page of the
    single-page app (its router reads the URL), so every page URL can be bookmarked."""
    if page.startswith(("assets/", "vendor/")):
        # Revalidated each time (an ETag round trip), so an upgraded mloop never serves stale
        # modules; 304s keep it cheap.
        return _send(request, page, cache_control="no-cache")
    return _send(request, "index.html", cache_control="no-cache")
