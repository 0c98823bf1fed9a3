"""The hub refuses a PostgreSQL server that a crash could leave corrupt (``fsync`` or ``full_page_writes``
off), checked on a real throwaway server started with them off, and runs once they are back on."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from hub.context import Hub
from hub.db.durability import DurabilityError
from hub.settings import Settings

BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


def _as_postgres(*command: object) -> list[str]:
    """PostgreSQL will not run as root: as root, run ``command`` as the ``postgres`` user."""
    command = [str(c) for c in command]
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def careless_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster started with ``fsync`` and ``full_page_writes`` off; yields its URL."""
    if not BINARIES:
        pytest.skip("PostgreSQL's server binaries are not installed")
    bin_dir = BINARIES[-1].parent
    base = Path(tempfile.mkdtemp(prefix="saphan-careless-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", _free_port()
    subprocess.run(_as_postgres(bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"),
                   check=True, capture_output=True)
    with open(data / "postgresql.auto.conf", "a", encoding="utf-8") as conf:  # where ALTER SYSTEM writes
        conf.write("fsync = off\nfull_page_writes = off\n")
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {base}"
    subprocess.run(_as_postgres(bin_dir / "pg_ctl", "-D", data, "-w", "-l", base / "log", "-o", options, "start"),
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres(bin_dir / "pg_ctl", "-D", data, "-w", "-m", "immediate", "stop"),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_the_hub_refuses_a_server_that_could_lose_committed_data(careless_server, tmp_path):
    settings = Settings(home=tmp_path / "hub", database_url=careless_server)
    with pytest.raises(DurabilityError) as refused:
        Hub.init(settings)
    assert "fsync = off, full_page_writes = off" in str(refused.value)
    assert "ALTER SYSTEM SET fsync = on; ALTER SYSTEM SET full_page_writes = on" in str(refused.value)

    admin = create_engine(careless_server, isolation_level="AUTOCOMMIT")

    def server(name: str, value: str) -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"ALTER SYSTEM SET {name} = {value}")
            conn.exec_driver_sql("SELECT pg_reload_conf()")

    server("fsync", "on")
    with pytest.raises(DurabilityError, match="has full_page_writes = off, so a crash"):
        Hub.init(settings)
    server("full_page_writes", "on")
    Hub.init(settings)[0].engine.dispose()
    Hub.open(settings).engine.dispose()
    server("fsync", "off")  # an operator's change after the hub was set up: every start checks
    with pytest.raises(DurabilityError, match="has fsync = off, so a crash"):
        Hub.open(settings)
    admin.dispose()
