"""The contract-review flow pauses for a person's answer and acts on it (Prefect's real engine)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd
import pytest

from flows.batch_cycle import batch_cycle
from flows.contract_review import contract_review
from tests.flows.project import build_project, write_batch

pytestmark = pytest.mark.slow


def paused_run_id(timeout: float = 120.0) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    only_paused = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
    )
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=only_paused)
            if runs:
                return runs[0].id
            time.sleep(0.5)
    raise AssertionError("the contract-review run never paused for input")


def answered(config: str, answer: dict[str, Any]) -> dict[str, Any]:
    """Run the flow in a thread, answer its pause as the UI's form would, and return its result."""
    from prefect.flow_runs import resume_flow_run

    out: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: out.update(contract_review(config_path=config)))
    worker.start()
    resume_flow_run(paused_run_id(), run_input=answer)
    worker.join(timeout=300)
    assert not worker.is_alive()
    return out


def test_review_run_declined_keeps_the_batch_then_accepted_brings_it_back(prefect_harness, tmp_path):
    ws = build_project(tmp_path)
    config = str(ws.config.base_dir / "driftline.yaml")
    frame = pd.read_parquet(write_batch(tmp_path / "b.parquet", rows=600, seed=500, start=200_000))
    frame.assign(x1=frame["x1"] * 1000).to_parquet(tmp_path / "scaled.parquet", index=False)
    quarantined = batch_cycle(path=str(tmp_path / "scaled.parquet"), config_path=config, allow_retrain=False)
    assert quarantined["status"] == "quarantined"
    batch_id = quarantined["batch_id"]

    declined = answered(config, {"accept": False, "reason": "", "reviewer": "ana"})
    assert declined == {"status": "kept_quarantined", "batch_id": batch_id}
    assert ws.state.get_batch(batch_id).status == "quarantined"

    accepted = answered(config, {"accept": True, "reason": "new sensor, verified", "reviewer": "ana"})
    assert accepted["status"] == "accepted" and accepted["batch"]["batch_id"] == batch_id
    assert accepted["batch"]["status"] == "accepted" and accepted["batch"]["rows"] == 600
    assert accepted["ledger"]["actor"] == "ana" and accepted["ledger"]["reason"] == "new sensor, verified"
    assert any(c["column"] == "x1" for c in accepted["ledger"]["changes"])
    assert ws.state.get_batch(batch_id).status == "accepted"

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()
    review = [a for a in artifact if a.key == "contract-review"]
    assert review and batch_id in str(review[0].data) and "x1" in str(review[0].data)
