"""Publishing: ``hub publish`` over about a million linked person records on the embedded SQLite default.

Builds (or reuses) the population of ``bench/link.py`` (twelve provinces, four partner formats, ingested),
links it once, then times a full publish of every view the shipped contracts define (consent decisions,
household facts, the bottom-up aggregates with suppression, the k-anonymous microdata, differential
privacy for the public view, the versioned write and the switch). Then 1% more records arrive (held-back
TPMAP rows, ingested and linked incrementally) and publish runs again, timed against the full one; it
prints how many microdata rows that publish wrote and how many it shared with the version before.

    python bench/publish.py [--records 1000000] [--repeat 3] [--work DIR]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the packages: bench/audit.py is no package

import snapshot  # noqa: E402
from link import build, late_file  # noqa: E402

from hub.context import Hub  # noqa: E402
from hub.settings import Settings  # noqa: E402


def linked_hub(work: Path) -> Hub:
    """The hub with its database reset to the ingested records, linked once (reused across runs)."""
    linked = work / "linked.db"
    if not linked.exists():
        from hub.linking.run import link

        snapshot.restore(work / "ingested.db", work / "hub")
        hub, _ = Hub.init(Settings(home=work / "hub"))
        start = time.perf_counter()
        link(hub, actor="bench", full=True)
        print(f"linked in {time.perf_counter() - start:.0f} s", flush=True)
        hub.engine.dispose()
        snapshot.save(work / "hub", linked)
    snapshot.restore(linked, work / "hub")
    return Hub.init(Settings(home=work / "hub"))[0]


def timed_publish(hub: Hub) -> tuple[float, list]:
    from hub.views.publish import publish

    start = time.perf_counter()
    done = publish(hub, actor="bench")
    return time.perf_counter() - start, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2566)
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "saphan-bench-link")
    args = parser.parse_args()
    build(args.work, args.records, 0.01, args.seed)

    fulls = []
    for attempt in range(args.repeat):
        hub = linked_hub(args.work)
        seconds, done = timed_publish(hub)
        fulls.append(seconds)
        print(f"  full publish {attempt + 1}: {seconds:.1f} s", flush=True)
        if attempt < args.repeat - 1:
            hub.engine.dispose()
    for p in done:
        print(f"    {p.view:<20} {p.rows:>9,} rows")

    from hub.linking.run import link
    from hub.pipeline.ingest import ingest_file

    added = ingest_file(hub, "tpmap", late_file(args.work), actor="bench").inserted
    link(hub, actor="bench")
    seconds, again = timed_publish(hub)
    hub.engine.dispose()
    for p in again:
        if "rows_written" in p.report:  # microdata: rows stored copy-on-write
            print(f"    {p.view:<20} {p.report['rows_written']:>9,} rows written, "
                  f"{p.report['rows_shared']:,} shared with the version before")
    full = statistics.median(fulls)
    print(f"full publish: median {full:.1f} s of {args.repeat}; after {added:,} new records (1%): "
          f"{seconds:.1f} s ({seconds / full:.0%} of full)")


if __name__ == "__main__":
    main()
