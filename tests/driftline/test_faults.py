"""Fault injection: a checkpoint named by DRIFTLINE_PAUSE_AT waits until its flag file is gone."""

from __future__ import annotations

import os
import threading
import time

from driftline.core import faults


def test_a_paused_checkpoint_writes_its_pid_and_waits_for_the_flag_to_go(tmp_path, monkeypatch):
    flag = tmp_path / "paused"
    monkeypatch.setenv(faults.PAUSE_ENV, f"retrain-registered:{flag}")
    seen: list[str] = []

    def release() -> None:
        while not flag.exists():
            time.sleep(0.01)
        seen.append(flag.read_text())
        time.sleep(0.3)
        flag.unlink()

    helper = threading.Thread(target=release)
    helper.start()
    started = time.monotonic()
    faults.checkpoint("retrain-registered")
    helper.join()
    assert seen == [str(os.getpid())] and time.monotonic() - started >= 0.3 and not flag.exists()


def test_other_points_and_an_unset_variable_pass_straight_through(tmp_path, monkeypatch):
    flag = tmp_path / "paused"
    monkeypatch.setenv(faults.PAUSE_ENV, f"retrain-gated:{flag}")
    faults.checkpoint("retrain-registered")
    monkeypatch.delenv(faults.PAUSE_ENV)
    faults.checkpoint("retrain-gated")
    assert not flag.exists()
