"""Attacks on what is published, found by an independent review, each against a real hub (partner files
written here, ingested, linked and published through the public functions). Every test names the promise
it keeps and explains the attack it defeats."""
from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from contracts.load import BUILT_IN
from helpers import ACTOR, isolated_database_url
from hub.context import Hub
from hub.db.schema import quarantine, view_versions
from hub.errors import ContractViolation, PublishError
from hub.linking.run import link
from hub.pipeline.ingest import ingest_file
from hub.quarantine import read_raw_row
from hub.settings import Settings
from hub.thai.citizen_id import with_check_digit
from hub.views.publish import publish
from hub.views.read import read_view

DIMENSIONS = ("health", "living", "education", "income", "access")
_FIRST = ("สมชาย", "สมศรี", "บุญมี", "มาลี", "ประเสริฐ", "วันดี", "สุดา", "ทองดี")
_LAST = ("ใจดี", "ศรีสุข", "สุขเจริญ", "มีสุข", "ทองคำ", "แก้วมณี")
_serial = itertools.count(1)
TPMAP_COLUMNS = ("tpmap_person_id", "survey_year", "pid", "prefix", "fname", "lname", "sex", "birth_date",
                 "house_code", "house_no", "moo", "tambon_code", "amphoe_code", "province_code", "welfare_card",
                 "dim_health", "dim_living", "dim_education", "dim_income", "dim_access", "failed_indicators",
                 "income_per_capita_year")


# ------------------------------------------------------------------------------------------ partner files


def household(tambon: str, moo: int, *, dims=("income",)) -> dict:
    """One single-person household (its own house code) in ``tambon``/``moo``, deprived in ``dims``."""
    n = next(_serial)
    return {"n": n, "cid": with_check_digit(f"3{tambon}{n:05d}"), "tambon": tambon, "moo": moo, "dims": set(dims),
            "first": _FIRST[n % len(_FIRST)], "last": f"{_LAST[n % len(_LAST)]}{n}",
            "house_code": f"{tambon}{n:05d}", "house_no": f"{n}/1"}


def write_tpmap(path: Path, people: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(TPMAP_COLUMNS)
        for p in people:
            t = p["tambon"]
            out.writerow([f"TP66-{t[:4]}-{p['n']:07d}", "2566", p["cid"], "นาย", p["first"], p["last"], "1",
                          "01/06/2513", p["house_code"], p["house_no"], p["moo"], t, t[:4], t[:2], "Y",
                          *("1" if d in p["dims"] else "0" for d in DIMENSIONS), "", "30000"])
    return path


def write_logbook(path: Path, people: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for p in people:
            item = {"logbook_id": f"LB-{p['tambon'][:4]}-{p['n']:06d}", "house_code": p["house_code"],
                    "address": {"house_no": p["house_no"], "moo": p["moo"], "tambon_code": p["tambon"]},
                    "members": [{"member_no": 1, "citizen_id": p["cid"], "title": "นาย", "first_name": p["first"],
                                 "last_name": p["last"], "birth_date": "1970-06-01", "sex": "M", "relation": "head",
                                 "vulnerabilities": ["elderly"]}],
                    "needs": {d: d in p["dims"] for d in DIMENSIONS}, "assistance": [], "status": "open",
                    "updated_at": "2024-06-01T10:00:00+07:00"}
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    return path


def load(hub: Hub, tmp_path: Path, tpmap: list[dict], logbook: list[dict] = ()) -> None:
    ingest_file(hub, "tpmap", write_tpmap(tmp_path / "tpmap.csv", tpmap), actor=ACTOR)
    if logbook:
        ingest_file(hub, "msdhs_logbook", write_logbook(tmp_path / "logbook.ndjson", list(logbook)), actor=ACTOR)
    link(hub, actor=ACTOR)


def figures(hub: Hub, view: str, area: str) -> dict[str, dict]:
    """The published figures of ``area`` and of the areas just below it, by area code."""
    return {c["area"]: c["figures"] for c in read_view(hub, view, area=area, actor=ACTOR).cells}


# ------------------------------------------------------------------------------------------------ cells


def test_measures_equal_by_construction_do_not_reveal_a_suppressed_household_count(hub, tmp_path):
    """households, coverage_households and mpi_households are the same number in every cell (each household
    adds 1 to all three), but suppression protects each column on its own, and coverage_households (a
    partition total) gets other complements than households. The attacker reads the complement hidden in
    one column from the other column and subtracts.

    Amphoe 3401: tambon 340101 has 3 households (TPMAP only), 340102 has 6 (TPMAP only) and 340103 has 5
    (TPMAP and a logbook each). households hides 340101 and its smallest sibling 340103; coverage_households
    hides 340101 and 340102 (340103 has no household seen by one source, so it cannot balance seen_by_1)."""
    load(hub, tmp_path, [household("340101", 1) for _ in range(3)] + [household("340102", 1) for _ in range(6)]
         + (both := [household("340103", 1) for _ in range(5)]), both)
    publish(hub, views=["tpmap_tambon"], actor=ACTOR)
    cells = figures(hub, "tpmap_tambon", "3401")
    assert cells["340101"]["households"] is None  # 3 households: suppressed
    # The attack: every cell's households equals its coverage_households (now one column, "households").
    assert not {"coverage_households", "mpi_households", "verified"} & set(cells["3401"])
    known = {area: f["households"] for area, f in cells.items()}
    hidden = [area for area in ("340101", "340102", "340103") if known[area] is None]
    assert len(hidden) >= 2, (f"households of {hidden} pinned: {known['3401']} minus the other tambons gives "
                              f"{known['3401'] - sum(known[a] for a in ('340102', '340103') if known[a])}")


def test_a_suppressed_cell_cannot_be_pinned_by_a_count_that_is_bounded_by_it(hub, tmp_path):
    """Every household counted in deprived_health (or in_need, mpi_poor...) is counted in households, so
    deprived_health <= households in every cell. Suppression ignores this. Tambon 340101 has 1 household,
    340102 has 6, all deprived in health, 340103 has 30 of which 10 are. households hides 340101 (1) and its
    complement 340102 (6); deprived_health publishes 6 for 340102. The attacker: 340101 + 340102 = 7 from the
    amphoe, 340102 >= 6 (its deprived households) and 340101 >= 1, so 340102 = 6 and 340101 = 1: the lone
    household of 340101 is found, with its (published 0) health deprivation."""
    load(hub, tmp_path, [household("340101", 1, dims=("income",))]
         + [household("340102", 1, dims=("health",)) for _ in range(6)]
         + [household("340103", 1, dims=("health",)) for _ in range(10)]
         + [household("340103", 1, dims=("income",)) for _ in range(20)])
    publish(hub, views=["tpmap_tambon"], actor=ACTOR)
    cells = figures(hub, "tpmap_tambon", "3401")
    tambons = ("340101", "340102", "340103")
    hidden = [t for t in tambons if cells[t]["households"] is None]
    assert "340101" in hidden
    rest = cells["3401"]["households"] - sum(cells[t]["households"] for t in tambons if t not in hidden)
    # lower bounds the attacker holds for each hidden households cell: >= 1, and >= every count it bounds
    lower = {t: max([1] + [cells[t][m] for m in ("deprived_health", "deprived_income", "in_need", "mpi_poor")
                           if cells[t][m] is not None]) for t in hidden}
    slack = rest - sum(lower.values())
    assert slack > 0, f"households pinned to {lower} (they must sum to {rest})"


def test_two_village_views_at_thresholds_5_and_10_do_not_reveal_a_suppressed_cell(hub, tmp_path):
    """ubu_villages (threshold 5) and policy_all_levels (threshold 10) are published from the same
    records, and both roll small villages into TTTTTT-other, each at its own threshold, so the groups differ:
    with villages of 3, 6, 20 and 25 households, the first publishes other = {moo 1, 2} and moo 3, the
    second other = {moo 1, 2, 3}. deprived_income is 1 + 1 in moo 1 and 2, 20 in moo 3, 10 in moo 4. The
    university view hides its other (2) and moo 4 (10); the policy view shows its other (22) and moo 4 (10).
    Whoever holds both tables (the policy unit's are shown in provincial meetings) subtracts:
    22 - 20 = 2 households deprived in income among the tambon's small villages."""
    t = "340101"
    load(hub, tmp_path,
         [household(t, 1, dims=("income",))] + [household(t, 1, dims=("living",)) for _ in range(2)]
         + [household(t, 2, dims=("income",))] + [household(t, 2, dims=("living",)) for _ in range(5)]
         + [household(t, 3, dims=("income",)) for _ in range(20)]
         + [household(t, 4, dims=("income",)) for _ in range(10)] + [household(t, 4, dims=("living",))
                                                                     for _ in range(15)])
    publish(hub, views=["ubu_villages", "policy_all_levels"], actor=ACTOR)
    university, policy = figures(hub, "ubu_villages", t), figures(hub, "policy_all_levels", t)
    assert set(university) == set(policy)  # one roll-up for both: the groups cannot be subtracted
    recovered = {}
    if university[f"{t}-other"]["deprived_income"] is None \
            and policy.get(f"{t}-other", {}).get("deprived_income") is not None:
        # the policy unit's group holds the university's small villages plus the villages it shows alone
        alone = [v for v in university if v.startswith(f"{t}-") and v not in policy and v != f"{t}-other"]
        if all(university[v]["deprived_income"] is not None for v in alone):
            recovered["by differencing the two groups"] = policy[f"{t}-other"]["deprived_income"] - sum(
                university[v]["deprived_income"] for v in alone)
    assert not recovered, f"the university's suppressed cell {t}-other/deprived_income recovered: {recovered}"


def test_a_public_views_published_areas_do_not_depend_on_one_household(settings, tmp_path):
    """Differential privacy promises that one household more or less changes the release's distribution by
    at most e^epsilon. Had a public view rolled villages up by their TRUE household counts, before any
    noise, which rows exist would tell whether a fifth household is there. A public view at village level is
    refused (there is no list of every village); at tambon level every tambon of the country is published,
    people or not."""
    contract = (BUILT_IN / "open_data.toml").read_text(encoding="utf-8")
    contract = contract.replace('id = "open_data"', 'id = "open_villages"') \
        .replace('name = "public_province"', 'name = "public_villages"') \
        .replace('level = "province"', 'level = "village"')
    directory = tmp_path / "contracts"
    shutil.copytree(BUILT_IN, directory)
    (directory / "open_data.toml").unlink()
    (directory / "open_villages.toml").write_text(contract, encoding="utf-8")
    with isolated_database_url(tmp_path / "refused") as url:
        hub, _ = Hub.init(Settings(home=tmp_path / "refused", database_url=url, contracts_dir=directory))
        try:
            with pytest.raises(ContractViolation, match="a public view publishes every area of its level"):
                publish(hub, actor=ACTOR)
        finally:
            hub.engine.dispose()
    (directory / "open_villages.toml").write_text(contract.replace('level = "village"', 'level = "tambon"'),
                                                   encoding="utf-8")
    published_areas = []
    for fifth in (True, False):
        home = tmp_path / f"hub-{fifth}"
        with isolated_database_url(home) as url:
            hub, _ = Hub.init(Settings(home=home, database_url=url, contracts_dir=directory))
            try:
                load(hub, home, [household("340101", 1) for _ in range(5 if fifth else 4)]
                     + [household("340101", 2) for _ in range(40)])
                publish(hub, views=["public_villages"], actor=ACTOR)
                published_areas.append(sorted(figures(hub, "public_villages", "3401")))
            finally:
                hub.engine.dispose()
    assert published_areas[0] == published_areas[1], f"one household decides the rows: {published_areas}"
    assert len(published_areas[0]) > 2  # every tambon of amphoe 3401, not only the one with people


# ------------------------------------------------------------------------------------------ microdata


def test_eef_microdata_does_not_single_out_a_student_by_their_school_grade(hub, tmp_path):
    """eef_students is k-anonymous on area, sex and age, but keeps grade (and a school-code prefix) in
    clear, and grade is no secret: classmates, teachers and neighbours know it. The attacker who knows a
    student's area, sex, age and grade looks for rows matching all four: a class of k rows on the
    declared quasi-identifiers splits by grade, and a row alone in its split is the student, with the
    household's pseudonym, welfare card and EEF status. (The demo population of tests/test_views.py.)"""
    from hub.demo.population import generate_population
    from hub.demo.writers import write_partner_files

    written = write_partner_files(generate_population(households=700, seed=11), tmp_path / "files", seed=11)
    for source in ("tpmap", "msdhs_logbook", "eef_students", "university_survey"):
        for path in written.files.get(source, []):
            ingest_file(hub, source, path, actor=ACTOR)
    link(hub, actor=ACTOR)
    publish(hub, views=["eef_students"], actor=ACTOR)
    rows = [r["fields"] for r in read_view(hub, "eef_students", area=None, actor=ACTOR).rows]
    _, view = hub.contracts.view("eef_students")
    students = [r for r in rows if r.get("grade")]
    assert students
    by_class = Counter((*(r[q] for q in view.quasi_identifiers), r["grade"]) for r in students)
    alone = [key for key, n in by_class.items() if n < view.k]
    assert not alone, f"{len(alone)} (area, sex, age, grade) classes smaller than k={view.k}, e.g. {alone[:3]}"


# ---------------------------------------------------------------------------------------- contracts, ingest


def test_a_rejected_row_does_not_store_fields_no_contract_allows(hub, tmp_path):
    """No contract lets the hub take the dwelling's GPS location from the university survey ("a point would
    identify a house"); a good row loses it before storage. A row the adapter rejects (here: capitals
    missing) is quarantined with its whole raw text, location included: the coordinates reach the
    database, and anyone allowed to read the quarantine reads them."""
    assert "location" not in hub.contracts.taken_fields("university_survey")
    line = {"survey_id": "UBU-2566-000001", "university": "มหาวิทยาลัยอุบลราชธานี", "surveyed_on": "2023-08-14",
            "house_code": "34010012346", "address": {"house_no": "15", "moo": 4, "tambon_code": "340101"},
            "location": {"lat": 15.2287, "lon": 104.8564},
            "members": [{"citizen_id": with_check_digit("110140012345"), "first_name": "สมชาย",
                         "last_name": "ศรีสุข", "birth_date": "1962-05-01", "sex": "M", "relation": "head"}],
            "tpmap_listed": True, "verified_poor": True, "problems": ["income"], "referrals": []}
    path = tmp_path / "survey.ndjson"
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    report = ingest_file(hub, "university_survey", path, actor=ACTOR)
    assert report.quarantined == 1
    with hub.engine.connect() as conn:
        row_id = conn.scalar(select(quarantine.c.id))
    raw = read_raw_row(hub, row_id, actor=ACTOR, reason="review")
    assert "104.8564" not in raw and "location" not in raw, f"the refused field was stored: {raw}"


def test_a_contract_past_its_valid_until_date_does_not_let_the_hub_ingest_or_publish(settings, tmp_path):
    """A contract is an agreement with an end date (valid_until). Nothing reads it: after the agreement
    has ended the hub still takes the partner's data and still builds and serves its views."""
    directory = tmp_path / "contracts"
    shutil.copytree(BUILT_IN, directory)
    path = directory / "tpmap.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("signed_on = 2026-01-15", "signed_on = 2024-01-15")
                    .replace("valid_until = 2028-12-31", "valid_until = 2025-12-31"), encoding="utf-8")
    hub, _ = Hub.init(settings.model_copy(update={"contracts_dir": directory}))
    try:
        ended = next(c.contract.valid_until for c in hub.contracts if c.contract.id == "tpmap")
        assert ended < dt.date.today()
        people = [household("340101", 1) for _ in range(8)]
        refused = []
        try:
            ingest_file(hub, "tpmap", write_tpmap(tmp_path / "tpmap.csv", people), actor=ACTOR)
        except ContractViolation:
            refused.append("ingest")
        try:
            publish(hub, views=["tpmap_tambon"], actor=ACTOR)
        except ContractViolation:
            refused.append("publish")
        assert refused == ["ingest", "publish"], f"an agreement that ended on {ended} still allows what it covered"
    finally:
        hub.engine.dispose()


# -------------------------------------------------------------------------------------------- publishing


def test_a_publish_running_beside_another_does_not_leave_a_view_unserved(hub, tmp_path):
    """Every publish starts by deleting all 'building' versions, taking them for a killed publish's
    leftovers; a publish that is still running owns them. Publish A writes tpmap_tambon as 'building'; B
    (cron, or an operator's `hub publish --view eef_tambon`) starts meanwhile and deletes it; A then
    retires the served tpmap_tambon and marks the deleted version current. tpmap_tambon has no current
    version: readers get nothing, and A's audit event cites a version that does not exist."""
    load(hub, tmp_path, [household("340101", 1) for _ in range(12)])
    publish(hub, actor=ACTOR)

    refused = []

    def beside(name: str) -> None:
        if name == "eef_tambon":  # A has written tpmap_tambon and is about to build eef_tambon
            with pytest.raises(PublishError, match="another publish is running") as caught:
                publish(hub, views=["msdhs_amphoe"], actor="test:other-publish")
            refused.append(caught.value)

    publish(hub, views=["tpmap_tambon", "eef_tambon"], actor=ACTOR, progress=beside, force=True)
    assert refused  # the second publish waits its turn instead of taking A's versions
    with hub.engine.connect() as conn:
        current = conn.scalars(select(view_versions.c.view).where(view_versions.c.status == "current")).all()
    assert "tpmap_tambon" in current, f"views served after two publishes side by side: {sorted(current)}"
    assert read_view(hub, "tpmap_tambon", area=None, actor=ACTOR).cells


def test_households_outside_villages_are_counted_at_every_level(hub, tmp_path):
    """Households with no moo (Bangkok, municipal areas) belong to TTTTTT-00. facts.village_of turns a
    missing moo into "<NA>" and replaces that text with "00", but pandas 3 keeps a missing value missing
    through astype(str), so their village is NaN; groupby drops NaN keys, and every aggregate view leaves
    them out at every level (in the demo population of tests/test_views.py: 175 of 489 households, the
    nation cell says 314). The microdata views give them area "*"."""
    inside = [household("340101", 1) for _ in range(6)]
    outside = [household("100101", "") for _ in range(7)]  # Phra Borom Maha Ratchawang, Bangkok: no moo
    load(hub, tmp_path, inside + outside)
    publish(hub, views=["tpmap_tambon", "ubu_villages"], actor=ACTOR)
    nation = figures(hub, "tpmap_tambon", None)["TH"]
    assert nation["households"] == 13, f"the nation counts {nation['households']} of 13 households"
    villages = figures(hub, "ubu_villages", "100101")
    assert villages["100101"]["households"] == 7
    assert {"100101-00", "100101-other"} & set(villages)  # its own cell, or rolled up with the small ones
