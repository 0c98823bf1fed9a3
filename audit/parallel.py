"""Verification of a long log by several processes, one range of events each, all reading the snapshot
of the verifying connection (exported on PostgreSQL; on SQLite each range ends at the head that
connection read, and rows are only ever appended). Checking is CPU-bound Python, so threads would not help.

Processes are spawned, not forked: the hub may be serving requests on other threads when it verifies.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection

from audit.events import EventType
from audit.verify import Scanned, Signatures, scan, stored_events, stored_reads
from hub.db.engine import make_engine


@dataclass(frozen=True)
class _Range:
    url: str
    snapshot: str | None  # PostgreSQL's exported snapshot
    start: int
    end: int
    signatures: Signatures
    readers: Mapping[str, type[EventType]]
    batch: int


@contextmanager
def started_workers(processes: int) -> Iterator[ProcessPoolExecutor]:
    """``processes`` worker processes, already starting (a new interpreter takes most of a second to
    import the hub), for :func:`scan_in_processes`. On leaving, they are told to stop but not waited
    for: their results are in."""
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
    try:
        for _ in range(processes):
            pool.submit(_ready)
        yield pool
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _ready() -> None:
    """Nothing: running it makes a worker import this module and what it needs."""


def scan_in_processes(workers: ProcessPoolExecutor, processes: int, conn: Connection, head: int,
                      signatures: Signatures, readers: Mapping[str, type[EventType]], batch: int) -> list[Scanned]:
    """Events 1-``head`` scanned (:func:`audit.verify.scan`) by ``workers`` in ``processes`` consecutive
    ranges, in order."""
    snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar() \
        if conn.dialect.name == "postgresql" else None
    url = conn.engine.url.render_as_string(hide_password=False)
    size = -(-head // processes)
    ranges = [_Range(url, snapshot, start, min(start + size - 1, head), signatures, readers, batch)
              for start in range(1, head + 1, size)]
    return list(workers.map(_scan_range, ranges))


def _scan_range(job: _Range) -> Scanned:
    engine = make_engine(job.url)
    try:
        with engine.connect() as conn:
            if job.snapshot is not None:
                conn.execution_options(isolation_level="REPEATABLE READ")
                conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{job.snapshot}'")
            else:
                conn.exec_driver_sql("BEGIN")
            first = job.start > 1
            return scan(stored_events(conn, job.batch, low=job.start - 1 if first else None, high=job.end),
                        stored_reads(conn, job.batch, low=job.start if first else None, high=job.end),
                        valid=job.signatures.valid, readers=job.readers, wanted=job.signatures.wanted,
                        start=job.start, end=job.end)
    finally:
        engine.dispose()
