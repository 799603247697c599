"""What is being learned: the task, the feature columns, label normalisation, metric names."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")

MISSING = "__missing__"
"""Text that stands for a missing categorical value (features) or label."""

PRIMARY_METRICS: dict[str, str] = {"binary": "auc", "multiclass": "macro_f1", "regression": "rmse"}
HIGHER_IS_BETTER: dict[str, bool] = {
    "auc": True,
    "accuracy": True,
    "f1": True,
    "macro_f1": True,
    "r2": True,
    "rmse": False,
    "mae": False,
}

# Metrics in the target's own units: a margin of 0.01 means 0.01 minutes, dollars or ppm, so the
# gate's margins for them are fractions of the reference value instead.
SCALE_DEPENDENT: frozenset[str] = frozenset({"rmse", "mae"})


def check_task(task: str) -> Task:
    """Return ``task`` if it is a known task name, else raise ValueError naming it."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return task  # type: ignore[return-value]


def infer_task(y: pd.Series, *, max_classes: int = 20) -> Task:
    """Guess the learning task from a target column.

    Text, bool and category targets are classification; integer targets (or floats holding only
    whole numbers) with at most ``max_classes`` distinct values are classification; other
    numeric targets are regression. Two distinct values means binary.

    Raises:
        ValueError: the target has fewer than two distinct non-missing values, or is text with
            more than ``max_classes`` values.
    """
    values = y.dropna()
    n_unique = int(values.nunique())
    if n_unique < 2:
        raise ValueError(f"target {y.name!r} has {n_unique} distinct non-missing value(s); need at least 2")
    is_numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not is_numeric:
        if n_unique == 2:
            return "binary"
        if n_unique > max_classes:
            raise ValueError(
                f"target {y.name!r} is non-numeric with {n_unique} classes "
                f"(more than max_classes={max_classes})"
            )
        return "multiclass"
    whole = bool(np.all(np.mod(values.to_numpy(dtype=float), 1.0) == 0.0))
    if whole and n_unique == 2:
        return "binary"
    if whole and n_unique <= max_classes:
        return "multiclass"
    return "regression"


@dataclass(frozen=True)
class FeatureSpec:
    """Model input columns, split by how they are encoded."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """All feature columns, numeric first."""
        return self.numeric + self.categorical

    def to_dict(self) -> dict[str, list[str]]:
        """JSON-safe form."""
        return {"numeric": list(self.numeric), "categorical": list(self.categorical)}


def _is_categorical_dtype(series: pd.Series) -> bool:
    return (
        pd.api.types.is_bool_dtype(series)
        or isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
    )


def _is_time_dtype(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series)


MIN_INDEX_ROWS = 20  # fewer rows than this say nothing about a column being an index


def _index_kind(series: pd.Series) -> str | None:
    """'row id' for a unique, increasing integer column; 'time index' for an increasing datetime
    column (or text that parses as one); None for anything else."""
    values = series.dropna()
    if len(values) < MIN_INDEX_ROWS or len(values) < len(series):
        return None
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_integer_dtype(values) or (
        pd.api.types.is_float_dtype(values) and bool(np.all(np.mod(values.to_numpy(), 1.0) == 0.0))
    ):
        return "row id" if values.is_unique and values.is_monotonic_increasing else None
    if pd.api.types.is_datetime64_any_dtype(values):
        return "time index" if values.is_monotonic_increasing else None
    if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
        head = values.astype(str).head(MIN_INDEX_ROWS)
        if not head.str.match(r"^\d{4}-\d{2}-\d{2}").all():  # ISO dates only: cheap and unambiguous
            return None
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
        return "time index" if parsed.notna().all() and parsed.is_monotonic_increasing else None
    return None


def index_like_columns(frame: pd.DataFrame, *, exclude: Sequence[str | None] = ()) -> dict[str, str]:
    """Undeclared columns that look like a row id or a time index, each with what to do about it.

    Such a column becomes a useless feature whose every later value is "out of range", so it is
    left out of the inferred features; the message says how to declare or keep it.
    """
    found = {}
    for column in frame.columns:
        if column in exclude:
            continue
        kind = _index_kind(frame[column])
        if kind is not None:
            flag = "--id-column" if kind == "row id" else "--time-column"
            found[str(column)] = (
                f"column {column!r} looks like a {kind}: declare it with {flag}, "
                "or list it in data.features to keep it as a feature"
            )
    return found


def infer_features(
    frame: pd.DataFrame,
    *,
    target: str,
    id_column: str | None = None,
    time_column: str | None = None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    max_categories: int = 1000,
) -> FeatureSpec:
    """Decide which columns are numeric and which categorical features.

    Args:
        frame: training data.
        target, id_column, time_column: columns never used as features.
        features: explicit feature list (order kept); default all other columns.
        categorical: columns to treat as categorical even if numeric (e.g. integer codes).
        max_categories: when inferring (``features`` not given), text columns with more distinct
            values than this are skipped as likely identifiers or free text.

    Raises:
        ValueError: a listed column is missing, is the target/id/time column, or is a datetime.
    """
    excluded = {c for c in (target, id_column, time_column) if c is not None}
    if features is None:  # an inferred feature list never holds a row id or time index
        excluded |= set(index_like_columns(frame, exclude=[target, id_column, time_column]))
    missing = [c for c in (target, *(features or ()), *(categorical or ())) if c not in frame]
    if missing:
        raise ValueError(f"column(s) not in frame: {', '.join(map(repr, missing))}")
    forced = list(categorical or ())
    if features is not None:
        clash = [c for c in features if c in excluded]
        if clash:
            raise ValueError(f"feature(s) {clash} are the target, id or time column")
        stray = [c for c in forced if c not in features]
        if stray:
            raise ValueError(f"categorical column(s) {stray} are not in features")
        candidates = list(dict.fromkeys(features))
    else:
        candidates = [c for c in frame.columns if c not in excluded]
    numeric: list[str] = []
    cats: list[str] = []
    for column in candidates:
        series = frame[column]
        if column in forced or _is_categorical_dtype(series):
            if features is None and column not in forced and series.nunique() > max_categories:
                logger.warning("skipping %r: %d distinct values", column, series.nunique())
                continue
            cats.append(column)
        elif _is_time_dtype(series):
            if features is not None:
                raise ValueError(f"feature {column!r} is a datetime; derive numeric parts first")
            logger.info("skipping datetime column %r", column)
        else:
            numeric.append(column)
    if not numeric and not cats:
        raise ValueError("no feature columns left after excluding target, id and time columns")
    return FeatureSpec(numeric=tuple(numeric), categorical=tuple(cats))


def _to_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def label_text(values: Iterable[Any]) -> list[str]:
    """Normalise labels or category values to text: ``1.0 -> "1"``, ``True -> "True"``.

    Missing values (None, NaN, NA) become ``MISSING``.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    texts = np.array([_to_text(u) for u in uniques] + [MISSING], dtype=object)
    return texts[codes].tolist()  # code -1 (missing) picks the trailing MISSING


def primary_metric(task: str) -> str:
    """Default metric for a task: binary ``auc``, multiclass ``macro_f1``, regression ``rmse``."""
    return PRIMARY_METRICS[check_task(task)]


def higher_is_better(metric: str) -> bool:
    """Whether larger values of ``metric`` are better. Raises ValueError for unknown metrics."""
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}")
    return HIGHER_IS_BETTER[metric]
