"""Fault injection for the reliability tests: die hard at a named point of the batch cycle.

`DRIFTLINE_FAULT_AT=<point>` makes the process SIGKILL itself when it reaches that point, as a
power cut or the OOM killer would. Nothing sets it in normal use; the points are the stages the
state store records (see ``driftline.state.STAGES``), so a test can stop a batch after each one.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "DRIFTLINE_FAULT_AT"


def checkpoint(point: str) -> None:
    """SIGKILL this process if the fault-injection variable names `point`."""
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
