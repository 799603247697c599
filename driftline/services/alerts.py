"""Routed alerts: every alert is stored, repeats within a cooldown are held back, the rest are
delivered by severity to the configured routes (`driftline.ops.alert_routes`, apprise underneath).

`emit` is what flows call. It never raises: a batch must not fail because Slack is down or the
alert could not be written; the outcome says what happened instead. Route URLs are templates whose
`${ENV_VAR}` parts are expanded at send time; the expanded URL is never logged or stored.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from driftline.core.config import AlertsConfig, Severity
from driftline.ops import notify
from driftline.ops.alert_routes import RouteDelivery, Sender, all_secrets, deliver, mask
from driftline.store.state import StateStore

if TYPE_CHECKING:
    from driftline.services.workspace import Workspace

logger = logging.getLogger(__name__)

# Event kinds -----------------------------------------------------------------------------------
QUARANTINE = "quarantine"  # a batch broke a blocking contract rule
QUARANTINE_STREAK = "quarantine_streak"  # the same rule blocked batch after batch
DRIFT_TRIGGER = "drift_trigger"  # drift asked for a retrain
PERFORMANCE_DROP = "performance_drop"  # realized metric fell below the tolerance
GATE_PROMOTE = "gate_promote"  # a challenger became champion
GATE_REJECT = "gate_reject"  # the gate kept the champion
RETRAIN_FAILED = "retrain_failed"  # a retrain crashed
CHAMPION_INTEGRITY = "champion_integrity"  # the champion cannot be loaded or is not what was promoted
LATENCY_BREACH = "latency_breach"  # scoring latency above its limit
REVIEW_CAPACITY = "review_capacity"  # the review queue was full: open items expired unanswered
FAIRNESS_BREACH = "fairness_breach"  # a sensitive column's group disparity above its limit
ATTRIBUTION_DRIFT = "attribution_drift"  # the champion relies on other features than in training
TEST = "test"  # `driftline alerts test`

INFO: Severity = "info"
WARNING: Severity = "warning"
CRITICAL: Severity = "critical"
SEVERITY_RANK: dict[str, int] = {INFO: 0, WARNING: 1, CRITICAL: 2}

# Every kind with the severity it has unless the caller says otherwise.
DEFAULT_SEVERITY: dict[str, Severity] = {
    QUARANTINE: WARNING,
    QUARANTINE_STREAK: CRITICAL,
    DRIFT_TRIGGER: WARNING,
    PERFORMANCE_DROP: WARNING,
    GATE_PROMOTE: INFO,
    GATE_REJECT: INFO,
    RETRAIN_FAILED: CRITICAL,
    CHAMPION_INTEGRITY: CRITICAL,
    LATENCY_BREACH: WARNING,
    REVIEW_CAPACITY: WARNING,
    FAIRNESS_BREACH: WARNING,
    ATTRIBUTION_DRIFT: WARNING,
    TEST: INFO,
}
KINDS = tuple(DEFAULT_SEVERITY)

# Statuses of a stored alert.
PENDING, DELIVERED, PARTIAL, FAILED = "pending", "delivered", "partial", "failed"
STORED = "stored"  # no route takes this severity (or none configured): stored and logged only
SUPPRESSED = "suppressed"  # a repeat within the cooldown: stored, counted in the next digest
ERROR = "error"  # emit itself failed (e.g. the state database); nothing may be stored
# An alert with one of these statuses starts a cooldown; a failed one does not, so the next
# repeat tries again.
OPENS_COOLDOWN = (DELIVERED, PARTIAL, STORED)

_LOG_LEVEL = {INFO: logging.INFO, WARNING: logging.WARNING, CRITICAL: logging.ERROR}


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One event worth telling someone about; `severity` defaults from the kind.

    Raises:
        ValueError: an unknown kind or severity.
    """

    kind: str
    severity: Severity | None = None
    subject: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in DEFAULT_SEVERITY:
            raise ValueError(f"unknown alert kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.severity is None:
            object.__setattr__(self, "severity", DEFAULT_SEVERITY[self.kind])
        elif self.severity not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {self.severity!r}; known: {', '.join(SEVERITY_RANK)}")

    @property
    def level(self) -> Severity:
        """The resolved severity."""
        return cast(Severity, self.severity)


@dataclass(frozen=True)
class AlertOutcome:
    """What `emit` did with an alert."""

    alert_id: int | None
    status: str
    dedup_key: str
    repeats: int = 0  # suppressed repeats reported in this alert's digest line
    deliveries: tuple[RouteDelivery, ...] = ()
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status in (DELIVERED, PARTIAL)


def dedup_key(project: str, alert: Alert) -> str:
    """Alerts with the same key are repeats of one another: `project:kind:subject`."""
    return f"{project}:{alert.kind}:{alert.subject}"


def emit(
    ws: Workspace,
    alert: Alert,
    *,
    now: datetime | None = None,
    send: Sender = notify.send,
    sleep: Callable[[float], None] = time.sleep,
) -> AlertOutcome:
    """Store an alert and deliver it to the routes that take its severity, unless it repeats one
    sent within the cooldown (then it is stored as suppressed and counted in the next digest).

    Args:
        ws: the project's workspace (its config's `alerts` section and its state store).
        alert: what happened.
        now: the time of the alert (default: now); injectable for tests.
        send: the notifier; sleep: the pause between retries (both injectable).

    Returns:
        An `AlertOutcome`. Never raises: a failure to store or deliver is in the outcome and the log.
    """
    key = dedup_key(ws.config.project, alert)
    settings = ws.config.alerts
    try:
        state = ws.state
        at = (now or datetime.now(UTC)).astimezone(UTC)
        opener = state.last_alert(key, statuses=OPENS_COOLDOWN)
        cooldown = timedelta(minutes=settings.cooldown_minutes)
        if opener and datetime.fromisoformat(opener["time"]) > at - cooldown:
            alert_id = _record(state, alert, project=ws.config.project, key=key, at=at, status=SUPPRESSED)
            logger.info("alert %s suppressed: one was sent at %s (cooldown)", key, opener["time"])
            return AlertOutcome(alert_id, SUPPRESSED, key)
        repeats = state.count_alerts(key, status=SUPPRESSED, after_id=opener["id"]) if opener else 0
        since = opener["time"] if opener and repeats else None
        rank = SEVERITY_RANK[alert.level]
        routes = [r.url for r in settings.routes if SEVERITY_RANK[r.min_severity] <= rank]
        return _record_and_deliver(
            state,
            alert,
            ws.config.project,
            settings,
            routes,
            at=at,
            repeats=repeats,
            since=since,
            send=send,
            sleep=sleep,
        )
    except Exception as e:  # alerting must never fail the caller
        error = mask(f"{type(e).__name__}: {e}", secrets=all_secrets(r.url for r in settings.routes))
        logger.error("alert %s could not be stored or delivered: %s", key, error)
        return AlertOutcome(None, ERROR, key, error=error)


def send_test(
    ws: Workspace,
    *,
    now: datetime | None = None,
    send: Sender = notify.send,
    sleep: Callable[[float], None] = time.sleep,
) -> AlertOutcome:
    """Send a test alert through every route, whatever its `min_severity`, with no cooldown.

    Returns:
        An `AlertOutcome` with one `RouteDelivery` per configured route, in config order.
    """
    alert = Alert(
        kind=TEST,
        subject="route check",
        message="A test alert from `driftline alerts test`: this route delivers Driftline's alerts.",
    )
    settings = ws.config.alerts
    at = (now or datetime.now(UTC)).astimezone(UTC)
    return _record_and_deliver(
        ws.state,
        alert,
        ws.config.project,
        settings,
        [r.url for r in settings.routes],
        at=at,
        repeats=0,
        since=None,
        send=send,
        sleep=sleep,
    )


def _record(state: StateStore, alert: Alert, *, project: str, key: str, at: datetime, **values: Any) -> int:
    return state.record_alert(
        time=at.isoformat(timespec="seconds"),
        project=project,
        kind=alert.kind,
        severity=alert.level,
        subject=alert.subject,
        dedup_key=key,
        message=alert.message,
        # NaN and numpy values from drift or metrics must not make the alert unstorable.
        details=json.loads(json.dumps(dict(alert.details), default=str), parse_constant=lambda _: None),
        suppressed=values.get("status") == SUPPRESSED,
        **values,
    )


def _record_and_deliver(
    state: StateStore,
    alert: Alert,
    project: str,
    settings: AlertsConfig,
    routes: list[str],
    *,
    at: datetime,
    repeats: int,
    since: str | None,
    send: Sender,
    sleep: Callable[[float], None],
) -> AlertOutcome:
    key = dedup_key(project, alert)
    alert_id = _record(
        state, alert, project=project, key=key, at=at, status=PENDING, repeats=repeats, repeats_since=since
    )
    digest = f"{repeats} repeat{'s' if repeats != 1 else ''} suppressed since {since}" if repeats else ""
    logger.log(
        _LOG_LEVEL[alert.level],
        "ALERT %s %s: %s",
        alert.level,
        key,
        " ".join(filter(None, [alert.message, digest])),
    )
    if not routes:
        state.mark_alert_delivery(
            alert_id, status=STORED, delivered=False, attempts=0, last_error=None, deliveries=[]
        )
        return AlertOutcome(alert_id, STORED, key, repeats=repeats)
    title = f"[{project}] {alert.level.upper()} {alert.kind}: {alert.subject}"
    body = render_body(alert, digest=digest)
    results = tuple(
        deliver(
            url,
            title=title,
            body=body,
            severity=alert.level,
            retries=settings.retries,
            retry_wait_seconds=settings.retry_wait_seconds,
            timeout_seconds=settings.timeout_seconds,
            send=send,
            sleep=sleep,
        )
        for url in routes
    )
    ok = [r.ok for r in results]
    status = DELIVERED if all(ok) else PARTIAL if any(ok) else FAILED
    errors = [f"{r.route}: {r.error}" for r in results if not r.ok]
    last_error = "; ".join(errors) or None
    state.mark_alert_delivery(
        alert_id,
        status=status,
        delivered=any(ok),
        attempts=sum(r.attempts for r in results),
        last_error=last_error,
        deliveries=[asdict(r) for r in results],
    )
    if errors:
        logger.warning("alert %s not delivered: %s", key, last_error)
    return AlertOutcome(alert_id, status, key, repeats=repeats, deliveries=results, error=last_error)


def render_body(alert: Alert, *, digest: str = "") -> str:
    """The message text: the alert's message, the digest line, then its details."""
    lines = [alert.message]
    if digest:
        lines.append(digest)
    if alert.details:
        lines.append("")
        for name, value in alert.details.items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            lines.append(f"{name}: {text}")
    return "\n".join(lines)
