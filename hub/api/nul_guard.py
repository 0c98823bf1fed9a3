"""Requests carrying a NUL character are refused before any endpoint sees them: no field of the hub may
hold one (PostgreSQL's text cannot), and letting one reach a query would fail it with a server error.
Checked in the path, the query string and JSON or URL-encoded form bodies; the answer is 400 with the
reason. Other bodies (a partner's file upload, streamed to disk) pass untouched: a NUL in a file is a
malformed row for ingest to quarantine, not a reason to refuse the file."""
from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.nul import NUL, holds_nul

REASON = "the request holds a NUL character (U+0000), which no field may hold"


#: The bodies checked (read whole first: they are small forms and JSON documents).
_CHECKED_BODIES = (b"application/json", b"application/x-www-form-urlencoded")


def _content_type(scope: Scope) -> bytes:
    return dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()


def _has_nul(scope: Scope, body: bytes) -> bool:
    if NUL in scope.get("path", ""):  # decoded already
        return True
    query = scope.get("query_string", b"").decode("latin-1")
    if holds_nul(parse_qsl(query, keep_blank_values=True)):
        return True
    if not body:
        return False
    if _content_type(scope) == b"application/x-www-form-urlencoded":
        return holds_nul(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    return b"\x00" in body or (b"\\u0000" in body and _json_has_nul(body))


def _json_has_nul(body: bytes) -> bool:
    try:
        return holds_nul(json.loads(body))
    except ValueError:
        return False  # not JSON: the endpoint says what is wrong with it


class RefuseNul:
    """ASGI middleware: 400 for a request with a NUL character (see the module's docstring). A checked
    body is read whole before the endpoint runs, then handed on unchanged."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        messages, body = [], b""
        if scope["method"] in ("POST", "PUT", "PATCH") and _content_type(scope) in _CHECKED_BODIES:
            while True:
                message = await receive()
                messages.append(message)
                body += message.get("body", b"")
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
        if _has_nul(scope, body):
            data = json.dumps({"detail": REASON}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": data})
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
