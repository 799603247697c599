"""The Prefect UI's Artifacts page shows what a batch and a gate decided, not only logs.

A flow run against the served project's Prefect server publishes the artifacts of the project's
own newest accepted batch and newest gate decision (read back from its state store and ledger, the
shapes `run_batch` and `run_retrain` return) through `flows.artifacts`; headless Chromium then
reads them on the Artifacts pages. Until the batch-cycle flow publishes them itself, the run
here is a small flow that calls the publishers, in a subprocess pointed at the served server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from driftline.services.workspace import Workspace
from flows.artifacts import BATCH_SUMMARY, CONTRACT_FAILURES, GATE_DECISION, REPLAY_PROGRESS, artifact_key
from tests.browser import test_ui as ui
from tests.servers import ServedProject, clean_env, http_json

pytestmark = [
    pytest.mark.browser,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")),
        reason="needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver",
    ),
]
REPO = Path(__file__).resolve().parents[2]
HOSTILE = "</script><script>alert(1)</script>"
HOSTILE_PROJECT = "hostile-check"
PUBLISH_TIMEOUT_S = 180
shots = ui.shots  # the screenshot fixture of the UI tests (the browser comes from conftest)
page_text, wait_text = ui.page_text, ui.wait_text

# Run in a fresh process: the flow run and its artifacts land on the served server, as a
# deployment's run would, whatever Prefect settings this test process holds.
PUBLISH = """
import json, sys
from prefect import flow
from flows.artifacts import ReplayProgress, publish_batch, publish_gate_decision

@flow(name="publish-artifacts")
def publish_artifacts(project: str, batch: dict, gate: dict, hostile: dict) -> None:
    publish_batch(project, batch)
    publish_gate_decision(project, gate)
    publish_batch("hostile-check", hostile)
    progress = ReplayProgress(project)
    progress.start(2)
    progress.advance()
    progress.advance()

publish_artifacts(**json.loads(open(sys.argv[1]).read()))
"""


def _batch_result(ws: Workspace) -> dict[str, Any]:
    """The newest accepted batch as `run_batch` returned it (the keys the summary reads)."""
    row = [b for b in ws.state.list_batches() if b.status == "accepted" and b.decision][-1]
    return {
        "batch_id": row.batch_id,
        "source": row.source,
        "rows": row.rows,
        "status": row.status,
        "seq": row.seq,
        "contract": row.contract,
        "drift": row.drift,
        "scoring": {"model_version": row.champion_version},
        "performance": row.performance,
        "decision": row.decision,
        "retrain": None,
        "labels_rejected": None,
    }


def _gate_result(ws: Workspace) -> dict[str, Any]:
    """The newest gate decision in the ledger as `run_retrain` returned it."""
    entry = [e for e in ws.state.read_ledger() if isinstance(e["decision"], dict)][-1]
    return {
        "status": "done",
        "version": entry["to_version"],
        "gated_version": entry["to_version"],
        "promoted": entry["action"] != "reject",
        "gate": entry["decision"],
        "reason": entry["trigger"],
    }


def _hostile(batch: dict[str, Any]) -> dict[str, Any]:
    failure = {
        "rule": "expect_table_columns_to_match_set",
        "column": None,
        "severity": "block",
        "unexpected_count": None,
        "unexpected_percent": None,
        "message": f"table: columns do not match the contract: unexpected ['{HOSTILE}'] (block)",
    }
    contract = {**batch["contract"], "success": False, "verdict": "QUARANTINED", "failures": [failure]}
    return {**batch, "status": "quarantined", "contract": contract, "drift": None, "decision": None}


@pytest.fixture(scope="module")
def published(served_project: ServedProject, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ws = Workspace(served_project.cfg)
    batch = _batch_result(ws)
    payload = {
        "project": ws.config.project,
        "batch": batch,
        "gate": _gate_result(ws),
        "hostile": _hostile(batch),
    }
    folder = tmp_path_factory.mktemp("publish")
    (folder / "payload.json").write_text(json.dumps(payload))
    env = clean_env() | {
        "PREFECT_API_URL": served_project.urls.prefect_api,
        "PREFECT_HOME": str(folder / "prefect-home"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PUBLISH, str(folder / "payload.json")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=PUBLISH_TIMEOUT_S,
    )
    assert done.returncode == 0, f"publishing flow failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "Prefect artifact not published" not in done.stdout + done.stderr
    return payload


def _latest(project: ServedProject, key: str) -> dict[str, Any]:
    found = http_json(
        f"{project.urls.prefect_api}/artifacts/filter",
        {"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 1},
    )
    assert found, f"no artifact with key {key!r} on the served Prefect server"
    return found[0]  # type: ignore[no-any-return]


def open_latest(project: ServedProject, driver: Any, key: str) -> None:
    """The key's page (its versions' timeline), then its newest version's page (the content)."""
    latest = _latest(project, key)
    driver.get(f"{project.urls.prefect}/artifacts/key/{key}")
    wait_text(driver, key, latest["id"][:8])
    driver.get(f"{project.urls.prefect}/artifacts/artifact/{latest['id']}")
    wait_text(driver, key, "Show raw data")


def test_the_artifacts_page_lists_the_project_keys(
    served_project: ServedProject, published: dict[str, Any], browser: Any, shots: Callable[[Any, str], Path]
) -> None:
    project = published["project"]
    keys = [artifact_key(project, kind) for kind in (BATCH_SUMMARY, GATE_DECISION, REPLAY_PROGRESS)]
    assert _latest(served_project, keys[2])["data"] == 100.0  # the replay's bar, moved to the end
    browser.get(f"{served_project.urls.prefect}/artifacts")
    wait_text(browser, *keys)
    shots(browser, "prefect-artifacts")


def test_the_batch_summary_renders_its_status_and_reasons(
    served_project: ServedProject, published: dict[str, Any], browser: Any, shots: Callable[[Any, str], Path]
) -> None:
    batch = published["batch"]
    open_latest(served_project, browser, artifact_key(published["project"], BATCH_SUMMARY))
    reason = batch["decision"]["reasons"][0]
    wait_text(browser, f"Batch {batch['batch_id']}: ACCEPTED", "Retrain decision", reason)
    text = page_text(browser)
    assert "\\_" not in text and "**" not in text  # rendered: the markdown escapes are consumed
    shots(browser, "prefect-artifact-batch-summary")


def test_the_gate_decision_renders_its_verdict_and_reasons(
    served_project: ServedProject, published: dict[str, Any], browser: Any, shots: Callable[[Any, str], Path]
) -> None:
    gate = published["gate"]
    verdict = "PROMOTED" if gate["promoted"] else "REJECTED"
    open_latest(served_project, browser, artifact_key(published["project"], GATE_DECISION))
    wait_text(browser, f"Gate: v{gate['version']} {verdict}", "Reasons", gate["gate"]["reasons"][0])
    shots(browser, "prefect-artifact-gate-decision")


def test_a_hostile_column_name_shows_as_text_and_runs_nothing(
    served_project: ServedProject, published: dict[str, Any], browser: Any
) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    for kind in (BATCH_SUMMARY, CONTRACT_FAILURES):
        open_latest(served_project, browser, artifact_key(HOSTILE_PROJECT, kind))
        wait_text(browser, "QUARANTINED" if kind == BATCH_SUMMARY else "expect_table_columns_to_match_set")
        wait_text(browser, HOSTILE)  # shown literally, as the data spelled it
        injected = browser.execute_script(
            "return [...document.querySelectorAll('script, img, iframe')]"
            ".some(e => e.outerHTML.includes('alert(1)'))"
        )
        assert not injected, f"{kind}: the column name became an element"
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018 - reading it is the check
