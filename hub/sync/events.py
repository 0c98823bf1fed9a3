"""Audit events of getting data from partners."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

from audit.events import EventType, Facets, hookimpl


@dataclasses.dataclass(frozen=True, kw_only=True)
class PullCompleted(EventType):
    """A pull from a partner's API reached its last page; each page's records are in its own
    ``ingest.completed`` event."""

    name: ClassVar[str] = "pull.completed"
    source: str
    pages: int
    items: int
    since: str | None  # what the next pull asks for
    retries: dict[str, int]

    def facets(self) -> Facets:
        return Facets(records=self.items)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PullFailed(EventType):
    """A pull stopped before its last page; the pages stored stay, and the next pull resumes after them."""

    name: ClassVar[str] = "pull.failed"
    source: str
    pages: int
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobRunFailed(EventType):
    """A scheduled run failed: which job, at which fire time, and why."""

    name: ClassVar[str] = "job.failed"
    job: str
    fire_time: str
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class SourceChecked(EventType):
    """A dry run read a source's data through its adapter (nothing was stored): where from, what it made of
    it, or why it failed."""

    name: ClassVar[str] = "source.checked"
    source: str
    read_from: str | None
    items: int
    records: int
    rejected: int
    failure: str | None

    def facets(self) -> Facets:
        return Facets(records=self.records)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SourceRegistered(EventType):
    """A source's access was written to ``sources.toml`` after its dry run passed: from then on the
    scheduler runs it. The options are named, never their values."""

    name: ClassVar[str] = "source.registered"
    source: str
    access: str  # inbox | api
    where: str
    options: list[str]
    replaced: bool


SYNC_EVENT_TYPES = (PullCompleted, PullFailed, JobRunFailed, SourceChecked, SourceRegistered)


@hookimpl
def saphan_register_event_types():
    return SYNC_EVENT_TYPES
