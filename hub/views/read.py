"""Reading published views: the current version of each, and one view's figures for an area (with the
areas just below it) or its microdata rows in an area. Every read is audited; microdata rows are
pseudonymised personal data."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
from sqlalchemy import ColumnElement, Connection, Engine, Table, bindparam, func, or_, select

from audit.events import ViewRead
from contracts.model import MICRODATA_LEVELS, View
from hub.context import Hub
from hub.db.schema import view_cells, view_rows, view_versions
from hub.errors import ContractViolation
from hub.exports import write_export
from hub.thai.areas import area_name
from hub.views import read_cache, row_versions
from hub.views.figures import measures_of, ratios_of


@dataclass(frozen=True)
class VersionInfo:
    view: str
    version_id: int
    contract_id: str
    level: str
    rows: int
    published_at: Any
    epsilon: float | None
    report: dict


@dataclass(frozen=True)
class ViewSlice:
    version: VersionInfo
    area: str | None
    cells: list[dict]  # aggregate: {"area", "level", "parent", "figures"}
    rows: list[dict]  # microdata: {"row", "area", "fields"}
    homes: Counter  # microdata: rows read by the village their unit lives in (for the audit, never shown)

    def __len__(self) -> int:
        """Rows or cells read."""
        return len(self.cells) or len(self.rows)


def _info(row) -> VersionInfo:
    return VersionInfo(row.view, row.id, row.contract_id, row.level, row.rows, row.published_at, row.epsilon,
                       row.report)


def current_versions(conn: Connection) -> list[VersionInfo]:
    """The version each view serves now, by view name."""
    rows = conn.execute(select(view_versions).where(view_versions.c.status == "current")
                        .order_by(view_versions.c.view)).all()
    return [_info(r) for r in rows]


#: The statements every read runs, built once: building one costs more than running it.
_CURRENT = select(view_versions).where(view_versions.c.view == bindparam("view"), view_versions.c.status == "current")
_KEPT = select(view_versions).where(view_versions.c.view == bindparam("view"), view_versions.c.id == bindparam("id"),
                                    view_versions.c.status.in_(("current", "retired")))


def _served(conn: Connection, view: str, version_id: int | None) -> VersionInfo:
    """The current version of ``view`` (as found at most a second ago: :mod:`hub.views.read_cache`), or one
    of its kept versions (current or retired) by id."""
    if version_id is None and (known := read_cache.current(conn.engine, view)) is not None:
        return known
    query, params = (_CURRENT, {"view": view}) if version_id is None else (_KEPT, {"view": view, "id": version_id})
    row = conn.execute(query, params).first()
    if row is None:
        if version_id is not None:
            raise ContractViolation(f"view {view!r} keeps no version {version_id} (see `hub views versions`)")
        raise ContractViolation(f"view {view!r} has no published version; run `hub publish`")
    info = _info(row)
    if version_id is None:
        read_cache.keep_current(conn.engine, view, info)
    return info


def kept_versions(conn: Connection, view: str) -> list[VersionInfo]:
    """The versions of ``view`` still kept, newest first."""
    t = view_versions
    rows = conn.execute(select(t).where(t.c.view == view, t.c.status.in_(("current", "retired")))
                        .order_by(t.c.id.desc())).all()
    return [_info(r) for r in rows]


def _slice(conn: Connection, view: str, *, area: str | None, whole: bool, version_id: int | None,
           page: tuple[int, int] | None = None) -> ViewSlice:
    """The version's rows (microdata) or cells (aggregate) for ``area``, in area order; ``page`` is an
    (offset, limit) of a whole read. An aggregate slice is shared between reads: do not change it."""
    info = _served(conn, view, version_id)
    if _microdata(info):
        return _read_slice(conn, info, area=area, whole=whole, page=page)
    return read_cache.remembered(conn.engine, _slice_key(info, area, whole, page),
                                 lambda: _read_slice(conn, info, area=area, whole=whole, page=page))


def _slice_key(info: VersionInfo, area: str | None, whole: bool, page: tuple[int, int] | None) -> tuple:
    return "slice", info.version_id, info.published_at, area, whole, page


def _count_key(info: VersionInfo, area: str | None) -> tuple:
    return "count", info.version_id, info.published_at, area


def _microdata(info: VersionInfo) -> bool:
    return info.level in MICRODATA_LEVELS


def _stored(info: VersionInfo) -> tuple[Table, ColumnElement[bool]]:
    """The table holding the version's rows (microdata) or cells (aggregate), and which of them are its."""
    if _microdata(info):
        return view_rows, row_versions.in_version(info.view, info.version_id)
    return view_cells, view_cells.c.version_id == info.version_id


def _read_slice(conn: Connection, info: VersionInfo, *, area: str | None, whole: bool,
                page: tuple[int, int] | None) -> ViewSlice:
    cells, rows, homes = [], [], Counter()
    microdata = _microdata(info)
    table, its = _stored(info)
    code = area or "TH"
    query = select(table).where(its)
    if not microdata and not whole:
        query = query.where(or_(view_cells.c.area == code, view_cells.c.parent == code))
    elif area:
        query = query.where(table.c.area.startswith(area, autoescape=True))
    query = query.order_by(table.c.area, view_rows.c.row_key) if microdata else query.order_by(table.c.area)
    if page is not None:
        query = query.offset(page[0]).limit(page[1])
    for r in conn.execute(query):
        if microdata:
            rows.append({"row": r.row_key, "area": r.area, "fields": r.fields})
            homes[r.home or r.area] += 1
        else:
            cells.append({"area": r.area, "level": r.level, "parent": r.parent, "figures": r.figures})
    if not microdata and not whole and not any(c["area"] == code for c in cells):
        raise ContractViolation(f"view {info.view} has no area {code!r} (its level is {info.level}; "
                                "areas are DOPA codes, villages TTTTTT-MM)")
    return ViewSlice(info, area, cells, rows, homes)


def _count(conn: Connection, info: VersionInfo, area: str | None) -> int:
    if _microdata(info):
        return _read_count(conn, info, area)
    return read_cache.remembered(conn.engine, _count_key(info, area), lambda: _read_count(conn, info, area))


def _read_count(conn: Connection, info: VersionInfo, area: str | None) -> int:
    table, its = _stored(info)
    query = select(func.count()).select_from(table).where(its)
    if area:
        query = query.where(table.c.area.startswith(area, autoescape=True))
    return int(conn.scalar(query))


def read_view(hub: Hub, view: str, *, area: str | None, actor: str, whole: bool = False,
              version_id: int | None = None) -> ViewSlice:
    """The current version of ``view`` (or its kept version ``version_id``): for an aggregate, the
    ``area``'s cell and its children's (the nation's without an area), or with ``whole`` every cell of the
    area and below it (the whole table without an area); for microdata, the rows whose area starts with
    ``area`` (all without)."""
    loaded, spec = hub.contracts.view(view)  # only while a contract in force defines the view
    with hub.engine.connect() as conn:
        part = _slice(conn, view, area=area, whole=whole, version_id=version_id)
    hub.audit_group.record(_read_event(loaded.contract.partner.id, spec, part, len(part)), actor=actor)
    return part


async def read_page(hub: Hub, view: str, *, area: str | None, offset: int, limit: int, actor: str
                    ) -> tuple[ViewSlice, int]:
    """Rows ``offset`` to ``offset + limit`` of ``view``'s current version (microdata rows, or aggregate
    cells at and below ``area``, in area order) and how many there are in all; returns once the read's
    audit event is committed. A page kept in memory is served without a database read; any other is read
    on a worker thread (the wait for the commit holds none)."""
    loaded, spec = hub.contracts.view(view)

    def page() -> tuple[ViewSlice, int]:
        with hub.engine.connect() as conn:
            part = _slice(conn, view, area=area, whole=True, version_id=None, page=(offset, limit))
            return part, _count(conn, part.version, area)

    part, total = _page_in_memory(hub.engine, view, area, (offset, limit)) or await anyio.to_thread.run_sync(page)
    await hub.audit_group.committed(_read_event(loaded.contract.partner.id, spec, part, len(part)), actor=actor)
    return part, total


def _page_in_memory(engine: Engine, view: str, area: str | None, page: tuple[int, int]
                    ) -> tuple[ViewSlice, int] | None:
    info = read_cache.current(engine, view)
    if info is None or _microdata(info):
        return None
    part, total = read_cache.known(engine, _slice_key(info, area, True, page)), \
        read_cache.known(engine, _count_key(info, area))
    return None if part is None or total is None else (part, total)


def view_table(hub: Hub, view: str, *, area: str | None, actor: str) -> tuple[list[str], list[list]]:
    """The whole of ``view``'s current version at and below ``area`` as a header and rows of text (what
    :func:`export_view` writes); returned once its read is audited."""
    loaded, spec = hub.contracts.view(view)
    with hub.engine.connect() as conn:
        part = _slice(conn, view, area=area, whole=True, version_id=None)
    rows = list(_table_rows(part, columns(spec)))
    hub.audit_group.record(_read_event(loaded.contract.partner.id, spec, part, len(rows)), actor=actor)
    return _header(spec), rows


def _header(spec: View) -> list[str]:
    names = columns(spec)
    return ["row", *names] if spec.microdata else ["area", "name", "level", "parent", *names]


def _table_rows(part: ViewSlice, names: list[str]) -> Iterator[list[str]]:
    for r in part.rows:
        yield [r["row"], *(cell_text(r["fields"].get(n)) for n in names)]
    for c in part.cells:
        yield [c["area"], area_name(c["area"]), c["level"], c["parent"] or "",
               *(cell_text(c["figures"].get(n)) for n in names)]


def _read_event(partner: str, spec: View, part: ViewSlice, count: int) -> ViewRead:
    """The audit event of reading ``part``: microdata rows counted by village for "who used our data"."""
    return ViewRead(resource=f"view:{spec.name}", partner=partner, purpose=spec.purpose,
                    version_id=part.version.version_id, area=part.area, rows=count,
                    areas=dict(sorted(part.homes.items())))


def columns(spec: View) -> list[str]:
    """A view's columns in its contract's order (a database may store JSON keys in any order)."""
    if spec.microdata:
        return [name for name, rule in spec.fields.items() if rule.transform != "drop"]
    return [m.name for m in measures_of(spec.figures)] + [r.name for r in ratios_of(spec.figures)]


def export_view(hub: Hub, view: str, out: Path, *, area: str | None, actor: str,
                version_id: int | None = None) -> int:
    """Write a whole view (every area at and below ``area``, or every row) to ``out`` as CSV in UTF-8 with
    a byte-order mark (Thai opens correctly in Excel), with Thai area names; audited; returns the rows."""
    loaded, spec = hub.contracts.view(view)
    read: list[ViewSlice] = []

    def rows(conn: Connection) -> Iterator[list]:
        read.append(_slice(conn, view, area=area, whole=True, version_id=version_id))
        yield from _table_rows(read[0], columns(spec))

    return write_export(hub, out, _header(spec), actor=actor, encoding="utf-8-sig", rows=rows,
                        event=lambda n: _read_event(loaded.contract.partner.id, spec, read[0], n))


def cell_text(value) -> str:
    """A published value as CSV or table text: blank where suppressed."""
    return "" if value is None else str(value)
