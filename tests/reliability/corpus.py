"""Building blocks of the bad-input corpora: writers that turn a good frame into a (broken) file,
and the case-table plumbing. A writer takes the good frame and a path without suffix and returns
the path of the file it wrote."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

Writer = Callable[[pd.DataFrame, Path], Path]


def csv(frame: pd.DataFrame, path: Path, **kw: Any) -> Path:
    out = path.with_suffix(".csv")
    frame.to_csv(out, index=False, **kw)
    return out


def parquet(frame: pd.DataFrame, path: Path) -> Path:
    out = path.with_suffix(".parquet")
    frame.to_parquet(out, index=False)
    return out


def raw(data: bytes, suffix: str = ".csv") -> Writer:
    def write(_: pd.DataFrame, path: Path) -> Path:
        out = path.with_suffix(suffix)
        out.write_bytes(data)
        return out

    return write


def edit(change: Callable[[pd.DataFrame], pd.DataFrame], fmt: Callable[..., Path] = csv) -> Writer:
    return lambda good, path: fmt(change(good.copy()), path)


def text(change: Callable[[str], str], suffix: str = ".csv", encoding: str = "utf-8") -> Writer:
    def write(good: pd.DataFrame, path: Path) -> Path:
        out = path.with_suffix(suffix)
        out.write_bytes(change(good.to_csv(index=False)).encode(encoding))
        return out

    return write


def setcol(column: str, values: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f[column] = values(f) if callable(values) else values
        return f

    return change


def rows_of(share: float, column: str, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The first `share` of the rows get `value` in `column` (a callable gets the rows' values)."""

    def change(f: pd.DataFrame) -> pd.DataFrame:
        head = f.index[: int(len(f) * share)]
        f[column] = f[column].astype(object)
        f.loc[head, column] = value(f.loc[head, column]) if callable(value) else value
        return f

    return change


def case_name(case: Any) -> str:
    """A case is a tuple whose first item is its name, or a `pytest.param` of one."""
    return case.values[0] if hasattr(case, "values") else case[0]


def as_param(case: Any) -> Any:
    """The case as a `pytest.param` named after it (the name is not passed to the test)."""
    if hasattr(case, "values"):
        return pytest.param(*case.values[1:], marks=case.marks, id=case.values[0])
    return pytest.param(*case[1:], id=case[0])


def file_stem(folder: Path, name: str) -> Path:
    """A path in `folder` for the case `name`: no spaces, slashes or dots (writers add the suffix)."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
