"""Timestamps become timezone-aware DateTime (kept in UTC), JSON documents become sa.JSON.

Both were text before: ISO-8601 strings (``2026-12-03T14:05:28+00:00``) and ``json.dumps`` output.
On SQLite each table is rebuilt with the new declared types and its rows copied as they are
(SQLite has no cast to a timestamp: ``CAST(text AS DATETIME)`` keeps the year only), then each
distinct timestamp is rewritten in the form SQLAlchemy reads back; JSON text needs no change. On
PostgreSQL the columns are altered in place with ``USING`` casts.

Revision ID: 0003
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from driftline.store.columns import UTCDateTime, json_document

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# table -> (column, nullable)
TIMES: dict[str, tuple[tuple[str, bool], ...]] = {
    "batches": (("received_at", False),),
    "labels": (("received_at", False),),
    "ledger": (("time", False),),
    "retrains": (("time", False),),
    "alerts": (("time", False), ("repeats_since", True)),
    "review_queue": (("added_at", False), ("answered_at", True)),
}
DOCUMENTS: dict[str, tuple[str, ...]] = {
    "batches": ("contract", "drift", "decision", "performance"),
    "ledger": ("decision",),
    "alerts": ("details", "deliveries"),
}


def _aware(table: str, column: str, value: Any) -> datetime:
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(
            f"state store: {table}.{column} holds {value!r}, which is not an ISO-8601 timestamp; "
            "fix or delete that row, then open the project again"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rewrite(
    table: str,
    columns: Iterable[str],
    typed: Callable[[str], Any],
    convert: Callable[[str, str, Any], Any],
) -> None:
    """Rewrite each distinct stored value of these columns through `convert`, bound by `typed`."""
    bind = op.get_bind()
    for column in columns:
        old = sa.table(table, sa.column(column, sa.Text()))
        new = sa.table(table, sa.column(column, typed(column)))
        distinct = bind.execute(sa.select(old.c[column]).distinct()).scalars().all()
        for value in distinct:
            if value is None:
                continue
            bind.execute(
                new.update()
                .where(sa.literal_column(f'"{column}"') == sa.literal(value, sa.Text()))
                .values({column: convert(table, column, value)})
            )


def _rebuild_sqlite(table: str, columns: list[sa.Column[Any]]) -> None:
    with op.batch_alter_table(table, recreate="always", reflect_args=tuple(columns)):
        pass


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in sorted(set(TIMES) | set(DOCUMENTS)):
        times, documents = TIMES.get(table, ()), DOCUMENTS.get(table, ())
        if sqlite:
            _rebuild_sqlite(
                table,
                [sa.Column(c, UTCDateTime(), nullable=n) for c, n in times]
                + [sa.Column(c, json_document()) for c in documents],
            )
            _rewrite(table, (c for c, _ in times), lambda _: UTCDateTime(), _aware)
            continue
        for column, _ in times:
            op.alter_column(
                table,
                column,
                type_=UTCDateTime(),
                existing_type=sa.String(40),
                postgresql_using=f'"{column}"::timestamptz',
            )
        for column in documents:
            op.alter_column(
                table,
                column,
                type_=json_document(),
                existing_type=sa.Text(),
                postgresql_using=f"NULLIF(\"{column}\", '')::json",
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in sorted(set(TIMES) | set(DOCUMENTS)):
        times, documents = TIMES.get(table, ()), DOCUMENTS.get(table, ())
        if sqlite:
            _rebuild_sqlite(
                table,
                [sa.Column(c, sa.String(40), nullable=n) for c, n in times]
                + [sa.Column(c, sa.Text()) for c in documents],
            )
            _rewrite(
                table,
                (c for c, _ in times),
                lambda _: sa.String(40),
                lambda t, c, v: _aware(t, c, v).isoformat(timespec="seconds"),
            )
            continue
        for column, _ in times:
            op.alter_column(table, column, type_=sa.String(40), existing_type=UTCDateTime())
        for column in documents:
            op.alter_column(table, column, type_=sa.Text(), existing_type=json_document())
