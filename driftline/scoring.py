"""Scoring a batch with a registered model version and shaping rows for the prediction log."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from driftline.datasets import row_keys
from driftline.project import TaskKind


@dataclass(frozen=True)
class Scored:
    """One model version's predictions on a batch."""

    role: str
    version: str
    rows: int
    latency_ms: float
    mean_score: float | None
    log_rows: pd.DataFrame
    scores: pd.Series

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.version,
            "role": self.role,
            "rows_scored": self.rows,
            "latency_ms": round(self.latency_ms, 2),
            "mean_score": self.mean_score,
        }


def score_batch(
    pipeline: Any,
    frame: pd.DataFrame,
    *,
    task: TaskKind,
    batch_id: str,
    role: str,
    version: str,
    id_column: str | None,
    chunk_rows: int = 100_000,
) -> Scored:
    """Score `frame` with `pipeline` and build the prediction-log rows keyed by row key.

    Scoring runs in chunks of `chunk_rows` so the one-hot matrix of a large batch never exists
    whole (at 1M rows it alone would take ~0.8 GB).
    """
    import numpy as np

    from models.train import predict

    started = time.perf_counter()
    parts = [
        predict(pipeline, frame.iloc[i : i + chunk_rows], task=task) for i in range(0, len(frame), chunk_rows)
    ]
    labels = np.concatenate([p.label for p in parts]) if parts else np.array([])
    score = np.concatenate([p.score for p in parts]) if parts else np.array([])
    latency_ms = (time.perf_counter() - started) * 1000.0
    n = len(frame)
    log_rows = pd.DataFrame(
        {
            "batch_id": batch_id,
            "row_key": row_keys(frame, id_column=id_column).to_numpy(),
            "role": role,
            "model_version": str(version),
            "prediction": pd.Series(labels).astype(str).to_numpy(),
            "score": score.astype(float),
            "latency_ms": latency_ms / max(n, 1),
        }
    )
    scores = pd.Series(score.astype(float), index=frame.index)
    mean = float(scores.mean()) if n else None
    return Scored(role, str(version), n, latency_ms, mean, log_rows, scores)
