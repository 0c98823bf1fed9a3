"""Verify the audit log as an auditor must: assuming whoever runs the database could have changed anything.

Everything is read in one snapshot (appends going on meanwhile are not mistaken for tampering) and
checked; the problem with the lowest sequence number is reported:

- **the chain**: events numbered 1, 2, 3… with no gap, each linking to the hash of the one before and
  hashing to its stored hash (an edit, a deletion, an insertion or a reordering breaks this where it
  happened); formats only go up (1, then 2) and a format 1 event has none of the later columns; the
  ``audit_head`` row must name the last event (a truncated tail, or an event added behind the hub's
  back, breaks this); a log is never empty (a hub records its own initialisation);
- **the signed checkpoints** the hub stored: each must carry a valid signature of the audit key (kept
  outside the database) over its seq and head, the chain's hash at that seq must be the signed head, each
  must name the one before it, and there must be one wherever the previous one's cadence made it due
  (and at the first format 2 event). A log rewritten from some point on, hashes recomputed, passes the
  chain check but not this one, even with the checkpoints over the rewritten part deleted;
- **the witnesses**: checkpoints an auditor exported earlier (``hub audit checkpoint --export``) and
  kept outside the hub. The log must still reach their seq, agree with their head and still hold the
  checkpoint, so deleting the newest events and the checkpoints over them is caught too;
- **"who used our data"**: the per-area read counts (``audit_area_reads``) are exactly those the hashed
  details of the read events give (:meth:`audit.events.EventType.reads_in`).

What no verifier can see: events appended after the newest checkpoint are protected only by the next
one, so an attacker with write access can rewrite at most that unsigned tail (fewer than ``every``
events, younger than ``seconds``), and only until the hub's next checkpoint: the hub re-checks the tail
before it signs, and refuses to sign over a changed one.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import Connection, select

from audit.chain import FORMAT, GENESIS, HASHED, ROW, canonical, chain_hash
from audit.checkpoints import Checkpoint, Claims, checked_claims, read_witness
from audit.events import EventType
from hub.db.bulk import placeholder
from hub.db.schema import audit_checkpoints, audit_head

#: The columns a verifier reads, in this order: the hashed ones, then format, prev_hash and hash.
COLUMNS = ROW
#: The columns of an area read a verifier reads, in this order.
READ_COLUMNS = ("seq", "area", "records", "action", "partner", "purpose", "occurred_at")
_FORMAT, _PREV, _HASH = len(HASHED), len(HASHED) + 1, len(HASHED) + 2
_ACTION, _DETAILS, _PARTNER, _PURPOSE = (HASHED.index(c) for c in ("action", "details", "partner", "purpose"))
_LATER = slice(HASHED.index("role"), len(HASHED))  # the columns format 1 events do not have


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
              witnesses: Sequence[Witness], reads: Iterable[Sequence], event_types: Mapping[str, type[EventType]],
              public_key: str) -> Verification:
    """Verify ``rows`` (tuples in :data:`COLUMNS` order, by seq) against the ``head`` row, the stored
    ``checkpoints``, the ``witnesses`` and the area ``reads`` (tuples in :data:`READ_COLUMNS` order, by
    seq), with the audit key ``public_key`` (PEM); ``event_types`` are the declared types by action."""
    signatures = Signatures.check(checkpoints, witnesses, public_key)
    part = scan(rows, reads, valid=signatures.valid, readers=readers_of(event_types), wanted=signatures.wanted)
    return conclude(signatures, [part], head)


@dataclass(frozen=True)
class Signatures:
    """The stored checkpoints and witnesses, their signatures checked."""

    valid: dict[int, Claims]  # the claims of each validly signed stored checkpoint, by seq
    signed: list[tuple[str, Checkpoint]]  # every validly signed checkpoint and witness, labelled
    problems: list[Problem]  # bad signatures, breaks in the chain of checkpoints, witnesses no longer held
    checkpoints: int
    witnesses: int
    wanted: frozenset[int]  # the seqs whose chain hash a signed head is compared with

    @classmethod
    def check(cls, checkpoints: Sequence[Checkpoint], witnesses: Sequence[Witness], public_key: str) -> Signatures:
        valid: dict[int, Claims] = {}
        signed: list[tuple[str, Checkpoint]] = []
        problems: list[Problem] = []
        labelled = [(f"checkpoint {c.seq}", c, True) for c in checkpoints] + \
            [(f"witness {w.name} (seq {w.checkpoint.seq})", w.checkpoint, False) for w in witnesses]
        for label, checkpoint, stored in labelled:
            claims = checked_claims(checkpoint, public_key)
            if isinstance(claims, str):
                problems.append(Problem(checkpoint.seq, f"{label}: {claims}"))
                continue
            signed.append((label, checkpoint))
            if stored:
                valid[checkpoint.seq] = claims
        problems.extend(_chain_of_checkpoints(valid))
        problems.extend(_witnesses_held(witnesses, valid))
        return cls(valid, signed, problems, len(checkpoints), len(witnesses),
                   frozenset(valid) | {w.checkpoint.seq for w in witnesses})


@dataclass
class Scanned:
    """What a pass over a range of the events found."""

    problems: list[Problem]
    broken_at: int | None  # the seq at which the chain broke
    last: int  # the last event the pass checked
    prev: bytes  # its hash
    hashes: dict[int, bytes]  # the chain's hash at the wanted seqs the pass reached


def readers_of(event_types: Mapping[str, type[EventType]]) -> dict[str, type[EventType]]:
    """The event types that read personal data by area (they override :meth:`EventType.reads_in`)."""
    return {name: t for name, t in event_types.items() if t.reads_in.__func__ is not EventType.reads_in.__func__}


def scan(rows: Iterable[Sequence], reads: Iterable[Sequence], *, valid: dict[int, Claims],
         readers: Mapping[str, type[EventType]], wanted: frozenset[int], start: int = 1,
         end: int | None = None) -> Scanned:
    """One pass over the events ``start``-``end`` (to the last, without ``end``): the chain, formats,
    checkpoint cadence and area reads. A pass from a later ``start`` gets the event before it first, to
    chain from (checked by the pass before); ``reads`` cover the same range. Stops at the first broken
    link (nothing after it can be placed); other problems are collected and the pass goes on."""
    problems: list[Problem] = []
    hashes: dict[int, bytes] = {}
    rows, reads = iter(rows), iter(reads)
    prev, prev_link, top_format = GENESIS, None, 1
    if start > 1:
        before = next(rows, None)
        if before is None or before[0] != start - 1:  # the pass before names it missing
            return Scanned([], None, start - 1, GENESIS, {})
        prev, prev_link, top_format = before[_HASH], before[_PREV], before[_FORMAT]
    signed_before = [seq for seq in valid if seq < start]
    cadence = valid[max(signed_before)].cadence if signed_before else None
    cadence_checked, expected, broken_at = True, start, None
    read = next(reads, None)
    try:
        for row in rows:
            seq = row[0]
            if seq != expected:
                broken_at = expected
                problems.append(Problem(expected, f"event {expected} is missing (the next one is {seq})"))
                break
            if row[_PREV] != prev:
                problem = Problem(seq - 1, f"event {seq - 1} was inserted: event {seq} links past it") \
                    if row[_PREV] == prev_link else \
                    Problem(seq, "it does not link to the event before it (events were reordered, or one was removed "
                                 "or inserted here)")
                broken_at = problem.seq
                problems.append(problem)
                break
            fmt = row[_FORMAT]
            if fmt != top_format and not (fmt == FORMAT and top_format == 1):
                broken_at = seq
                problems.append(Problem(seq, f"its format {fmt!r} cannot follow format {top_format} (edited)"))
                break
            top_format = fmt
            if chain_hash(prev, canonical(row, fmt)) != row[_HASH]:
                broken_at = seq
                problems.append(Problem(seq, "its content does not match its hash (edited)"))
                break
            if fmt == 1 and any(v is not None for v in row[_LATER]):
                broken_at = seq
                problems.append(Problem(seq, "a format 1 event has values in columns its hash does not cover (edited)"))
                break
            if fmt == FORMAT and cadence_checked:
                if seq in valid:
                    cadence = valid[seq].cadence
                elif cadence is None or cadence.due(seq, row[1]):
                    problems.append(Problem(seq, "a checkpoint was due at this event and there is none (deleted)"))
                    cadence_checked = False
            while read is not None and read[0] < seq:
                problems.append(Problem(read[0], f"'who used our data' lists reads by event {read[0]}, which read no "
                                                 f"personal data (added)"))
                read = next(reads, None)
            found = []
            while read is not None and read[0] == seq:
                found.append(read)
                read = next(reads, None)
            reader = readers.get(row[_ACTION]) if fmt == FORMAT else None  # format 1: before area reads
            if (reader or found) and not _reads_match(row, reader, found):
                problems.append(Problem(seq, "its 'who used our data' entries differ from what the event records "
                                             "(edited, added or removed)"))
            if seq in wanted:
                hashes[seq] = row[_HASH]
            prev, prev_link, expected = row[_HASH], row[_PREV], expected + 1
    except (TypeError, ValueError, IndexError, RecursionError) as exc:  # a value the hub never writes
        broken_at = expected
        problems.append(Problem(expected, f"a stored value is of the wrong kind (edited): {exc}"))
    if broken_at is None and end is not None and expected <= end:
        broken_at = expected
        problems.append(Problem(expected, f"event {expected} is missing"))
    if broken_at is None and read is not None:
        problems.append(Problem(read[0], f"'who used our data' lists reads by event {read[0]}, beyond the log "
                                         f"(added)"))
    return Scanned(problems, broken_at, expected - 1, prev, hashes)


def _reads_match(row: Sequence, reader: type[EventType] | None, found: list[Sequence]) -> bool:
    """Whether the area reads ``found`` for event ``row`` (rows in :data:`READ_COLUMNS` order) are exactly
    those its details give, each with the event's action, partner, purpose and time."""
    try:
        counts = reader.reads_in(orjson.loads(row[_DETAILS])) if reader else {}
    except (ValueError, KeyError, TypeError, RecursionError):
        return False
    seq, action, partner, purpose, at = row[0], row[_ACTION], row[_PARTNER], row[_PURPOSE], row[1]
    expected = {(seq, area, count, action, partner, purpose, at) for area, count in counts.items()}
    return len(found) == len(expected) and set(map(tuple, found)) == expected


def conclude(signatures: Signatures, parts: Sequence[Scanned], head: tuple[int, bytes] | None,
             more: Sequence[Problem] = ()) -> Verification:
    """The verification of the log whose consecutive ranges ``parts`` are, with its ``head`` row and the
    ``more`` problems found besides: the problem with the lowest seq, if any."""
    problems = [*signatures.problems, *more]
    hashes: dict[int, bytes] = {}
    broken_at, last, prev = None, 0, GENESIS
    for part in parts:
        problems.extend(part.problems)
        hashes.update(part.hashes)
        last, prev, broken_at = part.last, part.prev, part.broken_at
        if broken_at is not None:
            break
    broken = broken_at is not None
    if broken and head is not None and head[0] < broken_at - 1:  # the head stops short of the break
        problems.append(Problem(head[0] + 1, f"events from {head[0] + 1} on lie beyond the head (added behind "
                                             f"the hub's back, or the head was moved back)"))
    if not broken:
        if last == 0:
            problems.append(Problem(1, "the log is empty, but a hub records its own initialisation (deleted)"))
        problems.extend(_head_problem(head, last, prev))
    trusted = broken_at - 1 if broken else last  # a signed head beyond a broken link says nothing more
    problems.extend(_signed_problems(signatures.signed, hashes, trusted, broken=broken))
    first = min(problems, key=lambda p: p.seq, default=None)
    return Verification(last, signatures.checkpoints, signatures.witnesses, first)


def _chain_of_checkpoints(valid: dict[int, Claims]) -> Iterator[Problem]:
    """Each validly signed checkpoint names the one before it (the first names none)."""
    before: tuple[int, str] | None = None
    for seq in sorted(valid):
        claims = valid[seq]
        if claims.prev != before:
            named = claims.prev[0] if claims.prev else None
            if named is not None and (before is None or named > before[0]):
                yield Problem(named, f"checkpoint {named} is missing: checkpoint {seq} was signed after it (deleted)")
            else:
                yield Problem(seq, f"checkpoint {seq} does not follow the checkpoint before it")
        before = (seq, claims.head)


def _witnesses_held(witnesses: Sequence[Witness], valid: dict[int, Claims]) -> Iterator[Problem]:
    """A witness is a copy of a checkpoint the hub signed and must still hold."""
    for w in witnesses:
        if w.checkpoint.seq not in valid:
            yield Problem(w.checkpoint.seq, f"witness {w.name}: the hub no longer holds its checkpoint "
                                            f"{w.checkpoint.seq} (deleted)")


def _head_problem(head: tuple[int, bytes] | None, last: int, prev: bytes) -> list[Problem]:
    if head is None:
        return [Problem(last, "the chain's head record is missing or unreadable")] if last else []
    seq, digest = head
    if seq > last:
        return [Problem(last + 1, f"the log ends at event {last} but its head says {seq} (truncated)")]
    if seq < last:
        return [Problem(seq + 1, f"events {seq + 1}-{last} lie beyond the head (added behind the hub's back)")]
    if digest != prev:
        return [Problem(last, "the head's hash differs from the last event's (rewritten)")]
    return []


def _signed_problems(signed: list[tuple[str, Checkpoint]], hashes: dict[int, bytes], trusted: int, *,
                     broken: bool) -> Iterator[Problem]:
    """Each validly signed checkpoint or witness: a seq the log still reaches, the same head there.
    Heads beyond ``trusted`` (the last event before a broken link, or the log's end) are only compared
    when the chain is whole: they then show a truncation."""
    agreed = 0  # the highest seq at which a signed head matched so far
    for label, checkpoint in sorted(signed, key=lambda s: s[1].seq):
        if checkpoint.seq > trusted:
            if not broken:
                yield Problem(trusted + 1, f"{label} signed a head at event {checkpoint.seq}, but the log ends at "
                                           f"{trusted} (truncated below a signed head)")
        elif hashes.get(checkpoint.seq) != bytes.fromhex(checkpoint.head):
            yield Problem(agreed + 1, f"{label}: the log's head at event {checkpoint.seq} is not the one signed; "
                                      f"events {agreed + 1}-{checkpoint.seq} were rewritten")
        else:
            agreed = max(agreed, checkpoint.seq)


def stream(conn: Connection, table: str, columns: Sequence[str], key: Sequence[str], batch: int, *,
           low: int | None = None, high: int | None = None) -> Iterator[tuple]:
    """The rows of ``table`` (with seq ``low``-``high``, where given) as tuples of ``columns`` (which
    include the ``key`` columns), by ``key``, read ``batch`` at a time by the driver (a million rows
    through the ORM layer would cost more than checking them). On PostgreSQL the next batch is fetched, in
    the binary protocol, while this one is checked, and the planner is held to the key's index for the rest
    of the transaction: with statistics older than a burst of appends it would sort the whole remaining
    range for every batch (seen: 17 s instead of 8 to verify 1,000,000 events)."""
    at = [columns.index(k) for k in key]
    mark = placeholder(conn)
    bounds = (f" AND seq >= {int(low)}" if low is not None else "") + \
        (f" AND seq <= {int(high)}" if high is not None else "")
    sql = (f"SELECT {', '.join(columns)} FROM {table} WHERE ({', '.join(key)}) > ({', '.join([mark] * len(key))})"
           f"{bounds} ORDER BY {', '.join(key)} LIMIT {int(batch)}")
    driver = conn.connection.driver_connection
    postgres = conn.dialect.name == "postgresql"
    cursor = driver.cursor(binary=True) if postgres else driver.cursor()
    if postgres:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")

    def fetch(after: tuple) -> list[tuple]:
        cursor.execute(sql, after)
        return cursor.fetchall()

    first = (-2**63, "")[:len(key)]  # before any seq, even one an attacker made negative
    try:
        with ThreadPoolExecutor(1) if postgres else nullcontext() as pool:
            chunk = fetch(first)
            while True:
                more = len(chunk) == batch
                if more and pool:
                    pending = pool.submit(fetch, tuple(chunk[-1][i] for i in at))
                yield from chunk
                if not more:
                    return
                chunk = pending.result() if pool else fetch(tuple(chunk[-1][i] for i in at))
    finally:
        cursor.close()


def stored_events(conn: Connection, batch: int = 50_000, **bounds) -> Iterator[tuple]:
    """The events (seq ``low``-``high``, where given), as tuples in :data:`COLUMNS` order, by seq."""
    return stream(conn, "audit_events", COLUMNS, ("seq",), batch, **bounds)


def stored_reads(conn: Connection, batch: int = 50_000, **bounds) -> Iterator[tuple]:
    """The area reads (seq ``low``-``high``, where given), as tuples in :data:`READ_COLUMNS` order, by seq
    and area."""
    return stream(conn, "audit_area_reads", READ_COLUMNS, ("seq", "area"), batch, **bounds)


def stored_checkpoints(conn: Connection) -> list[Checkpoint]:
    t = audit_checkpoints
    return [Checkpoint(r.seq, bytes(r.head_hash).hex() if isinstance(r.head_hash, bytes | memoryview) else "",
                       str(r.signed_at), str(r.jws)) for r in conn.execute(select(t).order_by(t.c.seq))]


#: Below this many events, one process verifies sooner than several can start.
PARALLEL_FROM = 200_000


def verify_log(conn: Connection, *, public_key: str, event_types: Mapping[str, type[EventType]],
               witness_files: Sequence[Path] = (), batch: int = 50_000, processes: int | None = None,
               parallel_from: int = PARALLEL_FROM) -> Verification:
    """Verify the log in the database ``conn`` reaches (see :func:`check_log`), in one snapshot: ``conn``
    must not have begun a transaction. A log of ``parallel_from`` events or more is split into ranges
    checked by ``processes`` processes (default: one per core), each reading the same snapshot."""
    witnesses = [Witness(path.name, read_witness(path)) for path in witness_files]
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="REPEATABLE READ")
    else:  # SQLite starts no transaction for reads by itself; inside one, every read sees one snapshot
        conn.exec_driver_sql("BEGIN")
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    readable = head is not None and isinstance(head.seq, int) and isinstance(head.hash, bytes | memoryview)
    head_row = (head.seq, bytes(head.hash)) if readable else None
    readers = readers_of(event_types)
    processes = processes or os.cpu_count() or 1
    if head_row is None or processes < 2 or head.seq < parallel_from:
        signatures = Signatures.check(stored_checkpoints(conn), witnesses, public_key)
        part = scan(stored_events(conn, batch), stored_reads(conn, batch), valid=signatures.valid, readers=readers,
                    wanted=signatures.wanted)
        return conclude(signatures, [part], head_row)
    from audit.parallel import scan_in_processes, started_workers

    with started_workers(processes) as workers:  # they start while the signatures are checked here
        signatures = Signatures.check(stored_checkpoints(conn), witnesses, public_key)
        parts = scan_in_processes(workers, processes, conn, head.seq, signatures, readers, batch)
    return conclude(signatures, parts, head_row, more=_beyond_head(conn, head.seq))


def _beyond_head(conn: Connection, head: int) -> list[Problem]:
    """Events or area reads past the head, which the ranges (bounded by the head) did not read."""
    problems = []
    low, high = conn.exec_driver_sql(f"SELECT min(seq), max(seq) FROM audit_events WHERE seq > {int(head)}").one()
    if low is not None:
        problems.append(Problem(head + 1, f"events {low}-{high} lie beyond the head (added behind the hub's back)"))
    read = conn.exec_driver_sql(f"SELECT min(seq) FROM audit_area_reads WHERE seq > {int(head)}").scalar()
    if read is not None:
        problems.append(Problem(read, f"'who used our data' lists reads by event {read}, beyond the log (added)"))
    return problems
