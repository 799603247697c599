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
from prefect.logging import configuration as prefect_logging
from prefect.settings import PREFECT_LOGGING_SETTINGS_PATH


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
    if _logging_config() != _applied_logging_config():
        prefect_logging.setup_logging(incremental=False)


def _logging_config() -> dict[str, object]:
    """The logging configuration Prefect would set up from the current settings."""
    custom = PREFECT_LOGGING_SETTINGS_PATH.value()
    path = custom if custom.exists() else prefect_logging.DEFAULT_LOGGING_SETTINGS_PATH
    return prefect_logging.load_logging_config(path)


def _applied_logging_config() -> dict[str, object]:
    """The configuration this process set up last, without the incremental flag.

    Setting logging up again closes and flushes every handler, Prefect's API log handler among
    them, which waits on the log worker of a flow that may still be finishing in another thread
    (a command run in-process by the tests hung there for 15 minutes). When nothing changed,
    there is nothing to set up."""
    return {k: v for k, v in prefect_logging.PROCESS_LOGGING_CONFIG.items() if k != "incremental"}
