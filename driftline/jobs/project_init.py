"""`driftline init`: config, contract and the first champion from one historical file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from driftline.core.batch_io import read_table
from driftline.core.config import CONFIG_FILE, ConfigError, load_config, parse_config, write_config
from driftline.core.env import apply_process_env
from driftline.core.preload import BATCH_CYCLE_LIBRARIES
from driftline.core.progress import report
from driftline.ops import local_api, prefect_settings
from driftline.services.bootstrap import init_contract
from driftline.services.contract_ops import accept_reference
from driftline.services.workspace import Workspace
from flows.batch_cycle import batch_cycle
from flows.retrain import retrain


def init_project(
    *,
    data: Path,
    target: str,
    time_column: str | None,
    id_column: str | None,
    task: str,
    name: str | None,
    directory: Path,
    parts: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Create a project in `directory` and train its first champion through the real flows.

    DATA is split into `parts` time-ordered batches that go through the batch cycle (so the
    first retrain has a window and a holdout), then the retrain flow runs the no-champion gate.

    Raises:
        ConfigError: bad arguments, an existing config, or columns missing from DATA.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / CONFIG_FILE
    if config_path.exists():
        raise ConfigError(f"{config_path}: already exists; edit it or use another --dir")
    frame = read_table(data)
    for role, column in (("--target", target), ("--time-column", time_column), ("--id-column", id_column)):
        if column and column not in frame.columns:
            raise ConfigError(f"{data}: column {column!r} given as {role} is not in the file")
    project = name or "".join(c if c.isalnum() or c in "-_" else "-" for c in directory.name) or "driftline"
    raw = {
        "project": project,
        "data": {"target": target, "id_column": id_column, "time_column": time_column, "task": task},
        **(extra or {}),
    }
    cfg = parse_config(raw, base_dir=directory)
    write_config(cfg, config_path)
    cfg = load_config(config_path)
    apply_process_env({"PREFECT_HOME": str(cfg.prefect_home)})
    cfg.prefect_home.mkdir(parents=True, exist_ok=True)
    local_api.connect_soon(cfg.prefect_home)  # starts while the contract is bootstrapped

    report("bootstrapping the data contract")
    made = init_contract(cfg, data)
    local_api.connect(cfg.prefect_home, preload=BATCH_CYCLE_LIBRARIES)  # waits for the start above
    prefect_settings.reload()
    if time_column:
        frame = frame.sort_values(time_column, kind="stable")
    incoming = cfg.root / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    for k, chunk in enumerate(np.array_split(np.arange(len(frame)), parts), start=1):
        part = incoming / f"init-part-{k}.parquet"
        frame.iloc[chunk].to_parquet(part, index=False)
        report(f"ingesting part {k} of {parts}")
        result = batch_cycle(path=str(part), config_path=str(config_path), allow_retrain=False)
        if result["status"] == "quarantined" and accept_reference(
            Workspace(cfg), result["batch_id"], name=f"init part {k}"
        ):
            batch_cycle(path=str(part), config_path=str(config_path), allow_retrain=False)
    report("training the first champion")
    result = retrain(reason="init: first champion", config_path=str(config_path))
    return {"config": str(config_path), "suite": str(made.path), "retrain": result, "notes": list(made.notes)}
