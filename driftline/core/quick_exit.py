"""End a command's process without the interpreter's teardown.

After a batch cycle, CPython's finalization (clearing the modules of pandas, scikit-learn, GE,
Evidently, MLflow and Prefect, and collecting what they hold) took about 2.7 s of wall time after
a 10k ingest on a quiet 2-core machine, 4.7 s under load: longer than some of the batch's own
stages, and nothing a user waits for. `exit_now` does what a normal exit does that matters, in the
same order: it waits for the non-daemon threads, runs every ``atexit`` handler (Prefect drains its
event and log workers, MLflow ends its runs, logging flushes its files) and flushes stdout and
stderr. Then it ends the process with ``os._exit``, skipping only the module teardown.
``DRIFTLINE_QUICK_EXIT=0`` keeps the normal exit (e.g. for a tool that reports from object
finalizers).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading

QUICK_EXIT_ENV = "DRIFTLINE_QUICK_EXIT"


def exit_code(status: str | int | None) -> int:
    """The process status `sys.exit(status)` would give; a message is printed to stderr, as there."""
    if status is None:
        return 0
    if isinstance(status, int):
        return status & 0xFF
    print(status, file=sys.stderr)
    return 1


def exit_now(status: str | int | None) -> None:
    """Exit with `status` (as `sys.exit` takes it): threads joined, atexit handlers run, output
    flushed, no module teardown. Falls back to `sys.exit` when switched off, or when this
    interpreter lacks CPython's hooks for the first two steps."""
    join_threads = getattr(threading, "_shutdown", None)
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if os.environ.get(QUICK_EXIT_ENV, "1") == "0" or join_threads is None or run_handlers is None:
        sys.exit(status)
    code = exit_code(status)
    join_threads()
    run_handlers()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`driftline ... | head`)
            stream.flush()
    os._exit(code)
