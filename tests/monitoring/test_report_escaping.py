"""The drift HTML report keeps hostile column names and values inside its JSON (stored XSS)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitoring.drift import DriftResult, compute_drift
from monitoring.drift_html import (
    ReportLayoutError,
    harden_evidently_html,
    script_safe_json,
    write_safe_report,
)

BREAKOUT = "</script><script>alert(3)</script>"
IMG = "<img src=x onerror=alert(1)>"
ATTR = '"><svg onload=alert(2)>'
PAYLOADS = (BREAKOUT, IMG, ATTR)
NUMERIC = ["temp"]


def make_frame(seed: int, *, rows: int, hostile: bool, shift: float = 0.0) -> pd.DataFrame:
    """``temp``, a categorical named ``ATTR`` (or ``kind``) and ``site``; payloads as categories."""
    rng = np.random.default_rng(seed)
    labels = list(PAYLOADS) if hostile else ["p1", "p2", "p3"]
    p = [0.2, 0.3, 0.5] if shift == 0 else [0.6, 0.3, 0.1]
    return pd.DataFrame(
        {
            "temp": rng.normal(10 + 6 * shift, 6, rows),
            (ATTR if hostile else "kind"): rng.choice(labels, rows, p=p),
            "site": rng.choice([IMG if hostile else "img", "north"], rows),
        }
    )


def drift(current: pd.DataFrame, **kwargs: Any) -> DriftResult:
    categorical = [c for c in current.columns if c not in NUMERIC]
    reference = make_frame(1, rows=800, hostile=current.columns[1] == ATTR)
    return compute_drift(current, reference, numeric=NUMERIC, categorical=categorical, **kwargs)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The hostile report, a clean report of the same shape, and the hostile verdicts."""
    folder = tmp_path_factory.mktemp("reports")
    hostile = make_frame(2, rows=800, hostile=True, shift=1.0)
    with_report = drift(hostile, report_path=folder / "hostile.html")
    drift(make_frame(2, rows=800, hostile=False, shift=1.0), report_path=folder / "clean.html")
    return {
        "hostile": (folder / "hostile.html").read_text(encoding="utf-8"),
        "clean": (folder / "clean.html").read_text(encoding="utf-8"),
        "with_report": with_report,
        "without_report": drift(hostile),
    }


def data_block(page: str) -> tuple[Any, Any, int]:
    """The two JSON values of Evidently's data block, and where the block's values end."""
    start = re.search(r"<script>\s*var (\w+) = ", page)
    assert start is not None
    decoder = json.JSONDecoder()
    dashboard, end = decoder.raw_decode(page, start.end())
    second = re.compile(rf";\s*var additional_graphs_{start[1]} = ").match(page, end)
    assert second is not None
    graphs, end = decoder.raw_decode(page, second.end())
    return dashboard, graphs, end


def test_hostile_values_and_names_stay_inside_the_json_and_verdicts_hold(pages: dict[str, Any]) -> None:
    page = pages["hostile"]
    assert "</script><script>alert" not in page
    for payload in PAYLOADS:
        assert payload not in page
    assert page.count("<script") == pages["clean"].count("<script")
    assert page.count("</script>") == pages["clean"].count("</script>")
    # ... yet the report still carries them, as JSON escapes a script reads back unchanged.
    assert script_safe_json(json.dumps(BREAKOUT))[1:-1] in page
    assert script_safe_json(json.dumps(ATTR))[1:-1] in page
    # Writing the (hardened) report changes no verdict.
    with_report, without = pages["with_report"], pages["without_report"]
    assert with_report.report_path is not None and without.report_path is None
    assert with_report.columns == without.columns and with_report.prediction == without.prediction
    assert (with_report.detected, with_report.share) == (without.detected, without.share)
    assert {c.column for c in with_report.columns} == {"temp", ATTR, "site"}
    assert with_report.detected and ATTR in with_report.drifted_columns


def test_hardening_a_real_evidently_page_keeps_every_value() -> None:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    current, reference = make_frame(3, rows=300, hostile=True), make_frame(4, rows=300, hostile=True)
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=[ATTR, "site"])
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    raw = snapshot.get_html_str(as_iframe=False)
    assert BREAKOUT in raw  # what Evidently itself writes: the flaw this module exists for

    safe = harden_evidently_html(raw)
    *raw_values, raw_end = data_block(raw)
    *safe_values, safe_end = data_block(safe)
    assert safe_values == raw_values
    block = re.search(r"<script>\s*var ", raw)
    assert block is not None and safe[: block.end()] == raw[: block.end()]
    assert safe[safe_end:] == raw[raw_end:]  # the library and the draw call are untouched
    assert not set("<>&") & set(safe[block.end() : safe_end])
    assert harden_evidently_html(safe) == safe


@pytest.mark.parametrize(
    "value",
    [BREAKOUT, IMG, ATTR, "<!--<script>", "a & b", "\\<", "line\u2028sep\u2029", {"<k>": ["</script>", 1.5]}],
)
def test_script_safe_json_is_the_same_value_without_markup(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    safe = script_safe_json(text)
    assert json.loads(safe) == value
    assert not set("<>&\u2028\u2029") & set(safe)


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("<html><body>no script</body></html>", "first <script>"),
        ("<script>alert(1)</script><script>var m = {};</script>", "first <script>"),
        ("<script>var m = {'a': 1};</script>", "invalid JSON"),
        ("<script>var m = [1];</script>", "not a JSON object"),
        ("<script>var m = {};</script><script>alert(1)</script>", "no additional_graphs_m"),
        ('<script>var m = {}; var additional_graphs_m = {"a": 1}; alert(1)</script>', "does not end"),
    ],
)
def test_pages_of_another_shape_are_refused(page: str, message: str) -> None:
    with pytest.raises(ReportLayoutError, match=re.escape(message)):
        harden_evidently_html(page)


def test_a_page_that_cannot_be_hardened_is_not_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "drift.html"
    path.write_text("older report", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="monitoring"):
        written = write_safe_report(f"<html><script>{BREAKOUT}</script></html>", path)

    assert not written and not path.exists()
    assert "drift HTML report not written" in caplog.text


def test_minimal_page_is_hardened_and_written(tmp_path: Path) -> None:
    dashboard = {"widgets": [{"title": BREAKOUT, "params": {"x": [IMG, ATTR]}}]}
    page = (
        f"<head><script>\n    var metric_1 = {json.dumps(dashboard)};\n"
        f"    var additional_graphs_metric_1 = {json.dumps({'g': IMG})};\n</script></head>"
        "<body><script>if (1 < 2 && 3 > 2) draw(metric_1)</script></body>"
    )
    path = tmp_path / "nested" / "drift.html"
    assert write_safe_report(page, path)

    written = path.read_text(encoding="utf-8")
    assert all(p not in written for p in PAYLOADS) and written.count("<script") == 2
    assert written.endswith("<body><script>if (1 < 2 && 3 > 2) draw(metric_1)</script></body>")
    assert data_block(written)[:2] == (dashboard, {"g": IMG})
