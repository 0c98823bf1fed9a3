"""A community's registered data stewards: who may grant or withdraw its data-return consent and read
its households. A steward's name is personal data: stored encrypted, and listing it is audited."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from consent import clock
from consent.events import StewardEnded, StewardRegistered, StewardsRead
from consent.subjects import Level, community
from consent.vocabulary import ConsentError
from hub.context import Hub
from hub.crypto import aad
from hub.db.schema import community_stewards

ROLES = ("village_head", "assistant_village_head", "tambon_council", "community_committee", "volunteer")


@dataclass(frozen=True)
class Steward:
    id: int
    community: str
    role: str
    name: str | None  # decrypted only by :func:`list_stewards`
    appointed_by: str
    active: bool


def _name_aad(community_code: str, steward_id: int) -> bytes:
    return aad("community_stewards", community_code, str(steward_id), "name")


def register(hub: Hub, community_code: str, *, name: str, role: str, appointed_by: str, actor: str,
             now: dt.datetime | None = None) -> int:
    """Register a steward of a village or tambon; ``appointed_by`` names the meeting or document."""
    subject = community(community_code)
    if role not in ROLES:
        raise ConsentError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if not name.strip() or not appointed_by.strip():
        raise ConsentError("a steward needs a name and the meeting or document that appointed them")
    t = community_stewards
    with hub.engine.begin() as conn:
        steward_id = conn.execute(insert(t).values(
            community=subject.ref, role=role, appointed_by=appointed_by.strip(), registered_at=now or clock.now(),
            registered_by=actor, name_enc=b"").returning(t.c.id)).scalar_one()
        conn.execute(update(t).where(t.c.id == steward_id)
                     .values(name_enc=hub.cipher.encrypt(name.strip(), _name_aad(subject.ref, steward_id))))
        hub.audit.append(conn, StewardRegistered(resource=f"community:{subject.ref}", steward_id=steward_id,
                                                 community=subject.ref, role=role), actor=actor)
    return steward_id


def end(hub: Hub, steward_id: int, *, reason: str, actor: str, now: dt.datetime | None = None) -> None:
    """End a steward's term (grants they made stay valid until withdrawn)."""
    t = community_stewards
    with hub.engine.begin() as conn:
        done = conn.execute(update(t).where(t.c.id == steward_id, t.c.ended_at.is_(None))
                            .values(ended_at=now or clock.now())).rowcount
        if not done:
            raise ConsentError(f"no active steward {steward_id}")
        hub.audit.append(conn, StewardEnded(resource=f"steward:{steward_id}", steward_id=steward_id, reason=reason),
                         actor=actor)


def list_stewards(hub: Hub, community_code: str, *, actor: str) -> list[Steward]:
    """The community's stewards, past and present, with their names (the read is audited)."""
    subject = community(community_code)
    t = community_stewards
    with hub.engine.begin() as conn:
        rows = conn.execute(select(t).where(t.c.community == subject.ref).order_by(t.c.id)).all()
        hub.audit.append(conn, StewardsRead(resource=f"community:{subject.ref}", community=subject.ref,
                                            stewards=len(rows)), actor=actor)
    return [Steward(r.id, r.community, r.role, hub.cipher.decrypt(r.name_enc, _name_aad(r.community, r.id)),
                    r.appointed_by, r.ended_at is None) for r in rows]


def active_steward(conn: Connection, steward_id: int, community_code: str, *, may_cover: bool = False) -> Steward:
    """Steward ``steward_id`` if active for ``community_code``; with ``may_cover``, a steward of the tambon
    around a village also qualifies (the tambon council reads its villages). :class:`ConsentError` if not."""
    t = community_stewards
    row = conn.execute(select(t).where(t.c.id == steward_id)).first()
    if row is None or row.ended_at is not None:
        raise ConsentError(f"steward {steward_id} is not an active registered steward")
    covers = row.community == community_code or (
        may_cover and community(row.community).level is Level.TAMBON and community_code.startswith(row.community))
    if not covers:
        raise ConsentError(f"steward {steward_id} is a steward of {row.community}, not of {community_code}")
    return Steward(row.id, row.community, row.role, None, row.appointed_by, True)
