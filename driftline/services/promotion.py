"""Moving the `champion` alias: promotion, rejection, manual override and rollback.

Every move is appended to the promotion ledger (who/what/why/evidence).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from driftline.core.names import CHALLENGER, CHAMPION, Tag
from driftline.services.workspace import Workspace
from models.pipeline import all_skops_trusted_types

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

REQUIRED_RUN_ARTIFACTS = ("reference/reference.parquet", "gate/decision.json", "lineage.json")


class PromotionError(RuntimeError):
    """A promotion that must not happen (incomplete artifacts, unknown version, empty ledger)."""


def missing_artifacts(ws: Workspace, version: str) -> list[str]:
    """Required artifacts that the version's run does not hold."""
    info = ws.registry.get_version(version)
    present = set(ws.registry.list_artifacts(info.run_id))
    missing = [name for name in REQUIRED_RUN_ARTIFACTS if name not in present]
    if "MLmodel" not in ws.registry.model_files(version):
        missing.insert(0, "model/MLmodel")
    return missing


def already_promoted(ws: Workspace, version: str) -> bool:
    """True when `version` is the champion and the ledger's last entry promoted it: a retried
    promotion that had already happened."""
    champion = ws.registry.version_by_alias(CHAMPION)
    if champion is None or champion.version != str(version):
        return False
    last = (ws.state.read_ledger() or [{}])[-1]
    return bool(last.get("action") == "promote" and last.get("to_version") == str(version))


def promote(
    ws: Workspace,
    version: str,
    *,
    decision: dict[str, Any],
    trigger: str,
    actor: str,
    action: str = "promote",
) -> dict[str, Any]:
    """Make `version` the champion, only if every required artifact is logged.

    Raises:
        PromotionError: naming the missing artifacts.
    """
    with serialized_moves(ws):
        return _promote(ws, version, decision=decision, trigger=trigger, actor=actor, action=action)


def _promote(
    ws: Workspace, version: str, *, decision: dict[str, Any], trigger: str, actor: str, action: str
) -> dict[str, Any]:
    current = ws.registry.version_by_alias(CHAMPION)
    if current is not None and current.version == str(version):
        raise PromotionError(f"version {version} is already the champion")
    missing = missing_artifacts(ws, version)
    if missing:
        raise PromotionError(f"version {version} cannot be promoted: missing artifacts {missing}")
    registry = ws.registry
    registry.set_alias(CHAMPION, version)
    challenger = registry.version_by_alias(CHALLENGER)
    if challenger is not None and challenger.version == str(version):
        registry.delete_alias(CHALLENGER)
    registry.set_version_tags(version, {Tag.STATUS: CHAMPION, Tag.PROMOTED_BY: actor})
    if current is not None and current.version != str(version):
        registry.set_version_tags(current.version, {Tag.STATUS: "retired"})
    entry = {
        "action": action,
        "from_version": current.version if current else None,
        "to_version": str(version),
        "trigger": trigger,
        "actor": actor,
        "decision": decision,
        "model_sha256": registry.get_version(version).tags.get(Tag.MODEL_SHA256),
    }
    ws.state.append_ledger(**entry)
    return entry


def reject(ws: Workspace, version: str, *, decision: dict[str, Any], trigger: str, actor: str) -> None:
    """Tag a rejected challenger with its reasons and record the rejection in the ledger; the
    challenger keeps no alias and the champion does not move."""
    registry = ws.registry
    current = registry.version_by_alias(CHAMPION)
    ws.state.append_ledger(
        action="reject",
        from_version=current.version if current else None,
        to_version=str(version),
        trigger=trigger,
        actor=actor,
        decision=decision,
    )
    registry.set_version_tags(
        version,
        {Tag.STATUS: "rejected", Tag.GATE_REASONS: " | ".join(decision.get("reasons", []))},
    )
    challenger = registry.version_by_alias(CHALLENGER)
    if challenger is not None and challenger.version == str(version):
        registry.delete_alias(CHALLENGER)


def rollback(ws: Workspace, *, actor: str, reason: str) -> dict[str, Any]:
    """Move `champion` back to the version it replaced, per the ledger.

    Raises:
        PromotionError: no earlier champion to return to.
    """
    with serialized_moves(ws):
        return _rollback(ws, actor=actor, reason=reason)


def _rollback(ws: Workspace, *, actor: str, reason: str) -> dict[str, Any]:
    registry = ws.registry
    current = registry.version_by_alias(CHAMPION)
    if current is None:
        raise PromotionError("no champion to roll back from")
    moves = [
        e
        for e in ws.state.read_ledger()
        if e["action"] != "reject" and e["to_version"] == current.version and e["from_version"]
    ]
    if not moves:
        raise PromotionError(f"champion v{current.version} has no previous champion in the ledger")
    previous = moves[-1]["from_version"]
    registry.set_alias(CHAMPION, previous)
    registry.set_version_tags(current.version, {Tag.STATUS: "rolled_back"})
    registry.set_version_tags(previous, {Tag.STATUS: CHAMPION})
    entry = {
        "action": "rollback",
        "from_version": current.version,
        "to_version": previous,
        "trigger": reason,
        "actor": actor,
        "decision": {"reasons": [f"rollback from v{current.version} to v{previous}: {reason}"]},
        "model_sha256": registry.get_version(previous).tags.get(Tag.MODEL_SHA256),
    }
    ws.state.append_ledger(**entry)
    return entry


@contextlib.contextmanager
def serialized_moves(ws: Workspace) -> Iterator[None]:
    """One champion move at a time per project (an exclusive lock on a file in the project), so two
    concurrent `promote 4` calls make one move and one ledger entry, and the second one is told."""
    ws.root.mkdir(parents=True, exist_ok=True)
    with (ws.root / "champion.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def verified_sha256(ws: Workspace, version: str) -> str | None:
    """The model hash the ledger recorded when `version` last became champion (None if never)."""
    moves = [e for e in ws.state.read_ledger() if e["action"] != "reject" and e["to_version"] == str(version)]
    return moves[-1].get("model_sha256") if moves else None


def load_model(ws: Workspace, version: str) -> Pipeline:
    """`version`'s pipeline, checked against its registration hash and the ledger's (skops only,
    trusted types from code).

    Raises:
        ModelIntegrityError: the artifact is not the one registered; it is not loaded.
    """

    return ws.registry.load_model(
        version, trusted_types=all_skops_trusted_types(), expected_sha256=verified_sha256(ws, version)
    )
