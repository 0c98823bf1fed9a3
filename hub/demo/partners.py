"""The demo's partner systems: the MSDHS logbook served by its API simulator (its own process, real HTTP,
a bearer key) and the file partners (TPMAP, EEF, the universities) delivering into the hub's inboxes. Each
source is registered as a partner would register it (``hub sources add``: a dry run first) and then synced
as the scheduler syncs it."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hub.context import Hub
from hub.keys import write_private
from hub.sync.access import SourceAccess
from hub.sync.inbox import sync_inbox
from hub.sync.pull import pull
from hub.sync.registration import DryRun, register_source
from simulators.file_partner import drop
from simulators.msdhs_api import started

API_SOURCES = ("msdhs_logbook",)  # reached over their API; the others deliver files to an inbox


@dataclass(frozen=True)
class Synced:
    """What one source's sync brought: files or pages read, items, records new and updated, quarantined."""

    source: str
    reached_by: str
    read: str
    items: int
    inserted: int
    updated: int
    quarantined: int


@contextmanager
def logbook_api(files: list[Path], home: Path) -> Iterator[tuple[str, Path]]:
    """The MSDHS logbook API simulator serving ``files``, with a fresh key in a 0600 file under ``home``;
    yields (its URL, the key file) and stops it afterwards."""
    key = secrets.token_urlsafe(24)
    key_file = home / "partner-keys" / "msdhs_logbook.key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    write_private(key_file, (key + "\n").encode())
    with started(files, api_key=key) as (_, url):
        yield url, key_file


def register_partners(hub: Hub, files: dict[str, list[Path]], *, api_url: str, key_file: Path,
                      actor: str) -> dict[str, DryRun]:
    """Register every source (replacing an earlier demo's registration): the logbook by its API, the others
    by an inbox under the hub's home, each dry-run on the first file its partner will deliver."""
    runs = {}
    for source, paths in files.items():
        if source in API_SOURCES:
            access = SourceAccess.model_validate({"api": {"base_url": api_url, "api_key_file": key_file}})
            runs[source] = register_source(hub, source, access, sample=None, actor=actor, replace=True)
        else:
            access = SourceAccess(inbox=hub.settings.resolved_home / "inbox" / source)
            runs[source] = register_source(hub, source, access, sample=paths[0], actor=actor, replace=True)
    return runs


def deliver_and_sync(hub: Hub, files: dict[str, list[Path]], order: tuple[str, ...], *,
                     actor: str) -> list[Synced]:
    """Each file partner drops its files into its inbox (whole, then renamed), then every source is synced
    in ``order``: its inbox ingested, or its API pulled page by page."""
    done = []
    for source in order:
        if source in API_SOURCES:
            report = pull(hub, source, actor=actor)
            done.append(Synced(source, "api", f"{report.pages} page(s)", report.items, report.inserted,
                               report.updated, report.quarantined))
            continue
        inbox = hub.settings.resolved_home / "inbox" / source
        for path in files.get(source, []):
            drop(inbox, path)
        report = sync_inbox(hub, source, actor=actor)
        report.raise_failures()
        done.append(Synced(source, "inbox", f"{len(report.ingested)} file(s)",
                           sum(r.rows_read for r in report.ingested), sum(r.inserted for r in report.ingested),
                           sum(r.updated for r in report.ingested), sum(r.quarantined for r in report.ingested)))
    return done
