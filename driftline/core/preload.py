"""Importing libraries ahead of need, in a background thread, while a command waits on something
else: `driftline init` and the demo wait about 7 s for the project's local Prefect API to start
with the main thread idle, and the batch cycle's first run then pays about as much again for its
first imports of Great Expectations, Evidently, MLflow, skops and SHAP."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Sequence

logger = logging.getLogger(__name__)

# What the batch cycle and the retrain import on first use (each deferred at its adapter module).
BATCH_CYCLE_LIBRARIES: tuple[str, ...] = (
    "great_expectations",
    "evidently",
    "evidently.metrics",
    "evidently.presets",
    "mlflow",
    "mlflow.sklearn",
    "skops.io",
    "sklearn.ensemble",
    "shap",
)


def importing(modules: Sequence[str]) -> threading.Thread:
    """Start importing `modules` in a daemon thread and return it; the caller joins it before it
    imports any of them itself (two threads importing one package at once can see it half made).
    A module that fails to import is only logged: its real import, later, raises the error."""
    thread = threading.Thread(target=_import_all, args=(tuple(modules),), name="preload", daemon=True)
    thread.start()
    return thread


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as err:  # reported where the module is really imported
            logger.debug("preloading %s failed: %s", name, err)
