"""Data contracts: bootstrap a Great Expectations suite from reference data, validate batches.

Names are imported lazily, so ``import data_contracts`` stays cheap (GE is only imported when a
batch is validated).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data_contracts.bootstrap import bootstrap_suite
    from data_contracts.errors import ContractError
    from data_contracts.report import render_html, write_report
    from data_contracts.results import ContractFailure, ContractResult
    from data_contracts.suite_io import load_suite, save_suite, suite_hash
    from data_contracts.validate import check_suite, validate_frame

_EXPORTS = {
    "bootstrap_suite": "data_contracts.bootstrap",
    "ContractError": "data_contracts.errors",
    "render_html": "data_contracts.report",
    "write_report": "data_contracts.report",
    "ContractFailure": "data_contracts.results",
    "ContractResult": "data_contracts.results",
    "load_suite": "data_contracts.suite_io",
    "save_suite": "data_contracts.suite_io",
    "suite_hash": "data_contracts.suite_io",
    "check_suite": "data_contracts.validate",
    "validate_frame": "data_contracts.validate",
}

__all__ = [
    "ContractError",
    "ContractFailure",
    "ContractResult",
    "bootstrap_suite",
    "check_suite",
    "load_suite",
    "render_html",
    "save_suite",
    "suite_hash",
    "validate_frame",
    "write_report",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'data_contracts' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
