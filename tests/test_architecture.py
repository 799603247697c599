"""The layers import one way (import-linter, imports inside functions included)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_the_import_contracts_hold() -> None:
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_an_upward_import_inside_a_function_breaks_the_contract(tmp_path: Path) -> None:
    """The contract is not vacuous: a copy of the tree with one upward import (core -> services,
    hidden inside a function) fails it."""
    for name in ("driftline", "flows", "tasks", "models", "monitoring", "data_contracts", "mlflow_server"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    env_module = tmp_path / "driftline" / "core" / "env.py"
    env_module.write_text(
        env_module.read_text() + "\n\ndef _upward() -> None:\n    from driftline.services import workspace\n"
    )
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
    )
    assert done.returncode == 1
    assert "driftline.core.env -> driftline.services.workspace" in done.stdout


FIRST_PARTY = ("driftline", "flows", "tasks", "models", "monitoring", "data_contracts", "mlflow_server")


def _imports_inside_functions(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                    names = [sub.module]
                elif isinstance(sub, ast.Import):
                    names = [a.name for a in sub.names]
                else:
                    continue
                found += [
                    f"{path.relative_to(REPO)}:{sub.lineno} {n}"
                    for n in names
                    if n.split(".")[0] in FIRST_PARTY
                ]
    return found


def test_first_party_imports_sit_at_module_top() -> None:
    """Every first-party import is at the top of its module, where mypy and import-linter see it.
    The command line imports the flows (and so Prefect) there too: a command sets the project's
    environment and then calls `driftline.ops.prefect_settings.reload`."""
    inside = [
        hit
        for package in FIRST_PARTY
        for path in sorted((REPO / package).rglob("*.py"))
        for hit in _imports_inside_functions(path)
    ]
    assert inside == []


def _undocumented_deferred_imports(path: Path) -> list[str]:
    """Third-party imports inside functions with no comment on their line or right above their
    block of imports."""
    lines = path.read_text().splitlines()
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        imports = [s for s in ast.walk(node) if isinstance(s, ast.Import | ast.ImportFrom)]
        covered = {n for s in imports for n in range(s.lineno, (s.end_lineno or s.lineno) + 1)}
        for sub in imports:
            name = sub.module or "" if isinstance(sub, ast.ImportFrom) else sub.names[0].name
            top = name.split(".")[0]
            if not top or top in sys.stdlib_module_names or top in FIRST_PARTY:
                continue
            above = sub.lineno - 1
            while above in covered:
                above -= 1
            if "#" not in lines[sub.lineno - 1] and not lines[above - 1].strip().startswith("#"):
                found.append(f"{path.relative_to(REPO)}:{sub.lineno} {name}")
    return found


def test_each_deferred_library_import_says_why() -> None:
    """A third-party import inside a function is a deliberate deferral (a heavy library that most
    commands never need); a comment says so, so the next reader does not move it up or copy it."""
    missing = [
        hit
        for package in FIRST_PARTY
        for path in sorted((REPO / package).rglob("*.py"))
        for hit in _undocumented_deferred_imports(path)
    ]
    assert missing == []


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):  # the docstring
        body = body[1:]
    return 0 if not body else body[-1].end_lineno - body[0].lineno + 1  # type: ignore[operator]


def test_flows_declare_their_steps() -> None:
    """A flow reads as its list of steps: no function in flows/ grows past 40 lines (the logic
    lives in the services below: the batch cycle and the retrain are `driftline.services`)."""
    long = {
        f"{path.name}:{node.name}": _body_lines(node)
        for path in sorted((REPO / "flows").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _body_lines(node) > 40
    }
    assert long == {}
