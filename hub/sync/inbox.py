"""Inbox directories for partners that deliver files: each file is ingested once.

A partner (or its upload) writes a file into the source's inbox under a temporary name (a leading ``.``,
or ``.tmp``/``.part`` at the end) and renames it when complete; the hub takes complete files oldest first.
A file whose ingest committed moves to ``done/``; one that cannot be read moves to ``failed/`` beside a
``.reason.txt``, and the other files go on. A file killed halfway stays in the inbox and is taken again;
its exact bytes having been stored is recognised as a replay, which writes nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from hub.context import Hub
from hub.errors import AdapterError, ConfigurationError, HubError
from hub.pipeline.ingest import FileReport, ingest_file
from hub.sync.access import load_access

_WRITING = (".tmp", ".part")


class InboxFilesFailed(HubError):
    """Some inbox files could not be ingested (they are in ``failed/`` with their reasons)."""


@dataclass
class InboxReport:
    source: str
    ingested: list[FileReport] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # file name -> reason

    def raise_failures(self) -> None:
        """Raise :class:`InboxFilesFailed` naming the files that could not be read, if any."""
        if self.failed:
            names = ", ".join(f"{name} ({reason})" for name, reason in self.failed.items())
            raise InboxFilesFailed(f"{len(self.failed)} file(s) of {self.source} could not be read and were "
                                   f"moved to failed/: {names}")


def inbox_of(hub: Hub, source: str) -> Path:
    access = load_access(hub.settings.resolved_sources_file).get(source)
    if access is None or access.inbox is None:
        raise ConfigurationError(f"{source} has no inbox in {hub.settings.resolved_sources_file}")
    return access.inbox


def waiting(inbox: Path) -> list[Path]:
    """Complete files in ``inbox``, oldest first. Raises :class:`ConfigurationError` when it is not a
    directory."""
    if not inbox.is_dir():
        raise ConfigurationError(f"the inbox {inbox} is not a directory")
    files = [p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")
             and not p.name.endswith(_WRITING)]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def sync_inbox(hub: Hub, source: str, *, actor: str) -> InboxReport:
    """Ingest every complete file waiting in ``source``'s inbox; those that cannot be read are named in
    the report's ``failed`` (see :meth:`InboxReport.raise_failures`)."""
    inbox = inbox_of(hub, source)
    report = InboxReport(source)
    for path in waiting(inbox):
        try:
            report.ingested.append(ingest_file(hub, source, path, actor=actor))
        except AdapterError as exc:
            report.failed[path.name] = str(exc)
            _move(path, inbox / "failed")
            (inbox / "failed" / f"{path.name}.reason.txt").write_text(str(exc) + "\n", encoding="utf-8")
            continue
        _move(path, inbox / "done")
    return report


def _move(path: Path, folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    os.replace(path, folder / path.name)
