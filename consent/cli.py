"""``hub consent``: stewards, grants, opt-outs, withdrawals, receipts, decisions and data return."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from hub.console import actor, console, fail, open_hub, print_rows
from hub.errors import HubError

consent_app = typer.Typer(help="Consent: community data return, individual choices, receipts.", no_args_is_help=True)
steward_app = typer.Typer(help="A community's registered data stewards.", no_args_is_help=True)
consent_app.add_typer(steward_app, name="steward")
rights_app = typer.Typer(help="A person's rights under the PDPA: access, rectification, erasure.",
                         no_args_is_help=True)

CitizenId = Annotated[str | None, typer.Option("--citizen-id", help="The person's citizen ID (13 digits).")]
PersonId = Annotated[str | None, typer.Option("--person", help="A hub person id (someone without a citizen ID).")]
HouseholdId = Annotated[str | None, typer.Option("--household", help="A hub household id.")]
Community = Annotated[str | None, typer.Option("--community", help="A village TTTTTT-MM or a tambon TTTTTT.")]
Purposes = Annotated[list[str], typer.Option("--purpose", help="A purpose (repeat for several).")]
Recipients = Annotated[list[str], typer.Option(
    "--recipient", help="community, partner:<id> or type:<agency|university|policy_unit|ngo|public> (repeat).")]
Evidence = Annotated[str | None, typer.Option("--evidence", help="How it was collected: the form, its number.")]


def _subject(hub, citizen_id, person_id, household_id, community_code):
    from consent import subjects

    given = [v is not None for v in (citizen_id, person_id, household_id, community_code)]
    if sum(given) != 1:
        fail("name exactly one subject: --citizen-id, --person, --household or --community")
    if citizen_id is not None or person_id is not None:
        return subjects.person(hub.keyring, citizen_id=citizen_id, person_id=person_id)
    if household_id is not None:
        return subjects.household(household_id)
    return subjects.community(community_code)


def _day(text: str | None, field: str) -> dt.datetime | None:
    from consent.clock import parse_day

    return parse_day(text, field=field) if text else None


def _grantor(hub, subject_kind: str, stewards, guardian_id: str | None, relation: str | None):
    """Who decides for a subject of this kind: its stewards, a household member, a guardian or the person."""
    from consent.registry import Grantor
    from consent.subjects import citizen_ref

    if subject_kind == "community":
        return Grantor("stewards", stewards=tuple(stewards))
    if subject_kind == "household":
        return Grantor("household")
    if guardian_id:
        return Grantor("guardian", guardian_ref=citizen_ref(hub.keyring, guardian_id), relation=relation)
    return Grantor("self")


def _write_receipt(token: str, out: Path | None) -> None:
    if out is not None and token:
        out.write_text(token + "\n", encoding="ascii")
        console.print(f"receipt: {out}")


@steward_app.command("add")
def steward_add(community_code: Annotated[str, typer.Argument(metavar="COMMUNITY")],
                name: Annotated[str, typer.Option(help="The steward's name (stored encrypted).")],
                role: Annotated[str, typer.Option(help="village_head, tambon_council, community_committee...")],
                appointed_by: Annotated[str, typer.Option(help="The meeting or document that appointed them.")],
                ) -> None:
    """Register a data steward of a village or tambon."""
    from consent.stewards import register

    try:
        steward_id = register(open_hub(), community_code, name=name, role=role, appointed_by=appointed_by,
                              actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"steward {steward_id} registered for {community_code}")


@steward_app.command("list")
def steward_list(community_code: Annotated[str, typer.Argument(metavar="COMMUNITY")]) -> None:
    """A community's stewards with their names (the read is audited)."""
    from consent.stewards import list_stewards

    try:
        rows = list_stewards(open_hub(), community_code, actor=actor())
    except HubError as exc:
        fail(str(exc))
    print_rows(("id", "community", "role", "name", "appointed by", "active"),
               [(str(s.id), s.community, s.role, s.name or "", s.appointed_by, "yes" if s.active else "no")
                for s in rows], title=f"stewards of {community_code}")


@steward_app.command("end")
def steward_end(steward_id: int, reason: Annotated[str, typer.Option(help="Why the term ended.")]) -> None:
    """End a steward's term; the grants they made stay until withdrawn."""
    from consent.stewards import end

    try:
        end(open_hub(), steward_id, reason=reason, actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"steward {steward_id}: term ended")


def _record(status: str, *, citizen_id, person_id, household_id, community_code, purposes, recipients, evidence,
            stewards=(), meeting=None, document=None, guardian_id=None, relation=None, sensitive=False,
            objection=False, born=None, expires=None, receipt_out=None) -> None:
    from consent.registry import NewConsent, record

    hub = open_hub()
    try:
        subject = _subject(hub, citizen_id, person_id, household_id, community_code)
        grantor = _grantor(hub, subject.kind, stewards, guardian_id, relation)
        facts = {"method": "recorded at the hub's desk", "evidence": evidence, "meeting": meeting,
                 "document": document}
        consent_id, token = record(hub, NewConsent(
            subject, status, purposes, recipients, grantor, {k: v for k, v in facts.items() if v},
            sensitive=sensitive, objection=objection, expires_at=_day(expires, "--expires")),
            actor=actor(), born=_day(born, "--born").date() if born else None)
    except HubError as exc:
        fail(str(exc))
    console.print(f"consent {consent_id}: {status} ({subject})")
    _write_receipt(token, receipt_out)


@consent_app.command()
def grant(purposes: Purposes, recipients: Recipients, citizen_id: CitizenId = None, person_id: PersonId = None,
          household_id: HouseholdId = None, community_code: Community = None, evidence: Evidence = None,
          steward: Annotated[list[int], typer.Option(help="A deciding steward's id (community grants).")] = [],  # noqa: B006
          meeting: Annotated[str | None, typer.Option(help="The community meeting that decided.")] = None,
          document: Annotated[str | None, typer.Option(help="The document that records it.")] = None,
          guardian_id: Annotated[str | None, typer.Option(help="A minor's guardian's citizen ID.")] = None,
          relation: Annotated[str | None, typer.Option(help="The guardian's relation (mother, ...).")] = None,
          sensitive: Annotated[bool, typer.Option(help="Explicit consent to health and disability data.")] = False,
          born: Annotated[str | None, typer.Option(help="Birth date on the ID card (age check).")] = None,
          expires: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (B.E. years accepted).")] = None,
          receipt_out: Annotated[Path | None, typer.Option("--receipt-out", help="Write the receipt here.")] = None,
          ) -> None:
    """Record consent given by a person, a guardian, a household or a community's stewards."""
    _record("given", citizen_id=citizen_id, person_id=person_id, household_id=household_id,
            community_code=community_code, purposes=purposes, recipients=recipients, evidence=evidence,
            stewards=steward, meeting=meeting, document=document, guardian_id=guardian_id, relation=relation,
            sensitive=sensitive, born=born, expires=expires, receipt_out=receipt_out)


@consent_app.command()
def request(purposes: Purposes, recipients: Recipients, citizen_id: CitizenId = None, person_id: PersonId = None,
            household_id: HouseholdId = None, community_code: Community = None, evidence: Evidence = None,
            steward: Annotated[list[int], typer.Option(help="Stewards asked (community requests).")] = [],  # noqa: B006
            meeting: Annotated[str | None, typer.Option(help="The meeting it is put to.")] = None) -> None:
    """Record that consent was asked for (it allows nothing until answered with `hub consent answer`)."""
    _record("requested", citizen_id=citizen_id, person_id=person_id, household_id=household_id,
            community_code=community_code, purposes=purposes, recipients=recipients, evidence=evidence,
            stewards=steward, meeting=meeting)


@consent_app.command("opt-out")
def opt_out(purposes: Purposes, citizen_id: CitizenId = None, person_id: PersonId = None,
            household_id: HouseholdId = None, evidence: Evidence = None,
            recipients: Annotated[list[str], typer.Option("--recipient", help="From whom ('*': everyone).")] = ["*"],  # noqa: B006
            receipt_out: Annotated[Path | None, typer.Option("--receipt-out")] = None) -> None:
    """Record a person's or household's refusal; it beats any community grant from the next read on."""
    _record("refused", citizen_id=citizen_id, person_id=person_id, household_id=household_id, community_code=None,
            purposes=purposes, recipients=recipients, evidence=evidence, receipt_out=receipt_out)


@consent_app.command("object")
def object_(purposes: Purposes, citizen_id: CitizenId = None, person_id: PersonId = None, evidence: Evidence = None,
            receipt_out: Annotated[Path | None, typer.Option("--receipt-out")] = None) -> None:
    """Record a person's objection (PDPA s.32): it also stops public-task and research uses."""
    _record("refused", citizen_id=citizen_id, person_id=person_id, household_id=None, community_code=None,
            purposes=purposes, recipients=["*"], evidence=evidence, objection=True, receipt_out=receipt_out)


@consent_app.command()
def withdraw(consent_id: str, reason: Annotated[str, typer.Option(help="Who withdrew it, on what evidence.")],
             receipt_out: Annotated[Path | None, typer.Option("--receipt-out")] = None) -> None:
    """Withdraw a given consent; the next read no longer returns its subject."""
    from consent.registry import withdraw as withdraw_consent

    try:
        token = withdraw_consent(open_hub(), consent_id, actor=actor(), reason=reason)
    except HubError as exc:
        fail(str(exc))
    console.print(f"consent {consent_id}: withdrawn")
    _write_receipt(token, receipt_out)


@consent_app.command()
def answer(consent_id: str, decision: Annotated[str, typer.Argument(help="given or refused")],
           reason: Annotated[str, typer.Option(help="Who answered, on what evidence.")],
           steward: Annotated[list[int], typer.Option(help="Deciding stewards (community).")] = [],  # noqa: B006
           guardian_id: Annotated[str | None, typer.Option(help="A minor's guardian's citizen ID.")] = None,
           relation: Annotated[str | None, typer.Option(help="The guardian's relation.")] = None) -> None:
    """Answer a pending request."""
    from consent.registry import change, get_consent

    hub = open_hub()
    try:
        with hub.engine.connect() as conn:
            row = get_consent(conn, consent_id)
        grantor = _grantor(hub, row.subject_kind, steward, guardian_id, relation)
        change(hub, consent_id, decision, actor=actor(), reason=reason, grantor=grantor)
    except HubError as exc:
        fail(str(exc))
    console.print(f"consent {consent_id}: {decision}")


@consent_app.command()
def expire() -> None:
    """Mark consents past their expiry as expired, with receipts (decisions already treat them so)."""
    from consent.registry import expire_due

    try:
        done = expire_due(open_hub(), actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"{len(done)} consent(s) expired")


@consent_app.command("list")
def list_cmd(citizen_id: CitizenId = None, person_id: PersonId = None, household_id: HouseholdId = None,
             community_code: Community = None,
             status: Annotated[str | None, typer.Option(help="Only this status (as it stands now).")] = None) -> None:
    """Consent decisions, newest first (subject refs are keyed; no personal data)."""
    from consent.registry import effective_status, read_consents
    from consent.vocabulary import STATUSES

    hub = open_hub()
    if status is not None and status not in STATUSES:
        fail(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    ref = None
    if any(v is not None for v in (citizen_id, person_id, household_id, community_code)):
        ref = _subject(hub, citizen_id, person_id, household_id, community_code).ref
    from consent.clock import now, thai_day

    at = now()
    rows = read_consents(hub, actor=actor(), subject_ref=ref, status=status, at=at,
                         community=community_code)
    print_rows(("id", "subject", "status", "purposes", "recipients", "by", "decided", "expires", "evidence"),
               [(r.id, f"{r.subject_kind} {r.subject_ref[:24]}", effective_status(r, at), ",".join(r.purposes),
                 ",".join(r.recipients), r.grantor["kind"], thai_day(r.decided_at),
                 thai_day(r.expires_at) if r.expires_at else "", r.evidence.get("method", ""))
                for r in rows], title=f"{len(rows)} consent decision(s)")


@consent_app.command()
def receipt(consent_id: str, out: Annotated[Path | None, typer.Option("--out", help="Write it here.")] = None) -> None:
    """The latest signed receipt of a consent (a compact JWS; it holds no name or citizen ID)."""
    from consent.registry import read_receipt

    token = read_receipt(open_hub(), consent_id, actor=actor())
    if token is None:
        fail(f"no receipt for consent {consent_id}")
    if out is None:
        typer.echo(token)
    else:
        _write_receipt(token, out)


@consent_app.command("public-key")
def public_key_cmd(out: Annotated[Path | None, typer.Option("--out", help="Write the PEM here.")] = None) -> None:
    """The public key that verifies this hub's receipts (publish it)."""
    from consent.receipts import public_key

    pem = public_key(open_hub())
    if out is None:
        typer.echo(pem, nl=False)
    else:
        out.write_text(pem, encoding="ascii")
        console.print(f"public key: {out}")


@consent_app.command()
def verify(receipt_file: Annotated[Path, typer.Argument(metavar="RECEIPT")],
           key: Annotated[Path, typer.Option(help="The hub's public key (PEM), from `hub consent public-key`.")]
           ) -> None:
    """Verify a receipt offline (no database, no hub keys): exits 0 and prints it, or 1 saying why not."""
    from consent.receipts import verify_receipt

    try:
        claims = verify_receipt(receipt_file.read_text(encoding="ascii"), key.read_bytes())
    except (HubError, OSError, UnicodeDecodeError) as exc:
        fail(f"receipt does not verify: {exc}")
    typer.echo(json.dumps(claims, ensure_ascii=False, indent=2))
    console.print("receipt verified")


@consent_app.command()
def check(purpose: Annotated[str, typer.Option(help="The purpose of the use.")],
          citizen_id: CitizenId = None, person_id: PersonId = None,
          partner: Annotated[str | None, typer.Option(help="The recipient partner's id.")] = None,
          partner_type: Annotated[str | None, typer.Option(help="The recipient partner's type.")] = None,
          community_code: Annotated[str | None, typer.Option("--for-community",
                                                             help="Recipient: this community's stewards.")] = None,
          sensitive: Annotated[bool, typer.Option(help="The use includes health or disability data.")] = False,
          basis: Annotated[str | None, typer.Option(help="The contract's lawful basis other than consent.")] = None,
          covers_sensitive: Annotated[bool, typer.Option(help="The contract's basis covers sensitive data.")] = False,
          ) -> None:
    """May this person's record appear for this recipient and purpose now? (The question is audited.)"""
    from consent.clock import now
    from consent.decisions import Ground, Question, Recipient, decide_one
    from consent.events import ConsentChecked
    from consent.population import record_subject

    hub = open_hub()
    try:
        subject = _subject(hub, citizen_id, person_id, None, None)
        if (partner is None) == (community_code is None):
            fail("name the recipient: --partner (with --partner-type) or --for-community")
        recipient = Recipient(community=community_code) if community_code else Recipient(partner, partner_type)
        question = Question(purpose, recipient, sensitive, Ground(basis, covers_sensitive) if basis else None)
        with hub.engine.begin() as conn:
            found = record_subject(conn, subject.ref)
            if found is None:
                fail("no record of this person is stored")
            decision = decide_one(conn, found, question, now())
            hub.audit.append(conn, ConsentChecked(resource=f"person:{subject.ref}", subject_ref=subject.ref,
                                                  purpose=purpose, recipient=str(recipient),
                                                  allowed=decision.allowed, basis=decision.basis), actor=actor())
    except HubError as exc:
        fail(str(exc))
    verdict = f"allowed ({decision.basis})" if decision.allowed else f"not allowed: {decision.reason}"
    console.print(f"{purpose} for {recipient}: {verdict}")
    raise typer.Exit(0 if decision.allowed else 3)


@consent_app.command("import-evidence")
def import_evidence() -> None:
    """Record the university survey's paper consent answers as household decisions (idempotent)."""
    from consent.evidence import import_survey_evidence

    try:
        report = import_survey_evidence(open_hub(), actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"surveyed households: {report.households}; decisions recorded: {report.recorded}, "
                  f"changed: {report.changed}")


@consent_app.command("data-return")
def data_return(community_code: Annotated[str, typer.Argument(metavar="COMMUNITY")],
                steward: Annotated[int, typer.Option(help="Your steward id.")]) -> None:
    """Your community's households, merged across sources, identified where consent holds (audited)."""
    from consent.data_return import read_view

    try:
        view = read_view(open_hub(), community_code, steward_id=steward, actor=actor())
    except HubError as exc:
        fail(str(exc))
    rows = []
    for h in view.households:
        for m in h.members:
            name = f"{m.title or ''}{m.first_name or ''} {m.last_name or ''}".strip()
            rows.append((h.village, h.house_no or "", name, m.birth_date or "", m.sex or "",
                         ",".join(sorted(m.sources)), h.household_id[:8]))
    print_rows(("village", "house", "name", "born", "sex", "seen by", "household"), rows,
               title=f"{community_code}: {len(view.households)} household(s) identified")
    console.print(f"counted only (someone opted out or is not covered): {view.counted_only_households} household(s), "
                  f"{view.counted_only_persons} person(s)")


@rights_app.command("access")
def rights_access(out: Annotated[Path, typer.Option("--out", help="The JSON file to hand to the person.")],
                  citizen_id: CitizenId = None, person_id: PersonId = None) -> None:
    """Everything held about a person, decrypted, as one JSON file (UTF-8; the read is audited)."""
    from consent.rights import access

    hub = open_hub()
    try:
        document = access(hub, _subject(hub, citizen_id, person_id, None, None), actor=actor())
    except HubError as exc:
        fail(str(exc))
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(f"{out}: {len(document['records'])} record(s), {len(document['consent_decisions'])} "
                  "consent decision(s)")


@rights_app.command("erase")
def rights_erase(basis: Annotated[str, typer.Option(help="The request: who asked, when, on what ground.")],
                 citizen_id: CitizenId = None, person_id: PersonId = None,
                 yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False) -> None:
    """Erase a person: destroy their data keys, delete their records, refuse them at later ingests."""
    from consent.rights import erase

    if not yes:
        fail("erasure cannot be undone; add --yes to confirm")
    hub = open_hub()
    try:
        report = erase(hub, _subject(hub, citizen_id, person_id, None, None), basis=basis, actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"request {report.request_id}: {report.records} record(s) erased, {report.keys_destroyed} "
                  f"data key(s) destroyed" + (f"; {report.not_shredded} older record(s) deleted without a key of "
                                              "their own (rotate the data keys to reach backups)"
                                              if report.not_shredded else ""))


@rights_app.command("rectify")
def rights_rectify(field: Annotated[str, typer.Option(help="title, first_name, last_name, birth_date, sex, house_no")],
                   correct: Annotated[str, typer.Option(help="What it should read (stored encrypted).")],
                   evidence: Annotated[str, typer.Option(help="What was shown: an ID card, a house registration.")],
                   citizen_id: CitizenId = None, person_id: PersonId = None) -> None:
    """Record a person's correction; it waits for review and the partner's corrected delivery."""
    from consent.rights import rectify

    hub = open_hub()
    try:
        request_id = rectify(hub, _subject(hub, citizen_id, person_id, None, None), field=field, correct=correct,
                             evidence=evidence, actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"request {request_id}: correction of {field} recorded, open")


@rights_app.command("list")
def rights_list(open_only: Annotated[bool, typer.Option("--open", help="Only requests still open.")] = False) -> None:
    """Data-subject requests and their status (keyed subject refs only)."""
    from consent.clock import thai_day
    from consent.rights import list_requests

    rows = list_requests(open_hub(), open_only=open_only)
    print_rows(("id", "kind", "subject", "status", "received", "closed"),
               [(str(r.id), r.kind, r.subject_ref[:24], r.status, thai_day(r.received_at),
                 thai_day(r.closed_at) if r.closed_at else "") for r in rows], title=f"{len(rows)} request(s)")


@rights_app.command("close")
def rights_close(request_id: int, outcome: Annotated[str, typer.Option(help="What was done.")]) -> None:
    """Close an open request with its outcome."""
    from consent.rights import close

    try:
        close(open_hub(), request_id, outcome=outcome, actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"request {request_id}: closed")
