"""The `batch-cycle` flow: receive → contract → score → drift → labels → monitor → decide.

The cycle itself is `driftline.services.batch_cycle`; the flow runs its steps as Prefect tasks,
retrains with the `retrain` flow, and publishes the batch's outcome as Prefect artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Completed

from driftline.core.config import load_config
from driftline.services.batch_cycle import BatchOutcome, CycleSteps
from driftline.services.batch_cycle import run_batch as run_cycle
from driftline.services.workspace import Workspace
from flows.artifacts import publish_batch, publish_gate_decision
from flows.retrain import run_retrain, run_shadow_gate
from tasks import batch as t


@flow(name="batch-cycle", log_prints=False)
def batch_cycle(
    path: str,
    config_path: str = "driftline.yaml",
    allow_retrain: bool = True,
) -> dict[str, Any]:
    """Run one incoming batch file (CSV or Parquet) through the whole monitoring cycle.

    Args:
        path: the batch file to ingest.
        config_path: the project's driftline.yaml.
        allow_retrain: let the retrain policy start a retrain after this batch.
    """
    ws = Workspace(load_config(Path(config_path)))
    outcome = run_batch(ws, path, allow_retrain=allow_retrain)
    result = outcome.to_dict()
    if outcome.status == "quarantined" and outcome.contract is not None:
        # A Completed state named "Quarantined": the caller still gets the result dict.
        state: State[dict[str, Any]] = Completed(
            message=outcome.contract.summary(), name="Quarantined", data=result
        )
        return cast(dict[str, Any], state)
    return result


def run_batch(ws: Workspace, path: str, *, allow_retrain: bool = True, publish: bool = True) -> BatchOutcome:
    """The cycle on Prefect tasks, shared by the flow and by replay's in-process loop (which
    publishes a progress artifact instead of one summary per batch: `publish` False)."""
    outcome = run_cycle(ws, path, prefect_steps(), allow_retrain=allow_retrain)
    if publish:
        result = outcome.to_dict()
        report = outcome.drift.report_path if outcome.drift else None
        publish_batch(ws.config.project, result, drift_report_uri=report)
        if outcome.status == "accepted":
            publish_gate_decision(ws.config.project, result["retrain"])
    return outcome


def prefect_steps() -> CycleSteps:
    """The cycle's ports as Prefect tasks (called inside a flow run: the logger is the run's)."""
    return CycleSteps(
        retrain=run_retrain,
        shadow_gate=run_shadow_gate,
        log=get_run_logger(),
        receive=t.receive_task,
        read=t.read_task,
        validate=t.contract_task,
        quarantine=t.quarantine_task,
        score=t.score_task,
        estimate=t.estimate_task,
        drift=t.drift_task,
        labels=t.labels_task,
        performance=t.batch_performance_task,
        monitor=t.monitoring_task,
    )
