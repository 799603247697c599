"""Validate a batch against a contract suite: the only module that touches Great Expectations.

GE is imported inside functions (it takes seconds). Its objects never leave this module:
callers get :class:`ContractResult` / :class:`ContractFailure`.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import threading
from typing import Any

import pandas as pd

from data_contracts.errors import ContractError
from data_contracts.messages import describe_failure, exception_message
from data_contracts.results import (
    BLOCK,
    NATIVE_TO_SEVERITY,
    SCALE_RULES,
    SEVERITIES,
    SEVERITY_TO_NATIVE,
    ContractFailure,
    ContractResult,
)

__all__ = ["ContractError", "ContractFailure", "ContractResult", "check_suite", "validate_frame"]

logger = logging.getLogger(__name__)

COLUMN_SET_RULES = (
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
)
_AGGREGATE_MIN_VALUES = dict(zip(SCALE_RULES, (1, 2), strict=True))  # non-null values each needs
_INDEX_KEY = "driftline_index"  # marks our copy of each expectation, to map results back
_LOCK = threading.Lock()  # one shared GE context: validate one batch at a time


def _gx() -> Any:
    """Import GE (slow, first call only), keeping its ~150 import-time INFO lines quiet
    unless someone configured the ``great_expectations`` logger explicitly."""
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)
    # Deferred: Great Expectations loads only when a batch is validated.
    import great_expectations as gx

    return gx


def _release(batch: Any) -> None:
    """Drop GE's cached copy of the batch: the shared context would otherwise keep the previous
    batch's frame alive until the next validation (hundreds of MB at 1M rows)."""
    engine = getattr(getattr(batch, "data", None), "execution_engine", None)
    manager = getattr(engine, "_batch_manager", None)
    for name in ("_batch_cache", "_batch_data_cache"):
        clear = getattr(getattr(manager, name, None), "clear", None)
        if callable(clear):
            clear()


@functools.lru_cache(maxsize=1)
def _batch_definition() -> Any:
    """Ephemeral GE context with a whole-dataframe batch definition, built once per process."""
    # Deferred: Great Expectations loads only when a batch is validated.
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = _gx().get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas(name="driftline").add_dataframe_asset(name="batch")
    return asset.add_batch_definition_whole_dataframe(name="whole")


def _entries(suite: dict, origin: str) -> list[dict]:
    """The suite's expectation dicts, each checked for shape and severity."""
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise ContractError(f"contract suite {origin} has no 'expectations' list")
    entries = []
    for index, entry in enumerate(suite["expectations"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise ContractError(f"contract suite {origin}: expectation #{index} has no 'type'")
        if not isinstance(entry.get("kwargs", {}), dict) or not isinstance(entry.get("meta") or {}, dict):
            raise ContractError(
                f"contract suite {origin}: expectation #{index} ({entry['type']}): "
                "'kwargs' and 'meta' must be objects"
            )
        # Driftline's own meta.severity wins; else GE's native severity (critical blocks).
        native = NATIVE_TO_SEVERITY.get(str(entry.get("severity", "critical")), BLOCK)
        severity = (entry.get("meta") or {}).get("severity", native)
        if severity not in SEVERITIES:
            raise ContractError(
                f"contract suite {origin}: expectation #{index} ({entry['type']}): "
                f"severity {severity!r} is not one of {SEVERITIES}"
            )
        tagged = copy.deepcopy(entry)
        tagged.setdefault("kwargs", {})
        tagged["meta"] = {**(entry.get("meta") or {}), "severity": severity, _INDEX_KEY: index}
        tagged["severity"] = SEVERITY_TO_NATIVE[severity]
        entries.append(tagged)
    return entries


def _build_suite(name: str, entries: list[dict], origin: str) -> Any:
    """A GE suite; unlike ``gx.ExpectationSuite(**suite)``, which only *logs* invalid
    expectations and silently drops them, every invalid one raises :class:`ContractError`."""
    gx = _gx()
    # Deferred: Great Expectations loads only when a batch is validated.
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    built = []
    for entry in entries:
        try:
            built.append(ExpectationConfiguration(**entry).to_domain_obj())
        except Exception as exc:  # GE raises several unrelated types (pydantic, TypeError...)
            column = entry["kwargs"].get("column")
            on = f" on column {column!r}" if column is not None else ""
            reason = " ".join(str(exc).split())
            raise ContractError(
                f"contract suite {origin}: expectation #{entry['meta'][_INDEX_KEY]} "
                f"{entry['type']!r}{on} is invalid: {reason}"
            ) from exc
    return gx.ExpectationSuite(name=name or "contract", expectations=built)


@functools.lru_cache(maxsize=8)
def _cached_suite(name: str, entries_json: str, origin: str) -> Any:
    """The GE suite of a set of entries, built once per process: building ~100 expectations
    costs about a second, and every batch of a stream is checked against the same ones."""
    return _build_suite(name, json.loads(entries_json), origin)


def check_suite(suite: dict, *, origin: str | None = None) -> int:
    """Check that every expectation of a (possibly hand-edited) suite is valid for GE.

    Returns:
        The number of expectations.

    Raises:
        ContractError: naming ``origin`` (e.g. the file) and the offending expectation.
    """
    origin = origin or repr(suite.get("name", "<unnamed>") if isinstance(suite, dict) else suite)
    entries = _entries(suite, origin)
    _build_suite(str(suite.get("name") or "contract"), entries, origin)
    return len(entries)


def _normalise_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Dtypes GE 1.24 cannot match by type name become their plain equivalents:
    category and string[...] -> object, tz-aware datetimes -> naive UTC."""
    out = None
    for position, (_, values) in enumerate(frame.items()):
        dtype = values.dtype
        if isinstance(dtype, pd.CategoricalDtype | pd.StringDtype):
            fixed = values.astype(object)
        elif isinstance(dtype, pd.DatetimeTZDtype):
            fixed = values.dt.tz_convert(None)
        else:
            continue
        out = frame.copy(deep=False) if out is None else out
        out.isetitem(position, fixed)
    return frame if out is None else out


def _plan(entries: list[dict], suite: dict, columns: set[Any]) -> tuple[list[dict], dict[Any, list[dict]]]:
    """Entries to run on this frame, and entries skipped per missing required column."""
    driftline = (suite.get("meta") or {}).get("driftline") or {}
    optional = [c for c in driftline.get("optional_columns") or [] if c is not None]
    present_optional = [c for c in optional if c in columns]
    run: list[dict] = []
    missing: dict[Any, list[dict]] = {}
    for entry in entries:
        kwargs = entry["kwargs"]
        if entry["type"] == "expect_table_columns_to_match_set":
            listed = list(kwargs.get("column_set") or [])
            kwargs["column_set"] = listed + [c for c in present_optional if c not in listed]
        column = kwargs.get("column")
        if column is not None and column not in columns:
            if column not in optional:
                missing.setdefault(column, []).append(entry)
            continue
        run.append(entry)
    return run, missing


def _missing_failures(missing: dict[Any, list[dict]]) -> list[tuple[int, ContractFailure]]:
    """Without a column-set rule in the suite, a missing column must still be reported."""
    out = []
    for column, skipped in missing.items():
        severity = BLOCK if any(e["meta"]["severity"] == BLOCK for e in skipped) else "warn"
        message = (
            f"column '{column}': missing from the batch, so {len(skipped)} "
            f"rule(s) could not be checked ({severity})"
        )
        failure = ContractFailure(
            rule="column_missing",
            column=str(column),
            severity=severity,
            unexpected_count=None,
            unexpected_percent=None,
            observed=None,
            message=message,
        )
        out.append((min(e["meta"][_INDEX_KEY] for e in skipped), failure))
    return out


def _run_suite(
    batch_frame: pd.DataFrame, ge_suite: Any, *, name: str, entries: list[dict], origin: str
) -> list[Any]:
    """Every expectation's GE result: first verdicts only (``BOOLEAN_ONLY``), then the failed
    expectations again with ``SUMMARY`` for their evidence (counts, examples, observed values).

    Most expectations pass, and GE's ``SUMMARY`` computes unexpected values and their examples
    for each of them: about 35% of a 1,000-row validation and half of a 100,000-row one. The
    verdicts of the second pass are the ones reported.
    """
    with _LOCK:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": batch_frame})
        try:
            results = list(batch.validate(ge_suite, result_format="BOOLEAN_ONLY").results)
            failed = {item.expectation_config.meta[_INDEX_KEY] for item in results if not item.success}
            if failed:
                again = [e for e in entries if e["meta"][_INDEX_KEY] in failed]
                detail = batch.validate(_build_suite(name, again, origin), result_format="SUMMARY").results
                by_index = {item.expectation_config.meta[_INDEX_KEY]: item for item in detail}
                results = [by_index.get(item.expectation_config.meta[_INDEX_KEY], item) for item in results]
        finally:
            _release(batch)
    return results


def validate_frame(
    frame: pd.DataFrame, suite: dict, *, source: str, suite_origin: str | None = None
) -> ContractResult:
    """Validate one batch against a contract suite (dict from ``bootstrap_suite``/``load_suite``).

    Optional columns (suite ``meta.driftline.optional_columns``, i.e. the target) are allowed in
    the column set when present; their rules are skipped when absent. Rules on other missing
    columns are skipped too: the column-set rule reports the missing column once.

    Args:
        frame: the batch.
        suite: the contract.
        source: where the batch came from (file name), repeated in messages and reports.
        suite_origin: where the suite came from (its file), named in errors.

    Returns:
        A :class:`ContractResult`; ``success`` is False if any block-severity rule failed.

    Raises:
        ContractError: the suite is malformed or holds an unknown/invalid expectation.
    """
    name = str(suite.get("name") or "contract") if isinstance(suite, dict) else "contract"
    origin = suite_origin or repr(name)
    entries = _entries(suite, origin)
    run, missing = _plan(entries, suite, set(frame.columns))
    # Aggregates of a numeric column that arrived with text in it cannot be computed; its type
    # rules report the text (and block above their tolerance), so its scale rules sit this out.
    texty = {c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)}
    run = [e for e in run if not (e["type"] in SCALE_RULES and e["kwargs"].get("column") in texty)]
    # A median needs a value and a spread two: with fewer (a batch of one row, an all-null column)
    # there is no scale to judge, and an all-null column is reported by its null rules.
    present = frame.count()
    run = [
        e
        for e in run
        if not (
            e["type"] in _AGGREGATE_MIN_VALUES
            and e["kwargs"].get("column") in present.index
            and present[e["kwargs"]["column"]] < _AGGREGATE_MIN_VALUES[e["type"]]
        )
    ]
    ge_suite = _cached_suite(name, json.dumps(run, sort_keys=True, default=str), origin)
    results = _run_suite(_normalise_dtypes(frame), ge_suite, name=name, entries=run, origin=origin)

    failures: list[tuple[int, ContractFailure]] = []
    passed = 0
    for item in results:
        if item.success:
            passed += 1
            continue
        config = item.expectation_config
        failures.append(
            (
                config.meta[_INDEX_KEY],
                describe_failure(
                    rule=config.type,
                    kwargs=dict(config.kwargs),
                    severity=config.meta["severity"],
                    result=dict(item.result or {}),
                    error=exception_message(item.exception_info),
                ),
            )
        )
    has_column_set = any(e["type"] in COLUMN_SET_RULES for e in entries)
    if missing and not has_column_set:
        failures += _missing_failures(missing)
    failures.sort(key=lambda pair: (not pair[1].blocking, pair[0]))
    result = ContractResult(
        success=not any(f.blocking for _, f in failures),
        suite_name=name,
        source=source,
        evaluated=len(results) + (0 if has_column_set else len(missing)),
        passed=passed,
        failures=tuple(f for _, f in failures),
    )
    log = logger.info if result.success else logger.warning
    log("%s", result.summary())
    return result
