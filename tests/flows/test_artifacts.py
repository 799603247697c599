"""Prefect artifacts of a batch, a gate and a replay, on Prefect's real engine, read back through its
client; the batches are the real batch cycle's results on a small project."""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prefect import flow

from flows.artifacts import (
    BATCH_SUMMARY,
    COLUMN_DRIFT,
    CONTRACT_FAILURES,
    DRIFT_REPORT,
    GATE_DECISION,
    REPLAY_PROGRESS,
    ReplayProgress,
    artifact_key,
    md,
    publish_batch,
    publish_gate_decision,
)
from flows.batch_cycle import batch_cycle
from models.gate import GateRules, GateVerdict, evaluate_gate
from models.metrics import baseline_predictions
from models.train import Predictions
from tests.flows.project import build_project, write_batch

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

HOSTILE = "</script><script>alert(1)</script>"


# --- helpers --------------------------------------------------------------------------------------


def in_flow(call: Callable[[], Any]) -> Any:
    """Run ``call`` inside a real flow run; returns the run's final state."""

    @flow(name="publish-artifacts")
    def publishing() -> Any:
        return call()

    return publishing(return_state=True)


def artifacts(key: str) -> list[Any]:
    """Every version stored under ``key``, newest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC
        )


def keys_of(project: str) -> set[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    prefix = artifact_key(project, BATCH_SUMMARY).removesuffix(BATCH_SUMMARY)
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=f"{prefix}%"))
        )
    return {a.key for a in found if a.key}


def warnings_of(state: Any, *, expected: int, timeout: float = 15.0) -> list[str]:
    """The WARNING lines the flow run sent to the API, once ``expected`` arrived (they come in batches)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
            )
        found = [log.message for log in logs if log.level == 30]
        if len(found) >= expected or time.monotonic() > deadline:
            return found


# --- the real batch cycle's results ---------------------------------------------------------------


@pytest.fixture(scope="module")
def results(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("artifacts")
    ws = build_project(root)
    config = str(ws.config.base_dir / "driftline.yaml")

    def run(path: Path) -> dict[str, Any]:
        return dict(
            batch_cycle(path=str(path), config_path=config, allow_retrain=False, return_state=True).result()
        )

    clean = run(write_batch(root / "clean.parquet", rows=1200, seed=100, start=10_000))
    shifted = run(write_batch(root / "shifted.parquet", rows=1200, seed=101, start=20_000, shift=1.5))
    broken = pd.read_parquet(write_batch(root / "tmp.parquet", rows=800, seed=102, start=30_000))
    broken.rename(columns={"x1": HOSTILE}).to_parquet(root / "hostile.parquet", index=False)
    hostile = run(root / "hostile.parquet")
    duplicate = run(root / "clean.parquet")
    assert [r["status"] for r in (clean, shifted, hostile, duplicate)] == [
        "accepted",
        "accepted",
        "quarantined",
        "duplicate",
    ]
    return {"clean": clean, "shifted": shifted, "hostile": hostile, "duplicate": duplicate}


def test_keys_are_per_project_and_valid() -> None:
    assert artifact_key("proj", BATCH_SUMMARY) == "proj-batch-summary"
    assert artifact_key("Fraud_Model v2", GATE_DECISION) == "fraud-model-v2-gate-decision"
    assert artifact_key("__", REPLAY_PROGRESS) == "project-replay-progress"
    with pytest.raises(ValueError, match="artifact kind"):
        artifact_key("proj", "summary")


def test_an_accepted_batch_publishes_a_summary_a_drift_table_and_a_link(results: dict[str, Any]) -> None:
    clean = results["clean"]
    report = clean["drift"]["report"]
    state = in_flow(lambda: publish_batch("acc", clean, drift_report_uri=report))
    assert state.is_completed() and state.result() is None
    assert keys_of("acc") == {"acc-batch-summary", "acc-column-drift", "acc-drift-report"}  # no failures

    summary = artifacts(artifact_key("acc", BATCH_SUMMARY))
    assert len(summary) == 1 and summary[0].type == "markdown"
    text = summary[0].data
    assert f"Batch {clean['batch_id']}: ACCEPTED" in text and "1,200 rows" in text
    assert "no dataset drift" in text and "Retrain: no" in text
    assert clean["decision"]["reasons"] and all(md(r) in text for r in clean["decision"]["reasons"])
    served = clean["scoring"]["model_version"]
    auc = clean["performance"][f"champion:{served}"]["auc"]
    assert f"champion v{served} on 1,200 labeled rows: auc {auc:.4g}" in text

    table = json.loads(artifacts(artifact_key("acc", COLUMN_DRIFT))[0].data)
    columns = clean["drift"]["columns"] + [clean["drift"]["prediction"]]
    assert [row["column"] for row in table] == [md(c["column"]) for c in columns]  # \_\_prediction\_score
    assert [(row["method"], row["score"], row["drifted"]) for row in table] == [
        (c["method"], c["score"], c["drifted"]) for c in columns
    ]
    link = artifacts(artifact_key("acc", DRIFT_REPORT))[0].data
    assert link.endswith(f"({Path(report).as_uri()})")


def test_a_second_batch_is_a_new_version_of_the_same_keys(results: dict[str, Any]) -> None:
    for name in ("clean", "shifted"):
        assert in_flow(functools.partial(publish_batch, "versions", results[name])).is_completed()
    summary = artifacts(artifact_key("versions", BATCH_SUMMARY))
    drift = artifacts(artifact_key("versions", COLUMN_DRIFT))
    assert len(summary) == 2 and len(drift) == 2
    newest = summary[0].data
    assert results["shifted"]["batch_id"] in newest and "DRIFT DETECTED" in newest
    for column in ("x0", "x1", "x2"):
        assert column in newest
    assert results["clean"]["batch_id"] in summary[1].data


def test_a_quarantined_batch_lists_its_failures_with_the_hostile_column_escaped(
    results: dict[str, Any],
) -> None:
    hostile = results["hostile"]
    assert in_flow(lambda: publish_batch("quar", hostile)).is_completed()
    assert keys_of("quar") == {"quar-batch-summary", "quar-contract-failures"}  # no drift: never scored

    text = artifacts(artifact_key("quar", BATCH_SUMMARY))[0].data
    assert f"Batch {hostile['batch_id']}: QUARANTINED" in text and "1 blocking" in text
    assert md(hostile["contract"]["failures"][0]["message"]) in text
    rows = json.loads(artifacts(artifact_key("quar", CONTRACT_FAILURES))[0].data)
    failures = hostile["contract"]["failures"]
    assert [(r["rule"], r["severity"], r["unexpected %"], r["message"]) for r in rows] == [
        (md(f["rule"]), f["severity"], f["unexpected_percent"], md(f["message"])) for f in failures
    ]
    assert rows[0]["column"] == "(table)" and HOSTILE in failures[0]["message"]
    escaped = "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    for data in (text, json.dumps(rows)):
        assert escaped in data and "<script" not in data.lower()


def test_a_duplicate_says_nothing_was_redone(results: dict[str, Any]) -> None:
    assert in_flow(lambda: publish_batch("dup", results["duplicate"])).is_completed()
    assert keys_of("dup") == {"dup-batch-summary"}
    text = artifacts(artifact_key("dup", BATCH_SUMMARY))[0].data
    assert "DUPLICATE" in text and "Already ingested (status accepted)" in text


def test_hand_written_hostile_values_are_inert_everywhere() -> None:
    evil = f"{HOSTILE}|[click](javascript:alert(1))*x*"
    result = {
        "batch_id": "b1",
        "source": evil,
        "rows": 10,
        "status": "accepted",
        "seq": 1,
        "contract": {
            "verdict": "ACCEPTED WITH WARNINGS",
            "suite_name": "s",
            "passed": 1,
            "evaluated": 2,
            "blocking_count": 0,
            "warning_count": 1,
            "failures": [
                {"rule": "r", "column": evil, "severity": "warn", "unexpected_percent": 1.5, "message": evil}
            ],
        },
        "drift": {
            "detected": True,
            "share": 1.0,
            "drift_share_threshold": 0.5,
            "drifted_columns": [evil],
            "n_columns": 1,
            "columns": [{"column": evil, "method": "ks", "score": 0.01, "threshold": 0.05, "drifted": True}],
            "prediction": None,
            "judged": True,
        },
        "decision": {"retrain": True, "reasons": [evil], "triggers": ["drift"]},
        "retrain": {"status": "failed", "error": evil, "reason": "drift"},
        "labels_rejected": evil,
    }
    assert in_flow(
        lambda: publish_batch("evil", result, drift_report_uri="/tmp/a report (1).html")
    ).is_completed()
    stored = [a for key in keys_of("evil") for a in artifacts(key)]
    assert len(stored) == 4
    for artifact in stored:
        assert "<script" not in artifact.data.lower()
        # Prefect's UI renders table cells as markdown too: no live link anywhere.
        assert not re.search(r"(?<!\\)\]\(javascript", artifact.data), artifact.key
    summary = artifacts(artifact_key("evil", BATCH_SUMMARY))[0].data
    assert "\\|\\[click\\](javascript:alert(1))\\*x\\*" in summary and "Retrain: yes" in summary
    assert "**FAILED**" in summary and "Labels rejected" in summary
    assert artifacts(artifact_key("evil", DRIFT_REPORT))[0].data.endswith(
        "(file:///tmp/a%20report%20%281%29.html)"
    )


# --- the gate -------------------------------------------------------------------------------------


def _decision(*, signal: float, champion_signal: float | None) -> dict[str, Any]:
    """A real gate decision (models.gate) on synthetic binary predictions, as a retrain result holds it."""
    y = np.random.default_rng(0).integers(0, 2, 1000)

    def scores(strength: float, seed: int) -> Predictions:
        noise = np.random.default_rng(seed).normal(size=len(y))
        score = 1 / (1 + np.exp(-(strength * (2 * y - 1) + noise)))
        return Predictions(np.where(score >= 0.5, "1", "0").astype(object), score)

    decision = evaluate_gate(
        y_true=y,
        challenger=scores(signal, 1),
        champion=None if champion_signal is None else scores(champion_signal, 2),
        baseline=baseline_predictions(y, len(y), task="binary", positive_label="1"),
        rules=GateRules(metric="auc", n_bootstrap=200),
        task="binary",
        positive_label="1",
    )
    return GateVerdict.of(decision).to_dict()


def test_the_gate_decision_for_each_return_shape_of_run_retrain() -> None:
    better = _decision(signal=1.5, champion_signal=0.7)
    worse = _decision(signal=0.7, champion_signal=1.5)
    trivial = {
        **worse,
        "case": "trivial_baseline",
        "summary": "TRIVIAL BASELINE SERVES",
        "reasons": ["no model beat it"],
    }
    shapes: dict[str, dict[str, Any]] = {
        "promoted": {
            "status": "done",
            "version": "5",
            "gated_version": "4",
            "promoted": True,
            "gate": better,
            "reason": "policy: drift",
            "run_id": "r",
            "top_features": [],
        },
        "rejected": {
            "status": "done",
            "version": "6",
            "gated_version": "6",
            "promoted": False,
            "gate": worse,
            "reason": "manual",
        },
        "shadowgate": {
            "status": "done",
            "version": "7",
            "promoted": True,
            "gate": {**better, "source": "shadow"},
        },
        "shadow": {
            "status": "shadow",
            "version": "8",
            "promoted": False,
            "gate": None,
            "reason": "policy: drift",
        },
        "nodata": {
            "status": "not_enough_data",
            "reason": "only 120 labeled rows (minimum 300)",
            "version": None,
            "promoted": False,
            "gate": None,
        },
        "trivial": {
            "status": "trivial_baseline",
            "version": "1",
            "gated_version": None,
            "promoted": True,
            "gate": trivial,
            "reason": "init",
        },
        "failed": {"status": "failed", "error": "MlflowException: registry down", "reason": "drift"},
    }
    for project, shape in shapes.items():
        assert in_flow(functools.partial(publish_gate_decision, project, shape)).is_completed()
    text = {p: artifacts(artifact_key(p, GATE_DECISION))[0].data for p in shapes}

    assert "# Gate: v5 PROMOTED" in text["promoted"] and "Gated as v4; v5 is its refit" in text["promoted"]
    assert f"| challenger | {better['challenger']:.4g} |" in text["promoted"]
    assert f"| champion | {better['champion']:.4g} |" in text["promoted"]
    assert (
        all(md(r) in text["promoted"] for r in better["reasons"])
        and "Trigger: policy: drift" in text["promoted"]
    )
    assert "# Gate: v6 REJECTED" in text["rejected"] and "Gated as" not in text["rejected"]
    assert worse["reasons"] and all(md(r) in text["rejected"] for r in worse["reasons"])
    assert "| estimate | **FAIL** |" in text["rejected"]
    assert "# Gate: v7 PROMOTED" in text["shadowgate"]
    assert "v8 IN SHADOW" in text["shadow"] and "no gate ran" in text["shadow"]
    assert "NOT ENOUGH DATA" in text["nodata"] and "only 120 labeled rows (minimum 300)" in text["nodata"]
    assert "TRIVIAL BASELINE v1 PROMOTED" in text["trivial"] and "no model beat it" in text["trivial"]
    assert "RETRAIN FAILED" in text["failed"] and "MlflowException: registry down" in text["failed"]

    assert in_flow(lambda: publish_gate_decision("promoted", shapes["rejected"])).is_completed()
    assert len(artifacts(artifact_key("promoted", GATE_DECISION))) == 2
    assert in_flow(lambda: publish_gate_decision("none", None)).is_completed()
    assert keys_of("none") == set()


# --- replay ---------------------------------------------------------------------------------------


def test_replay_progress_moves_from_0_to_100_on_one_artifact() -> None:
    seen: list[str] = []
    shown: list[float] = []
    key = artifact_key("replay-driftline", REPLAY_PROGRESS)

    def replay() -> None:
        progress = ReplayProgress("replay-driftline", forward=lambda e: seen.append(e["event"]))
        progress({"event": "start", "total": 4})
        for _ in range(3):
            progress({"event": "batch", "total": 4})
            shown.append(artifacts(key)[0].data)
        progress({"event": "done"})

    assert in_flow(replay).is_completed()
    assert seen == ["start", "batch", "batch", "batch", "done"]
    assert shown == [25.0, 50.0, 75.0]
    stored = artifacts(key)
    assert len(stored) == 1 and stored[0].type == "progress"
    assert stored[0].data == 100.0 and stored[0].description == "replay: 4/4 batches"


# --- never into the flow --------------------------------------------------------------------------


def test_outside_a_run_nothing_is_published_and_nothing_raises(results: dict[str, Any]) -> None:
    assert publish_batch("outside", results["clean"]) is None
    assert publish_gate_decision("outside", {"status": "done"}) is None
    progress = ReplayProgress("outside")
    progress({"event": "start", "total": 2})
    progress.advance()
    assert keys_of("outside") == set()


def test_a_malformed_result_is_a_warning_not_a_failed_run() -> None:
    def publish() -> str:
        publish_batch("bad", {"status": "accepted", "contract": "not a dict"})
        publish_batch("bad", {"no": "status"})
        publish_gate_decision("bad", {"status": "done", "gate": ["not", "a", "dict"]})
        ReplayProgress("bad")({"event": "start"})
        return "went on"

    state = in_flow(publish)
    assert state.is_completed() and state.result() == "went on"
    assert keys_of("bad") == set()
    found = warnings_of(state, expected=4)
    assert len(found) == 4 and all(m.startswith("Prefect artifact not published") for m in found)
    assert any("publish_batch" in m and "KeyError" in m for m in found)


def test_an_async_flow_publishes_too(results: dict[str, Any]) -> None:
    import asyncio

    @flow(name="publish-artifacts-async")
    async def publishing() -> None:
        publish_batch("async", results["clean"])

    asyncio.run(publishing())
    assert keys_of("async") == {"async-batch-summary", "async-column-drift"}
