"""A command's Prefect settings: its flows run without heartbeats unless the user asks for them."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
from driftline.ops import prefect_settings
from prefect.settings import get_current_settings
prefect_settings.reload()
print(get_current_settings().flows.heartbeat_frequency)
"""


def heartbeat_after_reload(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=base | env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_a_command_runs_its_flows_without_heartbeats(tmp_path) -> None:
    assert heartbeat_after_reload(PREFECT_HOME=str(tmp_path)) == "None"


def test_a_heartbeat_frequency_the_user_sets_stands(tmp_path) -> None:
    assert heartbeat_after_reload(PREFECT_HOME=str(tmp_path), PREFECT_FLOWS_HEARTBEAT_FREQUENCY="45") == "45"
