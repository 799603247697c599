"""`driftline ...` in-process through typer's runner, with the environment and logging the command
sets for itself undone afterwards (for CLI tests that need no subprocess)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import prefect.context


def invoke(*args: str, cwd: Path) -> Any:
    from typer.testing import CliRunner

    from driftline.cli.app import app

    saved, here = dict(os.environ), Path.cwd()
    settings = prefect.context.GLOBAL_SETTINGS_CONTEXT
    level = logging.getLogger("driftline.services.alerts").level
    try:
        os.chdir(cwd)
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)
        logging.getLogger("driftline.services.alerts").setLevel(level)
        prefect.context.GLOBAL_SETTINGS_CONTEXT = settings  # the command pointed Prefect at its project
