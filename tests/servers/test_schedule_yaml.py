"""The retrain schedule without servers: validation, the yaml edit, the three-way decision."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from driftline.core.config import load_config
from driftline.ops.schedule import (
    RetrainSchedule,
    ScheduleError,
    read_synced,
    read_yaml_schedule,
    reconcile,
    set_schedule,
    sync_schedule,
    write_synced,
    write_yaml_schedule,
)

CONFIG = """\
# Driftline project (comments must survive schedule edits)
project: demo
data:
  target: y   # the label
policy:
  drift_k: 2  # two of the last three
  schedule_timezone: UTC
window:
  batches: 3
"""
A = RetrainSchedule("0 3 * * 1", "Europe/Paris")
B = RetrainSchedule("30 6 * * *", "UTC")
C = RetrainSchedule("0 0 1 * *", "UTC")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "driftline.yaml"
    path.write_text(CONFIG)
    return path


@pytest.mark.parametrize(
    ("cron", "timezone", "fragment"),
    [
        ("0 3 * *", "UTC", "5 fields"),
        ("every monday", "UTC", "5 fields"),
        ("0 3 * * 1", "Mars/Olympus", "IANA"),
    ],
)
def test_invalid_values_name_what_is_wrong(cron: str, timezone: str, fragment: str) -> None:
    with pytest.raises(ScheduleError, match=fragment):
        RetrainSchedule(cron, timezone)


def test_valid_values_are_normalised() -> None:
    assert RetrainSchedule("0  3 * *   1").cron == "0 3 * * 1"
    assert RetrainSchedule("@daily").cron == "@daily"
    assert RetrainSchedule(None).describe() == "no schedule"


def test_yaml_edit_keeps_comments_and_other_keys(config: Path) -> None:
    write_yaml_schedule(config, A)
    text = config.read_text()
    assert "# Driftline project (comments must survive schedule edits)" in text
    assert "drift_k: 2  # two of the last three" in text
    assert "target: y   # the label" in text
    assert read_yaml_schedule(config) == A
    cfg = load_config(config)
    assert (cfg.policy.schedule_cron, cfg.policy.schedule_timezone, cfg.policy.drift_k) == (
        "0 3 * * 1",
        "Europe/Paris",
        2,
    )
    assert cfg.window.batches == 3

    write_yaml_schedule(config, RetrainSchedule(None))
    assert read_yaml_schedule(config) == RetrainSchedule(None)
    assert text.count("\n") == config.read_text().count("\n")  # replaced in place, not appended


def test_yaml_edit_adds_a_policy_section_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text("project: demo\ndata:\n  target: y\n")
    write_yaml_schedule(path, A)
    assert read_yaml_schedule(path) == A
    assert load_config(path).data.target == "y"


def test_flow_style_policy_is_rewritten_with_values_intact(tmp_path: Path) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text("project: demo\ndata: {target: y}\npolicy: {drift_k: 1, drift_m: 2}\n")
    write_yaml_schedule(path, B)
    raw = yaml.safe_load(path.read_text())
    assert raw["policy"] == {"drift_k": 1, "drift_m": 2, "schedule_cron": B.cron, "schedule_timezone": "UTC"}


@pytest.mark.parametrize(
    ("yaml_value", "live", "last", "action", "winner"),
    [
        (A, None, None, "push", A),  # no deployment yet: yaml's value will be applied
        (A, A, B, "none", A),  # agree
        (A, B, A, "pull", B),  # changed in the UI
        (B, A, A, "push", B),  # changed in yaml / `schedule set` while down
        (B, C, A, "conflict", B),  # both changed: the file of record wins, loudly
        (A, B, None, "conflict", A),  # never synced: the file of record wins
    ],
)
def test_reconcile_decides_which_side_changed(yaml_value, live, last, action, winner) -> None:  # type: ignore[no-untyped-def]
    decision = reconcile(yaml_value=yaml_value, live=live, last=last)
    assert (decision.action, decision.schedule) == (action, winner)
    if action == "conflict":
        assert live.describe() in decision.message  # the replaced UI value is named, not silently lost


def test_servers_down_set_and_show_touch_yaml_only(config: Path, tmp_path: Path) -> None:
    servers = tmp_path / "servers"
    assert set_schedule(config_path=config, servers_dir=servers, api=None, schedule=A) is False
    assert read_yaml_schedule(config) == A
    shown = sync_schedule(config_path=config, servers_dir=servers, api=None)
    assert (shown.action, shown.schedule) == ("none", A)
    assert read_synced(servers) is None
    write_synced(servers, B)
    assert read_synced(servers) == B
