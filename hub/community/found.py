"""A household the community's stewards found, entered by a steward: written as one line of the
``community_found`` format (:mod:`adapters.community_found`) and ingested through that adapter like any
partner's file (IDs keyed, names encrypted, a bad member quarantined with its reason). The next link run
places it: joined to what the agencies know of its people, or, if none does, an exclusion error that no
agency serves, in the community's own figures and up to the nation."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from consent import clock
from consent.stewards import active_steward
from consent.subjects import community
from hub.community.events import HouseholdFound
from hub.context import Hub
from hub.errors import HubError
from hub.pipeline.ingest import FileReport, ingest_file

SOURCE = "community_found"


class FoundHouseholdError(HubError):
    """A found household that cannot be entered as given (its place)."""


def enter_found_household(hub: Hub, *, community_code: str, steward_id: int, house_no: str | None, moo: int | None,
                          members: list[dict[str, Any]], verified_poor: bool, problems: list[str], actor: str,
                          at: dt.datetime | None = None) -> FileReport:
    """Ingest the household steward ``steward_id`` of ``community_code`` found; returns the ingest report
    (its ``quarantine_reasons`` say what was wrong with a member, if anything)."""
    subject = community(community_code)
    at = at or clock.now()
    tambon, _, village = subject.ref.partition("-")
    if village and moo is not None and moo != int(village):
        raise FoundHouseholdError(f"moo {moo} is not your village ({subject.ref})")
    with hub.engine.connect() as conn:
        active_steward(conn, steward_id, subject.ref, may_cover=True)
    found_id = f"{subject.ref}/{uuid.uuid4().hex[:12]}"
    line = {"found_id": found_id, "community": subject.ref, "found_on": at.date().isoformat(), "steward_id": steward_id,
            "address": {"house_no": house_no, "moo": int(village) if village else moo, "tambon_code": tambon},
            "verified_poor": verified_poor, "problems": problems, "members": members}
    directory = Path(tempfile.mkdtemp(prefix="found-", dir=hub.settings.resolved_home))
    try:
        path = directory / "found.ndjson"
        path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")

        def audited(conn) -> None:
            hub.audit.append(conn, HouseholdFound(resource=f"found:{found_id}", community=subject.ref,
                                                  steward_id=steward_id, members=len(members),
                                                  verified_poor=verified_poor), actor=actor)

        return ingest_file(hub, SOURCE, path, actor=actor, also=audited)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
