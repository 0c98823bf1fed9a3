"""The outbox: a webhook is queued in the transaction of the change it announces, so that it exists if and
only if the change does. Its body (DCI notify shape) is built then, once: only the fields the partner's
contract allows, and the household as that partner's own pseudonym (the one in its microdata views), never
the hub's id. :mod:`hub.notify.delivery` sends it later, byte for byte."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from consent.clock import now
from contracts.load import ContractSet
from hub.context import Hub
from hub.db.schema import notifications
from hub.errors import HubError
from hub.keys import Keyring
from hub.notify.catalogue import EVENT_KINDS, FIELDS
from hub.notify.events import NotificationQueued, NotificationRetried, NotificationsPurged

ACTOR = "system:notify"
SENDER = "saphan"
DCI_VERSION = "1.0.0"
STATES = ("pending", "delivered", "dead")


class NotificationNotFound(HubError):
    """No notification has that id."""


class NotDead(HubError):
    """Only a dead notification can be retried."""


def subscribers(contracts: ContractSet, kind: str, on: dt.date | None = None) -> dict[str, frozenset[str]]:
    """Partners whose contracts in force subscribe to ``kind``, with the fields those contracts allow."""
    allowed: dict[str, set[str]] = {}
    for loaded in contracts.in_force(on):
        terms = loaded.contract.notify
        if terms is not None and kind in terms.events:
            allowed.setdefault(loaded.contract.partner.id, set()).update(terms.fields)
    return {partner: frozenset(fields) for partner, fields in allowed.items()}


def household_pseudonym(keyring: Keyring, partner: str, household_id: str | int) -> str:
    """The partner's pseudonym of a household: the same as in that partner's microdata views."""
    return household_pseudonyms(keyring, partner, [household_id])[0]


def household_pseudonyms(keyring: Keyring, partner: str, household_ids: Sequence[str | int]) -> list[str]:
    """:func:`household_pseudonym` of each household, in order."""
    import pandas as pd  # here, not at import: the CLI and contract checks must not start numpy's thread

    from hub.views.microdata import partner_key, pseudonyms

    return pseudonyms(pd.Series(list(household_ids), dtype=object), key=partner_key(keyring, partner),
                      kind="household").tolist()


def _checked(kind: str, data: dict[str, Any]) -> None:
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; known: {', '.join(EVENT_KINDS)}")
    for name, value in data.items():
        field = FIELDS.get(name)
        if field is None:
            raise ValueError(f"{kind}: no notification field {name!r}; known: {', '.join(FIELDS)}")
        if not field.valid(value):
            raise ValueError(f"{kind}: field {name} must be {field.doc}")


def dci_body(*, message_id: str, sent: dt.datetime, receiver: str, kind: str, data: dict[str, Any]) -> str:
    """The JSON text of one notification, in the DCI notify shape."""
    return json.dumps({
        "header": {"version": DCI_VERSION, "message_id": message_id, "message_ts": sent.isoformat(),
                   "action": "notify", "sender_id": SENDER, "receiver_id": receiver, "total_count": 1},
        "message": {"event_type": kind, "data": data},
    }, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Notice:
    """One change to announce: its kind, the household it concerns (``None``: none), the partners concerned
    (whom the caller has decided may, under consent, hear of it) and its catalogue fields."""

    kind: str
    household_id: str | int | None
    concerns: Iterable[str]
    data: dict[str, Any]


def notify(hub: Hub, conn: Connection, kind: str, *, household_id: str | int | None, concerns: Iterable[str],
           data: dict[str, Any]) -> list[int]:
    """Queue ``kind`` for each partner in ``concerns`` whose contract subscribes to it, inside the caller's
    transaction (``conn``), and audit each; returns the new notifications' ids (none for a partner not
    subscribed). See :func:`queue` for the body."""
    queued = queue(hub, conn, [Notice(kind, household_id, concerns, data)])[0]
    if queued:
        hub.audit.append_many(conn, queued, actor=ACTOR)
    return [event.notification_id for event in queued]


def queue(hub: Hub, conn: Connection, notices: Sequence[Notice]) -> list[list[NotificationQueued]]:
    """Queue every notice in one write, inside the caller's transaction; returns, per notice, the
    ``notify.queued`` events of the notifications it made, which the caller appends to the audit log (as
    :data:`ACTOR`) in the order it tells its changes.

    Each notice's ``data`` holds catalogue fields (:data:`hub.notify.catalogue.FIELDS`); each partner's
    body keeps those its contract allows, plus ``household``: its pseudonym of the notice's household when
    one is given. An unknown kind or field, or a value its field does not admit, is a programming error:
    :class:`ValueError`."""
    for notice in notices:
        _checked(notice.kind, notice.data)
    subscribed = {kind: subscribers(hub.contracts, kind) for kind in {notice.kind for notice in notices}}
    wanted = [(n, partner, subscribed[notice.kind][partner]) for n, notice in enumerate(notices)
              for partner in dict.fromkeys(notice.concerns) if partner in subscribed[notice.kind]]
    names = _household_pseudonyms(hub.keyring, {(partner, notices[n].household_id) for n, partner, _ in wanted
                                                if notices[n].household_id is not None})
    rows = []
    for n, partner, allowed in wanted:
        notice = notices[n]
        payload = {name: value for name, value in notice.data.items() if name in allowed}
        if notice.household_id is not None:
            payload["household"] = names[partner, notice.household_id]
        key, moment = uuid.uuid4().hex, now()
        rows.append({"partner": partner, "kind": notice.kind, "idempotency_key": key, "state": "pending",
                     "attempts": 0, "next_attempt_at": moment, "created_at": moment,
                     "body": dci_body(message_id=key, sent=moment, receiver=partner, kind=notice.kind, data=payload)})
    ids = conn.execute(insert(notifications).returning(notifications.c.id, sort_by_parameter_order=True),
                       rows).scalars().all() if rows else []
    out: list[list[NotificationQueued]] = [[] for _ in notices]
    for (n, partner, _), notification_id in zip(wanted, ids):
        out[n].append(NotificationQueued(resource=f"notification:{notification_id}", partner=partner,
                                         kind=notices[n].kind, notification_id=notification_id))
    return out


def _household_pseudonyms(keyring: Keyring, wanted: set[tuple[str, str | int]]) -> dict[tuple[str, str | int], str]:
    """Each (partner, household id) pair's pseudonym, computed per partner in one pass."""
    by_partner: dict[str, list[str | int]] = {}
    for partner, household_id in wanted:
        by_partner.setdefault(partner, []).append(household_id)
    return {(partner, household_id): name for partner, households in by_partner.items()
            for household_id, name in zip(households, household_pseudonyms(keyring, partner, households))}


def list_notifications(hub: Hub, *, state: str | None = None, partner: str | None = None, limit: int = 1000
                       ) -> list[dict[str, Any]]:
    """Notifications, newest first: their state and history, never their body."""
    n = notifications
    query = select(n.c.id, n.c.partner, n.c.kind, n.c.state, n.c.attempts, n.c.next_attempt_at, n.c.last_error,
                   n.c.created_at, n.c.delivered_at).order_by(n.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(n.c.state == state)
    if partner is not None:
        query = query.where(n.c.partner == partner)
    with hub.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def retry(hub: Hub, notification_id: int, *, actor: str) -> None:
    """Put a dead notification back in the queue, due at once, with a fresh count of attempts."""
    n = notifications
    with hub.engine.begin() as conn:
        row = conn.execute(update(n).where(n.c.id == notification_id, n.c.state == "dead")
                           .values(state="pending", attempts=0, next_attempt_at=now()).returning(n.c.partner)).first()
        if row is None:
            state = conn.scalar(select(n.c.state).where(n.c.id == notification_id))
            if state is None:
                raise NotificationNotFound(f"no notification {notification_id}")
            raise NotDead(f"notification {notification_id} is {state}; only a dead one is retried")
        hub.audit.append(conn, NotificationRetried(resource=f"notification:{notification_id}", partner=row.partner,
                                                   notification_id=notification_id), actor=actor)


def purge_delivered(hub: Hub, *, before: dt.datetime, actor: str) -> int:
    """Remove the notifications delivered before ``before``: the partner has their bodies, and the audit log
    keeps that each was delivered (``notify.delivered``). Pending and dead ones stay. Returns how many went."""
    n = notifications
    with hub.engine.begin() as conn:
        removed = conn.execute(delete(n).where(n.c.state == "delivered", n.c.delivered_at < before)).rowcount
        if removed:
            hub.audit.append(conn, NotificationsPurged(resource="notifications", removed=removed,
                                                       delivered_before=before.isoformat(timespec="seconds")),
                             actor=actor)
    return removed
