"""The demo as a newcomer starts it, with the README's command (``./dev demo``) from the checkout: it starts
the partner systems, registers and syncs every source, links, publishes, serves the web pages and prints a
link per role; each link, opened in Debian's headless Chromium, logs in and shows that role's page."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from contracts.load import BUILT_IN, load_contracts
from helpers import CHROMIUM

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
READY = "Serving until Ctrl-C."


def links_printed(process: subprocess.Popen, deadline_seconds: float) -> tuple[dict[str, str], list[str]]:
    """Role -> link, from the demo's output up to the line that says it is serving, and all lines read."""
    links, role, lines = {}, None, []
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if match := re.match(r"^  (\S[^(]*) \(", line):
            role = match.group(1).strip()
        elif line.strip().startswith("http") and role:
            links[role] = line.strip()
        if READY in line:
            return links, lines
    raise AssertionError("the demo did not start serving:\n" + "".join(lines[-40:]))


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "HUB_HOME": str(tmp / "home"), "COLUMNS": "100", "DEMO_OUT": str(tmp / "out")}
    env.pop("HUB_DATABASE_URL", None)  # the embedded default, as on a fresh machine
    return env


@pytest.fixture(scope="module")
def demo(demo_env):
    """``./dev demo`` running in its own process group on a free port, with its home in a temporary folder."""
    process = subprocess.Popen([ROOT / "dev", "demo", "--households", "200", "--out", demo_env["DEMO_OUT"],
                                "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=demo_env, start_new_session=True)
    try:
        yield links_printed(process, 300)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def opened(browser, link: str):
    page = browser.new_context().new_page()
    page.goto(link)
    page.wait_for_url(re.compile(r"/(overview|community|auditor|partner)"))
    return page


def test_the_demo_prints_a_link_per_role_and_each_partner(demo):
    links, lines = demo
    partners = {c.contract.partner.id for c in load_contracts([BUILT_IN]).contracts
                if c.contract.partner.type in ("agency", "university")}
    assert set(links) == {"policy unit", "community stewards", "auditor", *(f"partner: {p}" for p in partners)}
    output = "".join(lines)
    assert "Sources registered" in output and "msdhs_logbook" in output and "Views published" in output
    assert "holds 0 of" in output  # no citizen ID in clear in the database file


def test_each_link_logs_in_and_shows_its_roles_page(demo, browser):
    links, _ = demo
    page = opened(browser, links["policy unit"])
    assert page.url.endswith("/overview") and page.inner_text("#area-title").startswith("ประเทศไทย")
    assert "#token" not in page.url
    page = opened(browser, links["community stewards"])
    assert page.url.endswith("/community") and page.inner_text("h1").startswith("ชุมชน")
    assert page.locator("article.household").count() > 0
    page = opened(browser, links["auditor"])
    assert page.url.endswith("/auditor") and "✔" in page.inner_text("#verification")
    views = {}
    for loaded in load_contracts([BUILT_IN]).contracts:
        views.setdefault(loaded.contract.partner.id, set()).update(v.name for v in loaded.contract.views
                                                                   if not v.identified)
    for role, link in links.items():
        if role.startswith("partner: "):
            partner = role.removeprefix("partner: ")
            page = opened(browser, link)
            assert page.url.endswith("/partner"), role
            hrefs = page.locator("a.download").evaluate_all("links => links.map(a => a.getAttribute('href'))")
            assert {re.match(r"/partner/views/(\w+)\.", h).group(1) for h in hrefs} == views[partner], role


def test_the_partners_systems_keep_running_while_the_demo_serves(demo, demo_env):
    synced = subprocess.run([ROOT / ".venv" / "bin" / "hub", "sync", "msdhs_logbook", "--only-sync"],
                            capture_output=True, text=True, env=demo_env, timeout=120)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "msdhs_logbook:" in synced.stdout and "page(s)" in synced.stdout
