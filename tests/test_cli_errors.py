"""Routine mistakes get one line that names the file and what is wrong, never a traceback.

The real `driftline` command in a subprocess, on cases that need no flow run (fast tier); the
cases that run flows are in tests/test_cli.py and tests/reliability.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

DRIFTLINE = shutil.which("driftline")
CONFIG = "project: p\ndata:\n  target: y\nstorage:\n  database_url: sqlite:///state.db\n"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run([DRIFTLINE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def corrupt_db(root: Path) -> None:
    (root / "driftline.yaml").write_text(CONFIG)
    (root / "state.db").write_text("not a database")


def config_only(root: Path) -> None:
    (root / "driftline.yaml").write_text(CONFIG)
    (root / "adir.csv").mkdir()


def broken_yaml(root: Path) -> None:
    (root / "driftline.yaml").write_text("project: [unclosed\n")


CASES = [
    ("corrupt state db", corrupt_db, ["status"], 1, ["state.db", "not a readable Driftline state database"]),
    ("ingest a directory", config_only, ["ingest", "adir.csv"], 2, ["adir.csv: is a directory"]),
    ("ingest a missing file", config_only, ["ingest", "nope.csv"], 2, ["nope.csv: file not found"]),
    ("labels from a directory", config_only, ["labels", "adir.csv"], 2, ["adir.csv: is a directory"]),
    ("no config", lambda root: None, ["status"], 2, ["driftline.yaml", "no config file"]),
    ("broken yaml", broken_yaml, ["status"], 2, ["driftline.yaml"]),
]


@pytest.mark.parametrize(
    ("setup", "args", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_routine_error_is_one_line_without_a_traceback(tmp_path, setup, args, code, words):
    setup(tmp_path)
    done = run(*args, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    message = " ".join(done.stderr.split())  # rich wraps long lines on narrow terminals
    assert message.startswith("error:"), done.stderr
    for word in words:
        assert word in message
    if (tmp_path / "state.db").exists() and setup is corrupt_db:
        assert (tmp_path / "state.db").read_text() == "not a database"  # nothing overwritten


def test_debug_shows_the_traceback(tmp_path):
    corrupt_db(tmp_path)
    done = run("--debug", "status", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" in done.stderr and "StateError" in done.stderr


def test_config_show_creates_nothing_and_masks_passwords(tmp_path):
    (tmp_path / "driftline.yaml").write_text(
        CONFIG.replace("sqlite:///state.db", "postgresql://bob:s3cr3t@db.example:5432/drift")
    )
    done = run("config", "show", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "s3cr3t" not in done.stdout and "postgresql://bob:***@db.example:5432/drift" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["driftline.yaml"]


READ_ONLY = [
    ["status"],
    ["status", "--json"],
    ["models"],
    ["alerts"],
    ["contract", "review"],
    ["review", "list"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_commands_on_a_fresh_clone_create_nothing(tmp_path, args):
    # A project repository as cloned: the config is in git, the stores (.driftline/) are not.
    (tmp_path / "driftline.yaml").write_text("project: p\ndata:\n  target: y\n")
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "nothing here yet" in done.stdout or '"exists": false' in done.stdout, done.stdout
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["driftline.yaml"]
