"""A small real project (config, contract, first champion) built through the real flows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftline.core.config import load_config
from driftline.jobs.project_init import init_project
from driftline.services.workspace import Workspace
from tests.streams import make_batch

SMALL = {
    "window": {"batches": 3, "min_train_rows": 300, "min_holdout_rows": 200},
    "gate": {"min_rows": 200, "n_bootstrap": 200},
    "drift": {"max_rows": 5000, "reference_rows": 3000},
    "model": {"shap_rows": 200},
    "policy": {"min_labeled_rows": 300, "cooldown_batches": 1},
}


def build_project(root: Path, *, tracking_uri: str | None = None, task: str = "binary") -> Workspace:
    """init on 4 × 1000 rows of concept 'a'; returns the project's workspace."""
    import pandas as pd

    history = pd.concat([make_batch(1000, seed=s, start=s * 1000, task=task) for s in range(4)])
    extra: dict[str, Any] = dict(SMALL)
    if tracking_uri:
        extra["storage"] = {"tracking_uri": tracking_uri}
    return init_from(history, root, extra=extra)


def init_from(
    history: Any, root: Path, *, extra: dict[str, Any] | None = None, task: str = "auto"
) -> Workspace:
    """`init` (4 parts, columns y / ts / event_id) on `history`, in ``root/proj``."""
    root.mkdir(parents=True, exist_ok=True)
    data = root / "history.parquet"
    history.to_parquet(data, index=False)
    init_project(
        data=data,
        target="y",
        time_column="ts",
        id_column="event_id",
        task=task,
        name="proj",
        directory=root / "proj",
        parts=4,
        extra=dict(SMALL) if extra is None else extra,
    )
    return Workspace(load_config(root / "proj" / "driftline.yaml"))


def first_champion(ws: Workspace) -> str:
    """The version the first promotion (init's no-champion gate) made champion."""
    return str(ws.state.read_ledger()[0]["to_version"])


def write_batch(path: Path, **kwargs: Any) -> Path:
    make_batch(**kwargs).to_parquet(path, index=False)
    return path
