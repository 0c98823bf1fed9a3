"""Shared helpers for the tests: the data files, database snapshots and scans, and the personal values
the partner files contain (collected straight from the files, independently of the adapters)."""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import Connection, Engine, create_engine, inspect, select, text

from hub.context import Hub
from hub.crypto import aad
from hub.db.schema import linked_records, quarantine, record_links, source_households, source_records
from hub.pipeline.ingest import FileReport, ingest_file

DATA = Path(__file__).parent / "data"

TPMAP = DATA / "tpmap_2566_export.csv"
TPMAP_LATER = DATA / "tpmap_2566_export_later.csv"
EEF_2566_2 = DATA / "eef_2566_2.csv"
EEF_2567_1 = DATA / "eef_2567_1.csv"
LOGBOOK_JUNE = DATA / "logbook_2024-06.ndjson"
LOGBOOK_JULY = DATA / "logbook_2024-07.ndjson"
SURVEY = DATA / "survey_2566_batch1.ndjson"

#: Every partner file with its source, in the order a partner would have delivered them.
ALL_FILES = [
    ("tpmap", TPMAP), ("tpmap", TPMAP_LATER),
    ("eef_students", EEF_2566_2), ("eef_students", EEF_2567_1),
    ("msdhs_logbook", LOGBOOK_JUNE), ("msdhs_logbook", LOGBOOK_JULY),
    ("university_survey", SURVEY),
]

ACTOR = "test:pytest"
#: A PostgreSQL server to test against instead of SQLite (each hub gets a schema of its own there).
PG_URL = os.environ.get("HUB_TEST_DATABASE_URL")
TITLES = ("เด็กชาย", "เด็กหญิง", "นางสาว", "น.ส.", "ด.ช.", "ด.ญ.", "นาง", "นาย")


def file_sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ingest(hub: Hub, source: str, path: Path) -> FileReport:
    return ingest_file(hub, source, path, actor=ACTOR)


def ingest_all(hub: Hub) -> list[FileReport]:
    return [ingest(hub, source, path) for source, path in ALL_FILES]


def contracts_with(settings, directory: Path, **extra: str):
    """``settings`` whose contracts are the built-in ones plus ``extra`` (contract id -> TOML text), in
    ``directory``: how a test gives a third-party source the contract it needs."""
    from contracts.load import BUILT_IN

    directory.mkdir(parents=True, exist_ok=True)
    for path in BUILT_IN.glob("*.toml"):
        (directory / path.name).write_bytes(path.read_bytes())
    for contract_id, body in extra.items():
        (directory / f"{contract_id}.toml").write_text(body, encoding="utf-8")
    return settings.model_copy(update={"contracts_dir": directory})


def source_contract(contract_id: str, source: str, fields: list[str]) -> str:
    """A minimal contract that lets the hub take ``fields`` from ``source``."""
    return f"""id = "{contract_id}"
title = "test agreement for {source}"
version = "1"
signed_on = 2026-01-01
valid_until = 2030-12-31
parties = [{{ id = "saphan", name = "hub", role = "hub" }},
           {{ id = "{contract_id}", name = "partner", role = "provider" }}]
partner = {{ id = "{contract_id}", type = "ngo" }}
purposes = [{{ name = "research_statistics", lawful_basis = "research_statistics" }}]
sources.{source} = {{ fields = {json.dumps(fields)}, retention_days = 365 }}
"""


def squash(text: str) -> str:
    """``text`` without any whitespace: messages the console wraps at its width still compare."""
    return re.sub(r"\s", "", text)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def linked_population(hub: Hub, folder: Path, *, households: int, seed: int) -> None:
    """A synthetic population (real tambons) written under ``folder`` in the four partner formats, ingested
    and linked: a store to publish views from."""
    from hub.demo.population import generate_population
    from hub.demo.writers import write_partner_files
    from hub.linking.run import link

    written = write_partner_files(generate_population(households=households, seed=seed), folder, seed=seed)
    for source in ("tpmap", "msdhs_logbook", "eef_students", "university_survey"):
        for path in written.files.get(source, []):
            ingest(hub, source, path)
    link(hub, actor=ACTOR)


@contextmanager
def refusing_inserts(engine: Engine, table: str) -> Iterator[None]:
    """While inside, the database refuses every insert into ``table`` ("disk full"), by a trigger."""
    postgres = is_postgres(engine)
    with engine.begin() as conn:
        if postgres:
            conn.execute(text("CREATE FUNCTION refuse_inserts() RETURNS trigger AS $$ BEGIN "
                              "RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql"))
            conn.execute(text(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} FOR EACH ROW "
                              "EXECUTE FUNCTION refuse_inserts()"))
        else:
            conn.execute(text(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} BEGIN "
                              "SELECT RAISE(ABORT, 'disk full'); END"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TRIGGER refuse ON {table}" if postgres else "DROP TRIGGER refuse"))
            if postgres:
                conn.execute(text("DROP FUNCTION refuse_inserts()"))


def engine_at_migration(settings, revision: str) -> Engine:
    """An engine on a new database migrated only up to ``revision``: an older hub's store, which a test
    fills as that version wrote it before opening it (and so upgrading it) with today's hub."""
    from alembic import command

    from hub.db.engine import _alembic_config, make_engine

    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return engine


# ------------------------------------------------------------------------------------------ reading the store


def records(hub: Hub, source: str) -> dict[str, object]:
    """Stored person records of ``source`` by their source record id, with their person and household ids."""
    r, links = source_records, record_links
    with hub.engine.connect() as conn:
        return {row.record_id: row for row in conn.execute(
            select(r, links.c.person_id, links.c.household_id).select_from(linked_records).where(r.c.source == source))}


def households(hub: Hub, source: str, *, include_deleted: bool = False) -> dict[str, object]:
    """Stored household units of ``source`` by their household ref. A household deleted upstream may be
    kept as a tombstone row (``deleted`` true, no personal fields); it is left out unless asked for."""
    t = source_households
    with hub.engine.connect() as conn:
        rows = conn.execute(select(t).where(t.c.source == source)).all()
    return {row.household_ref: row for row in rows if include_deleted or not getattr(row, "deleted", False)}


def decrypt_record_field(hub: Hub, row, field: str) -> str | None:
    return hub.cipher.decrypt(getattr(row, f"{field}_enc"), aad("source_records", row.source, row.record_id, field))


def decrypt_household_field(hub: Hub, row, field: str) -> str | None:
    return hub.cipher.decrypt(getattr(row, f"{field}_enc"),
                              aad("source_households", row.source, row.household_ref, field))


def snapshot(engine: Engine, tables=(source_records, source_households, quarantine)) -> dict[str, list[tuple]]:
    """Every row of the tables, in id order, as plain tuples (JSON values serialised canonically)."""
    result = {}
    with engine.connect() as conn:
        for table in tables:
            rows = conn.execute(select(table).order_by(table.c.id)).all()
            result[table.name] = [tuple(_plain(v) for v in row) for row in rows]
    return result


def _plain(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def dump_all_values(engine: Engine) -> bytes:
    """``SELECT *`` of every table, every value as bytes (text as UTF-8, JSON as text, bytea as is)."""
    chunks: list[bytes] = []
    with engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{name}"')):
                for value in row:
                    if value is None:
                        continue
                    if isinstance(value, (bytes, bytearray, memoryview)):
                        chunks.append(bytes(value))
                    elif isinstance(value, (dict, list)):
                        chunks.append(json.dumps(value, ensure_ascii=False).encode())
                    else:
                        chunks.append(str(value).encode())
    return b"\x00".join(chunks)


def database_bytes(hub: Hub) -> bytes:
    """What an attacker holding the database would read: on SQLite the database file and its WAL as raw
    bytes (plus every value); on PostgreSQL every value of every table."""
    values = dump_all_values(hub.engine)
    if is_postgres(hub.engine):
        return values
    db_path = Path(hub.engine.url.database)
    files = [db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-journal")]
    return b"\x00".join([values] + [p.read_bytes() for p in files if p.exists()])


# ------------------------------------------------------------------------------------------ PII in the inputs


def _id_forms(raw: str | None) -> set[str]:
    if not raw or not raw.strip():
        return set()
    digits = re.sub(r"[\s\-\u00a0]", "", raw)
    forms = {raw.strip(), digits}
    if len(digits) == 13:
        forms |= {f"{digits[0]}-{digits[1:5]}-{digits[5:10]}-{digits[10:12]}-{digits[12]}",
                  f"{digits[0]} {digits[1:5]} {digits[5:10]} {digits[10:12]} {digits[12]}"}
    return forms


def _name_forms(raw: str | None) -> set[str]:
    if not raw or not raw.strip():
        return set()
    name = raw.strip()
    forms = {name}
    for title in TITLES:
        if name.startswith(title) and len(name) - len(title) >= 2:
            forms.add(name[len(title):].strip())
    return forms


def partner_pii() -> dict[str, set[str]]:
    """Citizen IDs (every written form), first and last names, and house codes in the partner files,
    read straight from the files (quarantined rows included)."""
    ids: set[str] = set()
    names: set[str] = set()
    houses: set[str] = set()
    for path in (TPMAP, TPMAP_LATER):
        for row in csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))):
            ids |= _id_forms(row.get("pid"))
            names |= _name_forms(row.get("fname")) | _name_forms(row.get("lname"))
            if row.get("house_code"):
                houses.add(row["house_code"])
    for path in (EEF_2566_2, EEF_2567_1):
        for row in csv.DictReader(io.StringIO(path.read_text("utf-8")), delimiter=";"):
            ids |= _id_forms(row["citizen_id"]) | _id_forms(row["guardian_citizen_id"])
            names |= _name_forms(row["first_name"]) | _name_forms(row["last_name"])
    for path in (LOGBOOK_JUNE, LOGBOOK_JULY, SURVEY):
        for line in path.read_text("utf-8").splitlines():
            houses |= set(re.findall(r'"house_code": "(\d{11})"', line))
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            for member in obj.get("members", []):
                ids |= _id_forms(member.get("citizen_id"))
                names |= _name_forms(member.get("first_name")) | _name_forms(member.get("last_name"))
            witness = (obj.get("consent") or {}).get("witness")
            if witness:
                names.add(witness)
    return {"citizen_id": ids, "name": names, "house_code": houses}


@contextmanager
def isolated_database_url(home: Path) -> Iterator[str]:
    """A database for one hub: SQLite under ``home``, or, when ``HUB_TEST_DATABASE_URL`` names a
    PostgreSQL server, a fresh schema there, dropped afterwards."""
    if not PG_URL:
        yield f"sqlite:///{home / 'hub.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def tampering(hub) -> Iterator[Connection]:
    """A transaction of someone with full access to the hub's database: the audit log's append-only
    triggers are dropped first (as such an attacker would)."""
    from audit.guards import remove_guards

    with hub.engine.begin() as conn:
        remove_guards(conn)
        yield conn


@contextmanager
def serve_api(hub: Hub):
    """The hub's API served by uvicorn on a free local port; yields an httpx client for ``/api/v1``."""
    from hub.api.serving import serving

    with serving(hub, host="127.0.0.1", port=0) as base, httpx.Client(base_url=f"{base}/api/v1", timeout=30) as client:
        yield client


def root_url(client) -> str:
    """``http://host:port`` of a client from :func:`serve_api` (whose base URL is the API's)."""
    return f"{client.base_url.scheme}://{client.base_url.netloc.decode()}"


def hub_env(hub: Hub) -> dict[str, str]:
    """The environment a ``hub`` command in another process needs to open this hub."""
    s = hub.settings
    env = {**os.environ, "HUB_HOME": str(s.resolved_home), "HUB_DATABASE_URL": s.resolved_database_url,
           "HUB_SOURCES_FILE": str(s.resolved_sources_file)}
    if s.contracts_dir:
        env["HUB_CONTRACTS_DIR"] = str(s.contracts_dir)
    return env


def refuse_audit_writes(hub) -> None:
    """Make every audit append fail, as a full disk or a broken database would."""
    with hub.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                              "BEGIN RAISE EXCEPTION 'audit storage unavailable'; END $$"))
            conn.execute(text("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
                              "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"))
        else:
            conn.execute(text("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
                              "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END"))


@dataclasses.dataclass
class PartnerSimulator:
    """A simulator process (:mod:`simulators.msdhs_api`) and its control endpoints."""

    process: subprocess.Popen
    url: str

    def items(self) -> list[dict]:
        return httpx.get(f"{self.url}/_sim/items").json()

    def requests(self) -> list[dict]:
        return httpx.get(f"{self.url}/_sim/requests").json()

    def upsert(self, items: list[dict]) -> None:
        httpx.post(f"{self.url}/_sim/items", json=items).raise_for_status()

    def faults(self, rates: dict[str, float], retry_after: int | None = None) -> None:
        """Set the fault rates by fault (``{"503": 1.0}``: every request answered 503)."""
        body = {"rates": rates}
        if retry_after is not None:
            body["retry_after"] = retry_after
        httpx.post(f"{self.url}/_sim/faults", json=body).raise_for_status()


@contextmanager
def logbook_simulator(data: list[Path], *, api_key: str, faults: str = "", retry_after: int = 0,
                      seed: int = 1) -> Iterator[PartnerSimulator]:
    """The MSDHS logbook API simulator, started as its own process on a free port."""
    from simulators.msdhs_api import started

    with started(data, api_key=api_key, faults=faults, retry_after=retry_after, seed=seed) as (process, url):
        yield PartnerSimulator(process, url)


def logbook_sources_file(path: Path, url: str, *, key_file: Path, page_size: int) -> Path:
    """A ``sources.toml`` pointing the logbook source at ``url``, with short waits between retries."""
    path.write_text(f'[msdhs_logbook.api]\nbase_url = "{url}"\napi_key_file = "{key_file}"\npage_size = {page_size}\n'
                    f'attempts = 40\nbackoff_seconds = 0.01\nmax_backoff_seconds = 0.05\n', encoding="utf-8")
    return path


def fresh_venv(folder: Path) -> Path:
    """A new virtual environment in ``folder`` that imports the hub from this checkout and its dependencies
    from the environment running the tests (a ``.pth`` file: installing them from an index would test the
    network), with a ``hub`` command; returns its ``bin`` folder. pip installs into it alone."""
    import sysconfig

    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "venv", folder], check=True, timeout=120)
    python = folder / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "saphan-checkout.pth").write_text(f"{root}\n{sysconfig.get_paths()['purelib']}\n")
    launcher = folder / "bin" / "hub"  # what pip writes for the hub's console script
    launcher.write_text(f"#!{python}\nimport sys\nfrom hub.cli import app\nsys.exit(app())\n")
    launcher.chmod(0o755)
    return folder / "bin"


#: Debian's Chromium, which the browser tests drive headless (``.ci/run`` installs it).
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

