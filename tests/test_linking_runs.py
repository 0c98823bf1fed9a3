"""Linking runs on a generated population written in the four partner formats: quality against the
generator's truth, stable ids across deliveries, incremental runs that agree with full ones, the review
queue as an operator works it through ``hub``, failed runs that change nothing, and no clear personal data
in what linking stores.

The population's files are written once per module; every test ingests them into its own hub. On top of
the population, a few people are written by hand (Khon Kaen, which the population never touches):

- a woman whose TPMAP record (with her ID) and logbook record (new first name, no ID) only meet when a
  later survey records her new name with her ID (the second delivery): two persons merge;
- a father's ID written against his daughter's name (sex and birth year both differ: a pair for review),
  each also recorded without an ID by another source;
- twins of a boy and a girl, without IDs, names one letter apart (a refused join, for review).
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update
from test_linking_noise import SOURCE_ORDER, Rec, citizen_id, mistyped, write_partner_rows

from audit.access import verify
from helpers import database_bytes, ingest_all, is_postgres, partner_pii, squash
from hub.context import Hub
from hub.db.schema import (
    audit_events,
    id_redirects,
    link_reviews,
    link_runs,
    linked_records,
    record_links,
    source_records,
)
from hub.demo.population import Population, generate_population
from hub.demo.writers import write_partner_files
from hub.linking.quality import measure, pair_scores, read_truth
from hub.linking.redirects import current_ids
from hub.linking.reviews import ReviewError, settle_review
from hub.linking.run import LinkError, link
from hub.linking.scope import candidates_of, changed_records
from hub.pipeline.ingest import ingest_file

ACTOR = "test:linking"
HOUSEHOLDS, SEED = 300, 2568

# the woman who took a new first name: TPMAP knows her old name and ID, the logbook her new name only
MALAI = Rec("tpmap", "TP66-4001-0000101", "มาลัย", "ศรีประเสริฐวงศ์", dt.date(1979, 2, 11), sex="F", title="นาง",
            cid=citizen_id("malai"), house="40010000101", house_no="101", tambon="400101")
PIYADA = replace(MALAI, source="msdhs_logbook", ref="LB-4001-000101/1", first="ปิยะดา", cid="")
PIYADA_WITH_ID = replace(MALAI, source="university_survey", ref="UBU-2566-000101/1", first="ปิยะดา")
# the father's ID against the daughter's name; each of them also in a source without an ID
FATHER = Rec("tpmap", "TP66-4001-0000201", "สมชาย", "ทองประเสริฐสุข", dt.date(1960, 8, 8), sex="M", title="นาย",
             cid=citizen_id("father"), house="40010000201", house_no="201", tambon="400102")
DAUGHTER = replace(FATHER, ref="TP66-4001-0000202", first="สมหญิง", sex="F", title="นางสาว", born=dt.date(1985, 4, 4))
FATHER_AGAIN = replace(FATHER, source="msdhs_logbook", ref="LB-4001-000201/1", cid="")
DAUGHTER_AGAIN = replace(DAUGHTER, source="university_survey", ref="UBU-2566-000201/1", cid="")
# twins, a boy and a girl, without IDs
BOY = Rec("tpmap", "TP66-4001-0000301", "บุญมา", "แก้วคำภูมี", dt.date(2011, 3, 3), sex="M", title="ด.ช.",
          house="40010000301", house_no="301", tambon="400103")
GIRL = replace(BOY, ref="TP66-4001-0000302", first="บุญมี", sex="F", title="ด.ญ.")

BY_HAND_FIRST = [MALAI, PIYADA, FATHER, DAUGHTER, FATHER_AGAIN, DAUGHTER_AGAIN, BOY, GIRL]
BY_HAND_SECOND = [PIYADA_WITH_ID]


def key(rec: Rec) -> tuple[str, str]:
    return rec.source, rec.ref


@dataclass(frozen=True)
class Files:
    """The partner files in delivery order: ``first`` (the population's files but the later ones, and the
    first records written by hand), then ``second`` (the later files: logbook updates, survey follow-ups,
    and the survey of the woman's new name)."""

    population: Population
    truth: Path
    first: list[tuple[str, Path]]
    second: list[tuple[str, Path]]

    @property
    def everything(self) -> list[tuple[str, Path]]:
        return self.first + self.second


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Files:
    folder = tmp_path_factory.mktemp("population")
    population = generate_population(households=HOUSEHOLDS, seed=SEED)
    written = write_partner_files(population, folder / "partners", seed=SEED)
    first_by_hand = write_partner_rows(folder / "by-hand-1", BY_HAND_FIRST)
    second_by_hand = write_partner_rows(folder / "by-hand-2", BY_HAND_SECOND)
    first, second = [], []
    for source in SOURCE_ORDER:
        paths = written.files[source]
        later = [p for p in paths if p.stem.endswith(("_2", "batch2"))]
        first += [(source, p) for p in paths if p not in later]
        first += [(source, first_by_hand[source])] if source in first_by_hand else []
        second += [(source, p) for p in later]
        second += [(source, second_by_hand[source])] if source in second_by_hand else []
    assert len(second) > len(second_by_hand), "the generator writes no later file any more"
    return Files(population, written.truth, first, second)


def ingest_files(hub: Hub, files: list[tuple[str, Path]]) -> None:
    for source, path in files:
        ingest_file(hub, source, path, actor=ACTOR)


def person_ids(hub: Hub) -> dict[tuple[str, str], str]:
    r = source_records
    with hub.engine.connect() as conn:
        return {(s, rid): p for s, rid, p in conn.execute(select(r.c.source, r.c.record_id, record_links.c.person_id)
                                                          .select_from(linked_records))}


def partition(ids: dict[tuple[str, str], str]) -> set[frozenset]:
    """Records grouped by person, whatever the persons' ids."""
    groups: dict[str, set] = defaultdict(set)
    for record, person in ids.items():
        groups[person].add(record)
    return {frozenset(g) for g in groups.values()}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def audit_actions(hub: Hub) -> list[tuple[str, str, dict]]:
    with hub.engine.connect() as conn:
        rows = conn.execute(select(audit_events.c.action, audit_events.c.resource, audit_events.c.details)
                            .order_by(audit_events.c.seq)).all()
    return [(action, resource, json.loads(details)) for action, resource, details in rows]


def link_run_rows(hub: Hub) -> list[tuple]:
    with hub.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(link_runs.c.id, link_runs.c.mode, link_runs.c.status,
                                                      link_runs.c.ingest_watermark).order_by(link_runs.c.id))]


# --------------------------------------------------------------------------------------------- quality


def test_a_linked_population_meets_the_quality_bar(hub, files):
    ingest_files(hub, files.everything)
    report = link(hub, actor=ACTOR)
    with hub.engine.connect() as conn:
        measured = measure(conn, files.truth)
    assert report.mode == "full" and report.model_trained
    assert measured.persons.precision >= 0.99, measured.persons
    assert measured.persons.recall >= 0.97, measured.persons
    assert measured.persons_without_id.recall >= 0.95, measured.persons_without_id
    assert measured.persons_without_id.true_positive > 0  # there are such pairs to find
    stored = person_ids(hub)
    truth = read_truth(files.truth)
    assert len(truth.keys() & stored.keys()) >= 0.98 * len(truth)  # the scores cover (nearly) every record
    assert (report.records, report.persons) == (len(stored), len(set(stored.values())))


def test_hub_link_prints_the_measured_quality_and_the_export_carries_it(hub, cli, files, tmp_path):
    ingest_files(hub, files.everything)
    result = cli("link", "--truth", files.truth)
    assert result.exit_code == 0, result.output
    with hub.engine.connect() as conn:
        measured = measure(conn, files.truth)
    out = squash(result.stdout)
    assert "Linkingrun1(full)" in out and "(deterministic)" in out and "(probabilistic)" in out
    assert "Measuredagainstthetruthfile" in out and "sameperson" in out and "samehousehold" in out
    assert f"{measured.persons.precision:.4f}" in out and f"{measured.persons.recall:.4f}" in out
    exported = tmp_path / "links.csv"
    assert cli("export", "links", "--out", exported).exit_code == 0
    person_of = {(r["source"], r["source_record_id"]): r["person_id"] for r in read_csv(exported)}
    truth = read_truth(files.truth)
    scores = pair_scores(person_of, truth)
    assert scores.precision >= 0.99 and scores.recall >= 0.97
    assert scores == measured.persons  # the export is what is stored
    # nearly every true person with several records carries one person id across them
    ids_of_truth: dict[str, list[str]] = defaultdict(list)
    for record, truth_id in truth.items():
        if record in person_of:
            ids_of_truth[truth_id].append(person_of[record])
    several = [set(ids) for ids in ids_of_truth.values() if len(ids) > 1]
    assert len(several) > 100 and sum(len(ids) == 1 for ids in several) >= 0.97 * len(several)


# --------------------------------------------------------------------------------- stable ids, incremental


def test_existing_records_keep_their_person_id_or_are_redirected_after_a_new_delivery(hub, cli, files, tmp_path):
    ingest_files(hub, files.first)
    link(hub, actor=ACTOR)
    before = person_ids(hub)
    assert before[key(MALAI)] != before[key(PIYADA)]  # a new first name, no ID: not yet one person
    ingest_files(hub, files.second)
    report = link(hub, actor=ACTOR)
    after = person_ids(hub)
    out = tmp_path / "redirects.csv"
    result = cli("export", "redirects", "--out", out)
    assert result.exit_code == 0, result.output
    redirects = {r["retired_id"]: r["current_id"] for r in read_csv(out) if r["kind"] == "person"}
    moved = {record: (old, after[record]) for record, old in before.items() if after.get(record, old) != old}
    assert {record: redirects.get(old) for record, (old, new) in moved.items()} == \
        {record: new for record, (old, new) in moved.items()}
    # the survey of her new name with her ID joins her two persons: the older id (TPMAP's) stays
    assert after[key(MALAI)] == after[key(PIYADA)] == after[key(PIYADA_WITH_ID)] == before[key(MALAI)]
    assert redirects[before[key(PIYADA)]] == before[key(MALAI)]
    assert report.ids_retired >= 1 and len(moved) <= report.person_ids_changed
    assert len(moved) < 0.05 * len(before)


def test_a_run_without_new_data_changes_nothing(hub, files):
    ingest_files(hub, files.everything)
    link(hub, actor=ACTOR)
    before = person_ids(hub)
    again = link(hub, actor=ACTOR)
    assert again.mode == "incremental"
    assert (again.person_ids_changed, again.household_ids_changed, again.ids_retired, again.review_new) == (0, 0, 0, 0)
    full = link(hub, actor=ACTOR, full=True)
    assert full.mode == "full"
    assert (full.person_ids_changed, full.household_ids_changed, full.ids_retired) == (0, 0, 0)
    assert person_ids(hub) == before
    completed = [details for action, _, details in audit_actions(hub) if action == "link.completed"]
    assert [(d["mode"], d["identities_decrypted"] > 0) for d in completed] == \
        [("full", True), ("incremental", False), ("full", True)]  # nothing new: nothing decrypted


def test_an_incremental_run_compares_few_records_and_links_as_a_full_run_would(hub, files):
    ingest_files(hub, files.first)
    first = link(hub, actor=ACTOR)
    ingest_files(hub, files.second)
    second = link(hub, actor=ACTOR)
    incremental = partition(person_ids(hub))
    assert (first.mode, second.mode) == ("full", "incremental")
    assert 0 < second.records_in_play < second.records / 10
    stored = person_ids(hub)
    assert (second.records, second.persons) == (len(stored), len(set(stored.values())))
    full = link(hub, actor=ACTOR, full=True)
    assert full.records_in_play == full.records
    assert partition(person_ids(hub)) == incremental


def test_a_delivery_that_commits_after_a_later_one_is_still_linked(hub, tmp_path):
    """Two deliveries ingested at once: the one that started first (the lower run id) commits last, after
    a link run took the other. Its records are linked by the next run all the same."""
    if not is_postgres(hub.engine):
        pytest.skip("SQLite lets one ingest write at a time: its runs commit in the order they start")
    ingest_files(hub, list(write_partner_rows(tmp_path / "first", [MALAI, BOY]).items()))
    link(hub, actor=ACTOR)
    again = replace(MALAI, source="msdhs_logbook", ref="LB-4001-000101/1")  # her ID: one person with MALAI
    slow = write_partner_rows(tmp_path / "slow", [again])["msdhs_logbook"]
    holding, release, done = threading.Event(), threading.Event(), {}

    def hold(conn) -> None:  # the slow delivery's transaction, open until released
        holding.set()
        assert release.wait(60)

    worker = threading.Thread(target=lambda: done.update(
        report=ingest_file(hub, "msdhs_logbook", slow, actor=ACTOR, also=hold)))
    worker.start()
    assert holding.wait(60)
    ingest_files(hub, list(write_partner_rows(tmp_path / "fast", [GIRL]).items()))  # started later, committed first
    link(hub, actor=ACTOR)
    release.set()
    worker.join(60)
    assert done["report"].inserted == 1
    assert link(hub, actor=ACTOR).mode == "incremental"
    ids = person_ids(hub)
    assert ids[key(again)] == ids[key(MALAI)]


def test_an_incremental_run_decrypts_only_candidates_the_ids_leave_undecided(hub, files, tmp_path):
    """A new record with a valid ID is compared with the records of its blocks that lack a valid ID, and
    with those whose valid ID is one edit from its own; a namesake with another valid ID stays encrypted.
    The incremental run still links as a full run would."""
    ingest_files(hub, files.first)
    link(hub, actor=ACTOR)
    # another สมชาย born in 1960 with his own ID, in another tambon: he shares a block with FATHER (valid ID)
    # and FATHER_AGAIN (none); and a survey of FATHER whose ID has a third-digit typo the check digit misses
    namesake = replace(FATHER, source="university_survey", ref="UBU-2566-000901/1", last="ศรีสุขใจ",
                       cid=citizen_id("namesake"), house=None, house_no="9", tambon="400105")
    typo = replace(FATHER, source="university_survey", ref="UBU-2566-000902/1", cid=mistyped(FATHER.cid, 2),
                   house=None)
    for source, path in write_partner_rows(tmp_path / "late", [namesake, typo]).items():
        ingest_file(hub, source, path, actor=ACTOR)
    with hub.engine.connect() as conn:
        last = conn.execute(select(link_runs).order_by(link_runs.c.id.desc()).limit(1)).one()
        changed = changed_records(conn, last.ingest_watermark, set())
        compared = {(r.source, r.record_id) for r in candidates_of(conn, changed).compared}
    assert {key(namesake), key(typo), key(FATHER_AGAIN), key(FATHER)} <= compared
    with hub.engine.connect() as conn:  # FATHER is there for the typo's sake: without it, he is not
        compared_alone = {(r.source, r.record_id) for r in candidates_of(conn, [
            r for r in changed if r.record_id == namesake.ref]).compared}
    assert key(FATHER_AGAIN) in compared_alone and key(FATHER) not in compared_alone
    incremental = link(hub, actor=ACTOR)
    assert incremental.mode == "incremental" and incremental.records_in_play < incremental.records / 10
    linked = partition(person_ids(hub))
    link(hub, actor=ACTOR, full=True)
    assert partition(person_ids(hub)) == linked


def test_redirect_chains_lead_to_the_id_records_carry_now(hub, cli, tmp_path):
    """An id absorbed by one that a later run absorbed in turn redirects straight to the last."""
    with hub.engine.begin() as conn:
        for run in (1, 2):
            conn.execute(insert(link_runs).values(id=run, mode="full", started_at=dt.datetime.now(dt.UTC),
                                                   status="completed", ingest_watermark=0, counts={}))
        conn.execute(insert(id_redirects), [
            {"kind": "person", "retired_id": "a" * 32, "current_id": "b" * 32, "run_id": 1},
            {"kind": "person", "retired_id": "b" * 32, "current_id": "c" * 32, "run_id": 2},
            {"kind": "household", "retired_id": "d" * 32, "current_id": "e" * 32, "run_id": 2},
        ])
        assert current_ids(conn, "person") == {"a" * 32: "c" * 32, "b" * 32: "c" * 32}
    out = tmp_path / "redirects.csv"
    result = cli("export", "redirects", "--out", out)
    assert result.exit_code == 0, result.output
    assert [tuple(r.values()) for r in read_csv(out)] == [
        ("person", "a" * 32, "c" * 32), ("person", "b" * 32, "c" * 32), ("household", "d" * 32, "e" * 32)]
    exports = [details for action, _, details in audit_actions(hub) if action == "export.redirects"]
    assert exports == [{"rows": 3}]


# ------------------------------------------------------------------------------------------ review queue


def reviews(hub: Hub) -> dict[frozenset, object]:
    """Review rows by their pair of records."""
    with hub.engine.connect() as conn:
        rows = conn.execute(select(link_reviews)).all()
    return {frozenset({(r.source_a, r.record_id_a), (r.source_b, r.record_id_b)}): r for r in rows}


def father_daughter_review(hub: Hub) -> int:
    return reviews(hub)[frozenset({key(FATHER), key(DAUGHTER)})].id


def test_review_list_shows_open_pairs_with_their_evidence_and_no_names(hub, cli, files):
    ingest_files(hub, files.first)
    link(hub, actor=ACTOR)
    result = cli("review", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["id", "status", "reason", "p", "record a", "record b", "evidence"]
    rows = {frozenset(line.split("\t")[4:6]): line.split("\t") for line in lines[1:]}
    conflict = rows[frozenset({"tpmap:TP66-4001-0000201", "tpmap:TP66-4001-0000202"})]
    assert conflict[1:4] == ["open", "same_id_conflict", ""]
    assert "sex and birth year both differ" in conflict[6]
    twins = rows[frozenset({"tpmap:TP66-4001-0000301", "tpmap:TP66-4001-0000302"})]
    assert twins[1:3] == ["open", "names_or_dates_differ"] and float(twins[3]) >= 0.99
    assert {"sex: different", "birth: exact", "area: same house", "citizen_id: missing"} <= set(twins[6].split("; "))
    names = {n for p in files.population.persons for n in (p.first_name, p.last_name) if len(n) >= 2}
    names |= {n for rec in BY_HAND_FIRST for n in (rec.first, rec.last)}
    ids = {p.citizen_id for p in files.population.persons if p.citizen_id} | {rec.cid for rec in BY_HAND_FIRST}
    assert [v for v in names | ids if v and v in result.stdout] == []


def test_review_show_prints_both_records_decrypted_and_is_audited(hub, cli, files):
    ingest_files(hub, files.first)
    link(hub, actor=ACTOR)
    review_id = father_daughter_review(hub)
    reads_before = [e for e in audit_actions(hub) if e[0] == "review.read"]
    result = cli("review", "show", review_id)
    assert result.exit_code == 0, result.output
    for value in ("สมชาย", "สมหญิง", "ทองประเสริฐสุข", "1960-08-08", "1985-04-04", "TP66-4001-0000201",
                  "TP66-4001-0000202"):
        assert value in result.stdout
    reads = [e for e in audit_actions(hub) if e[0] == "review.read"]
    assert reads_before == [] and len(reads) == 1
    assert reads[0][1] == f"review:{review_id}" and reads[0][2]["review_id"] == review_id
    assert cli("review", "show", 999999).exit_code == 1


def test_settling_a_pair_same_joins_it_at_the_next_link(hub, cli, files):
    ingest_files(hub, files.first)
    link(hub, actor=ACTOR)
    before = person_ids(hub)
    assert before[key(FATHER)] != before[key(DAUGHTER)]
    review_id = father_daughter_review(hub)
    result = cli("review", "settle", review_id, "same", "--basis", "บัตรประชาชนตรวจแล้ว ผู้ใหญ่บ้านหมู่ 1")
    assert result.exit_code == 0, result.output
    assert cli("link").exit_code == 0
    after = person_ids(hub)
    family = [key(FATHER), key(DAUGHTER), key(FATHER_AGAIN), key(DAUGHTER_AGAIN)]
    assert len({after[r] for r in family}) == 1  # the decision, and what each record was already linked to
    settled = [e for e in audit_actions(hub) if e[0] == "review.settled"]
    assert [(e[2]["review_id"], e[2]["decision"]) for e in settled] == [(review_id, "same")]
    listed = [line.split("\t") for line in cli("review", "list", "--status", "same").stdout.splitlines()[1:]]
    assert [row[:2] for row in listed] == [[str(review_id), "same"]]


def test_a_decision_that_committed_while_a_run_was_under_way_is_applied_by_the_next(hub, files):
    """A decision is dated when it is made; if its transaction commits while a link run is under way, it is
    dated before that run began, which never saw it. The next incremental run still applies it."""
    ingest_files(hub, files.first)
    link(hub, actor=ACTOR)
    review_id = father_daughter_review(hub)
    settle_review(hub, review_id, "same", basis="บัตรประชาชนตรวจแล้ว", actor=ACTOR)
    with hub.engine.begin() as conn:  # as the late commit leaves it: decided before the last run began
        started = conn.scalar(select(func.max(link_runs.c.started_at)))
        conn.execute(update(link_reviews).where(link_reviews.c.id == review_id).values(
            decided_at=started - dt.timedelta(seconds=1)))
    assert link(hub, actor=ACTOR).mode == "incremental"
    ids = person_ids(hub)
    assert ids[key(FATHER)] == ids[key(DAUGHTER)]
    again = link(hub, actor=ACTOR)  # applied once: the run after has nothing to re-link
    assert (again.records_in_play, again.person_ids_changed) == (0, 0)


def test_settling_a_pair_different_keeps_it_apart_even_through_a_full_link(hub, cli, files):
    ingest_files(hub, files.first)
    link(hub, actor=ACTOR)
    review_id = father_daughter_review(hub)
    assert cli("review", "settle", review_id, "different", "--basis", "เยี่ยมบ้าน 2567-06-01").exit_code == 0
    for args in (("link",), ("link", "--full")):
        assert cli(*args).exit_code == 0
        ids = person_ids(hub)
        assert ids[key(FATHER)] == ids[key(FATHER_AGAIN)] != ids[key(DAUGHTER)] == ids[key(DAUGHTER_AGAIN)]
    review = reviews(hub)[frozenset({key(FATHER), key(DAUGHTER)})]
    assert (review.status, review.basis) == ("different", "เยี่ยมบ้าน 2567-06-01")


def test_correcting_same_to_different_splits_the_person_at_the_next_link(hub, cli, files):
    """BUG (hub/linking/run.py, _cluster, incremental "kept" joins): after ``same`` is corrected to
    ``different``, an incremental run re-joins the records that were one person only through the reversed
    decision (the father's and the daughter's ID-less records keep their shared person id), so the
    daughter's survey record stays with her father; a full run splits them correctly."""
    ingest_files(hub, files.first)
    link(hub, actor=ACTOR)
    review_id = father_daughter_review(hub)
    settle_review(hub, review_id, "same", basis="first visit", actor=ACTOR)
    link(hub, actor=ACTOR)
    settle_review(hub, review_id, "different", basis="second visit: two people", actor=ACTOR)
    assert link(hub, actor=ACTOR).mode == "incremental"
    ids = person_ids(hub)
    # what a full run gives (see the test above): each with the records of their own
    assert ids[key(FATHER)] == ids[key(FATHER_AGAIN)]
    assert ids[key(DAUGHTER)] == ids[key(DAUGHTER_AGAIN)]
    assert ids[key(FATHER)] != ids[key(DAUGHTER)]


def test_settling_without_a_basis_or_with_an_unknown_decision_fails_clearly(hub, cli, files):
    ingest_files(hub, [(s, p) for s, p in files.first if s == "tpmap"])
    link(hub, actor=ACTOR)
    review_id = father_daughter_review(hub)
    for decision, basis, message in (("same", "", "saywhatthedecisionrestson"),
                                     ("different", "   ", "saywhatthedecisionrestson"),
                                     ("maybe", "เยี่ยมบ้านแล้ว", "decisionmustbeoneofsame,different")):
        result = cli("review", "settle", review_id, decision, "--basis", basis)
        assert result.exit_code == 1, (decision, basis)
        assert message in squash(result.stderr)
        with pytest.raises(ReviewError):
            settle_review(hub, review_id, decision, basis=basis, actor=ACTOR)
    assert reviews(hub)[frozenset({key(FATHER), key(DAUGHTER)})].status == "open"
    assert not [e for e in audit_actions(hub) if e[0] == "review.settled"]


def test_settling_an_unknown_review_fails_clearly(hub, cli):
    result = cli("review", "settle", 4242, "same", "--basis", "เยี่ยมบ้านแล้ว")
    assert result.exit_code == 1
    assert "review4242doesnotexist" in squash(result.stderr)


# ------------------------------------------------------------------------------------- failures, privacy


def test_a_failed_run_changes_nothing_and_is_audited(hub, files):
    ingest_files(hub, files.first)
    link(hub, actor=ACTOR)
    before, runs_before = person_ids(hub), link_run_rows(hub)
    ingest_files(hub, files.second)
    r = source_records
    with hub.engine.begin() as conn:  # a new record, which every run decrypts, no longer decrypts
        pk, blob = conn.execute(select(r.c.id, r.c.first_name_enc).where(r.c.record_id == PIYADA_WITH_ID.ref)).one()
        tampered = bytes(blob[:-1]) + bytes([blob[-1] ^ 1])
        conn.execute(update(r).where(r.c.id == pk).values(first_name_enc=tampered))
    for full in (False, True):
        with pytest.raises(LinkError, match="linking failed"):
            link(hub, actor=ACTOR, full=full)
    assert link_run_rows(hub) == runs_before
    after = person_ids(hub)
    kept = before.keys() & after.keys()  # (the later logbook removes a member)
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    failed = [e for e in audit_actions(hub) if e[0] == "link.failed"]
    assert len(failed) == 2 and all("linking failed" in e[2]["reason"] for e in failed)
    assert verify(hub).intact
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(link_reviews).where(
            link_reviews.c.created_run_id > runs_before[-1][0])) == 0


def test_what_linking_stores_holds_no_clear_name_or_citizen_id_and_it_writes_no_file(hub, files, tmp_path,
                                                                                       monkeypatch):
    ingest_files(hub, files.everything)
    scratch = tmp_path / "scratch"
    for folder in ("cwd", "tmp"):
        (scratch / folder).mkdir(parents=True)
    monkeypatch.chdir(scratch / "cwd")
    monkeypatch.setenv("TMPDIR", str(scratch / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    link(hub, actor=ACTOR)
    assert [p for p in scratch.rglob("*") if p.is_file()] == []  # no spill, cache or log of the clear values
    with hub.engine.connect() as conn:
        stored = [json.dumps(e, ensure_ascii=False) for (e,) in conn.execute(select(link_reviews.c.evidence))]
        for model, counts in conn.execute(select(link_runs.c.model, link_runs.c.counts)):
            stored += [model, json.dumps(counts, ensure_ascii=False)]
    text = "\x00".join(stored)
    assert len(stored) >= 3 and "same valid ID" in text  # reviews and a run were written
    people = files.population.persons
    names = {n for p in people for n in (p.first_name, p.last_name) if len(n) >= 2}
    names |= {n for rec in BY_HAND_FIRST + BY_HAND_SECOND for n in (rec.first, rec.last)}
    ids = {p.citizen_id for p in people if p.citizen_id} | {rec.cid for rec in BY_HAND_FIRST if rec.cid}
    assert [n for n in names if n in text] == []
    assert [i for i in ids if i in text] == []


def test_the_whole_database_holds_no_clear_personal_value_after_linking_and_reviewing(hub, cli, files):
    ingest_all(hub)  # the real partner sample files of tests/data
    ingest_files(hub, [(s, p) for s, p in files.first if "by-hand" in str(p)])
    link(hub, actor=ACTOR)
    review_id = father_daughter_review(hub)
    assert cli("review", "show", review_id).exit_code == 0
    assert cli("review", "settle", review_id, "same", "--basis", "ตรวจบัตรแล้ว").exit_code == 0
    assert cli("link").exit_code == 0
    hub.engine.dispose()
    blob = database_bytes(hub)
    pii = partner_pii()
    pii["name"] |= {n for rec in BY_HAND_FIRST for n in (rec.first, rec.last)}
    pii["citizen_id"] |= {rec.cid for rec in BY_HAND_FIRST if rec.cid}
    pii["house_code"] |= {rec.house for rec in BY_HAND_FIRST if rec.house}
    found = {kind: sorted(v for v in values if v.encode("utf-8") in blob) for kind, values in pii.items()}
    assert found == {"citizen_id": [], "name": [], "house_code": []}
