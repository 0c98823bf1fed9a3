"""The audit log: how fast events are appended (one per transaction, and in batches) and how long a full
verification of 1,000,000 events takes, on the embedded SQLite default (or PostgreSQL, ``--pg-url``).

Events are real event types with realistic details (view reads with a village breakdown, consent checks,
ingest reports), appended through :class:`audit.chain.AuditLog` exactly as the hub does, with signed
checkpoints every 1,000 events. Verification is ``hub audit verify``'s: the chain, every stored
checkpoint's signature and head, and a witness file exported at the end.

    python bench/audit.py [--events 1000000] [--single 5000] [--batch 1000] [--pg-url URL]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import scratch_database  # noqa: E402

from audit.access import export_checkpoint, verify  # noqa: E402
from audit.events import EventType, IngestCompleted, ViewRead  # noqa: E402
from consent.events import ConsentChecked  # noqa: E402
from hub.context import Hub  # noqa: E402
from hub.settings import Settings  # noqa: E402


def sample_events(rng: random.Random, n: int) -> list[EventType]:
    """``n`` events in the mix a busy hub writes: mostly reads, some consent checks, a few ingests."""
    out = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.6:
            villages = {f"34{rng.randrange(100, 130):04d}-{rng.randrange(1, 15):02d}": rng.randrange(1, 40)
                        for _ in range(rng.randrange(1, 4))}
            out.append(ViewRead(resource="view:msdhs_households", partner="msdhs", purpose="welfare_referral",
                                version_id=rng.randrange(1, 50), area=None, rows=sum(villages.values()),
                                areas=villages))
        elif roll < 0.95:
            out.append(ConsentChecked(resource="person:" + f"{rng.getrandbits(128):032x}",
                                      subject_ref=f"{rng.getrandbits(128):032x}", purpose="welfare_referral",
                                      recipient="msdhs", allowed=rng.random() < 0.9, basis="public_task"))
        else:
            out.append(IngestCompleted(resource="file:tpmap_2566_export.csv", source="tpmap", file_sha256="ab" * 32,
                                       run_id=rng.randrange(1, 999), rows_read=2000, inserted=1900, updated=50,
                                       unchanged=40, stale=0, deleted=0, quarantined=10, households_inserted=700,
                                       households_updated=20, erased=0, fields_refused=[]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log to verify")
    parser.add_argument("--single", type=int, default=5_000, help="events appended one per transaction")
    parser.add_argument("--batch", type=int, default=1_000, help="events per batched transaction")
    parser.add_argument("--pg-url", help="measure on a fresh schema of this PostgreSQL server (default: SQLite in a "
                                         "temporary directory)")
    parser.add_argument("--seed", type=int, default=2567)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="saphan-bench-audit-") as work:
        home = Path(work)
        with scratch_database("postgresql" if args.pg_url else "sqlite", home, args.pg_url) as url:
            run(home, url, args)


def run(home: Path, url: str, args) -> None:
    hub, _ = Hub.init(Settings(home=home, database_url=url))
    rng = random.Random(args.seed)
    print(f"database: {hub.engine.url.render_as_string(hide_password=True)}; {os.cpu_count()} cores", flush=True)

    events = sample_events(rng, args.single)
    start = time.perf_counter()
    for event in events:
        with hub.engine.begin() as conn:
            hub.audit.append(conn, event, actor="api:partner:msdhs-system")
    single = args.single / (time.perf_counter() - start)
    print(f"append, one event per transaction: {single:,.0f} events/s ({args.single:,} events)", flush=True)

    appended, batched_seconds = args.single, 0.0
    while appended < args.events:
        events = sample_events(rng, min(args.batch, args.events - appended))
        start = time.perf_counter()
        with hub.engine.begin() as conn:
            hub.audit.append_many(conn, events, actor="api:partner:msdhs-system")
        batched_seconds += time.perf_counter() - start
        appended += len(events)
    batched = (appended - args.single) / batched_seconds
    print(f"append, {args.batch:,} events per transaction: {batched:,.0f} events/s "
          f"({appended - args.single:,} events)", flush=True)

    witness = home / "witness.json"
    export_checkpoint(hub, witness, actor="bench")
    start = time.perf_counter()
    result = verify(hub, [witness])
    seconds = time.perf_counter() - start
    assert result.intact, result.problem
    print(f"verify {result.events:,} events, {result.checkpoints:,} signed checkpoints and a witness: "
          f"{seconds:.1f} s ({result.events / seconds:,.0f} events/s)")
    hub.engine.dispose()


if __name__ == "__main__":
    main()
