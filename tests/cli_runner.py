"""`driftline ...` in-process through typer's runner, with the environment and logging the command
sets for itself undone afterwards (for CLI tests that need no subprocess)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from prefect.context import refresh_global_settings_context


def invoke(*args: str, cwd: Path) -> Any:
    from typer.testing import CliRunner

    from driftline.cli.app import app

    saved, here = dict(os.environ), Path.cwd()
    level = logging.getLogger("driftline.services.alerts").level
    try:
        os.chdir(cwd)
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)
        logging.getLogger("driftline.services.alerts").setLevel(level)
        refresh_global_settings_context()  # the command pointed Prefect at its project; undo it
