"""ContractResult / ContractFailure: verdicts, counts, summaries, JSON safety (no GE needed)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from data_contracts import ContractFailure, ContractResult


def failure(severity: str, column: str | None = "pressure", **extra: object) -> ContractFailure:
    fields: dict = {
        "rule": "expect_column_values_to_be_between",
        "column": column,
        "severity": severity,
        "unexpected_count": 5,
        "unexpected_percent": 50.0,
        "examples": (1.0,),
        "observed": None,
        "message": f"column '{column}': 50.0% of values outside [0, 1] ({severity})",
    }
    fields.update(extra)
    return ContractFailure(**fields)


def result(*failures: ContractFailure, evaluated: int = 10) -> ContractResult:
    return ContractResult(
        success=not any(f.blocking for f in failures),
        suite_name="weather",
        source="feed.csv",
        evaluated=evaluated,
        passed=evaluated - len(failures),
        failures=tuple(failures),
    )


def test_verdicts_and_partitions() -> None:
    assert result().verdict == "ACCEPTED"
    warned = result(failure("warn"))
    assert warned.verdict == "ACCEPTED WITH WARNINGS" and len(warned.warnings) == 1
    mixed = result(failure("warn", "wind"), failure("block"))
    assert mixed.verdict == "QUARANTINED"
    assert [f.column for f in mixed.blocking] == ["pressure"]
    assert [f.column for f in mixed.warnings] == ["wind"]
    assert mixed.success_percent == 80.0


def test_summary_names_source_first_blocking_column_and_rule() -> None:
    line = result(failure("warn", "wind"), failure("block")).summary()
    assert "\n" not in line
    assert line.startswith("feed.csv: QUARANTINED — column 'pressure': 50.0% of values outside")
    assert "1 blocking, 1 warnings, 8/10 checks passed" in line
    assert result().summary().startswith("feed.csv: ACCEPTED [0 blocking")


def test_no_checks_is_100_percent() -> None:
    assert result(evaluated=0).success_percent == 100.0


def test_nan_and_numpy_values_become_plain_json() -> None:
    odd = failure(
        "block",
        unexpected_count=np.int64(3),
        unexpected_percent=float("nan"),
        examples=(np.float64("nan"), np.str_("x"), pd.Timestamp("2024-01-02"), np.inf),
        observed={"mean": np.float64("nan"), "n": np.int32(4), "when": pd.NaT, "list": (1, pd.NA)},
    )
    data = result(odd).to_dict()
    text = json.dumps(data, allow_nan=False)
    (row,) = json.loads(text)["failures"]
    assert row["unexpected_count"] == 3 and type(row["unexpected_count"]) is int
    assert row["unexpected_percent"] is None
    assert row["examples"] == [None, "x", "2024-01-02T00:00:00", None]
    assert row["observed"] == {"mean": None, "n": 4, "when": None, "list": [1, None]}
    assert data["verdict"] == "QUARANTINED" and data["blocking_count"] == 1
    assert data["success_percent"] == 90.0
