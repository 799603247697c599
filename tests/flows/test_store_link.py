"""A lost or replaced mlflow.db or driftline.db is detected with a clear error and a way forward."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from driftline.services.workspace import Workspace
from driftline.store.store_link import PROJECT_ID, RELINK_ENV, StoreMismatchError
from tests.flows.project import build_project

pytestmark = pytest.mark.slow


def driftline(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [shutil.which("driftline") or "driftline", *args],
        cwd=cwd, env=base | (env or {}), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def project(prefect_harness, tmp_path):
    ws = build_project(tmp_path)
    return ws


def test_both_stores_carry_the_same_project_id(project):
    ws = project
    assert ws.state.get_meta(PROJECT_ID) == ws.registry.experiment_tag(PROJECT_ID)
    assert len(ws.state.get_meta(PROJECT_ID)) == 32


def test_a_lost_mlflow_db_is_detected_and_relinking_is_explicit(project):
    # A fresh process: this one's MLflow keeps the deleted file open through its cached store.
    ws = project
    (ws.root / "mlflow.db").unlink()
    done = driftline("status", cwd=ws.config.base_dir)
    message = " ".join(done.stderr.split())
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "holds none of the models the ledger names" in message and "mlflow.db was lost" in message
    assert f"{RELINK_ENV}=1" in message
    relinked = driftline("status", "--json", cwd=ws.config.base_dir, env={RELINK_ENV: "1"})
    assert relinked.returncode == 0, relinked.stderr
    assert driftline("status", cwd=ws.config.base_dir).returncode == 0  # linked from now on


def test_a_replaced_state_db_is_detected(project, tmp_path):
    ws = project
    db = ws.root / "driftline.db"
    shutil.move(db, tmp_path / "kept.db")
    with pytest.raises(StoreMismatchError, match="state database is empty.*driftline.db was lost"):
        Workspace(ws.config).registry  # noqa: B018
    shutil.move(tmp_path / "kept.db", db)
    Workspace(ws.config).registry  # noqa: B018 - the original pair opens again


def test_stores_of_two_projects_are_refused(project):
    ws = project
    ws.state.set_meta(PROJECT_ID, "f" * 32)
    with pytest.raises(StoreMismatchError, match="one of them was replaced"):
        Workspace(ws.config).registry  # noqa: B018
