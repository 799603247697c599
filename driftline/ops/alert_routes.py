"""One alert route: its URL template (`${ENV_VAR}` parts expanded at send time), the masking of
credentials in any text that might show it, and delivery to it with retries."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from driftline.core.config import ENV_REFERENCE
from driftline.ops import notify

MASK = "***"
# Literal (not ${ENV}) URL parts masked wherever a route is shown: a password in the user part,
# secret-looking query values, and long token-like runs (Slack, Telegram and Discord tokens).
_USER_PASSWORD = re.compile(r"^[^:/]+://[^:@/]*:([^@/]+)@")
_SECRET_QUERY = re.compile(r"[?&](?:[a-z_]*(?:pass|token|secret|key|auth)[a-z_]*|pw)=([^&#]+)", re.I)
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-]{20,}")
_HOLE = "\x00"  # stands for a ${NAME} part while literal secrets are looked for


class Sender(Protocol):
    """The notifier port (`driftline.ops.notify.send` is the real one)."""

    def __call__(
        self,
        url: str,
        *,
        title: str,
        body: str,
        severity: str,
        timeout_seconds: float,
        secrets: Sequence[str] = (),
    ) -> notify.Delivery: ...


@dataclass(frozen=True)
class RouteDelivery:
    """How one route took an alert; `route` and `error` have every secret masked."""

    route: str
    ok: bool
    attempts: int
    error: str | None = None


def deliver(
    template: str,
    *,
    title: str,
    body: str,
    severity: str,
    retries: int,
    retry_wait_seconds: float,
    timeout_seconds: float,
    send: Sender = notify.send,
    sleep: Callable[[float], None] = time.sleep,
    environ: Mapping[str, str] = os.environ,
) -> RouteDelivery:
    """Deliver to one route: expand its `${ENV}` parts, try `1 + retries` times. Never raises."""
    label = route_label(template)
    try:
        url, values = expand_url(template, environ)
    except KeyError as e:
        return RouteDelivery(label, False, 0, f"environment variable {e.args[0]} is not set")
    secrets = [*values, *literal_secrets(template)]
    attempts, error = 0, None
    for attempt in range(retries + 1):
        if attempt:
            sleep(retry_wait_seconds)
        attempts += 1
        try:
            outcome = send(
                url,
                title=title,
                body=body,
                severity=severity,
                timeout_seconds=timeout_seconds,
                secrets=secrets,
            )
        except Exception as e:  # a notifier bug is a failed delivery, not a crash
            outcome = notify.Delivery(False, f"{type(e).__name__}: {e}")
        if outcome.ok:
            return RouteDelivery(label, True, attempts)
        error = outcome.error
    scrubbed = (error or "delivery failed").replace(url, label)
    return RouteDelivery(label, False, attempts, mask(scrubbed, secrets=secrets))


def expand_url(template: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace each `${NAME}` by the environment variable's value.

    Returns:
        The URL and the values put in (to mask wherever text might show them).

    Raises:
        KeyError: naming a variable that is not set.
    """
    values: list[str] = []

    def _value(match: re.Match[str]) -> str:
        values.append(environ[match.group(1)])
        return values[-1]

    return ENV_REFERENCE.sub(_value, template), values


def mask(text: str, *, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced by `***` (longest first)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def route_label(template: str) -> str:
    """A route as it may be shown: `${NAME}` parts as written, literal credentials masked."""
    return mask(template, secrets=literal_secrets(template))


def literal_secrets(template: str) -> list[str]:
    """Credentials written into the URL itself rather than as `${NAME}`."""
    literal = ENV_REFERENCE.sub(_HOLE, template)
    matches = [_USER_PASSWORD.match(literal), *_SECRET_QUERY.finditer(literal)]
    found = [m.group(1) for m in matches if m] + _TOKEN_LIKE.findall(literal)
    return [part for value in found for part in value.split(_HOLE) if part]


def all_secrets(templates: Iterable[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    """Every secret the routes hold, literal or from the environment (to mask any text)."""
    found: list[str] = []
    for template in templates:
        found += literal_secrets(template)
        found += [environ.get(name, "") for name in ENV_REFERENCE.findall(template)]
    return found
