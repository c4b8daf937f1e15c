"""Validation at the API boundary: what every store accepts, and the messages for what it does
not."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from mloop._core import (
    MAX_KEY,
    MAX_PARAM_VALUE,
    validate_experiment_name,
    validate_key,
    validate_metric_value,
    validate_param_value,
    validate_run_name,
    validate_tag_value,
    validate_uri_name,
    validate_version_number,
)
from mloop.errors import InvalidArgument, PayloadTooLarge


@pytest.mark.parametrize("key", ["loss", "val/acc", "a b", "x-1.y_2", "k" * MAX_KEY])
def test_good_keys_pass_unchanged(key: str) -> None:
    assert validate_key(key) == key
    assert validate_key(key) == key  # the second time from the cache of checked keys


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (42, "metric key must be a string, got int"),
        ("", "metric key must not be empty"),
        ("k" * (MAX_KEY + 1), f"is {MAX_KEY + 1} characters; at most {MAX_KEY}"),
        ("a;b", "may only contain letters"),
        ("/abs", "not leading '/'"),
        ("a/../b", "no '..' segment"),
    ],
)
def test_bad_keys_say_what_is_wrong(key: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate_key(key, "metric key")


def test_names_are_stripped_and_checked() -> None:
    assert validate_experiment_name("  churn  ") == "churn"
    assert validate_run_name("run 1") == "run 1"
    with pytest.raises(InvalidArgument, match="experiment name must be a string, got int"):
        validate_experiment_name(3)
    with pytest.raises(InvalidArgument, match="run name must not be empty"):
        validate_run_name("   ")
    with pytest.raises(InvalidArgument, match="is 257 characters; at most 256"):
        validate_experiment_name("e" * 257)
    with pytest.raises(InvalidArgument, match="contains control characters"):
        validate_run_name("a\tb")


@pytest.mark.parametrize(
    ("value", "stored"),
    [("0.1", "0.1"), (0.1, "0.1"), (3, "3"), (True, "True"), (None, "None"), ([1, 2], "[1, 2]")],
)
def test_param_and_tag_values_are_stored_as_text(value: Any, stored: str) -> None:
    assert validate_param_value("lr", value) == stored
    assert validate_tag_value("team", value) == stored


def test_a_too_long_value_is_payload_too_large() -> None:
    assert validate_param_value("p", "x" * MAX_PARAM_VALUE) == "x" * MAX_PARAM_VALUE
    with pytest.raises(PayloadTooLarge, match=f"value of param 'p' is {MAX_PARAM_VALUE + 1}"):
        validate_param_value("p", "x" * (MAX_PARAM_VALUE + 1))
    with pytest.raises(PayloadTooLarge, match="value of tag 't'"):
        validate_tag_value("t", "x" * 10_000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.5, 0.5), (3, 3.0), (np.float32(0.25), 0.25), (np.int64(7), 7.0), (math.inf, math.inf)],
)
def test_metric_values_become_floats(value: Any, expected: float) -> None:
    out = validate_metric_value("m", value)
    assert type(out) is float
    assert out == expected


def test_nan_is_a_metric_value() -> None:
    assert math.isnan(validate_metric_value("m", float("nan")))
    assert math.isnan(validate_metric_value("m", np.float64("nan")))


@pytest.mark.parametrize("value", ["0.5", True, None, [1.0], np.str_("1")])
def test_non_numbers_are_not_metric_values(value: Any) -> None:
    with pytest.raises(InvalidArgument, match="metric 'm' must be a number"):
        validate_metric_value("m", value)


def test_uri_names_and_version_numbers() -> None:
    assert validate_uri_name("churn-v2.1_a", "model name") == "churn-v2.1_a"
    for bad in ("", "-x", "a/b", "a b", "x" * 257, 5):
        with pytest.raises(InvalidArgument, match=r"model name .* must start with a letter"):
            validate_uri_name(bad, "model name")
    assert validate_version_number(3, "model version") == 3
    assert validate_version_number("12", "model version") == 12
    for bad_version in (0, -1, 2**31, "v1", 1.0, True, None):
        with pytest.raises(InvalidArgument, match="a model version is a positive integer"):
            validate_version_number(bad_version, "model version")
