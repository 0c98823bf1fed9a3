"""Fixtures. Every test gets its own hub: a SQLite file under ``tmp_path``, or, when
``HUB_TEST_DATABASE_URL`` names a PostgreSQL server, a fresh schema there (dropped afterwards).

- ``settings``: :class:`hub.settings.Settings` for that database, ``HUB_HOME`` = ``tmp_path/hub``;
  the same values are exported as ``HUB_*`` variables, so CLI runs in the test see them.
- ``hub``: an initialised :class:`hub.context.Hub` (schema migrated, keys made).
- ``cli``: runs ``hub`` commands in-process: ``cli("ingest", "tpmap", path)`` returns the result
  (``exit_code``, ``stdout``, ``stderr``).
- ``data``: the directory of real partner files used by tests (``tests/data``).
- ``linked_hub`` (module scope): a hub with every partner file ingested and linked.
- ``browser`` (module scope): Debian's headless Chromium, through Playwright.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import ACTOR, CHROMIUM, PG_URL, ingest_all, isolated_database_url
from hub.cli import app
from hub.context import Hub
from hub.settings import Settings

DATA = Path(__file__).parent / "data"


def pytest_report_header(config):
    return f"hub database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (embedded default)'}"


@pytest.fixture
def database_url(tmp_path):
    with isolated_database_url(tmp_path / "hub") as url:
        yield url


@pytest.fixture
def settings(tmp_path, database_url, monkeypatch) -> Settings:
    home = tmp_path / "hub"
    monkeypatch.setenv("HUB_HOME", str(home))
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.delenv("HUB_KEYS_DIR", raising=False)
    return Settings()


@pytest.fixture
def hub(settings) -> Hub:
    hub, _ = Hub.init(settings)
    yield hub
    hub.engine.dispose()


@pytest.fixture
def cli(settings):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture(scope="module")
def linked_hub(tmp_path_factory) -> Hub:
    """A hub holding every partner file, linked; shared by one test module (which must leave its
    records alone: consent tests add and clear their own decisions)."""
    from hub.linking.run import link

    home = tmp_path_factory.mktemp("linked")
    with isolated_database_url(home) as url:
        hub, _ = Hub.init(Settings(home=home, database_url=url))
        ingest_all(hub)
        link(hub, actor=ACTOR)
        yield hub
        hub.engine.dispose()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()
