"""Routed alerts end to end: a real local HTTP receiver (apprise `json://`), a real local SMTP
server (aiosmtpd, apprise `mailto://`), the real state store; time is injected, never slept."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftline.core.config import ConfigError, DriftlineConfig, parse_config
from driftline.ops.alert_routes import route_label
from driftline.ops.notify import Delivery
from driftline.services import alerts
from driftline.services.alerts import Alert, emit
from driftline.services.workspace import Workspace
from driftline.store.state import StateStore
from tests.cli_runner import invoke

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A webhook endpoint: records every POST; answers 500 to the first `fail_first` of them."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def url(self, path: str, query: str = "") -> str:
        return f"json://127.0.0.1:{self.port}/{path}" + (f"?{query}" if query else "")

    def payloads(self, path: str | None = None) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests if path is None or r["path"] == f"/{path}"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    thread = threading.Thread(target=rx.server.serve_forever, daemon=True)
    thread.start()
    yield rx
    rx.server.shutdown()
    rx.server.server_close()


def workspace(tmp_path: Path, **alerts_section: Any) -> Workspace:
    section = {"retry_wait_seconds": 0, "timeout_seconds": 5, **alerts_section}
    cfg = parse_config(
        {
            "project": "shop",
            "data": {"target": "y"},
            "storage": {"root": str(tmp_path / "state")},
            "alerts": section,
        },
        base_dir=tmp_path,
    )
    return Workspace(cfg)


def quarantine(subject: str = "batch-1", **extra: Any) -> Alert:
    return Alert(
        kind=alerts.QUARANTINE,
        subject=subject,
        message=f"batch {subject} quarantined: 2 blocking rules failed",
        details={"rules": ["x1 not null", "x2 numeric"], "rows": 700, **extra},
    )


# --- the alert as data --------------------------------------------------------------------------


def test_every_kind_has_a_severity_and_an_alert_takes_it_by_default():
    assert alerts.DEFAULT_SEVERITY[alerts.QUARANTINE] == "warning"
    assert alerts.DEFAULT_SEVERITY[alerts.QUARANTINE_STREAK] == "critical"
    assert alerts.DEFAULT_SEVERITY[alerts.GATE_PROMOTE] == "info"
    assert alerts.DEFAULT_SEVERITY[alerts.RETRAIN_FAILED] == "critical"
    assert set(alerts.DEFAULT_SEVERITY.values()) <= set(alerts.SEVERITY_RANK)
    assert quarantine().severity == "warning"
    assert Alert(kind=alerts.QUARANTINE, severity="critical", subject="b", message="m").severity == "critical"
    with pytest.raises(ValueError, match="unknown alert kind 'quarantined'"):
        Alert(kind="quarantined", subject="b", message="m")
    with pytest.raises(ValueError, match="unknown severity 'fatal'"):
        Alert(kind=alerts.QUARANTINE, severity="fatal", subject="b", message="m")  # type: ignore[arg-type]


def test_config_section_defaults_and_precise_errors(tmp_path):
    cfg = parse_config({"project": "a", "data": {"target": "y"}}, base_dir=tmp_path)
    assert cfg.alerts.routes == [] and cfg.alerts.cooldown_minutes == 60 and cfg.alerts.retries == 2
    bad_level = {
        "project": "a",
        "data": {"target": "y"},
        "alerts": {"routes": [{"url": "json://h/x", "min_severity": "high"}]},
    }
    with pytest.raises(ConfigError, match=r"key 'alerts.routes.0.min_severity' has invalid value 'high'"):
        parse_config(bad_level, base_dir=tmp_path)
    bad_env = {"project": "a", "data": {"target": "y"}, "alerts": {"routes": [{"url": "json://h/${TOKEN"}]}}
    with pytest.raises(ConfigError, match=r"write an environment variable as \$\{NAME\}"):
        parse_config(bad_env, base_dir=tmp_path)


def test_readme_alerts_example_is_a_valid_config(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Alerts.*?```yaml\n(.*?)```", readme, re.S)
    assert block, "README has an Alerts section with a yaml example"
    cfg = parse_config(
        {"project": "a", "data": {"target": "y"}, **yaml.safe_load(block.group(1))}, base_dir=tmp_path
    )
    assert cfg.alerts.routes and any("${" in r.url for r in cfg.alerts.routes)


# --- delivery through real services -------------------------------------------------------------


def test_json_webhook_receives_kind_subject_message_and_details(tmp_path, receiver):
    ws = workspace(tmp_path, routes=[{"url": receiver.url("hook")}])
    outcome = emit(ws, quarantine(), now=T0)
    assert outcome.status == "delivered" and outcome.delivered
    assert [(d.ok, d.attempts) for d in outcome.deliveries] == [(True, 1)]
    [payload] = receiver.payloads("hook")
    assert payload["type"] == "warning"
    assert "quarantine" in payload["title"] and "batch-1" in payload["title"] and "[shop]" in payload["title"]
    assert "batch batch-1 quarantined: 2 blocking rules failed" in payload["message"]
    assert 'rules: ["x1 not null", "x2 numeric"]' in payload["message"]
    [row] = ws.state.list_alerts()
    assert row["status"] == "delivered" and row["delivered"] and row["attempts"] == 1
    assert row["dedup_key"] == "shop:quarantine:batch-1" and row["details"]["rows"] == 700


def test_mail_route_through_a_real_smtp_server_with_the_password_from_the_environment(tmp_path, monkeypatch):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    received: list[Message] = []
    logins: list[tuple[bytes, bytes]] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # aiosmtpd's name
            received.append(message_from_bytes(envelope.content))
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"mail-pass-42")

    port = free_port()
    smtp = Controller(
        Handler(), hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    smtp.start()
    try:
        monkeypatch.setenv("SMTP_PASSWORD", "mail-pass-42")
        url = (
            f"mailto://ops:${{SMTP_PASSWORD}}@example.com:{port}"
            "?smtp=127.0.0.1&mode=insecure&from=driftline@example.com&to=oncall@example.com&format=text"
        )
        ws = workspace(tmp_path, routes=[{"url": url, "min_severity": "critical"}])
        alert = Alert(kind=alerts.RETRAIN_FAILED, subject="retrain-7", message="retrain crashed: MemoryError")
        outcome = emit(ws, alert, now=T0)
    finally:
        smtp.stop()
    assert outcome.status == "delivered", outcome.error
    assert logins == [(b"ops", b"mail-pass-42")]
    [mail] = received
    assert mail["To"] == "oncall@example.com" and "driftline@example.com" in mail["From"]
    assert mail["Subject"] == "[shop] CRITICAL retrain_failed: retrain-7"
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes) and "retrain crashed: MemoryError" in body.decode()
    assert "mail-pass-42" not in json.dumps(ws.state.list_alerts())
    assert outcome.deliveries[0].route.startswith("mailto://ops:${SMTP_PASSWORD}@example.com")


def test_routes_take_alerts_from_their_min_severity_up(tmp_path, receiver):
    ws = workspace(
        tmp_path,
        routes=[
            {"url": receiver.url("everything"), "min_severity": "info"},
            {"url": receiver.url("pager"), "min_severity": "critical"},
        ],
    )
    emit(ws, Alert(kind=alerts.GATE_REJECT, subject="v3", message="gate kept v2"), now=T0)
    emit(ws, quarantine(), now=T0)
    emit(ws, Alert(kind=alerts.CHAMPION_INTEGRITY, subject="v2", message="champion will not load"), now=T0)
    assert [p["type"] for p in receiver.payloads("everything")] == ["info", "warning", "failure"]
    [paged] = receiver.payloads("pager")
    assert "champion will not load" in paged["message"]

    only_pager = workspace(
        tmp_path / "b", routes=[{"url": receiver.url("pager2"), "min_severity": "critical"}]
    )
    outcome = emit(only_pager, quarantine(), now=T0)
    assert outcome.status == "stored" and receiver.payloads("pager2") == []


def test_no_routes_means_stored_and_logged(tmp_path, caplog):
    ws = workspace(tmp_path)
    with caplog.at_level(logging.WARNING, logger="driftline.services.alerts"):
        outcome = emit(ws, quarantine(), now=T0)
    assert outcome.status == "stored" and outcome.alert_id is not None
    assert "ALERT warning shop:quarantine:batch-1: batch batch-1 quarantined" in caplog.text
    assert ws.state.list_alerts()[0]["status"] == "stored"


# --- repeats, cooldown and digest -----------------------------------------------------------------


def test_repeats_within_cooldown_are_suppressed_then_summarised_in_a_digest(tmp_path, receiver):
    ws = workspace(tmp_path, routes=[{"url": receiver.url("hook")}], cooldown_minutes=60)
    first = emit(ws, quarantine("b1"), now=T0)
    repeat1 = emit(ws, quarantine("b1"), now=T0 + timedelta(minutes=10))
    repeat2 = emit(ws, quarantine("b1"), now=T0 + timedelta(minutes=59))
    other = emit(ws, quarantine("b2"), now=T0 + timedelta(minutes=20))
    assert [first.status, repeat1.status, repeat2.status, other.status] == [
        "delivered", "suppressed", "suppressed", "delivered",
    ]  # fmt: skip
    assert len(receiver.payloads()) == 2 and "b2" in receiver.payloads()[1]["title"]

    after = emit(ws, quarantine("b1"), now=T0 + timedelta(minutes=61))
    assert after.status == "delivered" and after.repeats == 2
    digest = receiver.payloads()[-1]["message"]
    assert f"2 repeats suppressed since {T0.isoformat()}" in digest

    # The digest alert opens a new window: the next repeat is suppressed, and counted from there.
    assert emit(ws, quarantine("b1"), now=T0 + timedelta(minutes=70)).status == "suppressed"
    later = emit(ws, quarantine("b1"), now=T0 + timedelta(minutes=125))
    assert later.repeats == 1 and "1 repeat suppressed since" in receiver.payloads()[-1]["message"]

    rows = ws.state.list_alerts(limit=100, kind="quarantine")
    assert [r["status"] for r in rows].count("suppressed") == 3
    assert all(r["suppressed"] for r in rows if r["status"] == "suppressed")
    assert rows[0]["repeats"] == 1 and rows[0]["repeats_since"] == (T0 + timedelta(minutes=61)).isoformat()


def test_an_undelivered_alert_does_not_start_a_cooldown(tmp_path, receiver):
    dead = f"json://127.0.0.1:{free_port()}/down"
    ws = workspace(tmp_path, routes=[{"url": dead}], retries=0)
    assert emit(ws, quarantine(), now=T0).status == "failed"
    assert emit(ws, quarantine(), now=T0 + timedelta(minutes=1)).status == "failed"  # tried again


# --- failures never reach the caller --------------------------------------------------------------


def test_a_dead_route_is_retried_recorded_and_emit_returns(tmp_path, receiver):
    dead = f"json://127.0.0.1:{free_port()}/down"
    ws = workspace(tmp_path, routes=[{"url": dead}, {"url": receiver.url("alive")}], retries=2)
    outcome = emit(ws, quarantine(), now=T0)
    assert outcome.status == "partial" and outcome.delivered
    down, alive = outcome.deliveries
    assert (down.ok, down.attempts) == (False, 3) and (alive.ok, alive.attempts) == (True, 1)
    assert "Connection error" in (down.error or "")
    [row] = ws.state.list_alerts()
    assert row["attempts"] == 4 and row["status"] == "partial"
    assert row["last_error"].startswith(f"{dead}: ") and "Connection error" in row["last_error"]
    assert [d["ok"] for d in row["deliveries"]] == [False, True]

    only_dead = workspace(tmp_path / "b", routes=[{"url": dead}], retries=1)
    failed = emit(only_dead, quarantine(), now=T0)
    assert failed.status == "failed" and not failed.delivered and failed.deliveries[0].attempts == 2


def test_a_flaky_route_succeeds_on_retry(tmp_path, receiver):
    receiver.fail_first = 1
    ws = workspace(tmp_path, routes=[{"url": receiver.url("flaky")}], retries=2)
    outcome = emit(ws, quarantine(), now=T0)
    assert outcome.status == "delivered" and outcome.deliveries[0].attempts == 2
    assert len(receiver.requests) == 2


def test_unset_variable_unusable_url_and_broken_store_are_outcomes_not_exceptions(tmp_path, monkeypatch):
    monkeypatch.delenv("DRIFTLINE_NO_SUCH_TOKEN", raising=False)
    ws = workspace(
        tmp_path, routes=[{"url": "json://127.0.0.1/${DRIFTLINE_NO_SUCH_TOKEN}"}, {"url": "nope://x"}]
    )
    outcome = emit(ws, quarantine(), now=T0)
    assert outcome.status == "failed"
    unset, unusable = outcome.deliveries
    assert unset.error == "environment variable DRIFTLINE_NO_SUCH_TOKEN is not set" and unset.attempts == 0
    assert "not a usable apprise URL" in (unusable.error or "")

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cfg = workspace(tmp_path).config
    broken = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"root": blocker / "state"})})
    result = emit(Workspace(broken), quarantine(), now=T0)
    assert result.status == "error" and result.alert_id is None and result.error


# --- secrets ---------------------------------------------------------------------------------------


def test_secrets_from_the_environment_are_sent_but_never_stored_logged_or_shown(
    tmp_path, receiver, monkeypatch, caplog
):
    secret = "tok-5f3a9c1e77"
    monkeypatch.setenv("HOOK_TOKEN", secret)
    header_route = receiver.url("hook", "+X-Token=${HOOK_TOKEN}")

    def echoing_sender(url: str, **_: Any) -> Delivery:  # a notifier that repeats the URL it was given
        return Delivery(False, f"refused {url} (token {secret})")

    ws = workspace(tmp_path, routes=[{"url": header_route}])
    with caplog.at_level(logging.DEBUG):
        sent = emit(ws, quarantine("b1"), now=T0)
        echoed = emit(ws, quarantine("b2"), now=T0, send=echoing_sender)
    assert sent.status == "delivered"
    assert receiver.requests[0]["headers"]["X-Token"] == secret  # expanded at send time

    assert echoed.status == "failed"
    assert (
        echoed.deliveries[0].error == f"refused {receiver.url('hook', '+X-Token=${HOOK_TOKEN}')} (token ***)"
    )
    stored = json.dumps(ws.state.list_alerts())
    assert secret not in stored and "${HOOK_TOKEN}" in stored
    assert secret not in caplog.text


def test_literal_credentials_in_a_url_are_masked_when_shown():
    assert route_label("mailto://ops:hunter2@example.com?to=a@b.c") == "mailto://ops:***@example.com?to=a@b.c"
    assert route_label("json://h/x?token=abc&x=1") == "json://h/x?token=***&x=1"
    assert route_label("slack://T1234ABCD/B1234ABCD/abcdefghijklmnopqrstuvwx") == (
        "slack://T1234ABCD/B1234ABCD/***"
    )
    assert (
        route_label("mailto://ops:${SMTP_PASSWORD}@example.com")
        == "mailto://ops:${SMTP_PASSWORD}@example.com"
    )


# --- state and CLI -------------------------------------------------------------------------------


def test_an_existing_database_gets_the_alerts_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    StateStore(url).engine.dispose()
    store = StateStore(url)
    with store.engine.begin() as conn:
        # a database from before alerts existed (and before migrations: no alembic_version)
        conn.exec_driver_sql("DROP TABLE alerts")
        conn.exec_driver_sql("DROP TABLE alembic_version")
    reopened = StateStore(url)
    alert_id = reopened.record_alert(
        project="p", kind="quarantine", severity="warning", subject="s", dedup_key="p:quarantine:s",
        message="m", status="stored",
    )  # fmt: skip
    assert reopened.last_alert("p:quarantine:s")["id"] == alert_id  # type: ignore[index]


def cli(*args: str, cwd: Path) -> Any:
    """`driftline ...` in-process; the environment the command sets for itself is undone."""
    return invoke(*args, cwd=cwd)


def write_project(tmp_path: Path, alerts_section: dict[str, Any]) -> DriftlineConfig:
    raw = {"project": "shop", "data": {"target": "y"}, "alerts": {"retry_wait_seconds": 0, **alerts_section}}
    (tmp_path / "driftline.yaml").write_text(yaml.safe_dump(raw))
    return parse_config(raw, base_dir=tmp_path)


def test_cli_lists_alerts_as_json_and_filters_by_kind(tmp_path):
    cfg = write_project(tmp_path, {})
    ws = Workspace(cfg)
    emit(ws, quarantine("b1"), now=T0)
    emit(ws, Alert(kind=alerts.GATE_PROMOTE, subject="v4", message="v4 is champion"), now=T0)

    done = cli("alerts", "--json", cwd=tmp_path)
    assert done.exit_code == 0, done.output
    listed = json.loads(done.stdout)
    assert [(a["kind"], a["subject"], a["status"]) for a in listed] == [
        ("gate_promote", "v4", "stored"), ("quarantine", "b1", "stored"),
    ]  # fmt: skip
    assert listed[1]["details"]["rows"] == 700 and listed[1]["severity"] == "warning"

    only = json.loads(cli("alerts", "--kind", "quarantine", "--limit", "5", "--json", cwd=tmp_path).stdout)
    assert [a["subject"] for a in only] == ["b1"]
    text = cli("alerts", cwd=tmp_path)
    assert text.exit_code == 0 and "v4 is champion" in text.stdout
    wrong = cli("alerts", "--kind", "quarantined", cwd=tmp_path)
    assert wrong.exit_code == 2 and "not an alert kind" in wrong.output


def test_cli_test_reports_each_route_and_masks_secrets(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "tok-0a1b2c3d4e")
    dead = f"json://127.0.0.1:{free_port()}/down?+X-Token=${{HOOK_TOKEN}}"
    write_project(
        tmp_path,
        {"retries": 1, "routes": [{"url": receiver.url("hook"), "min_severity": "critical"}, {"url": dead}]},
    )
    done = cli("alerts", "test", cwd=tmp_path)
    assert done.exit_code == 1, done.output
    assert re.search(r"ok\s+json://127\.0\.0\.1:\d+/hook\s+\(1 attempt\)", done.stdout)
    assert "failed  json://127.0.0.1:" in done.stdout and "(2 attempts)" in done.stdout
    assert "tok-0a1b2c3d4e" not in done.output and "${HOOK_TOKEN}" in done.stdout
    [payload] = receiver.payloads("hook")  # sent although the route takes only critical alerts
    assert "test" in payload["title"]

    as_json = cli("alerts", "test", "--json", cwd=tmp_path)
    report = json.loads(as_json.stdout)
    assert report["status"] == "partial" and [d["ok"] for d in report["deliveries"]] == [True, False]

    write_project(tmp_path, {})
    none = cli("alerts", "test", cwd=tmp_path)
    assert none.exit_code == 2 and "no routes" in none.output
