"""Consent decisions: the bulk rate at publish time and the cost of the single decision on every read.

1. **Bulk.** A national-shaped population of ``--records`` records (default 1,000,000: 2.5 per
   household, 60 households per village, 8 villages per tambon) and a registry as the field would hold
   it: data-return grants from half of the villages and a tenth of the tambons (some expired, some
   withdrawn), paper decisions from 3% of households, grants from 0.5% and opt-outs or objections from
   1% of persons. :func:`consent.decisions.decide_bulk` answers four questions (data return to a
   village's stewards, a welfare partner with no other basis, a partner under public task, sensitive
   data under a legal obligation) for every record; decisions/s is records / median seconds. The
   population's factorisation (once per publish, shared by every question) is timed apart.
2. **Single read.** The same registry stored in a real database (SQLite, PostgreSQL), then
   :func:`consent.decisions.decide_one` for ``--reads`` random records; reported in microseconds per
   decision beside the physical reference, a primary-key ``SELECT`` of one record from a table of the
   same size (what the read it guards costs at least).

    python bench/consent.py [--records 1000000] [--reads 2000] [--repeat 5] [--backends sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import scratch_database  # noqa: E402

from consent.decisions import Ground, Question, Recipient, Standing, decide_bulk, decide_one  # noqa: E402
from consent.population import Population  # noqa: E402
from hub.db.bulk import bulk_insert  # noqa: E402
from hub.db.engine import make_engine  # noqa: E402
from hub.db.schema import consents, metadata  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)


def population(records: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    households = max(1, int(records / 2.5))
    household = np.sort(rng.integers(0, households, records))
    village = household // 60
    tambon = village // 8
    cid = rng.integers(0, 2**62, records)
    has_id = rng.random(records) < 0.9
    return pd.DataFrame({
        "person_id": [f"{i:032x}" for i in range(records)],
        "household_id": [f"{h:032x}" for h in household],
        "cid": [f"cid:{c:064x}" if ok else None for c, ok in zip(cid, has_id)],
        "tambon": [f"{100000 + t:06d}" for t in tambon],
        "moo": pd.array(village % 8 + 1, dtype="Int64"),
    })


def registry(frame: pd.DataFrame, seed: int) -> list[SimpleNamespace]:
    """Decisions as the field would hold them, as the rows :class:`Standing` carries."""
    rng = random.Random(seed)
    rows, seq = [], 0

    def add(ref, status, purposes, recipients, *, sensitive=False, objection=False, expires=None, days_ago=None):
        nonlocal seq
        seq += 1
        decided = NOW - dt.timedelta(days=days_ago if days_ago is not None else rng.randrange(1, 900))
        rows.append(SimpleNamespace(subject_ref=ref, status=status, purposes=purposes, recipients=recipients,
                                    sensitive=sensitive, objection=objection, decided_at=decided, seq=seq,
                                    expires_at=expires))

    villages = sorted({f"{t}-{int(m):02d}" for t, m in zip(frame["tambon"], frame["moo"])})
    for village in villages:
        if rng.random() < 0.5:
            expired = rng.random() < 0.1
            add(village, "withdrawn" if rng.random() < 0.05 else "given", ["community_planning"], ["community"],
                expires=NOW - dt.timedelta(days=1) if expired else NOW + dt.timedelta(days=365))
    for tambon in sorted(set(frame["tambon"])):
        if rng.random() < 0.1:
            add(tambon, "given", ["community_planning", "public_statistics"], ["community", "type:policy_unit"])
    for household in rng.sample(sorted(set(frame["household_id"])), k=int(0.03 * frame["household_id"].nunique())):
        add("hid:" + household, rng.choice(["given", "given", "refused"]), ["community_planning"], ["community"])
        add("hid:" + household, rng.choice(["given", "refused"]), ["welfare_referral"], ["type:agency"])
    people = frame.sample(frac=0.015, random_state=seed)
    for i, person in enumerate(people.itertuples()):
        ref = person.cid if isinstance(person.cid, str) else "pid:" + person.person_id
        if i % 3 == 0:
            add(ref, "given", ["welfare_referral"], ["partner:msdhs"], sensitive=rng.random() < 0.5)
        elif i % 3 == 1:
            add(ref, "refused", ["community_planning", "welfare_referral"], ["*"])
        else:
            add(ref, "refused", ["research_statistics", "welfare_referral"], ["*"], objection=True)
    return rows


QUESTIONS = {
    "data return to a village's stewards": lambda v: Question("community_planning", Recipient(community=v)),
    "welfare partner, consent only": lambda v: Question("welfare_referral", Recipient("msdhs", "agency")),
    "partner under public task": lambda v: Question("welfare_referral", Recipient("msdhs", "agency"),
                                                    ground=Ground("public_task")),
    "sensitive, legal obligation": lambda v: Question("welfare_referral", Recipient("msdhs", "agency"), True,
                                                      Ground("legal_obligation", covers_sensitive=True)),
}


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_bulk(frame, rows, repeat: int) -> dict:
    factorise, pop = timed(lambda: Population(frame), repeat)
    standing = Standing(rows, {"person": {}, "household": {}})
    village = f"{frame['tambon'][0]}-{int(frame['moo'][0]):02d}"
    out = {"records": len(frame), "decisions_stored": len(rows), "factorise_s": round(factorise, 3), "questions": {}}
    for name, make in QUESTIONS.items():
        seconds, decision = timed(lambda make=make: decide_bulk(pop, standing, make(village), NOW), repeat)
        out["questions"][name] = {"seconds": round(seconds, 3), "decisions_per_s": int(len(frame) / seconds),
                                  "allowed": int(decision.allowed.sum())}
    return out


def bench_single(url: str, frame, rows, reads: int, seed: int) -> dict:
    engine = make_engine(url)
    metadata.create_all(engine, tables=[consents, metadata.tables["id_redirects"], metadata.tables["link_runs"]])
    columns = ("id", "seq", "subject_kind", "subject_ref", "purposes", "recipients", "sensitive", "objection",
               "status", "grantor", "evidence", "decided_at", "expires_at", "changed_at", "recorded_by")
    with engine.begin() as conn:
        bulk_insert(conn, consents, columns, [
            (uuid.uuid4().hex, r.seq, "person", r.subject_ref, json.dumps(r.purposes), json.dumps(r.recipients),
             r.sensitive, r.objection, r.status, "{}", "{}", r.decided_at, r.expires_at, r.decided_at, "bench")
            for r in rows])
        conn.exec_driver_sql("CREATE TABLE bench_records (id BIGINT PRIMARY KEY, person_id VARCHAR(32), "
                             "household_id VARCHAR(32), tambon_code VARCHAR(6))")
        conn.exec_driver_sql("INSERT INTO bench_records VALUES " + ",".join(
            f"({i},'{p}','{h}','{t}')" for i, (p, h, t) in enumerate(
                zip(frame["person_id"][:200_000], frame["household_id"], frame["tambon"]))))
    pop = Population(frame.iloc[:200_000])
    rng = random.Random(seed)
    picks = [rng.randrange(200_000) for _ in range(reads)]
    subjects = [pop.subject(i) for i in picks]
    question = QUESTIONS["partner under public task"]("")
    mark = "%s" if engine.dialect.name == "postgresql" else "?"
    with engine.connect() as conn:
        for s in subjects[:50]:  # warm the caches
            decide_one(conn, s, question, NOW)
        start = time.perf_counter()
        for s in subjects:
            decide_one(conn, s, question, NOW)
        decide_us = (time.perf_counter() - start) / reads * 1e6
        cursor = conn.connection.driver_connection.cursor()
        start = time.perf_counter()
        for i in picks:
            cursor.execute(f"SELECT * FROM bench_records WHERE id = {mark}", (i,))
            cursor.fetchall()
        select_us = (time.perf_counter() - start) / reads * 1e6
    engine.dispose()
    return {"decide_one_us": round(decide_us, 1), "primary_key_select_us": round(select_us, 1),
            "ratio": round(decide_us / select_us, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--seed", type=int, default=2566)
    args = parser.parse_args()

    frame = population(args.records, args.seed)
    rows = registry(frame, args.seed)
    bulk = bench_bulk(frame, rows, args.repeat)
    print(f"bulk: {bulk['records']:,} records, {bulk['decisions_stored']:,} stored decisions; "
          f"factorising the population once: {bulk['factorise_s']} s")
    for name, figures in bulk["questions"].items():
        print(f"  {name:40s} {figures['seconds']:7.3f} s  {figures['decisions_per_s']:>12,} decisions/s  "
              f"({figures['allowed']:,} allowed)")
    single = {}
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="saphan-consent-bench-") as work, \
                scratch_database(backend, Path(work), args.pg_url) as url:
            single[backend] = bench_single(url, frame, rows, args.reads, args.seed)
        s = single[backend]
        print(f"single read on {backend}: decide_one {s['decide_one_us']} µs vs primary-key select "
              f"{s['primary_key_select_us']} µs ({s['ratio']}x)")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "consent.json").write_text(json.dumps({"bulk": bulk, "single": single}, indent=2))


if __name__ == "__main__":
    main()
