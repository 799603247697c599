"""Test-suite entry point: the process environment is set before any library is imported."""

from __future__ import annotations

from driftline.env import apply_process_env

apply_process_env()
