"""Ingest throughput against the machine's physical limit.

Writes N synthetic TPMAP rows (default 1,000,000) as a real partner file, then for SQLite and for
PostgreSQL: (1) ``hub ingest`` of that file (parse, validate, key, encrypt, upsert, audit), in a fresh
process so its peak memory is its own; (2) a plain bulk insert of the very rows the ingest stored
(raw driver ``executemany`` in one transaction on SQLite, ``COPY`` on PostgreSQL) into an empty twin of
the table with the same columns and indexes: the physical limit for writing those rows. Prints
records/s for both, the ratio, and peak RSS. Each figure is the median of ``--repeat`` runs (this
machine is noisy; compare the ratio, measured in the same run).

    python bench/ingest.py [--rows 1000000] [--repeat 3] [--backends sqlite,postgresql] [--pg-url URL]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import scratch_database  # noqa: E402

from hub.db.engine import SQLITE_CACHE_KIB  # noqa: E402
from hub.thai.citizen_id import with_check_digit  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FIRST = ["สมชาย", "สมพร", "ประยุทธ", "วิไล", "บุญมี", "สุดา", "ทองดี", "มาลี", "อำนาจ", "จันทร์เพ็ญ", "สมศักดิ์", "นงลักษณ์"]
LAST = ["ใจดี", "ศรีสุข", "บุญมา", "แก้วมณี", "ทองคำ", "พรหมมา", "สายทอง", "วงศ์ใหญ่", "ศรีวงศ์", "คำแก้ว"]
TAMBONS = ["340101", "340104", "340105", "100101", "100102", "500101", "500102", "500103"]
HEADER = ("tpmap_person_id,survey_year,pid,prefix,fname,lname,sex,birth_date,house_code,house_no,moo,tambon_code,"
          "amphoe_code,province_code,welfare_card,dim_health,dim_living,dim_education,dim_income,dim_access,"
          "failed_indicators,income_per_capita_year").split(",")


def write_tpmap(path: Path, rows: int, seed: int = 7) -> None:
    """``rows`` realistic TPMAP rows (BOM, CRLF); about 8% blank and 2% mistyped citizen IDs."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle, lineterminator="\r\n")
        out.writerow(HEADER)
        for i in range(rows):
            tambon = rng.choice(TAMBONS)
            male = rng.random() < 0.5
            pid = with_check_digit(f"{rng.randrange(1, 9)}{rng.randrange(10**11):011d}")
            roll = rng.random()
            if roll < 0.08:
                pid = ""
            elif roll < 0.10:
                pid = pid[:-1] + str((int(pid[-1]) + 1) % 10)
            dims = [rng.random() < 0.4 for _ in range(5)]
            out.writerow([
                f"TP66-{tambon[:4]}-{i:08d}", 2566, pid, "นาย" if male else "นาง", rng.choice(FIRST),
                rng.choice(LAST), 1 if male else 2,
                f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/{rng.randrange(2480, 2560)}",
                f"{tambon[:4]}{rng.randrange(10**7):07d}", f"{rng.randrange(1, 300)}/{rng.randrange(1, 9)}",
                rng.randrange(1, 16), tambon, tambon[:4], tambon[:2], "Y" if rng.random() < 0.7 else "N",
                *(int(d) for d in dims), "L1;I3" if dims[1] else "I3", rng.randrange(10000, 90000)])


def peak_rss_mb() -> float:
    """The larger peak RSS of this process and of its finished children (the background reader)."""
    peaks = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return max(peaks) / 1024


def worker_ingest(url: str, home: str, path: str) -> dict:
    from hub.context import Hub
    from hub.pipeline.ingest import ingest_file
    from hub.settings import Settings

    hub, _ = Hub.init(Settings(home=Path(home), database_url=url))
    start = time.perf_counter()
    report = ingest_file(hub, "tpmap", Path(path), actor="bench")
    seconds = time.perf_counter() - start
    return {"records": report.inserted, "seconds": seconds, "rate": report.inserted / seconds,
            "peak_rss_mb": peak_rss_mb()}


#: The tables ``hub ingest`` fills with a person record (the record, and its provisional ids beside it),
#: each with the columns of its unique key.
STORED_TABLES = {"source_records": "source, record_id", "record_links": "id"}


def worker_plain(url: str) -> dict:
    """Copy the stored rows of :data:`STORED_TABLES` into empty twin tables (``plain_<table>``, same columns
    and indexes) with the raw driver; time only the inserts."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    seconds, copied = 0.0, {}
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        if not url.startswith("sqlite"):  # read jsonb back as text, exactly as it was written
            from psycopg.types.string import TextLoader

            raw.adapters.register_loader("jsonb", TextLoader)
        cur = raw.cursor()
        for table in STORED_TABLES:
            cur.execute(f"SELECT * FROM {table}")
            columns = [d[0] for d in cur.description]
            rows = cur.fetchall()
            twin = f"plain_{table}"
            cur.execute(f"DROP TABLE IF EXISTS {twin}")
            if url.startswith("sqlite"):
                cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # the page cache the hub itself uses
                cur.execute(f"CREATE TABLE {twin} AS SELECT * FROM {table} WHERE 0")
                cur.execute(f"SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' "
                            "AND sql IS NOT NULL")
                for (sql,) in cur.fetchall():
                    cur.execute(sql.replace("INDEX ", "INDEX plain_", 1).replace(f"ON {table}", f"ON {twin}"))
                cur.execute(f"CREATE UNIQUE INDEX {twin}_key ON {twin} ({STORED_TABLES[table]})")
                raw.commit()
                start = time.perf_counter()
                cur.execute("BEGIN")
                cur.executemany(f"INSERT INTO {twin} VALUES ({','.join('?' * len(columns))})", rows)
                raw.commit()
            else:
                cur.execute(f"CREATE TABLE {twin} (LIKE {table} INCLUDING INDEXES)")
                raw.commit()
                start = time.perf_counter()
                with cur.copy(f"COPY {twin} ({','.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                raw.commit()
            seconds += time.perf_counter() - start
            copied[table] = len(rows)
    records = copied["source_records"]
    return {"records": records, "seconds": seconds, "rate": records / seconds}


def run_worker(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("HUB_TEST_DATABASE_URL", PG_URL))
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        print(json.dumps(worker_ingest(*rest) if kind == "ingest" else worker_plain(*rest)))
        return
    with tempfile.TemporaryDirectory(prefix="saphan-bench-") as tmp:
        work = Path(tmp)
        source = work / "tpmap.csv"
        start = time.perf_counter()
        write_tpmap(source, args.rows)
        print(f"wrote {args.rows:,} TPMAP rows ({source.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - start:.1f} s")
        print(f"{'backend':<11} {'ingest rec/s':>13} {'peak RSS MB':>12} {'plain insert rows/s':>20} {'ratio':>7}")
        for backend in args.backends.split(","):
            ingests, plains = [], []
            for attempt in range(args.repeat):
                with scratch_database(backend, work / f"{backend}-{attempt}", args.pg_url) as url:
                    ingests.append(run_worker("ingest", url, str(work / f"home-{backend}-{attempt}"), str(source)))
                    plains.append(run_worker("plain", url))
            rate = statistics.median(r["rate"] for r in ingests)
            plain = statistics.median(r["rate"] for r in plains)
            rss = max(r["peak_rss_mb"] for r in ingests)
            print(f"{backend:<11} {rate:>13,.0f} {rss:>12,.0f} {plain:>20,.0f} {rate / plain:>7.1%}", flush=True)


if __name__ == "__main__":
    main()
