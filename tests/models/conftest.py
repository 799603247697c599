"""Small seeded data for the model tests: mixed column types, three kinds of target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

FEATURES = ["x1", "x2", "noise", "color", "flag", "code"]


def make_frame(seed: int = 0, *, rows: int = 600) -> pd.DataFrame:
    """Numeric (with NaN), text (with None and a rare value), bool, int codes, id and time columns.

    Targets: ``y_bin`` (0/1 ints), ``y_multi`` (text, 3 classes), ``y_reg`` (float). ``x1`` and
    ``color`` drive the binary target.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    x2 = rng.normal(size=rows)
    color = rng.choice(["red", "green", "blue"], rows).astype(object)
    color[rng.random(rows) < 0.05] = None
    color[0] = "violet"  # rare: folds into the infrequent column
    logit = 2.0 * x1 + 1.5 * (color == "red") - 0.5
    x1_seen = x1.copy()
    x1_seen[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "row_id": np.arange(rows),
            "ts": pd.date_range("2024-01-01", periods=rows, freq="h"),
            "x1": x1_seen,
            "x2": x2,
            "noise": rng.normal(size=rows),
            "color": color,
            "flag": rng.random(rows) < 0.3,
            "code": rng.integers(0, 4, rows),
            "y_bin": (logit + rng.logistic(size=rows) > 0).astype(int),
            "y_multi": np.where(x2 > 0.4, "high", np.where(x2 < -0.4, "low", "mid")),
            "y_reg": 3.0 * x2 + x1 + rng.normal(scale=0.3, size=rows),
        }
    )


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    """Training frame."""
    return make_frame(0)


@pytest.fixture(scope="session")
def holdout() -> pd.DataFrame:
    """Fresh rows from the same process."""
    return make_frame(1, rows=300)
