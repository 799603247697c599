"""Process environment every Driftline process runs with: telemetry off, sane threading.

Called by entry points (the CLI, the test suite, benchmarks) before MLflow, GE, Evidently and
scikit-learn are imported. Prefect is loaded earlier by the command line (with the flows): it reads
the environment again in `driftline.ops.prefect_settings.reload`. Nothing here runs at import time.
"""

from __future__ import annotations

import os

PROCESS_ENV: dict[str, str] = {
    # Usage telemetry off for every library in the stack (MLflow honours only the literal "true").
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    # OpenMP spin-waiting under CPU contention slowed a HistGradientBoosting fit 100x.
    "OMP_NUM_THREADS": "1",
    # The ephemeral Prefect API needs longer than the default 20 s on a busy 2-core machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
    # No interactive prompts from git lookups done by MLflow to record the code version.
    "GIT_PYTHON_REFRESH": "quiet",
    "MPLBACKEND": "Agg",
    # Progress bars of library internals would garble Driftline's own progress output.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "TQDM_DISABLE": "1",
    # With a tracking server MLflow writes "View run ... at: <url>" to stdout at each run's end,
    # which broke `--json` output while `driftline up` runs.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    # A tracking server that is down fails a call after ~7 s (3 retries, 1, 2 and 4 s apart), not
    # after MLflow's default 7 retries, ~4 minutes per call; raise them for a rate-limited server.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


def apply_process_env(overrides: dict[str, str] | None = None) -> None:
    """Set Driftline's process environment, keeping values the user set explicitly.

    Args:
        overrides: extra variables that replace whatever is set (e.g. ``PREFECT_HOME``).
    """
    for key, value in PROCESS_ENV.items():
        os.environ.setdefault(key, value)
    for key, value in (overrides or {}).items():
        os.environ[key] = value


def exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit (status 143) so atexit handlers run: Prefect stops the
    ephemeral API server it started, instead of leaving it running with no parent. Call it from
    the main thread of an entry point (the CLI, a worker process)."""
    import signal
    import sys

    def _exit(signum: int, _frame: object) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
