"""A partner's webhook receiver (``docs/notify.md``) as a real HTTP server, which can be told to be down.

    python -m simulators.webhook_receiver --public-key hub-webhooks.pem [--port 0]

Any ``POST`` outside ``/_sim/`` is a webhook: its signature is checked with the hub's public key
(:func:`hub.notify.signature.verify_webhook`; ``401`` if it fails), and it is recorded once per
``Idempotency-Key``: a repeat is answered ``200`` like the first but not recorded again. It prints
``listening on http://127.0.0.1:PORT`` once ready.

Its mode says how it answers (``POST /_sim/mode`` with ``{"mode": ...}``): ``up`` (as above), ``503`` (down:
answers 503 without looking), ``drop`` (down: closes the connection without answering), ``accept-drop``
(records the webhook as ``up`` does, then closes the connection without answering: the hub cannot know it
arrived) and ``refuse`` (answers 422, as a receiver that will never take it does). Also unauthenticated,
for tests and the demo (bind to localhost only): ``GET /_sim/deliveries`` (the webhooks recorded: key,
body, raw body, headers) and ``GET /_sim/requests`` (every webhook POST: key, mode, status).
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from hub.notify.signature import IDEMPOTENCY_HEADER, KEY_ID_HEADER, SIGNATURE_HEADER, verify_webhook
from simulators.http_json import JsonHandler, serve

MODES = ("up", "503", "drop", "accept-drop", "refuse")


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, *, public_key_pem: bytes):
        super().__init__(address, Handler)
        self.public_key_pem = public_key_pem
        self.mode = "up"
        self.deliveries: dict[str, dict] = {}  # by idempotency key, in arrival order
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def take(self, body: bytes, headers) -> tuple[int, bool]:
        """Check and record one webhook; its answer's status and whether it was new."""
        if not verify_webhook(body, headers, self.public_key_pem):
            return 401, False
        key = headers[IDEMPOTENCY_HEADER]
        with self.lock:
            new = key not in self.deliveries
            if new:
                kept = ("Content-Type", IDEMPOTENCY_HEADER, KEY_ID_HEADER, SIGNATURE_HEADER)
                self.deliveries[key] = {"key": key, "body": json.loads(body), "raw": body.decode("utf-8"),
                                        "headers": {name: headers[name] for name in kept}}
        return 200, new


class Handler(JsonHandler):
    server: Receiver

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        with self.server.lock:
            if self.path == "/_sim/deliveries":
                return self._json(200, list(self.server.deliveries.values()))
            if self.path == "/_sim/requests":
                return self._json(200, list(self.server.requests))
        return self._json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_sim/mode":
            mode = json.loads(body)["mode"]
            if mode not in MODES:
                return self._json(400, {"error": f"mode: one of {', '.join(MODES)}"})
            self.server.mode = mode
            return self._json(200, {"mode": mode})
        mode = self.server.mode
        if mode in ("up", "accept-drop"):
            status, new = self.server.take(body, self.headers)
        else:
            status, new = {"503": 503, "drop": None, "refuse": 422}[mode], False
        with self.server.lock:
            self.server.requests.append({"key": self.headers.get(IDEMPOTENCY_HEADER), "mode": mode,
                                         "status": status, "new": new})
        if mode in ("drop", "accept-drop") and status != 401:
            self.close_connection = True
            return None
        return self._json(status, {"received": status == 200, "duplicate": status == 200 and not new})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--public-key", type=Path, required=True, help="the hub's webhook key (hub notify public-key)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args(argv)
    server = Receiver((args.host, args.port), public_key_pem=args.public_key.read_bytes())
    serve(server, args.host)


if __name__ == "__main__":
    main()
