"""Test-suite entry point: the process environment is set before any library is imported."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from driftline.core.env import apply_process_env
from driftline.ops.local_api import IDLE_ENV

apply_process_env()
# The CLI tests' projects each get a shared local Prefect API (driftline.ops.local_api): let it stop
# soon after the test's last command instead of 5 minutes later.
os.environ.setdefault(IDLE_ENV, "30")

import pytest  # noqa: E402

from tests.fixtures_servers import mlflow_server_url  # noqa: E402,F401 - shared real-server fixture
from tests.servers import served_project  # noqa: E402,F401 - `driftline up` on a small demo project

FULL_TIER_MARKERS = ("slow", "server", "browser", "static")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--tier",
        choices=("fast", "full"),
        default="fast",
        help="fast (default): unit and service tests, well under 90 s; "
        f"full: also the tiers marked {', '.join(FULL_TIER_MARKERS)} (what CI runs).",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fast tier deselects every test carrying a full-tier marker; `--tier full` keeps all."""
    if config.getoption("--tier") == "full":
        return
    keep, drop = [], []
    for item in items:
        (drop if any(item.get_closest_marker(m) for m in FULL_TIER_MARKERS) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def prefect_harness():
    """Prefect's real engine on a temporary database, shared by the flow tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the local Prefect APIs that this session's projects started (they would stop when
    idle; this keeps a test run from leaving servers behind for that long)."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    base = str(factory.getbasetemp().resolve()).encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"driftline.ops.local_api" in argv and any(a.startswith(base) for a in argv):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGTERM)
