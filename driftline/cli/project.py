"""What a project looks like now: `status`, and `config show`."""

from __future__ import annotations

from pathlib import Path

import typer

from driftline.cli.common import (
    ConfigOption,
    JsonOption,
    open_for_reading,
    open_project,
    out,
    print_json,
    quiet_libraries,
)
from driftline.cli.render import render_status
from driftline.core.config import CONFIG_FILE, dump_config, mask_credentials
from driftline.services.reporting import status_summary

config_group = typer.Typer(help="Show the resolved configuration.", no_args_is_help=True)


def status(config: ConfigOption = Path(CONFIG_FILE), as_json: JsonOption = False) -> None:
    """Summarise batches, quarantine, champion and the latest drift (creates nothing)."""
    cfg = open_for_reading(config, as_json=as_json)
    quiet_libraries()

    summary = status_summary(cfg)
    if as_json:
        print_json(summary)
        return

    render_status(out, summary)


@config_group.command("show")
def config_show(config: ConfigOption = Path(CONFIG_FILE)) -> None:
    """Print the resolved config, defaults included (creates nothing)."""
    cfg = open_project(config, read_only=True)
    out.print(
        mask_credentials(
            f"# {config.resolve()}\n# storage root: {cfg.root}\n# tracking URI: {cfg.tracking_uri}"
        ),
        highlight=False,
        markup=False,
    )
    out.print(dump_config(cfg), highlight=False, markup=False)
