"""Bootstrap a data contract (a Great Expectations suite as plain JSON) from reference data.

Pure pandas: Great Expectations is not imported here. The thresholds are deliberately loose
where real data drifts (seasonal ranges, new categories: warnings) and strict where a feed
breaks (columns, types, unit changes, empty batches: blocking).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from data_contracts.dtypes import column_kind, python_value, type_list
from data_contracts.results import BLOCK, WARN
from data_contracts.suite_io import load_suite, save_suite, suite_hash

__all__ = ["bootstrap_suite", "load_suite", "save_suite", "suite_hash"]

logger = logging.getLogger(__name__)

WARN_RANGE_MOSTLY = 0.99  # the warn range tolerates 1% stragglers before it speaks up


def _expectation(type_: str, kwargs: dict[str, Any], *, severity: str, rule: str) -> dict:
    return {"type": type_, "kwargs": kwargs, "meta": {"severity": severity, "rule": rule}}


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


def _column_expectations(
    column: str, values: pd.Series, *, role: str | None, params: dict[str, Any]
) -> list[dict]:
    """Type, null-rate, range and set expectations of one non-target column."""
    kind = column_kind(values)
    out: list[dict] = []
    if kind != "empty":  # an all-null reference column tells us nothing about its type
        rule = f"'{column}' must keep its {kind} type."
        kwargs: dict[str, Any] = {"column": column, "type_list": type_list(kind)}
        out.append(_expectation("expect_column_values_to_be_in_type_list", kwargs, severity=BLOCK, rule=rule))
    if role == "id column":
        rule = f"Id column '{column}' must never be null."
        out.append(
            _expectation(
                "expect_column_values_to_not_be_null",
                {"column": column, "mostly": 1.0},
                severity=BLOCK,
                rule=rule,
            )
        )
    else:
        null_rate = float(values.isna().mean())
        mostly = _floor4(max(0.0, 1.0 - (null_rate + params["null_margin"])))
        if mostly > 0:  # mostly=0 would be a check that cannot fail
            rule = (
                f"'{column}' should be null in at most {1 - mostly:.1%} of rows "
                f"(reference {null_rate:.1%} + {params['null_margin']:.1%} margin)."
            )
            kwargs = {"column": column, "mostly": mostly}
            out.append(_expectation("expect_column_values_to_not_be_null", kwargs, severity=WARN, rule=rule))
    if role is not None:  # ids and timestamps are expected to move out of any reference range
        return out
    if kind == "numeric":
        for margin, mostly, severity, why in (
            (params["warn_range_margin"], WARN_RANGE_MOSTLY, WARN, ""),
            (
                params["block_range_margin"],
                params["block_range_mostly"],
                BLOCK,
                "; catches unit changes",
            ),
        ):
            found = _range_expectation(
                column, values, margin=margin, mostly=mostly, severity=severity, why=why
            )
            if found is not None:
                out.append(found)
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
    warn_range_margin: float = 0.1,
    block_range_margin: float = 1.0,
    block_range_mostly: float = 0.9,
    max_categories: int = 30,
    category_mostly: float = 0.95,
    null_margin: float = 0.05,
    row_count_factor: float = 10.0,
) -> dict:
    """Build a contract suite (GE expectation-suite JSON) from a reference frame.

    Args:
        reference: the data the model was trained on (or a trusted sample of it).
        name: suite name.
        target: label column; optional in batches (labels may arrive later), checked by warnings.
        id_column: must exist and never be null; no range/set checks.
        time_column: no range/set checks (time moves on).
        warn_range_margin / block_range_margin: widen the reference range by this many spans.
        block_range_mostly: share of rows that must lie in the blocking range.
        max_categories: non-numeric columns with at most this many values get a set check.
        category_mostly: share of rows that must take a reference category.
        null_margin: null rate allowed above the reference null rate.
        row_count_factor: batches above this many times the reference rows warn.

    Returns:
        ``{"name", "expectations", "meta"}``, loadable with ``gx.ExpectationSuite(**suite)``.

    Raises:
        ValueError: empty reference, unknown column names, or out-of-range parameters.
    """
    roles = {"target": target, "id column": id_column, "time column": time_column}
    params: dict[str, Any] = {
        "warn_range_margin": warn_range_margin,
        "block_range_margin": block_range_margin,
        "block_range_mostly": block_range_mostly,
        "max_categories": max_categories,
        "category_mostly": category_mostly,
        "null_margin": null_margin,
        "row_count_factor": row_count_factor,
    }
    _check_arguments(reference, roles, **params)
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
    role_of = {column: role for role, column in roles.items() if column is not None}
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
                "target": target,
                "optional_columns": [] if target is None else [target],
                "id_column": id_column,
                "time_column": time_column,
                "reference_rows": rows,
                "created_from": f"bootstrap_suite on {rows} reference rows × {reference.shape[1]} columns",
                "parameters": params,
            }
        },
    }
