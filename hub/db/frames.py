"""Query results as pandas frames, fetched by the driver: no per-row Python objects from SQLAlchemy, which
cost more than the query itself over a million rows. (Its own module: the ingest path must not import
pandas, which starts a thread.)"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, Select


def read_frame(conn: Connection, query: Select) -> pd.DataFrame:
    """The rows of a Core ``query`` (its values rendered in the SQL), one column per selected column."""
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.driver_connection.cursor()
    cursor.execute(sql)
    frame = pd.DataFrame(cursor.fetchall(), columns=[c.name for c in query.selected_columns])
    cursor.close()
    return frame
