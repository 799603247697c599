"""validate_frame against GE 1.24: broken feeds are quarantined, legit drift is not."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from data_contracts import ContractError, ContractResult, bootstrap_suite, check_suite, validate_frame

BETWEEN = "expect_column_values_to_be_between"
Factory = Callable[..., pd.DataFrame]


def _check(frame: pd.DataFrame, suite: dict, source: str = "batch.csv") -> ContractResult:
    result = validate_frame(frame, suite, source=source)
    assert result.evaluated == result.passed + len(result.failures)
    json.dumps(result.to_dict(), allow_nan=False)  # always JSON-safe
    return result


def test_suite_loads_into_great_expectations_without_dropping_anything(suite: dict) -> None:
    import great_expectations as gx

    # gx.ExpectationSuite only *logs* invalid expectations and drops them: compare counts.
    loaded = gx.ExpectationSuite(**copy.deepcopy(suite))
    assert len(loaded.expectations) == len(suite["expectations"])
    assert loaded.meta["driftline"]["target"] == "label"
    assert check_suite(suite) == len(suite["expectations"])


def test_clean_batch_is_accepted(clean: pd.DataFrame, suite: dict) -> None:
    result = _check(clean, suite)
    assert result.success and result.blocking == ()
    assert result.verdict in ("ACCEPTED", "ACCEPTED WITH WARNINGS")
    assert result.evaluated == len(suite["expectations"])
    assert result.suite_name == "weather" and result.source == "batch.csv"


def test_renamed_column_blocks_naming_it(clean: pd.DataFrame, suite: dict) -> None:
    result = _check(clean.rename(columns={"pressure": "pressure_mb"}), suite, "feed_07.csv")
    assert not result.success and result.verdict == "QUARANTINED"
    (failure,) = result.blocking  # rules on the missing column are not reported again
    assert failure.rule == "expect_table_columns_to_match_set"
    assert "'pressure'" in failure.message and "'pressure_mb'" in failure.message
    assert failure.observed == {"missing": ["pressure"], "unexpected": ["pressure_mb"]}
    summary = result.summary()
    assert summary.startswith("feed_07.csv: QUARANTINED") and "'pressure'" in summary


def test_extra_column_blocks(clean: pd.DataFrame, suite: dict) -> None:
    result = _check(clean.assign(surprise=1), suite)
    assert not result.success and "unexpected ['surprise']" in result.blocking[0].message


def test_text_in_a_numeric_column_is_judged_by_its_share(clean: pd.DataFrame, suite: dict) -> None:
    frame = clean.copy()
    frame["pressure"] = frame["pressure"].astype(object)
    frame.loc[3, "pressure"] = "n/a"
    one = _check(frame, suite)
    assert one.success  # one stray text value in 500: a warning with the value, not a quarantine
    warning = next(f for f in one.warnings if f.rule.endswith("in_type_list"))
    assert warning.column == "pressure" and warning.examples == ("n/a",) and warning.unexpected_count == 1
    frame.loc[frame.index[:25], "pressure"] = "ERR"  # 5% text: the feed is broken
    many = _check(frame, suite)
    assert not many.success
    (failure,) = many.blocking
    assert failure.column == "pressure" and failure.rule.endswith("in_type_list")
    assert failure.examples == ("ERR",) and "(block)" in failure.message
    # the range rule cannot compare strings with numbers: reported, not crashed
    assert any("could not be evaluated" in f.message for f in many.failures)


def test_unit_change_fails_the_scale_rule(clean: pd.DataFrame, suite: dict) -> None:
    result = _check(clean.assign(pressure=clean["pressure"] * 0.03), suite)
    assert not result.success
    (failure,) = result.blocking
    assert failure.column == "pressure" and failure.rule == "expect_column_median_to_be_between"
    assert failure.message.startswith("column 'pressure': median 30.")
    assert "unit or scale change" in failure.message and failure.message.endswith("(block)")


@pytest.mark.parametrize(
    ("column", "convert"),
    [
        ("temperature", lambda v: v * 10),
        ("pressure", lambda v: v * 1000),
        ("pressure", lambda v: v / 33.86),  # mbar -> inHg
        ("humidity", lambda v: v / 25.4),
        ("wind", lambda v: v * 25.4),
    ],
)
def test_unit_changes_block_naming_the_column(clean: pd.DataFrame, suite: dict, column: str, convert) -> None:
    result = _check(clean.assign(**{column: convert(clean[column])}), suite)
    assert [f.column for f in result.blocking] and {f.column for f in result.blocking} == {column}


def test_a_regime_change_only_warns() -> None:
    """A rate that sat near 4.9 falls to 0.6, a share rises from 0.4 to 0.9: drift, not a fault."""
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"rate": rng.normal(4.9, 0.03, 400), "share": rng.uniform(0.38, 0.45, 400)})
    suite = bootstrap_suite(reference, name="regime", target=None)
    later = pd.DataFrame({"rate": rng.normal(0.6, 0.2, 400), "share": rng.uniform(0.85, 0.95, 400)})
    result = _check(later, suite)
    assert result.success and {f.column for f in result.warnings} == {"rate", "share"}
    assert not _check(later.assign(rate=later["rate"] * 100), suite).success


def test_seasonal_shift_passes_with_at_most_warnings(clean: pd.DataFrame, suite: dict) -> None:
    summer = clean.assign(
        temperature=clean["temperature"] + 12, pressure=clean["pressure"] - 6, wind=clean["wind"] // 2
    )
    result = _check(summer, suite)
    assert result.success and result.blocking == ()
    assert {f.severity for f in result.failures} <= {"warn"}


def test_missing_target_still_passes(clean: pd.DataFrame, suite: dict) -> None:
    result = _check(clean.drop(columns="label"), suite)
    assert result.success and result.failures == ()
    assert result.evaluated == len(suite["expectations"]) - 1  # the target rule was skipped


def test_unlabelled_target_column_passes(clean: pd.DataFrame, suite: dict) -> None:
    assert _check(clean.assign(label=None), suite).success


def test_new_category_only_warns(clean: pd.DataFrame, suite: dict) -> None:
    frame = clean.copy()
    frame.loc[frame.index[:100], "station"] = "west"
    frame.loc[frame.index[:100], "label"] = "hail"
    result = _check(frame, suite)
    assert result.success and result.verdict == "ACCEPTED WITH WARNINGS"
    columns = {f.column: f for f in result.warnings}
    assert {"station", "label"} <= set(columns)
    assert columns["station"].examples == ("west",)
    assert columns["station"].unexpected_percent == pytest.approx(20.0)
    assert "not among the 3 contract values" in columns["station"].message


def test_half_null_column_blocks(clean: pd.DataFrame, suite: dict) -> None:
    frame = clean.copy()
    frame.loc[frame.index[:300], "humidity"] = np.nan
    (failure,) = _check(frame, suite).blocking
    assert failure.column == "humidity" and "of values are null" in failure.message


def test_an_all_null_column_blocks_once_on_its_null_rule(clean: pd.DataFrame, suite: dict) -> None:
    """No value, no scale: the median and spread rules of an emptied column sit out, so the
    report names the one real fault, not a 'unit change' of a median nobody could compute."""
    frame = clean.copy()
    frame["humidity"] = np.nan
    result = _check(frame, suite)
    (failure,) = result.blocking
    assert failure.column == "humidity" and "100.0% of values are null" in failure.message
    assert not any("inf" in f.message for f in result.failures)
    scale_rules = [
        e
        for e in suite["expectations"]
        if e["kwargs"].get("column") == "humidity" and e["type"].startswith("expect_column_median")
    ]
    assert scale_rules and result.evaluated < len(suite["expectations"])  # checked by rule, skipped here


def test_duplicate_ids_block(clean: pd.DataFrame, suite: dict) -> None:
    frame = clean.assign(record_id=clean["record_id"].where(clean.index > 5, clean["record_id"].iloc[0]))
    (failure,) = _check(frame, suite).blocking
    assert failure.column == "record_id" and "repeat" in failure.message


def test_null_burst_warns_but_null_id_blocks(clean: pd.DataFrame, suite: dict) -> None:
    frame = clean.copy()
    frame.loc[frame.index[:150], "humidity"] = np.nan
    result = _check(frame, suite)
    assert result.success
    (warning,) = [f for f in result.warnings if f.column == "humidity"]
    assert warning.examples == () and "of values are null, at most" in warning.message
    frame["record_id"] = frame["record_id"].astype(float)
    frame.loc[0, "record_id"] = np.nan
    blocked = _check(frame, suite)
    assert [f.column for f in blocked.blocking] == ["record_id"]


def test_empty_batch_blocks_and_stays_json_safe(clean: pd.DataFrame, suite: dict) -> None:
    result = _check(clean.iloc[:0], suite)
    assert not result.success
    assert any("0 rows, expected at least 1" in f.message for f in result.blocking)


def test_csv_style_dtypes_are_accepted(clean: pd.DataFrame, suite: dict) -> None:
    """Nullable ints, float ids, category, string and tz-aware columns are the same kinds."""
    frame = clean.copy()
    frame["wind"] = frame["wind"].astype(float)
    frame.loc[0, "wind"] = np.nan  # a CSV int column with a gap arrives as float64
    frame["record_id"] = frame["record_id"].astype("Int64")
    frame["station"] = frame["station"].astype("category")
    frame["label"] = frame["label"].astype("string")
    frame["timestamp"] = frame["timestamp"].dt.tz_localize("UTC")
    result = _check(frame, suite)
    assert result.success and result.blocking == ()
    assert frame["station"].dtype == "category"  # the caller's frame is not modified


def test_unknown_expectation_raises_naming_it(suite: dict) -> None:
    edited = copy.deepcopy(suite)
    edited["expectations"].append({"type": "expect_column_to_be_awesome", "kwargs": {}})
    with pytest.raises(ContractError, match=r"contracts/weather\.json: expectation #\d+ "):
        check_suite(edited, origin="contracts/weather.json")
    with pytest.raises(ContractError, match="expect_column_to_be_awesome"):
        validate_frame(pd.DataFrame({"a": [1]}), edited, source="x.csv")


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"type": BETWEEN, "kwargs": {"column": "wind", "bogus": 1}}, "'wind' is invalid: .*bogus"),
        ({"type": BETWEEN, "kwargs": {"min_value": 1}}, "column"),
        ({"kwargs": {}}, "has no 'type'"),
        ({"type": BETWEEN, "kwargs": []}, "must be objects"),
        ({"type": BETWEEN, "kwargs": {"column": "wind"}, "meta": {"severity": "x"}}, "severity"),
    ],
)
def test_invalid_hand_edits_raise(entry: dict, match: str) -> None:
    suite = {"name": "hand", "expectations": [entry]}
    with pytest.raises(ContractError, match=match):
        validate_frame(pd.DataFrame({"wind": [1]}), suite, source="x.csv", suite_origin="h.json")


def test_default_severity_is_block_and_missing_column_is_reported() -> None:
    suite = {
        "name": "hand",
        "expectations": [
            {"type": BETWEEN, "kwargs": {"column": "a", "min_value": 0, "max_value": 1}},
            {"type": BETWEEN, "kwargs": {"column": "gone", "min_value": 0, "max_value": 1}},
        ],
    }
    result = _check(pd.DataFrame({"a": [0.5, 3.0]}), suite)
    assert [f.rule for f in result.blocking] == [BETWEEN, "column_missing"]
    assert "column 'gone': missing from the batch" in result.blocking[1].message
    assert (result.evaluated, result.passed) == (2, 0)


@pytest.mark.parametrize(
    ("native", "meta", "blocks"),
    [("warning", None, False), ("info", None, False), ("critical", None, True), ("warning", "block", True)],
)
def test_ge_native_severity_is_honoured_unless_meta_says_otherwise(native: str, meta, blocks: bool) -> None:
    entry = {"type": BETWEEN, "kwargs": {"column": "a", "min_value": 0, "max_value": 1}, "severity": native}
    if meta:
        entry["meta"] = {"severity": meta}
    result = _check(pd.DataFrame({"a": [0.5, 3.0]}), {"name": "hand", "expectations": [entry]})
    assert result.success is not blocks and len(result.failures) == 1
    assert result.failures[0].severity == ("block" if blocks else "warn")


def test_bootstrap_writes_both_severities(suite: dict) -> None:
    for entry in suite["expectations"]:
        assert entry["severity"] == {"block": "critical", "warn": "warning"}[entry["meta"]["severity"]]


def test_repeated_calls_reuse_one_context(clean: pd.DataFrame, suite: dict) -> None:
    from data_contracts import validate

    validate_frame(clean, suite, source="a.csv")
    before = validate._batch_definition.cache_info()
    validate_frame(clean, suite, source="b.csv")
    after = validate._batch_definition.cache_info()
    assert after.misses == before.misses == 1 and after.hits == before.hits + 1


def test_real_seasonal_data_passes_and_a_unit_change_is_blocked() -> None:
    """Seattle weather: 2012 as reference; later years drift (labels too) but are fine."""
    from vega_datasets import local_data

    from data_contracts import bootstrap_suite

    weather = local_data.seattle_weather()
    year = weather["date"].dt.year
    suite = bootstrap_suite(weather[year == 2012], name="seattle", target="weather")
    for later in (2013, 2014, 2015):
        assert _check(weather[year == later], suite).success, later
    tenfold = weather[year == 2013].assign(temp_max=lambda f: f["temp_max"] * 10)
    assert {f.column for f in _check(tenfold, suite).blocking} == {"temp_max"}
    # °C -> °F moves temp_max by about 1.5x its own scale here: a warning, not a block (a known
    # limit: a shift that small cannot be told from a regime change by a generic rule).
    fahrenheit = weather[year == 2013].assign(temp_max=lambda f: f["temp_max"] * 9 / 5 + 32)
    result = _check(fahrenheit, suite)
    assert result.success and "temp_max" in {f.column for f in result.warnings}


def test_validation_does_not_keep_the_batch_alive() -> None:
    """GE's shared context must not hold the previous batch (hundreds of MB at 1M rows)."""
    import gc
    import weakref

    import numpy as np
    import pandas as pd

    from data_contracts.validate import validate_frame

    frame = pd.DataFrame({"a": np.arange(500.0)})
    suite = {
        "name": "s",
        "expectations": [
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "a"},
                "meta": {"severity": "warn"},
            }
        ],
    }
    assert validate_frame(frame, suite, source="f.csv").success
    alive = weakref.ref(frame)
    del frame
    gc.collect()
    assert alive() is None


def test_timestamps_as_text_pass_and_text_that_is_no_date_blocks(clean: pd.DataFrame, suite: dict) -> None:
    as_text = clean.assign(timestamp=clean["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert _check(as_text, suite).success  # a CSV batch of a project whose reference was Parquet
    stray = as_text.copy()
    stray.loc[stray.index[:3], "timestamp"] = "n/a"  # 3 of 500: under the 2% tolerance
    assert _check(stray, suite).success
    broken = as_text.assign(timestamp="yesterday")
    result = _check(broken, suite, "feed_09.csv")
    assert not result.success
    (failure,) = [f for f in result.blocking if f.rule == "expect_column_values_to_match_regex"]
    assert failure.column == "timestamp" and failure.examples == ("yesterday",)
    assert "100.0% of values do not read as dates or times" in failure.message
