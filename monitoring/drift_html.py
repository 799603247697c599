"""Evidently's standalone HTML report made safe to open: no data value can leave its ``<script>``.

Evidently (0.7) renders one self-contained page whose ``<head>`` holds a single data block::

    <script>
        var <id> = <JSON: the dashboard, with every column name and category value>;
        var additional_graphs_<id> = <JSON>;
    </script>

The JSON comes from ``json.dumps``, which leaves ``<``, ``>`` and ``&`` as they are, so a category
value ``</script><script>alert(3)</script>`` ends the block early and runs as script when the
report is opened (stored XSS). The HTML tokenizer sees characters, not JSON, so the fix is in the
characters: in JSON text ``<``, ``>``, ``&``, U+2028 and U+2029 can only occur inside string
literals, where ``\\u003c`` (etc.) stands for the same character. Rewriting them gives JSON (and
JavaScript) that parses to the identical value, yet the block can no longer contain ``</script``,
``<!--`` or any tag. The page renders as before (Evidently's React front end shows values as text)
and nothing about the data or the drift numbers changes.

Why not rewrite the values handed to Evidently instead: the report would then show altered labels,
and column names would have to be mapped back; hardening the page touches only its encoding.

Each JSON value is delimited by ``json.JSONDecoder.raw_decode`` rather than by searching for the
block's end, so a payload that imitates the end cannot misplace it. A page of any other shape
(a different Evidently template) raises ``ReportLayoutError``: the caller writes no report rather
than an unsafe one.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

__all__ = ["ReportLayoutError", "harden_evidently_html", "script_safe_json", "write_safe_report"]

logger = logging.getLogger(__name__)

# Characters that can end or alter a <script> block, or a JS line (U+2028/2029 in old engines).
_SCRIPT_SAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_DECODER = json.JSONDecoder()
_BLOCK_START = re.compile(r"<script>\s*var (?P<id>[A-Za-z_$][\w$]*)\s*=\s*")
_BLOCK_END = re.compile(r"\s*;?\s*</script>")


class ReportLayoutError(ValueError):
    """The page is not laid out as the Evidently template this module knows how to harden."""


def script_safe_json(text: str) -> str:
    """``text`` (valid JSON) with ``< > &`` U+2028 U+2029 as ``\\uXXXX`` escapes: the same value.

    Exact because none of these characters is JSON syntax or part of an escape sequence, so each
    one in valid JSON text is a literal character of a string.
    """
    return text.translate(_SCRIPT_SAFE)


def harden_evidently_html(page: str) -> str:
    """Return Evidently's standalone report ``page`` with its data block made script-safe.

    Raises:
        ReportLayoutError: the first ``<script>`` is not Evidently's data block of two JSON
            assignments, or a value in it is not valid JSON.
    """
    start = _BLOCK_START.search(page)
    if start is None or start.start() != page.find("<script"):
        raise ReportLayoutError("Evidently report: the first <script> is not its data block")
    dashboard = start["id"]
    second = re.compile(rf"\s*;\s*var additional_graphs_{re.escape(dashboard)}\s*=\s*")
    pieces = [page[: start.end()]]
    position = _copy_json(page, start.end(), pieces)
    middle = second.match(page, position)
    if middle is None:
        raise ReportLayoutError(f"Evidently report: no additional_graphs_{dashboard} after the dashboard")
    pieces.append(middle.group())
    position = _copy_json(page, middle.end(), pieces)
    if _BLOCK_END.match(page, position) is None:
        raise ReportLayoutError("Evidently report: the data block does not end after its two values")
    pieces.append(page[position:])
    return "".join(pieces)


def _copy_json(page: str, position: int, pieces: list[str]) -> int:
    """Append the script-safe form of the JSON object at ``position``; return where it ends."""
    try:
        value, end = _DECODER.raw_decode(page, position)
    except json.JSONDecodeError as exc:
        raise ReportLayoutError(f"Evidently report: invalid JSON in the data block ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise ReportLayoutError("Evidently report: a data block value is not a JSON object")
    pieces.append(script_safe_json(page[position:end]))
    return end


def write_safe_report(page: str, path: Path) -> bool:
    """Write the hardened ``page`` to ``path`` (creating its folder); True when written.

    A page that cannot be hardened is not written (a report is optional, an unsafe one is not):
    a warning is logged, any older file at ``path`` is removed, and False is returned.
    """
    try:
        safe = harden_evidently_html(page)
    except ReportLayoutError as exc:
        logger.warning("drift HTML report not written to %s: %s", path, exc)
        path.unlink(missing_ok=True)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(safe, encoding="utf-8")
    return True
