"""The `driftline` command: every command and group registered here, explicitly, in help order."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from driftline.cli import alerts, batches, contract, demo, lifecycle, project, replay, review, servers
from driftline.cli.common import DEBUG_ENV, EXIT_ERROR, debugging, err
from driftline.core.env import apply_process_env, exit_on_sigterm
from driftline.core.quick_exit import exit_now

app = typer.Typer(
    name="driftline",
    help="Keep a production model healthy: contracts, drift, retraining, a shadow gate, rollback.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show library logs and full tracebacks (else one line per error).")
    ] = False,
) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "1"


for command in (
    demo.demo,
    lifecycle.init,
    batches.ingest,
    batches.recover,
    batches.labels,
    project.status,
    lifecycle.retrain,
    lifecycle.promote,
    lifecycle.rollback,
    lifecycle.models,
    lifecycle.explain,
    replay.replay,
    servers.up,
    servers.down,
):
    app.command()(command)
app.add_typer(project.config_group, name="config")
app.add_typer(contract.contract_group, name="contract")
app.add_typer(alerts.alerts_group, name="alerts")
app.add_typer(review.review_group, name="review")
app.add_typer(servers.schedule_group, name="schedule")


def main() -> None:
    """Console entry point; the process ends through `exit_now` (no interpreter teardown)."""
    apply_process_env()
    exit_on_sigterm()
    try:
        app()  # usage errors and exit codes are typer's (SystemExit); anything else lands below
    except SystemExit as done:
        exit_now(done.code)
    except Exception as e:  # routine errors get one line; --debug shows the trace
        if debugging():
            raise
        message = f"{type(e).__name__}: {e}".strip().splitlines()[0]
        err.print(
            f"[bold red]error:[/] {message} (run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,  # one line, whatever the width (a pipe or a log file gets 80 columns)
        )
        exit_now(EXIT_ERROR)
    exit_now(0)
