"""The one question: may this person's record appear for this recipient, for this purpose, now?

The rules, in order:

1. Consent decisions are looked up at four levels, most specific first: the person (by citizen ID or
   person id), their household, their village, their tambon. The first level with a standing decision
   that covers the purpose and the recipient decides; within a level the latest decision stands (by the
   time it took effect, then by the order it was recorded). A ``given`` decision past its expiry, or a
   pending request, does not stand.
2. A standing grant allows (basis ``consent`` for a person or household, ``community_consent`` for a
   village or tambon); a standing refusal or withdrawal blocks consent at every level below it, so an
   individual withdrawal always beats a community grant. A community's grant to ``community`` reaches
   its own stewards (and its villages'), not a wider area's; a refusal reaches every community.
3. Sensitive data (health, disability) is allowed by consent only when a person's grant says so
   explicitly; a community grant never covers it.
4. Without a consent that allows, the contract's lawful basis (:class:`Ground`) may: unless the data is
   sensitive and the basis does not cover it, or the person objected and the basis is one an objection
   stops (PDPA s.32).
5. Nothing else allows: fail closed. A community recipient only ever sees records inside its community.

:func:`decide_one` answers for one record with one indexed query; :func:`decide_bulk` for a whole
:class:`~consent.population.Population` with array operations. Both compile the same stances and
share :func:`_combine`, so they cannot disagree.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, select

from consent.clock import utc
from consent.population import Population, RecordSubject
from consent.registry import EVERYONE
from consent.subjects import Level, contains
from consent.vocabulary import (
    BASES,
    COMMUNITY_RECIPIENT,
    GIVEN,
    OBJECTABLE,
    REFUSED,
    SENSITIVE_CAPABLE,
    WITHDRAWN,
    ConsentError,
)
from hub.db.bulk import placeholder
from hub.db.schema import consents
from hub.linking.redirects import current_ids

# a stance key: rank << 3 | objection << 2 | code; a higher rank is a later decision, 0 is no stance
ALLOW, BLOCK, SILENT = 2, 1, 3  # SILENT: a grant that stands but does not cover sensitive data
_STANDING = (GIVEN, REFUSED, WITHDRAWN)

BASIS_NONE, BASIS_CONSENT, BASIS_COMMUNITY, BASIS_GROUND = 0, 1, 2, 3
REASONS = ("allowed", "withdrawn or refused", "no consent or lawful basis", "sensitive data needs explicit consent",
           "objected", "outside the recipient's community")
(R_ALLOWED, R_WITHDRAWN, R_NOTHING, R_SENSITIVE, R_OBJECTED, R_OUTSIDE) = range(len(REASONS))


@dataclass(frozen=True)
class Recipient:
    """Who would see the record: a partner (its id and type) or a community's stewards (its code)."""

    partner: str | None = None
    partner_type: str | None = None
    community: str | None = None

    def tokens(self) -> frozenset[str]:
        if self.community:
            return frozenset({COMMUNITY_RECIPIENT, EVERYONE})
        tokens = {EVERYONE}
        if self.partner:
            tokens.add(f"partner:{self.partner}")
        if self.partner_type:
            tokens.add(f"type:{self.partner_type}")
        return frozenset(tokens)

    def __str__(self) -> str:
        return f"community:{self.community}" if self.community else f"partner:{self.partner} ({self.partner_type})"


@dataclass(frozen=True)
class Ground:
    """A contract's lawful basis other than consent for one purpose, and whether it covers sensitive data."""

    basis: str
    covers_sensitive: bool = False

    def __post_init__(self):
        if self.basis not in BASES or self.basis == "consent":
            raise ConsentError(f"lawful basis {self.basis!r}: expected one of "
                               f"{', '.join(b for b in BASES if b != 'consent')}")
        if self.covers_sensitive and self.basis not in SENSITIVE_CAPABLE:
            raise ConsentError(f"{self.basis} cannot cover sensitive data (PDPA s.26)")


@dataclass(frozen=True)
class Question:
    purpose: str
    recipient: Recipient
    sensitive: bool = False
    ground: Ground | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    basis: str | None  # consent | community_consent | the contract's basis; None when refused
    reason: str


@dataclass(frozen=True)
class BulkDecision:
    """One answer per record of a population: ``allowed`` (bool), ``basis`` and ``reason`` codes."""

    allowed: np.ndarray
    basis: np.ndarray
    reason: np.ndarray
    question: Question

    def basis_name(self, code: int) -> str | None:
        return _basis_names(self.question)[code]


def _basis_names(question: Question) -> tuple[str | None, ...]:
    return None, "consent", "community_consent", question.ground.basis if question.ground else None


# ------------------------------------------------------------------------------------------- stances


def level_of(ref: str) -> Level:
    if ref.startswith(("cid:", "pid:")):
        return Level.PERSON
    if ref.startswith("hid:"):
        return Level.HOUSEHOLD
    return Level.VILLAGE if "-" in ref else Level.TAMBON


def _stances(rows: Iterable[Any], question: Question, at: dt.datetime) -> list[tuple[str, int]]:
    """(subject ref, stance key) of every stored decision that stands at ``at`` and covers the question."""
    tokens = question.recipient.tokens()
    standing = []
    for row in rows:
        if row.status not in _STANDING or question.purpose not in row.purposes:
            continue
        if tokens.isdisjoint(row.recipients) or utc(row.decided_at) > at:
            continue
        if row.status == GIVEN:
            if row.expires_at is not None and utc(row.expires_at) <= at:
                continue
            if not _grant_reaches(row.subject_ref, question.recipient):
                continue
            explicit = row.sensitive and level_of(row.subject_ref) is Level.PERSON
            code = SILENT if question.sensitive and not explicit else ALLOW
        else:
            code = BLOCK
        standing.append((utc(row.decided_at), row.seq, row.subject_ref, code | (4 if row.objection else 0)))
    standing.sort(key=lambda s: (s[0], s[1]))
    return [(ref, (rank << 3) | code) for rank, (_, _, ref, code) in enumerate(standing, start=1)]


def _grant_reaches(subject_ref: str, recipient: Recipient) -> bool:
    """A community's grant to ``community`` reaches its own stewards and those of its villages, never
    the stewards of a wider area (a village's grant is not the tambon council's). A refusal reaches
    every community recipient."""
    if recipient.community is None or level_of(subject_ref) < Level.VILLAGE:
        return True
    return recipient.community == subject_ref or recipient.community[:6] == subject_ref


def _combine(person: np.ndarray, household: np.ndarray, village: np.ndarray, tambon: np.ndarray,
             inside: np.ndarray, question: Question) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the rules to stance keys per record; returns (allowed, basis code, reason code)."""
    levels = (person, household, village, tambon)
    deciding = np.select([k > 0 for k in levels], levels, 0)
    community_level = (person == 0) & (household == 0) & (deciding > 0)
    code = deciding & 3
    by_consent = code == ALLOW
    basis = np.where(by_consent, np.where(community_level, BASIS_COMMUNITY, BASIS_CONSENT), BASIS_NONE)
    reason = np.where(by_consent, R_ALLOWED, np.where(code == BLOCK, R_WITHDRAWN, R_NOTHING))
    ground = question.ground
    if question.sensitive:
        reason = np.where(code == SILENT, R_SENSITIVE, reason)
    if ground is not None and not question.recipient.community:
        if question.sensitive and not ground.covers_sensitive:
            reason = np.where(by_consent, reason, R_SENSITIVE)
            allowed = by_consent
        else:
            objected = ((person >> 2) & 1).astype(bool) if ground.basis in OBJECTABLE else np.zeros_like(by_consent)
            by_ground = ~by_consent & ~objected
            basis = np.where(by_ground, BASIS_GROUND, basis)
            reason = np.where(by_ground, R_ALLOWED, np.where(objected & ~by_consent, R_OBJECTED, reason))
            allowed = by_consent | by_ground
    else:
        allowed = by_consent
    reason = np.where(inside, reason, R_OUTSIDE)
    return allowed & inside, np.where(inside, basis, BASIS_NONE), reason


# ------------------------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Standing:
    """What bulk decisions read from the store: every decision that can stand (given, refused,
    withdrawn) and linking's retired ids by kind (``person``, ``household``) -> current id."""

    rows: list[Any]
    redirects: dict[str, dict[str, str]]


def load_standing(conn: Connection) -> Standing:
    t = consents
    rows = conn.execute(select(t.c.subject_ref, t.c.status, t.c.purposes, t.c.recipients, t.c.sensitive,
                               t.c.objection, t.c.decided_at, t.c.seq, t.c.expires_at)
                        .where(t.c.status.in_(_STANDING))).all()
    return Standing(rows, {kind: current_ids(conn, kind) for kind in ("person", "household")})


class _Row(NamedTuple):
    subject_ref: str
    status: str
    purposes: list[str]
    recipients: list[str]
    sensitive: bool
    objection: bool
    decided_at: dt.datetime
    seq: int
    expires_at: dt.datetime | None


def _when(value: Any) -> dt.datetime | None:
    """A time as the driver returns it (SQLite: text) as an aware datetime."""
    if value is None or isinstance(value, dt.datetime):
        return utc(value)
    return utc(dt.datetime.fromisoformat(value))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


_COLUMNS = ", ".join(f"consents.{c}" for c in _Row._fields)


def _rows_about(conn: Connection, subject: RecordSubject) -> list[_Row]:
    """The decisions that can stand about the record's person (also under ids linking retired into
    theirs, following chains), household, village and tambon: one statement through the driver, on the
    indexes of ``consents.subject_ref`` and ``id_redirects.current_id``."""
    mark = placeholder(conn)
    refs = sorted({*subject.citizen_refs, subject.tambon, "pid:" + subject.person_id, "hid:" + subject.household_id,
                   *([subject.village] if subject.village else [])})
    cursor = conn.connection.driver_connection.cursor()
    cursor.execute(
        "WITH RECURSIVE retired(kind, id) AS ("
        f" SELECT kind, retired_id FROM id_redirects WHERE current_id IN ({mark}, {mark})"
        " UNION SELECT r.kind, r.retired_id FROM id_redirects r JOIN retired ON r.current_id = retired.id)"
        f" SELECT {_COLUMNS} FROM consents WHERE subject_ref IN ({', '.join([mark] * len(refs))})"
        f" AND status IN ({mark}, {mark}, {mark})"
        f" UNION ALL SELECT {_COLUMNS} FROM retired JOIN consents"
        "  ON consents.subject_ref = CASE retired.kind WHEN 'person' THEN 'pid:' ELSE 'hid:' END || retired.id"
        f" WHERE status IN ({mark}, {mark}, {mark})",
        [subject.person_id, subject.household_id, *refs, *_STANDING, *_STANDING])
    rows = [_Row(ref, status, _json(purposes), _json(recipients), bool(sensitive), bool(objection), _when(decided),
                 seq, _when(expires)) for ref, status, purposes, recipients, sensitive, objection, decided, seq, expires
            in cursor.fetchall()]
    cursor.close()
    return rows


def decide_one(conn: Connection, subject: RecordSubject, question: Question, at: dt.datetime) -> Decision:
    """The answer for one person's record, from the decisions stored now (nothing cached)."""
    keys = dict.fromkeys(Level, 0)
    for ref, key in _stances(_rows_about(conn, subject), question, at):
        keys[level_of(ref)] = max(keys[level_of(ref)], key)
    inside = question.recipient.community is None or contains(question.recipient.community, subject.tambon,
                                                                subject.moo)
    allowed, basis, reason = _combine(*(np.array([keys[level]], dtype=np.int64) for level in Level),
                                      np.array([inside]), question)
    return Decision(bool(allowed[0]), _basis_names(question)[int(basis[0])], REASONS[int(reason[0])])


def decide_bulk(population: Population, standing: Standing, question: Question, at: dt.datetime) -> BulkDecision:
    """The answer for every record of ``population`` from the ``standing`` decisions (:func:`load_standing`)."""
    redirects = standing.redirects
    by_level: dict[Level, tuple[list[str], list[int]]] = {level: ([], []) for level in Level}
    for ref, key in _stances(standing.rows, question, at):
        level = level_of(ref)
        if ref.startswith("pid:"):
            ref = "pid:" + redirects.get("person", {}).get(ref[4:], ref[4:])
        elif ref.startswith("hid:"):
            ref = "hid:" + redirects.get("household", {}).get(ref[4:], ref[4:])
        by_level[level][0].append(ref)
        by_level[level][1].append(key)
    person = population.person_keys(*by_level[Level.PERSON])
    household = population.keys_at("household", *by_level[Level.HOUSEHOLD])
    village = population.keys_at("village", *by_level[Level.VILLAGE])
    tambon = population.keys_at("tambon", *by_level[Level.TAMBON])
    inside = population.inside(question.recipient.community)
    allowed, basis, reason = _combine(person, household, village, tambon, inside, question)
    return BulkDecision(allowed, basis.astype(np.int8), reason.astype(np.int8), question)
