"""Calls through Prefect's client retry a busy server's 503 and still report real errors, naming the call."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from driftline.ops.schedule import PrefectApi, ScheduleError


def serve(statuses: list[int]) -> tuple[ThreadingHTTPServer, list[int]]:
    seen: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PATCH(self) -> None:  # http.server naming
            status = statuses[min(len(seen), len(statuses) - 1)]
            seen.append(status)
            self._answer(status, {"ok": status == 200})

        def do_GET(self) -> None:  # the client asks for a CSRF token first: a server without any
            self._answer(404, {"detail": "Not Found"})

        def _answer(self, status: int, payload: object) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Retry-After", "0")  # Prefect's client waits as long as this says
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_busy_server_503_is_retried_until_it_answers():
    server, seen = serve([503, 503, 200])
    try:
        api = PrefectApi(f"http://127.0.0.1:{server.server_port}/api")
        assert api.call("PATCH", "/deployments/x", {"a": 1}) == {"ok": True}
        assert seen == [503, 503, 200]
    finally:
        server.shutdown()


def test_a_client_error_is_not_retried():
    server, seen = serve([422])
    try:
        api = PrefectApi(f"http://127.0.0.1:{server.server_port}/api")
        with pytest.raises(ScheduleError, match="PATCH /deployments/x: HTTP 422"):
            api.call("PATCH", "/deployments/x", {"a": 1})
        assert seen == [422]
    finally:
        server.shutdown()


def test_an_unreachable_server_is_a_schedule_error_naming_it():
    server, _ = serve([200])
    port = server.server_port
    server.shutdown()
    server.server_close()
    api = PrefectApi(f"http://127.0.0.1:{port}/api", timeout=2)
    with pytest.raises(ScheduleError, match=f"Prefect API at http://127.0.0.1:{port}/api unreachable"):
        api.deployments()
