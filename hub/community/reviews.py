"""A community's stewards settle the linkage review pairs of their own people: whether two records are
one person is often something only neighbours know. A pair is theirs when both records belong to
households their data-return page shows them; they see both records identified (each read audited) and
their decision binds later link runs like the operator's (:mod:`hub.linking.reviews`)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from consent import clock
from consent.subjects import community
from hub.community.access import visible_households
from hub.context import Hub
from hub.db.bulk import key_chunks
from hub.db.schema import link_reviews, linked_records, record_links, source_records
from hub.linking.reviews import ReviewError, settle_review, show_review


def community_reviews(hub: Hub, *, community_code: str, steward_id: int, actor: str,
                      at: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The open pairs the community may settle, each with both records identified (each read audited)."""
    ids = _theirs(hub, community_code, steward_id, at or clock.now())
    out = []
    for review_id in ids:
        review, a, b = show_review(hub, review_id, actor=actor)
        out.append({"id": review_id, "reason": review.reason, "match_probability": review.match_probability,
                    "evidence": review.evidence, "records": [a, b]})
    return out


def settle_for_community(hub: Hub, review_id: int, decision: str, *, community_code: str, steward_id: int,
                         basis: str, actor: str, at: dt.datetime | None = None) -> None:
    """Record the community's ``decision`` (``same`` or ``different``) on one of its pairs."""
    if review_id not in _theirs(hub, community_code, steward_id, at or clock.now(), open_only=False):
        raise ReviewError(f"no review {review_id} among your community's")
    settle_review(hub, review_id, decision, basis=f"{basis} (steward {steward_id} of {community_code})", actor=actor)


def _theirs(hub: Hub, community_code: str, steward_id: int, at: dt.datetime, *, open_only: bool = True) -> list[int]:
    subject = community(community_code)
    t, r, links = link_reviews, source_records, record_links
    with hub.engine.connect() as conn:
        _, shown = visible_households(conn, subject.ref, steward_id, at)
        query = select(t.c.id, t.c.source_a, t.c.record_id_a, t.c.source_b, t.c.record_id_b).order_by(t.c.id)
        pairs = conn.execute(query.where(t.c.status == "open") if open_only else query).all()
        ids = sorted(shown)
        homes = {(row.source, row.record_id): row.household_id
                 for chunk in key_chunks(ids) for row in conn.execute(
                     select(r.c.source, r.c.record_id, links.c.household_id).select_from(linked_records)
                     .where(links.c.household_id.in_(chunk)))}
    return [p.id for p in pairs if homes.get((p.source_a, p.record_id_a)) in shown
            and homes.get((p.source_b, p.record_id_b)) in shown]
