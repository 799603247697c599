"""Contract suites as JSON files: save, load with clear errors, and a short content hash."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from data_contracts.errors import ContractError


def save_suite(suite: dict, path: str | Path) -> Path:
    """Write a suite as indented JSON (atomically) and return the path.

    Raises:
        ValueError: the suite holds NaN/inf or values JSON cannot represent.
    """
    path = Path(path)
    text = json.dumps(suite, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_suite(path: str | Path) -> dict:
    """Read a suite written by :func:`save_suite` (or by hand).

    Raises:
        ContractError: the file is missing, unreadable, not JSON, or not a suite
            (an object with a string ``name`` and a list of ``expectations``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(f"contract suite not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"contract suite {path} cannot be read: {exc}") from exc
    try:
        suite = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(
            f"contract suite {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(suite, dict):
        kind = type(suite).__name__
        raise ContractError(f"contract suite {path} must hold a JSON object, not a {kind}")
    if not isinstance(suite.get("name"), str) or not suite["name"]:
        raise ContractError(f"contract suite {path} has no 'name'")
    if not isinstance(suite.get("expectations"), list):
        raise ContractError(f"contract suite {path} has no 'expectations' list")
    return suite


def suite_hash(suite: dict) -> str:
    """First 16 hex digits of the SHA-256 of the suite's canonical JSON (sorted keys)."""
    canonical = json.dumps(suite, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
