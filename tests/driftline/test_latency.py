"""Scoring latency per row (percentiles over timed chunks), stage timings, and their alert."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftline.core.config import parse_config
from driftline.core.stage_clock import StageClock
from driftline.services import alerts
from driftline.services.batch_alerts import alert_latency as _alert_latency
from driftline.services.scoring import Scored, score_batch
from driftline.services.workspace import Workspace


def scored(per_row: tuple[float, ...], *, rows: int = 5000, ms: float = 50.0) -> Scored:
    empty = pd.DataFrame()
    return Scored("champion", "3", rows, ms, 0.5, empty, pd.Series(dtype=float), per_row)


def test_percentiles_come_from_the_timed_chunks():
    s = scored(tuple(float(v) for v in range(1, 101)))
    p = s.latency_percentiles()
    assert (
        p["p50"] == pytest.approx(50.5)
        and p["p95"] == pytest.approx(95.05)
        and p["p99"] == pytest.approx(99.01)
    )
    assert s.rows_per_second == pytest.approx(100_000.0)
    assert scored(()).latency_percentiles() == {}


def test_score_batch_times_up_to_twenty_chunks_of_at_least_a_thousand_rows():
    from models.spec import FeatureSpec
    from models.train import fit_model

    frame = pd.DataFrame({"x": np.arange(120_000.0), "y": np.arange(120_000) % 2})
    spec = FeatureSpec(numeric=("x",), categorical=())
    model = fit_model(frame.head(500), target="y", spec=spec, task="binary", estimator="linear").pipeline
    result = score_batch(
        model, frame, task="binary", batch_id="b", role="champion", version="1", id_column=None
    )
    assert len(result.chunk_ms_per_row) == 20 and all(v > 0 for v in result.chunk_ms_per_row)
    small = score_batch(
        model, frame.head(2_500), task="binary", batch_id="b", role="champion", version="1", id_column=None
    )
    assert len(small.chunk_ms_per_row) == 3  # 1,000-row chunks: 1000 + 1000 + 500
    assert set(result.to_dict()["latency_ms_per_row"]) == {"p50", "p95", "p99"}


def test_stage_clock_reports_seconds_and_rows_per_second():
    clock = StageClock(rows=1000)
    clock.lap("read")
    clock.lap("contract")
    m = clock.metrics()
    assert {"cycle_seconds", "stage_seconds.read", "stage_seconds.contract"} <= set(m)
    assert m["cycle_seconds"] >= m["stage_seconds.read"] + m["stage_seconds.contract"]


def workspace(tmp_path, **latency) -> Workspace:
    raw = {"project": "shop", "data": {"target": "y"}, "storage": {"root": str(tmp_path)}, "latency": latency}
    return Workspace(parse_config(raw, base_dir=tmp_path))


def test_a_breach_of_either_service_level_is_an_alert_and_a_pass_is_not(tmp_path):
    ws = workspace(tmp_path, max_ms_per_row_p99=0.5, min_rows_per_second=200_000)
    _alert_latency(ws, scored((0.01,) * 49 + (2.0,)), batch_id="b1")
    [row] = ws.state.list_alerts(kind=alerts.LATENCY_BREACH)
    assert "p99 scoring latency" in row["message"] and "throughput 100,000 rows/s < 200,000" in row["message"]
    calm = workspace(tmp_path / "calm", max_ms_per_row_p99=5.0)
    _alert_latency(calm, scored((0.01,) * 50), batch_id="b2")
    assert calm.state.list_alerts() == []
