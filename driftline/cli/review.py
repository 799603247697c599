"""Review commands: `driftline review list | export FILE | import FILE` (the human review queue)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from driftline.cli.common import (
    EXIT_ERROR,
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
from driftline.core.batch_io import BatchReadError
from driftline.core.config import CONFIG_FILE, ConfigError
from driftline.services.review import export_open, import_answers
from driftline.services.workspace import Workspace

review_group = typer.Typer(
    help="Label the predictions the model was least sure of: list, export to a CSV, import answers.",
    no_args_is_help=True,
)


@review_group.command("list")
def review_list(
    limit: Annotated[int, typer.Option(help="Open items shown, oldest first.", min=1)] = 50,
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
) -> None:
    """List open review items: batch, row key, what the model predicted and how sure it was."""

    cfg = open_for_reading(config, as_json=as_json)
    state = Workspace(cfg).state
    items = state.open_reviews(limit)
    total = state.count_open_reviews()
    if as_json:
        rows = items.astype(object).where(items.notna(), None).to_dict("records")
        print_json({"open": total, "capacity": cfg.review.capacity, "items": rows})
        return
    if items.empty:
        out.print("no open review items")
        return
    table = Table(box=None, header_style="bold")
    for column in ("id", "batch", "row key", "model", "prediction", "confidence", "queued"):
        table.add_column(column)
    for r in items.to_dict("records"):
        table.add_row(
            str(r["id"]),
            r["batch_id"],
            escape(str(r["row_key"])),
            f"v{r['model_version']}",
            escape(str(r["prediction"])),
            f"{r['confidence']:.3f}",
            r["added_at"],
        )
    out.print(table)
    out.print(f"{total} open of capacity {cfg.review.capacity}; `driftline review export FILE` to label them")


@review_group.command("export")
def review_export(
    file: Annotated[
        Path, typer.Argument(help="CSV to write: one open item a row, an empty 'answer' column.")
    ],
    limit: Annotated[
        int | None, typer.Option(help="Oldest open items written (default: all).", min=1)
    ] = None,
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
) -> None:
    """Write the open items with their features; fill in 'answer', then `driftline review import`."""

    cfg = open_project(config, connect_api=False)  # runs no flow
    written = export_open(Workspace(cfg), file, limit=limit)
    if as_json:
        print_json({"file": str(file), "items": written})
    else:
        out.print(
            f"wrote {written} open item(s) to [bold]{escape(str(file))}[/]; fill in the 'answer' column"
        )


@review_group.command("import")
def review_import(
    file: Annotated[Path, typer.Argument(help="An export with the 'answer' column filled in.")],
    reviewer: Annotated[
        str | None, typer.Option(help="Who labeled (kept with each answer; default: the OS user).")
    ] = None,
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
) -> None:
    """Record the answers as labels (source=review); blank answers stay open for later.

    Answers the model cannot learn from (an unknown class) and ids that name no review item are
    not recorded: exit 1, with the reason.
    """
    if not file.is_file():
        raise fail(f"{file}: {'is a directory' if file.is_dir() else 'file not found'}", EXIT_USAGE)

    cfg = open_project(config, connect_api=False)  # runs no flow
    quiet_libraries()
    try:
        done = import_answers(Workspace(cfg), file, reviewer=reviewer or _os_user())
    except (BatchReadError, ConfigError) as e:
        raise fail(str(e), EXIT_USAGE) from None
    if as_json:
        print_json(done.to_dict())
    else:
        out.print(
            f"recorded {done.recorded} reviewed label(s) for {len(done.batches)} batch(es); "
            f"{done.skipped} row(s) without an answer left open"
        )
    for message in (done.rejected_message, done.unknown_message):
        if message:
            err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    if done.rejected or done.unknown:
        raise typer.Exit(EXIT_ERROR)


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"
