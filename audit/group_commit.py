"""Group commit for events that commit alone: the audit events of reads, written by many requests at once.

Appending one event is a whole transaction (lock the chain head, write the rows, move the head,
commit), and appends are serialised on the head, so under concurrent reads that transaction bounds the
hub's throughput. Here a reader submits its event and waits; one writer thread takes every event
submitted meanwhile and appends them all in one transaction (:meth:`audit.chain.AuditLog.append_entries`),
then wakes each reader with its event's sequence number. The chain is the same as with single appends:
each event keeps its own actor and request id.

Fail closed, as a single append: a reader gets its sequence number only once the transaction holding its
event has committed, and :class:`AuditWriteError` (its data must not be sent) when it failed. An event
that would be refused anyway (an undeclared type, a citizen ID in clear) is refused before it is queued,
so it cannot fail other readers' batches. The writer leaves after :data:`IDLE_SECONDS` without work and the
next submit starts another: a hub that reads nothing runs no thread.
"""
from __future__ import annotations

import asyncio
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy import Engine

from audit.chain import AuditLog, Entry
from audit.context import current_request_id
from audit.events import EventType
from hub.errors import AuditWriteError

IDLE_SECONDS = 1.0
MAX_BATCH = 1000  # events per transaction: enough to empty the queue of any realistic burst


@dataclass(frozen=True)
class _Waiter:
    """Who waits for an event: a thread (a concurrent future) or a coroutine (a future of its event loop)."""

    future: Future[int] | asyncio.Future[int]
    loop: asyncio.AbstractEventLoop | None = None


class GroupCommit:
    """Appends standalone events of one hub's log, from any thread or event loop, in shared transactions."""

    def __init__(self, engine: Engine, log: AuditLog):
        self._engine = engine
        self._log = log
        self._waiting: deque[tuple[Entry, _Waiter]] = deque()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._writer: threading.Thread | None = None

    def record(self, event: EventType, *, actor: str) -> int:
        """Append ``event`` (by ``actor``, in the current request) and return its sequence number once it is
        committed; raises :class:`AuditWriteError` when it could not be."""
        future: Future[int] = Future()
        self._queue(event, actor, _Waiter(future))
        return future.result()

    async def committed(self, event: EventType, *, actor: str) -> int:
        """:meth:`record` for a coroutine: it waits for the commit without holding a thread."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue(event, actor, _Waiter(future, loop))
        return await future

    def _queue(self, event: EventType, actor: str, waiter: _Waiter) -> None:
        self._log.check(event)
        with self._lock:
            self._waiting.append((Entry(event, actor, current_request_id()), waiter))
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_batches, name="saphan-audit-group-commit",
                                                daemon=True)
                self._writer.start()
            else:
                self._work.notify()

    def _write_batches(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._work.wait(IDLE_SECONDS)
                if not self._waiting:
                    self._writer = None
                    return
                batch = [self._waiting.popleft() for _ in range(min(len(self._waiting), MAX_BATCH))]
            self._write(batch)

    def _write(self, batch: list[tuple[Entry, _Waiter]]) -> None:
        try:
            with self._engine.begin() as conn:
                outcomes: list[int | BaseException] = self._log.append_entries(conn, [entry for entry, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every reader must hear of the failure, whatever it was
            failure = exc if isinstance(exc, AuditWriteError) else \
                AuditWriteError(f"could not commit {len(batch)} audit event(s): {type(exc).__name__}: {exc}")
            outcomes = [failure] * len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, int | BaseException]]] = {}
        for (_, waiter), outcome in zip(batch, outcomes):
            if waiter.loop is None:
                _settle(waiter.future, outcome)
            else:
                by_loop.setdefault(waiter.loop, []).append((waiter.future, outcome))
        for loop, settled in by_loop.items():  # one wake-up per event loop, not one per reader
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # the loop has closed: nobody is left waiting there
                pass


def _settle(future: Future[int] | asyncio.Future[int], outcome: int | BaseException) -> None:
    """Give ``future`` its sequence number or failure, unless its waiter gave up (a read that was cancelled
    is recorded all the same: it happened)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_all(settled: list[tuple[asyncio.Future, int | BaseException]]) -> None:
    for future, outcome in settled:
        _settle(future, outcome)
