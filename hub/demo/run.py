"""``hub demo``: the whole hub in a couple of minutes. A synthetic population in real provinces is written
in the four partner formats; the partners' systems start (the MSDHS logbook's API as its own process, the
file partners delivering into inboxes); each source is registered after a dry run and synced; the hub links,
runs the community's consent, publishes every view, checks its own store for clear identities and its
audit log; then it serves the web pages and prints one ready-made link per role."""
from __future__ import annotations

import signal
import threading
from collections import Counter
from pathlib import Path

import geothai
import pandas as pd
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from audit.access import verify
from hub.anonymise.generalise import generalise
from hub.api.serving import serving
from hub.context import Hub
from hub.db.schema import quarantine, source_records
from hub.demo.consent import show_consent
from hub.demo.partners import deliver_and_sync, logbook_api, register_partners
from hub.demo.population import generate_population
from hub.demo.serve import role_links
from hub.demo.views import show_views
from hub.demo.writers import write_partner_files
from hub.linking.summary import link_and_show
from hub.sync.registration import DryRun

#: Ingest order: the national map first, then agencies, then the community's own verification.
SOURCE_ORDER = ("tpmap", "msdhs_logbook", "eef_students", "university_survey")


def clear_values_in_file(db_file: Path, values: set[str]) -> int:
    """How many of ``values`` appear as UTF-8 bytes anywhere in the database file (and its WAL)."""
    blob = b"".join(p.read_bytes() for p in (db_file, db_file.with_name(db_file.name + "-wal")) if p.exists())
    return sum(1 for v in values if v.encode() in blob)


def ordinary_text(population) -> str:
    """The non-personal words the hub stores or publishes by design (agency, school and university
    names, grade stages): a synthetic name that is also such a word (a surname อนุบาล, a surname
    ทวีวัฒนา beside สำนักงานเขตทวีวัฒนา) is found in them without any name being kept in clear."""
    words = list(generalise(pd.Series(["อ.1", "ป.1", "ม.1", "ม.4"]), ladder="grade", level="stage"))
    for household in population.households:
        if household.logbook:
            words.extend(a.agency for a in household.logbook.assistance)
        if household.survey:
            words.append(household.survey.university)
            words.extend(r.agency for r in household.survey.referrals)
        words.extend(p.schooling.school.name for p in household.members if p.schooling)
    return "\n".join(words)


def noise_table(noise: dict[str, int], *, title: str) -> Table:
    """Counts keyed ``source.kind`` as a table: one row per kind, one column per source."""
    kinds = sorted({key.split(".", 1)[1] for key in noise})
    table = Table("noise or event", *SOURCE_ORDER, title=title)
    for kind in kinds:
        table.add_row(kind.replace("_", " "), *(str(noise.get(f"{s}.{kind}", "")) for s in SOURCE_ORDER))
    return table


def run_demo(*, out: Path, households: int, seed: int, console: Console, actor: str, serve: bool = True,
             host: str = "127.0.0.1", port: int = 8000) -> None:
    """The story above, told on ``console``; with ``serve``, it then serves on ``host:port`` until stopped."""
    hub, _ = Hub.init()
    console.rule("[bold]Saphan demo: สะพานข้อมูลเพื่อแก้จนแบบบูรณาการ")
    population = generate_population(households=households, seed=seed)
    names = ", ".join(f"{geothai.province(code).name_th} ({geothai.province(code).name_en})"
                      for code in sorted({h.tambon_code[:2] for h in population.households}))
    console.print(f"Population: {len(population.households):,} households, {len(population.persons):,} people "
                  f"in {names}")
    written = write_partner_files(population, out, seed=seed)
    console.print(noise_table(written.noise, title=f"Partner files written to {out}/, with what real exports carry"))

    # the partners' systems run for the whole demo: `hub sync msdhs_logbook` pulls again while it serves
    with logbook_api(written.files["msdhs_logbook"], hub.settings.resolved_home) as (api_url, key_file):
        console.print(f"Partner systems: the MSDHS logbook API at {api_url} (bearer key in {key_file}); TPMAP, EEF "
                      f"and the universities deliver files to inboxes under {hub.settings.resolved_home / 'inbox'}")
        runs = register_partners(hub, written.files, api_url=api_url, key_file=key_file, actor=actor)
        _show_registrations(console, runs)
        _show_syncs(console, deliver_and_sync(hub, written.files, SOURCE_ORDER, actor=actor))
        link_and_show(hub, console, actor=actor, truth=written.truth)  # scored against the generator's truth
        village, steward = show_consent(hub, console, actor=actor)
        show_views(hub, console, actor=actor)
        _show_store(hub, console, population)
        if serve:
            _serve(hub, console, host=host, port=port, links=role_links(hub, village=village, steward=steward,
                                                                         actor=actor))
        else:
            console.print(f"Next: `./dev hub views list`, `./dev hub views show public_province`, "
                          f"`./dev hub consent data-return {village} --steward {steward}`, `./dev hub contracts list`, "
                          "`./dev hub review list`, `./dev hub quarantine list`, `./dev hub audit verify`.")


def _serve(hub: Hub, console: Console, *, host: str, port: int, links: list) -> None:
    with serving(hub, host=host, port=port) as base:
        console.rule(f"[bold]The hub's pages at {base}")
        console.print("Each link logs in as its role (its token, valid 12 hours, is in the link):")
        for link in links:
            console.print(f"  [bold]{link.role}[/] ({link.who}):", highlight=False)
            console.print(f"    {link.url(base)}", soft_wrap=True, highlight=False)  # whole, to copy
        console.print(f"The API and its docs: {base}/api/docs. The partners' systems keep running: "
                      "`./dev hub sync msdhs_logbook` pulls the logbook again.", highlight=False)
        console.print("Serving until Ctrl-C.")
        _wait_for_stop()


def _wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM (then the partner simulator and the server are stopped cleanly)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass


def _show_registrations(console: Console, runs: dict[str, DryRun]) -> None:
    table = Table("source", "dry run read", "records", "would quarantine", "registered",
                  title="Sources registered (`hub sources add`: a dry run, nothing stored, then sources.toml)")
    for source, run in runs.items():
        table.add_row(source, run.read_from, str(run.records), str(sum(run.rejected.values())), "yes")
    console.print(table)


def _show_syncs(console: Console, synced: list) -> None:
    table = Table("source", "reached by", "read", "items", "records new", "updated", "quarantined",
                  title="Sync (`hub sync`: inboxes taken, the API pulled page by page; records are persons)")
    for s in synced:
        table.add_row(s.source, s.reached_by, s.read, str(s.items), str(s.inserted), str(s.updated),
                      str(s.quarantined))
    console.print(table)


def _show_store(hub: Hub, console: Console, population) -> None:
    with hub.engine.connect() as conn:
        r = source_records
        by_source = dict(conn.execute(select(r.c.source, func.count()).group_by(r.c.source)).all())
        reasons = Counter(r for (r,) in conn.execute(select(quarantine.c.reason)))
    console.print("Records stored: " + ", ".join(f"{s} {n:,}" for s, n in sorted(by_source.items())))
    if reasons:
        console.print("Quarantined (see `hub quarantine list`):")
        for reason, n in reasons.most_common(6):
            console.print(f"  {n} x {reason}")
    url = hub.engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        ids = {p.citizen_id for p in population.persons if p.citizen_id}
        # names of two or three letters also occur inside ordinary words (school names), so they prove nothing;
        # nor do names that are themselves words the hub stores by design
        ordinary = ordinary_text(population)
        names = {n for p in population.persons for n in (p.first_name, p.last_name)
                 if len(n) >= 4 and n not in ordinary}
        found_ids, found_names = (clear_values_in_file(Path(url.database), s) for s in (ids, names))
        console.print(f"Privacy: the database file holds {found_ids} of {len(ids):,} citizen IDs and "
                      f"{found_names} of {len(names):,} names in clear (keys: {hub.settings.resolved_keys_dir}).")
    checked = verify(hub)
    console.print(f"Audit log: {checked.events} events, {checked.checkpoints} signed checkpoint(s): " + (
        "intact" if checked.intact else f"BROKEN at {checked.problem.seq}: {checked.problem.what}"))
