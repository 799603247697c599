"""A command ends without the interpreter's teardown, but with everything a normal exit does
that matters: threads joined, atexit handlers run, output flushed, the exit status kept."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from driftline.core.quick_exit import QUICK_EXIT_ENV, exit_code

SCRIPT = """
import atexit, sys, threading, time
from driftline.core.quick_exit import exit_now

class Teardown:
    def __del__(self):
        sys.__stderr__.write("module teardown ran\\n")

KEPT = Teardown()
atexit.register(lambda: print("atexit handler ran"))
threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished"))).start()
print("buffered output", end=" ")
exit_now(STATUS)
"""


def run(status: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.replace("STATUS", status)],
        capture_output=True,  # a pipe: stdout is block-buffered, so a missed flush loses output
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_exit_now_keeps_output_handlers_threads_and_status_but_skips_teardown():
    done = run("3")
    assert done.returncode == 3
    assert done.stdout.split() == ["buffered", "output", "thread", "finished", "atexit", "handler", "ran"]
    assert "module teardown ran" not in done.stderr


def test_switched_off_it_is_a_normal_exit_with_teardown():
    done = run("3", **{QUICK_EXIT_ENV: "0"})
    assert done.returncode == 3
    assert "atexit handler ran" in done.stdout and "module teardown ran" in done.stderr


def test_a_message_status_is_printed_and_exits_1():
    done = run("'no project here'")
    assert done.returncode == 1 and "no project here" in done.stderr


@pytest.mark.parametrize(("status", "code"), [(None, 0), (0, 0), (2, 2), (256 + 4, 4)])
def test_exit_code_matches_sys_exit(status, code):
    assert exit_code(status) == code
