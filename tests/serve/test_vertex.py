"""The Vertex AI custom-container contract, run as Vertex runs it: the real ``mloop serve``
process with only the AIP_* variables telling it where to listen and what to answer."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from mloop_serve_testlib import MLOOP, Served, StartServe, free_port, terminate

from mloop.errors import InvalidArgument
from mloop.serve import VertexRoutes

HEALTH = "/v1/endpoints/123/deployedModels/456"
PREDICT = "/v1/endpoints/123/deployedModels/456:predict"


@pytest.mark.slow
def test_mloop_serve_honours_the_vertex_ai_container_contract(models_dir: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "AIP_HTTP_PORT": str(port),
        "AIP_HEALTH_ROUTE": HEALTH,
        "AIP_PREDICT_ROUTE": PREDICT,
        "AIP_MODE": "PREDICTION",
        "NO_COLOR": "1",
    }
    # No --port: the port comes from AIP_HTTP_PORT, as in a Vertex AI container.
    proc = subprocess.Popen(
        [str(MLOOP), "serve", str(models_dir / "reg"), "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:  # Vertex polls the health route until it answers 200
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the health route never answered 200"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + HEALTH, timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        body = {"instances": [{"a": 1.0, "b": 2}, {"a": -0.5, "b": 0}], "parameters": {}}
        r = httpx.post(url + PREDICT, json=body, timeout=10)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"predictions"}
        np.testing.assert_allclose(r.json()["predictions"], [21.0, -0.5], atol=1e-6)
        assert r.headers["x-mloop-model-version"]
        bad = httpx.post(url + PREDICT, json={"rows": []}, timeout=10)
        assert bad.status_code == 422
        assert "instances" in bad.json()["error"]["message"]
        # mloop's own routes still answer beside Vertex's
        assert httpx.get(url + "/readyz", timeout=5).status_code == 200
    finally:
        terminate(proc)


def test_vertex_predict_uses_the_served_models_validation(
    start_serve: StartServe, models_dir: Path
) -> None:
    served: Served = start_serve([str(models_dir / "iris")], vertex=VertexRoutes(HEALTH, PREDICT))
    assert served.client.get(HEALTH).status_code == 200
    ok = served.client.post(PREDICT, json={"instances": [{"a": 0.3, "b": 1}]})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 1
    bad = served.client.post(PREDICT, json={"instances": [{"a": "x", "b": 1}]})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "SIGNATURE_MISMATCH"
    assert served.client.post(PREDICT, content=b"{no").status_code == 422


def test_routes_come_from_the_environment_or_not_at_all() -> None:
    assert VertexRoutes.from_env({}) is None
    routes = VertexRoutes.from_env({"AIP_HEALTH_ROUTE": "/h", "AIP_PREDICT_ROUTE": "/p"})
    assert routes == VertexRoutes("/h", "/p")
    with pytest.raises(InvalidArgument, match="AIP_PREDICT_ROUTE is not set"):
        VertexRoutes.from_env({"AIP_HEALTH_ROUTE": "/h"})
    with pytest.raises(InvalidArgument, match="must be a path"):
        VertexRoutes("health", "/p")


@pytest.mark.slow
def test_a_port_in_aip_http_port_is_used_when_no_port_is_given(
    models_dir: Path, tmp_path: Path
) -> None:
    # A taken port makes `mloop serve` fail at once, naming it: proof of which port it used.
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [str(MLOOP), "serve", str(models_dir / "reg")],
            env={**os.environ, "AIP_HTTP_PORT": str(port), "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode != 0
    assert str(port) in proc.stderr
