"""What a person sees: the Prefect and MLflow UIs of a served project, in headless Chromium.

Drives the system browser (Debian `chromium` + `chromium-driver`) through Selenium; nothing is
downloaded. Screenshots go to ``$DRIFTLINE_SCREENSHOTS`` when set (the README's images are made
with ``DRIFTLINE_SCREENSHOTS=docs/screenshots``), else to a temporary folder.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from driftline.ops.servers import watch_folder
from tests.browser.chromium import CHROMEDRIVER, CHROMIUM, PAGE_TIMEOUT_S
from tests.servers import (
    ServedProject,
    deployment,
    flow_runs,
    new_batch_file,
    wait_for_run,
)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (a dev dependency) is not installed")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason="needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver",
    ),
]
RUN_TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Any, str], Path]:
    folder = Path(os.environ.get("DRIFTLINE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)

    def take(driver: Any, name: str) -> Path:
        path = folder / f"{name}.png"
        assert driver.save_screenshot(str(path)), f"screenshot {path} failed"
        return path

    return take


def wait_until(driver: Any, check: Callable[[Any], Any], what: str, timeout: float = PAGE_TIMEOUT_S) -> Any:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(
            driver, timeout, poll_frequency=0.5, ignored_exceptions=[WebDriverException]
        ).until(check)
    except Exception:
        body = driver.execute_script("return document.body ? document.body.innerText : ''")[:1500]
        raise AssertionError(
            f"timed out waiting for {what} at {driver.current_url}; page text:\n{body}"
        ) from None


def page_text(driver: Any) -> str:
    return str(driver.execute_script("return document.body ? document.body.innerText : ''"))


def wait_text(driver: Any, *texts: str, timeout: float = PAGE_TIMEOUT_S) -> None:
    wait_until(driver, lambda d: all(t in page_text(d) for t in texts), f"text {texts!r}", timeout)


def click_text(driver: Any, text: str) -> None:
    """Click the innermost element whose whole text is ``text``."""
    from selenium.webdriver.common.by import By

    xpath = f"//*[normalize-space(.)='{text}' and not(*[normalize-space(.)='{text}'])]"
    element = wait_until(driver, lambda d: next(iter(d.find_elements(By.XPATH, xpath)), None), f"'{text}'")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def close_mlflow_assistant(driver: Any) -> None:
    """The MLflow UI opens an assistant side panel that hides a third of the page: close it."""
    closed = driver.execute_script(
        """const chat = document.querySelector('button[aria-label="New Chat"]');
           const close = chat && chat.parentElement.querySelector('button[aria-label="Close"]');
           if (close) { close.click(); }
           return Boolean(close);"""
    )
    if closed:
        time.sleep(1.0)  # the page re-lays itself out over the freed width


# --- Prefect UI ------------------------------------------------------------------------------------


def test_prefect_lists_the_deployments_and_the_retrain_schedule(
    served_project: ServedProject, browser: Any, shots: Callable[[Any, str], Path]
) -> None:
    prefect = served_project.urls.prefect
    browser.get(f"{prefect}/deployments")
    wait_text(browser, "batch-cycle", "retrain", "replay", "watch", "Ready")
    shots(browser, "prefect-deployments")

    retrain = deployment(served_project.prefect, "retrain")
    cron = retrain["schedules"][0]["schedule"]["cron"]
    minute, hour = cron.split()[:2]
    browser.get(f"{prefect}/deployments/deployment/{retrain['id']}")
    wait_text(browser, "Schedules", f"{int(hour):02d}:{int(minute):02d}")
    shots(browser, "prefect-retrain-schedule")


def test_a_run_started_with_the_run_button_completes(
    served_project: ServedProject, browser: Any, shots: Callable[[Any, str], Path]
) -> None:
    # Give the watch deployment something to do: a new batch in its default folder, old enough
    # to count as fully written.
    incoming = watch_folder(served_project.cfg)
    incoming.mkdir(parents=True, exist_ok=True)
    batch = new_batch_file(served_project, "from-ui.csv", rows=350, skip=800)
    target = incoming / batch.name
    shutil.move(batch, target)
    past = time.time() - 60
    os.utime(target, (past, past))

    api = served_project.prefect
    watch = deployment(api, "watch")
    before = {run["id"] for run in flow_runs(api, watch["id"])}
    browser.get(f"{served_project.urls.prefect}/deployments/deployment/{watch['id']}")
    wait_text(browser, "watch", "Run")
    click_text(browser, "Run")
    click_text(browser, "Quick run")

    def new_run() -> dict[str, Any] | None:
        runs = [r for r in flow_runs(api, watch["id"]) if r["id"] not in before]
        return next((r for r in runs if "auto-scheduled" not in r["tags"]), None)

    run = wait_until(browser, lambda _d: new_run(), "the flow run the Run button creates", timeout=30)
    done = wait_for_run(api, run["id"], timeout=RUN_TIMEOUT_S)
    assert done["state_type"] == "COMPLETED", done["state"]
    browser.get(f"{served_project.urls.prefect}/runs/flow-run/{run['id']}")
    wait_text(browser, run["name"], "Completed", "1 ingested")  # the flow's own log line
    time.sleep(2.0)  # the run graph is drawn on a canvas after the data arrives
    shots(browser, "prefect-run-completed")
    ledger = (served_project.cfg.root / "watch" / "processed.json").read_text()
    assert "from-ui.csv" in ledger


# --- MLflow UI -------------------------------------------------------------------------------------


def _mlflow(project: ServedProject, endpoint: str, **query: str) -> Any:
    return project.mlflow_json(endpoint, **query)


def sign_in_to_mlflow(driver: Any, project: ServedProject) -> None:
    """The MLflow server runs its basic-auth app: the browser sends the admin's credentials with
    every request, as it would after a person answered the sign-in prompt."""
    token = base64.b64encode(project.mlflow_auth.encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})


def test_mlflow_shows_the_registered_model_with_its_champion_alias(
    served_project: ServedProject, browser: Any, shots: Callable[[Any, str], Path]
) -> None:
    name = served_project.cfg.model_name
    champion = _mlflow(served_project, "registered-models/alias", name=name, alias="champion")
    sign_in_to_mlflow(browser, served_project)
    browser.get(f"{served_project.urls.mlflow}/#/models/{name}")
    wait_text(browser, name, f"Version {champion['model_version']['version']}", "champion")
    close_mlflow_assistant(browser)
    shots(browser, "mlflow-model-champion")


def test_mlflow_run_page_shows_the_shap_plot(
    served_project: ServedProject, browser: Any, shots: Callable[[Any, str], Path]
) -> None:
    name = served_project.cfg.model_name
    version = _mlflow(served_project, "registered-models/alias", name=name, alias="champion")["model_version"]
    run = _mlflow(served_project, "runs/get", run_id=version["run_id"])["run"]
    sign_in_to_mlflow(browser, served_project)
    url = (
        f"{served_project.urls.mlflow}/#/experiments/{run['info']['experiment_id']}/runs/{version['run_id']}"
    )
    browser.get(f"{url}/artifacts/shap/beeswarm.png")
    wait_text(browser, "shap/beeswarm.png")
    wait_until(
        browser,
        lambda d: d.execute_script(
            "return [...document.images].some(i => i.complete && i.naturalWidth > 300)"
        ),
        "the SHAP beeswarm image to load",
    )
    close_mlflow_assistant(browser)
    shots(browser, "mlflow-shap")


def test_mlflow_run_page_shows_the_drift_report(
    served_project: ServedProject, browser: Any, shots: Callable[[Any, str], Path]
) -> None:
    from selenium.webdriver.common.by import By

    found = served_project.mlflow_json(
        "runs/search",
        {
            "experiment_ids": [_experiment_id(served_project)],
            "filter": "tags.`driftline.kind` = 'monitoring'",
            "max_results": 1,
        },
    )
    run = found["runs"][0]["info"]
    batches = _mlflow(served_project, "artifacts/list", run_id=run["run_id"], path="batches")["files"]
    latest = sorted(f["path"] for f in batches if f["is_dir"])[-1]
    sign_in_to_mlflow(browser, served_project)
    url = f"{served_project.urls.mlflow}/#/experiments/{run['experiment_id']}/runs/{run['run_id']}"
    browser.get(f"{url}/artifacts/{latest}/drift.html")
    wait_text(browser, f"{latest}/drift.html")
    frame = wait_until(
        browser, lambda d: next(iter(d.find_elements(By.TAG_NAME, "iframe")), None), "the report"
    )
    browser.switch_to.frame(frame)
    try:
        wait_text(browser, "Drift", timeout=90)  # a 4 MB self-contained page renders itself
    finally:
        browser.switch_to.default_content()
    close_mlflow_assistant(browser)
    shots(browser, "mlflow-drift-report")


def _experiment_id(project: ServedProject) -> str:
    found = _mlflow(project, "experiments/get-by-name", experiment_name=project.cfg.model_name)
    return str(found["experiment"]["experiment_id"])
