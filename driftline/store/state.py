"""Driftline's own state: batches, prediction log, labels and the promotion ledger.

SQLite by default, through SQLAlchemy Core, so a PostgreSQL URL works as well. The tables below
are what the queries use; the schema itself comes from the Alembic migrations
(``driftline.store.migrate``), run on every open.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from driftline.core.names import CHAMPION
from driftline.store.columns import UTCDateTime, dump_json, iso, json_document, utc_now
from driftline.store.migrate import upgrade

metadata = sa.MetaData()

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("batch_id", sa.String(32), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("raw_path", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("start_time", sa.String(40)),
    sa.Column("end_time", sa.String(40)),
    sa.Column("contract", json_document()),
    sa.Column("drift", json_document()),
    sa.Column("drift_share", sa.Float),
    sa.Column("drift_detected", sa.Boolean),
    sa.Column("champion_version", sa.String(16)),
    sa.Column("decision", json_document()),
    sa.Column("performance", json_document()),
    sa.Column("serving_metric", sa.Float),
    sa.Column("estimated_metric", sa.Float),  # the champion's label-free estimate (monitoring/estimate.py)
    # How far the cycle got (STAGES); a batch short of "done" is unfinished and is redone.
    sa.Column("stage", sa.String(16)),
    sa.Column("worker", sa.String(80)),  # host:pid of the process running the cycle
    sa.Index("ux_batches_seq", "seq", unique=True),
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("batch_id", sa.String(32), nullable=False),
    sa.Column("row_key", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("model_version", sa.String(16), nullable=False),
    sa.Column("prediction", sa.Text),
    sa.Column("score", sa.Float),
    sa.Column("latency_ms", sa.Float),
    sa.Index("ix_predictions_key", "batch_id", "row_key"),
    sa.Index("ix_predictions_row", "row_key"),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("batch_id", sa.String(32), nullable=False),
    sa.Column("row_key", sa.String(64), nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("source", sa.String(16)),  # LABEL_SOURCES; None: recorded before sources were kept
    sa.Index("ix_labels_key", "batch_id", "row_key", unique=True),
)

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("from_version", sa.String(16)),
    sa.Column("to_version", sa.String(16)),
    sa.Column("trigger", sa.Text),
    sa.Column("actor", sa.Text),
    sa.Column("decision", json_document()),
    sa.Column("model_sha256", sa.String(64)),  # the promoted version's model.skops, as registered
)

retrains = sa.Table(
    "retrains",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("after_seq", sa.Integer, nullable=False),
    sa.Column("version", sa.String(16)),
    sa.Column("promoted", sa.Boolean),
    sa.Column("trigger", sa.Text),
)

# Facts about the store itself, e.g. the project id that the MLflow experiment must carry too.
meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("project", sa.String(80), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("dedup_key", sa.Text, nullable=False, index=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", json_document()),
    # pending → delivered | partial | failed | stored (no route takes it) | suppressed (cooldown)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("delivered", sa.Boolean, nullable=False, default=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("deliveries", json_document()),  # per route: masked route, ok, attempts, error
    sa.Column("suppressed", sa.Boolean, nullable=False, default=False),
    sa.Column("repeats", sa.Integer, nullable=False, default=0),  # suppressed repeats in its digest
    sa.Column("repeats_since", UTCDateTime),
)

# Low-confidence predictions waiting for a person's label (driftline.services.review).
review_queue = sa.Table(
    "review_queue",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.String(32), nullable=False),
    sa.Column("row_key", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(16)),
    sa.Column("prediction", sa.Text),
    sa.Column("score", sa.Float),
    sa.Column("confidence", sa.Float),  # binary |p - threshold|, multiclass max p: lower = less sure
    sa.Column("added_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open → answered | expired
    sa.Column("answer", sa.Text),
    sa.Column("reviewer", sa.Text),
    sa.Column("answered_at", UTCDateTime),
    sa.Index("ux_review_queue_key", "batch_id", "row_key", unique=True),
    sa.Index("ix_review_queue_status", "status"),
)
LABEL_SOURCES = ("batch", "late", "review")  # where a label came from (labels.source)
REVIEW_OPEN, REVIEW_ANSWERED, REVIEW_EXPIRED = "open", "answered", "expired"


# The stages a batch passes, in order. Rows written before stages were recorded have None (done).
STAGES = ("received", "scored", "monitored", "done")
DONE = "done"


class StateError(RuntimeError):
    """The state database refused a write it should accept."""


class DuplicateBatchError(StateError):
    """The batch id is recorded already (the same content ingested at the same time)."""


def now_iso() -> str:
    """Now, as the store's rows give timestamps out (ISO-8601, UTC, to the second)."""
    return str(iso(utc_now()))


@dataclass(frozen=True)
class BatchRow:
    """One batch as recorded in the store."""

    batch_id: str
    seq: int
    sha256: str
    source: str
    raw_path: str
    status: str
    rows: int
    received_at: str
    start_time: str | None
    end_time: str | None
    drift_share: float | None
    drift_detected: bool | None
    champion_version: str | None
    contract: dict[str, Any] | None
    drift: dict[str, Any] | None
    decision: dict[str, Any] | None
    performance: dict[str, Any] | None
    serving_metric: float | None
    stage: str | None = None
    worker: str | None = None
    estimated_metric: float | None = None

    @property
    def unfinished(self) -> bool:
        """Accepted, but the cycle stopped before its decision (a crash, a failed model load...)."""
        return self.status == "accepted" and self.stage not in (None, DONE)


class StateStore:
    """Access to the state database. Create one per entry point; it is cheap."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, json_serializer=dump_json)
        try:
            upgrade(self.engine)
        except sa.exc.DatabaseError as err:
            raise StateError(
                f"{self.engine.url.render_as_string(hide_password=True)}: not a readable Driftline state "
                f"database ({getattr(err, 'orig', err)}); restore it from a backup, or move it aside to "
                "start an empty one (the batch store keeps every raw batch)"
            ) from None

    # Batches -----------------------------------------------------------------------------
    def get_batch(self, batch_id: str) -> BatchRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(batches).where(batches.c.batch_id == batch_id)).first()
        return _batch_row(row) if row else None

    def list_batches(self, status: str | None = None) -> list[BatchRow]:
        query = sa.select(batches).order_by(batches.c.seq)
        if status:
            query = query.where(batches.c.status == status)
        with self.engine.connect() as conn:
            return [_batch_row(r) for r in conn.execute(query)]

    def add_batch(self, **values: Any) -> int:
        """Insert a batch; returns its sequence number (arrival order, unique and gap-free).

        Concurrent writers race for the next number; the unique index makes the loser retry.

        Raises:
            DuplicateBatchError: another process recorded this batch id first.
        """
        for attempt in range(50):
            try:
                with self.engine.begin() as conn:
                    seq = conn.execute(sa.select(sa.func.coalesce(sa.func.max(batches.c.seq), 0))).scalar()
                    conn.execute(
                        batches.insert().values(seq=int(seq or 0) + 1, received_at=utc_now(), **values)
                    )
                    return int(seq or 0) + 1
            except (sa.exc.IntegrityError, sa.exc.OperationalError) as err:
                if self.get_batch(values["batch_id"]) is not None:
                    raise DuplicateBatchError(values["batch_id"]) from err
                if isinstance(err, sa.exc.OperationalError) and "locked" not in str(err):
                    raise
                time.sleep(0.02 * (1 + attempt % 5))
        raise StateError("could not record the batch: the state database stayed busy")

    def update_batch(self, batch_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(batches.update().where(batches.c.batch_id == batch_id).values(values))

    # Store facts ----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(meta.delete().where(meta.c.key == key))
            conn.execute(meta.insert().values(key=key, value=value))

    def is_empty(self) -> bool:
        """No batch and no ledger entry yet (a new project, or a lost database)."""
        with self.engine.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(batches)).scalar()
            m = conn.execute(sa.select(sa.func.count()).select_from(ledger)).scalar()
        return not (n or m)

    def unfinished_batches(self) -> list[BatchRow]:
        return [b for b in self.list_batches(status="accepted") if b.unfinished]

    def clear_predictions(self, batch_id: str) -> None:
        """Drop the predictions an unfinished run of this batch logged, so a redo starts clean under
        the same id and sequence number (its labels stay: the redo replaces the ones it carries)."""
        with self.engine.begin() as conn:
            conn.execute(predictions.delete().where(predictions.c.batch_id == batch_id))

    def forget_batch(self, batch_id: str) -> None:
        """Remove a quarantined batch's row, so its kept raw copy can be ingested again under the
        same id (contract accept)."""
        with self.engine.begin() as conn:
            conn.execute(batches.delete().where(batches.c.batch_id == batch_id))

    # Prediction log and labels -------------------------------------------------------------
    def log_predictions(self, frame: pd.DataFrame) -> None:
        """Append rows with columns batch_id, row_key, role, model_version, prediction, score,
        latency_ms."""
        self._append("predictions", frame)

    def record_labels(self, frame: pd.DataFrame, *, replace: bool = True, source: str | None = None) -> int:
        """Insert (batch_id, row_key, label), replacing labels given before unless `replace` is
        False (a batch seen for the first time has none); `source` (LABEL_SOURCES) is kept with
        each row. Returns rows."""
        frame = frame.assign(received_at=utc_now())
        if source is not None:
            if source not in LABEL_SOURCES:
                raise ValueError(f"label source {source!r} is not one of {', '.join(LABEL_SOURCES)}")
            frame = frame.assign(source=source)
        if replace:
            self._delete_labels(frame)
        self._append("labels", frame)
        return len(frame)

    def _append(self, table: str, frame: pd.DataFrame) -> None:
        """Bulk insert: SQLite gets the driver's executemany (100k rows: 0.17 s vs 0.40 s through
        ``DataFrame.to_sql``); other databases go through pandas."""
        if self.engine.dialect.name != "sqlite":
            frame.to_sql(table, self.engine, if_exists="append", index=False, chunksize=50_000)
            return
        frame = _bound_times(metadata.tables[table], frame, self.engine.dialect)
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        marks = ", ".join("?" for _ in frame.columns)
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(rows))

    def _delete_labels(self, frame: pd.DataFrame) -> None:
        with self.engine.begin() as conn:
            for batch_id, part in frame.groupby("batch_id", sort=False):
                keys = part["row_key"].tolist()
                for start in range(0, len(keys), 5_000):
                    conn.execute(
                        labels.delete().where(
                            (labels.c.batch_id == batch_id)
                            & labels.c.row_key.in_(keys[start : start + 5_000])
                        )
                    )

    def find_prediction_batches(self, row_keys: list[str]) -> pd.DataFrame:
        """(row_key, batch_id) of scored rows among `row_keys` (latest batch wins)."""
        parts = []
        with self.engine.connect() as conn:
            for start in range(0, len(row_keys), 5_000):
                chunk = row_keys[start : start + 5_000]
                query = (
                    sa.select(predictions.c.row_key, predictions.c.batch_id)
                    .where(predictions.c.row_key.in_(chunk))
                    .distinct()
                )
                parts.append(pd.DataFrame(conn.execute(query).fetchall(), columns=["row_key", "batch_id"]))
        found = (
            pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["row_key", "batch_id"])
        )
        return found.drop_duplicates("row_key", keep="last")

    def predictions_with_labels(self, batch_ids: list[str]) -> pd.DataFrame:
        """Prediction log rows of these batches joined with their labels (inner join)."""
        query = (
            sa.select(
                predictions.c.batch_id,
                predictions.c.row_key,
                predictions.c.role,
                predictions.c.model_version,
                predictions.c.prediction,
                predictions.c.score,
                labels.c.label,
            )
            .join(
                labels,
                (labels.c.batch_id == predictions.c.batch_id) & (labels.c.row_key == predictions.c.row_key),
            )
            .where(predictions.c.batch_id.in_(batch_ids))
        )
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)

    def labels_for(self, batch_id: str) -> pd.DataFrame:
        query = sa.select(labels.c.row_key, labels.c.label).where(labels.c.batch_id == batch_id)
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)

    def labeled_counts(self) -> dict[str, int]:
        query = sa.select(labels.c.batch_id, sa.func.count()).group_by(labels.c.batch_id)
        with self.engine.connect() as conn:
            return {b: int(n) for b, n in conn.execute(query)}

    # Ledger and retrains ------------------------------------------------------------------
    def append_ledger(self, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(ledger.insert().values(time=utc_now(), **values))

    def read_ledger(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(ledger).order_by(ledger.c.id)).mappings().all()
        return [{**r, "time": iso(r["time"])} for r in rows]

    def record_retrain(self, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(retrains.insert().values(time=utc_now(), **values))

    def labels_since_last_retrain(self) -> int:
        """Labeled rows of accepted batches received after the newest retrain (all of them before
        the first): the labels no retrain has learned from yet. Late labels of batches that arrived
        before that retrain count too: with a label lag they are the only new ones."""
        query = (
            sa.select(sa.func.count())
            .select_from(labels.join(batches, labels.c.batch_id == batches.c.batch_id))
            .where(batches.c.status == "accepted")
        )
        with self.engine.connect() as conn:
            last = conn.execute(sa.select(sa.func.max(retrains.c.time))).scalar()
            if last is not None:
                query = query.where(labels.c.received_at > last)
            return int(conn.execute(query).scalar() or 0)

    def last_retrain_seq(self) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(retrains.c.after_seq))).scalar()

    def newest_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(batches.c.seq), 0))).scalar() or 0)

    def count_retrains(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(retrains)).scalar() or 0)

    # Alerts -------------------------------------------------------------------------------
    def record_alert(self, **values: Any) -> int:
        """Insert an alert row (columns of the `alerts` table; `time` defaults to now); returns its id."""
        values = {"time": utc_now(), **values}
        with self.engine.begin() as conn:
            return int(conn.execute(alerts.insert().values(**values).returning(alerts.c.id)).scalar_one())

    def list_alerts(self, limit: int = 50, kind: str | None = None) -> list[dict[str, Any]]:
        """The newest alerts first, optionally of one kind."""
        query = sa.select(alerts).order_by(alerts.c.id.desc()).limit(limit)
        if kind:
            query = query.where(alerts.c.kind == kind)
        with self.engine.connect() as conn:
            return [_alert_row(r) for r in conn.execute(query).mappings()]

    def last_alert(self, dedup_key: str, statuses: tuple[str, ...] | None = None) -> dict[str, Any] | None:
        """The newest alert with this dedup key (and one of `statuses`, when given)."""
        query = sa.select(alerts).where(alerts.c.dedup_key == dedup_key)
        if statuses:
            query = query.where(alerts.c.status.in_(statuses))
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(alerts.c.id.desc()).limit(1)).mappings().first()
        return _alert_row(row) if row else None

    def count_alerts(self, dedup_key: str, *, status: str, after_id: int) -> int:
        """Alerts with this dedup key and status recorded after alert `after_id`."""
        query = (
            sa.select(sa.func.count())
            .select_from(alerts)
            .where((alerts.c.dedup_key == dedup_key) & (alerts.c.status == status) & (alerts.c.id > after_id))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def mark_alert_delivery(
        self,
        alert_id: int,
        *,
        status: str,
        delivered: bool,
        attempts: int,
        last_error: str | None,
        deliveries: list[dict[str, Any]],
    ) -> None:
        """Record how delivering alert `alert_id` went."""
        with self.engine.begin() as conn:
            conn.execute(
                alerts.update()
                .where(alerts.c.id == alert_id)
                .values(
                    status=status,
                    delivered=delivered,
                    attempts=attempts,
                    last_error=last_error,
                    deliveries=deliveries,
                )
            )

    # Review queue -------------------------------------------------------------------------
    def enqueue_review(self, frame: pd.DataFrame) -> int:
        """Add open review items (columns batch_id, row_key, model_version, prediction, score,
        confidence), skipping rows that have a label, and rows queued before in any status, so a
        retried or redone batch adds no second item. Returns the items added."""
        if frame.empty:
            return 0
        with self.engine.begin() as conn:
            known = set()
            for batch_id, part in frame.groupby("batch_id", sort=False):
                keys = part["row_key"].tolist()
                for table in (review_queue, labels):
                    query = sa.select(table.c.row_key).where(
                        (table.c.batch_id == batch_id) & table.c.row_key.in_(keys)
                    )
                    known |= {(batch_id, key) for key in conn.execute(query).scalars()}
            fresh = [
                {**row, "added_at": utc_now(), "status": REVIEW_OPEN}
                for row in frame.to_dict("records")
                if (row["batch_id"], row["row_key"]) not in known
            ]
            if fresh:
                conn.execute(review_queue.insert(), fresh)
        return len(fresh)

    def open_reviews(self, limit: int | None = None) -> pd.DataFrame:
        """Open review items, oldest first (all of them unless `limit`)."""
        query = (
            sa.select(review_queue).where(review_queue.c.status == REVIEW_OPEN).order_by(review_queue.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return _review_frame(pd.read_sql(query, conn))

    def reviews_by_id(self, ids: list[int]) -> pd.DataFrame:
        """Review items with these ids, in any status."""
        parts = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 5_000):
                query = sa.select(review_queue).where(review_queue.c.id.in_(ids[start : start + 5_000]))
                parts.append(_review_frame(pd.read_sql(query, conn)))
        if not parts:
            return pd.DataFrame(columns=[c.name for c in review_queue.columns])
        return pd.concat(parts, ignore_index=True)

    def answer_reviews(self, answers: pd.DataFrame, *, reviewer: str) -> int:
        """Mark items answered (columns id, answer) by `reviewer`; an answered item may be answered
        again (a correction). Returns the items updated."""
        when = utc_now()
        with self.engine.begin() as conn:
            for item_id, answer in zip(answers["id"].tolist(), answers["answer"].tolist(), strict=True):
                conn.execute(
                    review_queue.update()
                    .where(review_queue.c.id == int(item_id))
                    .values(status=REVIEW_ANSWERED, answer=str(answer), reviewer=reviewer, answered_at=when)
                )
        return len(answers)

    def expire_reviews(self, ids: list[int]) -> int:
        """Mark open items expired (dropped from the queue, never answered). Returns items changed."""
        changed = 0
        with self.engine.begin() as conn:
            for start in range(0, len(ids), 5_000):
                done = conn.execute(
                    review_queue.update()
                    .where(review_queue.c.id.in_(ids[start : start + 5_000]))
                    .where(review_queue.c.status == REVIEW_OPEN)
                    .values(status=REVIEW_EXPIRED)
                )
                changed += done.rowcount or 0
        return changed

    def count_open_reviews(self) -> int:
        query = (
            sa.select(sa.func.count()).select_from(review_queue).where(review_queue.c.status == REVIEW_OPEN)
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def predictions_of(self, batch_id: str, role: str = CHAMPION) -> pd.DataFrame:
        """The prediction log rows one role wrote for a batch."""
        query = sa.select(predictions).where(
            (predictions.c.batch_id == batch_id) & (predictions.c.role == role)
        )
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)

    def label_sources(self, batch_ids: list[str]) -> pd.DataFrame:
        """(batch_id, row_key, source) of the labels of these batches (source None: legacy)."""
        query = sa.select(labels.c.batch_id, labels.c.row_key, labels.c.source).where(
            labels.c.batch_id.in_(batch_ids)
        )
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)


def _alert_row(row: Any) -> dict[str, Any]:
    times = {"time": iso(row["time"]), "repeats_since": iso(row["repeats_since"])}
    return {**row, **times, "deliveries": row["deliveries"] or []}


def _review_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Review items with their timestamps as the rows hand them out (ISO-8601 text, UTC)."""
    times = {
        name: [iso(v) if pd.notna(v) else None for v in frame[name].astype(object)]
        for name in ("added_at", "answered_at")
    }
    return frame.assign(**times)


def _bound_times(table: sa.Table, frame: pd.DataFrame, dialect: sa.Dialect) -> pd.DataFrame:
    """The frame with its timestamp columns as the database stores them (the SQLite fast path
    writes through the driver, past the column types)."""
    out = frame
    for name in frame.columns:
        if isinstance(table.c[name].type, UTCDateTime):
            bind = table.c[name].type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
            # Bound once per distinct timestamp (one per call, in practice), not per row: boxing
            # 100k timestamps as objects alone took 0.5 s.
            codes, distinct = pd.factorize(frame[name])  # a missing value's code is -1
            stored = np.array([*(bind(v) for v in distinct), None], dtype=object)
            out = out.assign(**{name: stored[codes]})
    return out


def _batch_row(row: Any) -> BatchRow:
    m = row._mapping
    return BatchRow(
        batch_id=m["batch_id"],
        seq=m["seq"],
        sha256=m["sha256"],
        source=m["source"],
        raw_path=m["raw_path"],
        status=m["status"],
        rows=m["rows"],
        received_at=str(iso(m["received_at"])),
        start_time=m["start_time"],
        end_time=m["end_time"],
        drift_share=m["drift_share"],
        drift_detected=m["drift_detected"],
        champion_version=m["champion_version"],
        contract=m["contract"],
        drift=m["drift"],
        decision=m["decision"],
        performance=m["performance"],
        serving_metric=m["serving_metric"],
        stage=m["stage"],
        worker=m["worker"],
        estimated_metric=m["estimated_metric"],
    )
