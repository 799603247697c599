"""Suites on disk: save/load round trip, clear errors, stable hash, cheap imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from data_contracts import ContractError, load_suite, save_suite, suite_hash


def test_save_then_load_round_trips(suite: dict, tmp_path: Path) -> None:
    path = save_suite(suite, tmp_path / "nested" / "weather.json")
    assert path.exists() and load_suite(path) == suite
    assert [p.name for p in path.parent.iterdir()] == ["weather.json"]  # no temp files left


def test_save_refuses_nan(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_suite({"name": "s", "expectations": [], "meta": {"x": float("nan")}}, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="not found: .*absent.json"):
        load_suite(tmp_path / "absent.json")


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "s",\n "expectations": [\n', encoding="utf-8")
    with pytest.raises(ContractError, match=r"broken\.json is not valid JSON: .* line 3"):
        load_suite(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ([1, 2], "must hold a JSON object"),
        ({"expectations": []}, "has no 'name'"),
        ({"name": "s", "expectations": {}}, "no 'expectations' list"),
    ],
)
def test_wrong_shape_is_rejected(tmp_path: Path, content: object, match: str) -> None:
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(ContractError, match=match):
        load_suite(path)


def test_hash_is_short_stable_and_content_sensitive(suite: dict) -> None:
    digest = suite_hash(suite)
    assert len(digest) == 16 and set(digest) <= set("0123456789abcdef")
    reordered = dict(reversed(list(suite.items())))
    assert suite_hash(reordered) == digest  # key order does not matter
    edited = json.loads(json.dumps(suite))
    edited["expectations"][0]["meta"]["severity"] = "warn"
    assert suite_hash(edited) != digest


def test_import_and_bootstrap_do_not_import_great_expectations() -> None:
    code = (
        "import sys, pandas as pd\n"
        "import data_contracts\n"
        "from data_contracts import bootstrap_suite, render_html, ContractResult\n"
        "bootstrap_suite(pd.DataFrame({'a': [1, 2]}), name='s', target=None)\n"
        "render_html(ContractResult(True, 's', 'x.csv', 0, 0), batch_id='b')\n"
        "assert 'great_expectations' not in sys.modules, 'GE imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
