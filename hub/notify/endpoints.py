"""Where each partner receives its webhooks: one URL per partner, set by the operator. Only a partner some
contract subscribes to events can have one, and only an ``http``/``https`` URL with a host and no
credentials in it (the audit log records where webhooks go)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update

from consent.clock import now
from hub.context import Hub
from hub.db.schema import webhook_endpoints
from hub.errors import HubError
from hub.notify.events import EndpointRegistered, EndpointRemoved

MAX_URL = 2000


class EndpointRefused(HubError):
    """The endpoint cannot be registered: an unknown partner or an unusable URL."""


def checked_url(url: str) -> str:
    """``url`` if a webhook can be posted to it; :class:`EndpointRefused` saying why not otherwise."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused(f"not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointRefused("the endpoint must be an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.fragment or len(text) > MAX_URL:
        raise EndpointRefused(f"the endpoint URL may hold no user, password or #fragment, and at most {MAX_URL} "
                              "characters")
    if port == 0 or any(c.isspace() or ord(c) < 32 for c in text):
        raise EndpointRefused("the endpoint URL has a bad port or a space or control character")
    return text


def subscribing_partners(hub: Hub) -> set[str]:
    """Partners that some contract in force subscribes to events."""
    return {c.contract.partner.id for c in hub.contracts.in_force() if c.contract.notify is not None}


def set_endpoint(hub: Hub, partner: str, url: str, *, actor: str) -> str:
    """Register (or change) where ``partner`` receives its webhooks; returns the URL as stored."""
    if partner not in subscribing_partners(hub):
        known = ", ".join(sorted(subscribing_partners(hub))) or "none"
        raise EndpointRefused(f"no contract in force subscribes {partner!r} to any event; partners that have "
                              f"one: {known}")
    url = checked_url(url)
    e = webhook_endpoints
    values = {"url": url, "registered_at": now(), "registered_by": actor[:96]}
    with hub.engine.begin() as conn:
        previous = conn.scalar(select(e.c.url).where(e.c.partner == partner))
        if previous is None:
            conn.execute(insert(e).values(partner=partner, **values))
        else:
            conn.execute(update(e).where(e.c.partner == partner).values(**values))
        hub.audit.append(conn, EndpointRegistered(resource=f"webhook-endpoint:{partner}", partner=partner,
                                                  url=_without_query(url),
                                                  previous_url=previous and _without_query(previous)), actor=actor)
    return url


def remove_endpoint(hub: Hub, partner: str, *, actor: str) -> str:
    """Stop sending ``partner`` webhooks: its endpoint goes, and its notifications wait (pending) until it
    has another. Returns the URL removed; :class:`EndpointRefused` when it had none."""
    e = webhook_endpoints
    with hub.engine.begin() as conn:
        url = conn.scalar(select(e.c.url).where(e.c.partner == partner))
        if url is None:
            raise EndpointRefused(f"{partner!r} has no webhook endpoint to remove")
        conn.execute(delete(e).where(e.c.partner == partner))
        hub.audit.append(conn, EndpointRemoved(resource=f"webhook-endpoint:{partner}", partner=partner,
                                               url=_without_query(url)), actor=actor)
    return url


def list_endpoints(hub: Hub) -> list[dict[str, Any]]:
    e = webhook_endpoints
    with hub.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(e).order_by(e.c.partner))]


def _without_query(url: str) -> str:
    """A URL as the audit log keeps it: a query string may hold a partner's token, so it is left out."""
    return urlsplit(url)._replace(query="").geturl()
