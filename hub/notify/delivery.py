"""Delivering the outbox: each due notification is POSTed, signed, to its partner's endpoint.

A ``2xx`` answer delivers it. A network error, a timeout, a ``5xx``, ``408`` or ``429`` is retried later:
30 s after the first try, doubling each time (plus up to a tenth more, so that receivers coming back up
are not hit by every hub at once; a longer ``Retry-After`` is honoured), at most 6 h apart; the tenth
failure makes it ``dead``. Any other answer (a ``4xx``: the receiver refuses it, a ``3xx``: webhooks are not
redirected) makes it dead at once. A partner without a registered endpoint keeps its notifications
pending, untried, until it has one. After a try that is to be retried, the partner's other due
notifications wait for the next run: a receiver that is down costs one try per run, not one per
notification.

Claiming: one ``UPDATE`` takes the oldest due row by moving its ``next_attempt_at`` a lease ahead (on
PostgreSQL its sub-select skips rows another deliverer has locked, ``FOR UPDATE SKIP LOCKED``; SQLite runs
one writer at a time), so two deliverers never post the same row at once, and a deliverer that dies
mid-post leaves the row due again when the lease ends. The outcome is written with its audit event. A
receiver that got a webhook whose outcome the hub never recorded gets it again, with the same
``Idempotency-Key``."""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select, update

from consent.clock import now as clock_now
from consent.clock import utc
from hub.context import Hub
from hub.db.schema import notifications, webhook_endpoints
from hub.notify.events import NotificationDead, NotificationDelivered, NotificationFailed
from hub.notify.outbox import purge_delivered
from hub.notify.signature import KEY_USE, signed_headers
from hub.sync.partner_http import retry_after

ACTOR = "system:notify"
MAX_ATTEMPTS = 10
FIRST_DELAY = dt.timedelta(seconds=30)
MAX_DELAY = dt.timedelta(hours=6)
#: How long a claimed row is left alone: far longer than one POST may take (:data:`TIMEOUT`).
CLAIM_LEASE = dt.timedelta(minutes=5)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRIED_STATUSES = frozenset({408, 429})
NO_ENDPOINT = "no webhook endpoint is registered for this partner (hub notify endpoint set)"

#: The scheduled job that delivers due notifications, and how often it runs (:mod:`hub.sync.scheduler`).
DELIVERY_JOB = "notify:deliver"
DELIVERY_SCHEDULE = "every 1m"


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0  # tried, to be tried again
    dead: int = 0
    waiting: int = 0  # due, but their partner has no endpoint

    def count(self, state: str) -> None:
        """One more notification that ended this try ``state`` (``pending``: failed, to be retried)."""
        name = "failed" if state == "pending" else state
        setattr(self, name, getattr(self, name) + 1)

    def summary(self) -> str:
        return (f"{self.delivered} delivered, {self.failed} failed (to retry), {self.dead} dead, "
                f"{self.waiting} waiting for an endpoint")


@dataclass(frozen=True)
class _Claimed:
    id: int
    partner: str
    body: str
    idempotency_key: str
    attempts: int
    url: str


@dataclass(frozen=True)
class _Outcome:
    state: str  # delivered, pending (retry) or dead
    status_code: int | None
    error: str | None
    wait: float | None = None  # seconds a Retry-After asked for


def backoff(attempts: int, *, jitter: Callable[[], float] = random.random) -> dt.timedelta:
    """The wait after the ``attempts``-th failed try: 30 s doubling, at most 6 h, plus up to a tenth more."""
    base = min(FIRST_DELAY * 2 ** min(attempts - 1, 20), MAX_DELAY)
    return base + base * (jitter() / 10)


def deliver_due(hub: Hub, *, client: httpx.Client | None = None, now: dt.datetime | None = None,
                actor: str = ACTOR) -> DeliveryReport:
    """Post every due pending notification, oldest first, and record each outcome. ``now`` fixes the
    clock (tests move it forward instead of sleeping); ``client`` is the HTTP client to post with."""
    clock = (lambda: utc(now)) if now is not None else clock_now
    report = DeliveryReport(waiting=_mark_waiting(hub, clock()))
    http = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
    failing: set[str] = set()  # partners whose endpoint failed in this run
    try:
        while (claimed := _claim(hub, clock(), skip=failing)) is not None:
            state = _record(hub, claimed, _post(hub, http, claimed), clock(), actor=actor)
            report.count(state)
            if state == "pending":
                failing.add(claimed.partner)
    finally:
        if client is None:
            http.close()
    return report


def _mark_waiting(hub: Hub, moment: dt.datetime) -> int:
    """Say on each due row of a partner without an endpoint why it waits; how many wait."""
    n, e = notifications, webhook_endpoints
    waiting = (n.c.state == "pending", n.c.next_attempt_at <= moment,
               n.c.partner.not_in(select(e.c.partner)))
    with hub.engine.begin() as conn:
        conn.execute(update(n).where(*waiting, n.c.last_error.is_distinct_from(NO_ENDPOINT))
                     .values(last_error=NO_ENDPOINT))
        return conn.scalar(select(func.count()).select_from(n).where(*waiting))


def _claim(hub: Hub, moment: dt.datetime, *, skip: set[str]) -> _Claimed | None:
    """The oldest due row of a partner with an endpoint and not in ``skip``, claimed for
    :data:`CLAIM_LEASE`; None if there is none."""
    n, e = notifications, webhook_endpoints
    oldest = (select(n.c.id).where(n.c.state == "pending", n.c.next_attempt_at <= moment,
                                   n.c.partner.in_(select(e.c.partner)), n.c.partner.not_in(skip))
              .order_by(n.c.id).limit(1).with_for_update(skip_locked=True))
    with hub.engine.begin() as conn:
        row = conn.execute(update(n).where(n.c.id == oldest.scalar_subquery())
                           .values(next_attempt_at=moment + CLAIM_LEASE)
                           .returning(n.c.id, n.c.partner, n.c.body, n.c.idempotency_key, n.c.attempts)).first()
        if row is None:
            return None
        url = conn.scalar(select(e.c.url).where(e.c.partner == row.partner))
    return _Claimed(*row, url)


def _post(hub: Hub, http: httpx.Client, claimed: _Claimed) -> _Outcome:
    body = claimed.body.encode("utf-8")
    headers = signed_headers(hub.keyring.signing_key(KEY_USE), body, claimed.idempotency_key)
    try:
        response = http.post(claimed.url, content=body, headers=headers)
    except httpx.HTTPError as exc:  # refused, reset, dropped before answering, timed out
        return _Outcome("pending", None, f"{type(exc).__name__}: {exc}"[:300])
    code = response.status_code
    if 200 <= code < 300:
        return _Outcome("delivered", code, None)
    error = f"{code} {response.reason_phrase}"[:300]
    if code >= 500 or code in RETRIED_STATUSES:
        return _Outcome("pending", code, error, retry_after(response.headers.get("Retry-After"),
                                                           MAX_DELAY.total_seconds()))
    return _Outcome("dead", code, f"refused: {error}")


def _record(hub: Hub, row: _Claimed, outcome: _Outcome, moment: dt.datetime, *, actor: str) -> str:
    """Write how the try ended, with its audit event; returns the row's state now."""
    n, attempts = notifications, row.attempts + 1
    resource = f"notification:{row.id}"
    state = "dead" if outcome.state == "pending" and attempts >= MAX_ATTEMPTS else outcome.state
    if state == "delivered":
        values = {"delivered_at": moment, "last_error": None}
        event = NotificationDelivered(resource=resource, partner=row.partner, notification_id=row.id,
                                      attempts=attempts, status_code=outcome.status_code)
    elif state == "pending":
        delay = max(backoff(attempts), dt.timedelta(seconds=outcome.wait or 0))
        values = {"next_attempt_at": moment + delay, "last_error": outcome.error}
        event = NotificationFailed(resource=resource, partner=row.partner, notification_id=row.id, attempts=attempts,
                                   error=outcome.error, next_attempt_at=(moment + delay).isoformat())
    else:
        error = outcome.error if outcome.state == "dead" else f"gave up after {attempts} tries; last: {outcome.error}"
        values = {"last_error": error}
        event = NotificationDead(resource=resource, partner=row.partner, notification_id=row.id, attempts=attempts,
                                 error=error)
    with hub.engine.begin() as conn:
        conn.execute(update(n).where(n.c.id == row.id, n.c.state == "pending")
                     .values(state=state, attempts=attempts, **values))
        hub.audit.append(conn, event, actor=actor)
    return state


def run_delivery_job(hub: Hub, *, actor: str) -> str:
    """What the scheduled job does: deliver what is due, then remove what was delivered more than
    ``notify_keep_days`` ago; what happened, in a line."""
    summary = deliver_due(hub, actor=actor).summary()
    days = hub.settings.notify_keep_days
    removed = purge_delivered(hub, before=clock_now() - dt.timedelta(days=days), actor=actor)
    return summary + (f"; {removed} delivered more than {days} days ago removed" if removed else "")
