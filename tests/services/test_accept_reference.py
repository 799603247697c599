"""A contract accepts the data it was learned from: `contract_ops.accept_reference`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data_contracts import validate_frame
from data_contracts.suite_io import load_suite
from driftline.core.config import load_config, parse_config, write_config
from driftline.services.bootstrap import init_contract
from driftline.services.contract_ops import accept_reference, read_ledger
from driftline.services.workspace import Workspace


def _period(seed: int, *, rows: int = 60, lag_known: bool = True) -> pd.DataFrame:
    """One period of a stream whose `lag` feature (last period's value) is unknown in the first."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "event_id": [f"{seed}-{i}" for i in range(rows)],
            "x": rng.normal(50.0, 5.0, rows),
            "lag": rng.normal(40.0, 5.0, rows) if lag_known else np.nan,
            "y": rng.integers(0, 2, rows),
        }
    )


def _workspace(tmp_path: Path) -> Workspace:
    raw = {"project": "p", "data": {"target": "y", "id_column": "event_id"}}
    write_config(parse_config(raw, base_dir=tmp_path), tmp_path / "driftline.yaml")
    return Workspace(load_config(tmp_path / "driftline.yaml"))


def test_a_warmup_part_that_the_learned_contract_would_block_is_accepted_in_the_ledger(
    tmp_path: Path,
) -> None:
    ws = _workspace(tmp_path)
    parts = [("warmup batch 1", _period(1, lag_known=False)), ("warmup batch 2", _period(2))]
    reference = tmp_path / "reference.parquet"
    pd.concat([f for _, f in parts]).to_parquet(reference, index=False)
    init_contract(ws.config, reference)
    learned = load_suite(ws.config.suite_path)
    (blocked,) = validate_frame(parts[0][1], learned, source="warmup batch 1").blocking
    assert blocked.column == "lag" and "null" in blocked.message  # 100% null, at most 90% allowed

    (record,) = accept_reference(ws, parts)

    suite = load_suite(ws.config.suite_path)
    assert all(validate_frame(frame, suite, source=name).success for name, frame in parts)
    assert record["action"] == "accept" and record["actor"] == "driftline"
    assert record["source"] == "warmup batch 1" and "learned from it" in record["reason"]
    assert [(c["rule"], c["column"]) for c in record["changes"]] == [
        ("expect_column_values_to_not_be_null", "lag")
    ]
    assert read_ledger(ws) == [record] and record["to_version"] == record["from_version"] + 1
    # Validity still blocks: a unit change of the same column, and duplicate ids.
    later = _period(3)
    later["lag"] *= 1000
    assert {f.column for f in validate_frame(later, suite, source="later").blocking} == {"lag"}
    doubled = pd.concat([_period(4), _period(4)])
    assert not validate_frame(doubled, suite, source="doubled").success


def test_parts_the_contract_accepts_change_nothing(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    parts = [("part 1", _period(5)), ("part 2", _period(6))]
    reference = tmp_path / "reference.parquet"
    pd.concat([f for _, f in parts]).to_parquet(reference, index=False)
    init_contract(ws.config, reference)
    before = load_suite(ws.config.suite_path)

    assert accept_reference(ws, parts) == []
    assert load_suite(ws.config.suite_path) == before and read_ledger(ws) == []
