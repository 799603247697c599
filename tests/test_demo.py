"""The demo, reduced (4 months, 20% of flights), through the real command and the real flows."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess

import pytest

pytestmark = pytest.mark.slow


def test_reduced_demo_tells_the_whole_story(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    demo_dir = tmp_path / "demo"
    done = subprocess.run(
        [shutil.which("driftline"), "demo", "--dir", str(demo_dir), "--months", "4", "--sample", "0.2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Prefect saw the project's environment before it was imported: the shared local API, quiet logs
    assert "temporary server" not in done.stderr and "| INFO" not in done.stderr, done.stderr[-3000:]
    text = done.stdout
    for month in ("Mar", "Apr", "May", "Jun (broken feed)", "Jun (re-sent)"):
        assert month in text
    assert "quarantined: column 'pressure'" in text
    assert "quarantine report:" in text and "driftline up" in text
    assert "Why the champion" in text and "mean |SHAP|" in text
    db = sqlite3.connect(demo_dir / ".driftline" / "driftline.db")
    statuses = dict(db.execute("select source, status from batches").fetchall())
    assert statuses["2013-06_broken_feed.csv"] == "quarantined" and statuses["2013-06.csv"] == "accepted"
    broken = db.execute("select batch_id from batches where status = 'quarantined'").fetchone()[0]
    assert db.execute("select count(*) from predictions where batch_id = ?", (broken,)).fetchone()[0] == 0
    assert (demo_dir / ".driftline" / "quarantine" / broken / "report.html").is_file()
    drifted = db.execute("select count(*) from batches where drift_detected = 1").fetchone()[0]
    assert drifted >= 1
    ledger = db.execute("select action, to_version, trigger from ledger order by id").fetchall()
    assert ledger[0][0] == "promote" and f"v{ledger[0][1]}" in text  # the first champion, shown serving
    # Running the demo again replaces the earlier demo folder instead of failing.
    again = subprocess.run(
        [shutil.which("driftline"), "demo", "--dir", str(demo_dir), "--months", "1", "--sample", "0.05"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert again.returncode == 0, again.stderr[-3000:]
