"""Generated data streams for tests: a known concept, optional covariate and concept drift."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def make_batch(
    rows: int,
    *,
    seed: int,
    start: int = 0,
    shift: float = 0.0,
    concept: str = "a",
    task: str = "binary",
    shuffle_labels: bool = False,
) -> pd.DataFrame:
    """One batch: 5 numeric + 2 categorical features, an id, a time column and a target.

    Args:
        shift: added to every numeric feature (covariate drift).
        concept: "a" → target driven by x0, x1 and the colour; "b" → driven by x2, x3 (concept drift).
        shuffle_labels: permute the target (a model trained on it learns nothing).
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=(rows, 5)) + shift
    colour = rng.choice(["red", "green", "blue"], size=rows, p=[0.5, 0.3, 0.2])
    size = rng.choice(["S", "M", "L"], size=rows)
    signal = (x[:, 0] - x[:, 1] + (colour == "red") * 1.0) if concept == "a" else (x[:, 2] + x[:, 3] * 1.5)
    signal = signal - shift * (0.0 if concept == "b" else 0.0)
    noise = rng.normal(0.0, 0.6, size=rows)
    if task == "binary":
        target = (signal + noise > np.median(signal)).astype(int)
    elif task == "multiclass":
        target = np.digitize(signal + noise, np.quantile(signal, [0.33, 0.66]))
        target = np.array(["low", "mid", "high"])[target]
    else:
        target = 3.0 * signal + noise
    if shuffle_labels:
        target = rng.permutation(target)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(5)])
    frame.insert(0, "event_id", [f"e{start + i}" for i in range(rows)])
    frame.insert(1, "ts", pd.date_range("2024-01-01", periods=rows, freq="min") + pd.Timedelta(minutes=start))
    frame["colour"] = colour
    frame["size"] = size
    frame["y"] = target
    return frame


def record_labeled_batches(ws: Any, batches: range, *, rows: int) -> None:
    """Accepted batches ``b0000``… in a workspace's state store, each with its raw file kept and
    every label recorded, as if the batch cycle had ingested them (no model, no Prefect)."""
    from driftline.services.datasets import labels_of

    for k in batches:
        batch_id = f"b{k:04d}"
        frame = make_batch(rows, seed=100 + k, start=10_000 + k * rows)
        path = ws.root / "batches" / batch_id / "raw.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.drop(columns=["y"]).to_parquet(path, index=False)
        ws.state.add_batch(
            batch_id=batch_id, sha256=f"{k:064d}", source=f"{batch_id}.parquet", raw_path=str(path),
            status="accepted", rows=rows,
        )  # fmt: skip
        labels = labels_of(frame, batch_id=batch_id, target="y", id_column="event_id")
        ws.state.record_labels(labels, source="batch")
