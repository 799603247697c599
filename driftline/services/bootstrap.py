"""Project bootstrap: the contract suite, the initial drift reference and the project facts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from data_contracts.bootstrap import bootstrap_suite
from data_contracts.suite_io import save_suite
from driftline.core.batch_io import read_table
from driftline.core.config import ConfigError, DriftlineConfig
from driftline.services.project import ProjectFacts, derive_facts
from driftline.services.workspace import Workspace


@dataclass(frozen=True)
class ContractInit:
    """Where the suite went, how many rules it has, and what a person should know."""

    path: Path
    expectations: int
    notes: tuple[str, ...]


def init_contract(cfg: DriftlineConfig, reference: Path, *, force: bool = False) -> ContractInit:
    """Bootstrap the suite from reference data and keep a seeded sample as the drift baseline.

    Returns:
        The suite path, its number of expectations, and notes (e.g. columns that look like a
        row id or time index and were left out of the features).

    Raises:
        ConfigError: the suite exists (without `force`) or the reference lacks a configured column.
    """

    path = cfg.suite_path
    if path.exists() and not force:
        raise ConfigError(f"{path}: suite exists; pass --force to overwrite it")
    frame = read_table(reference)
    data = cfg.data
    for role, column in (("id_column", data.id_column), ("time_column", data.time_column)):
        if column and column not in frame.columns:
            raise ConfigError(f"{reference}: column {column!r} (data.{role}) is not in the file")
    ws = Workspace(cfg)
    facts = derive_facts(ws, frame)
    suite = suite_from(cfg, frame, facts)
    save_suite(suite, path)
    sample = frame[facts.features]
    if len(sample) > cfg.drift.reference_rows:
        sample = sample.sample(n=cfg.drift.reference_rows, random_state=cfg.drift.seed)
    ws.initial_reference.parent.mkdir(parents=True, exist_ok=True)
    sample.reset_index(drop=True).to_parquet(ws.initial_reference, index=False)
    return ContractInit(path, len(suite["expectations"]), tuple(facts.notes))


def suite_from(cfg: DriftlineConfig, frame: pd.DataFrame, facts: ProjectFacts) -> dict[str, Any]:
    """A contract bootstrapped from `frame` with the project's columns and contract settings."""

    data, c = cfg.data, cfg.contract
    return bootstrap_suite(
        frame,
        name=cfg.project,
        target=data.target,
        id_column=data.id_column,
        time_column=data.time_column,
        index_columns=[column for column, _ in facts.index_like if column in frame.columns],
        warn_range_margin=c.warn_range_margin,
        scale_tolerance=c.scale_tolerance,
        shrink_factor=c.shrink_factor,
        spread_factor=c.spread_factor,
        block_null_jump=c.block_null_jump,
        type_tolerance=c.type_tolerance,
        block_range_margin=c.block_range_margin,
        block_range_mostly=c.block_range_mostly,
        bounds=c.bounds,
        max_categories=c.max_categories,
        category_mostly=c.category_mostly,
        null_margin=c.null_margin,
        row_count_factor=c.row_count_factor,
    )
