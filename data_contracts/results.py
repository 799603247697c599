"""Outcome of validating one batch against a contract: frozen, JSON-safe, self-explaining."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from data_contracts.dtypes import json_safe, python_value

BLOCK = "block"
WARN = "warn"
SEVERITIES = (BLOCK, WARN)
# GE's own expectation `severity` (critical / warning / info), written beside meta.severity.
SEVERITY_TO_NATIVE = {BLOCK: "critical", WARN: "warning"}
NATIVE_TO_SEVERITY = {"critical": BLOCK, "warning": WARN, "info": WARN}
# Rules on a numeric column's scale (median, spread): they catch unit changes.
SCALE_RULES = ("expect_column_median_to_be_between", "expect_column_stdev_to_be_between")


@dataclass(frozen=True)
class ContractFailure:
    """One expectation a batch did not meet.

    Attributes:
        rule: GE expectation type, e.g. ``expect_column_values_to_be_between``.
        column: column the rule is about; None for table-level rules.
        severity: ``"block"`` (quarantines the batch) or ``"warn"``.
        unexpected_count / unexpected_percent: rows that broke the rule, when GE counts them.
        examples: a few offending values (JSON-safe).
        observed: what GE observed (dtype, row count, column lists...), JSON-safe.
        message: one readable sentence naming the column, the rule and the severity.
    """

    rule: str
    column: str | None
    severity: str
    unexpected_count: int | None
    unexpected_percent: float | None
    examples: tuple = ()
    observed: Any = None
    message: str = ""

    @property
    def blocking(self) -> bool:
        """Whether this failure quarantines the batch."""
        return self.severity == BLOCK

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain dict (NaN -> None, numpy scalars unwrapped)."""
        return {
            "rule": self.rule,
            "column": self.column,
            "severity": self.severity,
            "unexpected_count": python_value(self.unexpected_count),
            "unexpected_percent": python_value(self.unexpected_percent),
            "examples": json_safe(list(self.examples)),
            "observed": json_safe(self.observed),
            "message": self.message,
        }


@dataclass(frozen=True)
class ContractResult:
    """Verdict on one batch: ``success`` is False exactly when a blocking rule failed."""

    success: bool
    suite_name: str
    source: str
    evaluated: int
    passed: int
    failures: tuple[ContractFailure, ...] = field(default_factory=tuple)

    @property
    def blocking(self) -> tuple[ContractFailure, ...]:
        """Failures that quarantine the batch."""
        return tuple(f for f in self.failures if f.blocking)

    @property
    def warnings(self) -> tuple[ContractFailure, ...]:
        """Failures that only warn."""
        return tuple(f for f in self.failures if not f.blocking)

    @property
    def success_percent(self) -> float:
        """Share of evaluated checks that passed, in percent (100.0 when none ran)."""
        return 100.0 if self.evaluated == 0 else 100.0 * self.passed / self.evaluated

    @property
    def verdict(self) -> str:
        """QUARANTINED, ACCEPTED WITH WARNINGS or ACCEPTED."""
        if not self.success:
            return "QUARANTINED"
        return "ACCEPTED WITH WARNINGS" if self.warnings else "ACCEPTED"

    def summary(self) -> str:
        """One line: source, verdict, first blocking (else warning) failure, counts."""
        head = f"{self.source}: {self.verdict}"
        first = (self.blocking or self.warnings or (None,))[0]
        detail = f" — {first.message}" if first is not None else ""
        return (
            f"{head}{detail} [{len(self.blocking)} blocking, {len(self.warnings)} warnings, "
            f"{self.passed}/{self.evaluated} checks passed, suite '{self.suite_name}']"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain dict; ``json.dumps(..., allow_nan=False)`` accepts it."""
        return {
            "success": bool(self.success),
            "verdict": self.verdict,
            "suite_name": self.suite_name,
            "source": self.source,
            "evaluated": int(self.evaluated),
            "passed": int(self.passed),
            "success_percent": python_value(round(self.success_percent, 4)),
            "blocking_count": len(self.blocking),
            "warning_count": len(self.warnings),
            "failures": [f.to_dict() for f in self.failures],
        }
