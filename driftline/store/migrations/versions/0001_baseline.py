"""The schema as it stood when migrations began (every table, the columns added in place
before, and the unique batch sequence).

A store made before migrations already has some or all of it: every step here is skipped where
the database has it, so an old store and a new one end at the same place.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

baseline = sa.MetaData()

batches = sa.Table(
    "batches",
    baseline,
    sa.Column("batch_id", sa.String(32), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False, index=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("raw_path", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False),
    sa.Column("start_time", sa.String(40)),
    sa.Column("end_time", sa.String(40)),
    sa.Column("contract", sa.Text),
    sa.Column("drift", sa.Text),
    sa.Column("drift_share", sa.Float),
    sa.Column("drift_detected", sa.Boolean),
    sa.Column("champion_version", sa.String(16)),
    sa.Column("decision", sa.Text),
    sa.Column("performance", sa.Text),
    sa.Column("serving_metric", sa.Float),
    sa.Column("estimated_metric", sa.Float),  # the champion's label-free estimate (monitoring/estimate.py)
    # How far the cycle got (STAGES); a batch short of "done" is unfinished and is redone.
    sa.Column("stage", sa.String(16)),
    sa.Column("worker", sa.String(80)),  # host:pid of the process running the cycle
)

predictions = sa.Table(
    "predictions",
    baseline,
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
    baseline,
    sa.Column("batch_id", sa.String(32), nullable=False),
    sa.Column("row_key", sa.String(64), nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False),
    sa.Column("source", sa.String(16)),  # LABEL_SOURCES; None: recorded before sources were kept
    sa.Index("ix_labels_key", "batch_id", "row_key", unique=True),
)

ledger = sa.Table(
    "ledger",
    baseline,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", sa.String(40), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("from_version", sa.String(16)),
    sa.Column("to_version", sa.String(16)),
    sa.Column("trigger", sa.Text),
    sa.Column("actor", sa.Text),
    sa.Column("decision", sa.Text),
    sa.Column("model_sha256", sa.String(64)),  # the promoted version's model.skops, as registered
)

retrains = sa.Table(
    "retrains",
    baseline,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", sa.String(40), nullable=False),
    sa.Column("after_seq", sa.Integer, nullable=False),
    sa.Column("version", sa.String(16)),
    sa.Column("promoted", sa.Boolean),
    sa.Column("trigger", sa.Text),
)

# Facts about the store itself, e.g. the project id that the MLflow experiment must carry too.
meta = sa.Table(
    "meta",
    baseline,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

alerts = sa.Table(
    "alerts",
    baseline,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", sa.String(40), nullable=False),
    sa.Column("project", sa.String(80), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("dedup_key", sa.Text, nullable=False, index=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.Text),
    # pending → delivered | partial | failed | stored (no route takes it) | suppressed (cooldown)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("delivered", sa.Boolean, nullable=False, default=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("deliveries", sa.Text),  # per route: masked route, ok, attempts, error
    sa.Column("suppressed", sa.Boolean, nullable=False, default=False),
    sa.Column("repeats", sa.Integer, nullable=False, default=0),  # suppressed repeats in its digest
    sa.Column("repeats_since", sa.String(40)),
)

# Low-confidence predictions waiting for a person's label (driftline.services.review).
review_queue = sa.Table(
    "review_queue",
    baseline,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.String(32), nullable=False),
    sa.Column("row_key", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(16)),
    sa.Column("prediction", sa.Text),
    sa.Column("score", sa.Float),
    sa.Column("confidence", sa.Float),  # binary |p - threshold|, multiclass max p: lower = less sure
    sa.Column("added_at", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open → answered | expired
    sa.Column("answer", sa.Text),
    sa.Column("reviewer", sa.Text),
    sa.Column("answered_at", sa.String(40)),
    sa.Index("ux_review_queue_key", "batch_id", "row_key", unique=True),
    sa.Index("ix_review_queue_status", "status"),
)

# Columns older stores lack: they were added in place, on open, before migrations.
_ADDED_COLUMNS = (
    ("batches", "stage", "VARCHAR(16)"),
    ("batches", "worker", "VARCHAR(80)"),
    ("ledger", "model_sha256", "VARCHAR(64)"),
    ("batches", "estimated_metric", "FLOAT"),
    ("labels", "source", "VARCHAR(16)"),
)


def upgrade() -> None:
    conn = op.get_bind()
    baseline.create_all(conn, checkfirst=True)
    inspector = sa.inspect(conn)
    for table, column, sql_type in _ADDED_COLUMNS:
        if column not in {c["name"] for c in inspector.get_columns(table)}:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
    if "ux_batches_seq" not in {i["name"] for i in inspector.get_indexes("batches")}:
        op.create_index("ux_batches_seq", "batches", ["seq"], unique=True)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: restore the database from a backup")
