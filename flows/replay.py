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

import pandas as pd
import yaml
from prefect import flow, get_run_logger

from driftline.core.batch_io import read_table
from driftline.core.config import CONFIG_FILE, ConfigError, load_config, parse_config, write_config
from driftline.core.env import apply_process_env
from driftline.core.names import CHAMPION, Tag
from driftline.services import replay as rp
from driftline.services.bootstrap import init_contract
from driftline.services.contract_ops import accept_reference
from driftline.services.contract_ops import review as contract_review
from driftline.services.project import load_facts
from driftline.services.replay_plot import publish
from driftline.services.workspace import Workspace
from flows.artifacts import ReplayProgress
from flows.batch_cycle import run_batch
from flows.labels import deliver_labels
from flows.retrain import run_retrain

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
    policy: Literal["driftline", "never", "always", "expanding"] = "driftline",
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
        policy: driftline (the retrain policy), never (keep the first champion), always
            (retrain after every batch on the window and serve the candidate whatever the gate
            says) or expanding (as always, on every batch so far).
        warmup: leading batches that bootstrap the contract and the first champion.
        directory: the new project's folder (default: a new temporary folder).
        config_path: a driftline.yaml whose settings apply (except project, storage, columns).
        progress: called with one event dict per step (for the CLI's progress display).

    Raises:
        ReplayError / ConfigError: bad options or columns, or a non-empty project folder.
    """
    base = _base_config(config_path)
    plan = rp.plan_replay(
        read_table(Path(path)),
        target=target,
        time_column=time_column,
        id_column=id_column or (base.get("data") or {}).get("id_column"),
        freq=freq,
        rows=rows,
        label_lag=label_lag,
        policy=policy,
        warmup=warmup,
    )
    columns = {"target": target, "time_column": time_column, "id_column": plan.id_column, "task": task}
    raw = rp.replay_config(
        base,
        project=f"replay-{policy}",
        data=columns,
        expanding=policy == "expanding",
        recent_only=policy == "always",
    )
    ws = _new_project(Path(directory or tempfile.mkdtemp(prefix="driftline-replay-")), raw)
    emit = ReplayProgress(ws.config.project, forward=progress or (lambda event: None))  # + a UI artifact
    records, first = _stream(ws, plan.batches, policy=policy, label_lag=label_lag, warmup=warmup, emit=emit)
    summary = _summarize(ws, records, policy=policy, label_lag=label_lag, notes=list(plan.notes))
    summary["warnings"] = _first_model_warnings(ws, summary["per_batch"], first, warmup=warmup)
    summary["warnings"] += _quarantine_warnings(ws)
    summary.update(file=str(path), freq=freq, rows_per_batch=rows, root=str(ws.root))
    summary["artifacts"] = publish(ws, summary)
    emit({"event": "done", **summary})
    return summary


def _stream(
    ws: Workspace, batches: list[rp.Batch], *, policy: str, label_lag: int, warmup: int, emit: Progress
) -> tuple[list[rp.BatchRecord], dict[str, Any]]:
    """The warmup (the first champion), then every batch in order, labels delivered when due."""
    emit({"event": "start", "total": len(batches), "warmup": warmup, "policy": policy, "root": str(ws.root)})
    records, first = _warmup(ws, batches[:warmup], emit, total=len(batches))
    pending: dict[int, Path] = {}  # batch index → label file due when that batch arrives
    for batch in batches[warmup:]:
        _deliver_due(ws, pending, now=batch.index)
        rec = _step(ws, batch, policy=policy, label_lag=label_lag, pending=pending)
        records.append(rec)
        get_run_logger().info("replay batch %d/%d %s: %s", batch.index, len(batches), batch.label, rec.status)
        emit({"event": "batch", "total": len(batches), **rec.to_dict()})
    _deliver_due(ws, pending, now=None)  # the stream has ended: the remaining labels arrive
    return records, first


def _first_model_warnings(
    ws: Workspace, per_batch: list[dict[str, Any]], first: dict[str, Any], *, warmup: int
) -> list[str]:
    """Said prominently when the warmup left no first champion, or only the trivial baseline,
    with what became of it: still so at the end, or the batch after which a real model served."""
    first_gate = first.get("gate") or {}
    if per_batch[warmup - 1]["promoted"] is None:
        why = first_gate.get("summary") or first.get("reason") or "no candidate"
        head = f"NO FIRST CHAMPION: the warmup's model was not promoted ({why})"
        still = "batches stay unscored until a retrain on more labeled data beats the trivial baseline"
    elif first_gate.get("case") == "trivial_baseline":
        head, still = f"NO FIRST MODEL: {first_gate['summary']}", ""
    else:
        return []
    trivial = {v.version for v in ws.registry.list_versions() if v.tags.get(Tag.TRIVIAL) == "true"}
    later = per_batch[warmup:]
    served = next((r for r in later if r["promoted"] and r["promoted"] not in trivial), None)
    if served is None:
        return [f"{head}; {still}" if still else head]
    unscored = sum(
        1 for r in later if r["batch"] <= served["batch"] and r["status"] == "accepted" and not r["scored"]
    )
    gap = f"; {unscored} batch(es) before it were not scored" if unscored else ""
    return [f"{head}; the first model, v{served['promoted']}, served from after batch {served['batch']}{gap}"]


def _quarantine_warnings(ws: Workspace) -> list[str]:
    """One line per blocking rule that quarantined batches: how many, and its latest reason."""
    rules = contract_review(ws)["rules"]
    return [
        f"QUARANTINED {len(r['batches'])} batch(es): {r['latest_message']}; in {ws.config.base_dir}, "
        "'driftline contract review' shows the evidence and 'driftline contract accept' takes a batch back"
        for r in rules
    ]


def _step(
    ws: Workspace, batch: rp.Batch, *, policy: str, label_lag: int, pending: dict[int, Path]
) -> rp.BatchRecord:
    """One replayed batch: scored by the serving champion, then the policy's retrain."""
    data = ws.config.data
    frame = batch.frame if label_lag == 0 else batch.frame.drop(columns=[data.target])
    before = _champion(ws)
    result = _cycle(
        ws, _write(ws, frame, f"incoming/batch-{batch.index:04d}"), allow_retrain=policy == "driftline"
    )
    accepted = result["status"] == "accepted"
    retrain = result.get("retrain") if _trained(result.get("retrain")) else None
    forced = False
    if policy in rp.RETRAIN_EVERY_BATCH and accepted:
        retrain, forced = _retrain_and_promote(ws, after_seq=result.get("seq"), policy=policy)
    labels_at = batch.index + label_lag if accepted else None
    if label_lag and accepted:
        labels = rp.labels_frame(batch.frame, id_column=str(data.id_column), target=data.target)
        pending[batch.index + label_lag] = _write(ws, labels, f"labels/labels-{batch.index:04d}")
    after = _champion(ws)
    promoted = after if after != before else None  # the ledger also records rejections: ask the alias
    return rp.step_record(
        batch,
        phase="replay",
        result=result,
        retrain=retrain,
        promoted=promoted,
        forced=forced,
        labels_at=labels_at,
    )


def _summarize(
    ws: Workspace, records: list[rp.BatchRecord], *, policy: str, label_lag: int, notes: list[str]
) -> dict[str, Any]:
    """Per-batch outcomes as the state store holds them once every label arrived, and totals."""

    facts = load_facts(ws)
    outcomes = {}
    for rec in records:
        row = ws.state.get_batch(rec.batch_id)
        outcomes[rec.batch_id] = (row.champion_version, row.serving_metric) if row else (None, None)
    return rp.summarize(
        rp.finalize(records, outcomes),
        policy=policy,
        metric=facts.metric,
        higher_is_better=facts.higher_is_better,
        label_lag=label_lag,
        notes=notes,
    )


def _base_config(config_path: str | None) -> dict[str, Any]:
    if not config_path:
        return {}

    load_config(Path(config_path))  # validates it, with the usual messages
    return yaml.safe_load(Path(config_path).read_text()) or {}


def _new_project(directory: Path, raw: dict[str, Any]) -> Workspace:

    directory = directory.resolve()
    config_path = directory / CONFIG_FILE
    if config_path.exists():
        raise ConfigError(f"{config_path}: already exists; a replay needs a fresh folder (use another --dir)")
    directory.mkdir(parents=True, exist_ok=True)
    write_config(parse_config(raw, base_dir=directory), config_path)
    apply_process_env()
    return Workspace(load_config(config_path))


def _write(ws: Workspace, frame: Any, name: str) -> Path:
    path = ws.root / "replay" / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def _warmup(
    ws: Workspace, batches: list[rp.Batch], emit: Progress, *, total: int
) -> tuple[list[rp.BatchRecord], dict[str, Any]]:
    """Contract from the warmup batches, each through the batch cycle, then the first retrain."""

    init_contract(ws.config, _write(ws, pd.concat([b.frame for b in batches]), "warmup-reference"))
    results = []
    for b in batches:
        part = _write(ws, b.frame, f"incoming/batch-{b.index:04d}")
        result = _cycle(ws, part, allow_retrain=False)
        if result["status"] == "quarantined" and accept_reference(
            ws, result["batch_id"], name=f"warmup batch {b.index}"
        ):
            result = _cycle(ws, part, allow_retrain=False)  # the same bytes: the same batch id
        results.append(result)
    first = run_retrain(
        ws, reason="replay warmup: first champion", after_seq=results[-1].get("seq")
    ).to_dict()
    records = []
    for k, (batch, result) in enumerate(zip(batches, results, strict=True)):
        last = k == len(batches) - 1
        rec = rp.step_record(
            batch,
            phase="warmup",
            result=result,
            retrain=first if last else None,
            promoted=first.get("version") if last and first.get("promoted") else None,
            forced=False,
            labels_at=batch.index,
        )
        records.append(rec)
        emit({"event": "batch", "total": total, **rec.to_dict()})
    return records, first


def _cycle(ws: Workspace, part: Path, *, allow_retrain: bool) -> dict[str, Any]:
    """The real batch cycle, its outcome as the replay's record reads it."""
    return run_batch(ws, str(part), allow_retrain=allow_retrain, publish=False).to_dict()


def _champion(ws: Workspace) -> str | None:
    found = ws.registry.version_by_alias(CHAMPION)
    return found.version if found else None


def _trained(retrain: dict[str, Any] | None) -> bool:
    """A batch's retrain that trained a candidate (not a shadow-gate verdict, not too little data)."""
    return bool(retrain and retrain["trained"])


def _retrain_and_promote(
    ws: Workspace, *, after_seq: int | None, policy: str
) -> tuple[dict[str, Any] | None, bool]:
    """Policies `always` / `expanding`: retrain, and promote the candidate even when the gate
    rejected it (refit on the whole window, as any promotion, with `gate.refit_on_promotion`)."""

    result = run_retrain(ws, reason=f"replay policy {policy}", after_seq=after_seq, force=True)
    if result.version is None:
        return None, False
    return result.to_dict(), result.forced


def _deliver_due(ws: Workspace, pending: dict[int, Path], *, now: int | None) -> None:
    """Deliver the label files due at batch `now` (all of them when `now` is None)."""

    for due in sorted(k for k in pending if now is None or k <= now):
        result = deliver_labels(path=str(pending.pop(due)), config_path=str(ws.config.base_dir / CONFIG_FILE))
        if result["unknown"]:
            get_run_logger().warning(result["unknown_message"])
