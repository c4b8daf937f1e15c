"""``mloop serve --auth`` and ``--trust`` on a real server: inference scopes, open health,
and unsigned models refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mloop_serve_testlib import StartServe

from mloop._web._bearer import TokenCache
from mloop.errors import ModelIntegrityError
from mloop.models import TrustedKeys, generate_keypair, sign
from mloop.serve import create_serve_app
from mloop.store import SqlStore

ROWS = {"records": [{"a": 0.5, "b": 1}]}


@pytest.fixture
def tokens_db(tmp_path: Path) -> SqlStore:
    return SqlStore(f"sqlite:///{tmp_path}/tokens.db", str(tmp_path / "artifacts"))


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_predictions_need_the_predict_scope(
    start_serve: StartServe, models_dir: Path, tokens_db: SqlStore
) -> None:
    served = start_serve(
        [str(models_dir / "iris"), str(models_dir / "reg")], auth=TokenCache(tokens_db)
    )
    c = served.client
    app_token = tokens_db.create_token("churn-app", "reader", scopes={"inference": ["predict"]})
    labels = tokens_db.create_token("labeler", "reader", scopes={"inference": ["feedback"]})
    only_reg = tokens_db.create_token(
        "reg-app", "reader", scopes={"inference": ["predict"], "models": ["reg"]}
    )
    admin = tokens_db.create_token("root", "admin")  # a role is not an inference scope

    no_token = c.post("/v1/models/iris:predict", json=ROWS)
    assert no_token.status_code == 401
    assert no_token.headers["www-authenticate"] == "Bearer"
    assert c.post("/v2/models/iris/infer", json={}).status_code == 401
    assert c.get("/v1/models").status_code == 401
    for token in (labels.token, admin.token):
        refused = c.post("/v1/models/iris:predict", json=ROWS, headers=_h(token))
        assert refused.status_code == 403
        assert "'predict' scope" in refused.json()["error"]["message"]
    ok = c.post("/v1/models/iris:predict", json=ROWS, headers=_h(app_token.token))
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["predictions"]) == 1
    assert c.post("/v1/models/iris:predict", json=ROWS, headers=_h(only_reg.token)).status_code == (
        403
    )
    assert c.post("/v1/models/reg:predict", json=ROWS, headers=_h(only_reg.token)).status_code == (
        200
    )
    feedback = {"request_id": "r1", "label": 1}
    assert c.post("/v1/feedback", json=feedback, headers=_h(app_token.token)).status_code == 403
    # open: health for load balancers, metrics for scrapers
    for path in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/metrics"):
        assert c.get(path).status_code == 200, path
    # revoked: refused once the cache entry is older than its 30 s (a new server here)
    tokens_db.revoke_token(app_token.info.token_id)
    with httpx.Client(
        base_url=start_serve([str(models_dir / "reg")], auth=TokenCache(tokens_db)).url
    ) as fresh:
        assert (
            fresh.post("/v1/models/reg:predict", json=ROWS, headers=_h(app_token.token)).status_code
            == 401
        )


def test_metrics_auth(start_serve: StartServe, models_dir: Path, tokens_db: SqlStore) -> None:
    served = start_serve([str(models_dir / "reg")], auth=TokenCache(tokens_db), metrics_auth=True)
    token = tokens_db.create_token("scraper", "reader").token
    assert served.client.get("/metrics").status_code == 401
    assert served.client.get("/metrics", headers=_h(token)).status_code == 200
    assert served.client.get("/healthz").status_code == 200


def test_trust_refuses_unsigned_models(models_dir: Path, tmp_path: Path) -> None:
    private, public = generate_keypair(tmp_path / "release")
    trust = TrustedKeys.from_files([public])
    with pytest.raises(ModelIntegrityError, match="unsigned model"):
        create_serve_app([str(models_dir / "reg")], trust=trust, poll_interval_s=None)
    import shutil

    signed = tmp_path / "reg"
    shutil.copytree(models_dir / "reg", signed)
    sign(signed, private)
    app = create_serve_app([str(signed)], trust=trust, poll_interval_s=None)
    assert list(app.state.serve.slots) == ["reg"]


def test_a_body_with_two_formats_is_refused(start_serve: StartServe, models_dir: Path) -> None:
    served = start_serve([str(models_dir / "reg")])
    body = {"records": [{"a": 0.5, "b": 1}], "inputs": {"a": [9.0], "b": [9]}}
    refused = served.client.post("/v1/models/reg:predict", json=body)
    assert refused.status_code == 422, refused.text
    assert "records and inputs" in refused.json()["error"]["message"]


def test_booleans_for_numeric_inputs_are_refused(start_serve: StartServe, models_dir: Path) -> None:
    served = start_serve([str(models_dir / "reg")])
    refused = served.client.post("/v1/models/reg:predict", json={"records": [{"a": True, "b": 1}]})
    assert refused.status_code == 422, refused.text
    assert "got bool" in refused.json()["error"]["message"]
