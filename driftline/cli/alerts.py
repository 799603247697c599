"""Alert commands: `driftline alerts` lists what was raised, `driftline alerts test` checks routes."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from driftline.cli.common import (
    EXIT_ERROR,
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    fail,
    open_for_reading,
    open_project,
    out,
    print_json,
    quiet_libraries,
)
from driftline.core.config import CONFIG_FILE
from driftline.services.alerts import KINDS, send_test
from driftline.services.workspace import Workspace

alerts_group = typer.Typer(
    help="Alerts raised (list) and their delivery routes (test).", invoke_without_command=True
)

_STATUS_STYLE = {"delivered": "green", "partial": "yellow", "failed": "bold red", "suppressed": "dim"}


@alerts_group.callback()
def alerts_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Newest alerts shown.", min=1)] = 20,
    kind: Annotated[str | None, typer.Option(help="Only alerts of this kind (e.g. quarantine).")] = None,
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
) -> None:
    """List recent alerts, newest first: severity, kind, subject, delivery status and errors."""
    if ctx.invoked_subcommand is not None:
        return

    if kind is not None and kind not in KINDS:
        raise fail(f"--kind {kind!r} is not an alert kind; known: {', '.join(KINDS)}", EXIT_USAGE)
    rows = Workspace(open_for_reading(config, as_json=as_json)).state.list_alerts(limit=limit, kind=kind)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no alerts recorded")
        return
    out.print(_table(rows))


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("time", "severity", "kind", "subject", "status", "tries", "message"):
        table.add_column(column)
    for r in rows:
        style = _STATUS_STYLE.get(r["status"], "")
        status = f"[{style}]{r['status']}[/]" if style else r["status"]
        message = escape(r["message"])
        if r["repeats"]:
            message += f" (+{r['repeats']} suppressed since {r['repeats_since']})"
        if r["last_error"]:
            message += f"\n[red]{escape(r['last_error'])}[/]"
        table.add_row(
            r["time"], r["severity"], r["kind"], escape(r["subject"]), status, str(r["attempts"]), message
        )
    return table


@alerts_group.command("test")
def alerts_test(config: ConfigOption = Path(CONFIG_FILE), as_json: JsonOption = False) -> None:
    """Send a test alert through every route (whatever its min_severity) and report each one.

    Exit status: 0 every route delivered, 1 any failed, 2 no routes configured.
    """

    cfg = open_project(config, connect_api=False)  # runs no flow
    quiet_libraries()
    logging.getLogger("driftline.services.alerts").setLevel(logging.ERROR)  # each route is reported below
    if not cfg.alerts.routes:
        raise fail("no routes under 'alerts.routes' in the config: alerts are only stored", EXIT_USAGE)
    outcome = send_test(Workspace(cfg))
    if as_json:
        print_json({**asdict(outcome), "delivered": outcome.delivered})
    else:
        for d in outcome.deliveries:
            mark = "[green]ok[/]" if d.ok else "[bold red]failed[/]"
            tries = f"{d.attempts} attempt{'s' if d.attempts != 1 else ''}"
            out.print(f"{mark}  {escape(d.route)}  ({tries})", highlight=False)
            if d.error:
                out.print(f"    {d.error}", highlight=False, markup=False)
    if any(not d.ok for d in outcome.deliveries):
        raise typer.Exit(EXIT_ERROR)
