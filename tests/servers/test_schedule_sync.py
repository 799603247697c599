"""The retrain schedule round trip while the servers run: CLI ↔ driftline.yaml ↔ Prefect UI."""

from __future__ import annotations

import pytest

from driftline.ops.schedule import RetrainSchedule, live_schedule, read_synced, read_yaml_schedule
from driftline.ops.servers import servers_dir
from tests.servers import (
    ServedProject,
    cli,
    deployment,
)

pytestmark = [pytest.mark.server, pytest.mark.slow]


def edit_in_ui(project: ServedProject, cron: str, timezone: str) -> None:
    """What the Prefect UI's schedule form sends: a PATCH of the deployment's schedule."""
    api = project.prefect
    dep = deployment(api, "retrain")
    schedule_id = dep["schedules"][0]["id"]
    api.call(
        "PATCH",
        f"/deployments/{dep['id']}/schedules/{schedule_id}",
        {"schedule": {"cron": cron, "timezone": timezone}},
    )


def test_set_writes_yaml_and_the_live_deployment(served_project: ServedProject) -> None:
    config = str(served_project.config_path)
    result = cli("schedule", "set", "0 5 * * 2", "--timezone", "Asia/Tokyo", "--config", config)
    assert result.exit_code == 0, result.output
    assert "Prefect deployment" in result.output
    wanted = RetrainSchedule("0 5 * * 2", "Asia/Tokyo")
    assert read_yaml_schedule(served_project.config_path) == wanted
    assert live_schedule(served_project.prefect) == wanted
    assert read_synced(servers_dir(served_project.cfg)) == wanted


def test_bad_cron_is_refused_and_changes_nothing(served_project: ServedProject) -> None:
    before = read_yaml_schedule(served_project.config_path)
    # Shape-valid, value-invalid: Prefect refuses it, before yaml is touched.
    result = cli("schedule", "set", "61 * * * *", "--config", str(served_project.config_path))
    assert result.exit_code == 2
    assert read_yaml_schedule(served_project.config_path) == before
    assert live_schedule(served_project.prefect) == before


def test_ui_edit_is_what_show_and_yaml_say_afterwards(served_project: ServedProject) -> None:
    edit_in_ui(served_project, "45 22 * * 5", "America/New_York")
    result = cli("schedule", "show", "--config", str(served_project.config_path))
    assert result.exit_code == 0, result.output
    assert "changed in the Prefect UI" in result.output
    assert "'45 22 * * 5' (America/New_York)" in result.output
    assert read_yaml_schedule(served_project.config_path) == RetrainSchedule(
        "45 22 * * 5", "America/New_York"
    )
    again = cli("schedule", "show", "--config", str(served_project.config_path))
    assert "changed" not in again.output  # settled: nothing left to reconcile


def test_hand_edit_of_yaml_is_applied_to_the_deployment(served_project: ServedProject) -> None:
    from driftline.ops.schedule import write_yaml_schedule

    wanted = RetrainSchedule("0 1 * * *", "UTC")
    write_yaml_schedule(served_project.config_path, wanted)  # as a text editor would
    result = cli("schedule", "show", "--config", str(served_project.config_path))
    assert "changed in driftline.yaml" in result.output
    assert live_schedule(served_project.prefect) == wanted


def test_clear_removes_the_schedule_everywhere_then_set_restores_it(served_project: ServedProject) -> None:
    config = str(served_project.config_path)
    assert cli("schedule", "clear", "--config", config).exit_code == 0
    assert live_schedule(served_project.prefect) == RetrainSchedule(None)
    assert deployment(served_project.prefect, "retrain")["schedules"] == []
    assert (
        cli("schedule", "set", "15 4 * * 1", "--timezone", "Europe/Paris", "--config", config).exit_code == 0
    )
    assert live_schedule(served_project.prefect) == RetrainSchedule("15 4 * * 1", "Europe/Paris")
