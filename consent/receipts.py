"""Signed consent receipts: a compact JWS (EdDSA, the hub's ``receipts`` key) for every grant, refusal,
withdrawal and expiry. Its claims follow the Kantara Consent Receipt 1.1 and ISO/IEC 27560 record:
who (a keyed subject reference, never a name or citizen ID), what for, to whom, on which basis, when,
until when, and who decided on what evidence. Anyone verifies one offline with the public key that
``hub consent public-key`` publishes."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Connection, insert

from consent.vocabulary import BASES
from hub.context import Hub
from hub.db.schema import consent_receipts
from hub.signing import public_pem, sign, verify

TOKEN_TYPE = "consent-receipt+jwt"
RECEIPT_VERSION = "saphan-receipt/1 (Kantara CR v1.1, ISO/IEC 27560)"
SENSITIVE_CATEGORIES = ["health", "disability"]


def _epoch(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def claims(consent: dict[str, Any], *, receipt_id: str, issued: dt.datetime, controller: str) -> dict[str, Any]:
    """The receipt body for a consent row (a mapping of the ``consents`` columns) in its current state."""
    purposes = list(consent["purposes"])
    return {
        "version": RECEIPT_VERSION,
        "jurisdiction": "TH",
        "legal_framework": "Personal Data Protection Act B.E. 2562 (2019)",
        "jti": receipt_id,
        "iat": _epoch(issued),
        "consent_id": consent["id"],
        "consent_timestamp": _epoch(consent["decided_at"]),
        "collection_method": consent["evidence"].get("method", "recorded by the hub"),
        "pii_principal": {"kind": consent["subject_kind"], "ref": consent["subject_ref"]},
        "pii_controller": controller,
        "status": consent["status"],
        "basis": "consent",
        "basis_text": BASES["consent"],
        "services": [{"purpose": p, "recipients": list(consent["recipients"])} for p in purposes],
        "sensitive": bool(consent["sensitive"]),
        "spi_categories": SENSITIVE_CATEGORIES if consent["sensitive"] else [],
        "objection": bool(consent["objection"]),
        "expiry": _epoch(consent["expires_at"]),
        "grantor": consent["grantor"],
        "evidence": consent["evidence"],
    }


def issue(hub: Hub, conn: Connection, consent: dict[str, Any], *, receipt_id: str, issued: dt.datetime) -> str:
    """Sign and store the receipt of ``consent`` as it now stands; returns the JWS."""
    token = sign(hub.keyring.signing_key("receipts"),
                 claims(consent, receipt_id=receipt_id, issued=issued, controller=hub.settings.controller),
                 token_type=TOKEN_TYPE)
    conn.execute(insert(consent_receipts).values(id=receipt_id, consent_id=consent["id"], status=consent["status"],
                                                 issued_at=issued, jws=token))
    return token


def new_receipt_id() -> str:
    return uuid.uuid4().hex


def public_key(hub: Hub) -> str:
    """The PEM public key that verifies this hub's receipts (publish it; it holds no secret)."""
    return public_pem(hub.keyring.signing_key("receipts"))


def verify_receipt(token: str, public_key_pem: str | bytes) -> dict[str, Any]:
    """The receipt's claims if the key signed it unaltered; :class:`hub.signing.SignatureError` if not."""
    return verify(token, public_key_pem, token_type=TOKEN_TYPE)
