"""Whether a view's current version is still what a publish would build. Every change to what feeds the
views leaves an audit event (ingest, link, consent, rights, retention...), so a version records the audit
sequence of the last such event it saw, the day it was built (ages and contracts' dates depend on it) and
the digests of the contracts in force; a publish that finds all three unchanged, and no consent that
expired in between, keeps the version instead of rebuilding it (and a public view spends no budget on a
release that would say nothing new). Any event not known to be read-only counts as a change: a plugin's
new event type makes the next publish rebuild, never skip."""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import Connection, func, select

from contracts.load import ContractSet
from hub.db.schema import audit_events, consents, view_versions

#: Events that change nothing a view is built from.
READ_ONLY_ACTIONS = frozenset({
    "ingest.failed", "quarantine.read", "keys.created", "keys.rotated", "keys.subject_keys_rewrapped",
    "token.issued", "export.links", "export.redirects", "link.failed", "review.read", "contract.loaded",
    "view.published", "view.publish_failed", "view.read", "consent.stewards_read", "consent.checked",
    "consent.data_return_read", "audit.checkpoint_exported", "audit.read", "referral.queue_read",
    "notify.queued", "notify.delivered", "notify.failed", "notify.dead", "notify.retried",
    "notify.endpoint_registered", "notify.endpoint_removed", "notify.purged", "source.checked",
    "source.registered", "backup.created",
})


def inputs_mark(conn: Connection, contracts: ContractSet, at: dt.datetime) -> dict[str, Any]:
    """What a version built now is built from: the last changing audit event, the day, the contracts."""
    seq = conn.scalar(select(func.coalesce(func.max(audit_events.c.seq), 0)).where(
        audit_events.c.action.not_in(READ_ONLY_ACTIONS)))
    digests = hashlib.sha256(" ".join(sorted(c.sha256 for c in contracts.in_force(at.date()))).encode())
    return {"audit_seq": int(seq), "day": at.date().isoformat(), "contracts": digests.hexdigest()}


def still_current(conn: Connection, view: str, mark: dict[str, Any], at: dt.datetime) -> int | None:
    """The id of ``view``'s current version when it was built from ``mark`` and no consent has expired
    since it was built; otherwise ``None``."""
    row = conn.execute(select(view_versions.c.id, view_versions.c.report, view_versions.c.started_at).where(
        view_versions.c.view == view, view_versions.c.status == "current")).first()
    if row is None:
        return None
    if row.report.get("inputs") != mark:
        return None
    built = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=dt.UTC)
    expired = conn.scalar(select(func.count()).select_from(consents).where(
        consents.c.status == "given", consents.c.expires_at > built, consents.c.expires_at <= at))
    return None if expired else int(row.id)
