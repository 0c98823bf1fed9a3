"""Registering a source: how the hub reaches it (an inbox or an API) and its adapter's options, checked, then
a dry run that reads real data through the adapter and the contracts exactly as ingest would, storing
nothing; only when that succeeds is the source's table written to ``sources.toml``. The scheduler runs
registered sources only (:mod:`hub.sync.scheduler`), so nothing is scheduled before its dry run passed.

A dry run reads personal data (in memory, never stored), so it is audited (``source.checked``), and so
is the registration (``source.registered``).
"""
from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hub.adapter_kit import Adapter
from hub.context import Hub
from hub.errors import ConfigurationError, HubError
from hub.pipeline.minimise import claimed, minimised
from hub.records import Rejected, SourceRecord, Tombstone
from hub.sync.access import SourceAccess, load_access
from hub.sync.events import SourceChecked, SourceRegistered
from hub.sync.inbox import waiting
from hub.sync.pull import write_page
from hub.sync.sources_file import write_source

SAMPLE_PAGE = 20  # items a dry run asks a partner's API for


class RegistrationFailed(HubError):
    """The source's access, options or dry run failed; ``sources.toml`` is unchanged."""


@dataclass
class DryRun:
    """What ingest would have made of what the dry run read (nothing of it was stored)."""

    source: str
    read_from: str  # the file read, the API page asked for, or why nothing was read
    items: int = 0
    records: int = 0  # source records (rows or lines)
    persons: int = 0
    tombstones: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> rows
    fields_refused: set[str] = field(default_factory=set)  # fields no contract lets the hub take

    @property
    def readable(self) -> bool:
        """Whether anything read could be taken (a sample of rejected rows only is a failure)."""
        return self.items == 0 or self.records + self.tombstones > 0


def dry_run_file(hub: Hub, adapter: Adapter, path: Path) -> DryRun:
    """Read ``path`` through ``adapter`` and the contracts' field and ownership rules, storing nothing.
    Raises :class:`RegistrationFailed` when no contract lets the hub take the source, or the file cannot
    be read at all."""
    allowed = hub.contracts.taken_fields(adapter.name)
    if not allowed:
        raise RegistrationFailed(f"no contract in force lets the hub take data from {adapter.name}: agree the "
                                 "data-sharing contract first (docs/adapters.md)")
    run = DryRun(adapter.name, str(path))
    items = claimed(minimised(adapter.read_file(path), allowed, run.fields_refused,
                              declared=frozenset(adapter.fields)), hub.contracts.owners(adapter.name), uploader=None)
    try:
        for item in items:
            run.items += 1
            if isinstance(item, SourceRecord):
                run.records += 1
                run.persons += len(item.persons)
            elif isinstance(item, Tombstone):
                run.tombstones += 1
            elif isinstance(item, Rejected):
                run.rejected[item.reason] += 1
    except HubError as exc:
        raise RegistrationFailed(f"{adapter.name} cannot read {path.name}: {exc}") from None
    return run


def dry_run_api(hub: Hub, adapter: Adapter, access: SourceAccess) -> DryRun:
    """Ask the partner's API for its first page (a few items), then read it as a pull would, storing
    nothing. Raises :class:`RegistrationFailed` when the partner cannot be reached or refuses."""
    api = access.api
    try:
        with api.client() as client:
            page = adapter.fetch_page(client, since=None, token=None, page_size=min(SAMPLE_PAGE, api.page_size))
    except HubError as exc:
        raise RegistrationFailed(f"{adapter.name}: the dry run could not read {api.base_url}: {exc}") from None
    staging = hub.settings.resolved_home / "pulls"
    staging.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=staging) as tmp:
        run = dry_run_file(hub, adapter, write_page(Path(tmp) / "dry-run.ndjson", page))
    run.read_from = f"{api.base_url} (the first page, {len(page.items)} item(s))"
    return run


def check_source(hub: Hub, source: str, access: SourceAccess, *, sample: Path | None, actor: str) -> DryRun:
    """Validate ``access`` for ``source`` and dry-run it: the API's first page, or ``sample`` (else the
    oldest file waiting in the inbox; an empty inbox is checked to be a writable directory). Audited
    either way; raises :class:`RegistrationFailed` naming what is wrong."""
    return _checked(hub, source, access, sample=sample, actor=actor)[0]


def _checked(hub: Hub, source: str, access: SourceAccess, *, sample: Path | None,
             actor: str) -> tuple[DryRun, Adapter]:
    """:func:`check_source`, and the adapter configured with ``access``'s options it checked."""
    try:
        adapter = hub.adapters[source]
    except KeyError:
        known = ", ".join(sorted(hub.adapters))
        raise RegistrationFailed(f"no installed adapter is named {source!r}; installed: {known} "
                                 "(`pip install` the adapter's package, then check `hub sources`)") from None
    try:
        adapter = adapter.configured(access.options)
        if access.api is not None:
            if not adapter.pulls():
                raise RegistrationFailed(f"{source}'s adapter has no API client; give it an inbox instead")
            run = dry_run_api(hub, adapter, access)
        else:
            run = _dry_run_inbox(hub, adapter, access.inbox, sample)
        if not run.readable:
            raise RegistrationFailed(f"none of the {run.items} item(s) in {run.read_from} could be read: "
                                     + "; ".join(f"{n} x {reason}" for reason, n in run.rejected.most_common(3)))
    except (RegistrationFailed, ConfigurationError) as exc:
        _audit_check(hub, source, None, str(exc), actor)
        raise RegistrationFailed(str(exc)) from None
    _audit_check(hub, source, run, None, actor)
    return run, adapter


def _dry_run_inbox(hub: Hub, adapter: Adapter, inbox: Path, sample: Path | None) -> DryRun:
    try:
        inbox.mkdir(parents=True, exist_ok=True)
        probe = inbox / ".saphan-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RegistrationFailed(f"the inbox {inbox} cannot be written to: {exc.strerror}") from None
    if sample is None:
        files = waiting(inbox)
        if not files:
            return DryRun(adapter.name, f"nothing yet: {inbox} is empty (pass --sample FILE to check the format)")
        sample = files[0]
    if not sample.is_file():
        raise RegistrationFailed(f"the sample {sample} is not a file")
    return dry_run_file(hub, adapter, sample)


def register_source(hub: Hub, source: str, access: SourceAccess, *, sample: Path | None, actor: str,
                    replace: bool = False) -> DryRun:
    """Dry-run ``access`` (:func:`check_source`) and, when it passes, write ``source``'s table to
    ``sources.toml`` (a source already there needs ``replace``). Raises :class:`RegistrationFailed`;
    the file is then unchanged."""
    path = hub.settings.resolved_sources_file
    known = load_access(path)
    if source in known and not replace:
        raise RegistrationFailed(f"{source} is already registered in {path}; pass --replace to change it")
    run, adapter = _checked(hub, source, access, sample=sample, actor=actor)
    write_source(path, source, access, options=adapter.options.model_dump(mode="json", include=set(access.options)))
    with hub.engine.begin() as conn:
        hub.audit.append(conn, SourceRegistered(
            resource=f"source:{source}", source=source, access="api" if access.api else "inbox",
            where=access.api.base_url if access.api else str(access.inbox), options=sorted(access.options),
            replaced=source in known), actor=actor)
    return run


def _audit_check(hub: Hub, source: str, run: DryRun | None, failure: str | None, actor: str) -> None:
    with hub.engine.begin() as conn:
        hub.audit.append(conn, SourceChecked(
            resource=f"source:{source}", source=source, read_from=run.read_from if run else None,
            items=run.items if run else 0, records=run.records if run else 0,
            rejected=sum(run.rejected.values()) if run else 0, failure=failure), actor=actor)
