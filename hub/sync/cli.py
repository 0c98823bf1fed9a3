"""``hub sync``, ``hub scheduler run`` and ``hub status``."""
from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Annotated

import typer
from rich.markup import escape

from hub.console import actor, console, open_hub, print_rows
from hub.errors import HubError

scheduler_app = typer.Typer(help="The scheduler: sync -> link -> publish per source, on its contract's schedule.",
                            no_args_is_help=True)


def sync_command(sources: Annotated[list[str], typer.Argument(help="Sources to sync, e.g. msdhs_logbook.")],
                 only_sync: Annotated[bool, typer.Option("--only-sync", help="Pull or take the inbox, then stop "
                                                         "(no link, no publish).")] = False) -> None:
    """Sync each source now, as its scheduled job does: pull its API (resuming a pull left halfway) or
    ingest its inbox, then link and publish when that changed anything. Exits 1 when one failed."""
    from hub.sync.jobs import run_by_hand

    hub = open_hub()
    failed = False
    for source in sources:
        try:
            outcome = run_by_hand(hub, source, actor=actor(), link_and_publish=not only_sync)
            console.print(f"{source}: {escape(outcome)}")
        except HubError as exc:
            console.print(f"[bold red]{source} failed:[/] {escape(str(exc))}")
            failed = True
    if failed:
        raise typer.Exit(1)


@scheduler_app.command("run")
def scheduler_run(lease_seconds: Annotated[float, typer.Option(
        help="PostgreSQL: how long the scheduler lease lasts; another process takes over this long after this "
             "one stops (SQLite: at once).")] = 30.0,
                  tick_seconds: Annotated[float, typer.Option(help="How often due jobs are looked for.")] = 1.0
                  ) -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C. Start it in every hub process you like:
    one at a time leads (a lease: a row on PostgreSQL, a file lock beside the database on SQLite), the others
    stand by."""
    from hub.sync.scheduler import Scheduler

    # A tick finding the previous one still running (a long job) is expected, not worth a warning each time.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    hub = open_hub()
    scheduler = Scheduler(hub, lease_seconds=lease_seconds, tick_seconds=tick_seconds)
    jobs = scheduler.jobs()  # the scheduled sources' syncs, and the delivery of partners' webhooks
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    scheduler.start()
    console.print(f"scheduler {scheduler.holder}: {', '.join(f'{s} ({t})' for s, t in sorted(jobs.items()))}")
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    scheduler.stop()


def status_command(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False
                   ) -> None:
    """Each source: how it is reached, its schedule, last success, last failure and why, backlog, staleness."""
    from hub.sync.status import source_statuses

    hub = open_hub()
    with hub.engine.connect() as conn:
        statuses = source_statuses(hub, conn)
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in statuses], ensure_ascii=False, indent=1))
        return
    print_rows(("source", "reached by", "schedule", "last success", "last failure", "why", "backlog", "stale"),
               [(s.source, s.reached_by, s.schedule or "by hand", s.last_success or "never", s.last_failure or "-",
                 s.last_failure_reason or "", s.backlog, "STALE" if s.stale else "")
                for s in statuses], title="Sources")
