"""The state database and the MLflow store belong together: one project id written in both.

A lost or replaced ``mlflow.db`` would otherwise go unnoticed: the next ingest registers a new v1
while the ledger names the old versions. A lost ``driftline.db`` would forget every batch while
the registry still serves. Both are detected when a workspace first opens its registry.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

from driftline.core.names import Tag

if TYPE_CHECKING:
    from driftline.store.state import StateStore
    from mlflow_server.registry import Registry

PROJECT_ID = Tag.PROJECT_ID
RELINK_ENV = "DRIFTLINE_RELINK_STORES"


class StoreMismatchError(RuntimeError):
    """The state database and the MLflow store are not the same project's."""


def link_stores(state: StateStore, registry: Registry, *, where: str) -> str:
    """Check (or, for a new or pre-id project, write) the project id in both stores; returns it.

    Raises:
        StoreMismatchError: one store was lost or replaced; the message says which and what to do.
    """
    in_state, in_registry = state.get_meta(PROJECT_ID), registry.experiment_tag(PROJECT_ID)
    relink = os.environ.get(RELINK_ENV, "") not in ("", "0")
    advice = f"restore it from a backup; or set {RELINK_ENV}=1 once to link the two stores as they are"
    if in_state and in_registry and in_state != in_registry and not relink:
        raise StoreMismatchError(
            f"{where}: the state database is project {in_state}, the MLflow store {registry.tracking_uri} "
            f"is project {in_registry}: one of them was replaced; point storage at the pair that belongs "
            f"together, or {advice}"
        )
    if in_state and not in_registry and state.read_ledger() and not registry.list_versions() and not relink:
        raise StoreMismatchError(
            f"{where}: the MLflow store {registry.tracking_uri} holds none of the models the ledger "
            f"names (project {in_state}): mlflow.db was lost or replaced; {advice} (the ledger's "
            "versions then name nothing)"
        )
    if in_registry and not in_state and state.is_empty() and registry.list_versions() and not relink:
        raise StoreMismatchError(
            f"{where}: the state database is empty but the MLflow store holds project {in_registry}'s "
            f"models: driftline.db was lost or replaced; {advice} (batch history starts afresh)"
        )
    project_id = (in_registry if relink else in_state) or in_registry or in_state or uuid.uuid4().hex
    if in_state != project_id:
        state.set_meta(PROJECT_ID, project_id)
    if in_registry != project_id:
        registry.set_experiment_tag(PROJECT_ID, project_id)
    return project_id
