"""The MSDHS family logbook API (``../shared/formats/msdhs_logbook.md``) as a real HTTP server, with faults.

    python -m simulators.msdhs_api --data logbook.ndjson [--data more.ndjson] --api-key KEY [--port 0]
        [--faults 429=0.2,503=0.1,drop=0.1,cut=0.05] [--retry-after 1] [--seed 1]

It serves ``GET /api/v1/households?updated_since=&page_size=&page_token=`` with a bearer key (``401``
otherwise), items ordered by ``updated_at`` then ``logbook_id``, stable page tokens (the position after a
page's last item), tombstones and whatever extra fields the data holds. Faults are drawn per request:
``429`` with ``Retry-After``, ``503``, a connection dropped before any answer, (``cut``) an answer cut
off mid-body, and (``stuck``) a page that names the token it was asked with as the next one, as an API
with a paging bug does. It prints ``listening on http://127.0.0.1:PORT`` once ready.

For tests and the demo, unauthenticated control endpoints under ``/_sim/`` (bind to localhost only):
``POST /_sim/items`` upserts items (a JSON list: updates, new households, tombstones), ``POST /_sim/faults``
sets the fault rates (JSON, as ``--faults``), ``GET /_sim/requests`` lists the requests served (time,
query, status) and ``GET /_sim/items`` the current items.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from simulators.http_json import JsonHandler, serve

FAULTS = ("429", "503", "drop", "cut", "stuck")
MAX_PAGE = 500


def _instant(text: str) -> dt.datetime:
    """An ISO-8601 time with its zone, as UTC (naive times are taken as Thai time, +07:00)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone(dt.timedelta(hours=7)))
    return value.astimezone(dt.UTC)


def _token(position: tuple[dt.datetime, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps([position[0].isoformat(), position[1]]).encode()).decode()


def _position(token: str) -> tuple[dt.datetime, str]:
    when, logbook_id = json.loads(base64.urlsafe_b64decode(token.encode()))
    return dt.datetime.fromisoformat(when), str(logbook_id)


def parse_faults(text: str) -> dict[str, float]:
    """``429=0.2,drop=0.1`` as rates by fault; every fault not named is 0."""
    rates = dict.fromkeys(FAULTS, 0.0)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, rate = part.partition("=")
        if name not in rates:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        rates[name] = float(rate)
    if sum(rates.values()) > 1:
        raise ValueError("fault rates add up to more than 1")
    return rates


class Logbook:
    """The ministry's households, newest version of each, in API order."""

    def __init__(self) -> None:
        self._items: dict[str, dict] = {}
        self._lock = threading.Lock()

    def upsert(self, items: list[dict]) -> None:
        with self._lock:
            for item in items:
                self._items[str(item["logbook_id"])] = item

    def page(self, since: dt.datetime | None, after: tuple[dt.datetime, str] | None, size: int
             ) -> tuple[list[dict], str | None]:
        with self._lock:
            ordered = sorted(((_instant(i["updated_at"]), i["logbook_id"], i) for i in self._items.values()),
                             key=lambda t: t[:2])
        chosen = [t for t in ordered if (since is None or t[0] >= since) and (after is None or t[:2] > after)]
        page = chosen[:size]
        more = len(chosen) > size
        return [t[2] for t in page], _token(page[-1][:2]) if more else None

    def all(self) -> list[dict]:
        with self._lock:
            return list(self._items.values())


class Simulator(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, *, logbook: Logbook, api_key: str, faults: dict[str, float], retry_after: int,
                 seed: int):
        super().__init__(address, Handler)
        self.logbook, self.api_key, self.faults, self.retry_after = logbook, api_key, faults, retry_after
        self.random = random.Random(seed)
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up (or is killed) mid-answer is part of the job, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def draw_fault(self) -> str | None:
        with self.lock:
            roll, edge = self.random.random(), 0.0
            for name in FAULTS:
                edge += self.faults[name]
                if roll < edge:
                    return name
        return None


class Handler(JsonHandler):
    server: Simulator

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        url = urlsplit(self.path)
        if url.path == "/_sim/requests":
            return self._json(200, self.server.requests)
        if url.path == "/_sim/items":
            return self._json(200, self.server.logbook.all())
        if url.path != "/api/v1/households":
            return self._json(404, {"error": "not found"})
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        status = self._households(query)
        with self.server.lock:
            self.server.requests.append({"at": time.time(), "query": query, "status": status})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        path = urlsplit(self.path).path
        if path == "/_sim/items":
            self.server.logbook.upsert(body)
            return self._json(200, {"items": len(body)})
        if path == "/_sim/faults":
            self.server.faults = parse_faults(",".join(f"{k}={v}" for k, v in body.get("rates", {}).items()))
            self.server.retry_after = int(body.get("retry_after", self.server.retry_after))
            return self._json(200, {"faults": self.server.faults})
        return self._json(404, {"error": "not found"})

    def _households(self, query: dict[str, str]) -> int | str:
        if self.headers.get("Authorization") != f"Bearer {self.server.api_key}":
            return self._json(401, {"error": "invalid or missing API key"})
        fault = self.server.draw_fault()
        if fault == "drop":
            self.close_connection = True
            return "dropped"
        if fault == "429":
            return self._json(429, {"error": "rate limited"}, {"Retry-After": str(self.server.retry_after)})
        if fault == "503":
            return self._json(503, {"error": "service unavailable"})
        try:
            size = int(query.get("page_size", "100"))
            since = _instant(query["updated_since"]) if query.get("updated_since") else None
            after = _position(query["page_token"]) if query.get("page_token") else None
        except (ValueError, KeyError, TypeError):
            return self._json(400, {"error": "bad updated_since, page_size or page_token"})
        if not 1 <= size <= MAX_PAGE:
            return self._json(400, {"error": f"page_size must be 1..{MAX_PAGE}"})
        items, token = self.server.logbook.page(since, after, size)
        if fault == "stuck" and query.get("page_token"):
            token = query["page_token"]
        if fault == "cut":
            body = json.dumps({"items": items, "next_page_token": token}, ensure_ascii=False).encode()
            self._head(200, len(body))
            self.wfile.write(body[:len(body) // 2])
            self.close_connection = True
            return "cut"
        return self._json(200, {"items": items, "next_page_token": token})


def read_items(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


@contextmanager
def started(data: list[Path], *, api_key: str, faults: str = "", retry_after: int = 1,
            seed: int = 1) -> Iterator[tuple[subprocess.Popen, str]]:
    """This simulator as its own process on a free port, serving ``data``; yields the process and its URL
    and stops it afterwards. Raises :class:`RuntimeError` when it does not start."""
    # --name=value: a random key may begin with "-", which argparse would take for an option
    args = [sys.executable, "-m", "simulators.msdhs_api", f"--api-key={api_key}", f"--faults={faults}",
            f"--retry-after={retry_after}", f"--seed={seed}"]
    for path in data:
        args += ["--data", str(path)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the MSDHS logbook API simulator did not start: {line.strip() or 'no output'}")
        yield process, line.split()[-1]
    finally:
        process.terminate()
        process.wait(10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", default=[], help="NDJSON of API items")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--faults", default="", help="e.g. 429=0.2,503=0.1,drop=0.1,cut=0.05")
    parser.add_argument("--retry-after", type=int, default=1, help="seconds a 429 asks the client to wait")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    logbook = Logbook()
    logbook.upsert(read_items(args.data))
    server = Simulator((args.host, args.port), logbook=logbook, api_key=args.api_key,
                      faults=parse_faults(args.faults), retry_after=args.retry_after, seed=args.seed)
    serve(server, args.host)


if __name__ == "__main__":
    main()
