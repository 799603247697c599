"""Driftline's Prefect deployments, served by one process: ``python -m flows.deployments --config F``.

``driftline up`` starts this process with ``PREFECT_API_URL`` and ``DRIFTLINE_TRACKING_URI``
pointing at the servers it started, so every run goes through them. Each deployment carries the
project's absolute config path as a default parameter; the rest of the run form comes from the
flows' typed, documented signatures.

Schedules: ``retrain`` gets the cron from driftline.yaml, which ``driftline up`` has already
reconciled with any edit made in the Prefect UI (see ``driftline.ops.schedule``), so applying it here
never silently replaces a UI edit. ``pause_on_shutdown=False``: stopping this process must not
leave the deployments paused for the next ``up``.
"""

from __future__ import annotations

import argparse
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import serve
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from driftline.core.config import load_config
from driftline.core.env import apply_process_env
from driftline.ops.schedule import read_yaml_schedule
from driftline.ops.servers import watch_folder
from flows.batch_cycle import batch_cycle
from flows.contract_review import contract_review
from flows.replay import replay
from flows.retrain import retrain
from flows.review import review_queue
from flows.watch import watch

logger = logging.getLogger("driftline.deployments")

BATCH_CYCLE, RETRAIN, REPLAY, WATCH = "batch-cycle", "retrain", "replay", "watch"
CONTRACT_REVIEW = "contract-review"
REVIEW_QUEUE = "review-queue"
DEFAULT_WATCH_INTERVAL_S = 60.0


def build_deployments(config_path: Path, *, watch_interval: float = DEFAULT_WATCH_INTERVAL_S) -> list[Any]:
    """The six deployments (replay is left out, with a warning, if its flow cannot be imported).

    Args:
        config_path: the project's driftline.yaml (made absolute).
        watch_interval: seconds between two scans of the incoming folder.

    Raises:
        ValueError: if ``watch_interval`` is not positive.
    """

    if watch_interval <= 0:
        raise ValueError(f"watch_interval must be positive, got {watch_interval!r}")
    config_path = Path(config_path).resolve()
    cfg = load_config(config_path)
    common: dict[str, Any] = {
        "tags": ["driftline", cfg.project],
        # Module entrypoints: served runs re-import the flow by module name, from any folder.
        "entrypoint_type": EntrypointType.MODULE_PATH,
    }
    config = str(config_path)
    schedule = read_yaml_schedule(config_path)
    deployments = [
        batch_cycle.to_deployment(name=BATCH_CYCLE, parameters={"config_path": config}, **common),
        retrain.to_deployment(
            name=RETRAIN,
            parameters={"reason": "scheduled", "config_path": config},
            schedule=Cron(schedule.cron, timezone=schedule.timezone) if schedule.cron else None,
            **common,
        ),
        watch.to_deployment(
            name=WATCH,
            parameters={"folder": str(watch_folder(cfg)), "config_path": config},
            interval=timedelta(seconds=watch_interval),
            concurrency_limit=1,
            **common,
        ),
        contract_review.to_deployment(name=CONTRACT_REVIEW, parameters={"config_path": config}, **common),
        review_queue.to_deployment(name=REVIEW_QUEUE, parameters={"config_path": config}, **common),
    ]
    defaults = {"target": cfg.data.target, "time_column": cfg.data.time_column, "config_path": config}
    replayed = replay.to_deployment(
        name=REPLAY, parameters={k: v for k, v in defaults.items() if v is not None}, **common
    )
    # An in-process callback has no place in a run form.
    _complete_form(replayed, REPLAY_DESCRIPTIONS, hide=("progress",))
    deployments.insert(2, replayed)
    return deployments


# Shown in the run form where a flow's docstring gives a parameter no description of its own.
REPLAY_DESCRIPTIONS = {
    "target": "the target (label) column of the historical file.",
    "time_column": "the event-time column the file is cut and ordered by.",
    "freq": "one batch per pandas period: D, W, 2W, M, Y, ... (or set rows).",
    "rows": "one batch per this many rows (instead of freq).",
    "id_column": "row id column (needed when labels arrive late).",
    "task": "auto, binary, multiclass or regression (auto: inferred from the target).",
}


def _complete_form(deployment: Any, descriptions: dict[str, str], *, hide: tuple[str, ...] = ()) -> None:
    """Fill missing parameter descriptions and drop parameters a run form cannot supply."""
    schema = deployment._parameter_openapi_schema
    for name in hide:
        schema.properties.pop(name, None)
        if name in schema.required:
            schema.required.remove(name)
    for name, text in descriptions.items():
        if name in schema.properties and not schema.properties[name].get("description"):
            schema.properties[name]["description"] = text


def main(argv: list[str] | None = None) -> None:
    """Serve the deployments until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m flows.deployments", description=__doc__)
    parser.add_argument("--config", required=True, type=Path, help="The project's driftline.yaml.")
    parser.add_argument(
        "--watch-interval",
        type=float,
        default=DEFAULT_WATCH_INTERVAL_S,
        help="Seconds between two scans of the incoming folder.",
    )
    args = parser.parse_args(argv)

    apply_process_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise

    deployments = build_deployments(args.config, watch_interval=args.watch_interval)
    logger.info("serving %s", ", ".join(d.name for d in deployments))
    serve(*deployments, pause_on_shutdown=False, print_starting_message=False)


if __name__ == "__main__":
    main()
