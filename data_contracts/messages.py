"""Turn one failed expectation (plain dicts taken from a GE result) into a readable failure."""

from __future__ import annotations

import math
from typing import Any

from data_contracts.dtypes import DATE_LIKE, json_safe, python_value
from data_contracts.results import ContractFailure

MAX_EXAMPLES = 5


def exception_message(info: Any) -> str | None:
    """The error message if GE raised while evaluating an expectation, else None.

    GE reports either ``{"raised_exception": bool, "exception_message": ...}`` or a dict of
    those keyed by metric id.
    """
    if not isinstance(info, dict) or not info:
        return None
    if "raised_exception" in info:
        if not info["raised_exception"]:
            return None
        return info.get("exception_message") or "unknown error"
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return value.get("exception_message") or "unknown error"
    return None


def _number(value: Any) -> float | None:
    value = python_value(value)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _pct(value: float) -> str:
    return f"{value:.1f}%" if value >= 0.1 or value == 0 else f"{value:.2g}%"


def _fmt(value: Any) -> str:
    number = _number(value)
    return "-inf/inf" if number is None else f"{number:.6g}"


def _examples(result: dict) -> tuple:
    counts = result.get("partial_unexpected_counts")
    if isinstance(counts, list) and counts:
        values = [c.get("value") for c in counts if isinstance(c, dict)]
    else:
        values = list(result.get("partial_unexpected_list") or [])
    distinct: list[Any] = []
    for value in json_safe(values):
        if value not in distinct:
            distinct.append(value)
    return tuple(distinct[:MAX_EXAMPLES])


def _allowed(kwargs: dict) -> str:
    mostly = _number(kwargs.get("mostly"))
    return "" if mostly is None or mostly >= 1 else f", at most {_pct(100 * (1 - mostly))} allowed"


def _text(rule: str, kwargs: dict, result: dict, examples: tuple, share: str) -> tuple[str, Any]:
    """Rule-specific sentence and the observed value worth keeping."""
    observed = result.get("observed_value")
    e_g = f", e.g. {list(examples)[:3]!r}" if examples else ""
    if rule in ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list"):
        expected = list(kwargs.get("column_set") or kwargs.get("column_list") or [])
        actual = list(observed or [])
        missing = [c for c in expected if c not in actual]
        extra = [c for c in actual if c not in expected]
        parts = [f"missing {missing!r}"] if missing else []
        parts += [f"unexpected {extra!r}"] if extra else []
        detail = ", ".join(parts) or "different order"
        observed = {"missing": missing, "unexpected": extra}
        return f"columns do not match the contract: {detail}", observed
    if rule == "expect_table_row_count_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        bound = (
            f"at least {low}"
            if high is None
            else f"at most {high}"
            if low is None
            else f"between {low} and {high}"
        )
        return f"{observed} rows, expected {bound}", observed
    if rule == "expect_column_values_to_be_in_type_list":
        if result.get("unexpected_percent") is None:
            return f"dtype {observed} is not one of the contract's types", observed
        return f"{share} of values have an unexpected type{e_g}", None
    if rule == "expect_column_values_to_not_be_null":
        return f"{share} of values are null{_allowed(kwargs)}", None
    if rule == "expect_column_values_to_be_between":
        low, high = _fmt(kwargs.get("min_value")), _fmt(kwargs.get("max_value"))
        return f"{share} of values outside [{low}, {high}]{_allowed(kwargs)}{e_g}", None
    if rule in ("expect_column_median_to_be_between", "expect_column_stdev_to_be_between"):
        what = "median" if "median" in rule else "standard deviation"
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        bound = f"at most {_fmt(high)}" if low is None else f"within [{_fmt(low)}, {_fmt(high)}]"
        return (
            f"{what} {_fmt(observed)} is not {bound}: a jump this large relative to the column's "
            "own scale looks like a unit or scale change",
            observed,
        )
    if rule == "expect_column_values_to_match_regex":
        regex = kwargs.get("regex")
        what = "read as dates or times" if regex == DATE_LIKE else f"match {regex!r}"
        return f"{share} of values do not {what}{_allowed(kwargs)}{e_g}", None
    if rule == "expect_column_values_to_be_unique":
        return f"{share} of values repeat within the batch{e_g}", None
    if rule == "expect_column_values_to_be_in_set":
        count = len(kwargs.get("value_set") or [])
        text = f"{share} of values not among the {count} contract values"
        return f"{text}{_allowed(kwargs)}{e_g}", None
    seen = f" (observed {json_safe(observed)!r})" if observed is not None else ""
    failed = f"{share} of values failed the rule" if share else "rule failed"
    return f"{failed}{seen}{e_g}", observed


def describe_failure(
    *, rule: str, kwargs: dict, severity: str, result: dict, error: str | None
) -> ContractFailure:
    """Build a :class:`ContractFailure` from one failed expectation's kwargs and result dict."""
    column = kwargs.get("column")
    where = "table" if column is None else f"column '{column}'"
    count = python_value(result.get("unexpected_count"))
    percent = _number(result.get("unexpected_percent"))
    if percent is not None and not math.isfinite(percent):
        percent = None
    examples = () if rule == "expect_column_values_to_not_be_null" else _examples(result)
    if error is not None:
        text, observed = f"{rule} could not be evaluated: {' '.join(error.split())}", None
    else:
        share = _pct(percent) if percent is not None else ""
        text, observed = _text(rule, kwargs, result, examples, share)
    return ContractFailure(
        rule=rule,
        column=None if column is None else str(column),
        severity=severity,
        unexpected_count=count if isinstance(count, int) else None,
        unexpected_percent=percent,
        examples=examples,
        observed=json_safe(observed),
        message=f"{where}: {text} ({severity})",
    )
