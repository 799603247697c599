"""Outcomes that cross layers as typed values and become dicts only at the edge (``--json``, an
MLflow artifact, a Prefect artifact, a batch's result)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

RetrainStatus = Literal["done", "shadow", "not_enough_data", "trivial_baseline", "failed"]


class Verdict(Protocol):
    """A gate's verdict as the outcome carries it (``models.gate.GateVerdict``)."""

    @property
    def promote(self) -> bool: ...

    @property
    def forced(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RetrainOutcome:
    """What one retrain (or one shadow-gate verdict) did.

    ``status``: ``done`` (a candidate was gated: ``promoted`` says how it went), ``shadow`` (the
    candidate waits as challenger for labels), ``trivial_baseline`` (no model yet: the baseline
    serves), ``not_enough_data`` or ``failed`` (``error``). ``reason`` is why the retrain ran;
    a shadow-gate verdict on an existing challenger has none and trained nothing.
    """

    status: RetrainStatus
    reason: str | None
    version: str | None = None
    gated_version: str | None = None
    promoted: bool = False
    gate: Verdict | None = None
    run_id: str | None = None
    top_features: tuple[str, ...] = field(default_factory=tuple)
    error: str | None = None
    shadow_verdict: bool = False

    @property
    def trained(self) -> bool:
        """A candidate was trained now (not a shadow-gate verdict, not too little data)."""
        return self.version is not None and not self.shadow_verdict

    @property
    def forced(self) -> bool:
        """Promoted whatever the gate said (the replay baselines `always` and `expanding`)."""
        return bool(self.gate is not None and self.gate.forced)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "version": self.version,
            "gated_version": self.gated_version,
            "promoted": self.promoted,
            "gate": self.gate.to_dict() if self.gate is not None else None,
            "run_id": self.run_id,
            "top_features": list(self.top_features),
            "error": self.error,
            "trained": self.trained,
        }
