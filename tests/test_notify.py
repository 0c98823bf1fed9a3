"""Subscribe and notify: partners get signed webhooks for the events their contract subscribes to, with no
more than it allows and their own pseudonym of the household; a receiver that is down gets them later,
once each; what cannot be delivered waits in the dead-letter list until an operator retries it. The
receiver is a real HTTP server (:mod:`simulators.webhook_receiver`) checking real signatures."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from consent.clock import now, utc
from consent.receipts import public_key as receipts_key
from contracts.load import BUILT_IN, load_contracts
from helpers import ACTOR, serve_api, squash
from hub.db.schema import audit_events, notifications, source_households, view_rows, view_versions
from hub.errors import ContractViolation
from hub.ids import new_id
from hub.notify.delivery import MAX_ATTEMPTS, NO_ENDPOINT, deliver_due, run_delivery_job
from hub.notify.endpoints import EndpointRefused, remove_endpoint, set_endpoint
from hub.notify.outbox import household_pseudonym, notify, purge_delivered, subscribers
from hub.notify.signature import public_key, verify_webhook
from hub.sync.scheduler import Scheduler
from hub.tokens import issue
from hub.views.publish import publish
from hub.views.row_versions import in_version

VERIFIED = {"status": "poor", "previous_status": "unverified", "area": "340101", "decided_on": "2026-03-02"}


@dataclass
class Receiver:
    """A webhook receiver process and its control endpoints."""

    process: subprocess.Popen
    url: str

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/hooks/saphan"

    def mode(self, mode: str) -> None:
        httpx.post(f"{self.url}/_sim/mode", json={"mode": mode}).raise_for_status()

    def deliveries(self) -> list[dict]:
        return httpx.get(f"{self.url}/_sim/deliveries").json()

    def requests(self) -> list[dict]:
        return httpx.get(f"{self.url}/_sim/requests").json()


@contextmanager
def webhook_receiver(public_key_file) -> Iterator[Receiver]:
    process = subprocess.Popen([sys.executable, "-m", "simulators.webhook_receiver", "--public-key",
                                str(public_key_file)], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("listening on "), line
        yield Receiver(process, line.split()[-1])
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def receiver(hub, tmp_path):
    """A receiver that trusts this hub's webhook key, registered as msdhs's endpoint."""
    pem = tmp_path / "hub-webhooks.pem"
    pem.write_text(public_key(hub.keyring), encoding="ascii")
    with webhook_receiver(pem) as running:
        set_endpoint(hub, "msdhs", running.webhook_url, actor=ACTOR)
        yield running


def queue(hub, kind="household.verified", *, household_id=None, concerns=("msdhs",), data=None) -> list[int]:
    with hub.engine.begin() as conn:
        return notify(hub, conn, kind, household_id=household_id, concerns=concerns,
                      data=VERIFIED if data is None else data)


def row(hub, notification_id: int):
    with hub.engine.connect() as conn:
        return conn.execute(select(notifications).where(notifications.c.id == notification_id)).one()


def actions(hub, prefix: str = "notify.") -> list[tuple[str, dict]]:
    a = audit_events
    with hub.engine.connect() as conn:
        found = conn.execute(select(a.c.action, a.c.details).where(a.c.action.like(f"{prefix}%"))
                             .order_by(a.c.seq)).all()
    return [(action, details if isinstance(details, dict) else json.loads(details)) for action, details in found]


# ------------------------------------------------------------------------------------------------ the contract


def test_the_shipped_contracts_subscribe_their_partners():
    contracts = load_contracts([BUILT_IN])
    assert set(subscribers(contracts, "household.verified")) == {"tpmap", "msdhs", "ubu", "cmu"}
    assert set(subscribers(contracts, "referral.created")) == {"msdhs"}
    assert set(subscribers(contracts, "household.corrected")) == {"tpmap"}
    assert "area" not in subscribers(contracts, "referral.changed")["ubu"]


@pytest.mark.parametrize(("section", "message"), [
    ('events = ["household.verified", "household.moved"]',
     "notify.events: Value error, unknown event(s) ['household.moved']; known: household.verified"),
    ('events = ["household.verified"]\nfields = ["status", "citizen_id"]',
     "notify.fields: Value error, unknown field(s) ['citizen_id']; known: status"),
    ("events = []", "notify.events: List should have at least 1 item"),
    ('events = ["household.verified"]\nurl = "https://example.org"', "notify.url: Extra inputs are not permitted"),
])
def test_a_notify_section_naming_an_unknown_event_or_field_is_refused_at_load(tmp_path, section, message):
    text = (BUILT_IN / "eef.toml").read_text(encoding="utf-8") + f"\n[notify]\n{section}\n"
    (tmp_path / "eef.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ContractViolation) as caught:
        load_contracts([tmp_path])
    assert "eef.toml" in str(caught.value)
    assert squash(message) in squash(str(caught.value))


# ------------------------------------------------------------------------------------------------ the outbox


def test_only_subscribed_partners_get_a_notification_holding_only_what_their_contract_allows(hub):
    household = new_id()
    ids = queue(hub, household_id=household, concerns=["msdhs", "tpmap", "ubu", "eef", "msdhs", "nobody"],
                data={**VERIFIED, "referral": 7})
    rows = {r.partner: r for r in map(lambda i: row(hub, i), ids)}
    assert set(rows) == {"msdhs", "tpmap", "ubu"}  # eef subscribes to nothing; msdhs once although named twice
    bodies = {partner: json.loads(r.body) for partner, r in rows.items()}
    assert bodies["msdhs"]["message"]["data"] == {**VERIFIED, "referral": 7,
                                                  "household": household_pseudonym(hub.keyring, "msdhs", household)}
    assert "referral" not in bodies["tpmap"]["message"]["data"]  # tpmap's contract does not allow it
    assert set(bodies["ubu"]["message"]["data"]) == {"status", "previous_status", "referral", "decided_on",
                                                    "household"}  # no area
    pseudonyms = {partner: body["message"]["data"]["household"] for partner, body in bodies.items()}
    assert len(set(pseudonyms.values())) == 3 and all(len(p) == 32 for p in pseudonyms.values())
    for partner, r in rows.items():
        assert household not in r.body
        assert (r.state, r.attempts, r.kind) == ("pending", 0, "household.verified")
        header = bodies[partner]["header"]
        assert header | {"message_ts": None} == {
            "version": "1.0.0", "message_id": r.idempotency_key, "message_ts": None, "action": "notify",
            "sender_id": "saphan", "receiver_id": partner, "total_count": 1}
        assert bodies[partner]["message"]["event_type"] == "household.verified"
    assert actions(hub) == [("notify.queued", {"partner": p, "kind": "household.verified", "notification_id": i})
                            for p, i in zip(["msdhs", "tpmap", "ubu"], ids, strict=True)]
    assert queue(hub, "referral.created", household_id=household, concerns=["tpmap", "ubu"],
                 data={"need": "disability_allowance"}) == []


def test_a_notification_without_a_household_carries_none(hub):
    [nid] = queue(hub, "referral.changed", household_id=None, concerns=["ubu"],
                  data={"referral": "r-12", "status": "done"})
    assert json.loads(row(hub, nid).body)["message"]["data"] == {"referral": "r-12", "status": "done"}


@pytest.mark.parametrize(("kind", "data", "message"), [
    ("household.deleted", {}, "unknown notification kind 'household.deleted'"),
    ("household.verified", {"name": "สมชาย"}, "no notification field 'name'"),
    ("household.verified", {"household": "x"}, "no notification field 'household'"),
    ("household.verified", {"area": "340101-04"}, "field area must be the household's tambon"),
    ("household.verified", {"decided_on": "2569-03-02x"}, "field decided_on must be the day"),
])
def test_an_unknown_kind_or_field_or_a_bad_value_is_a_programming_error(hub, kind, data, message):
    with pytest.raises(ValueError, match=message):
        queue(hub, kind, household_id=new_id(), data=data)
    with hub.engine.connect() as conn:
        assert conn.execute(select(notifications)).all() == []


def test_the_pseudonym_is_the_one_in_the_partners_microdata_view(linked_hub):
    publish(linked_hub, actor=ACTOR)
    with linked_hub.engine.connect() as conn:
        version = conn.scalar(select(view_versions.c.id).where(view_versions.c.view == "msdhs_households",
                                                               view_versions.c.status == "current"))
        in_view = set(conn.scalars(select(view_rows.c.row_key).where(in_version("msdhs_households", version))))
        households = set(conn.scalars(select(source_households.c.household_id).where(
            source_households.c.source == "msdhs_logbook")))
    viewed = [h for h in sorted(households) if household_pseudonym(linked_hub.keyring, "msdhs", h) in in_view]
    assert viewed
    ids = queue(linked_hub, household_id=viewed[0], concerns=["msdhs", "tpmap"])
    sent = {row(linked_hub, i).partner: json.loads(row(linked_hub, i).body)["message"]["data"]["household"]
            for i in ids}
    assert sent["msdhs"] in in_view
    assert sent["tpmap"] not in in_view and sent["tpmap"] != sent["msdhs"]


# ------------------------------------------------------------------------------------------------ delivery


def test_a_delivered_webhook_verifies_with_the_published_key_and_fails_when_a_byte_changes(hub, receiver, cli):
    [nid] = queue(hub, household_id=new_id())
    assert deliver_due(hub).delivered == 1
    with serve_api(hub) as api:
        published = api.get("/notify/public-key")
    assert published.status_code == 200 and published.text == cli("notify", "public-key").stdout
    [got] = receiver.deliveries()  # it verified them already: it records only what verifies
    body, headers = got["raw"].encode(), got["headers"]
    assert body == row(hub, nid).body.encode() and headers["Idempotency-Key"] == row(hub, nid).idempotency_key
    assert headers["Content-Type"] == "application/json"
    assert verify_webhook(body, headers, published.text)
    assert verify_webhook(body, {name.lower(): value for name, value in headers.items()}, published.text)
    for i in (0, len(body) // 2, len(body) - 1):
        altered = body[:i] + bytes([body[i] ^ 1]) + body[i + 1:]
        assert not verify_webhook(altered, headers, published.text)
    assert not verify_webhook(body, {**headers, "Idempotency-Key": "0" * 32}, published.text)
    assert not verify_webhook(body, {**headers, "Saphan-Signature": headers["Saphan-Signature"][:-2]},
                              published.text)
    assert not verify_webhook(body, headers, cli("consent", "public-key").stdout)  # another key of the hub


def test_a_receiver_down_for_a_while_gets_the_webhook_once_after_growing_waits(hub, receiver):
    [nid] = queue(hub, household_id=new_id())
    receiver.mode("503")
    moment, waits = now(), []
    for attempt in range(1, 5):
        assert deliver_due(hub, now=moment).failed == 1
        current = row(hub, nid)
        assert (current.state, current.attempts, current.last_error) == ("pending", attempt, "503 Service Unavailable")
        due = utc(current.next_attempt_at)
        waits.append(due - moment)
        assert deliver_due(hub, now=due - dt.timedelta(seconds=1)).failed == 0  # not before it is due
        moment = due
    assert dt.timedelta(seconds=30) <= waits[0] <= dt.timedelta(seconds=33)
    assert all(later > 1.8 * earlier for earlier, later in zip(waits, waits[1:], strict=False))

    receiver.mode("up")
    assert deliver_due(hub, now=moment).delivered == 1
    assert deliver_due(hub, now=moment + dt.timedelta(days=1)).delivered == 0
    delivered = row(hub, nid)
    assert (delivered.state, delivered.attempts, delivered.last_error) == ("delivered", 5, None)
    assert len(receiver.deliveries()) == 1
    assert [r["status"] for r in receiver.requests()] == [503, 503, 503, 503, 200]
    assert [a for a, _ in actions(hub)] == ["notify.endpoint_registered", "notify.queued"] + \
        ["notify.failed"] * 4 + ["notify.delivered"]


def test_a_receiver_that_is_down_costs_one_try_per_run_not_one_per_notification(hub, receiver):
    first, second = (queue(hub, household_id=new_id())[0] for _ in range(2))
    [for_tpmap] = queue(hub, household_id=new_id(), concerns=["tpmap"])
    set_endpoint(hub, "tpmap", f"{receiver.url}/tpmap", actor=ACTOR)
    receiver.mode("503")
    report = deliver_due(hub)
    assert (report.failed, report.delivered) == (2, 0)  # msdhs's first, and tpmap's
    assert [(row(hub, i).state, row(hub, i).attempts) for i in (first, second, for_tpmap)] == \
        [("pending", 1), ("pending", 0), ("pending", 1)]
    receiver.mode("up")
    moment = max(utc(row(hub, i).next_attempt_at) for i in (first, for_tpmap))
    assert deliver_due(hub, now=moment).delivered == 3
    assert len(receiver.deliveries()) == 3


def test_a_webhook_the_hub_never_heard_back_about_is_sent_again_and_the_receiver_keeps_it_once(hub, receiver):
    [nid] = queue(hub, household_id=new_id())
    receiver.mode("accept-drop")  # the receiver stores it, then the connection is lost before the answer
    moment = now()
    assert deliver_due(hub, now=moment).failed == 1
    assert "RemoteProtocolError" in row(hub, nid).last_error
    receiver.mode("up")
    assert deliver_due(hub, now=utc(row(hub, nid).next_attempt_at)).delivered == 1
    requests = receiver.requests()
    assert [(r["new"], r["status"]) for r in requests] == [(True, 200), (False, 200)]
    assert requests[0]["key"] == requests[1]["key"] == row(hub, nid).idempotency_key
    assert len(receiver.deliveries()) == 1


def test_too_many_failures_make_a_dead_letter_that_retry_brings_back(hub, receiver, cli):
    [nid] = queue(hub, household_id=new_id())
    receiver.mode("drop")
    moment = now()
    for _ in range(MAX_ATTEMPTS - 1):
        assert deliver_due(hub, now=moment).failed == 1
        moment = utc(row(hub, nid).next_attempt_at)
    assert deliver_due(hub, now=moment).dead == 1
    dead = row(hub, nid)
    assert (dead.state, dead.attempts) == ("dead", MAX_ATTEMPTS)
    assert dead.last_error.startswith(f"gave up after {MAX_ATTEMPTS} tries")
    assert deliver_due(hub, now=moment + dt.timedelta(days=30)).dead == 0  # a dead letter is not tried again
    listed = cli("notify", "list", "--state", "dead")
    assert listed.exit_code == 0 and f"{nid}\tmsdhs\thousehold.verified\tdead\t{MAX_ATTEMPTS}" in listed.stdout

    receiver.mode("up")
    assert cli("notify", "retry", nid).exit_code == 0
    assert (row(hub, nid).state, row(hub, nid).attempts) == ("pending", 0)
    assert "1 delivered" in cli("notify", "deliver").stdout
    assert row(hub, nid).state == "delivered" and len(receiver.deliveries()) == 1
    again = cli("notify", "retry", nid)
    assert again.exit_code == 1 and squash("only a dead one is retried") in squash(again.stderr)
    assert [a for a, _ in actions(hub)][-4:] == ["notify.failed", "notify.dead", "notify.retried",
                                                 "notify.delivered"]
    assert cli("audit", "verify").exit_code == 0


def test_a_receiver_that_refuses_a_webhook_makes_it_dead_at_once(hub, receiver):
    [nid] = queue(hub, household_id=new_id())
    receiver.mode("refuse")
    assert deliver_due(hub).dead == 1
    assert (row(hub, nid).state, row(hub, nid).attempts, row(hub, nid).last_error) == \
        ("dead", 1, "refused: 422 Unprocessable Entity")
    assert actions(hub)[-1] == ("notify.dead", {"partner": "msdhs", "notification_id": nid, "attempts": 1,
                                                "error": "refused: 422 Unprocessable Entity"})


def test_a_wrong_signature_is_refused_by_the_receiver(hub, tmp_path):
    pem = tmp_path / "someone-else.pem"
    pem.write_text(receipts_key(hub), encoding="ascii")  # a key of the hub, but not the webhooks' one
    with webhook_receiver(pem) as stranger:
        set_endpoint(hub, "msdhs", stranger.webhook_url, actor=ACTOR)
        [nid] = queue(hub, household_id=new_id())
        assert deliver_due(hub).dead == 1
        assert row(hub, nid).last_error == "refused: 401 Unauthorized"
        assert stranger.deliveries() == []


def test_a_partner_without_an_endpoint_keeps_its_notifications_pending_until_it_has_one(hub, receiver):
    [for_tpmap] = queue(hub, household_id=new_id(), concerns=["tpmap"])
    report = deliver_due(hub)
    assert (report.waiting, report.delivered, report.dead) == (1, 0, 0)
    waiting = row(hub, for_tpmap)
    assert (waiting.state, waiting.attempts, waiting.last_error) == ("pending", 0, NO_ENDPOINT)
    set_endpoint(hub, "tpmap", receiver.webhook_url, actor=ACTOR)
    assert deliver_due(hub).delivered == 1
    assert [d["body"]["header"]["receiver_id"] for d in receiver.deliveries()] == ["tpmap"]


def test_a_removed_endpoint_leaves_its_partners_notifications_waiting(hub, receiver):
    assert remove_endpoint(hub, "msdhs", actor=ACTOR) == receiver.webhook_url
    [nid] = queue(hub, household_id=new_id())
    assert deliver_due(hub).waiting == 1 and row(hub, nid).state == "pending" and receiver.deliveries() == []
    with pytest.raises(EndpointRefused, match="has no webhook endpoint to remove"):
        remove_endpoint(hub, "msdhs", actor=ACTOR)
    set_endpoint(hub, "msdhs", receiver.webhook_url, actor=ACTOR)
    assert deliver_due(hub).delivered == 1
    assert [d for a, d in actions(hub) if a == "notify.endpoint_removed"] == [
        {"partner": "msdhs", "url": receiver.webhook_url.split("?")[0]}]


def test_delivered_notifications_leave_the_outbox_once_kept_long_enough(hub, receiver):
    delivered = [nid for _ in range(3) for nid in queue(hub, household_id=new_id())]
    assert deliver_due(hub).delivered == 3
    receiver.mode("refuse")
    [dead] = queue(hub, household_id=new_id())
    assert deliver_due(hub).dead == 1
    [waiting] = queue(hub, household_id=new_id(), concerns=["tpmap"])  # tpmap has no endpoint
    assert run_delivery_job(hub, actor=ACTOR).endswith("waiting for an endpoint")  # nothing old enough yet
    assert purge_delivered(hub, before=now() + dt.timedelta(seconds=1), actor=ACTOR) == 3
    with hub.engine.connect() as conn:
        left = dict(conn.execute(select(notifications.c.id, notifications.c.state)).all())
    assert left == {dead: "dead", waiting: "pending"}
    assert all(nid not in left for nid in delivered)
    purged = [d for a, d in actions(hub) if a == "notify.purged"]
    assert len(purged) == 1 and purged[0]["removed"] == 3
    assert len([a for a, _ in actions(hub) if a == "notify.delivered"]) == 3  # the log still says they went
    assert purge_delivered(hub, before=now() + dt.timedelta(seconds=1), actor=ACTOR) == 0
    assert len([a for a, _ in actions(hub) if a == "notify.purged"]) == 1  # nothing removed: nothing logged


def test_deliverers_running_at_once_post_each_notification_once(hub, receiver):
    ids = [nid for _ in range(12) for nid in queue(hub, household_id=new_id())]
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(deliver_due(hub))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.delivered for r in reports) == len(ids)
    assert Counter(r["key"] for r in receiver.requests()) == Counter({row(hub, i).idempotency_key: 1 for i in ids})
    assert {row(hub, i).state for i in ids} == {"delivered"}


def test_the_scheduler_delivers_due_notifications(hub, receiver):
    [nid] = queue(hub, household_id=new_id())
    scheduler = Scheduler(hub)
    assert scheduler.jobs() == {"notify:deliver": "every 1m"}
    scheduler.leading.set()
    scheduler.tick()
    assert row(hub, nid).state == "delivered"


# ------------------------------------------------------------------------------------------------ CLI and API


def test_the_notify_commands(hub, cli, receiver):
    refused = {
        "ftp://example.org/hook": "an http:// or https:// URL with a host",
        "https://user:secret@example.org/hook": "no user, password or #fragment",
        "not a url": "an http:// or https:// URL with a host",
    }
    for url, message in refused.items():
        result = cli("notify", "endpoint", "set", "tpmap", url)
        assert result.exit_code == 1 and squash(message) in squash(result.stderr), url
    unknown = cli("notify", "endpoint", "set", "eef", "https://eef.example.org/hook")
    assert unknown.exit_code == 1 and squash("no contract in force subscribes 'eef'") in squash(unknown.stderr)
    assert cli("notify", "endpoint", "set", "tpmap", f"{receiver.url}/tpmap?token=abc").exit_code == 0
    listed = cli("notify", "endpoint", "list").stdout
    assert f"msdhs\t{receiver.webhook_url}" in listed and f"tpmap\t{receiver.url}/tpmap?token=abc" in listed
    registered = [d for a, d in actions(hub) if a == "notify.endpoint_registered"]
    assert registered[-1]["url"] == f"{receiver.url}/tpmap"  # a query may hold a token: not logged

    household = new_id()
    queue(hub, household_id=household, concerns=["msdhs", "tpmap"])
    queue(hub, "referral.created", household_id=household, concerns=["msdhs"], data={"need": "disability_allowance"})
    assert "3 delivered, 0 failed (to retry), 0 dead" in cli("notify", "deliver").stdout
    receiver.mode("refuse")
    queue(hub, "referral.changed", household_id=household, concerns=["msdhs"], data={"status": "accepted"})
    assert "0 delivered, 0 failed (to retry), 1 dead" in cli("notify", "deliver").stdout
    everything = cli("notify", "list").stdout
    assert everything.startswith("id\tpartner\tkind\tstate")
    assert [line.split("\t")[3] for line in everything.splitlines()[1:]] == ["dead", "delivered", "delivered",
                                                                              "delivered"]
    only = cli("notify", "list", "--partner", "msdhs", "--state", "delivered").stdout.splitlines()
    assert len(only) == 3 and all("\tmsdhs\t" in line and "\tdelivered\t" in line for line in only[1:])
    for partner in ("msdhs", "tpmap"):
        assert household_pseudonym(hub.keyring, partner, household) not in everything
    assert household not in everything
    assert cli("notify", "list", "--state", "lost").exit_code == 2
    assert cli("notify", "retry", 999).exit_code == 1
    removed = cli("notify", "endpoint", "remove", "tpmap")
    assert removed.exit_code == 0 and squash("its notifications wait") in squash(removed.stdout)
    assert cli("notify", "endpoint", "remove", "tpmap").exit_code == 1
    assert "tpmap" not in cli("notify", "endpoint", "list").stdout
    assert cli("audit", "verify").exit_code == 0


def test_the_admin_api(hub, receiver):
    admin = {"Authorization": f"Bearer {issue(hub, role='admin', subject='operator', actor=ACTOR)}"}
    partner = {"Authorization": "Bearer " + issue(hub, role="partner", subject="msdhs-system", partner="msdhs",
                                                  actor=ACTOR)}
    household = new_id()
    [nid] = queue(hub, household_id=household)
    receiver.mode("refuse")
    deliver_due(hub)
    with serve_api(hub) as api:
        assert api.get("/notify/notifications", headers=partner).status_code == 403
        assert api.get("/notify/notifications").status_code == 401
        listed = api.get("/notify/notifications", headers=admin, params={"state": "dead", "partner": "msdhs"})
        assert listed.status_code == 200
        [dead] = listed.json()
        assert (dead["id"], dead["state"], dead["attempts"], dead["next_attempt_at"]) == (nid, "dead", 1, None)
        assert "body" not in dead and household_pseudonym(hub.keyring, "msdhs", household) not in listed.text
        assert api.get("/notify/notifications", headers=admin, params={"state": "gone"}).status_code == 422

        assert api.post("/notify/notifications/999/retry", headers=admin).status_code == 404
        assert api.post(f"/notify/notifications/{nid}/retry", headers=partner).status_code == 403
        assert api.post(f"/notify/notifications/{nid}/retry", headers=admin).json() == {"id": nid,
                                                                                       "state": "pending"}
        assert api.post(f"/notify/notifications/{nid}/retry", headers=admin).status_code == 409

        assert api.put("/notify/endpoints/ubu", headers=partner, json={"url": "https://ubu.example/h"}
                       ).status_code == 403
        bad = api.put("/notify/endpoints/ubu", headers=admin, json={"url": "javascript:alert(1)"})
        assert bad.status_code == 422 and "http:// or https://" in bad.json()["detail"]
        assert api.put("/notify/endpoints/open_data", headers=admin, json={"url": "https://x.example/h"}
                       ).status_code == 422
        moved = api.put("/notify/endpoints/msdhs", headers=admin, json={"url": receiver.webhook_url + "/v2"})
        assert moved.json() == {"partner": "msdhs", "url": receiver.webhook_url + "/v2"}
        assert [e["url"] for e in api.get("/notify/endpoints", headers=admin).json()] == [receiver.webhook_url + "/v2"]
        assert api.delete("/notify/endpoints/ubu", headers=admin).status_code == 404  # none to remove
        assert api.delete("/notify/endpoints/msdhs", headers=partner).status_code == 403
    receiver.mode("up")
    assert deliver_due(hub).delivered == 1
    assert row(hub, nid).state == "delivered"
    trail = [a for a, _ in actions(hub)]
    assert trail == ["notify.endpoint_registered", "notify.queued", "notify.dead", "notify.retried",
                     "notify.endpoint_registered", "notify.delivered"]
    [moved_event] = [d for a, d in actions(hub) if a == "notify.endpoint_registered"][1:]
    assert moved_event["previous_url"] == receiver.webhook_url


def test_the_endpoint_must_be_a_web_url_of_a_subscribing_partner(hub):
    with pytest.raises(EndpointRefused, match="no contract in force subscribes 'community'"):
        set_endpoint(hub, "community", "https://example.org", actor=ACTOR)
    with pytest.raises(EndpointRefused, match="bad port"):
        set_endpoint(hub, "msdhs", "https://example.org:0/hook", actor=ACTOR)
