"""The project's shared local Prefect API: started once, reused by later commands, stopped when idle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from driftline.core.processes import is_alive
from driftline.ops.local_api import ENABLED_ENV, IDLE_ENV, STATE_FILE, running_api, stop

pytestmark = pytest.mark.slow

# A command's view: connect, run one real flow with one task against the API, print what it used.
CLIENT = """
import json, os, sys
from pathlib import Path
from driftline.core.env import apply_process_env
apply_process_env()
from driftline.ops import local_api
url = local_api.connect(Path(sys.argv[1]))
preloaded = "tabnanny" in sys.modules
from prefect import flow, task
@task
def double(x): return 2 * x
@flow
def tiny(x): return double(x)
assert tiny(21) == 42
print(json.dumps({"url": url, "env": os.environ.get("PREFECT_API_URL"), "preloaded": preloaded}))
"""


# `init` and the demo: the API starts in the background while the command works, then it waits.
CLIENT_SOON = CLIENT.replace(
    "url = local_api.connect(Path(sys.argv[1]))",
    "local_api.connect_soon(Path(sys.argv[1]))\nurl = local_api.connect(Path(sys.argv[1]))",
)

# Libraries the command will need are imported while it waits for an API to start, not otherwise.
PRELOADING = CLIENT.replace(
    "local_api.connect(Path(sys.argv[1]))", 'local_api.connect(Path(sys.argv[1]), preload=["tabnanny"])'
)


def run_client(home: Path, script: str = CLIENT, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run(
        [sys.executable, "-c", script, str(home)],
        env=base | env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def server_pid(home: Path) -> int:
    return int(json.loads((home / STATE_FILE).read_text())["pid"])


def test_an_api_started_in_the_background_is_the_one_the_command_and_the_next_use(tmp_path):
    home = tmp_path / "prefect"
    first = run_client(home, CLIENT_SOON, **{IDLE_ENV: "8"})
    assert first["url"] == first["env"] and first["url"].startswith("http://127.0.0.1:")
    pid = server_pid(home)
    second = run_client(home, **{IDLE_ENV: "8"})
    assert second["url"] == first["url"] and server_pid(home) == pid
    assert stop(home) and not is_alive(pid)


def test_modules_are_preloaded_only_while_an_api_starts(tmp_path):
    home = tmp_path / "prefect"
    starting = run_client(home, PRELOADING, **{IDLE_ENV: "8"})
    assert starting["url"].startswith("http://127.0.0.1:") and starting["preloaded"] is True
    running = run_client(home, PRELOADING, **{IDLE_ENV: "8"})
    assert running["url"] == starting["url"] and running["preloaded"] is False
    assert stop(home)


def test_commands_share_one_api_that_stops_once_idle_with_no_client(tmp_path):
    home = tmp_path / "prefect"
    first = run_client(home, **{IDLE_ENV: "8"})
    pid = server_pid(home)
    assert first["url"] == first["env"] and first["url"].startswith("http://127.0.0.1:")
    second = run_client(home, **{IDLE_ENV: "8"})
    assert second["url"] == first["url"] and server_pid(home) == pid  # reused, not restarted
    assert (home / "prefect.db").exists()  # runs are in the project's home, which `up` serves

    deadline = time.monotonic() + 60
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(1)
    assert not is_alive(pid), "the API kept running with no client and no request"
    assert not (home / STATE_FILE).exists() and running_api(home) is None


def test_a_live_client_keeps_the_api_up_and_stop_ends_it(tmp_path):
    home = tmp_path / "prefect"
    run_client(home, **{IDLE_ENV: "2"})
    pid = server_pid(home)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (home / "local-api-clients" / str(holder.pid)).touch()  # a command still running
        time.sleep(6)
        assert is_alive(pid) and running_api(home) is not None
    finally:
        holder.kill()
        holder.wait()
    assert stop(home) and not is_alive(pid)


def test_turned_off_each_command_uses_a_temporary_server(tmp_path):
    home = tmp_path / "prefect"
    used = run_client(home, **{ENABLED_ENV: "0"})
    assert used["url"] is None and used["env"] is None
    assert not (home / STATE_FILE).exists()


def test_a_state_file_copied_from_another_project_is_not_its_api(tmp_path):
    """A project folder copied with its `.driftline/prefect` (cp -r, a backup restored elsewhere)
    brings the original's local-api.json: the copy must start its own API, never send its runs
    to the original's, and `stop` in the copy must not kill the original's API."""
    original = tmp_path / "original" / "prefect"
    run_client(original, **{IDLE_ENV: "30"})
    pid = server_pid(original)
    copy = tmp_path / "copy" / "prefect"
    copy.mkdir(parents=True)
    (copy / STATE_FILE).write_text((original / STATE_FILE).read_text())
    try:
        assert running_api(copy) is None and not (copy / STATE_FILE).exists()
        (copy / STATE_FILE).write_text((original / STATE_FILE).read_text())
        assert stop(copy) is False and is_alive(pid)
        used = run_client(copy, **{IDLE_ENV: "30"})
        assert used["url"] != json.loads((original / STATE_FILE).read_text())["url"]
        assert server_pid(copy) != pid
    finally:
        stop(copy)
        stop(original)
    assert not is_alive(pid)
