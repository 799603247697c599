"""House rule 11: ruff (lint + format) and mypy run with the test suite, so CI runs them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["driftline", "flows", "tasks", "models", "monitoring", "data_contracts", "mlflow_server"]


@pytest.mark.static
@pytest.mark.parametrize(
    "argv",
    [
        ["ruff", "check", "--no-cache", *SOURCES, "tests", "benchmarks"],
        ["ruff", "format", "--no-cache", "--check", *SOURCES, "tests", "benchmarks"],
        ["mypy", *SOURCES],
        ["mypy", "--strict", "driftline/core", "driftline/store", "driftline/services"],
    ],
    ids=["ruff-check", "ruff-format", "mypy", "mypy-strict-core-store-services"],
)
def test_static_checks_pass(argv: list[str]) -> None:
    tool = shutil.which(argv[0])
    assert tool, f"{argv[0]} is a dev dependency and must be installed"
    done = subprocess.run([tool, *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
