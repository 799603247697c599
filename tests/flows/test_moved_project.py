"""A copied or moved project works in its new folder and never writes into the original."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from driftline.store.relocate import ROOT_KEY
from tests.flows.project import build_project, first_champion, write_batch

pytestmark = pytest.mark.slow


def driftline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [shutil.which("driftline") or "driftline", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def tree(root: Path) -> dict[str, tuple[int, int]]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def test_a_copied_project_writes_only_into_its_own_folder(prefect_harness, tmp_path):
    ws = build_project(tmp_path / "a")
    champion = first_champion(ws)
    original = ws.config.base_dir.resolve()
    copy = tmp_path / "b" / "proj"
    shutil.copytree(original, copy)
    before = tree(original)

    batch = write_batch(tmp_path / "batch.parquet", rows=1000, seed=11, start=20_000)
    done = driftline("ingest", str(batch), "--no-retrain", cwd=copy)
    assert done.returncode == 0, done.stderr
    assert "the project moved from" in " ".join(done.stderr.split())

    assert tree(original) == before, "the copy wrote into the original project"
    for db in (copy / ".driftline" / "driftline.db", copy / ".driftline" / "mlflow.db"):
        assert str(original).encode() not in db.read_bytes(), f"{db.name} still names the original folder"
    monitoring_runs = [p for p in (copy / ".driftline" / "mlartifacts").rglob("drift.html")]
    assert monitoring_runs, "the copy's monitoring run logged no drift report into the copy"

    # Moving the original away: the copy does not depend on it (champion loads, history reads).
    shutil.move(original, tmp_path / "a" / "gone")
    again = write_batch(tmp_path / "batch2.parquet", rows=1000, seed=12, start=21_000)
    done = driftline("ingest", str(again), "--no-retrain", "--json", cwd=copy)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    scoring = result["scoring"]
    assert scoring["rows_scored"] == 1000 and scoring["model_version"] == champion
    assert result["drift"]["report"].startswith(str(copy))
    assert "the project moved" not in done.stderr  # rewritten once, recorded


def test_the_state_records_the_folder_it_was_opened_in(prefect_harness, tmp_path):
    from driftline.store.relocate import relocate_project

    ws = build_project(tmp_path)
    assert relocate_project(ws.config) is None  # first record, nothing moved
    assert ws.state.get_meta(ROOT_KEY) == str(ws.root.resolve())


def test_read_only_commands_leave_an_existing_project_as_it_was(prefect_harness, tmp_path):
    ws = build_project(tmp_path)
    driftline("status", cwd=ws.config.base_dir)  # first open records the folder (one meta write)
    before = tree(ws.config.base_dir)
    for args in (["status"], ["models", "--json"], ["alerts"], ["contract", "review"], ["review", "list"]):
        done = driftline(*args, cwd=ws.config.base_dir)
        assert done.returncode == 0, (args, done.stderr)
    after = tree(ws.config.base_dir)
    assert sorted(set(after) - set(before)) == [], "a read-only command created files"
    changed = sorted(k for k in before if after.get(k) != before[k])
    assert changed == [], f"read-only commands changed {changed}"
