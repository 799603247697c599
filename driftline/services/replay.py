"""Replay a historical file as a stream of batches: splitting, per-batch accounting, the summary.

Pure pandas. The loop that runs every batch through the real flows is `flows/replay.py`; it
calls these functions and hands their values on.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from models.spec import index_like_columns

POLICIES = ("driftline", "never", "always", "expanding")
# Policies that retrain after every accepted batch and serve the candidate whatever the gate says.
RETRAIN_EVERY_BATCH = ("always", "expanding")
SYNTHETIC_ID = "__replay_id"
# Sections of a project's driftline.yaml that never apply to a replay: it has its own storage.
_NOT_INHERITED = ("project", "storage")


class ReplayError(ValueError):
    """A replay that cannot run as asked; the message names the option and the value."""


@dataclass(frozen=True)
class Batch:
    """One time-ordered slice of the replayed file (``index`` counts from 1)."""

    index: int
    start: str
    end: str
    frame: pd.DataFrame

    @property
    def label(self) -> str:
        """The batch's first day (times are ISO text; numeric times show as they are)."""
        return self.start[:10]


def parse_freq(freq: str) -> pd.DateOffset:
    """A positive pandas offset from an alias (D, W, 2W, M, Y, ...; old aliases accepted).

    Raises:
        ReplayError: not an offset alias, or not positive.
    """
    try:
        with warnings.catch_warnings():  # "M" and "Y" still work but warn in pandas 2.2+
            warnings.simplefilter("ignore", FutureWarning)
            offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        raise ReplayError(f"--freq {freq!r}: not a pandas offset alias like D, W, 2W, M or Y") from None
    if offset.n <= 0:
        raise ReplayError(f"--freq {freq!r}: must be a positive period")
    return offset


def _times(values: pd.Series, *, column: str, need_datetime: bool) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        if need_datetime:
            raise ReplayError(f"--time-column {column!r} is numeric: use --rows, or a date/time column")
        parsed = values.astype(float)
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True)
    bad = parsed.isna()
    if bad.any():
        first = values[bad].head(3).tolist()
        raise ReplayError(
            f"--time-column {column!r}: {int(bad.sum())} of {len(values)} rows have no readable time "
            f"(e.g. {first}); fix or drop them first"
        )
    return parsed


def split_batches(
    frame: pd.DataFrame, *, time_column: str, freq: str | None = None, rows: int | None = None
) -> list[Batch]:
    """Sort by time (stable) and cut into batches: one per `freq` period, or `rows` rows each.

    Empty periods are skipped; every row lands in exactly one batch, in time order.

    Raises:
        ReplayError: both or neither of freq/rows, a missing or unreadable time column.
    """
    if (freq is None) == (rows is None):
        raise ReplayError("give exactly one of --freq (a period like M) or --rows (rows per batch)")
    if rows is not None and rows < 1:
        raise ReplayError(f"--rows {rows}: must be at least 1")
    if time_column not in frame.columns:
        raise ReplayError(f"--time-column {time_column!r} is not a column of the file")
    times = _times(frame[time_column], column=time_column, need_datetime=freq is not None)
    order = np.argsort(times.to_numpy(), kind="stable")
    ordered = frame.iloc[order].reset_index(drop=True)
    when = times.iloc[order].reset_index(drop=True)
    if freq is not None:
        grouped = pd.DataFrame({"t": when}).groupby(pd.Grouper(key="t", freq=parse_freq(freq)))
        codes = grouped.ngroup().to_numpy()
    else:
        codes = np.arange(len(ordered)) // int(rows or 1)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.array([], int)
    bounds = [*starts.tolist(), len(ordered)]
    out = []
    for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True), start=1):
        first, last = when.iloc[lo], when.iloc[hi - 1]
        out.append(Batch(k, _iso(first), _iso(last), ordered.iloc[lo:hi].reset_index(drop=True)))
    return out


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def with_replay_id(
    frame: pd.DataFrame, *, id_column: str | None, label_lag: int
) -> tuple[pd.DataFrame, str | None, str | None]:
    """Make sure late labels can find their rows: unique ids, synthetic ones when there are none.

    Returns:
        (frame, id column to use, a note to show the user or None).

    Raises:
        ReplayError: the id column is missing, or has duplicates while labels arrive late.
    """
    if id_column is not None and id_column not in frame.columns:
        raise ReplayError(f"--id-column {id_column!r} is not a column of the file")
    if label_lag == 0:
        return frame, id_column, None
    if id_column is None:
        frame = frame.assign(**{SYNTHETIC_ID: np.arange(len(frame))})
        note = f"no --id-column: late labels are matched on a synthetic row id {SYNTHETIC_ID!r}"
        return frame, SYNTHETIC_ID, note
    duplicated = int(frame[id_column].duplicated().sum())
    if duplicated:
        raise ReplayError(
            f"--id-column {id_column!r} has {duplicated} duplicate value(s); late labels need unique ids"
        )
    return frame, id_column, None


REPLAY_SHAP_ROWS = 200


def replay_config(
    base: Mapping[str, Any] | None,
    *,
    project: str,
    data: Mapping[str, Any],
    expanding: bool = False,
    recent_only: bool = False,
) -> dict[str, Any]:
    """The raw config of a replay project: `base` settings, its own storage, `data` keys (None:
    keep); `expanding` makes every retrain train on every batch so far, `recent_only` on the
    recent window only (no adaptive long window: the `always` baseline)."""
    raw = {k: v for k, v in (base or {}).items() if k not in _NOT_INHERITED}
    merged = {**(raw.get("data") or {}), **{k: v for k, v in data.items() if v is not None}}
    # A replay runs hundreds of batches nobody opens one by one: no per-batch drift HTML unless
    # the base config asks for it (it costs about half of Evidently's time).
    drift = {"html_report": False, **(raw.get("drift") or {})}
    # Nor a full SHAP summary per retrain: a smaller sample keeps the tables and plots.
    model = {"shap_rows": REPLAY_SHAP_ROWS, **(raw.get("model") or {})}
    # Nor per-batch attribution (SHAP on each batch: 0.1-2.6 s per batch on the streams) or a
    # review queue nobody answers: neither changes what the policies are compared on.
    attribution = {"enabled": False, **(raw.get("attribution") or {})}
    review = {"enabled": False, **(raw.get("review") or {})}
    out = {
        "project": project,
        **raw,
        "data": merged,
        "drift": drift,
        "model": model,
        "attribution": attribution,
        "review": review,
    }
    if expanding:
        out["window"] = {**(raw.get("window") or {}), "expanding": True}
    if recent_only:
        out["window"] = {**(raw.get("window") or {}), "adaptive": False}
    return out


@dataclass(frozen=True)
class Plan:
    """The batches to replay, the id column labels are matched on, and notes for the user."""

    batches: list[Batch]
    id_column: str | None
    notes: tuple[str, ...]


def plan_replay(
    frame: pd.DataFrame,
    *,
    target: str,
    time_column: str,
    id_column: str | None,
    freq: str | None,
    rows: int | None,
    label_lag: int,
    policy: str,
    warmup: int,
) -> Plan:
    """Check the options against the data and cut it into batches.

    Raises:
        ReplayError: naming the option and value: a missing column, a bad option, too few batches.
    """
    if policy not in POLICIES:
        raise ReplayError(f"--policy {policy!r}: use one of {', '.join(POLICIES)}")
    if warmup < 2:
        raise ReplayError(f"--warmup {warmup}: needs at least 2 batches (one to train, one held out)")
    if label_lag < 0:
        raise ReplayError(f"--label-lag {label_lag}: must be 0 or more batches")
    if target not in frame.columns:
        raise ReplayError(f"--target {target!r} is not a column of the file")
    frame, id_col, note = with_replay_id(frame, id_column=id_column, label_lag=label_lag)
    batches = split_batches(frame, time_column=time_column, freq=freq, rows=rows)
    index_like = index_like_columns(
        frame.sort_values(time_column, kind="stable"), exclude=[target, time_column, id_col]
    )
    if len(batches) <= warmup:
        raise ReplayError(
            f"the file splits into {len(batches)} batch(es): need more than --warmup {warmup}; "
            "use a shorter --freq, fewer --rows or a smaller --warmup"
        )
    notes = ((note,) if note else ()) + tuple(index_like.values())
    return Plan(batches, id_col, notes)


def labels_frame(frame: pd.DataFrame, *, id_column: str, target: str) -> pd.DataFrame:
    """The late label file of a batch: id and target of its labeled rows."""
    return frame.loc[frame[target].notna(), [id_column, target]].reset_index(drop=True)


@dataclass(frozen=True)
class BatchRecord:
    """What happened to one replayed batch (``metric``: the serving champion's realized metric)."""

    batch: int
    label: str
    start: str
    end: str
    phase: str  # "warmup" or "replay"
    batch_id: str
    rows: int
    status: str
    drift_share: float | None
    champion: str | None = None
    metric: float | None = None
    labels_at: int | None = None  # batch at whose arrival the labels were delivered
    retrain: str | None = None  # candidate version trained after this batch
    gate: str | None = None
    promoted: str | None = None  # version that became champion after this batch
    forced: bool = False  # promoted by --policy always against the gate

    @property
    def scored(self) -> bool:
        return self.status == "accepted" and self.champion is not None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "scored": self.scored}


def step_record(
    batch: Batch,
    *,
    phase: str,
    result: Mapping[str, Any],
    retrain: Mapping[str, Any] | None,
    promoted: str | None,
    forced: bool,
    labels_at: int | None,
) -> BatchRecord:
    """One batch's record from the batch cycle's result and what followed it."""
    drift = result.get("drift") or {}
    gate = (retrain or {}).get("gate") or {}
    return BatchRecord(
        batch=batch.index,
        label=batch.label,
        start=batch.start,
        end=batch.end,
        phase=phase,
        batch_id=str(result["batch_id"]),
        rows=int(result.get("rows") or len(batch.frame)),
        status=str(result["status"]),
        drift_share=drift.get("share"),
        labels_at=labels_at,
        retrain=(retrain or {}).get("version"),
        gate=gate.get("verdict"),
        promoted=promoted,
        forced=forced,
    )


def finalize(
    records: Sequence[BatchRecord], outcomes: Mapping[str, tuple[str | None, float | None]]
) -> list[BatchRecord]:
    """Fill in who served each batch and its realized metric (`outcomes`: batch_id → (version,
    metric) from the state store, once every label arrived). A duplicate file takes nothing."""
    out = []
    for rec in records:
        if rec.status in ("accepted", "quarantined"):
            champion, metric = outcomes.get(rec.batch_id, (None, None))
            ok = metric is not None and math.isfinite(metric)
            rec = replace(rec, champion=champion, metric=float(metric) if ok else None)  # type: ignore[arg-type]
        out.append(rec)
    return out


def summarize(
    records: Sequence[BatchRecord],
    *,
    policy: str,
    metric: str,
    higher_is_better: bool,
    label_lag: int,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Totals of a replay. `mean_score` averages the metric over scored batches that have one."""
    replayed = [r for r in records if r.phase == "replay"]
    scored = [r for r in records if r.scored]
    values = [r.metric for r in scored if r.metric is not None]
    warm = [r for r in records if r.phase == "warmup"]
    return {
        "policy": policy,
        "metric": metric,
        "higher_is_better": higher_is_better,
        "label_lag": label_lag,
        "mean_score": float(np.mean(values)) if values else None,
        "batches": len(records),
        "warmup": len(warm),
        "replayed": len(replayed),
        "scored": len(scored),
        "retrains": sum(r.retrain is not None for r in replayed),
        "promotions": sum(r.promoted is not None for r in replayed),
        "forced_promotions": sum(r.forced for r in replayed),
        "quarantined": sum(r.status == "quarantined" for r in records),
        "initial_champion": next((r.promoted for r in reversed(warm) if r.promoted), None),
        "final_champion": next((r.promoted for r in reversed(records) if r.promoted), None),
        "notes": list(notes),
        "per_batch": [r.to_dict() for r in records],
    }
