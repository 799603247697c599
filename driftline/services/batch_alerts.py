"""The alerts one accepted batch can raise beyond its contract: scoring service levels, group
fairness, an estimated performance drop, and the retrain triggers (`driftline.services.alerts` delivers)."""

from __future__ import annotations

from typing import Any

from driftline.core.names import Tag
from driftline.services import alerts
from driftline.services.workspace import Workspace


def alert_latency(ws: Workspace, scored: Any, *, batch_id: str) -> None:
    """The champion's scoring beyond the service levels in `latency:` is an alert."""
    if scored is None:
        return
    limits = ws.config.latency
    p99 = scored.latency_percentiles().get("p99")
    breaches = []
    if limits.max_ms_per_row_p99 is not None and p99 is not None and p99 > limits.max_ms_per_row_p99:
        breaches.append(f"p99 scoring latency {p99:.3f} ms/row > {limits.max_ms_per_row_p99} ms/row")
    rate = scored.rows_per_second
    if limits.min_rows_per_second is not None and rate is not None and rate < limits.min_rows_per_second:
        breaches.append(f"throughput {rate:,.0f} rows/s < {limits.min_rows_per_second:,.0f} rows/s")
    if breaches:
        alerts.emit(
            ws,
            alerts.Alert(
                kind=alerts.LATENCY_BREACH,
                subject=f"v{scored.version}",
                message=f"batch {batch_id} scored by v{scored.version}: " + "; ".join(breaches),
                details={"batch_id": batch_id, **scored.to_dict()},
            ),
        )


def alert_fairness(ws: Workspace, result: Any, *, batch_id: str) -> None:
    """A sensitive column whose group disparity exceeds `fairness.max_disparity` is an alert."""
    from dataclasses import asdict

    limit = ws.config.fairness.max_disparity
    for column in result.breaches(limit):
        alerts.emit(
            ws,
            alerts.Alert(
                kind=alerts.FAIRNESS_BREACH,
                subject=column.column,
                message=f"batch {batch_id}: {result.column_summary(column)} > fairness.max_disparity {limit}",
                details={"batch_id": batch_id, "measure": result.measure, "column": asdict(column)},
            ),
        )


def alert_estimate(ws: Workspace, facts: Any, champion: Any, estimate: Any, *, batch_id: str) -> None:
    """An *estimated* drop (labels not in yet) beyond `policy.performance_tolerance` is an alert
    too, whether or not the policy acts on estimates (`policy.use_estimate`)."""
    if estimate is None or estimate.value is None or champion is None:
        return
    recorded = champion.tags.get(Tag.HOLDOUT_METRIC)
    if recorded in (None, "", "None") or champion.tags.get(Tag.TRIVIAL) == "true":
        return
    base = float(recorded)
    drop = (base - estimate.value) if facts.higher_is_better else (estimate.value - base)
    relative = drop / abs(base) if base else drop
    tolerance = ws.config.policy.performance_tolerance
    if relative > tolerance:
        alerts.emit(
            ws,
            alerts.Alert(
                kind=alerts.PERFORMANCE_DROP,
                subject="estimated",
                message=f"batch {batch_id}: estimated {facts.metric} {estimate.value:.3f} is {relative:.0%} "
                f"worse than v{champion.version}'s holdout {base:.3f} (tolerance {tolerance:.0%}); "
                "labels have not confirmed it yet",
                details={"batch_id": batch_id, **estimate.to_dict()},
            ),
        )


def alert_decision(ws: Workspace, decision: Any, *, batch_id: str) -> None:
    """Drift or a performance drop that asks for a retrain is an alert (blocked or not)."""
    for trigger, kind in (("drift", alerts.DRIFT_TRIGGER), ("performance", alerts.PERFORMANCE_DROP)):
        if trigger in decision.triggers:
            alerts.emit(
                ws,
                alerts.Alert(
                    kind=kind,
                    subject=trigger,
                    message="; ".join(decision.reasons),
                    details={"batch_id": batch_id, "retrain": decision.retrain},
                ),
            )
