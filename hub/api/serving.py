"""The hub's API and web pages served by uvicorn in a background thread of this process (the demo, the
tests); ``hub serve`` runs the same app in the foreground."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hub.context import Hub
from hub.errors import ConfigurationError


@contextmanager
def serving(hub: Hub, *, host: str, port: int) -> Iterator[str]:
    """The hub's API and web pages on ``host:port`` (0: any free port) in a background thread; yields the
    base URL and stops the server afterwards. Raises :class:`ConfigurationError` when the port is taken."""
    import uvicorn

    from hub.api.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot serve on {host}:{port} ({exc.strerror}); pass --port") from None
    server = uvicorn.Server(uvicorn.Config(create_app(hub), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not server.started:
            raise ConfigurationError(f"the web server did not start on {host}:{port}")
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
