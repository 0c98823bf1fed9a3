"""Linking runs end to end on a labelled synthetic population: quality, stable ids, incremental runs,
the review queue as its users work it, and a failed run that changes nothing."""
from __future__ import annotations

import csv
from collections import defaultdict

import pytest
from sqlalchemy import func, select, update

from audit.chain import verify_chain
from helpers import tpmap_row, write_tpmap
from hub.db.schema import audit_events, link_reviews, link_runs, source_records
from hub.demo.population import generate_population
from hub.demo.writers import write_partner_files
from hub.linking.quality import measure, read_truth
from hub.linking.run import LinkError, link
from hub.pipeline.ingest import ingest_file
from hub.thai.citizen_id import with_check_digit

ACTOR = "test:pytest"
SOURCES = ("tpmap", "msdhs_logbook", "eef_students", "university_survey")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A labelled population's partner files; the last TPMAP rows are held back as a later delivery."""
    out = tmp_path_factory.mktemp("population")
    written = write_partner_files(generate_population(households=250, seed=5), out, seed=5)
    tpmap = written.files["tpmap"][0]
    lines = tpmap.read_bytes().split(b"\r\n")
    header, body = lines[0], [line for line in lines[1:] if line]
    tpmap.write_bytes(b"\r\n".join([header, *body[:-12]]) + b"\r\n")
    late = out / "tpmap_late.csv"
    late.write_bytes(b"\r\n".join([header, *body[-12:]]) + b"\r\n")
    return written, late


def ingest_all(hub, written) -> None:
    for source in SOURCES:
        for path in written.files.get(source, []):
            ingest_file(hub, source, path, actor=ACTOR)


def ids(hub) -> dict[tuple[str, str], tuple[str, str]]:
    r = source_records
    with hub.engine.connect() as conn:
        return {(s, rid): (p, h) for s, rid, p, h in conn.execute(
            select(r.c.source, r.c.record_id, r.c.person_id, r.c.household_id))}


def partition(assignment: dict, which: int) -> set[frozenset]:
    groups = defaultdict(set)
    for record, values in assignment.items():
        groups[values[which]].add(record)
    return {frozenset(g) for g in groups.values()}


def test_precision_and_recall_on_the_labelled_population(hub, files):
    written, late = files
    ingest_all(hub, written)
    ingest_file(hub, "tpmap", late, actor=ACTOR)
    report = link(hub, actor=ACTOR)
    assert report.mode == "full" and report.deterministic_joins > 0 and report.probabilistic_joins > 0
    with hub.engine.connect() as conn:
        measured = measure(conn, written.truth)
    assert measured.persons.precision >= 0.99 and measured.persons.recall >= 0.97
    assert measured.persons_without_id.recall >= 0.95
    assert measured.households.precision >= 0.95 and measured.households.recall >= 0.95


def test_ids_are_stable_and_an_incremental_run_links_as_a_full_one_would(hub, files):
    written, late = files
    ingest_all(hub, written)
    link(hub, actor=ACTOR)
    before = ids(hub)
    again = link(hub, actor=ACTOR)
    assert again.mode == "incremental" and again.records_in_play == 0
    assert again.person_ids_changed == again.household_ids_changed == 0 and ids(hub) == before

    added = ingest_file(hub, "tpmap", late, actor=ACTOR).inserted
    report = link(hub, actor=ACTOR)
    assert report.mode == "incremental" and added <= report.records_in_play < report.records / 2
    after = ids(hub)
    truth = read_truth(written.truth)
    for record, (person, _) in before.items():  # nobody existing is renumbered
        assert after[record][0] == person, record
    new_people = {truth[r] for r in after.keys() - before.keys()}
    known = {truth[r]: after[r][0] for r in before if r in truth}
    joined = [r for r in after.keys() - before.keys() if truth[r] in known]
    assert joined and all(after[r][0] == known[truth[r]] for r in joined)  # a newcomer joins the known person
    assert new_people

    full = link(hub, actor=ACTOR, full=True)
    assert full.mode == "full"
    assert partition(ids(hub), 0) == partition(after, 0) and partition(ids(hub), 1) == partition(after, 1)


def test_a_merge_keeps_the_older_id_and_redirects_the_other(hub, cli, tmp_path, files):
    written, _ = files
    ingest_all(hub, written)
    link(hub, actor=ACTOR)
    r = source_records
    # two records of one person, split by a person's decision, then rejoined by the opposite decision
    with hub.engine.connect() as conn:
        person = conn.execute(select(r.c.person_id).group_by(r.c.person_id).having(
            func.count() == 2).limit(1)).scalar()
        a, b = conn.execute(select(r.c.source, r.c.record_id, r.c.created_run_id, r.c.id)
                            .where(r.c.person_id == person).order_by(r.c.created_run_id, r.c.id)).all()
    with hub.engine.begin() as conn:
        conn.execute(link_reviews.insert().values(
            source_a=min(a[:2], b[:2])[0], record_id_a=min(a[:2], b[:2])[1], source_b=max(a[:2], b[:2])[0],
            record_id_b=max(a[:2], b[:2])[1], reason="uncertain", match_probability=0.9, evidence={},
            status="open", created_run_id=1, seen_run_id=1))
        review_id = conn.execute(select(link_reviews.c.id).order_by(link_reviews.c.id.desc())).scalar()
    assert cli("review", "settle", review_id, "different", "--basis", "visited: two people").exit_code == 0
    link(hub, actor=ACTOR)
    split = ids(hub)
    assert split[tuple(a[:2])][0] == person and split[tuple(b[:2])][0] != person  # the older record keeps it
    second_id = split[tuple(b[:2])][0]
    assert cli("review", "settle", review_id, "same", "--basis", "corrected after a second visit").exit_code == 0
    link(hub, actor=ACTOR)
    assert ids(hub)[tuple(b[:2])][0] == person
    out = tmp_path / "redirects.csv"
    assert cli("export", "redirects", "--out", out).exit_code == 0
    redirects = {(row["kind"], row["retired_id"]): row["current_id"] for row in csv.DictReader(open(out))}
    assert redirects[("person", second_id)] == person


def test_the_review_queue_as_a_community_works_it(hub, cli, files, tmp_path):
    written, _ = files
    ingest_all(hub, written)
    # one citizen ID written for two people: sex and birth year both differ
    pid = with_check_digit("340110000777")
    rows = [tpmap_row("C-1", pid=pid, first="กาญจนาพรรณ", last="เรืองศรีสกุล", sex="2", born="08/08/2500"),
            tpmap_row("C-2", pid=pid, first="ธนากรณ์ชัย", last="บุญมาวงศ์ษา", sex="1", born="08/08/2540")]
    ingest_file(hub, "tpmap", write_tpmap(tmp_path / "conflict.csv", rows), actor=ACTOR)
    link(hub, actor=ACTOR)
    with hub.engine.connect() as conn:
        open_pairs = conn.execute(select(link_reviews).where(link_reviews.c.status == "open")).all()
    assert [(p.record_id_a, p.record_id_b, p.reason) for p in open_pairs] == [("C-1", "C-2", "same_id_conflict")]
    assert "กาญจนาพรรณ" not in cli("review", "list").stdout
    listed = cli("review", "list")
    assert listed.exit_code == 0 and f"{open_pairs[0].source_a}:{open_pairs[0].record_id_a}" in listed.stdout
    shown = cli("review", "show", open_pairs[0].id)
    assert shown.exit_code == 0 and "กาญจนาพรรณ" in shown.stdout and "ธนากรณ์ชัย" in shown.stdout
    with hub.engine.connect() as conn:
        actions = [a for (a,) in conn.execute(select(audit_events.c.action))]
    assert "review.read" in actions
    bad = cli("review", "settle", open_pairs[0].id, "maybe", "--basis", "x")
    assert bad.exit_code == 1 and "same, different" in bad.stderr
    assert cli("review", "settle", open_pairs[0].id, "same", "--basis", "  ").exit_code == 1
    assert cli("review", "settle", 999999, "same", "--basis", "x").exit_code == 1
    settled = cli("review", "settle", open_pairs[0].id, "same", "--basis", "the village head: one woman, a typo")
    assert settled.exit_code == 0
    link(hub, actor=ACTOR, full=True)
    assert ids(hub)[("tpmap", "C-1")][0] == ids(hub)[("tpmap", "C-2")][0]
    assert "same" in cli("review", "list", "--status", "all").stdout


def test_hub_link_prints_counts_by_method_and_the_measured_quality(hub, cli, files, tmp_path):
    written, _ = files
    ingest_all(hub, written)
    result = cli("link", "--truth", written.truth)
    assert result.exit_code == 0, result.output
    for words in ("deterministic", "probabilistic", "review", "estimated precision", "same person",
                  "same household"):
        assert words in result.stdout
    links = tmp_path / "links.csv"
    assert cli("export", "links", "--out", links).exit_code == 0
    truth = read_truth(written.truth)
    persons = defaultdict(set)
    for row in csv.DictReader(open(links, encoding="utf-8")):
        persons[truth.get((row["source"], row["source_record_id"]))].add(row["person_id"])
    persons.pop(None, None)
    assert sum(len(p) == 1 for p in persons.values()) >= 0.97 * len(persons)


def test_a_failed_run_changes_nothing_and_is_audited(hub, files):
    written, _ = files
    ingest_all(hub, written)
    link(hub, actor=ACTOR)
    before = ids(hub)
    with hub.engine.begin() as conn:
        runs = conn.execute(select(link_runs.c.id, link_runs.c.status)).all()
        # a damaged ciphertext: the full run cannot decrypt it
        conn.execute(update(source_records).where(source_records.c.id == 1).values(first_name_enc=b"\x01broken"))
    with pytest.raises(LinkError, match="linking failed"):
        link(hub, actor=ACTOR, full=True)
    assert ids(hub) == before
    with hub.engine.connect() as conn:
        assert conn.execute(select(link_runs.c.id, link_runs.c.status)).all() == runs
        assert conn.execute(select(audit_events.c.action).order_by(audit_events.c.seq.desc())).first()[0] \
            == "link.failed"
        assert verify_chain(conn) is None


def test_linking_stores_no_clear_name_or_id(hub, files):
    written, _ = files
    ingest_all(hub, written)
    link(hub, actor=ACTOR)
    with hub.engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(select(link_runs.c.model, link_runs.c.counts)) for v in row)
        stored += " ".join(str(row) for row in conn.execute(select(link_reviews.c.evidence)))
    names = set()
    ids_ = set()
    for path in written.files["tpmap"]:
        for row in csv.DictReader(open(path, encoding="utf-8-sig")):
            names.update(n for n in (row["fname"], row["lname"]) if len(n) >= 4)
            ids_.add(row["pid"].replace("-", "").replace(" ", ""))
    assert not [n for n in names if n in stored]
    assert not [i for i in ids_ if i and i in stored]

