"""Reads of published views kept in memory (hub/views/read_cache.py): a version's aggregate cells once read
are served again without the database, microdata never is, and a new publish is read at once in its own
process and within CURRENT_SECONDS from another."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import delete

from helpers import ACTOR, hub_env, ingest_all
from hub.db.schema import view_cells, view_rows
from hub.linking.run import link
from hub.views import read_cache
from hub.views.publish import publish
from hub.views.read import read_view
from hub.views.row_versions import in_version

TAMBON = "340101"


@pytest.fixture
def published(hub):
    ingest_all(hub)
    link(hub, actor=ACTOR)
    publish(hub, actor=ACTOR)
    return hub


def test_figures_once_read_are_served_again_from_memory_and_microdata_never(published):
    figures = read_view(published, "msdhs_amphoe", area=None, actor=ACTOR)
    rows = read_view(published, "msdhs_households", area=None, actor=ACTOR)
    assert figures.cells and rows.rows
    with published.engine.begin() as conn:  # what the database holds goes; what was read of figures stays
        conn.execute(delete(view_cells).where(view_cells.c.version_id == figures.version.version_id))
        conn.execute(delete(view_rows).where(in_version("msdhs_households", rows.version.version_id)))
    again = read_view(published, "msdhs_amphoe", area=None, actor=ACTOR)
    assert again.version == figures.version and again.cells == figures.cells
    assert read_view(published, "msdhs_households", area=None, actor=ACTOR).rows == []  # read afresh, every time


def test_a_publish_is_read_at_once_in_its_own_process(published):
    before = read_view(published, "msdhs_amphoe", area=None, actor=ACTOR).version.version_id
    [done] = publish(published, views=["msdhs_amphoe"], actor=ACTOR, force=True)
    assert done.version_id != before
    assert read_view(published, "msdhs_amphoe", area=None, actor=ACTOR).version.version_id == done.version_id


def test_a_publish_by_another_process_is_read_within_a_second(published):
    before = read_view(published, "msdhs_amphoe", area=None, actor=ACTOR)
    hub_command = Path(sys.executable).parent / "hub"
    subprocess.run([str(hub_command), "publish", "--view", "msdhs_amphoe", "--force"], env=hub_env(published),
                   check=True, capture_output=True, text=True)
    published_at = time.monotonic()
    while (now := read_view(published, "msdhs_amphoe", area=None, actor=ACTOR)).version == before.version:
        assert now.cells == before.cells  # meanwhile the version served is the whole previous one
        assert time.monotonic() - published_at <= read_cache.CURRENT_SECONDS
        time.sleep(0.05)
    assert now.version.version_id > before.version.version_id
