"""``/api/v1/genai``: spans in, traces out; bad input is a 4xx with the one error shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import LiveServer

TRACE = "ab" * 16


def _span(span_id: str, parent: str | None, **kw: Any) -> dict[str, Any]:
    return {
        "trace_id": TRACE,
        "span_id": span_id,
        "parent_id": parent,
        "name": kw.pop("name", "step"),
        "status": kw.pop("status", "OK"),
        "start_us": 10,
        "end_us": 2_010,
        **kw,
    }


def test_spans_in_traces_out(server: LiveServer) -> None:
    spans = [
        _span("1" * 16, "0" * 16, prompt_tokens=3, outputs='"ok"'),
        _span("0" * 16, None, name="root", status="ERROR", error="ValueError: x", run_id="r"),
    ]
    r = server.client.post("/api/v1/genai/spans", json={"spans": spans})
    assert r.status_code == 201 and r.json() == {"count": 2}
    page = server.client.get("/api/v1/genai/traces", params={"status": "ERROR", "run_id": "r"})
    assert page.status_code == 200
    [t] = page.json()["traces"]
    assert (t["name"], t["span_count"], t["duration_us"], t["prompt_tokens"]) == (
        "root",
        2,
        2000,
        3,
    )
    full = server.client.get(f"/api/v1/genai/traces/{TRACE}").json()
    assert [s["name"] for s in full["spans"]] == ["root", "step"]
    assert full["spans"][1]["outputs"] == "ok"
    assert server.reader().get_trace(TRACE).spans[0].error == "ValueError: x"
    slow = server.client.get("/api/v1/genai/traces", params={"min_duration_ms": 3})
    assert slow.json()["traces"] == []


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("get", f"/api/v1/genai/traces/{'cd' * 16}", {}, 404, "TRACE_NOT_FOUND"),
        ("get", "/api/v1/genai/traces/nothex", {}, 422, "INVALID_ARGUMENT"),
        ("get", "/api/v1/genai/traces", {"params": {"status": "MAYBE"}}, 422, "INVALID_ARGUMENT"),
        ("get", "/api/v1/genai/traces", {"params": {"limit": "0"}}, 422, "INVALID_ARGUMENT"),
        (
            "post",
            "/api/v1/genai/spans",
            {"json": {"spans": [{"name": "x"}]}},
            422,
            "INVALID_ARGUMENT",
        ),
        ("post", "/api/v1/genai/spans", {"json": {"spanz": []}}, 422, "INVALID_ARGUMENT"),
        # durations that do not fit the store's microseconds (were a 500)
        (
            "get",
            "/api/v1/genai/traces",
            {"params": {"min_duration_ms": "inf"}},
            422,
            "INVALID_ARGUMENT",
        ),
        (
            "get",
            "/api/v1/genai/traces",
            {"params": {"max_duration_ms": "1e300"}},
            422,
            "INVALID_ARGUMENT",
        ),
        (
            "get",
            "/api/v1/genai/traces",
            {"params": {"model_version": 2**64}},
            422,
            "INVALID_ARGUMENT",
        ),
    ],
)
def test_bad_requests(
    server: LiveServer, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    r = getattr(server.client, method)(path, **kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
