"""Preparing current and reference frames for a drift comparison (pure pandas)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def sample(frame: pd.DataFrame, *, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``frame``, drawn with ``seed``; small frames unchanged."""
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed)


def sampled_with_scores(
    frame: pd.DataFrame, scores: np.ndarray, *, column: str, max_rows: int, seed: int
) -> pd.DataFrame:
    """``frame`` with ``scores`` as ``column``, sampled exactly as :func:`sample` would sample it
    (the same rows), but sampled first: a 1M-row batch is never copied whole for the drift stage.
    """
    if len(frame) <= max_rows:
        return frame.assign(**{column: scores})
    # DataFrame.sample draws positions from the length and the seed alone, whatever the data.
    positions = pd.Series(range(len(frame))).sample(n=max_rows, random_state=seed).to_numpy()
    return frame.iloc[positions].assign(**{column: scores[positions]})


def too_few_rows(n_current: int, n_reference: int, *, min_rows: int) -> str | None:
    """Why comparing this many rows gives no drift verdict, or None when it does."""
    if n_current < min_rows:
        return f"too few rows (n={n_current} < {min_rows}) to judge drift"
    if n_reference < min_rows:
        return f"too few reference rows (n={n_reference} < {min_rows}) to judge drift"
    return None


def is_numeric(cur: pd.DataFrame, ref: pd.DataFrame, column: str) -> bool:
    """True when ``column`` has a numeric, non-bool dtype wherever it exists."""
    frames = [f[column] for f in (cur, ref) if column in f]
    return bool(frames) and all(
        pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in frames
    )


def usable(columns: Sequence[str], cur: pd.DataFrame, ref: pd.DataFrame, *, numeric: bool) -> list[str]:
    """Columns present and not all-null on both sides; the rest are skipped with a warning."""
    kept: list[str] = []
    for column in columns:
        missing = [name for name, f in (("current", cur), ("reference", ref)) if column not in f]
        if missing:
            logger.warning("drift: column %r missing from %s data, skipped", column, missing[0])
            continue
        empty = [
            name
            for name, f in (("current", cur), ("reference", ref))
            if not _has_values(f[column], numeric=numeric)
        ]
        if empty:
            logger.warning("drift: column %r has no usable values in %s data, skipped", column, empty[0])
            continue
        kept.append(column)
    return kept


def _has_values(series: pd.Series, *, numeric: bool) -> bool:
    values = _to_numeric(series) if numeric else series
    return bool(values.notna().any())


def _to_numeric(series: pd.Series) -> pd.Series:
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    return values.where(values.abs() != math.inf)


def _to_labels(series: pd.Series) -> pd.Series:
    """Categorical values as text labels; integral floats (ints with NaN) keep their int label."""
    values = series
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        if (present == present.round()).all():
            values = values.astype("Int64")
    labels = values.astype("string").astype(object)
    return labels.where(series.notna(), None)


def prepare(frame: pd.DataFrame, *, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Only the compared columns: numeric as float64 (inf -> NaN), categorical as text labels."""
    data = {c: _to_numeric(frame[c]) for c in numeric}
    data.update({c: _to_labels(frame[c]) for c in categorical})
    return pd.DataFrame(data, index=frame.index)
