"""`driftline contract review | accept | diff`: a person in the loop of the data contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from data_contracts import review as rv
from data_contracts.review import ReviewError
from driftline.cli.common import (
    EXIT_QUARANTINED,
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    err,
    fail,
    open_for_reading,
    open_project,
    out,
    print_json,
    quiet_libraries,
)
from driftline.cli.render import render_batch
from driftline.core.config import CONFIG_FILE, ConfigError
from driftline.services.bootstrap import init_contract
from driftline.services.contract_ops import read_ledger, review, suite_version
from driftline.services.workspace import Workspace
from flows.contract_review import accept_and_reingest

contract_group = typer.Typer(help="Create and inspect the data contract.", no_args_is_help=True)


@contract_group.command("init")
def contract_init(
    reference: Annotated[Path, typer.Option("--reference", "-r", help="Reference data (CSV/Parquet).")],
    config: ConfigOption = Path(CONFIG_FILE),
    force: Annotated[bool, typer.Option(help="Overwrite an existing suite.")] = False,
) -> None:
    """Bootstrap the data contract (a GE suite JSON) from reference data."""
    cfg = open_project(config, connect_api=False)  # runs no flow

    try:
        made = init_contract(cfg, reference, force=force)
    except (ConfigError, ValueError) as e:
        raise fail(str(e), EXIT_USAGE) from None
    for note in made.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    out.print(
        f"wrote {made.expectations} expectations to [bold]{made.path}[/]; "
        "edit severities ('block'/'warn') by hand"
    )


@contract_group.command("review")
def contract_review(config: ConfigOption = Path(CONFIG_FILE), as_json: JsonOption = False) -> None:
    """List the blocking rules that quarantined batches, with their evidence, and any streak."""

    found = review(Workspace(open_for_reading(config, as_json=as_json)))
    if as_json:
        print_json(found)
        return
    out.print(f"contract {found['suite']} (version {found['version']})")
    for streak in found["streaks"]:
        err.print(f"[bold red]alert:[/] {streak['message']}", highlight=False)
    if not found["rules"]:
        out.print("no blocking rule has quarantined a batch")
        return
    for rule in found["rules"]:
        where, ids = rule["column"] or "table", ", ".join(rule["batches"])
        out.print(f"[bold]{rule['rule']}[/] on {where}: {len(rule['batches'])} batch(es) {ids}")
        out.print(f"  latest: {rule['latest_message']}", highlight=False)
    out.print("accept one with: driftline contract accept BATCH_ID --reason '...'")


@contract_group.command("accept")
def contract_accept(
    batch_id: Annotated[str, typer.Argument(help="A quarantined batch id (see 'contract review').")],
    reason: Annotated[str, typer.Option("--reason", help="Why the batch is fine (kept in the ledger).")],
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
) -> None:
    """Widen or demote the rules a quarantined batch broke, then ingest its kept raw copy again
    under the same batch id: nothing is lost. Who and why go to the contract ledger."""

    open_project(config)
    quiet_libraries()
    try:
        done = accept_and_reingest(config, batch_id, reason=reason)
    except ReviewError as e:
        raise fail(str(e), EXIT_USAGE) from None
    result = done["batch"]
    record = done["ledger"]
    if as_json:
        print_json({"ledger": record, "batch": result})
    else:
        out.print(f"contract v{record['from_version']} → v{record['to_version']}:")
        for change in record["changes"]:
            out.print(
                f"  {change['rule']} on {change['column'] or 'table'}: {change['change']}", highlight=False
            )

        render_batch(out, result)
    if result["status"] == "quarantined":
        raise typer.Exit(EXIT_QUARANTINED)


@contract_group.command("diff")
def contract_diff(
    old: Annotated[int | None, typer.Option("--from", help="Older version (default: the previous).")] = None,
    new: Annotated[int | None, typer.Option("--to", help="Newer version (default: the current).")] = None,
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
) -> None:
    """Show what changed in the contract between two versions, and the ledger entries between."""

    ws = Workspace(open_for_reading(config, as_json=as_json))
    try:
        after = suite_version(ws, new)
        before = suite_version(ws, old if old is not None else max(rv.version(after) - 1, 1))
    except rv.ReviewError as e:
        raise fail(str(e), EXIT_USAGE) from None
    lo, hi = rv.version(before), rv.version(after)
    lines = rv.diff(before, after)
    entries = [e for e in read_ledger(ws) if lo < e["to_version"] <= hi]
    if as_json:
        print_json({"from": lo, "to": hi, "changes": lines, "ledger": entries})
        return
    out.print(f"contract v{lo} → v{hi}: {len(lines)} change(s)")
    for line in lines:
        out.print(f"  {line}", highlight=False, markup=False)
    for entry in entries:
        out.print(
            f"  [{entry['time']}] {entry['action']} by {entry['actor']}: {entry['reason']}", highlight=False
        )
