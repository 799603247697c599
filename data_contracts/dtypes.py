"""Column kinds, the GE type names that accept them, and JSON-safe conversion of values."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import numpy as np
import pandas as pd

# Names Great Expectations resolves for pandas (numpy dtypes, pandas extension dtypes, and the
# python types used when a column has object dtype). int and float both count as numeric: a CSV
# integer column with a missing value arrives as float64.
_INTS = [f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)]
_NULLABLE = [f"{sign}Int{bits}Dtype" for sign in ("", "U") for bits in (8, 16, 32, 64)]
TYPE_LISTS: dict[str, tuple[str, ...]] = {
    "numeric": (
        *_INTS,
        "float16",
        "float32",
        "float64",
        *_NULLABLE,
        "Float32Dtype",
        "Float64Dtype",
        "int",
        "float",
    ),
    "string": ("object", "str", "StringDtype", "CategoricalDtype"),
    "bool": ("bool", "BooleanDtype"),
    "datetime": (
        "datetime64",
        "datetime64[ns]",
        "datetime64[us]",
        "datetime64[ms]",
        "datetime64[s]",
        "Timestamp",
        # the same timestamps as text: a CSV batch of a project whose reference was Parquet
        "object",
        "str",
        "StringDtype",
    ),
}
TYPE_LISTS["mixed"] = (*TYPE_LISTS["string"], "int", "float", "bool")

# A date or a time in any common spelling, as GE sees it (``astype(str)``: real timestamps too):
# ISO and slashed dates, "5 Jan", "Jan 5" / "Mon, 05", compact or epoch digits, clock times.
DATE_LIKE = (
    r"^\s*(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}\s+[A-Za-z]{3,}"
    r"|[A-Za-z]{3,}\.?,?\s+\d{1,2}|\d{8,14}(?:\.\d+)?\s*$|\d{1,2}:\d{2})"
)

_INFERRED_KIND = {
    "string": "string",
    "integer": "numeric",
    "floating": "numeric",
    "mixed-integer-float": "numeric",
    "decimal": "numeric",
    "boolean": "bool",
    "datetime": "datetime",
    "datetime64": "datetime",
    "mixed": "mixed",
    "mixed-integer": "mixed",
}


def column_kind(values: pd.Series) -> str:
    """Kind of a reference column: numeric, string, bool, datetime, mixed, empty or other."""
    if values.isna().all():
        return "empty"
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return column_kind(values.astype(object))
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    return _INFERRED_KIND.get(pd.api.types.infer_dtype(values, skipna=True), "other")


def looks_like_dates(values: pd.Series, *, share: float = 0.99) -> bool:
    """True for text that is (almost all) timestamps, such as a time column read from CSV.

    Numbers are not dates here (a numeric column stays numeric), and neither are short codes.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return True
    present = values.dropna()
    if present.empty or pd.api.types.infer_dtype(present, skipna=True) != "string":
        return False
    sample = present.sample(min(len(present), 2_000), random_state=0).astype(str)
    if sample.str.len().median() < 8 or not sample.str.contains(r"\d{1,4}[-/.:]\d{1,2}", regex=True).all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= share)


def type_list(kind: str) -> list[str]:
    """GE ``type_list`` accepting every dtype of a column kind."""
    return list(TYPE_LISTS[kind])


def python_value(value: Any) -> Any:
    """One value as JSON-safe plain Python: numpy scalars unwrapped, NaN/inf/NA -> None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return python_value(float(value))
    if isinstance(value, dt.date | dt.datetime | dt.time | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def json_safe(value: Any) -> Any:
    """Recursively convert containers and values to JSON-safe plain Python."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Series):
        return [json_safe(item) for item in value]
    return python_value(value)
