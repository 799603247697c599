"""Shared data for the data-contract tests: a small, seeded, weather-like mixed frame."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from data_contracts import bootstrap_suite

ROWS = 500


def make_frame(seed: int, *, rows: int = ROWS, start: str = "2024-01-01") -> pd.DataFrame:
    """Numeric, categorical, bool, id, time, an all-null column, and a target with NaNs."""
    rng = np.random.default_rng(seed)
    humidity = rng.uniform(30, 95, rows)
    humidity[rng.random(rows) < 0.05] = np.nan
    label = rng.choice(["dry", "rain", "snow"], rows).astype(object)
    label[rng.random(rows) < 0.1] = None
    return pd.DataFrame(
        {
            "record_id": np.arange(seed * 10_000, seed * 10_000 + rows),
            "timestamp": pd.date_range(start, periods=rows, freq="h"),
            "temperature": rng.normal(10, 6, rows),
            "pressure": rng.normal(1013, 8, rows),
            "humidity": humidity,
            "wind": rng.integers(0, 30, rows),
            "station": rng.choice(["north", "south", "east"], rows),
            "is_holiday": rng.random(rows) < 0.1,
            "notes": [None] * rows,
            "label": label,
        }
    )


@pytest.fixture(scope="session")
def frame_factory() -> Callable[..., pd.DataFrame]:
    """The frame builder, for tests that need fresh batches."""
    return make_frame


@pytest.fixture(scope="session")
def reference() -> pd.DataFrame:
    """The reference frame every suite is bootstrapped from."""
    return make_frame(1)


@pytest.fixture(scope="session")
def suite(reference: pd.DataFrame) -> dict:
    """Contract bootstrapped from the reference with default thresholds."""
    return bootstrap_suite(
        reference, name="weather", target="label", id_column="record_id", time_column="timestamp"
    )


@pytest.fixture(scope="session")
def clean() -> pd.DataFrame:
    """A batch from the reference distribution (different seed, later dates)."""
    return make_frame(2, start="2024-03-01")


@pytest.fixture(scope="session")
def clean_for_report() -> pd.DataFrame:
    """A batch whose pressure arrived in inHg instead of mb: quarantined."""
    frame = make_frame(3)
    return frame.assign(pressure=frame["pressure"] * 0.0295)
