"""Audit events of partner webhooks. They name the partner, the event kind and the notification's id, and
say what happened to it; never a household, its pseudonym or any field the webhook carries."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

from audit.events import EventType, hookimpl


@dataclasses.dataclass(frozen=True, kw_only=True)
class NotificationQueued(EventType):
    """A webhook was queued for a partner subscribed to its kind, in the transaction of the change."""

    name: ClassVar[str] = "notify.queued"
    partner: str
    kind: str
    notification_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class NotificationDelivered(EventType):
    """The partner's endpoint accepted a webhook (a 2xx answer) at its ``attempts``-th try."""

    name: ClassVar[str] = "notify.delivered"
    partner: str
    notification_id: int
    attempts: int
    status_code: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class NotificationFailed(EventType):
    """A try failed in a way worth retrying (network, timeout, 5xx, 408, 429); the next is due at
    ``next_attempt_at``."""

    name: ClassVar[str] = "notify.failed"
    partner: str
    notification_id: int
    attempts: int
    error: str
    next_attempt_at: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class NotificationDead(EventType):
    """A webhook was given up: the endpoint refused it (another 4xx) or it failed too many times. It
    stays in the dead-letter list until an operator retries it."""

    name: ClassVar[str] = "notify.dead"
    partner: str
    notification_id: int
    attempts: int
    error: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class NotificationRetried(EventType):
    """An operator put a dead webhook back in the queue, to be tried again at once."""

    name: ClassVar[str] = "notify.retried"
    partner: str
    notification_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class EndpointRegistered(EventType):
    """A partner's webhook endpoint was set or changed."""

    name: ClassVar[str] = "notify.endpoint_registered"
    partner: str
    url: str
    previous_url: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class EndpointRemoved(EventType):
    """A partner's webhook endpoint was removed: its notifications wait until it has another."""

    name: ClassVar[str] = "notify.endpoint_removed"
    partner: str
    url: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class NotificationsPurged(EventType):
    """Delivered notifications, their bodies, were removed from the outbox once kept long enough (each one's
    delivery stays in the log as ``notify.delivered``)."""

    name: ClassVar[str] = "notify.purged"
    removed: int
    delivered_before: str


NOTIFY_EVENT_TYPES = (NotificationQueued, NotificationDelivered, NotificationFailed, NotificationDead,
                      NotificationRetried, EndpointRegistered, EndpointRemoved, NotificationsPurged)


@hookimpl
def saphan_register_event_types():
    return NOTIFY_EVENT_TYPES
