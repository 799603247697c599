"""Prefect reads its settings from the environment once, when it is first imported, and sets up
its logging from them then.

The command line imports the flows, and with them Prefect, at the top of its modules: before a
command has loaded its project. A command sets the project's environment (Prefect home, the
shared local API, quiet logs) and then calls `reload`, so the flows it runs use that home and
that API and log at the chosen levels. Prefect itself refreshes its settings this way after its
plugins have set environment variables.

Flow-run heartbeats are off in these commands. Prefect's flow engine sends them from a thread that
sleeps in 1 s steps, and joins that thread when the flow ends: each flow run a command makes waits
up to 1 s for nothing (a one-task flow: 1.07 s with them, 0.12 s without), and the demo makes 16.
Heartbeats serve only a Prefect automation that marks a run crashed when they stop; a command's
flows run in its own foreground process, which reports its own failure. Setting
`PREFECT_FLOWS_HEARTBEAT_FREQUENCY` turns them back on; the deployments `driftline up` serves keep
Prefect's default.
"""

from __future__ import annotations

import os
import warnings

import prefect.context
from prefect.context import SettingsContext, refresh_global_settings_context
from prefect.logging import configuration as prefect_logging
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, PREFECT_LOGGING_SETTINGS_PATH

HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"


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
    if HEARTBEAT_ENV not in os.environ:
        _without_heartbeats()
    if _logging_config() != _applied_logging_config():
        prefect_logging.setup_logging(incremental=False)


def _without_heartbeats() -> None:
    """The process-wide settings, with flow-run heartbeats off (see the module's docstring)."""
    current = prefect.context.GLOBAL_SETTINGS_CONTEXT
    settings = current.settings.copy_with_update(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
    prefect.context.GLOBAL_SETTINGS_CONTEXT = SettingsContext(profile=current.profile, settings=settings)


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
