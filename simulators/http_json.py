"""What the simulated partner servers share: a quiet keep-alive handler that answers JSON, and the
foreground loop that announces the address and serves until interrupted."""
from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive), no request log; :meth:`_json` answers a JSON body."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _head(self, status: int, length: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _json(self, status: int, body, headers: dict[str, str] | None = None) -> int:
        data = json.dumps(body, ensure_ascii=False).encode()
        self._head(status, len(data), headers)
        self.wfile.write(data)
        return status


def serve(server: ThreadingHTTPServer, host: str) -> None:
    """Print ``listening on http://HOST:PORT`` (what tests and the demo wait for), then serve until Ctrl-C."""
    print(f"listening on http://{host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)
