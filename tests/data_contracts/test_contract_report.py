"""HTML/JSON reports: self-contained, escaped, with verdict and failing columns."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import pandas as pd

from data_contracts import bootstrap_suite, render_html, validate_frame, write_report
from data_contracts.results import ContractFailure, ContractResult


def _result(*failures: ContractFailure, source: str = "feed.csv") -> ContractResult:
    return ContractResult(
        success=not any(f.blocking for f in failures),
        suite_name="weather",
        source=source,
        evaluated=12,
        passed=12 - len(failures),
        failures=failures,
    )


def _failure(column: str, severity: str, message: str = "bad") -> ContractFailure:
    return ContractFailure(
        rule="expect_column_values_to_be_in_set",
        column=column,
        severity=severity,
        unexpected_count=3,
        unexpected_percent=12.5,
        examples=("west", "<i>x</i>"),
        observed=None,
        message=message,
    )


def test_quarantined_report_from_a_real_validation(clean_for_report: pd.DataFrame, suite: dict) -> None:
    result = validate_frame(clean_for_report, suite, source="feed_09.csv")
    page = render_html(result, batch_id="2024-03-01T00")
    assert 'v-quarantined">QUARANTINED</span>' in page and "pressure" in page and "feed_09.csv" in page
    assert "2024-03-01T00" in page and "expect_column_values_to_be_between" in page
    assert f"{result.passed} of {result.evaluated} checks passed" in page
    assert "http" not in page.lower() and "<script" not in page.lower()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page


def test_verdicts_and_empty_table() -> None:
    accepted = render_html(_result(), batch_id="b1", title="Nightly contract")
    assert 'v-accepted">ACCEPTED</span>' in accepted and "No failed checks." in accepted
    assert "<title>Nightly contract</title>" in accepted
    warned = render_html(_result(_failure("station", "warn")), batch_id="b1")
    assert 'v-warned">ACCEPTED WITH WARNINGS</span>' in warned and "12.50%" in warned and "station" in warned
    assert "QUARANTINED" not in warned


def test_everything_is_escaped() -> None:
    nasty = _failure("<script>alert(1)</script>", "block", message="a < b & 'c'")
    page = render_html(_result(nasty, source="<b>feed</b>.csv"), batch_id="<id>")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;feed&lt;/b&gt;.csv" in page and "&lt;id&gt;" in page
    assert "a &lt; b &amp; &#x27;c&#x27;" in page and "&lt;i&gt;x&lt;/i&gt;" in page


def test_write_report_writes_json_and_html(tmp_path: Path) -> None:
    result = _result(_failure("station", "block"))
    json_path, html_path = write_report(result, batch_id="b7", directory=tmp_path / "reports")
    assert (json_path.name, html_path.name) == ("report.json", "report.html")
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data == {"batch_id": "b7", **result.to_dict()}
    assert "QUARANTINED" in html_path.read_text(encoding="utf-8")


HOSTILE = ("</script><script>alert(3)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(2)>')


def test_hostile_names_and_values_from_a_real_validation_are_inert(
    reference: pd.DataFrame, clean_for_report: pd.DataFrame, tmp_path: Path
) -> None:
    name = HOSTILE[2]  # a column name is data too
    suite = bootstrap_suite(
        reference.rename(columns={"station": name}),
        name="weather",
        target="label",
        id_column="record_id",
        time_column="timestamp",
    )
    batch = clean_for_report.rename(columns={"station": name})
    batch[name] = [HOSTILE[i % 3] for i in range(len(batch))]
    result = validate_frame(batch, suite, source=HOSTILE[1])
    hostile = next(f for f in result.failures if f.column == name)
    assert not result.success and set(hostile.examples) == set(HOSTILE)

    _, html_path = write_report(result, batch_id=HOSTILE[0], directory=tmp_path)
    page = html_path.read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<img" not in page and "<svg" not in page
    for payload in HOSTILE:
        assert payload not in page
    assert escape(name) in page and escape(HOSTILE[1]) in page  # shown, as text
    assert page.count("<tr") == len(result.failures) + 1
