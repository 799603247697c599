"""Contract review: blocking rules with evidence, streaks, accept (widen or demote), refresh, diff."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_contracts import bootstrap_suite, validate_frame
from data_contracts import review as rv
from data_contracts.results import SCALE_RULES


def _quarantined(frame: pd.DataFrame, suite: dict, name: str) -> dict:
    result = validate_frame(frame, suite, source=name)
    assert not result.success
    return result.to_dict()


def test_accept_widens_the_scale_rule_so_the_batch_passes(clean: pd.DataFrame, suite: dict) -> None:
    inhg = clean.assign(pressure=clean["pressure"] * 0.02953)
    contract = _quarantined(inhg, suite, "feed.csv")
    evidence = {"pressure": (float(inhg["pressure"].min()), float(inhg["pressure"].max()))}
    new, changes = rv.accept(suite, contract, evidence=evidence)
    assert rv.version(suite) == 1 and rv.version(new) == 2
    assert [(c["rule"], c["column"]) for c in changes] == [("expect_column_median_to_be_between", "pressure")]
    assert "widened" in changes[0]["change"]
    assert validate_frame(inhg, new, source="feed.csv").success
    assert suite["expectations"] != new["expectations"]  # the input suite is left as it was
    lines = rv.diff(suite, new)
    assert len(lines) == 1 and lines[0].startswith(
        "~ expect_column_median_to_be_between on column 'pressure'"
    )


def test_accept_refuses_schema_and_id_rules(clean: pd.DataFrame, suite: dict) -> None:
    contract = _quarantined(clean.drop(columns=["wind"]), suite, "feed.csv")
    with pytest.raises(rv.ReviewError, match="schema or the ids"):
        rv.accept(suite, contract, evidence={})
    with pytest.raises(rv.ReviewError, match="no blocking failure"):
        rv.accept(suite, {"failures": []}, evidence={})


def test_accept_demotes_a_rule_without_bounds(clean: pd.DataFrame, suite: dict) -> None:
    frame = clean.copy()
    frame.loc[frame.index[:300], "humidity"] = np.nan  # a null jump
    new, changes = rv.accept(suite, _quarantined(frame, suite, "f.csv"), evidence={})
    assert changes[0]["change"] == "demoted from block to warn"
    assert validate_frame(frame, new, source="f.csv").success


def test_blocking_rules_group_batches_and_streaks_count_in_a_row(clean: pd.DataFrame, suite: dict) -> None:
    bad = _quarantined(clean.assign(temperature=clean["temperature"] * 10), suite, "b.csv")
    rules = rv.blocking_rules([("b1", bad), ("b2", bad)])
    assert {(r.column, r.batches) for r in rules} == {("temperature", ("b1", "b2"))}
    history = [("b0", "accepted", None), ("b1", "quarantined", bad), ("b2", "quarantined", bad)]
    assert rv.streaks(history, length=3) == []
    found = rv.streaks([*history, ("b3", "quarantined", bad)], length=3)
    assert found and {s["column"] for s in found} == {"temperature"} and {s["batches"] for s in found} == {3}
    assert "blocked the last 3 batches in a row" in found[0]["message"]
    assert rv.streaks([*history, ("b3", "accepted", None)], length=2) == []  # broken by a good batch


def _blocks(suite: dict, *, scale: bool) -> list[dict]:
    return [
        e
        for e in suite["expectations"]
        if e["meta"]["severity"] == "block" and (e["type"] in SCALE_RULES) == scale
    ]


def test_refresh_replaces_warn_distribution_rules_and_only_widens_scale_rules(
    reference: pd.DataFrame, suite: dict
) -> None:
    later = reference.assign(temperature=reference["temperature"] + 15)
    fresh = bootstrap_suite(
        later, name="weather", target="label", id_column="record_id", time_column="timestamp"
    )
    new = rv.refresh_distribution(suite, fresh)
    assert _blocks(new, scale=False) == _blocks(suite, scale=False)  # validity: untouched
    old_scale, new_scale = _blocks(suite, scale=True), _blocks(new, scale=True)
    assert [(e["type"], e["kwargs"]["column"]) for e in new_scale] == [
        (e["type"], e["kwargs"]["column"]) for e in old_scale
    ]
    for before, after in zip(old_scale, new_scale, strict=True):  # never narrower
        low, high = before["kwargs"].get("min_value"), before["kwargs"].get("max_value")
        assert low is None or after["kwargs"]["min_value"] <= low
        assert high is None or after["kwargs"]["max_value"] >= high

    def temperature_median(rules: list[dict]) -> dict:
        return next(
            e["kwargs"]
            for e in rules
            if e["type"] == "expect_column_median_to_be_between" and e["kwargs"]["column"] == "temperature"
        )

    # the warmer scale is known now; the lower bound stays where it was
    assert temperature_median(new_scale)["max_value"] > temperature_median(old_scale)["max_value"]
    assert temperature_median(new_scale)["min_value"] == temperature_median(old_scale)["min_value"]
    warn_range = [
        e
        for e in new["expectations"]
        if e["type"] == "expect_column_values_to_be_between" and e["kwargs"]["column"] == "temperature"
    ]
    assert warn_range[0]["kwargs"]["min_value"] > reference["temperature"].min()
    assert rv.version(new) == 2
