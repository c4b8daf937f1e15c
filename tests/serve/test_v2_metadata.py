"""OIP v2 metadata names tensors as the inference answers do."""

from __future__ import annotations

import pytest
from mloop_serve_testlib import Served

BODY = {
    "inputs": [
        {"name": "a", "shape": [2], "datatype": "FP64", "data": [1.5, -2.0]},
        {"name": "b", "shape": [2], "datatype": "INT64", "data": [0, 2]},
    ]
}


@pytest.mark.parametrize("model", ["reg", "iris"])
def test_the_output_tensor_is_named_as_infer_answers(served: Served, model: str) -> None:
    meta = served.client.get(f"/v2/models/{model}").json()
    answer = served.client.post(f"/v2/models/{model}/infer", json=BODY)
    assert answer.status_code == 200, answer.text
    answered = [t["name"] for t in answer.json()["outputs"]]
    assert [t["name"] for t in meta["outputs"]] == answered
    assert answered == ["predict"]  # not "input", the name of the input tensor
