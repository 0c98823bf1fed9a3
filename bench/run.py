"""The national benchmark: the whole pipeline on a national-shaped population, stage by stage, each stage
paired in the same run with its physical reference, on SQLite and on PostgreSQL.

1. A synthetic population with about ``--size`` person records (``100k``, ``1m``, ``5m``: the unit every
   stage processes) across all 77 provinces (``hub.demo``: four sources with their overlap and noise),
   written in the four partner formats; 1% of the records, as TPMAP rows, held back for the re-sync. A
   consent registry as the field would hold it (``bench/consent.py``: village and tambon grants, household
   and personal decisions) is stored before the consent stage.
2. Per backend, each stage in a fresh process (so its peak memory is its own) on an empty database:

   - **ingest**: every partner file through its adapter (parse, validate, key, encrypt, write, audit);
     reference: a plain bulk insert of the rows it stored (``executemany`` / ``COPY``, ``bench/ingest.py``);
   - **link**: ``hub link --full``; reference: plain Splink deduplication of the same decrypted records
     (``bench/link.py``);
   - **consent**: every view's consent question for every record, as publish asks it; reference: reading
     the records it decides for;
   - **publish**: ``hub publish`` (consent, facts, suppression, k-anonymity, DP, versioned write);
     reference: reading the records and counting them per area at all five levels, without privacy;
   - **re-sync**: the held-back 1% ingested, linked (incrementally) and published; compared with the
     full pipeline (ingest + link + publish).

3. Records/s and peak RSS per stage, the ratio to the reference, written to
   ``bench/results/run-<size>.json`` and ``.md``.

    python bench/run.py [--size 100k] [--backends sqlite,postgresql] [--pg-url URL] [--work DIR]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the packages: bench/audit.py is no package

from scratch import scratch_database  # noqa: E402

SIZES = {"100k": 100_000, "1m": 1_000_000, "5m": 5_000_000}
SOURCE_ORDER = ("tpmap", "msdhs_logbook", "eef_students", "university_survey")
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SEED = 2566


# ----------------------------------------------------------------------------------------- population

def generate(work: Path, records: int) -> dict:
    """Write the partner files of a population with about ``records`` person records under ``work/files``
    (reused when already written); returns what was written: the files in delivery order, the held-back
    file, the persons and households."""
    from link import hold_back

    from hub.demo.population import _PROVINCE_SEATS, generate_population
    from hub.demo.writers import write_partner_files

    manifest = work / "files" / f"manifest-{records}-{SEED}.json"
    if manifest.exists():
        return json.loads(manifest.read_text())
    shutil.rmtree(work / "files", ignore_errors=True)
    provinces = tuple(sorted(_PROVINCE_SEATS))  # all 77
    sample = generate_population(provinces=provinces, households=3000, seed=SEED)
    write_partner_files(sample, work / "sample", seed=SEED)
    per_household = (sum(1 for _ in open(work / "sample" / "truth.csv", encoding="utf-8")) - 1) / 3000
    shutil.rmtree(work / "sample")
    population = generate_population(provinces=provinces, households=round(records / per_household), seed=SEED)
    written = write_partner_files(population, work / "files", seed=SEED)
    tpmap = written.files["tpmap"][0]
    records = sum(1 for _ in open(work / "files" / "truth.csv", encoding="utf-8")) - 1
    tpmap_rows = sum(1 for _ in open(tpmap, encoding="utf-8-sig")) - 1
    late = work / "files" / "tpmap_late.csv"
    held = hold_back(tpmap, late, 0.01 * records / tpmap_rows, SEED)
    out = {"persons": len(population.persons), "households": len(population.households), "records": records,
           "held_back": held, "late": str(late),
           "files": [(source, str(path)) for source in SOURCE_ORDER for path in written.files.get(source, [])]}
    manifest.write_text(json.dumps(out))
    return out


# ----------------------------------------------------------------------------------------- workers

def _hub(url: str, home: str):
    from hub.context import Hub
    from hub.settings import Settings

    return Hub.init(Settings(home=Path(home), database_url=url))[0]


def _stored(hub) -> int:
    from sqlalchemy import func, select

    from hub.db.schema import source_records

    with hub.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(source_records))


def stage_ingest(url: str, home: str, population: dict) -> dict:
    from hub.pipeline.ingest import ingest_file

    hub = _hub(url, home)
    start = time.perf_counter()
    for source, path in population["files"]:
        ingest_file(hub, source, Path(path), actor="bench")
    return {"seconds": time.perf_counter() - start, "records": _stored(hub)}


def stage_ingest_reference(url: str, home: str, population: dict) -> dict:
    from ingest import STORED_TABLES, worker_plain

    done = worker_plain(url)  # into twin tables, dropped after: the later stages see the hub's tables only
    hub = _hub(url, home)
    with hub.engine.begin() as conn:
        for table in STORED_TABLES:
            conn.exec_driver_sql(f"DROP TABLE plain_{table}")
    return {"seconds": done["seconds"], "records": done["records"]}


def stage_link(url: str, home: str, population: dict) -> dict:
    from hub.linking.run import link

    hub = _hub(url, home)
    start = time.perf_counter()
    report = link(hub, actor="bench", full=True)
    return {"seconds": time.perf_counter() - start, "records": report.records, "persons": report.persons}


def stage_link_reference(url: str, home: str, population: dict) -> dict:
    from link import plain_splink

    from hub.linking.records import load_identities, load_keys

    hub = _hub(url, home)
    start = time.perf_counter()
    with hub.engine.connect() as conn:
        rows = load_keys(conn)
        people = load_identities(conn, hub.cipher, None)
    plain_splink(rows, people)
    return {"seconds": time.perf_counter() - start, "records": len(rows)}


def _inputs(hub):
    from hub.views.facts import load_inputs

    with hub.engine.connect() as conn:
        return load_inputs(conn)


def _store_registry(hub, records) -> int:
    """Store a consent registry for the ``records`` (``bench/consent.py``); returns the decisions stored."""
    import importlib.util
    import uuid

    from hub.db.bulk import bulk_insert
    from hub.db.schema import consents

    # bench/consent.py, by path: its module name is the consent package's
    spec = importlib.util.spec_from_file_location("consent_bench", ROOT / "bench" / "consent.py")
    consent_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(consent_bench)
    rows = consent_bench.registry(records.dropna(subset=["moo"]), SEED)  # villages need their moo
    columns = ("id", "seq", "subject_kind", "subject_ref", "purposes", "recipients", "sensitive", "objection",
               "status", "grantor", "evidence", "decided_at", "expires_at", "changed_at", "recorded_by")
    with hub.engine.begin() as conn:
        bulk_insert(conn, consents, columns, [
            (uuid.uuid4().hex, r.seq, "person", r.subject_ref, json.dumps(r.purposes), json.dumps(r.recipients),
             r.sensitive, r.objection, r.status, "{}", "{}", r.decided_at, r.expires_at, r.decided_at, "bench")
            for r in rows])
    return len(rows)


def stage_consent(url: str, home: str, population: dict) -> dict:
    from consent.decisions import load_standing
    from hub.views.publish import allowed_records

    hub = _hub(url, home)
    inputs = _inputs(hub)
    stored = _store_registry(hub, inputs.records)
    with hub.engine.connect() as conn:
        standing = load_standing(conn)
    views = [(c, v) for c, v in hub.contracts.views() if not v.identified]
    start = time.perf_counter()
    allowed_records(hub.contracts, views, inputs, standing, dt.datetime.now(dt.UTC))
    return {"seconds": time.perf_counter() - start, "records": len(inputs.records) * len(views),
            "decisions_stored": stored}


def stage_consent_reference(url: str, home: str, population: dict) -> dict:
    hub = _hub(url, home)
    start = time.perf_counter()
    inputs = _inputs(hub)
    views = [v for _, v in hub.contracts.views() if not v.identified]
    return {"seconds": time.perf_counter() - start, "records": len(inputs.records) * len(views)}


def stage_publish(url: str, home: str, population: dict) -> dict:
    from hub.views.publish import publish

    hub = _hub(url, home)
    start = time.perf_counter()
    publish(hub, actor="bench", force=True)
    return {"seconds": time.perf_counter() - start, "records": _stored(hub)}


def stage_publish_reference(url: str, home: str, population: dict) -> dict:
    hub = _hub(url, home)
    start = time.perf_counter()
    records = _inputs(hub).records
    village = records["tambon"] + "-" + records["moo"].astype("string").fillna("")
    for key in (village, records["tambon"], records["tambon"].str[:4], records["tambon"].str[:2]):
        key.value_counts()
    len(records)  # the nation
    return {"seconds": time.perf_counter() - start, "records": len(records)}


def stage_resync(url: str, home: str, population: dict) -> dict:
    from hub.linking.run import link
    from hub.pipeline.ingest import ingest_file
    from hub.views.publish import publish

    hub = _hub(url, home)
    seconds = {}
    start = time.perf_counter()
    added = ingest_file(hub, "tpmap", Path(population["late"]), actor="bench").inserted
    seconds["ingest"], mark = time.perf_counter() - start, time.perf_counter()
    report = link(hub, actor="bench")
    seconds["link"], mark = time.perf_counter() - mark, time.perf_counter()
    publish(hub, actor="bench")
    seconds["publish"] = time.perf_counter() - mark
    return {"seconds": time.perf_counter() - start, "records": added, "link_mode": report.mode,
            "parts": {k: round(v, 2) for k, v in seconds.items()}}


STAGES = {name.removeprefix("stage_"): fn for name, fn in globals().items() if name.startswith("stage_")}


def peak_rss_mb() -> float:
    """The larger peak RSS of this process and of its finished children (linking's decryption process).
    This process's own is its memory's high-water mark (``VmHWM``): ``ru_maxrss`` keeps, across the exec
    that started it, what the parent held when it forked (the whole population, here)."""
    import resource

    status = Path("/proc/self/status").read_text()
    own_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    return max(own_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def run_stage(stage: str, url: str, home: Path, work: Path) -> dict:
    """``stage`` in a fresh process; its result with ``peak_rss_mb``."""
    out = subprocess.run([sys.executable, __file__, "--worker", stage, "--url", url, "--home", str(home),
                          "--work", str(work)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------- report

PAIRS = (("ingest", "ingest_reference"), ("link", "link_reference"), ("consent", "consent_reference"),
         ("publish", "publish_reference"))


def backend_results(backend: str, url: str, work: Path) -> dict:
    home = work / backend / "hub"
    shutil.rmtree(home, ignore_errors=True)
    out = {}
    for stage in ("ingest", "ingest_reference", "link", "link_reference", "consent", "consent_reference",
                  "publish", "publish_reference", "resync"):
        out[stage] = run_stage(stage, url, home, work)
        print(f"  {backend} {stage}: {out[stage]['seconds']:.1f} s, {out[stage]['records']:,} records, "
              f"peak {out[stage]['peak_rss_mb']:.0f} MB", flush=True)
    return out


def markdown(size: str, population: dict, results: dict) -> str:
    lines = [f"# `bench/run.py --size {size}`", "",
             f"{population['persons']:,} persons in {population['households']:,} households across all 77 "
             f"provinces; {population['records']:,} records in four sources ({population['held_back']:,} held "
             f"back for the re-sync). {dt.datetime.now(dt.UTC):%Y-%m-%d}, {os.cpu_count()} cores.", ""]
    for backend, stages in results.items():
        lines += [f"## {backend}", "",
                  "| stage | records | seconds | records/s | peak MB | reference s | reference records/s "
                  "| hub / reference |",
                  "|---|---|---|---|---|---|---|---|"]
        for stage, reference in PAIRS:
            hub, ref = stages[stage], stages[reference]
            rate, ref_rate = hub["records"] / hub["seconds"], ref["records"] / ref["seconds"]
            lines.append(f"| {stage} | {hub['records']:,} | {hub['seconds']:.1f} | {rate:,.0f} | "
                         f"{hub['peak_rss_mb']:.0f} | {ref['seconds']:.1f} | {ref_rate:,.0f} | {rate / ref_rate:.2f} |")
        full = sum(stages[s]["seconds"] for s in ("ingest", "link", "publish"))
        resync = stages["resync"]
        lines += ["", f"Full pipeline (ingest, link, publish): {full:.1f} s, "
                      f"{stages['ingest']['records'] / full:,.0f} records/s end to end. Re-sync of "
                      f"{resync['records']:,} new records: {resync['seconds']:.1f} s {resync['parts']} = "
                      f"**{resync['seconds'] / full:.1%} of the full pipeline**.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="100k")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("HUB_BENCH_PG_URL", PG_URL))
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "saphan-bench-run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--worker", choices=sorted(STAGES))
    parser.add_argument("--url")
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.worker:
        population = json.loads(next((args.work / "files").glob("manifest-*.json")).read_text())
        result = STAGES[args.worker](args.url, str(args.home), population)
        print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))
        return
    start = time.perf_counter()
    population = generate(args.work, SIZES[args.size])
    print(f"population: {population['persons']:,} persons, {population['records']:,} records "
          f"({time.perf_counter() - start:.0f} s)", flush=True)
    results = {}
    for backend in args.backends.split(","):
        shutil.rmtree(args.work / backend, ignore_errors=True)
        with scratch_database(backend, args.work / backend, args.pg_url) as url:
            results[backend] = backend_results(backend, url, args.work)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"run-{args.size}.json").write_text(json.dumps(
        {"size": args.size, "population": {k: v for k, v in population.items() if k not in ("files", "late")},
         "cores": os.cpu_count(), "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d}", "results": results}, indent=1))
    (args.out / f"run-{args.size}.md").write_text(markdown(args.size, population, results))
    print(markdown(args.size, population, results))


if __name__ == "__main__":
    main()
