"""The web pages in a real browser: Debian's headless Chromium driven by Playwright against the hub served
by uvicorn. A policy analyst logs in with a token and drills down from the nation to a village and back; a partner
downloads its view as XLSX; a community's steward sees its households in Thai and who used its data; an
auditor sees the log verified; a phone-sized screen needs no sideways scrolling."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from consent import stewards
from helpers import ACTOR, CHROMIUM, root_url, serve_api
from hub.tokens import issue
from hub.views.publish import publish

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
VILLAGE = "340101-04"


@pytest.fixture(scope="module")
def site(linked_hub):
    """The published hub served over HTTP, with a steward whose village granted data return; yields
    (base URL, tokens by role, hub)."""
    hub = linked_hub
    publish(hub, actor=ACTOR)
    steward = stewards.register(hub, VILLAGE, name="ผู้ใหญ่บ้านหมู่ 4", role="village_head", appointed_by="คำสั่ง 1/2567",
                                actor=ACTOR)
    tokens = {
        "policy": issue(hub, role="policy", subject="ศจพ.จ. อุบลราชธานี", actor=ACTOR),
        "msdhs": issue(hub, role="partner", subject="msdhs-desk", partner="msdhs", actor=ACTOR),
        "community": issue(hub, role="community", subject="ผู้ใหญ่บ้านหมู่ 4", area=VILLAGE, steward=steward,
                           actor=ACTOR),
        "auditor": issue(hub, role="auditor", subject="สตง.", actor=ACTOR),
    }
    with serve_api(hub) as api:
        granted = api.post("/consent/community/decisions", headers={"Authorization": f"Bearer {tokens['community']}"},
                           json={"purposes": ["community_planning"], "meeting": "ประชุมประชาคม 12 มี.ค. 2567"})
        assert granted.status_code == 201
        yield root_url(api), tokens, hub


def logged_in(browser, base: str, token: str, **context):
    page = browser.new_context(base_url=base, accept_downloads=True, **context).new_page()
    page.goto("/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    return page


def test_a_policy_analyst_drills_down_from_the_nation_to_a_village(site, browser):
    base, tokens, _ = site
    page = logged_in(browser, base, tokens["policy"])
    assert page.url.endswith("/overview")
    assert page.inner_text("#area-title").startswith("ประเทศไทย")
    assert page.locator("#chart-dimensions .bar-row").count() == 5
    path = []
    for pattern in (r"^\d{2}$", r"^\d{4}$", r"^\d{6}$"):  # province, amphoe, tambon
        page.locator("a.drill").first.click()
        code = page.inner_text("#area-title small")
        assert re.match(pattern, code), code
        path.append(code)
    villages = page.locator("#children tbody tr td small").all_inner_texts()
    assert villages and all(re.match(r"^\d{6}-(\d{2}|other)$", v) for v in villages)
    page.locator("a.drill").first.click()  # a village: its own figures, nothing below
    assert page.inner_text("#area-title small") == villages[0] and page.locator("#children").count() == 0
    assert path[1].startswith(path[0]) and path[2].startswith(path[1]) and villages[0].startswith(path[2])
    page.click("#up")
    assert page.inner_text("#area-title small") == path[2]
    page.goto("/overview?lang=en")
    assert page.inner_text("h2 >> nth=0") == "Households deprived per dimension (TPMAP)"


def test_a_partner_downloads_its_view_as_xlsx(site, browser):
    base, tokens, _ = site
    page = logged_in(browser, base, tokens["msdhs"])
    assert page.url.endswith("/partner")
    with page.expect_download() as download:
        page.click("a.download >> nth=0")
    book = load_workbook(io.BytesIO(open(download.value.path(), "rb").read()))
    rows = list(book.active.values)
    assert rows[0][0] in ("row", "area") and len(rows) > 1


def test_a_steward_sees_the_communitys_households_in_thai_and_who_used_them(site, browser):
    base, tokens, hub = site
    from hub.views.read import read_view

    read_view(hub, "msdhs_households", area=None, actor="cli:msdhs-desk")  # a partner reads the village's rows
    page = logged_in(browser, base, tokens["community"])
    assert page.url.endswith("/community")
    assert page.get_attribute("html", "lang") == "th"
    assert page.inner_text("h1").startswith("ชุมชน")
    names = page.locator("article.household li").all_inner_texts()
    assert any("สมชาย" in n for n in names)
    assert any(re.search(r"\d{1,2} (ม\.ค\.|ก\.พ\.|มี\.ค\.|เม\.ย\.|พ\.ค\.|มิ\.ย\.|ก\.ค\.|ส\.ค\.|ก\.ย\.|ต\.ค\.|"
                         r"พ\.ย\.|ธ\.ค\.) 25\d\d", n) for n in names)  # birth dates in the Buddhist era
    assert "msdhs" in page.inner_text("#who-used + div table")
    thai_font = page.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily")
    assert "Noto Sans Thai" in thai_font
    assert page.evaluate("document.fonts.check('16px Garuda', 'ชุมชน')")  # a Thai-capable face is there


def test_an_auditor_sees_the_log_verified_and_filters_it(site, browser):
    base, tokens, _ = site
    page = logged_in(browser, base, tokens["auditor"])
    assert page.url.endswith("/auditor")
    assert "✔" in page.inner_text("#verification") and "ตรวจสอบเมื่อ" in page.inner_text("#verification")
    page.fill("input[name=action]", "view.")
    page.click(".filters button")
    actions = page.locator("#events tbody tr td:nth-child(4)").all_inner_texts()
    assert actions and all(a.startswith("view.") for a in actions)


def test_pages_fit_a_phone_sized_screen(site, browser):
    base, tokens, _ = site
    for role, path in (("policy", "/overview?area=34"), ("community", "/community"), ("msdhs", "/partner")):
        page = logged_in(browser, base, tokens[role], viewport={"width": 375, "height": 740})
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (role, overflow)


def test_a_bad_token_stays_on_the_login_page(site, browser):
    base, _, _ = site
    page = logged_in(browser, base, "not-a-token")
    assert page.url.endswith("/login")
    assert page.inner_text(".error") == "โทเค็นไม่ถูกต้องหรือหมดอายุ"
    page.goto("/community")
    assert page.url.endswith("/login")


def test_an_operator_sees_each_sources_last_failure_and_why(site, browser, tmp_path):
    base, tokens, hub = site
    from hub.errors import HubError
    from hub.sync.jobs import run_by_hand

    inbox = tmp_path / "tpmap-inbox"
    inbox.mkdir()
    (inbox / "broken.csv").write_text("not,a,tpmap,header\n")
    hub.settings.resolved_sources_file.write_text(f'[tpmap]\ninbox = "{inbox}"\n', encoding="utf-8")
    try:
        with pytest.raises(HubError):
            run_by_hand(hub, "tpmap", actor=ACTOR)
        admin = issue(hub, role="admin", subject="ผู้ดูแลระบบ", actor=ACTOR)
        page = logged_in(browser, base, admin)
        page.goto("/sources?lang=en")
        row = page.locator("#sources tbody tr", has_text="tpmap").inner_text()
        assert f"inbox {inbox}" in row and "broken.csv" in row and "0 file(s) waiting" in row
        assert page.locator("#sources tbody tr").count() == len(hub.adapters)
        policy = logged_in(browser, base, tokens["policy"])
        assert policy.goto("/sources").status == 404  # the operator's page alone
    finally:
        hub.settings.resolved_sources_file.unlink()


def test_a_steward_verifies_a_household_on_the_community_page(site, browser):
    base, tokens, _ = site
    page = logged_in(browser, base, tokens["community"])
    card = page.locator("article.household").first
    assert "ยังไม่ได้ตรวจสอบ" in card.locator(".verdict").inner_text()
    card.locator("select[name=status]").select_option("not_poor")
    card.locator("select[name=method]").select_option("meeting")
    card.locator("input[name=note]").fill("ประชุมประชาคมหมู่ 4 เห็นพ้องกัน")
    card.locator("button").click()
    assert page.url.endswith("/community") or "/community#h-" in page.url
    assert "ไม่ยากจน" in page.locator("article.household").first.locator(".verdict").inner_text()


def test_a_steward_enters_a_household_the_community_found(site, browser):
    base, tokens, hub = site
    page = logged_in(browser, base, tokens["community"])
    form = page.locator("form.found")
    form.locator("input[name=house_no]").fill("77/1")
    form.locator("input[name=title]").fill("นาง")
    form.locator("input[name=first_name]").fill("บุญเรือน")
    form.locator("input[name=last_name]").fill("ค้นพบใหม่")
    form.locator("input[name=birth_date]").fill("2505-03-01")  # Buddhist era
    form.locator("select[name=sex]").select_option("F")
    form.locator("button").click()
    assert "#found" in page.url
    assert "บันทึกแล้ว: 1" in page.locator("#found").inner_text()
