"""Datasets follow the current store: register, load and list without ``store=``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import mloop
import mloop.data
import mloop.store
from mloop.errors import DatasetNotFound

FRAME = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})


def test_datasets_follow_set_tracking_uri(elsewhere: Any) -> None:
    ds = mloop.data.register(FRAME, "churn-train")
    assert mloop.store.current().store.get_dataset_version("churn-train", 1).digest == ds.digest
    pd.testing.assert_frame_equal(mloop.data.load("datasets:/churn-train/1"), FRAME)
    assert [d.name for d in mloop.data.list_datasets()] == ["churn-train"]


def test_datasets_follow_a_use_block(mloop_home: Path, tmp_path: Path) -> None:
    with mloop.store.use(f"sqlite:///{tmp_path / 'scoped.db'}"):
        ds = mloop.data.register(FRAME, "scoped")
        assert ds.load().equals(FRAME)
    with pytest.raises(DatasetNotFound):
        mloop.data.load("datasets:/scoped/1")
    assert mloop.data.list_datasets() == []
    with mloop.store.use(f"sqlite:///{tmp_path / 'scoped.db'}"):
        assert [d.uri for d in mloop.data.list_datasets()] == [ds.uri]
