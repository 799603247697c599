"""Contract review with a person in the loop: which blocking rules quarantine batches, streaks of
the same rule, accepting a batch by widening (or demoting) the rules it broke, suite versions and
their diff, and refreshing the warn-tier rules from a new champion's training window.

Pure: plain dicts (suite JSON, stored contract results) in, plain values out. Great Expectations
is not imported; the rules stay GE expectations in the suite JSON.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from data_contracts.results import BLOCK, SCALE_RULES, SEVERITY_TO_NATIVE, WARN

# Rules the promotion refresh may rebuild: distribution only (validity stays; scale rules widen).
DISTRIBUTION_RULES = (
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_null",
    "expect_table_row_count_to_be_between",
)
WIDEN_MARGIN = 0.1  # an accepted bound sits this fraction of the observed gap beyond the value


class ReviewError(ValueError):
    """A review action that cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class BlockingRule:
    """One blocking rule and the quarantined batches it stopped, newest last."""

    rule: str
    column: str | None
    batches: tuple[str, ...]
    latest_message: str
    latest_observed: Any
    examples: tuple[Any, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "batches": list(self.batches), "examples": list(self.examples)}


def blocking_rules(quarantined: Sequence[tuple[str, Mapping[str, Any]]]) -> list[BlockingRule]:
    """Group the blocking failures of quarantined batches (``(batch_id, contract dict)`` in
    arrival order) by rule and column."""
    grouped: dict[tuple[str, str | None], list[tuple[str, Mapping[str, Any]]]] = {}
    for batch_id, contract in quarantined:
        for failure in contract.get("failures") or []:
            if failure.get("severity") == BLOCK:
                grouped.setdefault((failure["rule"], failure.get("column")), []).append((batch_id, failure))
    out = []
    for (rule, column), hits in grouped.items():
        _, last = hits[-1]
        out.append(
            BlockingRule(
                rule=rule,
                column=column,
                batches=tuple(b for b, _ in hits),
                latest_message=str(last.get("message", "")),
                latest_observed=last.get("observed"),
                examples=tuple(last.get("examples") or ()),
            )
        )
    return out


def streaks(
    history: Sequence[tuple[str, str, Mapping[str, Any] | None]], *, length: int
) -> list[dict[str, Any]]:
    """Rules that blocked the last ``length`` or more batches in a row (``history``: ``(batch_id,
    status, contract dict)`` in arrival order). Each is an alert: the feed or the rule is wrong."""
    counts: dict[tuple[str, str | None], int] = {}
    for _, status, contract in history:
        blocking = set()
        if status == "quarantined":
            blocking = {
                (f["rule"], f.get("column"))
                for f in (contract or {}).get("failures") or []
                if f.get("severity") == BLOCK
            }
        counts = {key: counts.get(key, 0) + 1 for key in blocking}
    return [
        {
            "rule": rule,
            "column": column,
            "batches": n,
            "message": f"quarantine streak: rule {rule} on {_where(column)} blocked the last {n} batches "
            "in a row; run 'driftline contract review', then fix the feed or 'driftline contract accept'",
        }
        for (rule, column), n in counts.items()
        if n >= length
    ]


def _where(column: str | None) -> str:
    return "the table" if column is None else f"column '{column}'"


def _observed_number(failure: Mapping[str, Any]) -> float | None:
    value = failure.get("observed")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _widen(entry: dict[str, Any], failure: Mapping[str, Any], evidence: Mapping[str, Any]) -> str:
    """Change one expectation so the accepted batch passes it; returns what was done."""
    kwargs = entry["kwargs"]
    column = kwargs.get("column")
    observed = _observed_number(failure)
    if entry["type"] in SCALE_RULES:
        if observed is None:
            raise ReviewError(
                f"{entry['type']} on {_where(column)}: the batch's report has no observed value"
            )
        for key, side in (("min_value", -1), ("max_value", 1)):
            bound = kwargs.get(key)
            if bound is not None and (observed - bound) * side > 0:
                kwargs[key] = observed + side * WIDEN_MARGIN * abs(observed - bound)
        return f"widened to [{kwargs.get('min_value')}, {kwargs.get('max_value')}] around {observed:.6g}"
    if entry["type"] == "expect_column_values_to_be_between" and column in evidence:
        low, high = evidence[column]
        if low is not None and kwargs.get("min_value") is not None and low < kwargs["min_value"]:
            kwargs["min_value"] = float(low)
        if high is not None and kwargs.get("max_value") is not None and high > kwargs["max_value"]:
            kwargs["max_value"] = float(high)
        return f"widened to [{kwargs.get('min_value')}, {kwargs.get('max_value')}]"
    if entry["type"] in ("expect_table_columns_to_match_set", "expect_column_values_to_be_unique"):
        raise ReviewError(
            f"{entry['type']} on {_where(column)} guards the schema or the ids: fix the feed, or "
            "rebuild the contract with 'driftline contract init --force'"
        )
    entry["meta"]["severity"] = WARN
    entry["severity"] = SEVERITY_TO_NATIVE[WARN]
    return "demoted from block to warn"


def accept(
    suite: dict[str, Any],
    contract: Mapping[str, Any],
    *,
    evidence: Mapping[str, tuple[float | None, float | None]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A new suite (version + 1) in which a quarantined batch's blocking failures pass: numeric
    bounds are widened to the batch's evidence, other rules demoted to warnings.

    Args:
        suite: the current suite JSON.
        contract: the batch's stored contract result (``ContractResult.to_dict()``).
        evidence: ``{column: (min, max)}`` of the batch's numeric columns.

    Returns:
        (new suite, one change record per rule).

    Raises:
        ReviewError: the batch had no blocking failure, or one guards the schema or the ids.
    """
    failures = [f for f in contract.get("failures") or [] if f.get("severity") == BLOCK]
    if not failures:
        raise ReviewError("the batch has no blocking failure to accept")
    new = copy.deepcopy(suite)
    changes = []
    for failure in failures:
        matches = [
            e
            for e in new["expectations"]
            if e["type"] == failure["rule"]
            and e.get("kwargs", {}).get("column") == failure.get("column")
            and (e.get("meta") or {}).get("severity", BLOCK) == BLOCK
        ]
        if not matches:
            raise ReviewError(
                f"{failure['rule']} on {_where(failure.get('column'))}: no such blocking rule in the suite "
                "any more (edited since?)"
            )
        for entry in matches:
            entry.setdefault("meta", {})
            before = copy.deepcopy(entry)
            done = _widen(entry, failure, evidence)
            changes.append(
                {"rule": entry["type"], "column": failure.get("column"), "change": done, "before": before}
            )
    _bump(new)
    return new, changes


def _bump(suite: dict[str, Any]) -> None:
    meta = suite.setdefault("meta", {}).setdefault("driftline", {})
    meta["version"] = int(meta.get("version", 1)) + 1


def version(suite: Mapping[str, Any]) -> int:
    """The suite's version: 1 when bootstrapped, +1 per accepted batch or promotion refresh."""
    return int(((suite.get("meta") or {}).get("driftline") or {}).get("version", 1))


def refresh_distribution(suite: dict[str, Any], fresh: Mapping[str, Any]) -> dict[str, Any]:
    """The suite with its warn-tier distribution rules replaced by those of ``fresh`` (a suite
    bootstrapped from the new champion's training window), and its scale rules widened to cover
    ``fresh``'s too; every other blocking rule stays as it is.

    A scale rule blocks a jump by a large factor relative to the column's own scale, and that
    scale moves with the data: prices inflate, counts grow with an audience. The training window
    passed the contract, so its scale is a known one; the bounds only ever widen (whatever passed
    before still passes), and a unit change relative to the newest scale still blocks."""

    def is_refreshable(entry: Mapping[str, Any]) -> bool:
        return entry["type"] in DISTRIBUTION_RULES and (entry.get("meta") or {}).get("severity") == WARN

    new = copy.deepcopy(suite)
    kept = [e for e in new["expectations"] if not is_refreshable(e)]
    scale = {_scale_key(e): e for e in fresh["expectations"] if _scale_key(e) is not None}
    for entry in kept:
        found = scale.get(_scale_key(entry))
        if found is not None:
            _widen_to(entry["kwargs"], found["kwargs"])
    new["expectations"] = kept + [copy.deepcopy(e) for e in fresh["expectations"] if is_refreshable(e)]
    _bump(new)
    return new


def _scale_key(entry: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``(type, column)`` of a blocking scale rule (median or spread), else None."""
    if entry["type"] in SCALE_RULES and (entry.get("meta") or {}).get("severity", BLOCK) == BLOCK:
        return entry["type"], entry.get("kwargs", {}).get("column")
    return None


def _widen_to(kwargs: dict[str, Any], other: Mapping[str, Any]) -> None:
    """``kwargs``' bounds widened to cover ``other``'s (an open side stays open)."""
    for key, pick in (("min_value", min), ("max_value", max)):
        mine, theirs = kwargs.get(key), other.get(key)
        if mine is not None:
            kwargs[key] = None if theirs is None else pick(mine, theirs)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Readable lines: rules added, removed or changed between two suites."""

    def keyed(suite: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for entry in suite.get("expectations") or []:
            severity = (entry.get("meta") or {}).get("severity", BLOCK)
            key = f"{entry['type']} on {_where(entry.get('kwargs', {}).get('column'))} [{severity}]"
            n = 2
            while key in out:  # two rules of one type on one column (e.g. row count min and max)
                key = f"{key.split(' #')[0]} #{n}"
                n += 1
            out[key] = entry.get("kwargs", {})
        return out

    a, b = keyed(old), keyed(new)
    lines = [f"- {k}" for k in a if k not in b] + [f"+ {k}" for k in b if k not in a]
    for key in a.keys() & b.keys():
        if a[key] != b[key]:
            changed = {
                name: (a[key].get(name), b[key].get(name))
                for name in sorted(set(a[key]) | set(b[key]))
                if a[key].get(name) != b[key].get(name)
            }
            shown = ", ".join(f"{n}: {_short(x)} → {_short(y)}" for n, (x, y) in changed.items())
            lines.append(f"~ {key}: {shown}")
    return sorted(lines, key=lambda line: line[2:])


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
