"""kill -9 during publish, 20 times at random points: readers only ever see the old or the new version of a
view, whole; the next publish clears the leftovers; the audit log verifies afterwards."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from audit.access import verify
from helpers import ACTOR, ingest_all
from hub.db.schema import view_cells, view_rows, view_versions
from hub.linking.run import link
from hub.views.publish import publish
from hub.views.read import read_view
from hub.views.row_versions import in_version

READER = "api:partner:reader"


def content(part) -> list:
    return sorted((c["area"], repr(c["figures"])) for c in part.cells) or sorted(repr(r) for r in part.rows)


def test_kill_9_during_publish_leaves_each_view_old_or_new_and_whole(hub):
    ingest_all(hub)
    link(hub, actor=ACTOR)
    publish(hub, actor=ACTOR)
    private = [view.name for _, view in hub.contracts.views() if not view.public and not view.identified]
    watched = private[:3]
    reference = {name: content(read_view(hub, name, area=None, whole=True, actor=READER)) for name in watched}
    seen_wrong, reads = [], [0]
    stop = threading.Event()

    def reader():  # a partner reading while publishes are killed under it
        while not stop.is_set():
            for name in watched:
                if content(read_view(hub, name, area=None, whole=True, actor=READER)) != reference[name]:
                    seen_wrong.append(name)
                reads[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    rng = random.Random(42)
    command = [str(Path(sys.executable).parent / "hub"), "publish", "--force",
               *(a for name in private for a in ("--view", name))]
    started = time.monotonic()
    subprocess.run(command, capture_output=True, check=True, timeout=600)
    duration = time.monotonic() - started  # start-up and publish: the kills land inside it
    killed, interrupted = 0, 0  # kills of a running publish, and of one with versions half built
    try:
        for _ in range(20):
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            begun = time.monotonic()
            time.sleep(rng.uniform(0.3, 0.95) * duration)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                killed += 1
            else:  # done sooner than the publish timed first (the machine was busier then): aim earlier
                duration = min(duration, time.monotonic() - begun)
            process.wait()
            with hub.engine.connect() as conn:
                interrupted += bool(conn.scalar(select(func.count()).select_from(view_versions)
                                                .where(view_versions.c.status == "building")))
                for name in private:
                    current = conn.execute(select(view_versions).where(view_versions.c.view == name,
                                                                       view_versions.c.status == "current")).all()
                    assert len(current) == 1, name
                    stored = conn.scalar(select(func.count()).select_from(view_cells).where(
                        view_cells.c.version_id == current[0].id)) + conn.scalar(select(func.count()).select_from(
                            view_rows).where(in_version(name, current[0].id)))
                    assert stored == current[0].rows, name  # whole
    finally:
        stop.set()
        thread.join()
    assert killed >= 15 and interrupted >= 2 and reads[0] > 20 and not seen_wrong
    final = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stdout + final.stderr
    with hub.engine.connect() as conn:
        assert not conn.scalar(select(func.count()).select_from(view_versions)
                               .where(view_versions.c.status == "building"))  # leftovers cleared
    for name in watched:
        assert content(read_view(hub, name, area=None, whole=True, actor=READER)) == reference[name]
    assert verify(hub).intact
