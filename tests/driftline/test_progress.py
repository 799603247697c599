"""Progress reports reach a sink only while one is installed, and a spinner only on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from driftline.core import progress
from driftline.core.stage_clock import StageClock


def test_reports_reach_the_installed_sink_only_while_it_is_installed():
    seen: list[str] = []
    progress.report("before")
    with progress.receiving(seen.append):
        clock = StageClock()
        clock.lap("contract")
        progress.report("scoring")
    progress.report("after")
    assert len(seen) == 2 and seen[0].startswith("contract done in ") and seen[1] == "scoring"


def test_no_spinner_when_not_a_terminal_or_disabled():
    buffer = io.StringIO()
    quiet = Console(file=buffer, force_terminal=False)
    with progress.shown(quiet, title="ingest", enabled=True):
        progress.report("contract done")
    terminal = Console(file=io.StringIO(), force_terminal=True)
    with progress.shown(terminal, title="ingest", enabled=False):
        progress.report("contract done")
    assert buffer.getvalue() == "" and progress._sinks == []


def test_a_terminal_shows_the_stages():
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, width=100)
    with progress.shown(terminal, title="ingest a.csv", enabled=True):
        progress.report("contract done in 0.1 s")
    assert "ingest a.csv" in buffer.getvalue()
