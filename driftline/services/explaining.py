"""`driftline explain`: per-row SHAP contributions of a registered version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftline.core.batch_io import read_table
from driftline.core.config import DriftlineConfig
from driftline.core.names import CHAMPION
from driftline.services.datasets import row_keys
from driftline.services.project import load_facts
from driftline.services.promotion import load_model
from driftline.services.workspace import Workspace
from models.explain import explain_rows
from models.spec import FeatureSpec
from models.train import predict


def explain_file(cfg: DriftlineConfig, rows: Path, *, version: str | None, top_k: int) -> dict[str, Any]:
    """Explain every row of `rows` with `version` (default: the champion).

    Raises:
        ValueError: no champion, unknown version, or rows missing feature columns.
    """

    ws = Workspace(cfg)
    facts = load_facts(ws)
    if version is None:
        champion = ws.registry.version_by_alias(CHAMPION)
        if champion is None:
            raise ValueError("no champion yet; pass --version")
        version = champion.version
    pipeline = load_model(ws, version)
    frame = read_table(rows)
    spec = FeatureSpec(numeric=facts.numeric, categorical=facts.categorical)
    preds = predict(pipeline, frame, task=facts.task)
    contributions = explain_rows(pipeline, frame, spec=spec, top_k=top_k)
    keys = row_keys(frame, id_column=cfg.data.id_column)
    return {
        "version": str(version),
        "rows": [
            {"row_key": key, "prediction": _plain(label), "score": float(score), "top": top}
            for key, label, score, top in zip(keys, preds.label, preds.score, contributions, strict=True)
        ],
    }


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
