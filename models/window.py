"""Choose which received batches train the challenger and which are held out to judge it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

ACCEPTED = "accepted"


@dataclass(frozen=True)
class BatchRef:
    """What the window needs to know about one received batch."""

    batch_id: str
    received_order: int
    rows: int
    labeled_rows: int
    start_time: pd.Timestamp | None
    end_time: pd.Timestamp | None
    status: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (timestamps as ISO text)."""
        return {
            "batch_id": self.batch_id,
            "received_order": int(self.received_order),
            "rows": int(self.rows),
            "labeled_rows": int(self.labeled_rows),
            "start_time": None if self.start_time is None else self.start_time.isoformat(),
            "end_time": None if self.end_time is None else self.end_time.isoformat(),
            "status": self.status,
        }


@dataclass(frozen=True)
class WindowSelection:
    """Training and holdout batches, and whether they are enough (``ok``) with the reason."""

    train: tuple[BatchRef, ...]
    holdout: tuple[BatchRef, ...]
    ok: bool
    reason: str
    # When set, the batches are too small to hold whole ones out: the holdout is the newest
    # ``holdout_tail_rows`` labeled rows of train + holdout batches (in order), the rest trains.
    holdout_tail_rows: int | None = None

    @property
    def train_rows(self) -> int:
        """Labeled rows that train."""
        total = sum(b.labeled_rows for b in self.train)
        if self.holdout_tail_rows is None:
            return total
        return total + sum(b.labeled_rows for b in self.holdout) - self.holdout_tail_rows

    @property
    def holdout_rows(self) -> int:
        """Labeled rows held out."""
        if self.holdout_tail_rows is not None:
            return self.holdout_tail_rows
        return sum(b.labeled_rows for b in self.holdout)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "ok": self.ok,
            "reason": self.reason,
            "train": [b.to_dict() for b in self.train],
            "holdout": [b.to_dict() for b in self.holdout],
            "train_rows": self.train_rows,
            "holdout_rows": self.holdout_rows,
            "holdout_tail_rows": self.holdout_tail_rows,
        }


def _rows(batches: Sequence[BatchRef]) -> int:
    return sum(b.labeled_rows for b in batches)


def _check_arguments(
    n_batches: int | None, duration: str | None, holdout_batches: int, minimums: Sequence[int]
) -> pd.DateOffset | None:
    if n_batches is not None and n_batches < 1:
        raise ValueError(f"n_batches={n_batches!r}: must be >= 1 or None")
    if holdout_batches < 1:
        raise ValueError(f"holdout_batches={holdout_batches!r}: must be >= 1")
    if any(m < 0 for m in minimums):
        raise ValueError(f"minimum row counts {tuple(minimums)} must be >= 0")
    if duration is None:
        return None
    try:
        span = pd.tseries.frequencies.to_offset(duration)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"duration={duration!r}: not a pandas offset like '90D' or '8W'") from exc
    probe = pd.Timestamp("2000-01-01")
    if not probe - span < probe:
        raise ValueError(f"duration={duration!r}: must be positive")
    return span


def select_window(
    batches: Sequence[BatchRef],
    *,
    n_batches: int | None = 6,
    duration: str | None = None,
    expanding: bool = False,
    holdout_batches: int = 1,
    min_train_rows: int = 200,
    min_holdout_rows: int = 100,
) -> WindowSelection:
    """Pick training and holdout batches from accepted, labeled batches in received order.

    The newest ``holdout_batches`` are held out and never trained on. Training takes the batches
    before them: all of them if ``expanding``; otherwise the last ``n_batches`` and/or those whose
    ``end_time`` is less than ``duration`` before the newest training batch's ``end_time`` (both
    limits apply when both are given; batches without ``end_time`` are then left out).

    On a stream of small batches the window reaches back past ``n_batches`` until training
    holds ``min_train_rows``; and when whole batches still cannot be held out (the newest are
    too small, or holding them out leaves too little to train on), the newest rows are held out
    instead (``holdout_tail_rows``), as long as the window holds both minimums in total.

    Returns:
        A selection with ``ok=False`` and a readable reason when there is not enough data.

    Raises:
        ValueError: invalid arguments (not for too little data).
    """
    span = _check_arguments(n_batches, duration, holdout_batches, (min_train_rows, min_holdout_rows))
    usable = sorted(
        (b for b in batches if b.status == ACCEPTED and b.labeled_rows > 0),
        key=lambda b: b.received_order,
    )
    skipped = len(batches) - len(usable)
    note = f" ({skipped} batch(es) skipped: not accepted or unlabeled)" if skipped else ""
    if len(usable) <= holdout_batches:
        return WindowSelection(
            (),
            tuple(usable),
            False,
            f"{len(usable)} usable batch(es), need more than {holdout_batches} to hold "
            f"{holdout_batches} out and train on the rest{note}",
        )
    holdout = tuple(usable[-holdout_batches:])
    older = usable[:-holdout_batches]
    train = older
    if not expanding:
        if n_batches is not None:
            train = train[-n_batches:]
        if span is not None:
            timed = [(b, b.end_time) for b in train if b.end_time is not None]
            cutoff = max((end for _, end in timed), default=None)
            train = [b for b, end in timed if cutoff is not None and end > cutoff - span]

        # Small batches: the window reaches back until it holds min_train_rows, so a window
        # of N batches means "at least N" rather than "too little data" on a small stream.
        def short(train: Sequence[BatchRef]) -> bool:
            if _rows(holdout) >= min_holdout_rows:
                return _rows(train) < min_train_rows
            return _rows(train) + _rows(holdout) < min_train_rows + min_holdout_rows

        extended = len(train)
        while short(train) and len(train) < len(older):
            train = older[-(len(train) + 1) :]
        extended = len(train) - extended
    else:
        extended = 0
    kind = "expanding" if expanding else f"last {n_batches} batch(es)" if n_batches else "all"
    if span is not None and not expanding:
        kind += f" within {duration}"
    if extended:
        kind += f", {extended} more to reach {min_train_rows} rows"
    total = _rows(train) + _rows(holdout)
    tail = None
    if (_rows(train) < min_train_rows or _rows(holdout) < min_holdout_rows) and (
        total >= min_train_rows + min_holdout_rows
    ):
        # Whole batches cannot be held out: hold out the newest rows instead.
        tail = max(min_holdout_rows, min(_rows(holdout), total - min_train_rows))
    if tail is not None:
        summary = (
            f"{len(train) + len(holdout)} batch(es) ({total} labeled rows, {kind}); batches too small "
            f"to hold whole ones out, so the newest {tail} rows are the holdout{note}"
        )
        logger.info("window: %s", summary)
        return WindowSelection(tuple(train), holdout, True, summary, holdout_tail_rows=tail)
    summary = (
        f"{len(train)} training batch(es) ({_rows(train)} labeled rows, {kind}) and "
        f"{len(holdout)} holdout batch(es) ({_rows(holdout)} labeled rows){note}"
    )
    problems = []
    if _rows(train) < min_train_rows:
        problems.append(f"training has {_rows(train)} labeled rows, need {min_train_rows}")
    if _rows(holdout) < min_holdout_rows:
        problems.append(f"holdout has {_rows(holdout)} labeled rows, need {min_holdout_rows}")
    reason = "; ".join(problems) + f": {summary}" if problems else summary
    logger.info("window: %s", reason)
    return WindowSelection(tuple(train), holdout, not problems, reason)


def spread_batches(batches: Sequence[BatchRef], max_rows: int) -> tuple[BatchRef, ...]:
    """Batches spaced evenly over `batches` (the first and the newest always among them) whose
    labeled rows add up to about `max_rows`; all of them when they hold no more than that. What a
    long window reads is then bounded by `max_rows`, not by how many batches the stream has had."""
    total = _rows(batches)
    if total <= max_rows or len(batches) < 3:
        return tuple(batches)
    keep = max(2, min(len(batches), round(max_rows / (total / len(batches)))))
    picks = sorted({round(i * (len(batches) - 1) / (keep - 1)) for i in range(keep)})
    return tuple(batches[i] for i in picks)
