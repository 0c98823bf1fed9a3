"""What auditors and communities read of the audit log.

- :func:`search`: events filtered by actor, role, partner, area, action and time, as auditors see them:
  a person's keyed reference (the fields an event type declares ``personal_fields``, unless they hold a
  community's area code; a ``person:…`` resource) is hidden, and so are the details of an event type
  this hub does not know.
- :func:`usage`: "who used our data": for a village or tambon, each read of its records' personal data
  (by partners' views, by its own stewards), with the partner, purpose, time and record count, and a
  summary per partner and purpose. A village also sees reads made for its whole tambon.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, or_, select

from audit.events import EventType
from hub.db.schema import audit_area_reads, audit_events
from hub.errors import HubError

HIDDEN = "[hidden]"
MAX_ROWS = 10_000
_AREA = re.compile(r"^(\d{2}|\d{4}|\d{6}|\d{6}-\d{2}|TH)$")
_COMMUNITY = re.compile(r"^\d{6}(-\d{2})?$")  # a village's or tambon's reference is its code, not personal


class QueryError(HubError):
    """A filter the log cannot be searched by."""


@dataclass(frozen=True)
class Filters:
    """``area`` matches the area and everything inside it; ``action`` ending in ``.`` matches a family
    (``consent.``); ``since`` and ``until`` are ISO dates or times (UTC when no offset is given)."""

    actor: str | None = None
    role: str | None = None
    partner: str | None = None
    area: str | None = None
    action: str | None = None
    since: str | None = None
    until: str | None = None
    after_seq: int = 0
    limit: int = 1000
    newest_first: bool = False

    def as_query(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items()
                if v not in (None, 0, False) and k not in ("limit", "newest_first")}


def _instant(text: str, *, end: bool) -> str:
    """An ISO date or time as the log's UTC text; a bare date (2026-11-24 or 20261124) means its start
    (or, for ``end``, the next day's)."""
    try:
        day = dt.date.fromisoformat(text) + dt.timedelta(days=1 if end else 0)
        moment = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise QueryError(f"{text!r}: expected an ISO date (2026-11-24) or time (2026-11-24T09:00+07:00)") from None
        moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    return moment.isoformat(timespec="microseconds")


def _area(code: str) -> str:
    if not _AREA.match(code):
        raise QueryError(f"area {code!r}: expected a DOPA code (province 2, amphoe 4, tambon 6 digits), "
                         "a village TTTTTT-MM, or TH")
    return code


def _within(column, code: str):
    """``column`` is ``code`` or an area inside it (codes nest by prefix; ``~`` sorts after ``-`` and digits)."""
    return column.between(code, code + "~") if code != "TH" else column.is_not(None)


def search(conn: Connection, filters: Filters, declared: dict[str, type[EventType]]) -> list[dict[str, Any]]:
    """Events matching ``filters``, oldest (or newest) first, at most ``filters.limit`` (<= :data:`MAX_ROWS`)
    after ``filters.after_seq``; personal references hidden."""
    if not 1 <= filters.limit <= MAX_ROWS:
        raise QueryError(f"limit must be between 1 and {MAX_ROWS}")
    t = audit_events
    query = select(t).where(t.c.seq > filters.after_seq)
    for name in ("actor", "role", "partner"):
        if (value := getattr(filters, name)) is not None:
            query = query.where(t.c[name] == value)
    if filters.area is not None:
        query = query.where(_within(t.c.area, _area(filters.area)))
    if filters.action is not None:
        action = filters.action
        query = query.where(t.c.action.startswith(action, autoescape=True) if action.endswith(".")
                            else t.c.action == action)
    if filters.since:
        query = query.where(t.c.occurred_at >= _instant(filters.since, end=False))
    if filters.until:
        query = query.where(t.c.occurred_at < _instant(filters.until, end=True))
    order = t.c.seq.desc() if filters.newest_first else t.c.seq
    rows = conn.execute(query.order_by(order).limit(filters.limit)).all()
    return [_shown(row, declared) for row in rows]


def _shown(row, declared: dict[str, type[EventType]]) -> dict[str, Any]:
    kind = declared.get(row.action)
    if kind is None:
        details: Any = HIDDEN  # a plugin's event this hub no longer knows: its fields' meaning is unknown
    else:
        details = json.loads(row.details)
        details.update({name: HIDDEN for name in kind.personal_fields
                        if name in details and not _COMMUNITY.match(str(details[name]))})
    resource = "person:" + HIDDEN if row.resource.startswith("person:") else row.resource
    return {"seq": row.seq, "occurred_at": row.occurred_at, "actor": row.actor, "role": row.role,
            "action": row.action, "resource": resource, "partner": row.partner, "purpose": row.purpose,
            "area": row.area, "record_count": row.record_count, "request_id": row.request_id,
            "details": details, "hash": bytes(row.hash).hex()}


CSV_COLUMNS = ("seq", "occurred_at", "actor", "role", "action", "resource", "partner", "purpose", "area",
               "record_count", "request_id", "details", "hash")


def as_csv(events: list[dict[str, Any]]) -> str:
    """Events as CSV text (details as JSON), for a spreadsheet or another tool."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in events:
        writer.writerow(["" if e[c] is None else json.dumps(e[c], ensure_ascii=False) if c == "details" else e[c]
                         for c in CSV_COLUMNS])
    return out.getvalue()


def usage(conn: Connection, area: str) -> dict[str, Any]:
    """Who read personal data of ``area`` (a village ``TTTTTT-MM`` or a tambon ``TTTTTT``): each read and a
    summary per partner and purpose. Reads are counted by the village the records' households live in,
    however coarse the area a partner was shown. A tambon sees its villages' reads; a village also sees
    reads counted for its whole tambon (its tambon's stewards reading their data return)."""
    if not _COMMUNITY.match(area):
        raise QueryError(f"area {area!r}: expected a village TTTTTT-MM or a tambon TTTTTT")
    t = audit_area_reads
    where = or_(_within(t.c.area, area), t.c.area == area[:6])
    rows = conn.execute(select(t).where(where).order_by(t.c.seq, t.c.area)).all()
    reads = [{"seq": r.seq, "occurred_at": r.occurred_at, "partner": r.partner, "purpose": r.purpose,
              "action": r.action, "area": r.area, "records": r.records} for r in rows]
    summary: dict[tuple, dict[str, Any]] = {}
    for r in reads:
        entry = summary.setdefault((r["partner"], r["purpose"]), {
            "partner": r["partner"], "purpose": r["purpose"], "reads": set(), "records": 0,
            "first": r["occurred_at"], "last": r["occurred_at"]})
        entry["reads"].add(r["seq"])
        entry["records"] += r["records"]
        entry["last"] = r["occurred_at"]
    by_partner = [{**e, "reads": len(e["reads"])} for e in summary.values()]
    return {"area": area, "by_partner": sorted(by_partner, key=lambda e: (-e["records"], e["partner"] or "")),
            "reads": reads}
