"""Hostile data cannot run script in the reports Driftline writes, opened in headless Chromium.

The drift report (real Evidently, via ``monitoring.drift.compute_drift``) and the contract
quarantine report (real Great Expectations validation, via ``data_contracts``) are written for
frames whose column names and category values are script payloads; each payload would set
``window.__pwned`` and open an alert if it ever ran. Drives Debian's `chromium` +
`chromium-driver` through Selenium; nothing is downloaded and no server is started.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.browser.chromium import CHROMEDRIVER, CHROMIUM, PAGE_TIMEOUT_S

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (a dev dependency) is not installed")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason="needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver",
    ),
]
SETTLE_S = 1.0  # after rendering: time for a late onerror/onload handler to have fired

BREAKOUT = "</script><script>window.__pwned=2;alert(2)</script>"
IMG = '<img src=x onerror="window.__pwned=1;alert(1)">'
ATTR = '"><svg onload="window.__pwned=3;alert(3)">'
PAYLOADS = (BREAKOUT, IMG, ATTR)


def hostile_frame(seed: int, *, rows: int, shift: float = 0.0) -> pd.DataFrame:
    """``temp``, a categorical named ``ATTR`` holding every payload, ``site`` holding ``IMG``."""
    rng = np.random.default_rng(seed)
    p = [0.2, 0.3, 0.5] if shift == 0 else [0.6, 0.3, 0.1]
    return pd.DataFrame(
        {
            "temp": rng.normal(10 + 6 * shift, 6, rows),
            ATTR: rng.choice(list(PAYLOADS), rows, p=p),
            "site": rng.choice([IMG, "north"], rows),
            "label": rng.integers(0, 2, rows),
        }
    )


def open_report(driver: Any, path: Path, *, rendered: str) -> None:
    """Load ``path`` and wait until the JS expression ``rendered`` holds."""
    from selenium.common.exceptions import UnexpectedAlertPresentException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        driver.get(path.as_uri())
        WebDriverWait(driver, PAGE_TIMEOUT_S).until(lambda d: d.execute_script(f"return Boolean({rendered})"))
    except UnexpectedAlertPresentException as exc:
        driver.switch_to.alert.dismiss()  # leave the shared browser usable for the next test
        pytest.fail(f"{path.name}: script from the data ran and opened alert {exc.alert_text!r}")


def assert_nothing_ran(driver: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    time.sleep(SETTLE_S)
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - the property raises when no dialog is open
    assert driver.execute_script("return typeof window.__pwned") == "undefined"


def test_drift_report_renders_hostile_data_as_text(browser: Any, tmp_path: Path) -> None:
    from monitoring.drift import compute_drift

    path = tmp_path / "drift.html"
    result = compute_drift(
        hostile_frame(2, rows=600, shift=1.0),
        hostile_frame(1, rows=600),
        numeric=["temp"],
        categorical=[ATTR, "site"],
        report_path=path,
    )
    assert result.report_path == str(path) and ATTR in result.drifted_columns

    open_report(browser, path, rendered="document.querySelector('[id^=\"root_\"]')?.childElementCount")
    for toggle in browser.find_elements("css selector", "tbody tr button"):  # per-column plots
        browser.execute_script("arguments[0].click()", toggle)
    assert_nothing_ran(browser)
    text = browser.find_element("tag name", "body").text
    assert "Dataset Drift" in text and ATTR in text  # the column name is shown, as text
    labels = browser.execute_script(
        "return Array.from(document.querySelectorAll('svg text'), t => t.textContent)"
    )
    assert {BREAKOUT, IMG} <= set(labels)  # category values are chart labels, not markup


def test_quarantine_report_renders_hostile_data_as_text(browser: Any, tmp_path: Path) -> None:
    from data_contracts import bootstrap_suite, validate_frame, write_report

    reference = hostile_frame(1, rows=500)
    reference[ATTR] = reference[ATTR].map(dict(zip(PAYLOADS, ("calm", "mild", "fair"), strict=True)))
    suite = bootstrap_suite(reference, name="hostile", target="label")
    # The payloads are new categories (failures with examples); the unit change in temp blocks.
    batch = hostile_frame(2, rows=500).assign(temp=lambda f: f["temp"] * 1000)
    result = validate_frame(batch, suite, source=IMG)
    assert not result.success and ATTR in {f.column for f in result.failures}

    _, path = write_report(result, batch_id=BREAKOUT, directory=tmp_path / "quarantine")
    open_report(browser, path, rendered="document.querySelector('table')")
    assert_nothing_ran(browser)
    text = browser.find_element("tag name", "body").text
    assert "QUARANTINED" in text and ATTR in text and IMG in text and BREAKOUT in text
