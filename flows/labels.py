"""The `labels` flow: late ground truth joins the prediction log; realized metrics update."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from driftline.core.config import load_config
from driftline.services.labels import check_labels, match_labels, quarantine_labels
from driftline.services.project import ProjectFacts, load_facts
from driftline.services.workspace import Workspace
from monitoring.estimate import side_by_side
from tasks import batch as t


@flow(name="labels")
def deliver_labels(path: str, config_path: str = "driftline.yaml") -> dict[str, Any]:
    """Record labels from a file holding the id column and the target.

    Args:
        path: CSV or Parquet with the id column and the target.
        config_path: the project's driftline.yaml.
    """
    ws = Workspace(load_config(Path(config_path)))
    facts = load_facts(ws)
    matched = match_labels(ws, Path(path))
    data = ws.config.data
    check = check_labels(
        matched.labels,
        facts,
        source=str(path),
        column=data.target,
        new_classes=data.new_classes,
        id_column=data.id_column,
    )
    folder = None
    if len(check.rejected):
        folder = quarantine_labels(ws, check, name=matched.kept.parent.name, raw=matched.kept)
        get_run_logger().warning("%s; kept in %s", check.message, folder)
    recorded = ws.state.record_labels(check.good, source="late") if len(check.good) else 0
    performance = _realized(ws, facts, sorted(check.good["batch_id"].unique().tolist()))
    if matched.unknown:
        get_run_logger().warning(matched.unknown_message)
    return {
        "file": str(path),
        "recorded": recorded,
        "batches": sorted(performance),
        "unknown": matched.unknown,
        "unknown_message": matched.unknown_message,
        "rejected": len(check.rejected),
        "rejected_message": check.message,
        "quarantine": str(folder) if folder else None,
        "new_classes": list(check.new_classes),
        "kept": str(matched.kept),
        "performance": performance,
    }


def _realized(ws: Workspace, facts: ProjectFacts, batch_ids: list[str]) -> dict[str, Any]:
    """Each batch's realized performance now that labels came, recorded on its row and charted
    beside its label-free estimate."""
    performance: dict[str, Any] = {}
    for batch_id in batch_ids:
        perf = t.performance_task(ws, [batch_id], facts)
        batch = ws.state.get_batch(batch_id)
        version = batch.champion_version if batch else None
        serving = perf.get(f"champion:{version}", {}).get(facts.metric) if version else None
        ws.state.update_batch(batch_id, performance=perf or None, serving_metric=serving)
        performance[batch_id] = perf
        if batch is not None and serving is not None:  # the estimate and what it estimated, side by side
            metrics = side_by_side(facts.metric, estimated=batch.estimated_metric, realized=serving)
            t.monitoring_task(ws, step=batch.seq, metrics=metrics, artifacts=[], folder="")
    return performance
