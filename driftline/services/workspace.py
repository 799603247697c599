"""A project's resolved places: state database, batch store folders, registry handle."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from driftline.core.config import DriftlineConfig
from driftline.store.state import StateStore
from driftline.store.store_link import link_stores
from mlflow_server.registry import Registry


@dataclass
class Workspace:
    """Everything a flow needs to touch for one project. Built at the entry point."""

    config: DriftlineConfig
    _state: StateStore | None = field(default=None, repr=False)
    _registry: Registry | None = field(default=None, repr=False)  # given: a test's in-memory registry

    @cached_property
    def state(self) -> StateStore:
        self.root.mkdir(parents=True, exist_ok=True)
        return self._state or StateStore(self.config.database_url)

    @cached_property
    def registry(self) -> Registry:
        if self._registry is not None:
            return self._registry
        registry = Registry(
            tracking_uri=self.config.tracking_uri,
            model_name=self.config.model_name,
            artifact_root=self.config.artifact_root,
        )
        link_stores(self.state, registry, where=self.config.project)
        return registry

    @property
    def root(self) -> Path:
        return self.config.root

    def batch_dir(self, batch_id: str) -> Path:
        return self.root / "batches" / batch_id

    def quarantine_dir(self, batch_id: str) -> Path:
        return self.root / "quarantine" / batch_id

    def report_dir(self, batch_id: str) -> Path:
        return self.root / "reports" / batch_id

    @property
    def initial_reference(self) -> Path:
        """Reference data given to `contract init`: drift baseline before any champion."""
        return self.root / "reference" / "initial.parquet"
