"""The floor of ``benchmarks/serving.py``: a bare ASGI app under uvicorn that reads the request
body and answers a constant JSON body, with no framework and no model. Its requests/s is the
most this HTTP stack (uvicorn, httptools, one worker) can serve on the machine, the limit a model
server on the same stack can approach. Run in mloop's environment as
``uvicorn uvicorn_serving:app --app-dir benchmarks/peers``.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"predictions":[0]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the whole body, as a model server must
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
