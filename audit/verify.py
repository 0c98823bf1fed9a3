"""Verify the audit log as an auditor must: assuming whoever runs the database could have changed anything.

Three things are checked, and the problem with the lowest sequence number is reported:

- **the chain**: events numbered 1, 2, 3… with no gap, each linking to the hash of the one before and
  hashing to its stored hash (an edit, a deletion, an insertion or a reordering breaks this where it
  happened); the ``audit_head`` row must name the last event (a truncated tail, or an event added
  behind the hub's back, breaks this);
- **the signed checkpoints** the hub stored: each must carry a valid signature of the audit key (kept
  outside the database) over its seq and head, and the chain's hash at that seq must be the signed head.
  A log rewritten from some point on, hashes recomputed, passes the chain check but not this one;
- **the witnesses**: checkpoints an auditor exported earlier (``hub audit checkpoint --export``) and
  kept outside the hub. The log must still reach their seq and agree with their head, so deleting the
  newest events and the checkpoints over them is caught too.

A rewrite is located between the last checkpoint or witness that still matches and the first that does
not: the first event that can no longer be trusted is named.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select

from audit.chain import GENESIS, HASHED, ROW, canonical, chain_hash
from audit.checkpoints import Checkpoint, check_signature, read_witness
from hub.db.bulk import placeholder
from hub.db.schema import audit_checkpoints, audit_head

#: The columns a verifier reads, in this order: the hashed ones, then format, prev_hash and hash.
COLUMNS = ROW
_FORMAT, _PREV, _HASH = len(HASHED), len(HASHED) + 1, len(HASHED) + 2


@dataclass(frozen=True)
class Problem:
    seq: int  # the first event that cannot be trusted
    what: str


@dataclass(frozen=True)
class Verification:
    events: int  # events whose chain checked out
    checkpoints: int
    witnesses: int
    problem: Problem | None

    @property
    def intact(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Witness:
    name: str  # where the auditor's copy came from (a file name)
    checkpoint: Checkpoint


def check_log(rows: Iterable[Sequence], *, head: tuple[int, bytes] | None, checkpoints: Sequence[Checkpoint],
              witnesses: Sequence[Witness], public_key: str) -> Verification:
    """Verify ``rows`` (tuples in :data:`COLUMNS` order, by seq) against the ``head`` row, the stored
    ``checkpoints`` and the ``witnesses``, with the audit key ``public_key`` (PEM)."""
    wanted = {c.seq for c in checkpoints} | {w.checkpoint.seq for w in witnesses}
    hashes: dict[int, bytes] = {}
    problems: list[Problem] = []
    prev, prev_link, expected = GENESIS, None, 1
    for row in rows:
        seq = row[0]
        if seq != expected:
            problems.append(Problem(expected, f"event {expected} is missing (the next one is {seq})"))
            break
        if row[_PREV] != prev:
            problems.append(Problem(seq - 1, f"event {seq - 1} was inserted: event {seq} links past it")
                            if row[_PREV] == prev_link else
                            Problem(seq, "it does not link to the event before it (events were reordered, or one "
                                         "was removed or inserted here)"))
            break
        if chain_hash(prev, canonical(row, row[_FORMAT])) != row[_HASH]:
            problems.append(Problem(seq, "its content does not match its hash (edited)"))
            break
        if seq in wanted:
            hashes[seq] = row[_HASH]
        prev, prev_link, expected = row[_HASH], row[_PREV], expected + 1
    last = expected - 1
    broken = bool(problems)
    if not broken:
        problems.extend(_head_problem(head, last, prev))
    trusted = problems[0].seq - 1 if broken else last  # a signed head beyond a broken link says nothing more
    signed = [(f"checkpoint {c.seq}", c) for c in checkpoints] + \
        [(f"witness {w.name} (seq {w.checkpoint.seq})", w.checkpoint) for w in witnesses]
    problems.extend(_signed_problems(signed, hashes, trusted, public_key, broken=broken))
    first = min(problems, key=lambda p: p.seq, default=None)
    return Verification(last, len(checkpoints), len(witnesses), first)


def _head_problem(head: tuple[int, bytes] | None, last: int, prev: bytes) -> list[Problem]:
    if head is None:
        return [Problem(last, "the chain's head record is missing")] if last else []
    seq, digest = head
    if seq > last:
        return [Problem(last + 1, f"the log ends at event {last} but its head says {seq} (truncated)")]
    if seq < last:
        return [Problem(seq + 1, f"events {seq + 1}-{last} lie beyond the head (added behind the hub's back)")]
    if digest != prev:
        return [Problem(last, "the head's hash differs from the last event's (rewritten)")]
    return []


def _signed_problems(signed: list[tuple[str, Checkpoint]], hashes: dict[int, bytes], trusted: int,
                     public_key: str, *, broken: bool) -> Iterator[Problem]:
    """Each checkpoint or witness: a valid signature, a seq the log still reaches, the same head there.
    Heads beyond ``trusted`` (the last event before a broken link, or the log's end) are only compared
    when the chain is whole: they then show a truncation."""
    agreed = 0  # the highest seq at which a signed head matched so far
    for label, checkpoint in sorted(signed, key=lambda s: s[1].seq):
        if wrong := check_signature(checkpoint, public_key):
            yield Problem(checkpoint.seq, f"{label}: {wrong}")
        elif checkpoint.seq > trusted:
            if not broken:
                yield Problem(trusted + 1, f"{label} signed a head at event {checkpoint.seq}, but the log ends at "
                                           f"{trusted} (truncated below a signed head)")
        elif hashes.get(checkpoint.seq) != bytes.fromhex(checkpoint.head):
            yield Problem(agreed + 1, f"{label}: the log's head at event {checkpoint.seq} is not the one signed; "
                                      f"events {agreed + 1}-{checkpoint.seq} were rewritten")
        else:
            agreed = max(agreed, checkpoint.seq)


def _rows(conn: Connection, batch: int) -> Iterator[tuple]:
    """Every event as a tuple in :data:`COLUMNS` order, by seq, read ``batch`` at a time by the driver (a
    million rows through the ORM layer would cost more than checking them). On PostgreSQL the next batch
    is fetched, in the binary protocol, while this one is checked."""
    sql = (f"SELECT {', '.join(COLUMNS)} FROM audit_events WHERE seq > {placeholder(conn)} "
           f"ORDER BY seq LIMIT {int(batch)}")
    driver = conn.connection.driver_connection
    postgres = conn.dialect.name == "postgresql"
    cursor = driver.cursor(binary=True) if postgres else driver.cursor()

    def fetch(after: int) -> list[tuple]:
        cursor.execute(sql, (after,))
        return cursor.fetchall()

    try:
        with ThreadPoolExecutor(1) if postgres else nullcontext() as pool:
            pending = pool.submit(fetch, 0) if pool else None
            chunk = pending.result() if pool else fetch(0)
            while True:
                more = len(chunk) == batch
                if more and pool:
                    pending = pool.submit(fetch, chunk[-1][0])
                yield from chunk
                if not more:
                    return
                chunk = pending.result() if pool else fetch(chunk[-1][0])
    finally:
        cursor.close()


def stored_checkpoints(conn: Connection) -> list[Checkpoint]:
    t = audit_checkpoints
    return [Checkpoint(r.seq, bytes(r.head_hash).hex(), r.signed_at, r.jws)
            for r in conn.execute(select(t).order_by(t.c.seq))]


def verify_log(conn: Connection, *, public_key: str, witness_files: Sequence[Path] = (),
               batch: int = 50_000) -> Verification:
    """Verify the log in the database ``conn`` reaches (see :func:`check_log`)."""
    witnesses = [Witness(path.name, read_witness(path)) for path in witness_files]
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    return check_log(_rows(conn, batch), head=None if head is None else (head.seq, bytes(head.hash)),
                     checkpoints=stored_checkpoints(conn), witnesses=witnesses, public_key=public_key)
