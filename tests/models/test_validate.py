"""Input checks and conversions against a signature, without any framework."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mloop.errors import InvalidArgument, SignatureMismatch
from mloop.models import ColSpec, TensorSpec
from mloop.models._validate import (
    TableValidator,
    TensorValidator,
    make_input_validator,
    make_output_shaper,
)


def table(*cols: tuple[str, str] | tuple[str, str, bool]) -> TableValidator:
    return TableValidator(
        [ColSpec(name=c[0], type=c[1], nullable=bool(c[2:] and c[2])) for c in cols]  # type: ignore[arg-type]
    )


def mismatch(validator: object, data: object) -> SignatureMismatch:
    with pytest.raises(SignatureMismatch) as err:
        validator(data)  # type: ignore[operator]
    assert isinstance(err.value, InvalidArgument)  # a 4xx-style error
    return err.value


class TestTables:
    def test_a_matching_frame_passes_without_a_copy(self) -> None:
        v = table(("age", "int64"), ("income", "float64"), ("city", "string"))
        df = pd.DataFrame({"age": [30, 40], "income": [1.0, 2.0], "city": ["a", "b"]})
        assert v(df) is df
        assert v(df) is df  # and again, through the cached columns

    def test_the_fast_path_is_exact(self) -> None:
        v = table(
            ("f", "float64"),
            ("g", "float64", True),
            ("t", "datetime"),
            ("s", "string", True),
            ("b", "bool"),
            ("i", "int32"),
        )
        df = pd.DataFrame(
            {
                "f": [1.0, 2.0],
                "g": [np.nan, 1.0],
                "t": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                "s": pd.array(["a", None], dtype="string"),
                "b": [True, False],
                "i": np.array([1, 2], dtype=np.int32),
            }
        )
        assert v(df) is df
        both = df.assign(f=[np.inf, -np.inf])  # not null
        assert v(both) is both
        assert "'f' is not nullable" in str(mismatch(v, df.assign(f=[1.0, np.nan])))
        assert v(df.assign(i=np.array([1, 2], dtype=np.int64)))["i"].dtype == np.int32

    def test_the_per_column_fallback(self) -> None:
        # used when pandas' blocks cannot be read
        v = table(("f", "float64"), ("s", "string"))
        df = pd.DataFrame({"f": [1.0], "s": ["a"]})
        assert v._matches_by_column(df)
        assert not v._matches_by_column(df.assign(f=[np.nan]))
        assert not v._matches_by_column(df.assign(s=[1]))

    def test_columns_are_ordered_by_the_signature_and_extra_ones_dropped(self) -> None:
        v = table(("a", "int64"), ("b", "float64"))
        out = v(pd.DataFrame({"extra": ["x"], "b": [1.5], "a": [2]}))
        assert list(out.columns) == ["a", "b"]
        assert out["a"].tolist() == [2]

    @pytest.mark.parametrize(
        ("values", "target", "dtype"),
        [
            (np.array([1, 2], dtype=np.int64), "float64", np.float64),
            (np.array([1, 2], dtype=np.int32), "int64", np.int64),
            (np.array([1.5, 2.5], dtype=np.float32), "float64", np.float64),
            (np.array([1.0, 2.0], dtype=np.float64), "float32", np.float32),
            (np.array([1.0, 2.0]), "int64", np.int64),  # whole floats
            (np.array([3, 4], dtype=np.int64), "int8", np.int8),  # values fit
            (np.array([1, 2], dtype=np.uint8), "int16", np.int16),
        ],
    )
    def test_safe_casts_are_applied(self, values: np.ndarray, target: str, dtype: type) -> None:
        out = table(("x", target))(pd.DataFrame({"x": values}))
        assert out["x"].dtype == np.dtype(dtype)
        assert out["x"].tolist() == values.astype(dtype).tolist()

    @pytest.mark.parametrize(
        ("values", "target", "got"),
        [
            (
                np.array([1.0, 2.5, 3.0]),
                "int64",
                "non-integer float64 in 1 of 3 rows (first at row 1)",
            ),
            (np.array([1.0, np.inf, 3.0]), "int64", "non-integer float64 in 1 of 3 rows"),
            (np.array(["1", "2", "3"], dtype=object), "float64", "string in 3 of 3 rows"),
            (
                np.array([1, 2, 300]),
                "int8",
                "int64 values out of its range in 1 of 3 rows (first at row 2)",
            ),
            (np.array([1, 0, 1]), "bool", "int64 in 3 of 3 rows"),
            (np.array([1, 2, 3]), "string", "int64 in 3 of 3 rows"),
            (np.array(["2024-01-01"] * 3, dtype=object), "datetime", "string in 3 of 3 rows"),
        ],
    )
    def test_unsafe_casts_are_refused(self, values: np.ndarray, target: str, got: str) -> None:
        err = mismatch(table(("x", target)), pd.DataFrame({"x": values}))
        assert f"'x' expected {target}, got {got}" in str(err)

    def test_every_bad_column_is_reported_with_counts_and_first_row(self) -> None:
        v = table(("age", "int64"), ("income", "float64"), ("city", "string"), ("ok", "bool"))
        ages: list[object] = list(range(200))
        for row in (17, 50, 99):
            ages[row] = "n/a"
        df = pd.DataFrame(
            {"age": ages, "city": ["x"] * 199 + [None], "ok": [True] * 200, "other": 1}
        )
        err = mismatch(v, df)
        assert str(err) == (
            "3 columns do not match the model's signature: "
            "'age' expected int64, got string in 3 of 200 rows (first at row 17); "
            "'income' is missing; "
            "'city' is not nullable, got null in 1 of 200 rows (first at row 199)"
        )
        assert [(d["column"], d["problem"]) for d in err.details] == [
            ("age", "type"),
            ("income", "missing"),
            ("city", "null"),
        ]
        assert err.details[0]["rows"] == 3 and err.details[0]["first_row"] == 17

    def test_nulls(self) -> None:
        strict = table(("x", "float64"))
        err = mismatch(strict, pd.DataFrame({"x": [1.0, np.nan]}))
        assert "'x' is not nullable, got null in 1 of 2 rows (first at row 1)" in str(err)
        out = table(("x", "float64", True))(pd.DataFrame({"x": [1.0, np.nan]}))
        assert np.isnan(out["x"][1])
        # a nullable integer column with nulls goes to the model as float64 with NaN
        out = table(("n", "int64", True))(pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}))
        assert out["n"].dtype == np.float64 and np.isnan(out["n"][1])
        err = mismatch(table(("n", "int64")), pd.DataFrame({"n": [1, None]}))
        assert "'n' is not nullable, got null in 1 of 2 rows" in str(err)

    def test_mixed_objects_are_judged_value_by_value(self) -> None:
        err = mismatch(table(("x", "float64")), pd.DataFrame({"x": [1, 2.5, "a", [1], "b"]}))
        assert "'x' expected float64, got string or list in 3 of 5 rows (first at row 2)" in str(
            err
        )
        out = table(("x", "float64"))(pd.DataFrame({"x": np.array([1, 2.5, 3], dtype=object)}))
        assert out["x"].tolist() == [1.0, 2.5, 3.0]

    @pytest.mark.parametrize("target", ["int64", "float64", "float32"])
    def test_booleans_are_not_numbers(self, target: str) -> None:
        for values in (np.array([True, False]), np.array([1, True], dtype=object)):
            err = mismatch(table(("x", target)), pd.DataFrame({"x": values}))
            assert f"'x' expected {target}, got bool" in str(err)

    def test_strings_datetimes_and_categories(self) -> None:
        v = table(("s", "string"), ("t", "datetime"), ("c", "string"))
        df = pd.DataFrame(
            {
                "s": pd.array(["a", "b"], dtype="string"),
                "t": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)],
                "c": pd.Categorical(["u", "v"]),
            }
        )
        out = v(df)
        assert out["s"].tolist() == ["a", "b"]
        assert out["t"].dt.year.tolist() == [2024, 2024]
        assert out["c"].tolist() == ["u", "v"]

    def test_other_table_kinds(self) -> None:
        v = table(("a", "int64"), ("b", "string"))
        expected = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
        for data in (
            [{"b": "x", "a": 1}, {"a": 2, "b": "y"}],
            {"a": [1, 2], "b": ["x", "y"]},
            pa.table({"a": [1, 2], "b": ["x", "y"]}),
            np.array([[1, "x"], [2, "y"]], dtype=object),
            [[1, "x"], [2, "y"]],
        ):
            out = v(data)
            assert out["a"].tolist() == [1, 2] and out["b"].tolist() == ["x", "y"], data
        assert v(expected) is expected
        err = mismatch(v, [{"a": 1}, {"a": "z", "b": "y"}])
        assert "'a' expected int64, got string in 1 of 2 rows (first at row 1)" in str(err)
        assert "'b' is not nullable, got null in 1 of 2 rows (first at row 0)" in str(err)

    def test_inputs_that_are_not_tables(self) -> None:
        v = table(("a", "int64"), ("b", "int64"))
        assert "predict takes a pandas DataFrame" in str(mismatch(v, "a string"))
        assert "a table with 2 columns" in str(mismatch(v, np.zeros((3, 5))))

    def test_duplicated_columns(self) -> None:
        df = pd.DataFrame([[1, 2]], columns=["a", "a"])
        assert "'a' appears 2 times" in str(mismatch(table(("a", "int64")), df))

    def test_zero_rows(self) -> None:
        out = table(("a", "int64"), ("b", "string"))([])
        assert len(out) == 0 and list(out.columns) == ["a", "b"]


class TestTensors:
    def test_a_matching_array_passes_without_a_copy(self) -> None:
        v = TensorValidator(TensorSpec(dtype="float32", shape=(-1, 3)))
        x = np.zeros((5, 3), dtype=np.float32)
        assert v(x) is x

    def test_safe_casts_and_other_kinds(self) -> None:
        v = TensorValidator(TensorSpec(dtype="float32", shape=(-1, 2)))
        for data in ([[1, 2], [3, 4]], np.array([[1, 2], [3, 4]]), pd.DataFrame([[1, 2], [3, 4]])):
            out = v(data)
            assert out.dtype == np.float32 and out.tolist() == [[1, 2], [3, 4]]

    def test_shape_and_dtype_are_both_reported(self) -> None:
        v = TensorValidator(TensorSpec(dtype="int64", shape=(-1, 4)))
        err = mismatch(v, np.array([[1.5, 2.0, 3.0]] * 10))
        assert str(err) == (
            "the input does not match the model's signature: expected shape (-1, 4), got (10, 3); "
            "expected int64, got non-integer float64 in 10 of 10 rows (first at row 0)"
        )
        assert [d["problem"] for d in err.details] == ["shape", "type"]

    def test_ragged_lists(self) -> None:
        v = TensorValidator(TensorSpec(dtype="float64", shape=(-1, 2)))
        assert "not a rectangular array" in str(mismatch(v, [[1, 2], [3]]))


def test_no_signature_passes_data_through() -> None:
    v = make_input_validator(None)
    arr = np.zeros(3)
    assert v(arr) is arr
    assert isinstance(v([{"a": 1}]), pd.DataFrame)
    assert isinstance(v(pa.table({"a": [1]})), pd.DataFrame)


def test_output_shapes() -> None:
    as_columns = make_output_shaper([ColSpec(name="p", type="float64")])
    frame = as_columns(np.array([0.5, 0.25]))
    assert isinstance(frame, pd.DataFrame) and frame["p"].tolist() == [0.5, 0.25]
    as_tensor = make_output_shaper(TensorSpec(dtype="float64", shape=(-1,)))
    assert isinstance(as_tensor(pd.Series([1.0])), np.ndarray)
    default = make_output_shaper(None)
    assert isinstance(default(pd.Series([1.0])), pd.DataFrame)
    assert isinstance(default([1, 2]), np.ndarray)
