"""Retired person and household ids, followed to the ids that absorbed them."""
from __future__ import annotations

from sqlalchemy import Connection, select

from hub.db.schema import id_redirects


def current_ids(conn: Connection, kind: str) -> dict[str, str]:
    """Every retired id of ``kind`` (person or household) -> the id its records carry now, following
    chains (an id absorbed by one that was itself absorbed later)."""
    t = id_redirects
    step = dict(conn.execute(select(t.c.retired_id, t.c.current_id).where(t.c.kind == kind)).all())
    resolved: dict[str, str] = {}
    for start in step:
        path, current = [], start
        while current in step and current not in resolved:
            path.append(current)
            current = step[current]
            if len(path) > len(step):
                raise RuntimeError(f"{kind} id redirects form a cycle at {start}")
        final = resolved.get(current, current)
        for retired in path:
            resolved[retired] = final
    return resolved
