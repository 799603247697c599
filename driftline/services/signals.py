"""The retrain policy's inputs, read from the state store."""

from __future__ import annotations

from typing import Any

from driftline.services.workspace import Workspace
from monitoring.policy import BatchSignal


def policy_inputs(ws: Workspace, *, champion_metric: float | None, has_champion: bool) -> dict[str, Any]:
    """Keyword arguments for `monitoring.policy.decide_retrain` from the recorded batches."""

    accepted = ws.state.list_batches(status="accepted")
    labeled = ws.state.labeled_counts()
    history = [
        BatchSignal(
            batch_id=b.batch_id,
            drift_detected=b.drift_detected,
            drift_share=b.drift_share,
            realized_metric=b.serving_metric,
            labeled_rows=labeled.get(b.batch_id, 0),
            estimated_metric=b.estimated_metric,
        )
        for b in accepted
    ]
    last = ws.state.last_retrain_seq()
    return {
        "history": history,
        "champion_metric": champion_metric,
        "has_champion": has_champion,
        "batches_since_retrain": None if last is None else sum(1 for b in accepted if b.seq > last),
        "labeled_rows_since_retrain": ws.state.labels_since_last_retrain(),
    }
