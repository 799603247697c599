"""The notifier adapter: the one module that talks to apprise.

One call sends one message to one apprise URL, once, and says how it went as our own `Delivery`;
retries, routing and the masking of secrets belong to `driftline.services.alerts`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

# Our severities as apprise notification types (apprise has no "critical": "failure" is its reddest).
_NOTIFY_TYPES = {"info": "info", "warning": "warning", "critical": "failure"}
# Loggers that print what apprise sends to (its debug log prints the loaded URL, header values
# included; urllib3's prints request paths, where webhook tokens live).
_LIBRARY_LOGGERS = ("apprise", "urllib3.connectionpool")


@dataclass(frozen=True)
class Delivery:
    """The outcome of one delivery attempt; `error` is apprise's own words when it failed."""

    ok: bool
    error: str | None = None


def send(
    url: str,
    *,
    title: str,
    body: str,
    severity: str,
    timeout_seconds: float,
    secrets: Sequence[str] = (),
) -> Delivery:
    """Send one message to one apprise URL, one attempt.

    Args:
        url: an apprise URL, secrets already expanded (never logged here).
        title: the message title (mail subject, JSON "title").
        body: the message text.
        severity: "info", "warning" or "critical".
        timeout_seconds: limit of the whole attempt, also the socket connect and read timeout unless
            the URL sets its own (`cto=`, `rto=`).
        secrets: values masked in the library log records made while it works.

    Returns:
        A `Delivery`; this function does not raise for a service that is down or misconfigured.
    """
    with _redacted(secrets):
        return _send(url, title=title, body=body, severity=severity, timeout_seconds=timeout_seconds)


def _send(url: str, *, title: str, body: str, severity: str, timeout_seconds: float) -> Delivery:
    # Deferred: apprise loads only when a notification is sent.
    import apprise

    try:
        service = apprise.Apprise.instantiate(url)
    except Exception as e:  # a plugin that cannot be built is a failed delivery
        return Delivery(False, f"not a usable apprise URL ({type(e).__name__})")
    if service is None:
        return Delivery(False, "not a usable apprise URL (unknown scheme or missing parts)")
    if "cto=" not in url:
        service.socket_connect_timeout = timeout_seconds
    if "rto=" not in url:
        service.socket_read_timeout = timeout_seconds
    manager = apprise.Apprise()
    manager.add(service)
    try:
        result = manager.notify(
            body=body, title=title, notify_type=_NOTIFY_TYPES[severity], timeout=timeout_seconds
        )
    except Exception as e:  # apprise raises for a bad argument; still a failed delivery
        return Delivery(False, f"{type(e).__name__}: {e}")
    if result:
        return Delivery(True)
    said = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    return Delivery(False, "; ".join(dict.fromkeys(said)) or f"apprise reported {result.status.name}")


class _Redact(logging.Filter):
    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        forms = {form for s in secrets if s for form in (s, quote(s, safe=""))}
        self.secrets = sorted(forms, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        text = clean = record.getMessage()
        for secret in self.secrets:
            clean = clean.replace(secret, "***")
        if clean != text:
            record.msg, record.args = clean, None
        return True


@contextmanager
def _redacted(secrets: Sequence[str]) -> Iterator[None]:
    """Mask secrets in what the library loggers record meanwhile (apprise's captured logs too)."""
    redact = _Redact(secrets)
    loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    for logger in loggers:
        logger.addFilter(redact)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(redact)
