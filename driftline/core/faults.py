"""Fault injection for the reliability tests: die hard, or wait, at a named point of a run.

`DRIFTLINE_FAULT_AT=<point>` makes the process SIGKILL itself when it reaches that point, as a
power cut or the OOM killer would. `DRIFTLINE_PAUSE_AT=<point>:<flag file>` makes it write its pid
to the flag file there and wait until the file is removed, so a test can break something at that
moment (stop the tracking server, fill the disk) and let the run go on into it. Nothing sets
either in normal use; the points are the stages the state store records (see
``driftline.store.state.STAGES``) and the retrain's ``retrain-registered`` and ``retrain-gated``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

FAULT_ENV = "DRIFTLINE_FAULT_AT"
PAUSE_ENV = "DRIFTLINE_PAUSE_AT"
# A test that never removes the flag must not leave the process waiting forever.
PAUSE_LIMIT_S = 600.0


def checkpoint(point: str) -> None:
    """SIGKILL this process if the fault-injection variable names `point`; wait at it if the
    pause variable names it."""
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
    where, _, flag = os.environ.get(PAUSE_ENV, "").partition(":")
    if where == point and flag:
        _pause(Path(flag))


def _pause(flag: Path) -> None:
    flag.write_text(str(os.getpid()))
    deadline = time.monotonic() + PAUSE_LIMIT_S
    while flag.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
