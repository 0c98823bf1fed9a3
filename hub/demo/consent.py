"""The demo's consent story: the survey's paper consent recorded, the village with the most households
grants data return at its meeting, one resident opts out, and the steward's view shows the difference."""
from __future__ import annotations

from rich.console import Console
from sqlalchemy import select

from consent import registry, stewards
from consent.data_return import read_view
from consent.evidence import import_survey_evidence
from consent.population import load_population
from consent.receipts import public_key, verify_receipt
from consent.registry import Grantor, NewConsent
from consent.subjects import Subject, community, village_code
from hub.context import Hub
from hub.db.schema import community_stewards


def _busiest_village(hub: Hub) -> str:
    with hub.engine.connect() as conn:
        frame = load_population(conn).frame
    frame = frame[frame["moo"].notna()]
    homes = frame.drop_duplicates("household_id")
    tambon, moo = homes.groupby(["tambon", "moo"]).size().idxmax()
    return village_code(tambon, int(moo))


def _steward(hub: Hub, village: str, actor: str) -> int:
    t = community_stewards
    with hub.engine.connect() as conn:
        found = conn.execute(select(t.c.id).where(t.c.community == village, t.c.ended_at.is_(None))).scalar()
    if found is not None:
        return found
    return stewards.register(hub, village, name="ผู้ใหญ่บ้าน (demo)", role="village_head",
                             appointed_by="คำสั่งอำเภอ (demo)", actor=actor)


def show_consent(hub: Hub, console: Console, *, actor: str) -> tuple[str, int]:
    """Run the story; returns the village and its steward id (for the commands the demo suggests)."""
    evidence = import_survey_evidence(hub, actor=actor)
    village = _busiest_village(hub)
    steward = _steward(hub, village, actor)
    _, receipt = registry.record(hub, NewConsent(
        community(village), "given", ["community_planning"], ["community"], Grantor("stewards", (steward,)),
        {"method": "community meeting", "meeting": "ประชุมประชาคมหมู่บ้าน (demo)"}), actor=actor)
    before = read_view(hub, village, steward_id=steward, actor=actor)
    with hub.engine.connect() as conn:
        frame = load_population(conn).frame
    shown = {h.household_id for h in before.households}
    residents = frame[frame["household_id"].isin(shown) & frame["cid"].notna()]
    if not residents.empty:
        resident = residents.iloc[0]
        opt_out = NewConsent(Subject("person", resident["cid"]), "refused", ["community_planning"], ["community"],
                             Grantor("self"), {"method": "the person's own request (demo)"})
        registry.record(hub, opt_out, actor=actor)
    after = read_view(hub, village, steward_id=steward, actor=actor)
    verified = verify_receipt(receipt, public_key(hub))["status"] == "given"
    console.print(f"Consent: {evidence.recorded} household decisions from the surveys' paper forms; village "
                  f"{village} granted data return at its meeting (receipt {'verifies' if verified else 'FAILS'}).")
    console.print(f"  its steward sees {len(before.households)} households identified; after one resident opted "
                  f"out, {len(after.households)} identified and {after.counted_only_households} only counted.")
    return village, steward
