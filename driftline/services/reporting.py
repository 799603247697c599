"""Read-only summaries for `driftline status` and `driftline models`."""

from __future__ import annotations

from typing import Any

from data_contracts.review import streaks
from driftline.core.config import DriftlineConfig
from driftline.core.names import CHAMPION, Tag
from driftline.services.workspace import Workspace


def status_summary(cfg: DriftlineConfig) -> dict[str, Any]:
    """Batches by status, the quarantine, the champion and the latest drift."""
    ws = Workspace(cfg)
    batches = ws.state.list_batches()
    champion = ws.registry.version_by_alias(CHAMPION)
    accepted = [b for b in batches if b.status == "accepted"]
    latest = next((b for b in reversed(accepted) if b.drift_share is not None), None)
    history = [(b.batch_id, b.status, b.contract) for b in batches]
    alerts = [s["message"] for s in streaks(history, length=cfg.contract.streak_batches)]
    if champion is None:
        rejected = [e for e in ws.state.read_ledger() if e["action"] == "reject"]
        if rejected:
            summary = (rejected[-1].get("decision") or {}).get("summary", "")
            alerts.append(
                f"NO CHAMPION: {len(rejected)} candidate(s) rejected, the latest: {summary}; batches "
                "stay unscored until a retrain on more labeled data beats the trivial baseline"
            )
    elif champion.tags.get(Tag.TRIVIAL) == "true":
        rejected = [e for e in ws.state.read_ledger() if e["action"] == "reject"]
        alerts.append(
            f"TRIVIAL BASELINE SERVES: v{champion.version} predicts the class priors or the mean; "
            f"{len(rejected)} candidate(s) rejected so far. Retrains keep trying as labels accrue"
        )
    unfinished = [b for b in batches if b.unfinished]
    if unfinished:
        alerts.append(
            f"UNFINISHED: {len(unfinished)} batch(es) stopped before their decision "
            f"({', '.join(b.batch_id for b in unfinished[:5])}); `driftline recover` finishes them"
        )
    return {
        "project": cfg.project,
        "alerts": alerts,
        "batches": {
            "total": len(batches),
            "accepted": len(accepted),
            "quarantined": sum(b.status == "quarantined" for b in batches),
            "unfinished": len(unfinished),
        },
        "unfinished": [
            {"batch_id": b.batch_id, "seq": b.seq, "source": b.source, "stage": b.stage, "raw": b.raw_path}
            for b in unfinished
        ],
        "quarantine": [
            {
                "batch_id": b.batch_id,
                "source": b.source,
                "reason": _first_block(b.contract),
                "report": str(ws.quarantine_dir(b.batch_id) / "report.html"),
            }
            for b in batches
            if b.status == "quarantined"
        ],
        "champion": None
        if champion is None
        else {
            "version": champion.version,
            "holdout_metric": champion.tags.get(Tag.HOLDOUT_METRIC),
            "metric": champion.tags.get(Tag.METRIC),
            "trivial": champion.tags.get(Tag.TRIVIAL) == "true",
        },
        "latest_drift": None
        if latest is None
        else {
            "batch_id": latest.batch_id,
            "source": latest.source,
            "share": latest.drift_share,
            "detected": latest.drift_detected,
            "drifted_columns": (latest.drift or {}).get("drifted_columns", []),
            "report": (latest.drift or {}).get("report"),
        },
        "recent": [
            {
                "seq": b.seq,
                "batch_id": b.batch_id,
                "source": b.source,
                "status": b.status,
                "rows": b.rows,
                "drift_share": b.drift_share,
                "serving_metric": b.serving_metric,
                "champion_version": b.champion_version,
            }
            for b in batches[-10:]
        ],
        "retrains": ws.state.count_retrains(),
        "storage": str(cfg.root),
        "tracking_uri": cfg.tracking_uri,
    }


def _first_block(contract: dict[str, Any] | None) -> str | None:
    for failure in (contract or {}).get("failures", []):
        if failure.get("severity") == "block":
            return str(failure.get("message"))
    return None


def models_summary(cfg: DriftlineConfig) -> dict[str, Any]:
    """Registered versions with aliases, holdout metrics, gate decisions, and the ledger."""
    ws = Workspace(cfg)
    versions = []
    for v in ws.registry.list_versions():
        versions.append(
            {
                "version": v.version,
                "aliases": list(v.aliases),
                "status": v.tags.get(Tag.STATUS),
                "trigger": v.tags.get(Tag.TRIGGER),
                "metric": v.tags.get(Tag.METRIC),
                "holdout_metric": _float(v.tags.get(Tag.HOLDOUT_METRIC)),
                "gate": v.tags.get(Tag.GATE),
                "gate_summary": v.tags.get(Tag.GATE_SUMMARY),
                "top_features": [f for f in v.tags.get(Tag.TOP_FEATURES, "").split(",") if f],
                "window": [b for b in v.tags.get(Tag.WINDOW, "").split(",") if b],
                "run_id": v.run_id,
            }
        )
    return {"model": cfg.model_name, "versions": versions, "ledger": ws.state.read_ledger()}


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "None") else None
    except ValueError:
        return None
