"""The `replay` flow: a historical file, cut into time-ordered batches, through the real cycle.

Test-then-train: the champion in service scores each batch before its labels are used; labels
arrive `label_lag` batches later through the labels flow. The first `warmup` batches bootstrap
the contract and the first champion, as `driftline init` does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.states import State

from driftline import replay as rp
from driftline.batch_io import read_table
from driftline.config import CONFIG_FILE, ConfigError, load_config, parse_config, write_config
from driftline.workspace import Workspace

Progress = Callable[[dict[str, Any]], None]


@flow(name="replay")
def replay(
    path: str,
    target: str,
    time_column: str,
    freq: str | None = None,
    rows: int | None = None,
    id_column: str | None = None,
    task: Literal["auto", "binary", "multiclass", "regression"] | None = None,
    label_lag: int = 0,
    policy: Literal["driftline", "never", "always"] = "driftline",
    warmup: int = 2,
    directory: str | None = None,
    config_path: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Replay PATH batch by batch through a fresh project and summarize how its model fared.

    Args:
        path: historical CSV or Parquet file with labels.
        target, time_column, id_column, task: the data's columns and task (as in `init`).
        freq / rows: one batch per pandas period (D, W, 2W, M, Y, ...) or per N rows.
        label_lag: batches after which a batch's labels arrive (0: with the batch).
        policy: driftline (the retrain policy), never (keep the first champion) or always
            (retrain after every batch and promote whatever the gate says).
        warmup: leading batches that bootstrap the contract and the first champion.
        directory: the new project's folder (default: a new temporary folder).
        config_path: a driftline.yaml whose settings apply (except project, storage, columns).
        progress: called with one event dict per step (for the CLI's progress display).

    Raises:
        ReplayError / ConfigError: bad options or columns, or a non-empty project folder.
    """
    emit = progress or (lambda event: None)
    base = _base_config(config_path)
    plan = rp.plan_replay(
        read_table(Path(path)), target=target, time_column=time_column,
        id_column=id_column or (base.get("data") or {}).get("id_column"), freq=freq, rows=rows,
        label_lag=label_lag, policy=policy, warmup=warmup,
    )
    batches, id_col = plan.batches, plan.id_column
    ws = _new_project(
        Path(directory) if directory else Path(tempfile.mkdtemp(prefix="driftline-replay-")),
        rp.replay_config(
            base, project=f"replay-{policy}", target=target, time_column=time_column, id_column=id_col,
            task=task,
        ),
    )
    log = get_run_logger()
    notes = list(plan.notes)
    emit({"event": "start", "total": len(batches), "warmup": warmup, "policy": policy, "root": str(ws.root)})

    records = _warmup(ws, batches[:warmup], emit, total=len(batches))
    if records[-1].promoted is None:
        notes.append("warmup produced no champion: batches are not scored until a retrain promotes one")
    pending: dict[int, Path] = {}  # batch index → label file waiting to be delivered
    for batch in batches[warmup:]:
        labels_at = batch.index + label_lag if label_lag else batch.index
        _deliver_due(ws, pending, now=batch.index, records=records)
        part = _write_batch(ws, batch, with_target=label_lag == 0)
        before = _ledger_size(ws)
        result = _unwrap(_run_batch(ws, part, allow_retrain=policy == "driftline"))
        retrain = result.get("retrain") if _trained(result.get("retrain")) else None
        forced = False
        if policy == "always" and result["status"] == "accepted":
            retrain, forced = _retrain_and_promote(ws, after_seq=result.get("seq"))
        promoted = _promoted_since(ws, before)
        if label_lag and result["status"] == "accepted":
            pending[labels_at] = _write_labels(ws, batch, id_column=str(id_col), target=target)
        rec = rp.step_record(
            batch, phase="replay", result=result, retrain=retrain, promoted=promoted, forced=forced,
            labels_at=labels_at if result["status"] == "accepted" else None,
        )
        records.append(rec)
        log.info("replay batch %d/%d %s: %s", batch.index, len(batches), batch.label, rec.status)
        emit({"event": "batch", "total": len(batches), **rec.to_dict()})
    _deliver_due(ws, pending, now=None, records=records)  # the stream ends: the rest arrive

    from driftline.project import load_facts

    facts = load_facts(ws)
    outcomes = {}
    for rec in records:
        row = ws.state.get_batch(rec.batch_id)
        outcomes[rec.batch_id] = (row.champion_version, row.serving_metric) if row else (None, None)
    summary = rp.summarize(
        rp.finalize(records, outcomes), policy=policy, metric=facts.metric,
        higher_is_better=facts.higher_is_better, label_lag=label_lag, notes=notes,
    )
    summary.update(file=str(path), freq=freq, rows_per_batch=rows, root=str(ws.root),
                   config=str(ws.config.base_dir / CONFIG_FILE))
    summary["artifacts"] = _publish(ws, summary)
    emit({"event": "done", **summary})
    return summary


def _base_config(config_path: str | None) -> dict[str, Any]:
    if not config_path:
        return {}
    import yaml

    load_config(Path(config_path))  # validates it, with the usual messages
    return yaml.safe_load(Path(config_path).read_text()) or {}


def _new_project(directory: Path, raw: dict[str, Any]) -> Workspace:
    from driftline.env import apply_process_env

    directory = directory.resolve()
    config_path = directory / CONFIG_FILE
    if config_path.exists():
        raise ConfigError(f"{config_path}: already exists; a replay needs a fresh folder (use another --dir)")
    directory.mkdir(parents=True, exist_ok=True)
    write_config(parse_config(raw, base_dir=directory), config_path)
    apply_process_env()
    return Workspace(load_config(config_path))


def _write_batch(ws: Workspace, batch: rp.Batch, *, with_target: bool) -> Path:
    folder = ws.root / "replay" / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"batch-{batch.index:04d}.parquet"
    target = ws.config.data.target
    frame = batch.frame if with_target else batch.frame.drop(columns=[target])
    frame.to_parquet(part, index=False)
    return part


def _write_labels(ws: Workspace, batch: rp.Batch, *, id_column: str, target: str) -> Path:
    folder = ws.root / "replay" / "labels"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"labels-{batch.index:04d}.parquet"
    rp.labels_frame(batch.frame, id_column=id_column, target=target).to_parquet(path, index=False)
    return path


def _warmup(ws: Workspace, batches: list[rp.Batch], emit: Progress, *, total: int) -> list[rp.BatchRecord]:
    """Contract from the warmup batches, each through the batch cycle, then the first retrain."""
    import pandas as pd

    from driftline.bootstrap import init_contract
    from flows.retrain import run_retrain

    reference = ws.root / "replay" / "warmup-reference.parquet"
    reference.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([b.frame for b in batches], ignore_index=True).to_parquet(reference, index=False)
    init_contract(ws.config, reference)
    results = [_unwrap(_run_batch(ws, _write_batch(ws, b, with_target=True), allow_retrain=False))
               for b in batches]
    first = run_retrain(ws, reason="replay warmup: first champion", after_seq=results[-1].get("seq"))
    records = []
    for k, (batch, result) in enumerate(zip(batches, results, strict=True)):
        last = k == len(batches) - 1
        rec = rp.step_record(
            batch, phase="warmup", result=result, retrain=first if last else None,
            promoted=first.get("version") if last and first.get("promoted") else None,
            forced=False, labels_at=batch.index,
        )
        records.append(rec)
        emit({"event": "batch", "total": total, **rec.to_dict()})
    return records


def _run_batch(ws: Workspace, part: Path, *, allow_retrain: bool) -> Any:
    from flows.batch_cycle import run_batch

    return run_batch(ws, str(part), allow_retrain=allow_retrain)


def _unwrap(result: Any) -> dict[str, Any]:
    """The batch cycle returns a Completed state named Quarantined for a quarantined batch."""
    return dict(result.result() if isinstance(result, State) else result)


def _trained(retrain: Any) -> bool:
    """A retrain result that trained a candidate (not a shadow-gate verdict, not too little data)."""
    return isinstance(retrain, dict) and retrain.get("version") is not None and "reason" in retrain


def _ledger_size(ws: Workspace) -> int:
    return len(ws.state.read_ledger())


def _promoted_since(ws: Workspace, before: int) -> str | None:
    moves = [e for e in ws.state.read_ledger()[before:] if e["action"] != "rollback"]
    return str(moves[-1]["to_version"]) if moves else None


def _retrain_and_promote(ws: Workspace, *, after_seq: int | None) -> tuple[dict[str, Any] | None, bool]:
    """Policy `always`: retrain, and promote the candidate even when the gate rejected it."""
    from driftline import promotion
    from flows.retrain import run_retrain

    result = run_retrain(ws, reason="replay policy always", after_seq=after_seq)
    if result.get("version") is None:
        return None, False
    if result.get("promoted"):
        return result, False
    gate = result.get("gate") or {}
    promotion.promote(
        ws,
        str(result["version"]),
        decision={"forced": True, "gate": gate, "reasons": ["replay --policy always promotes every candidate"]},
        trigger="replay policy always",
        actor="driftline replay",
        action="replay-always",
    )
    return result, True


def _deliver_due(
    ws: Workspace, pending: dict[int, Path], *, now: int | None, records: list[rp.BatchRecord]
) -> None:
    """Deliver the label files due at batch `now` (all of them when `now` is None)."""
    from flows.labels import deliver_labels

    for due in sorted(k for k in pending if now is None or k <= now):
        result = deliver_labels(path=str(pending.pop(due)), config_path=str(ws.config.base_dir / CONFIG_FILE))
        if result["unknown"]:
            get_run_logger().warning(result["unknown_message"])


def _publish(ws: Workspace, summary: dict[str, Any]) -> dict[str, str]:
    """Save the plot and the JSON next to the project and log both to a `replay` MLflow run."""
    import json

    from driftline.replay_plot import plot_replay

    folder = ws.root / "replay"
    png = plot_replay(summary, folder / "replay.png")
    path = folder / "replay.json"
    path.write_text(json.dumps(summary, indent=2, allow_nan=False, default=str))
    registry = ws.registry
    run_id = registry.start_run(name="replay", tags={"driftline.kind": "replay", "driftline.policy": summary["policy"]})
    try:
        registry.log_params(run_id, {k: summary[k] for k in ("policy", "label_lag", "warmup", "file", "freq")})
        registry.log_params(run_id, {"rows_per_batch": summary["rows_per_batch"]})
        for rec in summary["per_batch"]:
            registry.log_metrics(run_id, {f"replay.{summary['metric']}": rec["metric"]}, step=rec["batch"])
        totals = ("mean_score", "scored", "retrains", "promotions", "quarantined")
        registry.log_metrics(run_id, {k: summary[k] for k in totals})
        registry.log_artifact(run_id, png, folder="replay")
        registry.log_artifact(run_id, path, folder="replay")
    finally:
        registry.end_run(run_id)
    return {"png": str(png), "json": str(path), "mlflow_run_id": run_id}
