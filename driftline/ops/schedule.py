"""The retrain schedule: one value kept in step between driftline.yaml and the Prefect deployment.

``driftline.yaml`` (``policy.schedule_cron`` / ``policy.schedule_timezone``) is the file of record.
The Prefect UI may change the live ``retrain`` deployment while the servers run; a three-way
comparison against the value both sides last agreed on (``<root>/servers/schedule.json``) tells
which side changed, so an edit made in either place is what the other shows afterwards:

    yaml == last, live != last  → the UI changed it: write it into yaml ("pull")
    live == last, yaml != last  → yaml or `schedule set` changed it: apply it live ("push")
    both changed, differently   → yaml wins, and the UI value it replaced is reported ("conflict")

The Prefect side goes through Prefect's own client (`SyncPrefectClient`), which also retries a
busy server's 502/503 (a SQLite-backed server answers 503 "database is locked").
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import yaml
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from pydantic import ValidationError

logger = logging.getLogger(__name__)

RETRAIN_FLOW = "retrain"
RETRAIN_DEPLOYMENT = "retrain"
SYNC_FILE = "schedule.json"
_API_TIMEOUT_S = 10.0
_CRON_ALIASES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"}
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?#LW-]+$")


class ScheduleError(ValueError):
    """A schedule value is invalid, or the Prefect API refused or failed a schedule call."""


@dataclass(frozen=True)
class RetrainSchedule:
    """A cron schedule for the retrain deployment; ``cron=None`` means no schedule."""

    cron: str | None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.cron is not None:
            object.__setattr__(self, "cron", " ".join(self.cron.split()))
            validate_cron(self.cron)
        validate_timezone(self.timezone)

    def describe(self) -> str:
        return f"'{self.cron}' ({self.timezone})" if self.cron else "no schedule"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_cron(cron: str) -> None:
    """Check the shape of a cron string (5 fields or an @alias); Prefect checks the values.

    Raises:
        ScheduleError: naming the string and what is expected.
    """
    fields = cron.split()
    if len(fields) == 1 and fields[0].lower() in _CRON_ALIASES:
        return
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ScheduleError(
            f"cron {cron!r} is not valid: expected 5 fields 'minute hour day month weekday' "
            f"(e.g. '0 3 * * 1') or one of {sorted(_CRON_ALIASES)}"
        )


def validate_timezone(timezone: str) -> None:
    """Raises ScheduleError unless ``timezone`` is an IANA name such as 'Europe/Paris'."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"timezone {timezone!r} is not an IANA time zone (e.g. 'UTC', 'Europe/Paris')"
        ) from None


# --- driftline.yaml ------------------------------------------------------------------------------


def read_yaml_schedule(config_path: Path) -> RetrainSchedule:
    """The schedule recorded in ``config_path`` (``policy.schedule_cron`` and ``_timezone``)."""

    raw = yaml.safe_load(Path(config_path).read_text()) or {}
    policy = raw.get("policy") or {}
    return RetrainSchedule(policy.get("schedule_cron"), policy.get("schedule_timezone") or "UTC")


def write_yaml_schedule(config_path: Path, schedule: RetrainSchedule) -> None:
    """Set the two schedule keys in ``config_path``, leaving every other line as it is.

    The edit is textual (comments and key order survive); if the ``policy`` section is written in a
    form the edit does not handle (flow style), the file is rewritten through PyYAML instead,
    which keeps the values but drops comments.
    """

    path = Path(config_path)
    text = path.read_text()
    values = {"schedule_cron": schedule.cron, "schedule_timezone": schedule.timezone}
    edited = _edit_policy_block(text, values)
    expected = yaml.safe_load(text) or {}
    expected.setdefault("policy", {})
    if expected["policy"] is None:
        expected["policy"] = {}
    expected["policy"].update(values)
    if edited is None or yaml.safe_load(edited) != expected:
        logger.warning("%s: policy section not in block style; rewriting the file (comments are lost)", path)
        edited = yaml.safe_dump(expected, sort_keys=False)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(edited)
    os.replace(tmp, path)


def _edit_policy_block(text: str, values: dict[str, str | None]) -> str | None:
    """Replace or insert ``key: value`` lines inside the top-level block ``policy:``."""
    lines = text.splitlines(keepends=True)
    rendered = {k: _yaml_scalar(v) for k, v in values.items()}
    start = next((i for i, line in enumerate(lines) if re.match(r"^policy:\s*(#.*)?$", line)), None)
    if start is None:
        if any(re.match(r"^policy\s*:", line) for line in lines):
            return None  # flow style or something unusual: let the caller rewrite
        tail = "" if not lines or lines[-1].endswith("\n") else "\n"
        block = "".join(f"  {k}: {v}\n" for k, v in rendered.items())
        return text + tail + "policy:\n" + block
    end, indent = start + 1, None
    while end < len(lines):
        line = lines[end]
        if line.strip() and not line.startswith((" ", "\t")) and not line.lstrip().startswith("#"):
            break
        if indent is None and line.strip() and not line.lstrip().startswith("#"):
            indent = line[: len(line) - len(line.lstrip())]
        end += 1
    indent = indent or "  "
    for key, value in rendered.items():
        pattern = re.compile(rf"^{re.escape(indent)}{key}\s*:(?P<rest>.*)$")
        for i in range(start + 1, end):
            match = pattern.match(lines[i].rstrip("\n"))
            if match:
                comment = re.search(r"\s+#[^'\"]*$", match["rest"])
                lines[i] = f"{indent}{key}: {value}{comment.group(0) if comment else ''}\n"
                break
        else:
            lines.insert(end, f"{indent}{key}: {value}\n")
            end += 1
    return "".join(lines)


def _yaml_scalar(value: str | None) -> str:
    """A single-quoted YAML scalar (cron strings start with '*' or '@', which plain YAML forbids)."""
    return "null" if value is None else "'" + value.replace("'", "''") + "'"


# --- the value both sides last agreed on ---------------------------------------------------------


def read_synced(servers_dir: Path) -> RetrainSchedule | None:
    """The schedule yaml and Prefect last agreed on, or None before the first sync."""
    try:
        raw = json.loads((servers_dir / SYNC_FILE).read_text())
        return RetrainSchedule(raw.get("cron"), raw.get("timezone") or "UTC")
    except (FileNotFoundError, ValueError, TypeError, AttributeError):
        return None


def write_synced(servers_dir: Path, schedule: RetrainSchedule) -> None:
    servers_dir.mkdir(parents=True, exist_ok=True)
    (servers_dir / SYNC_FILE).write_text(json.dumps(schedule.to_dict(), indent=2) + "\n")


@dataclass(frozen=True)
class Reconciliation:
    """What to do so yaml and Prefect show the same schedule, and why."""

    action: Literal["none", "push", "pull", "conflict"]
    schedule: RetrainSchedule
    message: str


def reconcile(
    *, yaml_value: RetrainSchedule, live: RetrainSchedule | None, last: RetrainSchedule | None
) -> Reconciliation:
    """Decide which side's schedule wins (see the module docstring).

    Args:
        yaml_value: what driftline.yaml says.
        live: what the Prefect deployment has (None: no deployment yet).
        last: what both last agreed on (None: never synced).
    """
    if live is None:
        return Reconciliation(
            "push", yaml_value, f"retrain schedule from driftline.yaml: {yaml_value.describe()}"
        )
    if live == yaml_value:
        return Reconciliation("none", yaml_value, f"retrain schedule: {yaml_value.describe()}")
    if last is not None and yaml_value == last:
        return Reconciliation(
            "pull",
            live,
            f"retrain schedule was changed in the Prefect UI to {live.describe()}; "
            "written into driftline.yaml",
        )
    if last is not None and live == last:
        return Reconciliation(
            "push",
            yaml_value,
            f"retrain schedule changed in driftline.yaml to {yaml_value.describe()}; "
            "applied to the Prefect deployment",
        )
    return Reconciliation(
        "conflict",
        yaml_value,
        f"retrain schedule differs: driftline.yaml has {yaml_value.describe()}, "
        f"the Prefect deployment had {live.describe()}; driftline.yaml is the file of record, so the "
        "deployment now uses the yaml value (run `driftline schedule set` to choose the other)",
    )


# --- the live deployment (Prefect's client) --------------------------------------------------------


class PrefectApi:
    """The Prefect server calls Driftline makes, through Prefect's client; ``api_url`` ends in
    ``/api``.

    ``auth_string`` (``user:secret``) is sent as HTTP basic auth, as with
    ``PREFECT_API_AUTH_STRING``, to a server started with an auth string. Every failure (an HTTP
    error after Prefect's retries, an unreachable server) is a ``ScheduleError`` naming the call.
    """

    def __init__(
        self, api_url: str, *, timeout: float = _API_TIMEOUT_S, auth_string: str | None = None
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.auth_string = auth_string

    @contextmanager
    def _client(self, what: str) -> Iterator[SyncPrefectClient]:
        # trust_env off: these are the project's own servers, never reached through a proxy.
        settings = {"timeout": self.timeout, "trust_env": False}
        try:
            with SyncPrefectClient(
                self.api_url, auth_string=self.auth_string, httpx_settings=settings
            ) as client:
                yield client
        except PrefectHTTPStatusError as err:  # ObjectNotFound (a 404 the client names) passes
            response = err.response
            detail = response.text[:300]
            raise ScheduleError(f"Prefect API {what}: HTTP {response.status_code} {detail}") from None
        except httpx.HTTPError as err:
            raise ScheduleError(f"Prefect API at {self.api_url} unreachable ({what}): {err}") from None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One JSON request to ``path`` under the API; the decoded body (None if empty, or on 404
        for GET). For calls Prefect's client has no method for."""
        with self._client(f"{method} {path}") as client:
            try:
                response = client.request(method, path, json=body)  # type: ignore[arg-type]
            except PrefectHTTPStatusError as err:
                if err.response.status_code == 404 and method == "GET":
                    return None
                raise
            return response.json() if response.content else None

    def deployment(self, flow: str, name: str) -> dict[str, Any] | None:
        """The deployment as the API returns it; None when there is none."""
        try:
            with self._client(f"read deployment {flow}/{name}") as client:
                return client.read_deployment_by_name(f"{flow}/{name}").model_dump(mode="json")
        except ObjectNotFound:
            return None

    def deployments(self) -> list[dict[str, Any]]:
        with self._client("read deployments") as client:
            return [d.model_dump(mode="json") for d in client.read_deployments(limit=200)]

    def resume(self, deployment_id: str) -> None:
        with self._client(f"resume deployment {deployment_id}") as client:
            client.resume_deployment(deployment_id)

    def set_cron(self, deployment: dict[str, Any], schedule: RetrainSchedule) -> None:
        """Give ``deployment`` exactly ``schedule``: its one schedule updated in place, or the old
        ones deleted and the new one (if any) created."""
        dep_id, existing = deployment["id"], deployment.get("schedules") or []
        cron = None if schedule.cron is None else _cron_schedule(schedule)
        with self._client(f"set the schedule of deployment {dep_id}") as client:
            if cron is not None and len(existing) == 1:
                client.update_deployment_schedule(dep_id, existing[0]["id"], active=True, schedule=cron)
                return
            for entry in existing:
                client.delete_deployment_schedule(dep_id, entry["id"])
            if cron is not None:
                client.create_deployment_schedules(
                    dep_id, [DeploymentScheduleCreate(schedule=cron, active=True)]
                )


def _cron_schedule(schedule: RetrainSchedule) -> CronSchedule:
    """Prefect's schedule object; a value it refuses (e.g. minute 61) is a ScheduleError."""
    try:
        return CronSchedule(cron=schedule.cron, timezone=schedule.timezone)
    except ValidationError as err:
        reason = err.errors()[0]["msg"] if err.errors() else str(err)
        raise ScheduleError(f"Prefect refuses the retrain schedule {schedule.cron!r}: {reason}") from None


def live_schedule(api: PrefectApi) -> RetrainSchedule | None:
    """The retrain deployment's cron schedule; None when the deployment does not exist yet.

    Only cron schedules can be written into driftline.yaml: another kind (interval, rrule) set in
    the UI is reported and ignored.
    """
    deployment = api.deployment(RETRAIN_FLOW, RETRAIN_DEPLOYMENT)
    if deployment is None:
        return None
    for entry in deployment.get("schedules") or []:
        spec = entry.get("schedule") or {}
        if spec.get("cron"):
            return RetrainSchedule(spec["cron"], spec.get("timezone") or "UTC")
        logger.warning("retrain deployment has a non-cron schedule %s; driftline keeps cron only", spec)
    return RetrainSchedule(None)


def apply_live_schedule(api: PrefectApi, schedule: RetrainSchedule) -> bool:
    """Make the retrain deployment carry exactly ``schedule``; False if it does not exist yet.

    Raises:
        ScheduleError: the API refused the schedule (e.g. a cron value it cannot parse).
    """
    deployment = api.deployment(RETRAIN_FLOW, RETRAIN_DEPLOYMENT)
    if deployment is None:
        return False
    api.set_cron(deployment, schedule)
    return True


def sync_schedule(*, config_path: Path, servers_dir: Path, api: PrefectApi | None) -> Reconciliation:
    """Bring yaml and the live deployment to one schedule and record it as the agreed value.

    With ``api=None`` (servers down) only yaml is read; nothing is recorded.
    """
    yaml_value = read_yaml_schedule(config_path)
    if api is None:
        return Reconciliation("none", yaml_value, f"retrain schedule: {yaml_value.describe()}")
    live = live_schedule(api)
    result = reconcile(yaml_value=yaml_value, live=live, last=read_synced(servers_dir))
    if result.action == "pull":
        write_yaml_schedule(config_path, result.schedule)
    elif result.action in ("push", "conflict") and live is not None:
        apply_live_schedule(api, result.schedule)
    if live is not None:
        write_synced(servers_dir, result.schedule)
    if result.action != "none":
        logger.info(result.message)
    return result


def set_schedule(
    *, config_path: Path, servers_dir: Path, api: PrefectApi | None, schedule: RetrainSchedule
) -> bool:
    """Write ``schedule`` into yaml and, when the servers run, onto the deployment.

    Returns:
        True if the live deployment was updated too.
    """
    # Live first: if Prefect refuses the value, yaml stays as it was.
    applied = apply_live_schedule(api, schedule) if api is not None else False
    write_yaml_schedule(config_path, schedule)
    if applied:
        write_synced(servers_dir, schedule)
    return applied
