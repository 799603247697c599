"""Bootstrap a data contract (a Great Expectations suite as plain JSON) from reference data.

Pure pandas: Great Expectations is not imported here. Two tiers:

* **validity blocks** — what is surely broken: the column set, types, a massive null-rate jump
  or an all-null feature, an empty batch, duplicate or null ids, a unit or scale change (the
  batch median leaves the reference by several times the column's own scale, or the spread
  grows by a large factor), and bounds the user declares;
* **distribution warns** — ranges moving, new categories, null-rate creep, batch size: these
  are drift, which Driftline exists to adapt to, never a quarantine by default.

A near-constant reference column never yields a blocking distribution rule.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from data_contracts.dtypes import DATE_LIKE, column_kind, looks_like_dates, python_value, type_list
from data_contracts.results import BLOCK, SEVERITY_TO_NATIVE, WARN
from data_contracts.suite_io import load_suite, save_suite, suite_hash

__all__ = ["bootstrap_suite", "load_suite", "save_suite", "suite_hash"]

logger = logging.getLogger(__name__)

WARN_RANGE_MOSTLY = 0.99  # the warn range tolerates 1% stragglers before it speaks up
# The scale rules read the reference through robust quantiles, so a few outliers in a short
# reference cannot make them strict.
LOW_Q, HIGH_Q = 0.01, 0.99
NEAR_CONSTANT_SHARE = 0.95  # a column whose top value covers this share is near-constant


def _expectation(type_: str, kwargs: dict[str, Any], *, severity: str, rule: str) -> dict:
    return {
        "type": type_,
        "kwargs": kwargs,
        "severity": SEVERITY_TO_NATIVE[severity],  # GE's own field; meta.severity is Driftline's
        "meta": {"severity": severity, "rule": rule},
    }


def _all_look_like_dates(values: pd.Series, share: float = 0.999) -> bool:
    """The reference's own values match :data:`DATE_LIKE`, so the rule cannot block good data."""
    present = values.dropna()
    return bool(len(present)) and bool(present.astype(str).str.contains(DATE_LIKE).mean() >= share)


def _floor4(value: float) -> float:
    """Round down to 4 decimals, so a ``mostly`` is never stricter than computed."""
    return math.floor(value * 10_000) / 10_000


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _range_expectation(
    column: str, values: pd.Series, *, margin: float, mostly: float, severity: str, why: str
) -> dict | None:
    """Numeric range of the reference widened by ``margin`` times its span; None if no data."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    finite = numbers[np.isfinite(numbers)]
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    span = high - low or abs(high) or 1.0
    lo, hi = low - margin * span, high + margin * span
    rule = (
        f"'{column}' {'must' if severity == BLOCK else 'should'} lie within [{_fmt(lo)}, "
        f"{_fmt(hi)}] (reference range ± {margin:g}× its span) for {mostly:.0%} of rows{why}."
    )
    kwargs = {"column": column, "min_value": lo, "max_value": hi, "mostly": mostly}
    return _expectation("expect_column_values_to_be_between", kwargs, severity=severity, rule=rule)


def _set_expectation(column: str, values: pd.Series, *, mostly: float) -> dict:
    value_set = sorted({python_value(v) for v in values.dropna().unique()}, key=repr)
    rule = f"'{column}' should take one of its {len(value_set)} reference values in {mostly:.0%} of rows."
    kwargs = {"column": column, "value_set": value_set, "mostly": mostly}
    return _expectation("expect_column_values_to_be_in_set", kwargs, severity=WARN, rule=rule)


def _check_arguments(reference: pd.DataFrame, names: dict[str, str | None], **numbers: float) -> None:
    if reference.empty:
        raise ValueError("reference frame is empty: a contract needs at least one row")
    for role, column in names.items():
        if column is not None and column not in reference.columns:
            raise ValueError(f"{role} {column!r} is not a column of the reference frame")
    for key, value in numbers.items():
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"{key} must be a finite number >= 0, got {value!r}")
        if key.endswith("mostly") and value > 1:
            raise ValueError(f"{key} must lie in [0, 1], got {value!r}")


def _null_expectations(column: str, values: pd.Series, *, params: dict[str, Any]) -> list[dict]:
    """A warning when the null rate creeps up; a block when it jumps or the column empties."""
    null_rate = float(values.isna().mean())
    out = []
    for margin, severity, why in (
        (params["null_margin"], WARN, "margin"),
        (params["block_null_jump"], BLOCK, "jump: a broken feed"),
    ):
        mostly = _floor4(max(0.0, 1.0 - (null_rate + margin)))
        if mostly <= 0:  # mostly=0 would be a check that cannot fail
            continue
        verb = "should" if severity == WARN else "must"
        rule = (
            f"'{column}' {verb} be null in at most {1 - mostly:.1%} of rows "
            f"(reference {null_rate:.1%} + {margin:.1%} {why})."
        )
        kwargs = {"column": column, "mostly": mostly}
        out.append(_expectation("expect_column_values_to_not_be_null", kwargs, severity=severity, rule=rule))
    return out


def _declared_bounds(column: str, bounds: Sequence[float | None]) -> dict:
    """A user-declared validity range (``contract.bounds``): every non-null value inside it."""
    low, high = (None if b is None else float(b) for b in bounds)
    rule = f"'{column}' must lie within [{low}, {high}] (declared in contract.bounds)."
    kwargs = {"column": column, "min_value": low, "max_value": high, "mostly": 1.0}
    return _expectation("expect_column_values_to_be_between", kwargs, severity=BLOCK, rule=rule)


def _near_constant(finite: np.ndarray) -> bool:
    if finite.size == 0:
        return True
    _, counts = np.unique(finite, return_counts=True)
    return counts.size <= 2 or counts.max() >= NEAR_CONSTANT_SHARE * finite.size


def _scale_expectations(column: str, values: pd.Series, *, params: dict[str, Any]) -> list[dict]:
    """Blocking rules that catch a unit or scale change, relative to the column's own scale.

    The column's scale ``s`` is the larger of its robust span (1st–99th percentile) and its
    magnitude (|median|). A regime change moves the median by a fraction of that; a unit change
    (×10, ×25.4, ×1000, °C→°F, mbar→inHg) moves it by several times ``s``, shrinks a positive
    column by a large factor, or multiplies the spread. Near-constant columns get none.
    """
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    finite = numbers[np.isfinite(numbers)]
    if _near_constant(finite):
        return []
    low, high = (float(q) for q in np.quantile(finite, [LOW_Q, HIGH_Q]))
    median = float(np.median(finite))
    scale = max(high - low, abs(median))
    k, shrink = params["scale_tolerance"], params["shrink_factor"]
    lo = min(low, median / shrink) if low > 0 else low - k * scale
    hi = high + k * scale
    rule = (
        f"'{column}' must keep its median within [{_fmt(lo)}, {_fmt(hi)}]: the reference's "
        f"1st–99th percentiles [{_fmt(low)}, {_fmt(high)}] widened by {k:g}× the column's scale "
        f"{_fmt(scale)}{f' (median ÷{shrink:g} below, a positive column)' if low > 0 else ''}; "
        "a jump this large is a unit change, not drift."
    )
    kwargs = {"column": column, "min_value": lo, "max_value": hi}
    out = [_expectation("expect_column_median_to_be_between", kwargs, severity=BLOCK, rule=rule)]
    std = float(np.std(finite))
    # The scale of the spread: the std, a quarter of the p1-p99 span (robust to a narrow reference
    # whose std is tiny) and half the |median|, whichever is largest.
    spread = params["spread_factor"] * max(std, (high - low) / 4, abs(median) / 2)
    rule = (
        f"'{column}' must keep its standard deviation at most {_fmt(spread)} "
        f"({params['spread_factor']:g}× the largest of the reference's {_fmt(std)}, a quarter of its "
        f"1st–99th percentile span and half its |median| {_fmt(abs(median))}): a spread this wide is a "
        "unit change, not drift."
    )
    kwargs = {"column": column, "max_value": spread}
    out.append(_expectation("expect_column_stdev_to_be_between", kwargs, severity=BLOCK, rule=rule))
    return out


def _checked_bounds(
    bounds: Mapping[str, Sequence[float | None]], reference: pd.DataFrame
) -> dict[str, list[float | None]]:
    out = {}
    for column, pair in bounds.items():
        if column not in reference.columns:
            raise ValueError(f"bounds: {column!r} is not a column of the reference frame")
        if len(pair) != 2 or all(b is None for b in pair):
            raise ValueError(f"bounds[{column!r}] = {list(pair)!r}: give [min, max] (one may be null)")
        out[column] = list(pair)
    return out


def _column_expectations(
    column: str, values: pd.Series, *, role: str | None, params: dict[str, Any]
) -> list[dict]:
    """Type, null-rate, range and set expectations of one non-target column."""
    kind = column_kind(values)
    if kind == "string" and looks_like_dates(values):
        kind = "datetime"  # text timestamps (CSV) and real ones (Parquet) are the same column
    out: list[dict] = []
    if kind == "numeric":  # judged by the share of values that are not numbers
        tolerance = params["type_tolerance"]
        kwargs: dict[str, Any] = {"column": column, "type_list": type_list(kind)}
        rule = f"'{column}' should hold numbers only."
        out.append(_expectation("expect_column_values_to_be_in_type_list", kwargs, severity=WARN, rule=rule))
        rule = f"'{column}' must hold numbers in at least {1 - tolerance:.0%} of rows."
        kwargs = {**kwargs, "mostly": _floor4(1 - tolerance)}
        out.append(_expectation("expect_column_values_to_be_in_type_list", kwargs, severity=BLOCK, rule=rule))
    elif kind != "empty":  # an all-null reference column tells us nothing about its type
        rule = f"'{column}' must keep its {kind} type."
        kwargs = {"column": column, "type_list": type_list(kind)}
        out.append(_expectation("expect_column_values_to_be_in_type_list", kwargs, severity=BLOCK, rule=rule))
    if kind == "datetime" and _all_look_like_dates(values):
        # The type list accepts text (a CSV batch of a Parquet project), so text that is no date
        # at all ("yesterday", "n/a") needs its own rule; judged by share, like numbers.
        tolerance = params["type_tolerance"]
        rule = f"'{column}' must hold dates or times in at least {1 - tolerance:.0%} of rows."
        kwargs = {"column": column, "regex": DATE_LIKE, "mostly": _floor4(1 - tolerance)}
        out.append(_expectation("expect_column_values_to_match_regex", kwargs, severity=BLOCK, rule=rule))
    if role == "id column":
        rule = f"Id column '{column}' must never be null."
        kwargs = {"column": column, "mostly": 1.0}
        out.append(_expectation("expect_column_values_to_not_be_null", kwargs, severity=BLOCK, rule=rule))
        rule = f"Id column '{column}' must not repeat a value within a batch."
        out.append(
            _expectation("expect_column_values_to_be_unique", {"column": column}, severity=BLOCK, rule=rule)
        )
    else:
        out += _null_expectations(column, values, params=params)
    if column in params["bounds"]:
        out.append(_declared_bounds(column, params["bounds"][column]))
    if role is not None:  # ids and timestamps are expected to move out of any reference range
        return out
    if kind == "numeric":
        found = _range_expectation(
            column,
            values,
            margin=params["warn_range_margin"],
            mostly=WARN_RANGE_MOSTLY,
            severity=WARN,
            why="",
        )
        out += [found] if found is not None else []
        if params["block_range_margin"] is not None:  # opt-in: the pre-0.2 blocking range
            found = _range_expectation(
                column,
                values,
                margin=params["block_range_margin"],
                mostly=params["block_range_mostly"],
                severity=BLOCK,
                why="; declared in contract.block_range_margin",
            )
            out += [found] if found is not None else []
        out += _scale_expectations(column, values, params=params)
    elif kind in ("string", "bool") and values.nunique() <= params["max_categories"]:
        out.append(_set_expectation(column, values, mostly=params["category_mostly"]))
    return out


def _target_expectations(target: str, values: pd.Series, *, params: dict[str, Any]) -> list[dict]:
    """Warn-only label checks: the target may be absent or partly unlabelled in a batch."""
    kind = column_kind(values)
    if kind == "empty":
        return []
    is_float = kind == "numeric" and pd.api.types.is_float_dtype(values.dtype)
    if not is_float or values.nunique() <= params["max_categories"]:
        return [_set_expectation(target, values, mostly=params["category_mostly"])]
    found = _range_expectation(
        target,
        values,
        margin=params["warn_range_margin"],
        mostly=WARN_RANGE_MOSTLY,
        severity=WARN,
        why="",
    )
    return [] if found is None else [found]


def bootstrap_suite(
    reference: pd.DataFrame,
    *,
    name: str,
    target: str | None,
    id_column: str | None = None,
    time_column: str | None = None,
    index_columns: Sequence[str] = (),
    warn_range_margin: float = 0.1,
    scale_tolerance: float = 3.0,
    shrink_factor: float = 20.0,
    spread_factor: float = 10.0,
    block_null_jump: float = 0.4,
    type_tolerance: float = 0.02,
    block_range_margin: float | None = None,
    block_range_mostly: float = 0.9,
    max_categories: int = 30,
    category_mostly: float = 0.95,
    null_margin: float = 0.05,
    row_count_factor: float = 10.0,
    bounds: Mapping[str, Sequence[float | None]] | None = None,
) -> dict:
    """Build a contract suite (GE expectation-suite JSON) from a reference frame.

    Args:
        reference: the data the model was trained on (or a trusted sample of it).
        name: suite name.
        target: label column; optional in batches (labels may arrive later), checked by warnings.
        id_column: must exist and never be null; no range/set checks.
        time_column: no range/set checks (time moves on).
        index_columns: undeclared columns that look like a row id or time index: no
            range/set/scale checks either (they move on by construction).
        warn_range_margin: the warning range is the reference range widened by this many spans.
        scale_tolerance: block when the batch median moves more than this many times the
            column's own scale beyond the reference's 1st–99th percentiles.
        shrink_factor: block when a positive column's median falls below its reference
            median divided by this (and below its 1st percentile; mbar → inHg is ÷33.9).
        spread_factor: block when the standard deviation exceeds this many times the larger
            of the reference's and half its |median|.
        block_null_jump: block when a column's null rate exceeds the reference's by this.
        type_tolerance: a numeric column warns on any text value and blocks when more than
            this share of its values are not numbers.
        block_range_margin: opt-in blocking range (reference range ± margin·span); None: off.
        block_range_mostly: share of rows that must lie in that blocking range.
        max_categories: non-numeric columns with at most this many values get a set check.
        category_mostly: share of rows that must take a reference category.
        null_margin: null rate allowed above the reference null rate.
        row_count_factor: batches above this many times the reference rows warn.
        bounds: declared validity bounds per column, ``{column: [min, max]}`` (None: open).

    Returns:
        ``{"name", "expectations", "meta"}``, loadable with ``gx.ExpectationSuite(**suite)``.

    Raises:
        ValueError: empty reference, unknown column names, or out-of-range parameters.
    """
    roles = {"target": target, "id column": id_column, "time column": time_column}
    params: dict[str, Any] = {
        "warn_range_margin": warn_range_margin,
        "scale_tolerance": scale_tolerance,
        "shrink_factor": shrink_factor,
        "spread_factor": spread_factor,
        "block_null_jump": block_null_jump,
        "type_tolerance": type_tolerance,
        "block_range_margin": block_range_margin,
        "block_range_mostly": block_range_mostly,
        "max_categories": max_categories,
        "category_mostly": category_mostly,
        "null_margin": null_margin,
        "row_count_factor": row_count_factor,
    }
    _check_arguments(reference, roles, **{k: v for k, v in params.items() if v is not None})
    params["bounds"] = _checked_bounds(bounds or {}, reference)
    rows = len(reference)
    columns = [c for c in reference.columns if c != target]
    optional = "" if target is None else f"; the target '{target}' may be absent"
    expectations = [
        _expectation(
            "expect_table_columns_to_match_set",
            {"column_set": columns, "exact_match": True},
            severity=BLOCK,
            rule=f"The batch must have exactly the {len(columns)} reference columns{optional}.",
        ),
        _expectation(
            "expect_table_row_count_to_be_between",
            {"min_value": 1},
            severity=BLOCK,
            rule="The batch must contain at least one row.",
        ),
        _expectation(
            "expect_table_row_count_to_be_between",
            {"max_value": int(row_count_factor * rows)},
            severity=WARN,
            rule=f"The batch should have at most {row_count_factor:g}× the {rows} reference rows.",
        ),
    ]
    role_of = {column: "index column" for column in index_columns}
    role_of.update({column: role for role, column in roles.items() if column is not None})
    for column in columns:
        expectations += _column_expectations(
            column, reference[column], role=role_of.get(column), params=params
        )
    if target is not None:
        expectations += _target_expectations(target, reference[target], params=params)
    logger.info("suite %r: %d expectations from %d rows", name, len(expectations), rows)
    return {
        "name": name,
        "expectations": expectations,
        "meta": {
            "driftline": {
                "version": 1,
                "target": target,
                "optional_columns": [] if target is None else [target],
                "id_column": id_column,
                "time_column": time_column,
                "index_columns": list(index_columns),
                "reference_rows": rows,
                "created_from": f"bootstrap_suite on {rows} reference rows × {reference.shape[1]} columns",
                "parameters": params,
            }
        },
    }
