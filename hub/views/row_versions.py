"""A microdata view's rows, stored once for all the versions that share them (copy-on-write).

A row belongs to the versions of its view from ``from_version`` (the version that wrote it) up to, not
including, ``to_version`` (the version that changed or dropped it; null while the newest version has it).
A new version writes only the rows that differ from the newest version's, found by a digest of what a row
stores, and closes the rows it changes or drops. A version being built is therefore invisible to readers
of the versions before it (its rows start after them, and the rows it closes still end after them), a
failed build is undone exactly (:func:`undo`), and dropping an old version deletes only the rows no kept
version has (:func:`expire`). A publish after a small change writes a small part of the rows (1.8% of them
after the 1% delivery of ``bench/publish.py``), and the kept versions share one copy of the rest.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Connection, and_, delete, or_, select, update

from hub.db.bulk import bulk_insert, placeholder
from hub.db.frames import read_frame
from hub.db.schema import view_rows

_CLOSING = "view_rows_closing"


@dataclass(frozen=True)
class Written:
    """What a version's write did: rows written, rows of the version before closed, rows shared with it."""
    written: int
    closed: int
    shared: int


def in_version(view: str, version_id: int) -> ColumnElement[bool]:
    """The rows of ``view``'s version ``version_id``."""
    r = view_rows.c
    return and_(r.view == view, r.from_version <= version_id,
                or_(r.to_version.is_(None), r.to_version > version_id))


def digests(rows: pd.DataFrame) -> np.ndarray:
    """Per row, 64 bits (BLAKE2b) naming what it stores besides its key and area: its fields' JSON text
    and its home village."""
    return np.frombuffer(b"".join(
        hashlib.blake2b(f"{fields}\x1f{home or ''}".encode(), digest_size=8).digest()
        for fields, home in zip(rows["fields"].tolist(), rows["home"].tolist())), dtype="<i8")


def write_version(conn: Connection, view: str, version_id: int, rows: pd.DataFrame) -> Written:
    """Make ``rows`` (index: row key, distinct; ``area``, ``fields`` as JSON text, ``home``; in area then key
    order) the rows of ``view``'s new version ``version_id``, newer than every version of the view: a row
    the newest version holds the same is shared, every other is written, and the newest version's rows it
    lacks or changes are closed."""
    r = view_rows.c
    newest = read_frame(conn, select(r.row_key, r.area, r.from_version.label("since"), r.digest).where(
        r.view == view, r.to_version.is_(None))).set_index("row_key")
    newest["digest"] = newest["digest"].astype("Int64")  # nullable: a new key's missing digest is no float
    stamps = digests(rows)
    before = newest.reindex(rows.index)
    same = ((before["area"].to_numpy(dtype=object) == rows["area"].to_numpy(dtype=object))
            & before["digest"].eq(stamps).fillna(False).to_numpy(dtype=bool))
    closing = newest[~newest.index.isin(rows.index[same])]
    _close(conn, view, version_id, list(zip(closing["area"].tolist(), closing.index.tolist(),
                                            closing["since"].tolist())))
    fresh = rows[~same]
    bulk_insert(conn, view_rows, ("view", "area", "row_key", "from_version", "fields", "home", "digest"),
                list(zip([view] * len(fresh), fresh["area"].tolist(), fresh.index.tolist(), [version_id] * len(fresh),
                         fresh["fields"].tolist(), fresh["home"].tolist(), stamps[~same].tolist())))
    return Written(written=len(fresh), closed=len(closing), shared=int(same.sum()))


def _close(conn: Connection, view: str, version_id: int, rows: Sequence[tuple[str, str, int]]) -> None:
    """End the rows named by (area, row key, from_version) before ``version_id``."""
    if not rows:
        return
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {_CLOSING} (area VARCHAR(16), k VARCHAR(64), since BIGINT)")
    try:
        bulk_insert(conn, _CLOSING, ("area", "k", "since"), rows)
        mark = placeholder(conn)
        conn.exec_driver_sql(
            f"UPDATE view_rows SET to_version = {mark} FROM {_CLOSING} c WHERE view_rows.view = {mark} "
            "AND view_rows.area = c.area AND view_rows.row_key = c.k AND view_rows.from_version = c.since",
            (version_id, view))
    finally:
        conn.exec_driver_sql(f"DROP TABLE {_CLOSING}")


def undo(conn: Connection, version_ids: Sequence[int]) -> None:
    """Take back what the newest versions ``version_ids`` (built, never switched in) wrote and closed."""
    if version_ids:
        r = view_rows.c
        conn.execute(delete(view_rows).where(r.from_version.in_(version_ids)))
        conn.execute(update(view_rows).where(r.to_version.in_(version_ids)).values(to_version=None))


def expire(conn: Connection, view: str, oldest_kept: int) -> None:
    """Delete the rows of ``view`` that no version from ``oldest_kept`` on has."""
    r = view_rows.c
    conn.execute(delete(view_rows).where(r.view == view, r.to_version <= oldest_kept))
