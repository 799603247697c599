"""Drift results as plain values: what ``monitoring.drift`` returns, free of Evidently shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

P_VALUE = "p_value"
DISTANCE = "distance"


@dataclass(frozen=True)
class ColumnDrift:
    """Drift verdict for one column; ``kind`` says how to read ``score`` against ``threshold``."""

    column: str
    method: str  # Evidently stat test name, e.g. "wasserstein", "ks", "jensenshannon"
    score: float | None
    threshold: float
    drifted: bool
    kind: str  # "p_value" (drift if score < threshold) or "distance" (drift if score >= threshold)

    def describe(self) -> str:
        """One line such as ``temp: wasserstein 0.23 >= 0.1 (drift)``."""
        score = "n/a" if self.score is None else f"{self.score:.3g}"
        # p-values drift when small, distances when large.
        small = (self.kind == P_VALUE) == self.drifted
        relation = "<" if small else ">="
        verdict = "drift" if self.drifted else "no drift"
        return f"{self.column}: {self.method} {score} {relation} {self.threshold:g} ({verdict})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain dict."""
        return {
            "column": self.column,
            "method": self.method,
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class DriftResult:
    """Dataset drift verdict: share of drifted feature columns vs ``drift_share_threshold``.

    The prediction column is compared too but kept out of ``share`` (see ``prediction``).
    ``judged`` is False when there was too little data for a verdict: then ``detected`` is False,
    ``share`` is None, there are no columns, and ``reason`` says why.
    """

    detected: bool
    share: float | None
    drift_share_threshold: float
    drifted_columns: tuple[str, ...]
    columns: tuple[ColumnDrift, ...]
    prediction: ColumnDrift | None
    n_current: int
    n_reference: int
    report_path: str | None
    judged: bool = True
    reason: str | None = None

    @classmethod
    def not_judged(
        cls, reason: str, *, drift_share_threshold: float, n_current: int, n_reference: int
    ) -> DriftResult:
        """A result that gives no verdict, e.g. ``reason="too few rows (n=1 < 20) to judge drift"``."""
        return cls(
            detected=False,
            share=None,
            drift_share_threshold=drift_share_threshold,
            drifted_columns=(),
            columns=(),
            prediction=None,
            n_current=n_current,
            n_reference=n_reference,
            report_path=None,
            judged=False,
            reason=reason,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain dict (``report`` is the HTML report path or None)."""
        return {
            "detected": self.detected,
            "share": self.share,
            "drift_share_threshold": self.drift_share_threshold,
            "drifted_columns": list(self.drifted_columns),
            "n_columns": len(self.columns),
            "columns": [c.to_dict() for c in self.columns],
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "n_current": self.n_current,
            "n_reference": self.n_reference,
            "report": self.report_path,
            "judged": self.judged,
            "reason": self.reason,
        }

    def summary(self, *, max_listed: int = 5) -> str:
        """Readable one-liner, e.g. ``drift in 7/18 columns (39%) below threshold 50%: a, b, ...``.

        Args:
            max_listed: how many drifted column names to list before eliding with "...".
        """
        if not self.judged or self.share is None:
            return f"drift not judged: {self.reason}"
        relation = "at or above" if self.detected else "below"
        text = (
            f"drift in {len(self.drifted_columns)}/{len(self.columns)} columns "
            f"({self.share:.0%}) {relation} threshold {self.drift_share_threshold:.0%}"
        )
        if self.drifted_columns:
            listed = list(self.drifted_columns[:max_listed])
            if len(self.drifted_columns) > max_listed:
                listed.append("...")
            text += ": " + ", ".join(listed)
        if self.prediction is not None:
            text += f"; prediction {self.prediction.describe()}"
        return text
