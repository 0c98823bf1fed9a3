"""The ``hub`` command line. Other tools depend on these commands and their output; see README."""
from __future__ import annotations

import gc
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from audit.cli import audit_app
from audit.context import new_request_id, set_request_id
from consent.cli import consent_app, rights_app
from contracts.cli import contracts_app
from hub.community.cli import referrals_app
from hub.console import actor, console, err, fail, open_hub, print_rows
from hub.db.backup_cli import backup_command, restore_command
from hub.errors import HubError
from hub.notify.cli import notify_app
from hub.sync.cli import scheduler_app, status_command, sync_command
from hub.sync.sources_cli import sources_app
from hub.views.cli import publish_command, views_app

app = typer.Typer(help="Saphan (สะพาน): the poverty-data hub.", no_args_is_help=True, add_completion=False)
export_app = typer.Typer(help="Export data that carries no personal fields.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Rows set aside at ingest, with their reasons.", no_args_is_help=True)
keys_app = typer.Typer(help="Key management (keys live outside the database).", no_args_is_help=True)
review_app = typer.Typer(help="Pairs the linker could not settle: look, then decide.", no_args_is_help=True)
app.add_typer(export_app, name="export")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(review_app, name="review")
app.add_typer(consent_app, name="consent")
app.add_typer(rights_app, name="rights")
token_app = typer.Typer(help="API tokens (EdDSA-signed JWTs).", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(contracts_app, name="contracts")
app.add_typer(views_app, name="views")
app.command("publish")(publish_command)
app.command("sync")(sync_command)
app.command("status")(status_command)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(sources_app, name="sources")
app.add_typer(notify_app, name="notify")
app.add_typer(referrals_app, name="referrals")


@app.callback()
def each_command() -> None:
    """Saphan (สะพาน): the poverty-data hub."""
    set_request_id(new_request_id())  # the audit events one command writes share it

@app.command()
def init() -> None:
    """Create the database schema and the keys (safe to run again)."""
    from hub.context import Hub

    try:
        hub, created = Hub.init()
    except HubError as exc:
        fail(str(exc))
    console.print(f"database: {hub.engine.url.render_as_string(hide_password=True)}")
    console.print(f"keys:     {hub.settings.resolved_keys_dir} ({'created' if created else 'existing'})")
    console.print(f"adapters: {', '.join(sorted(hub.adapters))}")


adapter_app = typer.Typer(help="Writing an adapter for a new partner system.", no_args_is_help=True)
app.add_typer(adapter_app, name="adapter")


@adapter_app.command("new")
def adapter_new(name: Annotated[str, typer.Argument(help="The adapter's name: the SOURCE, e.g. dla_elderly.")],
                into: Annotated[Path, typer.Option(help="Where to write the package.")] = Path("."),
                title: Annotated[str | None, typer.Option(help="The partner system's name.")] = None) -> None:
    """Write a pip-installable adapter package to start from: the plugin module with typed options, a sample
    file, its tests, a draft data-sharing contract and a README saying what to do next."""
    from hub.context import collect_adapters
    from hub.plugins.manager import get_plugin_manager
    from hub.scaffold import new_adapter

    try:
        target = new_adapter(name, into, title=title, taken=set(collect_adapters(get_plugin_manager())))
    except HubError as exc:
        fail(str(exc))
    console.print(f"wrote {target}/: " + ", ".join(sorted(str(p.relative_to(target)) for p in target.rglob("*")
                                                         if p.is_file())))
    console.print(f"next: cd {target} && pip install -e . && python -m pytest tests (then see its README.md)")


@app.command()
def ingest(source: Annotated[str, typer.Argument(help="Adapter name, e.g. tpmap.")],
           paths: Annotated[list[Path], typer.Argument(help="Files to import.")]) -> None:
    """Import files through SOURCE's adapter; prints rows read, accepted and quarantined per file.

    Exits 0 when every file was processed (quarantined rows included), 1 when any file could not be
    read at all, 2 when SOURCE is unknown.
    """
    from hub.pipeline.ingest import ingest_file

    hub = open_hub()
    try:
        hub.adapter(source)
    except HubError as exc:
        fail(str(exc), code=2)
    failed = 0
    for path in paths:
        try:
            report = ingest_file(hub, source, path, actor=actor())
        except HubError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}")
            failed += 1
            continue
        typer.echo(
            f"{path}: rows read {report.rows_read}, accepted {report.accepted}, "
            f"quarantined {report.quarantined} (records: {report.inserted} new, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.stale} kept newer, {report.deleted} removed"
            + (f", {report.erased} of erased persons not stored" if report.erased else "") + ")"
            + (f" (households: {report.households_inserted} new, {report.households_updated} updated)"
               if report.households_inserted or report.households_updated else "")
            + (" [already ingested: nothing written]" if report.replay else "")
            + (f" [not taken, no contract allows: {', '.join(sorted(report.fields_refused))}]"
               if report.fields_refused else ""))
    if failed:
        fail(f"{failed} of {len(paths)} file(s) could not be read; nothing of them was stored")


@app.command()
def link(full: Annotated[bool, typer.Option("--full", help="Re-link everything and retrain the model.")] = False,
         truth: Annotated[Path | None, typer.Option(help="A labelled truth.csv (the demo writes one) to measure "
                                                          "the links against.")] = None) -> None:
    """Link records into persons and households (incremental after the first run) and print counts by
    method with the estimated quality."""
    from hub.linking.summary import link_and_show

    try:
        link_and_show(open_hub(), console, actor=actor(), full=full, truth=truth)
    except HubError as exc:
        fail(str(exc))


@review_app.command("list")
def review_list(status: Annotated[str, typer.Option(help="open, same, different or all.")] = "open") -> None:
    """Review pairs with their evidence (comparison levels, never names)."""
    from hub.linking.reviews import list_reviews

    try:
        rows = list_reviews(open_hub(), status=status)
    except HubError as exc:
        fail(str(exc))
    header = ("id", "status", "reason", "p", "record a", "record b", "evidence")
    cells = [(str(r.id), r.status, r.reason, "" if r.match_probability is None else f"{r.match_probability:.3f}",
              f"{r.source_a}:{r.record_id_a}", f"{r.source_b}:{r.record_id_b}",
              "; ".join(f"{k}: {v}" for k, v in r.evidence.items())) for r in rows]
    print_rows(header, cells, title=f"{len(rows)} review pair(s), {status}")


@review_app.command("show")
def review_show(review_id: int) -> None:
    """Both records of a pair side by side, decrypted (the read is audited)."""
    from hub.linking.reviews import show_review

    try:
        review, a, b = show_review(open_hub(), review_id, actor=actor())
    except HubError as exc:
        fail(str(exc))
    fields = ("source", "record_id", "title", "first_name", "last_name", "birth_date", "sex", "tambon_code", "moo",
              "id_status", "person_id")
    cells = [(f, str(a.get(f, "")), str(b.get(f, ""))) for f in fields]
    print_rows(("field", "record a", "record b"), cells,
               title=f"review {review.id}: {review.reason}, {review.status}")


@review_app.command("settle")
def review_settle(review_id: int,
                  decision: Annotated[str, typer.Argument(help="same or different.")],
                  basis: Annotated[str, typer.Option(help="Who checked what: a visit, a document.")]) -> None:
    """Decide a pair; the decision binds every later `hub link`."""
    from hub.linking.reviews import settle_review

    try:
        settle_review(open_hub(), review_id, decision, basis=basis, actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"review {review_id}: {decision}; it takes effect at the next `hub link`")


@export_app.command("links")
def export_links_cmd(out: Annotated[Path, typer.Option("--out", help="CSV file to write.")]) -> None:
    """CSV ``source,source_record_id,person_id,household_id``, one row per accepted record."""
    from hub.exports import export_links

    hub = open_hub()
    try:
        rows = export_links(hub, out, actor=actor())
    except HubError as exc:
        fail(str(exc))
    typer.echo(f"{out}: {rows} rows")


@export_app.command("redirects")
def export_redirects_cmd(out: Annotated[Path, typer.Option("--out", help="CSV file to write.")]) -> None:
    """CSV ``kind,retired_id,current_id``: person and household ids linking merged into older ones."""
    from hub.exports import export_redirects

    hub = open_hub()
    try:
        rows = export_redirects(hub, out, actor=actor())
    except HubError as exc:
        fail(str(exc))
    typer.echo(f"{out}: {rows} rows")


@quarantine_app.command("list")
def quarantine_list(source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
                    run: Annotated[int | None, typer.Option(help="Only this ingest run.")] = None,
                    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 1000) -> None:
    """Quarantined rows: file, line and the reason (no personal data)."""
    from hub.quarantine import list_quarantine

    rows = list_quarantine(open_hub(), source=source, run_id=run, limit=limit)
    header = ("id", "source", "file", "line", "reason")
    cells = [(str(r.id), r.source, r.file_name, str(r.line), r.reason) for r in rows]
    print_rows(header, cells, title=f"{len(rows)} quarantined row(s)")


@quarantine_app.command("show")
def quarantine_show(quarantine_id: int,
                    reason: Annotated[str, typer.Option(help="Why you need the raw row (audited).")]) -> None:
    """Decrypt one quarantined row's raw text; the read is recorded in the audit log."""
    from hub.quarantine import read_raw_row

    try:
        typer.echo(read_raw_row(open_hub(), quarantine_id, actor=actor(), reason=reason))
    except HubError as exc:
        fail(str(exc))


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Replace the key-encryption key and re-wrap every data key; stored ciphertexts stay valid."""
    from audit.events import KeysRotated

    hub = open_hub()
    new_kek_id = hub.keyring.new_kek_id()
    try:
        # The event is written, then the keys rotated, then both committed: a rotation that fails rolls
        # its event back. (A commit failing after a rotation would leave it unrecorded: rare, and the
        # new KEK id in keyring.json still shows it happened.)
        with hub.engine.begin() as conn:
            hub.audit.append(conn, KeysRotated(resource="keys", old_kek_id=hub.keyring.kek_id,
                                               new_kek_id=new_kek_id), actor=actor())
            hub.keyring.rotate_kek(new_kek_id)
    except (HubError, OSError) as exc:
        fail(f"key rotation failed: {exc}")
    console.print(f"key-encryption key rotated: {hub.keyring.kek_id} -> {new_kek_id}")


@keys_app.command("rotate-subject-keys")
def keys_rotate_subject_keys() -> None:
    """Re-wrap every person's data key under a new wrapping key and forget the old: after this, backups
    taken before cannot recover the persons erased since. Safe to run again after an interruption."""
    from audit.events import SubjectKeysRewrapped
    from hub.subject_keys import rotate_wrapping_key

    hub = open_hub()
    try:
        ring, count = rotate_wrapping_key(hub.keyring, hub.engine)
        with hub.engine.begin() as conn:
            hub.audit.append(conn, SubjectKeysRewrapped(resource="keys", wrapping_key=max(ring.subject_wraps),
                                                        rewrapped=count), actor=actor())
    except (HubError, OSError) as exc:
        fail(f"re-wrapping the subject keys failed: {exc}")
    console.print(f"{count} person key(s) re-wrapped under subject wrapping key {max(ring.subject_wraps)}")


@token_app.command("issue")
def token_issue(role: Annotated[str, typer.Option(help="admin, partner, community, auditor or policy.")],
                subject: Annotated[str, typer.Option("--sub", help="Who holds it (a name or a system).")],
                partner: Annotated[str | None, typer.Option(help="The partner id (partner tokens).")] = None,
                area: Annotated[str | None, typer.Option(help="The village or tambon (community tokens).")] = None,
                steward: Annotated[int | None, typer.Option(help="The steward id (community tokens).")] = None,
                ttl: Annotated[str, typer.Option(help="Lifetime: 30m, 8h, 7d (at most 90d).")] = "8h") -> None:
    """Issue an API token; prints it on stdout (the issue, never the token, is audited)."""
    from hub.tokens import issue, parse_ttl

    hub = open_hub()
    try:
        if area is not None:
            from consent.stewards import active_steward
            from consent.subjects import community

            area = community(area).ref
            if steward is not None:
                with hub.engine.connect() as conn:
                    active_steward(conn, steward, area)
        token = issue(hub, role=role, subject=subject, actor=actor(), partner=partner, area=area, steward=steward,
                      ttl=parse_ttl(ttl))
    except HubError as exc:
        fail(str(exc))
    typer.echo(token)


@app.command()
def serve(host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port.")] = 8000,
          scheduler: Annotated[bool, typer.Option(
              "--scheduler", help="Also run the scheduler in this process (one of all such processes leads).")] = False,
          ) -> None:
    """Serve the JSON API (``/api/v1``, OpenAPI at ``/api/v1/openapi.json``, docs at ``/api/docs``)."""
    import uvicorn

    from hub.api.app import create_app

    hub = open_hub()
    running = None
    if scheduler:
        from hub.sync.scheduler import Scheduler

        running = Scheduler(hub)
        running.start()
    api = create_app(hub)
    gc.collect()
    gc.freeze()  # what start-up made lives as long as the server: full collections no longer walk it (p99 -35%)
    try:
        uvicorn.run(api, host=host, port=port, log_level="info")
    finally:
        if running:
            running.stop()


@app.command()
def demo(out: Annotated[Path, typer.Option(help="Where to write the partner files.")] = Path("demo-out"),
         households: Annotated[int, typer.Option(help="Households to generate.")] = 600,
         seed: Annotated[int, typer.Option(help="Random seed.")] = 2566,
         serve: Annotated[bool, typer.Option(help="Serve the web pages at the end, with a link per role, until "
                                                  "Ctrl-C.")] = True,
         host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
         port: Annotated[int, typer.Option(help="Port to serve on (0: any free port).")] = 8000) -> None:
    """The whole hub in a couple of minutes: a synthetic population in three real provinces written in the
    four partner formats, the partners' systems started, each source registered after a dry run and synced,
    linked, consent applied, every view published; then the web pages, with one ready-made link per role."""
    from hub.demo.run import run_demo

    try:
        run_demo(out=out, households=households, seed=seed, console=console, actor=actor(), serve=serve, host=host,
                 port=port)
    except HubError as exc:
        fail(str(exc))


def progress_bar(console: Console) -> Progress:
    """The progress display used by long commands."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)
