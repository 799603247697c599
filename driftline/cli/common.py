"""What every command shares: the consoles, exit codes, options, one-line errors, and opening a
project (config validated once, process environment set, the Prefect API connected)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from driftline.core import progress
from driftline.core.config import (
    TRACKING_URI_ENV,
    ConfigError,
    DriftlineConfig,
    load_config,
)
from driftline.core.env import apply_process_env
from driftline.core.processes import reap_orphan_prefect_servers
from driftline.ops import local_api, prefect_settings, servers
from driftline.store.relocate import relocate_project, sqlite_file

out = Console()
err = Console(stderr=True)
if not out.is_terminal:  # piped or captured: wide enough that tables keep one line per row
    out.width = max(out.width, 140)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_QUARANTINED = 0, 1, 2, 3

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Project config file.", show_default=True)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print one error line and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def open_project(
    config_path: Path, *, read_only: bool = False, creates: bool = True, connect_api: bool = True
) -> DriftlineConfig:
    """Load and validate the config once, then set the process environment for this project
    (`read_only`: only load it; nothing is created or started. `creates=False`: the environment
    is set, but no folder is made and no API started. `connect_api`: unless `up` runs, flows go
    to the project's shared local Prefect API, started if none answers: see driftline.ops.local_api)."""

    try:
        cfg = load_config(config_path)
    except ConfigError as e:
        raise fail(str(e), EXIT_USAGE) from None
    if read_only:
        return cfg
    moved = relocate_project(cfg)
    if moved is not None:
        err.print(f"[yellow]note:[/] {moved.describe()}", highlight=False, soft_wrap=True)
    apply_process_env({"PREFECT_HOME": str(cfg.prefect_home)})
    if creates:
        cfg.prefect_home.mkdir(parents=True, exist_ok=True)

    for pid in reap_orphan_prefect_servers(cfg.prefect_home):
        err.print(
            f"[yellow]note:[/] stopped an orphaned Prefect server (pid {pid}) a killed command left",
            highlight=False,
        )
    cfg = use_running_servers(cfg, config_path)
    if creates and connect_api:
        with progress.shown(err, title="connecting to the project's Prefect API", enabled=True):
            local_api.connect(cfg.prefect_home)
    prefect_settings.reload()
    return cfg


def open_for_reading(config_path: Path, *, as_json: bool = False) -> DriftlineConfig:
    """For commands that only read. When the project has no storage yet (a fresh clone of a
    project repository: the config and contract are in git, the stores are not), one line says so
    and the command exits 0 having created nothing; otherwise the project opens without creating
    any folder."""
    cfg = open_project(config_path, read_only=True)
    if not has_storage(cfg):
        if as_json:
            print_json({"project": cfg.project, "storage": str(cfg.root), "exists": False})
        else:
            out.print(
                f"{cfg.project}: nothing here yet: no project storage at {cfg.root} "
                "(run `driftline init` or `driftline ingest FILE` to start it)",
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(EXIT_OK)
    return open_project(config_path, creates=False)


def has_storage(cfg: DriftlineConfig) -> bool:
    """The project's state store exists (always assumed for a database server)."""
    state_db = sqlite_file(cfg.database_url)
    return state_db is None or state_db.exists()


def use_running_servers(cfg: DriftlineConfig, config_path: Path) -> DriftlineConfig:
    """While `driftline up` runs, send flow runs to its Prefect server and MLflow writes to its
    tracking server (the config is reloaded so the override is validated the same way)."""
    import os

    urls = servers.active(cfg)
    if urls is None:
        return cfg
    os.environ["PREFECT_API_URL"] = urls.prefect_api
    os.environ[TRACKING_URI_ENV] = urls.mlflow
    os.environ.update(servers.client_env(cfg, urls))
    return load_config(config_path)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str, allow_nan=False) + "\n")


DEBUG_ENV = "DRIFTLINE_DEBUG"


def debugging() -> bool:
    import os

    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def quiet_libraries() -> None:
    """Keep library chatter off the terminal: our own output is the interface. The flow runs keep
    their full logs (and tracebacks) in Prefect; `--debug` shows them here too."""
    import logging
    import os

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if not debugging():
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # MLflow resets its loggers on import
    prefect_settings.reload()
    for name in ("mlflow", "great_expectations", "evidently", "alembic", "httpx", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
