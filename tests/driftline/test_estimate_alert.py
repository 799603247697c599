"""An estimated drop beyond the policy's tolerance is alerted before any label confirms it."""

from __future__ import annotations

from driftline.core.config import parse_config
from driftline.core.names import Tag
from driftline.services import alerts
from driftline.services.batch_alerts import alert_estimate as _alert_estimate
from driftline.services.project import ProjectFacts
from driftline.services.workspace import Workspace
from mlflow_server.registry import VersionInfo
from monitoring.estimate import Estimate

FACTS = ProjectFacts("binary", ("x",), (), "auc", True, "1", classes=("0", "1"))


def workspace(tmp_path) -> Workspace:
    raw = {"project": "shop", "data": {"target": "y"}, "storage": {"root": str(tmp_path)}}
    return Workspace(parse_config(raw, base_dir=tmp_path))


def champion(metric: str, **tags: str) -> VersionInfo:
    return VersionInfo("4", "run", ("champion",), {"driftline.holdout_metric": metric, **tags}, 0)


def test_an_estimated_drop_beyond_tolerance_alerts_and_a_small_one_does_not(tmp_path):
    ws = workspace(tmp_path)
    _alert_estimate(ws, FACTS, champion("0.85"), Estimate(0.84, "auc", 500, "cbpe"), batch_id="b1")
    assert ws.state.list_alerts() == []  # 1.2% < the default 2% tolerance
    _alert_estimate(ws, FACTS, champion("0.85"), Estimate(0.70, "auc", 500, "cbpe"), batch_id="b2")
    [row] = ws.state.list_alerts(kind=alerts.PERFORMANCE_DROP)
    assert (
        row["subject"] == "estimated"
        and "estimated auc 0.700 is 18% worse than v4's holdout 0.850" in row["message"]
    )


def test_no_alert_without_a_value_or_against_the_trivial_baseline(tmp_path):
    ws = workspace(tmp_path)
    _alert_estimate(ws, FACTS, champion("0.85"), Estimate(None, "auc", 500, "not_estimated"), batch_id="b1")
    _alert_estimate(
        ws, FACTS, champion("0.85", **{Tag.TRIVIAL: "true"}), Estimate(0.5, "auc", 5, "cbpe"), batch_id="b2"
    )
    assert ws.state.list_alerts() == []
