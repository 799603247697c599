"""Server commands: `up`, `down` and the retrain `schedule` (set / show / clear)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from driftline.cli.common import (
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    err,
    fail,
    open_project,
    out,
    print_json,
)
from driftline.core import progress
from driftline.core.config import CONFIG_FILE, DriftlineConfig
from driftline.core.processes import ServerStartError
from driftline.ops.schedule import RetrainSchedule, ScheduleError, set_schedule, sync_schedule
from driftline.ops.server_auth import credentials_path
from driftline.ops.servers import active, is_loopback, prefect_client, servers_dir, start_all, stop_all

if TYPE_CHECKING:
    from driftline.ops.schedule import PrefectApi

schedule_group = typer.Typer(
    help="The retrain schedule (driftline.yaml is the file of record; UI edits are pulled in).",
    no_args_is_help=True,
)


def up(
    config: ConfigOption = Path(CONFIG_FILE),
    host: Annotated[
        str,
        typer.Option(
            help="Interface to bind. Beyond 127.0.0.1 the Prefect API also asks for credentials "
            "(MLflow always does); both are in <storage root>/servers/credentials.json."
        ),
    ] = "127.0.0.1",
    mlflow_port: Annotated[
        int, typer.Option(help="MLflow port (a free one if taken).", min=1, max=65535)
    ] = 5000,
    prefect_port: Annotated[
        int, typer.Option(help="Prefect port (a free one if taken).", min=1, max=65535)
    ] = 4200,
    watch_interval: Annotated[
        float, typer.Option(help="Seconds between two scans of the watched folder.", min=1)
    ] = 60.0,
    timeout: Annotated[float, typer.Option(help="Seconds each server gets to answer.", min=1)] = 240.0,
    as_json: JsonOption = False,
) -> None:
    """Start the MLflow and Prefect servers and the deployments' runner, in the background."""
    cfg = open_project(config, connect_api=False)

    if not is_loopback(host):
        err.print(
            f"[bold yellow]warning:[/] binding to {host}: the servers ask for credentials but speak "
            "plain HTTP, so put them behind TLS before using them beyond a trusted network. MLflow "
            "answers only requests addressed to localhost unless MLFLOW_SERVER_ALLOWED_HOSTS is set.",
            highlight=False,
        )

    try:
        with progress.shown(err, title="up", enabled=not as_json):
            result = start_all(
                cfg,
                config_path=config,
                host=host,
                mlflow_port=mlflow_port,
                prefect_port=prefect_port,
                watch_interval=watch_interval,
                timeout=timeout,
            )
    except (ServerStartError, ValueError) as e:
        raise fail(str(e)) from None
    if as_json:
        print_json(
            {
                "mlflow": result.urls.mlflow,
                "prefect": result.urls.prefect,
                "already_up": result.already_up,
                "started": list(result.started),
                "seconds": round(result.seconds, 1),
                "watch_folder": str(result.watch_folder),
                "schedule": result.schedule.message if result.schedule else None,
                "auth": {"mlflow": result.urls.mlflow_auth, "prefect": result.urls.prefect_auth},
                "credentials": str(credentials_path(servers_dir(cfg))),
            }
        )
        return
    if result.already_up:
        out.print("[bold]already up[/]")
    else:
        out.print(f"started {', '.join(result.started)} in {result.seconds:.0f} s")
    out.print(f"  MLflow:  {result.urls.mlflow}")
    out.print(f"  Prefect: {result.urls.prefect}")
    signs = ["MLflow (user admin)"] + (["Prefect"] if result.urls.prefect_auth else [])
    out.print(
        f"  sign in to {' and '.join(signs)} with the credentials in {credentials_path(servers_dir(cfg))}",
        highlight=False,
    )
    out.print(f"  watched folder: {result.watch_folder}")
    out.print(f"  logs and pid files: {servers_dir(cfg)}")
    if result.schedule is not None:
        out.print(f"  {result.schedule.message}", highlight=False)
    if result.resumed:
        out.print(f"  resumed paused deployments: {', '.join(result.resumed)}")
    for name in result.skipped_deployments:
        err.print(f"[bold yellow]warning:[/] deployment {name} is not served (see serve.log)")
    out.print("stop them with: driftline down")


def down(config: ConfigOption = Path(CONFIG_FILE)) -> None:
    """Stop the servers `driftline up` started (and nothing else)."""
    cfg = open_project(config, connect_api=False)

    stopped = stop_all(cfg, config_path=config)
    out.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")


def _api(cfg: DriftlineConfig) -> PrefectApi | None:
    """The Prefect API of the running servers, or None when they are down."""

    urls = active(cfg)
    return prefect_client(cfg, urls) if urls else None


@schedule_group.command("show")
def schedule_show(config: ConfigOption = Path(CONFIG_FILE), as_json: JsonOption = False) -> None:
    """Show the retrain schedule; while the servers run, pull a change made in the Prefect UI."""
    cfg = open_project(config, connect_api=False)

    api = _api(cfg)
    try:
        result = sync_schedule(config_path=config, servers_dir=servers_dir(cfg), api=api)
    except ScheduleError as e:
        raise fail(str(e)) from None
    if as_json:
        print_json({**result.schedule.to_dict(), "action": result.action, "live": api is not None})
        return
    out.print(result.message, highlight=False)
    if api is None:
        out.print("(servers down: `driftline up` applies this to the retrain deployment)")


@schedule_group.command("set")
def schedule_set(
    cron: Annotated[str, typer.Argument(help="Cron expression, e.g. '0 3 * * 1' (Mondays 03:00).")],
    timezone: Annotated[str, typer.Option(help="IANA time zone of the cron expression.")] = "UTC",
    config: ConfigOption = Path(CONFIG_FILE),
) -> None:
    """Set the retrain schedule in driftline.yaml and, while the servers run, in Prefect."""
    _set(config, cron, timezone)


@schedule_group.command("clear")
def schedule_clear(config: ConfigOption = Path(CONFIG_FILE)) -> None:
    """Remove the retrain schedule (retrains then run on demand or by policy only)."""
    _set(config, None, "UTC")


def _set(config: Path, cron: str | None, timezone: str) -> None:
    cfg = open_project(config, connect_api=False)

    try:
        value = RetrainSchedule(cron, timezone)
        applied = set_schedule(
            config_path=config, servers_dir=servers_dir(cfg), api=_api(cfg), schedule=value
        )
    except ScheduleError as e:
        raise fail(str(e), EXIT_USAGE) from None
    where = "driftline.yaml and the Prefect deployment" if applied else "driftline.yaml"
    out.print(f"retrain schedule: {value.describe()} (written to {where})", highlight=False)
