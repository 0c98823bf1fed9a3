"""Linking: the hub's pipeline against plain Splink deduplication of the same records, on 2 cores.

Generates a labelled synthetic population (``hub.demo``: real tambons, four partner formats, the noise
of ``docs/linking.md``) of about ``--records`` person records, ingests it into a hub on the embedded
SQLite default, then times, side by side in one run:

- **hub**: ``hub link`` as a user runs it, end to end: load the keys from the database, decrypt the
  identities, the deterministic stage, train, score the undecided pairs, cluster, group households,
  write the ids back (each repeat starts from the same freshly ingested database file);
- **plain Splink**: the same decrypted records (the same load and decryption, timed too) deduplicated by
  Splink 4 on DuckDB with default-like settings: the comparison library's name, date-of-birth and exact
  comparisons, the citizen ID as an exact match, EM training, predict, cluster at 0.95.

Both are scored against the generator's truth (pairwise precision, recall, F1; and recall over the
pairs with a record lacking a valid ID). Times are medians of ``--repeat`` runs. Then an incremental
run: TPMAP rows worth ``--increment`` (default 1%) of all records, held back from the first ingest, are
ingested and ``hub link`` runs again, timed against a full run.

    python bench/link.py [--records 1000000] [--repeat 3] [--increment 0.01] [--work DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the packages: bench/audit.py is no package

import snapshot  # noqa: E402

from hub.context import Hub  # noqa: E402
from hub.settings import Settings  # noqa: E402

#: Provinces of the bench population (the first two have partner universities running surveys).
PROVINCES = ("34", "50", "10", "40", "44", "65", "90", "30", "31", "33", "35", "45")
RECORDS_PER_HOUSEHOLD = 2.6  # person records across the four sources, measured on the generator
SOURCE_ORDER = ("tpmap", "msdhs_logbook", "eef_students", "university_survey")


def hold_back(path: Path, late: Path, share: float, seed: int) -> int:
    """Move ``share`` of the data lines of the CSV ``path`` (chosen at random) to ``late``, which gets the
    same header; returns the lines moved. Lines are kept byte for byte (BOM, CRLF)."""
    import random

    lines = path.read_bytes().split(b"\r\n")
    header, body = lines[0], [line for line in lines[1:] if line]
    chosen = set(random.Random(seed).sample(range(len(body)), int(len(body) * share)))
    path.write_bytes(b"\r\n".join([header, *(x for i, x in enumerate(body) if i not in chosen)]) + b"\r\n")
    late_header = header.removeprefix("\ufeff".encode())
    late.write_bytes(b"\r\n".join([late_header, *(x for i, x in enumerate(body) if i in chosen)]) + b"\r\n")
    return len(chosen)


def build(work: Path, records: int, increment: float, seed: int) -> Path:
    """Generate, write and ingest the population under ``work``, holding back TPMAP rows worth
    ``increment`` of all records for the incremental run; returns the truth file. Reuses a finished
    build with the same parameters."""
    from hub.demo.population import generate_population
    from hub.demo.writers import write_partner_files
    from hub.pipeline.ingest import ingest_file

    done = work / f"built-{records}-{increment}-{seed}"
    truth = work / "files" / "truth.csv"
    if done.exists():
        return truth
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    start = time.perf_counter()
    population = generate_population(provinces=PROVINCES, households=int(records / RECORDS_PER_HOUSEHOLD), seed=seed)
    written = write_partner_files(population, work / "files", seed=seed)
    tpmap = written.files["tpmap"][0]
    total = sum(1 for _ in open(truth, encoding="utf-8")) - 1
    tpmap_rows = sum(1 for _ in open(tpmap, encoding="utf-8-sig")) - 1
    held = hold_back(tpmap, late_file(work), increment * total / tpmap_rows, seed)
    print(f"generated {len(population.households):,} households, {total:,} records ({held:,} held back) "
          f"in {time.perf_counter() - start:.0f} s", flush=True)
    hub, _ = Hub.init(Settings(home=work / "hub"))
    start = time.perf_counter()
    for source in SOURCE_ORDER:
        for path in written.files.get(source, []):
            ingest_file(hub, source, path, actor="bench")
    hub.engine.dispose()
    print(f"ingested in {time.perf_counter() - start:.0f} s", flush=True)
    snapshot.save(work / "hub", work / "ingested.db")
    done.touch()
    return truth


def late_file(work: Path) -> Path:
    return work / "files" / "tpmap_late.csv"


def fresh_hub(work: Path) -> Hub:
    """The hub reset to the state right after ingest."""
    snapshot.restore(work / "ingested.db", work / "hub")
    return Hub.open(Settings(home=work / "hub"))


def run_hub(work: Path, truth: Path) -> dict:
    from hub.linking.quality import measure
    from hub.linking.run import link

    hub = fresh_hub(work)
    start = time.perf_counter()
    report = link(hub, actor="bench", full=True)
    seconds = time.perf_counter() - start
    with hub.engine.connect() as conn:
        measured = measure(conn, truth)
    hub.engine.dispose()
    return {"seconds": seconds, "stages": report.seconds, "persons": measured.persons,
            "without_id": measured.persons_without_id, "households": measured.households, "report": report}


def plain_splink(rows, people):
    """Default-like Splink deduplication of the records ``rows`` (:class:`hub.linking.records.KeyRow`) with
    their decrypted ``people``: the comparison library's name, date-of-birth and exact comparisons, the ID
    as an exact match, EM training, predict, clustering at 0.95. Returns the clusters frame."""
    import duckdb
    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    df = pd.DataFrame.from_records([
        (row.pk, people[row.pk].first_name, people[row.pk].last_name,
         people[row.pk].birth_date.isoformat() if people[row.pk].birth_date else None, row.sex, row.tambon_code,
         row.any_key.hex() if row.any_key else None) for row in rows],
        columns=["unique_id", "first_name", "surname", "dob", "sex", "tambon", "citizen_id"])
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[cl.NameComparison("first_name"), cl.NameComparison("surname"),
                     cl.DateOfBirthComparison("dob", input_is_string=True), cl.ExactMatch("sex"),
                     cl.ExactMatch("tambon"), cl.ExactMatch("citizen_id")],
        blocking_rules_to_generate_predictions=[block_on("first_name", "dob"), block_on("surname", "dob"),
                                                block_on("citizen_id"), block_on("tambon", "first_name")],
        retain_intermediate_calculation_columns=False, retain_matching_columns=False,
    )
    connection = duckdb.connect()
    connection.execute("SET threads = 2")
    connection.execute("SET temp_directory = ''")
    linker = Linker(df, settings, db_api=DuckDBAPI(connection=connection), set_up_basic_logging=False)
    linker.training.estimate_probability_two_random_records_match([block_on("citizen_id")], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    pairs = linker.inference.predict(threshold_match_probability=0.9)
    return linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, 0.95).as_pandas_dataframe()


def run_plain_splink(work: Path, truth: Path) -> dict:
    """Default-like Splink deduplication of the same decrypted records (:func:`plain_splink`)."""
    from hub.linking.quality import PairScores, pair_scores, read_truth
    from hub.linking.records import load_identities, load_keys

    hub = fresh_hub(work)
    start = time.perf_counter()
    with hub.engine.connect() as conn:
        rows = load_keys(conn)
        people = load_identities(conn, hub.cipher, None)
    loaded = time.perf_counter() - start
    clusters = plain_splink(rows, people)
    seconds = time.perf_counter() - start
    key_of = {row.pk: (row.source, row.record_id) for row in rows}
    predicted = {key_of[uid]: cid for uid, cid in zip(clusters["unique_id"], clusters["cluster_id"])}
    people_truth = read_truth(truth)
    valid = {key_of[row.pk] for row in rows if row.valid_key is not None}
    persons = pair_scores(predicted, people_truth)
    with_id = pair_scores({k: v for k, v in predicted.items() if k in valid}, people_truth)
    hub.engine.dispose()
    without_id = PairScores(persons.true_positive - with_id.true_positive,
                            persons.false_positive - with_id.false_positive,
                            persons.false_negative - with_id.false_negative)
    return {"seconds": seconds, "load_seconds": loaded, "persons": persons, "without_id": without_id}


def run_increment(work: Path) -> dict:
    """A full link of the ingested records, then the held-back TPMAP rows ingested and linked again."""
    from hub.linking.run import link
    from hub.pipeline.ingest import ingest_file

    hub = fresh_hub(work)
    start = time.perf_counter()
    link(hub, actor="bench", full=True)
    full = time.perf_counter() - start
    added = ingest_file(hub, "tpmap", late_file(work), actor="bench").inserted
    start = time.perf_counter()
    report = link(hub, actor="bench")
    seconds = time.perf_counter() - start
    hub.engine.dispose()
    return {"full": full, "seconds": seconds, "added": added, "records": report.records,
            "in_play": report.records_in_play, "mode": report.mode, "stages": report.seconds}


def _line(name: str, seconds: float, result: dict) -> str:
    p, w = result["persons"], result["without_id"]
    return (f"{name:<14} {seconds:>9.1f} {p.precision:>10.4f} {p.recall:>8.4f} {p.f1:>8.4f} "
            f"{w.recall:>16.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--increment", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=2566)
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "saphan-bench-link")
    parser.add_argument("--skip-plain", action="store_true", help="Only the hub's pipeline.")
    args = parser.parse_args()
    truth = build(args.work, args.records, args.increment, args.seed)

    hubs, plains = [], []
    for attempt in range(args.repeat):
        hubs.append(run_hub(args.work, truth))
        print(f"  hub run {attempt + 1}: {hubs[-1]['seconds']:.1f} s {hubs[-1]['stages']}", flush=True)
        if not args.skip_plain:
            plains.append(run_plain_splink(args.work, truth))
            print(f"  plain Splink run {attempt + 1}: {plains[-1]['seconds']:.1f} s "
                  f"(of which load and decrypt {plains[-1]['load_seconds']:.1f} s)", flush=True)
    report = hubs[-1]["report"]
    print(f"\n{report.records:,} records -> {report.persons:,} persons, {report.households:,} households; "
          f"median of {args.repeat} run(s), 2 threads")
    print(f"{'':<14} {'seconds':>9} {'precision':>10} {'recall':>8} {'F1':>8} {'recall, no ID':>16}")
    hub_seconds = statistics.median(r["seconds"] for r in hubs)
    print(_line("hub", hub_seconds, hubs[-1]))
    if plains:
        plain_seconds = statistics.median(r["seconds"] for r in plains)
        print(_line("plain Splink", plain_seconds, plains[-1]))
        print(f"hub is {plain_seconds / hub_seconds:.2f}x faster end to end; "
              f"F1 {hubs[-1]['persons'].f1:.4f} vs {plains[-1]['persons'].f1:.4f}")
    h = hubs[-1]["households"]
    print(f"households: precision {h.precision:.4f}, recall {h.recall:.4f}")
    if args.increment:
        inc = run_increment(args.work)
        print(f"incremental: {inc['added']:,} new records ({inc['added'] / inc['records']:.1%}), "
              f"{inc['in_play']:,} compared, {inc['seconds']:.1f} s vs full {inc['full']:.1f} s "
              f"({inc['seconds'] / inc['full']:.1%}) {inc['stages']}")


if __name__ == "__main__":
    main()
