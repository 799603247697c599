"""Per-group fairness of one batch as values: rows per group, disparities, one-line reasons."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from models.gate_fairness import COMPONENTS, DENOMINATORS

RATE_NAMES = {"selection_rate": "selection rate", "tpr": "TPR", "fpr": "FPR"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def metric_key_part(text: str) -> str:
    """A name as one MLflow metric key segment: ASCII letters, digits, ``_`` and ``-`` only."""
    return _UNSAFE.sub("_", str(text)).strip("_") or "_"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class GroupRow:
    """One group of a sensitive column. Rates are None where undefined (or not binary)."""

    group: str
    n: int
    positives: int | None  # actual positives (binary): the TPR's denominator
    selection_rate: float | None
    tpr: float | None
    fpr: float | None
    metric: float | None  # the task metric (``FairnessResult.metric``) on this group's rows
    judged: bool  # enough rows to take part in the disparity (TPR/FPR also need positives/negatives)

    def value(self, name: str) -> float | None:
        """A per-group value by component name (``tpr``, ``selection_rate``, ``metric``...)."""
        return _finite(getattr(self, name))

    def support(self, denominator: str) -> int:
        """Rows behind a value: ``rows``, ``positives`` or ``negatives`` (0 when unknown)."""
        if denominator == "rows":
            return self.n
        if self.positives is None:
            return 0
        return self.positives if denominator == "positives" else self.n - self.positives


@dataclass(frozen=True)
class ColumnFairness:
    """The groups of one sensitive column and their disparities (None when undefined)."""

    column: str
    groups: tuple[GroupRow, ...]
    demographic_parity_difference: float | None
    equalized_odds_difference: float | None
    metric_gap: float | None
    disparity: float | None  # the configured measure's value
    notes: tuple[str, ...] = ()

    def extremes(self, measure: str, min_rows: int) -> tuple[str, GroupRow, GroupRow] | None:
        """(component, highest group, lowest group) behind the disparity, among compared groups."""
        best: tuple[float, str, GroupRow, GroupRow] | None = None
        for name in COMPONENTS[measure]:
            rows = [
                g
                for g in self.groups
                if g.support(DENOMINATORS[name]) >= min_rows and g.value(name) is not None
            ]
            if len(rows) >= 2:
                high = max(rows, key=lambda g: g.value(name) or 0.0)
                low = min(rows, key=lambda g: g.value(name) or 0.0)
                gap = (high.value(name) or 0.0) - (low.value(name) or 0.0)
                if best is None or gap > best[0]:
                    best = (gap, name, high, low)
        return None if best is None else best[1:]

    def summary(self, *, measure: str, label: str, metric: str, min_rows: int) -> str:
        """``'sex': equalized-odds difference 0.250 (TPR 0.400 for 'B' vs 0.800 for 'A'); ...``."""
        judged = sum(g.judged for g in self.groups)
        small = [g for g in self.groups if not g.judged]
        text = f"{self.column!r}: {label} {_num(self.disparity)}"
        found = self.extremes(measure, min_rows)
        if found is not None:
            name, high, low = found
            word = RATE_NAMES.get(name, metric)
            text += f" ({word} {_num(low.value(name))} for {low.group!r} vs {_num(high.value(name))} for "
            text += f"{high.group!r})"
        text += f"; {judged} group(s) with >= {min_rows} rows compared"
        if small:
            shown = ", ".join(f"{g.group!r} n={g.n}" for g in small[:3]) + (", ..." if len(small) > 3 else "")
            text += f", {len(small)} smaller left out ({shown})"
        return text + "".join(f"; {note}" for note in self.notes)


@dataclass(frozen=True)
class FairnessResult:
    """Fairness of one model's predictions on one labeled batch, per sensitive column.

    ``demographic_parity_difference``, ``equalized_odds_difference`` and ``worst_disparity`` are
    the worst over columns; each column has its own (see ``ColumnFairness``).
    """

    task: str
    metric: str
    measure: str  # the measure used (``metric_gap`` for multiclass / regression)
    label: str  # its words: "equalized-odds difference", "relative rmse gap"
    min_group_rows: int
    n: int
    columns: tuple[ColumnFairness, ...]
    notes: tuple[str, ...] = ()

    def _worst_of(self, attr: str) -> float | None:
        values = [v for c in self.columns if (v := getattr(c, attr)) is not None]
        return max(values) if values else None

    @property
    def demographic_parity_difference(self) -> float | None:
        return self._worst_of("demographic_parity_difference")

    @property
    def equalized_odds_difference(self) -> float | None:
        return self._worst_of("equalized_odds_difference")

    @property
    def worst_disparity(self) -> float | None:
        return self._worst_of("disparity")

    @property
    def worst(self) -> ColumnFairness | None:
        """The column with the widest disparity (None when no column has one)."""
        defined = [c for c in self.columns if c.disparity is not None]
        return max(defined, key=lambda c: c.disparity or 0.0) if defined else None

    def breaches(self, max_disparity: float | None) -> tuple[ColumnFairness, ...]:
        """Columns whose disparity exceeds ``max_disparity`` (none when it is None)."""
        if max_disparity is None:
            return ()
        return tuple(c for c in self.columns if c.disparity is not None and c.disparity > max_disparity)

    def column_summary(self, column: ColumnFairness) -> str:
        """One column's line, in this result's words."""
        return column.summary(
            measure=self.measure, label=self.label, metric=self.metric, min_rows=self.min_group_rows
        )

    def summary(self) -> str:
        """One line: the worst column and why, or why nothing could be compared."""
        head = f"fairness on {self.n} labeled rows"
        worst = self.worst
        if worst is not None:
            others = len(self.columns) - 1
            tail = f" (worst of {len(self.columns)} columns)" if others else ""
            return f"{head}: {self.column_summary(worst)}{tail}"
        reasons = [*self.notes, *(self.column_summary(c) for c in self.columns)]
        return f"{head}: {self.label} undefined" + "".join(f"; {r}" for r in reasons)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, with the worst-case values and the summary."""
        data = asdict(self)
        data.update(
            demographic_parity_difference=self.demographic_parity_difference,
            equalized_odds_difference=self.equalized_odds_difference,
            worst_disparity=self.worst_disparity,
            worst_column=None if self.worst is None else self.worst.column,
            summary=self.summary(),
        )
        return data

    def metrics(self, prefix: str = "fairness") -> dict[str, float | None]:
        """Flat MLflow metric names: ``fairness.<column>.eo_diff``, ``fairness.<column>.<group>.tpr``.

        Names are made safe (``metric_key_part``); two names that become the same get ``_2``...
        """
        out: dict[str, float | None] = {f"{prefix}.worst_disparity": self.worst_disparity}
        used: set[str] = set()
        for col in self.columns:
            base = _unique(f"{prefix}.{metric_key_part(col.column)}", used)
            out.update(
                {
                    f"{base}.dp_diff": col.demographic_parity_difference,
                    f"{base}.eo_diff": col.equalized_odds_difference,
                    f"{base}.metric_gap": col.metric_gap,
                    f"{base}.disparity": col.disparity,
                    f"{base}.small_groups": float(sum(not g.judged for g in col.groups)),
                }
            )
            groups: set[str] = set()
            for g in col.groups:
                key = _unique(f"{base}.{metric_key_part(g.group)}", groups)
                out[f"{key}.n"] = float(g.n)
                if self.task == "binary":
                    out.update({f"{key}.{r}": g.value(r) for r in RATE_NAMES})
                out[f"{key}.{metric_key_part(self.metric)}"] = g.value("metric")
        return out


def _unique(key: str, used: set[str]) -> str:
    candidate, i = key, 1
    while candidate in used:
        i += 1
        candidate = f"{key}_{i}"
    used.add(candidate)
    return candidate
