"""Column types of the state store: timezone-aware timestamps and JSON documents.

The store's rows hand timestamps out as ISO-8601 text in UTC (``2026-12-03T14:05:28+00:00``), the
form the CLI prints and ``--json`` writes; in the database they are real timestamps.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware timestamp kept in UTC: PostgreSQL's ``timestamptz``; on SQLite, which has
    no time zones, UTC text that reads back aware. Accepts an aware datetime or ISO-8601 text."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no time zone: the state store keeps aware ones")
        return moment.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_document() -> sa.JSON:
    """A JSON column whose Python None is SQL NULL (not the JSON text ``null``)."""
    return sa.JSON(none_as_null=True)


def dump_json(value: Any) -> str:
    """The engine's JSON serializer: strict (NaN is an error, not invalid JSON), dates as text."""
    return json.dumps(value, allow_nan=False, default=str)


def iso(moment: datetime | None) -> str | None:
    """A stored timestamp as the rows hand it out: ISO-8601 in UTC, to the second."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def utc_now() -> datetime:
    return datetime.now(UTC)
