"""bootstrap_suite: which expectations a reference frame yields, with which kwargs/severity."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from data_contracts import bootstrap_suite

BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
NOT_NULL = "expect_column_values_to_not_be_null"
TYPES = "expect_column_values_to_be_in_type_list"
UNIQUE = "expect_column_values_to_be_unique"
MEDIAN = "expect_column_median_to_be_between"
STDEV = "expect_column_stdev_to_be_between"


def _find(suite: dict, type_: str, column: str | None = None) -> list[dict]:
    return [
        e
        for e in suite["expectations"]
        if e["type"] == type_ and (column is None or e["kwargs"].get("column") == column)
    ]


def test_every_expectation_has_severity_and_readable_rule(suite: dict) -> None:
    assert suite["name"] == "weather"
    for entry in suite["expectations"]:
        assert set(entry) == {"type", "kwargs", "severity", "meta"}
        assert entry["meta"]["severity"] in ("block", "warn")
        assert entry["meta"]["rule"].endswith(".") and len(entry["meta"]["rule"]) > 10
    json.dumps(suite, allow_nan=False)  # JSON-safe: no NaN, no numpy scalars


def test_column_set_excludes_target_and_blocks(suite: dict, reference: pd.DataFrame) -> None:
    (entry,) = _find(suite, "expect_table_columns_to_match_set")
    expected = [c for c in reference.columns if c != "label"]
    assert entry["kwargs"] == {"column_set": expected, "exact_match": True}
    assert entry["meta"]["severity"] == "block"


def test_row_count_min_blocks_and_max_warns(suite: dict) -> None:
    low, high = _find(suite, "expect_table_row_count_to_be_between")
    assert (low["kwargs"], low["meta"]["severity"]) == ({"min_value": 1}, "block")
    assert (high["kwargs"], high["meta"]["severity"]) == ({"max_value": 5000}, "warn")


def test_type_lists_per_kind(suite: dict) -> None:
    types = {e["kwargs"]["column"]: e for e in _find(suite, TYPES)}
    assert set(types) == {
        "record_id", "timestamp", "temperature", "pressure", "humidity", "wind", "station",
        "is_holiday",
    }  # fmt: skip
    assert all(e["meta"]["severity"] == "block" for e in types.values())
    numeric = types["wind"]["kwargs"]["type_list"]
    assert {"int64", "float64", "int", "float", "Int64Dtype"} <= set(numeric)
    assert types["temperature"]["kwargs"]["type_list"] == numeric  # int and float: same family
    assert {"object", "str"} <= set(types["station"]["kwargs"]["type_list"])
    assert "float64" not in types["station"]["kwargs"]["type_list"]
    assert set(types["is_holiday"]["kwargs"]["type_list"]) == {"bool", "BooleanDtype"}
    assert "datetime64[ns]" in types["timestamp"]["kwargs"]["type_list"]


def test_all_null_column_accepts_anything(suite: dict) -> None:
    assert [e for e in suite["expectations"] if e["kwargs"].get("column") == "notes"] == []


def test_null_rate_warns_with_margin_blocks_a_jump_and_id_must_be_complete(
    suite: dict, reference: pd.DataFrame
) -> None:
    warn, block = _find(suite, NOT_NULL, "humidity")
    rate = reference["humidity"].isna().mean()
    assert (warn["meta"]["severity"], block["meta"]["severity"]) == ("warn", "block")
    assert warn["kwargs"]["mostly"] == pytest.approx(1 - (rate + 0.05), abs=1e-4)
    assert warn["kwargs"]["mostly"] <= 1 - (rate + 0.05)  # rounded down, never stricter
    assert block["kwargs"]["mostly"] == pytest.approx(1 - (rate + 0.4), abs=1e-4)
    (ident,) = _find(suite, NOT_NULL, "record_id")
    assert (ident["kwargs"]["mostly"], ident["meta"]["severity"]) == (1.0, "block")
    (unique,) = _find(suite, UNIQUE, "record_id")
    assert unique["meta"]["severity"] == "block"


def test_numeric_range_only_warns_and_scale_rules_block(suite: dict, reference: pd.DataFrame) -> None:
    (warn,) = _find(suite, BETWEEN, "pressure")
    low, high = reference["pressure"].min(), reference["pressure"].max()
    span = high - low
    assert warn["meta"]["severity"] == "warn"
    assert warn["kwargs"]["min_value"] == pytest.approx(low - 0.1 * span)
    assert warn["kwargs"]["max_value"] == pytest.approx(high + 0.1 * span)
    assert warn["kwargs"]["mostly"] == 0.99
    assert all(type(warn["kwargs"][k]) is float for k in ("min_value", "max_value"))
    (median,) = _find(suite, MEDIAN, "pressure")
    q1, q99 = np.quantile(reference["pressure"], [0.01, 0.99])
    scale = max(q99 - q1, abs(reference["pressure"].median()))  # the magnitude, ~1013
    assert median["meta"]["severity"] == "block"
    # a positive column: a factor below its median
    assert median["kwargs"]["min_value"] == pytest.approx(min(q1, reference["pressure"].median() / 20))
    assert median["kwargs"]["max_value"] == pytest.approx(q99 + 3 * scale)
    (stdev,) = _find(suite, STDEV, "pressure")
    spread_scale = max(
        reference["pressure"].std(ddof=0), (q99 - q1) / 4, abs(reference["pressure"].median()) / 2
    )
    assert stdev["kwargs"]["max_value"] == pytest.approx(10 * spread_scale)
    (temp,) = _find(suite, MEDIAN, "temperature")  # signed: additive bounds on both sides
    t1, t99 = np.quantile(reference["temperature"], [0.01, 0.99])
    assert temp["kwargs"]["min_value"] == pytest.approx(t1 - 3 * (t99 - t1))


def test_near_constant_columns_never_block() -> None:
    frame = pd.DataFrame({"c": [0.0034] * 95 + [0.0035] * 5, "flag": [0, 1] * 50, "x": np.arange(100.0)})
    suite = bootstrap_suite(frame, name="s", target=None)
    blocking = {e["kwargs"].get("column") for e in suite["expectations"] if e["meta"]["severity"] == "block"}
    assert not {e["type"] for e in suite["expectations"] if e["kwargs"].get("column") in ("c", "flag")} & {
        MEDIAN,
        STDEV,
    }
    assert "x" in blocking


def test_declared_bounds_block() -> None:
    frame = pd.DataFrame({"pct": [10.0, 20.0, 30.0], "y": [0, 1, 0]})
    suite = bootstrap_suite(frame, name="s", target="y", bounds={"pct": [0, 100]})
    (declared,) = [e for e in _find(suite, BETWEEN, "pct") if e["meta"]["severity"] == "block"]
    assert declared["kwargs"] == {"column": "pct", "min_value": 0.0, "max_value": 100.0, "mostly": 1.0}
    with pytest.raises(ValueError, match="bounds: 'nope'"):
        bootstrap_suite(frame, name="s", target="y", bounds={"nope": [0, 1]})


def test_id_and_time_columns_get_no_range_or_set(suite: dict) -> None:
    for column in ("record_id", "timestamp"):
        assert _find(suite, BETWEEN, column) == [] and _find(suite, IN_SET, column) == []
    assert len(_find(suite, BETWEEN, "wind")) == 1  # a plain int column does get a range
    assert _find(suite, MEDIAN, "record_id") == [] and len(_find(suite, MEDIAN, "wind")) == 1


def test_low_cardinality_categories_warn(suite: dict) -> None:
    (station,) = _find(suite, IN_SET, "station")
    assert station["kwargs"] == {
        "column": "station",
        "value_set": ["east", "north", "south"],
        "mostly": 0.95,
    }
    assert station["meta"]["severity"] == "warn"
    (holiday,) = _find(suite, IN_SET, "is_holiday")
    assert holiday["kwargs"]["value_set"] == [False, True]
    assert _find(suite, BETWEEN, "is_holiday") == []  # bool is not numeric here


def test_classification_target_is_warn_only_set(suite: dict) -> None:
    target = [e for e in suite["expectations"] if e["kwargs"].get("column") == "label"]
    assert [e["type"] for e in target] == [IN_SET]
    assert target[0]["kwargs"]["value_set"] == ["dry", "rain", "snow"]
    assert target[0]["meta"]["severity"] == "warn"


def test_suite_meta(suite: dict) -> None:
    meta = suite["meta"]["driftline"]
    assert meta["target"] == "label" and meta["optional_columns"] == ["label"]
    assert (meta["id_column"], meta["time_column"]) == ("record_id", "timestamp")
    assert meta["reference_rows"] == 500
    assert meta["parameters"]["scale_tolerance"] == 3.0 and meta["parameters"]["block_range_margin"] is None
    assert "500" in meta["created_from"]


def test_high_cardinality_string_gets_no_set() -> None:
    frame = pd.DataFrame({"name": [f"n{i}" for i in range(40)], "y": range(40)})
    suite = bootstrap_suite(frame, name="s", target=None, max_categories=30)
    assert _find(suite, IN_SET) == []
    assert suite["meta"]["driftline"]["optional_columns"] == []


def test_float_target_with_many_values_gets_warn_range() -> None:
    frame = pd.DataFrame({"x": range(100), "y": np.linspace(0.0, 9.9, 100)})
    suite = bootstrap_suite(frame, name="s", target="y")
    (entry,) = [e for e in suite["expectations"] if e["kwargs"].get("column") == "y"]
    assert entry["type"] == BETWEEN and entry["meta"]["severity"] == "warn"
    assert entry["kwargs"]["min_value"] == pytest.approx(-0.99)


def test_float_target_with_few_values_is_a_set() -> None:
    frame = pd.DataFrame({"x": range(6), "y": [0.0, 1.0, np.nan, 1.0, 0.0, 1.0]})
    suite = bootstrap_suite(frame, name="s", target="y")
    (entry,) = [e for e in suite["expectations"] if e["kwargs"].get("column") == "y"]
    assert entry["type"] == IN_SET and entry["kwargs"]["value_set"] == [0.0, 1.0]


def test_constant_column_range_uses_its_magnitude() -> None:
    frame = pd.DataFrame({"c": [5.0] * 10, "z": [0] * 10})
    suite = bootstrap_suite(frame, name="s", target=None)
    (warn,) = _find(suite, BETWEEN, "c")
    assert (warn["kwargs"]["min_value"], warn["kwargs"]["max_value"]) == (4.5, 5.5)
    (zero_warn,) = _find(suite, BETWEEN, "z")
    assert (zero_warn["kwargs"]["min_value"], zero_warn["kwargs"]["max_value"]) == (-0.1, 0.1)


def test_opt_in_block_range_restores_the_old_rule() -> None:
    frame = pd.DataFrame({"c": [1.0, 2.0, 3.0]})
    suite = bootstrap_suite(frame, name="s", target=None, block_range_margin=1.0)
    _, block = _find(suite, BETWEEN, "c")
    assert block["meta"]["severity"] == "block"
    assert (block["kwargs"]["min_value"], block["kwargs"]["max_value"]) == (-1.0, 5.0)


def test_infinite_values_do_not_poison_ranges() -> None:
    frame = pd.DataFrame({"v": [1.0, 2.0, math.inf, -math.inf, np.nan]})
    suite = bootstrap_suite(frame, name="s", target=None)
    (warn,) = _find(suite, BETWEEN, "v")
    assert (warn["kwargs"]["min_value"], warn["kwargs"]["max_value"]) == (0.9, 2.1)
    json.dumps(suite, allow_nan=False)


def test_same_reference_gives_identical_suite(reference: pd.DataFrame, suite: dict) -> None:
    again = bootstrap_suite(
        reference, name="weather", target="label", id_column="record_id", time_column="timestamp"
    )
    assert again == suite


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": "nope"}, "target 'nope'"),
        ({"target": None, "id_column": "missing"}, "id column 'missing'"),
        ({"target": None, "warn_range_margin": -0.1}, "warn_range_margin"),
        ({"target": None, "category_mostly": 1.5}, "category_mostly"),
        ({"target": None, "null_margin": math.nan}, "null_margin"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bootstrap_suite(pd.DataFrame({"a": [1, 2]}), name="s", **kwargs)


def test_empty_reference_raises() -> None:
    with pytest.raises(ValueError, match="empty"):
        bootstrap_suite(pd.DataFrame({"a": []}), name="s", target=None)
