"""Self-contained HTML (and JSON) report of one batch's contract result: no external assets."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from data_contracts.results import ContractResult

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2328}
h1{font-size:1.4rem;margin:0 0 .5rem}
.meta{color:#555;margin:.2rem 0}
.verdict{display:inline-block;padding:.3rem .8rem;border-radius:4px;font-weight:700;color:#fff}
.v-quarantined{background:#c62828}.v-warned{background:#ef6c00}.v-accepted{background:#2e7d32}
table{border-collapse:collapse;margin-top:1rem;width:100%}
th,td{border:1px solid #d0d7de;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
tr.block td:first-child{color:#c62828;font-weight:700}
tr.warn td:first-child{color:#ef6c00;font-weight:700}
code{font-size:.9em}
"""


def _cell(value: object) -> str:
    return f"<td>{escape('' if value is None else str(value))}</td>"


def render_html(result: ContractResult, *, batch_id: str, title: str | None = None) -> str:
    """One self-contained HTML page: source, batch id, verdict, failures table, passed count.

    Every value taken from data or the suite is HTML-escaped.
    """
    verdict = result.verdict
    css_class = "quarantined" if not result.success else "warned" if result.warnings else "accepted"
    heading = title or f"Data contract report — {result.source}"
    rows = []
    for failure in result.failures:
        percent = "" if failure.unexpected_percent is None else f"{failure.unexpected_percent:.2f}%"
        examples = (
            json.dumps(list(failure.to_dict()["examples"]), ensure_ascii=False) if failure.examples else ""
        )
        rows.append(
            f'<tr class="{escape(failure.severity)}">'
            + _cell(failure.severity)
            + _cell(failure.column if failure.column is not None else "(table)")
            + f"<td><code>{escape(failure.rule)}</code></td>"
            + _cell(percent)
            + _cell(examples)
            + _cell(failure.message)
            + "</tr>"
        )
    if rows:
        table = (
            "<table><thead><tr><th>severity</th><th>column</th><th>rule</th>"
            "<th>unexpected</th><th>examples</th><th>message</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
        )
    else:
        table = "<p>No failed checks.</p>"
    passed = (
        f"<p>{result.passed} of {result.evaluated} checks passed "
        f"({result.success_percent:.1f}%); {len(result.blocking)} blocking, "
        f"{len(result.warnings)} warnings.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(heading)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(heading)}</h1>"
        f'<p class="meta">source: <b>{escape(result.source)}</b></p>'
        f'<p class="meta">batch id: <b>{escape(batch_id)}</b></p>'
        f'<p class="meta">contract: <b>{escape(result.suite_name)}</b></p>'
        f'<p><span class="verdict v-{css_class}">{escape(verdict)}</span></p>'
        f"{passed}{table}</body></html>\n"
    )


def write_report(result: ContractResult, *, batch_id: str, directory: Path) -> tuple[Path, Path]:
    """Write ``report.json`` (``result.to_dict()`` plus batch id) and ``report.html``.

    Returns:
        ``(json_path, html_path)``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / "report.json", directory / "report.html"
    payload = {"batch_id": batch_id, **result.to_dict()}
    json_path.write_text(
        json.dumps(payload, indent=2, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    html_path.write_text(render_html(result, batch_id=batch_id), encoding="utf-8")
    return json_path, html_path
