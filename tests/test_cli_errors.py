"""Routine mistakes get one line that names the file and what is wrong, never a traceback.

The real `driftline` command in a subprocess, on cases that need no flow run (fast tier); the
cases that run flows are in tests/test_cli.py and tests/reliability.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


def masked_config(root: Path) -> None:
    (root / "driftline.yaml").write_text(
        CONFIG.replace("sqlite:///state.db", "postgresql://bob:s3cr3t@db.example:5432/drift")
    )


def cloned(root: Path) -> None:
    # A project repository as cloned: the config is in git, the stores (.driftline/) are not.
    (root / "driftline.yaml").write_text("project: p\ndata:\n  target: y\n")


READ_ONLY = [
    ["status"],
    ["status", "--json"],
    ["models"],
    ["alerts"],
    ["contract", "review"],
    ["review", "list"],
]

Ran = tuple[Path, subprocess.CompletedProcess[str]]
RUNS: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    **{name: (setup, args) for name, setup, args, _code, _words in CASES},
    "debug": (corrupt_db, ["--debug", "status"]),
    "config show": (masked_config, ["config", "show"]),
    **{"read-only " + " ".join(args): (cloned, args) for args in READ_ONLY},
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """Every command above, run at once: each is a whole process that spends ~2 s importing, so
    the cores share the work (each in its own folder, with its own setup)."""
    roots = {}
    for k, (name, (setup, _args)) in enumerate(RUNS.items()):
        roots[name] = tmp_path_factory.mktemp(f"case{k}")
        setup(roots[name])
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        futures = {name: pool.submit(run, *RUNS[name][1], cwd=roots[name]) for name in RUNS}
        return {name: (roots[name], future.result()) for name, future in futures.items()}


@pytest.mark.parametrize(
    ("name", "code", "words"), [(c[0], c[3], c[4]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_routine_error_is_one_line_without_a_traceback(ran, name, code, words):
    root, done = ran[name]
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    message = " ".join(done.stderr.split())  # rich wraps long lines on narrow terminals
    assert message.startswith("error:"), done.stderr
    for word in words:
        assert word in message
    if RUNS[name][0] is corrupt_db:
        assert (root / "state.db").read_text() == "not a database"  # nothing overwritten


def test_debug_shows_the_traceback(ran):
    _root, done = ran["debug"]
    assert done.returncode == 1 and "Traceback" in done.stderr and "StateError" in done.stderr


def test_config_show_creates_nothing_and_masks_passwords(ran):
    root, done = ran["config show"]
    assert done.returncode == 0, done.stderr
    assert "s3cr3t" not in done.stdout and "postgresql://bob:***@db.example:5432/drift" in done.stdout
    assert sorted(p.name for p in root.iterdir()) == ["driftline.yaml"]


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_commands_on_a_fresh_clone_create_nothing(ran, args):
    root, done = ran["read-only " + " ".join(args)]
    assert done.returncode == 0, done.stderr
    assert "nothing here yet" in done.stdout or '"exists": false' in done.stdout, done.stdout
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in root.iterdir()) == ["driftline.yaml"]
