"""The SQLite fast path binds timestamp columns once per distinct value, row for row as SQLAlchemy would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import sqlalchemy as sa

from driftline.store.state import _bound_times, metadata


def test_each_row_gets_its_own_timestamp_bound_and_missing_ones_stay_null() -> None:
    table = metadata.tables["review_queue"]
    dialect = sa.create_engine("sqlite://").dialect
    t1 = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    t2 = datetime(2026, 12, 7, 11, 0, tzinfo=timezone(timedelta(hours=2)))  # 09:00 UTC
    frame = pd.DataFrame(
        {
            "row_key": ["a", "b", "c", "d"],
            "added_at": pd.to_datetime([t1, t1, t2, t1], utc=True),
            "answered_at": [None, t2, None, t1],  # object column with gaps
        }
    )
    bind = table.c["added_at"].type.dialect_impl(dialect).bind_processor(dialect)
    out = _bound_times(table, frame, dialect)
    assert list(out["added_at"]) == [bind(t1), bind(t1), bind(t2), bind(t1)]
    assert list(out["answered_at"]) == [None, bind(t2), None, bind(t1)]
    assert bind(t2) != bind(t1) and list(out["row_key"]) == ["a", "b", "c", "d"]  # other columns kept
    assert list(frame["answered_at"]) == [None, t2, None, t1]  # the caller's frame is not changed
