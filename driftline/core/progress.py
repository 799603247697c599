"""Progress of long work on a terminal: the flows report stages, the CLI shows the latest one.

Flows call `report("...")`; nothing is shown unless a command installed a sink with `shown`
(only on a TTY and without `--json`), so tests, replay workers and served flows stay silent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

_sinks: list[Callable[[str], None]] = []


def report(message: str) -> None:
    """Tell whoever watches what the work is doing now (a no-op when nobody does)."""
    for sink in _sinks:
        sink(message)


@contextlib.contextmanager
def receiving(sink: Callable[[str], None]) -> Iterator[None]:
    """Send every report to `sink` while the block runs."""
    _sinks.append(sink)
    try:
        yield
    finally:
        _sinks.remove(sink)


@contextlib.contextmanager
def shown(console: Any, *, title: str, enabled: bool) -> Iterator[None]:
    """A spinner on `console` (rich) that shows the latest stage, when `enabled` and a terminal."""
    if not enabled or not console.is_terminal:
        yield
        return
    with console.status(f"{title}…") as status, receiving(lambda m: status.update(f"{title}: {m}")):
        yield
