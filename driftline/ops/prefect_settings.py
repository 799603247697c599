"""Prefect reads its settings from the environment once, when it is first imported, and sets up
its logging from them then.

The command line imports the flows, and with them Prefect, at the top of its modules: before a
command has loaded its project. A command sets the project's environment (Prefect home, the
shared local API, quiet logs) and then calls `reload`, so the flows it runs use that home and
that API and log at the chosen levels. Prefect itself refreshes its settings this way after its
plugins have set environment variables.
"""

from __future__ import annotations

import warnings

from prefect.context import SettingsContext, refresh_global_settings_context
from prefect.logging.configuration import setup_logging


def reload() -> None:
    """Re-read Prefect's settings and logging configuration from the current environment.

    Prefect makes its home folder when it reads its settings, but not the parents: a command that
    creates nothing (a read-only one, or one that fails on a broken project) has none, and runs
    no flow, so Prefect's warning about it is noise here.

    Settings a caller entered itself (Prefect's test harness, `temporary_settings`) stand: the
    harness also makes them the process-wide settings that other threads see, and re-reading the
    environment would point those threads elsewhere."""
    if SettingsContext.__var__.get(None) is not None:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to create the Prefect home directory")
        refresh_global_settings_context()
    setup_logging(incremental=False)
